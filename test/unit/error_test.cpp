// Tests of kyoto/error.hpp: the "kyoto" error category, make_error_code and throw_error.

#include <kyoto/error.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <set>
#include <string>

namespace {

using kyoto::error::kyoto_errors;

// Every enumerator of kyoto_errors; extend it when the enum grows.
constexpr std::array all_errors{
    kyoto::error::invalid_concurrency, kyoto::error::no_free_worker,
    kyoto::error::blocking_on_worker,  kyoto::error::task_aborted,
    kyoto::error::context_shut_down,   kyoto::error::timer_out_of_range,
    kyoto::error::channel_closed,      kyoto::error::invalid_option,
};

} // namespace

BOOST_AUTO_TEST_SUITE(error)

BOOST_AUTO_TEST_CASE(category_is_named_kyoto_and_is_a_singleton) {
  const auto& category = kyoto::error::get_kyoto_category();
  BOOST_TEST(std::string(category.name()) == "kyoto");
  BOOST_TEST(&category == &kyoto::error::get_kyoto_category());
  BOOST_TEST((category != boost::system::generic_category()));
  BOOST_TEST((category != boost::system::system_category()));
}

BOOST_AUTO_TEST_CASE(every_value_has_a_distinct_non_empty_message) {
  const auto& category = kyoto::error::get_kyoto_category();
  const std::string unknown = category.message(0);
  std::set<std::string> messages;
  for (kyoto_errors e : all_errors) {
    const std::string message = category.message(static_cast<int>(e));
    BOOST_TEST_INFO("error value " << static_cast<int>(e));
    BOOST_TEST(!message.empty());
    BOOST_TEST(message != unknown);
    BOOST_TEST(messages.insert(message).second, "duplicate message: " << message);
  }
  BOOST_TEST(messages.size() == all_errors.size());
}

BOOST_AUTO_TEST_CASE(values_outside_the_enum_get_a_message_too) {
  const auto& category = kyoto::error::get_kyoto_category();
  for (int value : {0, -1, 1000}) {
    BOOST_TEST_INFO("error value " << value);
    BOOST_TEST(!category.message(value).empty());
  }
}

BOOST_AUTO_TEST_CASE(make_error_code_round_trips) {
  for (kyoto_errors e : all_errors) {
    const boost::system::error_code ec = kyoto::error::make_error_code(e);
    BOOST_TEST_INFO("error value " << static_cast<int>(e));
    BOOST_TEST(ec.value() == static_cast<int>(e));
    BOOST_TEST((ec.category() == kyoto::error::get_kyoto_category()));
    BOOST_TEST(static_cast<bool>(ec)); // every kyoto error is a failure
    BOOST_TEST(ec.message() == kyoto::error::get_kyoto_category().message(ec.value()));
    BOOST_TEST((ec == e)); // via is_error_code_enum
  }
}

BOOST_AUTO_TEST_CASE(enum_converts_implicitly_to_error_code) {
  boost::system::error_code ec = kyoto::error::no_free_worker;
  BOOST_TEST(ec.value() == static_cast<int>(kyoto::error::no_free_worker));
  BOOST_TEST((ec.category() == kyoto::error::get_kyoto_category()));
  BOOST_TEST((ec != kyoto::error::task_aborted));
  BOOST_TEST((ec != boost::system::errc::make_error_code(boost::system::errc::io_error)));
}

BOOST_AUTO_TEST_CASE(throw_error_throws_system_error_with_code_and_text) {
  for (kyoto_errors e : all_errors) {
    BOOST_TEST_INFO("error value " << static_cast<int>(e));
    bool thrown = false;
    try {
      kyoto::detail::throw_error(e, "kyoto::context::run");
    } catch (const boost::system::system_error& ex) {
      thrown = true;
      BOOST_TEST((ex.code() == e));
      const std::string what = ex.what();
      BOOST_TEST(what.find("kyoto::context::run") != std::string::npos, "what() = " << what);
      BOOST_TEST(what.find(ex.code().message()) != std::string::npos, "what() = " << what);
    }
    BOOST_TEST(thrown);
  }
}

BOOST_AUTO_TEST_CASE(throw_error_is_catchable_as_std_exception) {
  BOOST_CHECK_THROW(kyoto::detail::throw_error(kyoto::error::channel_closed, "send"),
                    std::exception);
}

BOOST_AUTO_TEST_SUITE_END()
