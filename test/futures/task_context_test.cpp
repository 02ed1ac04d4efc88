// g++ 12 reports a false -Wmaybe-uninitialized inside Asio's io_context tracked executor
// (io_context.hpp, context_ptr()), instantiated by the io_context cases below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Tests of tasks on a running kyoto::context: spawn, block_on, join handles in coroutines,
// async_poll, timeout, and wakers that outlive the context.

#include <kyoto/task.hpp>

#include <boost/test/unit_test.hpp>

#include <kyoto/bridge.hpp>
#include <kyoto/combinators.hpp>
#include <kyoto/sync/oneshot.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace asio = boost::asio;

BOOST_AUTO_TEST_CASE(spawn_and_run_delivers_values) {
  kyoto::context ctx(2);
  auto h = kyoto::spawn(ctx, [] { return 41 + 1; });
  auto h2 = kyoto::spawn(ctx.get_executor(), kyoto::ready_future<int>(5));
  ctx.run(); // returns: both tasks finished
  BOOST_TEST(h.is_finished());
  kyoto::waker w;
  kyoto::task_context cx(w);
  BOOST_TEST(h.poll(cx).value() == 42);
  BOOST_TEST(h2.poll(cx).value() == 5);
}

BOOST_AUTO_TEST_CASE(pending_task_holds_work) {
  kyoto::context ctx(1);
  auto [tx, rx] = kyoto::sync::make_oneshot<int>();
  auto h = kyoto::spawn(ctx, std::move(rx));
  std::thread t([&, tx = std::move(tx)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    tx.send(9);
  });
  const auto start = std::chrono::steady_clock::now();
  ctx.run(); // must not return before the task finished
  t.join();
  BOOST_TEST(h.is_finished());
  BOOST_TEST((std::chrono::steady_clock::now() - start) >= std::chrono::milliseconds(40));
}

BOOST_AUTO_TEST_CASE(block_on_drives_the_context) {
  kyoto::context ctx(2);
  BOOST_TEST(kyoto::block_on(ctx, [] { return 3; }) == 3);
  BOOST_CHECK_THROW(kyoto::block_on(ctx, []() -> int { throw std::runtime_error("x"); }),
                    std::runtime_error);
  // With other threads running the context as well. block_on helps run the context in short
  // slices, so a runner may find both slots taken for a moment: it waits for one.
  auto guard = asio::make_work_guard(ctx);
  auto runner = [&] { ctx.run(); };
  std::thread t1(runner);
  std::thread t2(runner);
  for (int i = 0; i < 20; ++i)
    BOOST_TEST(kyoto::block_on(ctx, [i] { return i; }) == i);
  guard.reset();
  t1.join();
  t2.join();
}

// Every slot is held by another thread, so block_on cannot help and waits for the task to be
// run by that thread: the completion's notification arrives while it waits, and must not be
// lost (it was: block_on's wait consumed it, and block_on never polled the task again).
BOOST_AUTO_TEST_CASE(block_on_waiting_for_other_threads_sees_the_completion) {
  kyoto::context ctx(1);
  auto guard = asio::make_work_guard(ctx);
  std::thread runner([&] { ctx.run(); });
  while (ctx.metrics().workers[0].parks == 0) // the runner holds the only slot, parked
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto result = std::async(std::launch::async, [&] {
    int sum = 0;
    for (int i = 0; i < 50; ++i)
      sum += kyoto::block_on(ctx, [i] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1)); // lands in block_on's wait
        return i;
      });
    return sum;
  });
  // On failure block_on never returns: the test then times out in ctest.
  BOOST_REQUIRE(result.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  BOOST_TEST(result.get() == 49 * 50 / 2);
  guard.reset();
  runner.join();
}

BOOST_AUTO_TEST_CASE(block_on_from_a_worker_throws) {
  kyoto::context ctx(1);
  bool threw = false;
  asio::post(ctx, [&] {
    try {
      kyoto::block_on(ctx, [] { return 1; });
    } catch (const boost::system::system_error& e) {
      threw = e.code() == kyoto::error::blocking_on_worker;
    }
  });
  ctx.run();
  BOOST_TEST(threw);
}

BOOST_AUTO_TEST_CASE(join_handle_awaited_in_coroutine_and_awaitable_spawned) {
  kyoto::context ctx(2);
  int result = 0;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto h = kyoto::spawn(ctx, [] { return 20; });
        int a = co_await std::move(h).async_wait(asio::use_awaitable);
        auto h2 = kyoto::spawn(ctx, []() -> asio::awaitable<int> { co_return 22; }());
        int b = co_await std::move(h2).async_wait(asio::use_awaitable);
        result = a + b;
      },
      asio::detached);
  ctx.run();
  BOOST_TEST(result == 42);
}

BOOST_AUTO_TEST_CASE(async_poll_with_callbacks_and_use_future) {
  asio::io_context io;
  int got = 0;
  kyoto::async_poll(io.get_executor(), kyoto::ready_future<int>(7),
                    [&](std::exception_ptr e, int v) {
                      BOOST_TEST(!e);
                      got = v;
                    });
  io.run();
  BOOST_TEST(got == 7);

  // A future woken from another thread, awaited through std::future.
  auto [tx, rx] = kyoto::sync::make_oneshot<int>();
  io.restart();
  auto f = kyoto::async_poll(io.get_executor(), std::move(rx), asio::use_future);
  std::thread runner([&] { io.run(); });
  tx.send(11);
  BOOST_TEST(f.get() == 11);
  runner.join();
}

BOOST_AUTO_TEST_CASE(timeout_fires_and_passes) {
  kyoto::context ctx(1);
  auto [tx, rx] = kyoto::sync::make_oneshot<int>();
  auto start = std::chrono::steady_clock::now();
  try {
    kyoto::block_on(
        ctx, kyoto::timeout(ctx.get_executor(), std::chrono::milliseconds(30), std::move(rx)));
    BOOST_FAIL("expected timed_out");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST(e.code() == asio::error::timed_out);
  }
  BOOST_TEST((std::chrono::steady_clock::now() - start) >= std::chrono::milliseconds(30));
  BOOST_TEST(kyoto::block_on(ctx, kyoto::timeout(ctx.get_executor(), std::chrono::seconds(5),
                                                 kyoto::ready_future<int>(1))) == 1);
}

BOOST_AUTO_TEST_CASE(waker_outlives_context) {
  kyoto::waker w;
  std::atomic<int> alive{0};
  struct holder {
    kyoto::waker* out;
    std::atomic<int>* alive;
    holder(kyoto::waker* o, std::atomic<int>* a) : out(o), alive(a) { ++*alive; }
    holder(holder&& o) noexcept : out(o.out), alive(o.alive) { ++*alive; }
    ~holder() { --*alive; }
    kyoto::poll<int> poll(kyoto::task_context& cx) {
      *out = cx.get_waker();
      return kyoto::pending;
    }
  };
  {
    kyoto::context ctx(1);
    auto h = kyoto::spawn(ctx, holder(&w, &alive));
    ctx.run_for(std::chrono::milliseconds(20));
    BOOST_TEST(static_cast<bool>(w));
    BOOST_TEST(alive == 1);
  } // the context's destruction cancels the task
  BOOST_TEST(alive == 0);
  w.wake_by_ref(); // must not touch the destroyed context
  w.wake();
}

BOOST_AUTO_TEST_CASE(abort_running_context_task) {
  kyoto::context ctx(2);
  auto [tx, rx] = kyoto::sync::make_oneshot<int>();
  auto h = kyoto::spawn(ctx, std::move(rx));
  h.abort();
  ctx.run();
  BOOST_TEST(h.is_finished());
  kyoto::waker w;
  kyoto::task_context cx(w);
  BOOST_CHECK_EXCEPTION(h.poll(cx), boost::system::system_error,
                        [](const auto& e) { return e.code() == kyoto::error::task_aborted; });
}

BOOST_AUTO_TEST_CASE(many_tasks_yielding_across_workers) {
  kyoto::context ctx(2);
  std::atomic<int> done{0};
  std::vector<kyoto::join_handle<int>> hs;
  for (int i = 0; i < 200; ++i)
    hs.push_back(kyoto::spawn(ctx, kyoto::poll_fn([n = 0, &done](kyoto::task_context& cx) mutable {
                                if (++n < 10) {
                                  cx.get_waker().wake_by_ref();
                                  return kyoto::poll<int>(kyoto::pending);
                                }
                                ++done;
                                return kyoto::poll<int>(n);
                              })));
  std::thread t([&] { ctx.run(); });
  ctx.run();
  t.join();
  BOOST_TEST(done == 200);
}
