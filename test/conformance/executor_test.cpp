// Conformance tests of kyoto/impl/context_executor.hpp: kyoto::context::executor_type models
// Asio's standard and Networking TS executors as io_context::executor_type does: the same
// properties, the same rules for where a function runs (inline or queued), use_future, the
// allocator property, and allocation-free handler recycling in steady state. Every template body
// runs on kyoto::context and on io_context (the reference).

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "conformance/conformance_support.hpp"
#include "support/counting_allocator.hpp"
#include "support/counting_new.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <array>
#include <atomic>
#include <cstdlib>
#include <future>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>

namespace {

using namespace kyoto_conformance;
using kyoto_test::allocation_counts;
using kyoto_test::counted_news;
using kyoto_test::counting_allocator;
using kyoto_test::counting_news;
namespace execution = boost::asio::execution;

// The static part of the executor concepts, checked for both executor types.
template <typename Executor>
constexpr bool models_asio_executors() {
  static_assert(execution::is_executor<Executor>::value, "a standard executor");
  static_assert(asio::is_executor<Executor>::value, "a Networking TS executor");
  static_assert(std::is_nothrow_copy_constructible_v<Executor>);
  static_assert(std::is_nothrow_move_constructible_v<Executor>);
  static_assert(asio::can_require<Executor, execution::blocking_t::never_t>::value);
  static_assert(asio::can_require<Executor, execution::blocking_t::possibly_t>::value);
  static_assert(asio::can_prefer<Executor, execution::outstanding_work_t::tracked_t>::value);
  static_assert(asio::can_require<Executor, execution::outstanding_work_t::tracked_t>::value);
  static_assert(asio::can_require<Executor, execution::outstanding_work_t::untracked_t>::value);
  static_assert(asio::can_require<Executor, execution::relationship_t::fork_t>::value);
  static_assert(asio::can_require<Executor, execution::relationship_t::continuation_t>::value);
  static_assert(
      asio::can_require<Executor, execution::allocator_t<counting_allocator<void>>>::value);
  static_assert(asio::can_require<Executor, execution::allocator_t<void>>::value);
  static_assert(asio::can_query<Executor, execution::mapping_t>::value);
  static_assert(asio::can_query<Executor, execution::context_t>::value);
  static_assert(asio::can_query<Executor, execution::blocking_t>::value);
  static_assert(asio::can_query<Executor, execution::relationship_t>::value);
  static_assert(asio::can_query<Executor, execution::outstanding_work_t>::value);
  static_assert(std::is_convertible_v<Executor, asio::any_io_executor>);
  static_assert(std::is_constructible_v<asio::any_io_executor, Executor>);
  return true;
}

static_assert(models_asio_executors<asio::io_context::executor_type>());
static_assert(models_asio_executors<kyoto::context::executor_type>());
// kyoto also tells its worker count (io_context's executor has no occupancy).
static_assert(asio::can_query<kyoto::context::executor_type, execution::occupancy_t>::value);
static_assert(std::is_same_v<decltype(std::declval<kyoto::context::executor_type>().context()),
                             kyoto::context&>);

// True while the current thread is inside a submitting call (post, execute, ...) of a test.
thread_local bool submitting = false;

// A handler that re-posts itself until it ran `total` times, measuring global operator new
// calls from run `warmup` on.
template <typename Executor>
struct self_poster {
  Executor ex;
  std::atomic<int>* runs;
  int warmup;
  int total;

  void operator()() const {
    const int n = runs->fetch_add(1) + 1;
    if (n == warmup)
      counting_news.store(true);
    if (n < total)
      asio::post(ex, *this);
    else
      counting_news.store(false);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(executor_conformance)

// --- Properties ---

BOOST_AUTO_TEST_CASE_TEMPLATE(property_queries, Context, context_types) {
  Context ctx{3};
  auto ex = ctx.get_executor();
  BOOST_TEST((asio::query(ex, execution::mapping) == execution::mapping.thread));
  BOOST_TEST((asio::query(ex, execution::blocking) == execution::blocking.possibly));
  BOOST_TEST((asio::query(ex, execution::relationship) == execution::relationship.fork));
  BOOST_TEST(
      (asio::query(ex, execution::outstanding_work) == execution::outstanding_work.untracked));
  BOOST_TEST(&asio::query(ex, execution::context) == &ctx);
  BOOST_TEST(&ex.context() == &ctx);
  if constexpr (asio::can_query<decltype(ex), execution::occupancy_t>::value)
    BOOST_TEST(asio::query(ex, execution::occupancy) == 3u);

  auto never = asio::require(ex, execution::blocking.never);
  BOOST_TEST((asio::query(never, execution::blocking) == execution::blocking.never));
  auto cont = asio::require(ex, execution::relationship.continuation);
  BOOST_TEST((asio::query(cont, execution::relationship) == execution::relationship.continuation));
  auto tracked = asio::prefer(ex, execution::outstanding_work.tracked);
  BOOST_TEST(
      (asio::query(tracked, execution::outstanding_work) == execution::outstanding_work.tracked));
  allocation_counts counts;
  counting_allocator<void> alloc(counts);
  auto with_alloc = asio::require(ex, execution::allocator(alloc));
  BOOST_TEST((asio::query(with_alloc, execution::allocator) == alloc));
  BOOST_TEST(&asio::query(with_alloc, execution::context) == &ctx);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(equality, Context, context_types) {
  Context ctx{1}, other{1};
  auto ex = ctx.get_executor();
  BOOST_TEST((ex == ctx.get_executor()));
  BOOST_TEST(!(ex != ctx.get_executor()));
  BOOST_TEST((ex != other.get_executor()));
  auto never = asio::require(ex, execution::blocking.never);
  BOOST_TEST((never != ex));
  BOOST_TEST((asio::require(never, execution::blocking.possibly) == ex));
  BOOST_TEST((asio::require(ex, execution::relationship.continuation) != ex));
  asio::any_io_executor any = ex;
  BOOST_TEST((any == asio::any_io_executor(ctx.get_executor())));
  BOOST_TEST((any != asio::any_io_executor(other.get_executor())));
  BOOST_TEST((any.target<decltype(ex)>() != nullptr));
}

// --- Where submitted functions run ---

BOOST_AUTO_TEST_CASE_TEMPLATE(from_a_foreign_thread_everything_is_queued, Context, context_types) {
  Context ctx{1};
  auto ex = ctx.get_executor();
  int ran = 0;
  asio::post(ex, [&] { ++ran; });
  asio::dispatch(ex, [&] { ++ran; });
  asio::defer(ex, [&] { ++ran; });
  ex.execute([&] { ++ran; });
  asio::require(ex, execution::blocking.never).execute([&] { ++ran; });
  ex.post([&] { ++ran; }, std::allocator<void>());
  ex.dispatch([&] { ++ran; }, std::allocator<void>());
  ex.defer([&] { ++ran; }, std::allocator<void>());
  BOOST_TEST(ran == 0);
  BOOST_TEST(ctx.run() == 8u);
  BOOST_TEST(ran == 8);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(from_a_handler_only_blocking_possibly_runs_inline, Context,
                              context_types) {
  for (int threads : {1, 2}) {
    Context ctx{threads};
    auto ex = ctx.get_executor();
    // For each way of submitting: how often the function ran, and how often it ran inside the
    // submitting call (on the submitting thread, before the call returned).
    constexpr int kinds = 9;
    std::array<std::atomic<int>, kinds> ran{}, ran_inline{};
    const auto submit = [&](int kind, auto how) {
      submitting = true;
      how([&ran, &ran_inline, kind] {
        ran[kind].fetch_add(1);
        if (submitting)
          ran_inline[kind].fetch_add(1);
      });
      submitting = false;
    };
    asio::post(ex, [&] {
      submit(0, [&](auto f) { asio::post(ex, f); });
      submit(1, [&](auto f) { asio::defer(ex, f); });
      submit(2, [&](auto f) { asio::require(ex, execution::blocking.never).execute(f); });
      submit(3, [&](auto f) { ex.post(f, std::allocator<void>()); });
      submit(4, [&](auto f) { ex.defer(f, std::allocator<void>()); });
      submit(5, [&](auto f) { asio::dispatch(ex, f); });
      submit(6, [&](auto f) { ex.execute(f); });
      submit(7, [&](auto f) { ex.dispatch(f, std::allocator<void>()); });
      submit(8,
             [&](auto f) { asio::require(ex, execution::relationship.continuation).execute(f); });
    });
    runner<Context> r(ctx, threads);
    BOOST_TEST(r.wait());
    for (int kind = 0; kind < kinds; ++kind) {
      BOOST_TEST_CONTEXT("threads " << threads << ", kind " << kind) {
        BOOST_TEST(ran[kind] == 1);
        BOOST_TEST(ran_inline[kind] == (kind >= 5 ? 1 : 0));
      }
    }
    BOOST_TEST(r.handlers_run() >= 6u);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(execute_inside_a_handler_of_another_context_is_queued, Context,
                              context_types) {
  Context ctx{1}, other{1};
  auto ex = ctx.get_executor();
  bool ran_inline = true;
  bool ran = false;
  asio::post(other, [&] {
    ex.execute([&] { ran = true; });
    asio::dispatch(ex, [] {});
    ran_inline = ran;
  });
  BOOST_TEST(other.run() == 1u);
  BOOST_TEST(!ran_inline);
  BOOST_TEST(ctx.run() == 2u);
  BOOST_TEST(ran);
}

// --- Networking TS work counting ---

BOOST_AUTO_TEST_CASE_TEMPLATE(on_work_started_keeps_run_alive, Context, context_types) {
  Context ctx{1};
  auto ex = ctx.get_executor();
  ex.on_work_started();
  runner<Context> r(ctx, 1);
  std::promise<void> probe;
  asio::post(ex, [&] { probe.set_value(); });
  BOOST_TEST((probe.get_future().wait_for(patience) == std::future_status::ready));
  std::this_thread::sleep_for(10ms);
  BOOST_TEST(!r.done());
  ex.on_work_finished();
  BOOST_TEST(r.wait());
}

// --- use_future from a foreign thread ---

BOOST_AUTO_TEST_CASE_TEMPLATE(use_future_from_a_foreign_thread, Context, context_types) {
  Context ctx{2};
  auto ex = ctx.get_executor();
  auto guard = asio::make_work_guard(ctx);
  runner<Context> r(ctx, 2);
  const auto where = [&] {
    return std::make_pair(std::this_thread::get_id(), ex.running_in_this_thread());
  };
  auto posted = asio::post(ex, asio::use_future(where));
  auto dispatched = asio::dispatch(ex, asio::use_future(where));
  auto deferred = asio::defer(ex, asio::use_future(where));
  auto value = asio::post(ex, asio::use_future([] { return 42; }));
  auto failing = asio::post(ex, asio::use_future([]() -> int { throw std::domain_error("x"); }));
  auto plain = asio::post(ex, asio::use_future);
  for (auto* f : {&posted, &dispatched, &deferred}) {
    BOOST_TEST_REQUIRE((f->wait_for(patience) == std::future_status::ready));
    const auto [id, in_ctx] = f->get();
    BOOST_TEST((id != std::this_thread::get_id()));
    BOOST_TEST(in_ctx);
  }
  BOOST_TEST_REQUIRE((value.wait_for(patience) == std::future_status::ready));
  BOOST_TEST(value.get() == 42);
  BOOST_TEST_REQUIRE((failing.wait_for(patience) == std::future_status::ready));
  BOOST_CHECK_THROW(failing.get(), std::domain_error);
  BOOST_TEST_REQUIRE((plain.wait_for(patience) == std::future_status::ready));
  BOOST_CHECK_NO_THROW(plain.get());
  guard.reset();
  BOOST_TEST(r.wait());
}

// --- The allocator property ---

BOOST_AUTO_TEST_CASE_TEMPLATE(execute_allocates_through_the_required_allocator, Context,
                              context_types) {
  allocation_counts counts;
  {
    Context ctx{1};
    counting_allocator<void> alloc(counts);
    auto ex =
        asio::require(ctx.get_executor(), execution::allocator(alloc), execution::blocking.never);
    int ran = 0;
    for (int i = 0; i < 3; ++i)
      ex.execute([&] { ++ran; });
    BOOST_TEST(counts.allocations >= 3);
    BOOST_TEST(ctx.run() == 3u);
    BOOST_TEST(ran == 3);
    BOOST_TEST(counts.deallocations == counts.allocations);

    // Queued, then destroyed with the context without running.
    ex.execute([&] { ++ran; });
    BOOST_TEST(counts.allocations >= 4);
  }
  BOOST_TEST(counts.deallocations == counts.allocations);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(post_uses_the_handlers_associated_allocator, Context, context_types) {
  allocation_counts counts;
  Context ctx{1};
  counting_allocator<void> alloc(counts);
  int ran = 0;
  asio::post(ctx, asio::bind_allocator(alloc, [&] { ++ran; }));
  asio::defer(ctx, asio::bind_allocator(alloc, [&] { ++ran; }));
  asio::dispatch(ctx, asio::bind_allocator(alloc, [&] { ++ran; }));
  BOOST_TEST(counts.allocations >= 3);
  BOOST_TEST(ctx.run() == 3u);
  BOOST_TEST(ran == 3);
  BOOST_TEST(counts.deallocations == counts.allocations);
}

// --- Handler memory recycling ---

BOOST_AUTO_TEST_CASE(counting_operator_new_counts) {
  counting_news = true;
  void* p = ::operator new(16);
  counting_news = false;
  ::operator delete(p);
  BOOST_TEST(counted_news == 1);
  counted_news = 0;
}

BOOST_AUTO_TEST_CASE_TEMPLATE(reposting_handler_allocates_nothing_in_steady_state, Context,
                              context_types) {
  constexpr int warmup = 100;
  constexpr int measured = 10'000;
  for (int threads : {1, 2}) {
    Context ctx{threads};
    std::atomic<int> runs{0};
    counted_news = 0;
    const self_poster<typename Context::executor_type> chain{ctx.get_executor(), &runs, warmup,
                                                             warmup + measured};
    if (threads == 1) {
      asio::post(ctx, chain);
      BOOST_TEST(ctx.run() == static_cast<std::size_t>(warmup + measured));
    } else {
      // Every thread is inside run() (done starting) before the chain begins.
      auto guard = asio::make_work_guard(ctx);
      runner<Context> r(ctx, threads);
      std::atomic<int> arrived{0}, met{0};
      for (int i = 0; i < threads; ++i)
        asio::post(ctx, [&] {
          arrived.fetch_add(1);
          if (eventually([&] { return arrived == threads; }, std::chrono::seconds(10)))
            met.fetch_add(1);
        });
      BOOST_TEST(eventually([&] { return met == threads; }));
      asio::post(ctx, chain);
      guard.reset();
      BOOST_TEST(r.wait());
      BOOST_TEST(r.handlers_run() == static_cast<std::size_t>(threads + warmup + measured));
    }
    BOOST_TEST(!counting_news);
    BOOST_TEST(runs == warmup + measured);
    BOOST_TEST_CONTEXT("threads " << threads) BOOST_TEST(counted_news == 0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
