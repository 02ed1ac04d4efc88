// Conformance tests of Asio's stackful coroutines (asio::spawn with yield_context, on
// Boost.Context) on kyoto::context, against io_context as the reference.
//
// Not run under ThreadSanitizer (no 'concurrency' label): TSan does not follow Boost.Context's
// stack switches and crashes at random inside its own bookkeeping, on io_context as on kyoto.

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "conformance/conformance_support.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <exception>
#include <future>
#include <stdexcept>
#include <thread>

namespace {

using namespace kyoto_conformance;

// True when the calling thread runs handlers of the context behind `ex`.
template <typename Context>
bool in_context(const asio::any_io_executor& ex) {
  const auto* target = ex.target<typename Context::executor_type>();
  return target && target->running_in_this_thread();
}

} // namespace

BOOST_AUTO_TEST_SUITE(stackful_conformance)

// --- asio::spawn (stackful, Boost.Context) ---

BOOST_AUTO_TEST_CASE_TEMPLATE(spawn_with_yield_context, Context, context_types) {
  Context ctx{2};
  std::atomic<int> strays{0};
  auto guard = asio::make_work_guard(ctx);
  runner<Context> r(ctx, 2);
  auto value = asio::spawn(
      ctx,
      [&](asio::yield_context yield) {
        for (int i = 0; i < 10; ++i) {
          asio::post(yield);
          if (!in_context<Context>(yield.get_executor()))
            strays.fetch_add(1);
        }
        asio::post(ctx, yield);
        asio::dispatch(yield);
        if (!in_context<Context>(yield.get_executor()))
          strays.fetch_add(1);
        return 7;
      },
      asio::use_future);
  auto error = asio::spawn(
      ctx,
      [](asio::yield_context yield) -> int {
        asio::post(yield);
        throw std::out_of_range("stackful failure");
      },
      asio::use_future);
  BOOST_TEST_REQUIRE((value.wait_for(patience) == std::future_status::ready));
  BOOST_TEST(value.get() == 7);
  BOOST_TEST_REQUIRE((error.wait_for(patience) == std::future_status::ready));
  BOOST_CHECK_THROW(error.get(), std::out_of_range);
  guard.reset();
  BOOST_TEST(r.wait());
  BOOST_TEST(r.errors().empty());
  BOOST_TEST(strays == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(spawn_with_a_completion_handler, Context, context_types) {
  Context ctx{1};
  int value = 0;
  std::exception_ptr value_error, error;
  bool error_done = false;
  asio::any_io_executor ex = ctx.get_executor();
  asio::spawn(
      ex,
      [](asio::yield_context yield) {
        asio::post(yield);
        return 3;
      },
      [&](std::exception_ptr e, int v) {
        value_error = e;
        value = v;
      });
  asio::spawn(
      ex,
      [](asio::yield_context yield) {
        asio::post(yield);
        throw std::length_error("stackful failure");
      },
      [&](std::exception_ptr e) {
        error = e;
        error_done = true;
      });
  BOOST_CHECK_NO_THROW(ctx.run());
  BOOST_TEST(!value_error);
  BOOST_TEST(value == 3);
  BOOST_TEST(error_done);
  BOOST_TEST_REQUIRE(static_cast<bool>(error));
  BOOST_CHECK_THROW(std::rethrow_exception(error), std::length_error);
}

BOOST_AUTO_TEST_SUITE_END()
