// Conformance tests of Asio's coroutine facilities on kyoto::context: co_spawn of awaitables
// (use_future, completion handlers, exceptions), co_await of asio::post, and any_io_executor
// holding the context's executor. Every template body runs on kyoto::context and on io_context
// (the reference). Stackful asio::spawn is in stackful_test.cpp.

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "conformance/conformance_support.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
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

// Hops through the context `hops` times with co_await asio::post; returns twice `value`. Counts
// resumptions that happened outside the context in `strays`.
template <typename Context>
asio::awaitable<int> hop_and_double(int value, int hops, std::atomic<int>& strays) {
  auto ex = co_await asio::this_coro::executor;
  for (int i = 0; i < hops; ++i) {
    co_await asio::post(ex, asio::use_awaitable);
    if (!in_context<Context>(ex))
      strays.fetch_add(1);
  }
  co_await asio::post(asio::use_awaitable);
  co_await asio::dispatch(asio::use_awaitable);
  if (!in_context<Context>(ex))
    strays.fetch_add(1);
  co_return 2 * value;
}

// Awaits another awaitable, then throws.
template <typename Context>
asio::awaitable<int> throw_after_hop(std::atomic<int>& strays) {
  co_await hop_and_double<Context>(1, 1, strays);
  throw std::invalid_argument("coroutine failed");
}

// An awaitable that never finishes: it holds a counted object and hops through the context
// forever, so that it always has exactly one operation queued.
asio::awaitable<void> hop_forever(lifetime_counters& c, std::atomic<int>& started) {
  counted_handler held(c);
  started.fetch_add(1);
  for (;;)
    co_await asio::post(asio::use_awaitable);
}

} // namespace

BOOST_AUTO_TEST_SUITE(coroutine_conformance)

// --- co_spawn ---

BOOST_AUTO_TEST_CASE_TEMPLATE(co_spawn_with_use_future_from_a_foreign_thread, Context,
                              context_types) {
  Context ctx{2};
  std::atomic<int> strays{0};
  auto guard = asio::make_work_guard(ctx);
  runner<Context> r(ctx, 2);
  auto value = asio::co_spawn(ctx, hop_and_double<Context>(21, 10, strays), asio::use_future);
  auto error = asio::co_spawn(ctx, throw_after_hop<Context>(strays), asio::use_future);
  BOOST_TEST_REQUIRE((value.wait_for(patience) == std::future_status::ready));
  BOOST_TEST(value.get() == 42);
  BOOST_TEST_REQUIRE((error.wait_for(patience) == std::future_status::ready));
  BOOST_CHECK_THROW(error.get(), std::invalid_argument);
  guard.reset();
  BOOST_TEST(r.wait());
  BOOST_TEST(r.errors().empty());
  BOOST_TEST(strays == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(co_spawn_with_a_completion_handler, Context, context_types) {
  Context ctx{1};
  std::atomic<int> strays{0};
  int value = 0;
  bool value_done = false, error_done = false, handler_in_context = false;
  std::exception_ptr value_error, error;
  asio::co_spawn(ctx, hop_and_double<Context>(5, 3, strays), [&](std::exception_ptr e, int v) {
    value_error = e;
    value = v;
    value_done = true;
    handler_in_context = ctx.get_executor().running_in_this_thread();
  });
  asio::co_spawn(ctx, throw_after_hop<Context>(strays), [&](std::exception_ptr e, int) {
    error = e;
    error_done = true;
  });
  // The coroutine's exception goes to its handler, not out of run().
  BOOST_CHECK_NO_THROW(ctx.run());
  BOOST_TEST(value_done);
  BOOST_TEST(!value_error);
  BOOST_TEST(value == 10);
  BOOST_TEST(handler_in_context);
  BOOST_TEST(error_done);
  BOOST_TEST_REQUIRE(static_cast<bool>(error));
  BOOST_CHECK_THROW(std::rethrow_exception(error), std::invalid_argument);
  BOOST_TEST(strays == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(co_spawn_on_any_io_executor, Context, context_types) {
  Context ctx{2};
  asio::any_io_executor ex = ctx.get_executor();
  std::atomic<int> strays{0};
  auto guard = asio::make_work_guard(ex);
  runner<Context> r(ctx, 2);
  auto value = asio::co_spawn(ex, hop_and_double<Context>(8, 5, strays), asio::use_future);
  BOOST_TEST_REQUIRE((value.wait_for(patience) == std::future_status::ready));
  BOOST_TEST(value.get() == 16);
  guard.reset();
  BOOST_TEST(r.wait());
  BOOST_TEST(strays == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(many_coroutines_on_several_threads, Context, context_types) {
  constexpr int coroutines = 200;
  Context ctx{2};
  std::atomic<int> strays{0};
  std::atomic<long> sum{0};
  std::atomic<int> finished{0};
  for (int i = 0; i < coroutines; ++i)
    asio::co_spawn(ctx, hop_and_double<Context>(i, 20, strays), [&](std::exception_ptr e, int v) {
      if (!e)
        sum.fetch_add(v);
      finished.fetch_add(1);
    });
  runner<Context> r(ctx, 2);
  BOOST_TEST(r.wait());
  BOOST_TEST(finished == coroutines);
  BOOST_TEST(sum == static_cast<long>(coroutines) * (coroutines - 1));
  BOOST_TEST(strays == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(unfinished_coroutines_are_destroyed_with_the_context, Context,
                              context_types) {
  lifetime_counters c;
  std::atomic<int> started{0};
  {
    Context ctx{1};
    for (int i = 0; i < 3; ++i)
      asio::co_spawn(ctx, hop_forever(c, started), asio::detached);
    // Run until all three are suspended in their loops (in whatever order the context picks).
    for (int i = 0; i < 10'000 && started < 3; ++i)
      ctx.poll_one();
    BOOST_TEST(started == 3);
    BOOST_TEST(c.live == 3);
  }
  BOOST_TEST(c.live == 0);
  BOOST_TEST(c.runs == 0);
}

BOOST_AUTO_TEST_SUITE_END()
