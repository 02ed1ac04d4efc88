// A user's program built against Kyoto (see CMakeLists.txt beside it). Prints
// "kyoto consumer: ok" and exits with 0 when everything it checks holds.

#include <kyoto/context.hpp>
#include <kyoto/error.hpp>

#include <boost/asio/execution/executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <cstdio>
#include <cstring>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "kyoto consumer: FAILED: %s\n", what);
    ++failures;
  }
}

} // namespace

static_assert(boost::asio::execution::executor<kyoto::context::executor_type>,
              "kyoto::context::executor_type must be an Asio standard executor");

int main() {
  // The error category is compiled into the library: this checks linking, not just headers.
  const boost::system::error_code ec = kyoto::error::no_free_worker;
  check(std::strcmp(ec.category().name(), "kyoto") == 0, "the category is named \"kyoto\"");
  check(!ec.message().empty(), "the error has a message");

#ifdef KYOTO_CONSUMER_RUN_CONTEXT
  try {
    kyoto::context bad{0};
    check(false, "kyoto::context{0} throws");
  } catch (const boost::system::system_error& e) {
    check(e.code() == kyoto::error::invalid_concurrency, "kyoto::context{0} reports its error");
  }

  kyoto::context ctx{2};
  int ran = 0;
  boost::asio::post(ctx, [&] { ++ran; });
  const auto count = ctx.run();
  check(ran == 1 && count == 1, "a posted handler runs once");
#endif

  if (failures != 0)
    return 1;
  std::puts("kyoto consumer: ok");
  return 0;
}
