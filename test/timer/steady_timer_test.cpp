// Conformance: every behaviour of asio::steady_timer that code relies on, checked against
// kyoto::steady_timer (with any_io_executor and with the context's own executor type) AND
// asio::steady_timer, all on a kyoto::context, so they are known to agree.
#include <kyoto/steady_timer.hpp>

#include <boost/test/unit_test.hpp>

#include "support/thread_runner.hpp"

#include <kyoto/context.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/mpl/list.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {

// kyoto's timer with the context's own executor type as well as with any_io_executor: the two
// take different paths to the handler (detail/handler_work.hpp).
using native_steady_timer = kyoto::basic_waitable_timer<clock_type, asio::wait_traits<clock_type>,
                                                        kyoto::context::executor_type>;
using timer_types = boost::mpl::list<kyoto::steady_timer, native_steady_timer, asio::steady_timer>;

/// Records the completions of waits.
struct recorder {
  std::vector<error_code> results;
  auto handler() {
    return [this](error_code ec) { results.push_back(ec); };
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(steady_timer_conformance)

BOOST_AUTO_TEST_CASE_TEMPLATE(expiry_and_expires_at_after, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx);
  BOOST_TEST((t.expiry() == clock_type::time_point()));
  const auto before = clock_type::now();
  BOOST_TEST(t.expires_after(1h) == 0u);
  BOOST_TEST((t.expiry() >= before + 1h));
  BOOST_TEST((t.expiry() <= clock_type::now() + 1h));
  const auto at = clock_type::now() + 5min;
  BOOST_TEST(t.expires_at(at) == 0u);
  BOOST_TEST((t.expiry() == at));
  Timer t2(ctx, at);
  BOOST_TEST((t2.expiry() == at));
  Timer t3(ctx.get_executor(), 1s);
  BOOST_TEST((t3.expiry() > clock_type::now()));
  // Saturates instead of overflowing.
  t3.expires_after(clock_type::duration::max());
  BOOST_TEST((t3.expiry() == clock_type::time_point::max()));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(wait_completes_with_success_never_early, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx, 30ms);
  const auto deadline = t.expiry();
  recorder r;
  std::optional<clock_type::time_point> fired_at;
  t.async_wait([&](error_code ec) {
    fired_at = clock_type::now();
    r.results.push_back(ec);
  });
  // The pending wait is outstanding work: run() returns only after it completed.
  ctx.run();
  BOOST_TEST_REQUIRE(r.results.size() == 1u);
  BOOST_TEST(!r.results[0]);
  BOOST_TEST((*fired_at >= deadline));
  BOOST_TEST((*fired_at < deadline + 1s));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(async_wait_never_completes_inline, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx, clock_type::now() - 1s);
  bool done = false;
  t.async_wait([&](error_code ec) {
    BOOST_TEST(!ec);
    done = true;
  });
  BOOST_TEST(!done);
  ctx.run();
  BOOST_TEST(done);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(past_deadline_fires_at_once, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx);
  t.expires_at(clock_type::now() - 10s);
  recorder r;
  t.async_wait(r.handler());
  const auto start = clock_type::now();
  ctx.run();
  BOOST_TEST_REQUIRE(r.results.size() == 1u);
  BOOST_TEST(!r.results[0]);
  BOOST_TEST((clock_type::now() - start < 500ms));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(cancel_aborts_every_wait_and_counts, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx, 1h);
  recorder r;
  for (int i = 0; i < 3; ++i)
    t.async_wait(r.handler());
  BOOST_TEST(t.cancel() == 3u);
  BOOST_TEST(t.cancel() == 0u);
  ctx.run();
  BOOST_TEST_REQUIRE(r.results.size() == 3u);
  for (const error_code& ec : r.results)
    BOOST_TEST((ec == asio::error::operation_aborted));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(cancel_one_aborts_the_oldest, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx, 20ms);
  std::vector<std::pair<int, error_code>> seen;
  t.async_wait([&](error_code ec) { seen.emplace_back(1, ec); });
  t.async_wait([&](error_code ec) { seen.emplace_back(2, ec); });
  BOOST_TEST(t.cancel_one() == 1u);
  ctx.run();
  BOOST_TEST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(seen[0].first == 1);
  BOOST_TEST((seen[0].second == asio::error::operation_aborted));
  BOOST_TEST(seen[1].first == 2);
  BOOST_TEST(!seen[1].second);
  BOOST_TEST(t.cancel_one() == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(expires_after_cancels_pending_wait, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx, 1h);
  recorder r;
  t.async_wait(r.handler());
  t.async_wait(r.handler());
  BOOST_TEST(t.expires_after(10ms) == 2u);
  t.async_wait(r.handler());
  BOOST_TEST(t.expires_at(clock_type::now() + 10ms) == 1u);
  t.async_wait(r.handler());
  ctx.run();
  BOOST_TEST_REQUIRE(r.results.size() == 4u);
  BOOST_TEST((r.results[0] == asio::error::operation_aborted));
  BOOST_TEST((r.results[1] == asio::error::operation_aborted));
  BOOST_TEST((r.results[2] == asio::error::operation_aborted));
  BOOST_TEST(!r.results[3]);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(per_operation_cancellation, Timer, timer_types) {
  for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                    asio::cancellation_type::total}) {
    kyoto::context ctx{1};
    Timer t(ctx, 50ms);
    asio::cancellation_signal signal;
    recorder cancelled, other;
    t.async_wait(asio::bind_cancellation_slot(signal.slot(), cancelled.handler()));
    t.async_wait(other.handler());
    asio::post(ctx, [&] { signal.emit(type); });
    ctx.run();
    BOOST_TEST_REQUIRE(cancelled.results.size() == 1u);
    BOOST_TEST((cancelled.results[0] == asio::error::operation_aborted));
    // The timer's other wait is not affected.
    BOOST_TEST_REQUIRE(other.results.size() == 1u);
    BOOST_TEST(!other.results[0]);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(cancellation_after_completion_is_harmless, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx, 1ms);
  asio::cancellation_signal signal;
  recorder r;
  t.async_wait(asio::bind_cancellation_slot(signal.slot(), r.handler()));
  ctx.run();
  signal.emit(asio::cancellation_type::terminal);
  BOOST_TEST_REQUIRE(r.results.size() == 1u);
  BOOST_TEST(!r.results[0]);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(move_with_pending_wait, Timer, timer_types) {
  kyoto::context ctx{1};
  // Moved, then fires.
  Timer a(ctx, 20ms);
  recorder fired;
  a.async_wait(fired.handler());
  Timer b(std::move(a));
  BOOST_TEST(a.cancel() == 0u);
  // Moved by assignment, then cancelled through the new owner.
  Timer c(ctx, 1h);
  recorder cancelled;
  c.async_wait(cancelled.handler());
  Timer d(ctx, 1h);
  recorder replaced;
  d.async_wait(replaced.handler());
  d = std::move(c); // d's own wait is cancelled, c's moves in
  BOOST_TEST(c.cancel() == 0u);
  BOOST_TEST(d.cancel() == 1u);
  ctx.run();
  BOOST_TEST_REQUIRE(fired.results.size() == 1u);
  BOOST_TEST(!fired.results[0]);
  BOOST_TEST_REQUIRE(cancelled.results.size() == 1u);
  BOOST_TEST((cancelled.results[0] == asio::error::operation_aborted));
  BOOST_TEST_REQUIRE(replaced.results.size() == 1u);
  BOOST_TEST((replaced.results[0] == asio::error::operation_aborted));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(destroying_a_timer_aborts_its_wait, Timer, timer_types) {
  kyoto::context ctx{1};
  recorder r;
  {
    Timer t(ctx, 1h);
    t.async_wait(r.handler());
  }
  ctx.run();
  BOOST_TEST_REQUIRE(r.results.size() == 1u);
  BOOST_TEST((r.results[0] == asio::error::operation_aborted));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(use_future, Timer, timer_types) {
  kyoto::context ctx{2};
  Timer t(ctx, 10ms);
  std::future<void> ok = t.async_wait(asio::use_future);
  Timer t2(ctx, 1h);
  std::future<void> aborted = t2.async_wait(asio::use_future);
  std::thread runner([&] { ctx.run(); });
  ok.get();
  t2.cancel();
  BOOST_CHECK_THROW(aborted.get(), boost::system::system_error);
  runner.join();
}

BOOST_AUTO_TEST_CASE_TEMPLATE(use_awaitable_and_as_tuple, Timer, timer_types) {
  kyoto::context ctx{2};
  int stage = 0;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        Timer t(ctx, 5ms);
        const auto deadline = t.expiry();
        co_await t.async_wait(asio::use_awaitable);
        BOOST_TEST((clock_type::now() >= deadline));
        stage = 1;
        t.expires_after(1h);
        Timer canceller(ctx, 5ms);
        canceller.async_wait([&t](error_code) { t.cancel(); });
        auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        BOOST_TEST((ec == asio::error::operation_aborted));
        stage = 2;
      },
      asio::detached);
  ctx.run();
  BOOST_TEST(stage == 2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(deferred, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx, 5ms);
  auto op = t.async_wait(asio::deferred);
  recorder r;
  std::move(op)(r.handler());
  ctx.run();
  BOOST_TEST_REQUIRE(r.results.size() == 1u);
  BOOST_TEST(!r.results[0]);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(completion_runs_on_associated_executor, Timer, timer_types) {
  kyoto::context ctx{2};
  auto strand = asio::make_strand(ctx);
  Timer t(ctx, 5ms);
  bool in_strand = false;
  t.async_wait(asio::bind_executor(
      strand, [&](error_code) { in_strand = strand.running_in_this_thread(); }));
  std::thread runner([&] { ctx.run(); });
  ctx.run();
  runner.join();
  BOOST_TEST(in_strand);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(pending_waits_keep_run_from_returning_until_cancelled, Timer,
                              timer_types) {
  // Waits armed from a worker and from a thread that is not one (different wheels, for kyoto's
  // timers): run() keeps running while either is pending, and returns once the last one is
  // cancelled from outside.
  kyoto::context ctx{2};
  Timer from_worker(ctx, 1h);
  Timer from_outside(ctx, 1h);
  recorder r;
  std::promise<void> armed;
  asio::post(ctx, [&] {
    from_worker.async_wait(r.handler());
    armed.set_value();
  });
  from_outside.async_wait(r.handler());
  kyoto_test::thread_runner runner(ctx, 1);
  armed.get_future().wait();
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(!runner.done());
  BOOST_TEST(from_outside.cancel() == 1u);
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(!runner.done());
  BOOST_TEST(from_worker.cancel() == 1u);
  BOOST_TEST(runner.wait(10s)); // stops the context (fails, does not hang) when run() stays
  BOOST_TEST_REQUIRE(r.results.size() == 2u);
  for (const error_code& ec : r.results)
    BOOST_TEST((ec == asio::error::operation_aborted));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(run_waits_for_a_wait_armed_by_a_completion, Timer, timer_types) {
  // The last pending wait completes, and its handler arms the next one: run() must not return
  // in between (for kyoto's timers, the wheel gives its unit of work back and takes it again).
  kyoto::context ctx{2};
  Timer t(ctx, 2ms);
  int fired = 0;
  std::function<void(error_code)> again = [&](error_code ec) {
    BOOST_TEST(!ec);
    if (++fired < 5) {
      t.expires_after(2ms);
      t.async_wait(again);
    }
  };
  t.async_wait(again);
  std::thread runner([&] { ctx.run(); });
  ctx.run();
  runner.join();
  BOOST_TEST(fired == 5);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(the_last_wait_leaving_by_cancel_one_or_its_slot_ends_run, Timer,
                              timer_types) {
  // The only pending wait of the context leaves through cancel_one(), then (second round)
  // through a per-operation cancellation emitted by a thread that is not a worker: each time,
  // run() returns.
  for (int round = 0; round < 2; ++round) {
    kyoto::context ctx{2};
    Timer t(ctx, 1h);
    asio::cancellation_signal signal;
    recorder r;
    t.async_wait(asio::bind_cancellation_slot(signal.slot(), r.handler()));
    kyoto_test::thread_runner runner(ctx, 1);
    std::this_thread::sleep_for(50ms);
    BOOST_TEST(!runner.done());
    if (round == 0)
      BOOST_TEST(t.cancel_one() == 1u);
    else
      signal.emit(asio::cancellation_type::terminal);
    BOOST_TEST(runner.wait(10s));
    BOOST_TEST_REQUIRE(r.results.size() == 1u);
    BOOST_TEST((r.results[0] == asio::error::operation_aborted));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(handler_bound_to_another_context_runs_there, Timer, timer_types) {
  // The wait is outstanding work on the handler's own context too: `other.run()`, which has
  // nothing else to do, returns only after the handler ran there.
  kyoto::context ctx{1};
  kyoto::context other{1};
  Timer t(ctx, 20ms);
  bool ran_on_other = false;
  bool ran_on_ctx = true;
  t.async_wait(asio::bind_executor(other, [&](error_code ec) {
    BOOST_TEST(!ec);
    ran_on_other = other.get_executor().running_in_this_thread();
    ran_on_ctx = ctx.get_executor().running_in_this_thread();
  }));
  std::thread runner([&] { ctx.run(); });
  other.run();
  runner.join();
  BOOST_TEST(ran_on_other);
  BOOST_TEST(!ran_on_ctx);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(pending_handlers_destroyed_at_shutdown, Timer, timer_types) {
  auto sentinel = std::make_shared<int>(0);
  std::weak_ptr<int> watch = sentinel;
  bool invoked = false;
  {
    kyoto::context ctx{1};
    // The timer lives in its own handler, as a connection's timer lives in the connection.
    auto t = std::make_shared<Timer>(ctx, 1h);
    t->async_wait([t, s = std::move(sentinel), &invoked](error_code) { invoked = true; });
    t.reset();
    ctx.poll();
    BOOST_TEST(!watch.expired());
  }
  BOOST_TEST(watch.expired());
  BOOST_TEST(!invoked);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(wait_blocks_until_expiry, Timer, timer_types) {
  kyoto::context ctx{1};
  Timer t(ctx, 20ms);
  t.wait();
  BOOST_TEST((clock_type::now() >= t.expiry()));
  error_code ec = asio::error::fault;
  t.wait(ec);
  BOOST_TEST(!ec);
}

using kyoto_timer_types = boost::mpl::list<kyoto::steady_timer, native_steady_timer>;

BOOST_AUTO_TEST_CASE_TEMPLATE(a_blocking_never_executor_queues_the_handler, Timer,
                              kyoto_timer_types) {
  // Two waits that are due at once complete in the order they were started; the first timer's
  // executor is blocking.never, so its handler is queued behind the second one's instead of
  // being invoked inline (what executing on that executor does).
  kyoto::context ctx{1};
  Timer never(asio::require(ctx.get_executor(), asio::execution::blocking.never));
  Timer possibly(ctx.get_executor());
  never.expires_at(clock_type::now() - 1s);
  possibly.expires_at(clock_type::now() - 1s);
  std::vector<int> order;
  never.async_wait([&](error_code) { order.push_back(1); });
  possibly.async_wait([&](error_code) { order.push_back(2); });
  ctx.run();
  BOOST_TEST(order == (std::vector<int>{2, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
