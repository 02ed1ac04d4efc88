// Tests of kyoto::async_poll's per-operation cancellation, and of join_handle::join() (the
// documented way to await a task in a coroutine).

#include <kyoto/bridge.hpp>

#include <boost/test/unit_test.hpp>

#include <kyoto/sync/oneshot.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

/// Pending until its oneshot delivers; counts live instances.
struct tracked_rx {
  tracked_rx(kyoto::sync::oneshot_receiver<int> rx, std::atomic<int>& alive)
      : rx_(std::move(rx)), alive_(&alive) {
    ++*alive_;
  }
  tracked_rx(tracked_rx&& o) noexcept : rx_(std::move(o.rx_)), alive_(o.alive_) { ++*alive_; }
  ~tracked_rx() { --*alive_; }
  kyoto::poll<int> poll(kyoto::task_context& cx) { return rx_.poll(cx); }
  kyoto::sync::oneshot_receiver<int> rx_;
  std::atomic<int>* alive_;
};

/// Pending forever, and keeps no waker: an abandoned operation.
struct forgetful {
  kyoto::poll<int> poll(kyoto::task_context&) { return kyoto::pending; }
};

bool is_aborted(std::exception_ptr e) {
  try {
    if (e)
      std::rethrow_exception(e);
  } catch (const boost::system::system_error& se) {
    return se.code() == asio::error::operation_aborted;
  } catch (...) {
  }
  return false;
}

} // namespace

BOOST_AUTO_TEST_CASE(terminal_cancellation_drops_the_future_and_completes_aborted) {
  kyoto::context ctx(2);
  std::atomic<int> alive{0};
  auto [tx, rx] = kyoto::sync::make_oneshot<int>();
  asio::cancellation_signal sig;
  std::optional<std::exception_ptr> got;
  kyoto::async_poll(
      ctx.get_executor(), tracked_rx(std::move(rx), alive),
      asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr e, int) { got = e; }));
  ctx.poll();
  BOOST_TEST(alive == 1);
  BOOST_TEST(!got);
  // Partial cancellation is not supported: ignored.
  sig.emit(asio::cancellation_type::partial);
  ctx.poll();
  BOOST_TEST(!got);
  BOOST_TEST(alive == 1);
  sig.emit(asio::cancellation_type::terminal);
  ctx.run();
  BOOST_REQUIRE(got.has_value());
  BOOST_TEST(is_aborted(*got));
  BOOST_TEST(alive == 0);
  BOOST_TEST(tx.is_closed());                  // the receiver went with the future
  sig.emit(asio::cancellation_type::terminal); // after completion: nothing happens
}

BOOST_AUTO_TEST_CASE(coroutine_race_cancels_the_losing_future) {
  using namespace asio::experimental::awaitable_operators;
  kyoto::context ctx(2);
  std::atomic<int> alive{0};
  auto [tx, rx] = kyoto::sync::make_oneshot<int>();
  int which = -1;
  asio::co_spawn(
      ctx,
      [&, rx = std::move(rx)]() mutable -> asio::awaitable<void> {
        asio::steady_timer t(ctx, 20ms);
        auto r = co_await (kyoto::async_poll(ctx.get_executor(), tracked_rx(std::move(rx), alive),
                                             asio::use_awaitable) ||
                           t.async_wait(asio::use_awaitable));
        which = static_cast<int>(r.index());
      },
      asio::detached);
  ctx.run();
  BOOST_TEST(which == 1); // the timer won
  BOOST_TEST(alive == 0);
  BOOST_TEST(tx.is_closed());
}

BOOST_AUTO_TEST_CASE(abandoned_operation_with_a_slot_does_not_leak) {
  asio::io_context io;
  bool called = false;
  {
    asio::cancellation_signal sig;
    kyoto::async_poll(
        io.get_executor(), forgetful{},
        asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr, int) { called = true; }));
    sig.emit(asio::cancellation_type::terminal); // the op is gone: nothing to wake
    io.run();
  } // the signal frees the canceller, then the op's storage (ASan checks both)
  BOOST_TEST(!called);
}

BOOST_AUTO_TEST_CASE(join_in_coroutines) {
  kyoto::context ctx(2);
  int a = 0, b = 0;
  bool threw = false, aborted = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto h1 = kyoto::spawn(ctx, [] { return 20; });
        a = co_await h1.join();
        BOOST_TEST(!h1.valid());
        auto h2 = kyoto::spawn(ctx, [] { return 22; });
        b = co_await h2.join(asio::use_awaitable);
        auto h3 = kyoto::spawn(ctx, []() -> int { throw std::runtime_error("x"); });
        try {
          co_await h3.join();
        } catch (const std::runtime_error&) {
          threw = true;
        }
        auto [tx, rx] = kyoto::sync::make_oneshot<int>();
        auto h4 = kyoto::spawn(ctx, std::move(rx));
        h4.abort();
        try {
          co_await h4.join();
        } catch (const boost::system::system_error& e) {
          aborted = e.code() == kyoto::error::task_aborted;
        }
        auto h5 = kyoto::spawn(ctx, [] {});
        co_await h5.join(); // void
      },
      asio::detached);
  ctx.run();
  BOOST_TEST(a + b == 42);
  BOOST_TEST(threw);
  BOOST_TEST(aborted);

  // With a callback.
  int got = 0;
  auto h = kyoto::spawn(ctx, [] { return 7; });
  h.join(asio::bind_executor(ctx, [&](std::exception_ptr e, int v) {
    if (!e)
      got = v;
  }));
  ctx.restart();
  ctx.run();
  BOOST_TEST(got == 7);
}

BOOST_AUTO_TEST_CASE(async_poll_of_a_void_future) {
  asio::io_context io;
  bool done = false;
  kyoto::async_poll(io.get_executor(), kyoto::yield_now(),
                    [&](std::exception_ptr e) { done = !e; });
  io.run();
  BOOST_TEST(done);
}

// On a context: a task spawned by a handler runs before a handler posted earlier (it is in the
// worker's LIFO slot, the posted one at the back of the queue), as a spawned Tokio task does.
BOOST_AUTO_TEST_CASE(a_task_spawned_on_a_worker_runs_next) {
  kyoto::context ctx{1};
  std::vector<char> order;
  asio::post(ctx, [&] {
    asio::post(ctx, [&] { order.push_back('p'); });
    kyoto::spawn(ctx, [&] { order.push_back('s'); });
  });
  ctx.run();
  BOOST_TEST((order == std::vector<char>{'s', 'p'}));
}
