// Tests of kyoto::spawn_blocking: parallelism, exceptions, the thread cap, keep-alive, abort
// before start, and shutdown with running and queued calls.

#include <kyoto/blocking.hpp>

#include "support/sanitizers.hpp"

#include <boost/test/unit_test.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

/// Waits up to `limit` for `pred`.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

} // namespace

BOOST_AUTO_TEST_CASE(hundred_sleeping_calls_run_in_parallel) {
  kyoto::context ctx(2);
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> in_flight{0};
  std::atomic<int> most_in_flight{0};
  std::vector<kyoto::join_handle<int>> hs;
  for (int i = 0; i < 100; ++i)
    hs.push_back(kyoto::spawn_blocking(ctx, [i, &in_flight, &most_in_flight] {
      const int now = in_flight.fetch_add(1) + 1;
      int most = most_in_flight.load();
      while (now > most && !most_in_flight.compare_exchange_weak(most, now)) {
      }
      std::this_thread::sleep_for(10ms);
      in_flight.fetch_sub(1);
      return i;
    }));
  int sum = 0;
  for (auto& h : hs)
    sum += kyoto::block_on(ctx, std::move(h));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::printf("100 blocking calls of 10 ms: %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
  BOOST_TEST(sum == 4950);
  BOOST_TEST(most_in_flight >= 2);
  // Serially: 1 s. A sanitized build takes several milliseconds to start each thread, about as
  // long as a call lasts, so only an unsanitized one must come in well under that.
  if (!kyoto_test::sanitized)
    BOOST_TEST(elapsed < 700ms);
}

BOOST_AUTO_TEST_CASE(exceptions_propagate_and_void_calls) {
  kyoto::context ctx(1);
  auto h = kyoto::spawn_blocking(ctx, []() -> int { throw std::runtime_error("disk on fire"); });
  BOOST_CHECK_THROW(kyoto::block_on(ctx, std::move(h)), std::runtime_error);
  std::atomic<int> ran{0};
  kyoto::block_on(ctx, kyoto::spawn_blocking(ctx, [&] { ++ran; }));
  BOOST_TEST(ran == 1);
}

BOOST_AUTO_TEST_CASE(result_wakes_an_awaiting_coroutine_and_run_waits_for_it) {
  kyoto::context ctx(2);
  int got = 0;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto h = kyoto::spawn_blocking(ctx, [] {
          std::this_thread::sleep_for(30ms);
          return 5;
        });
        got = co_await h.join();
      },
      asio::detached);
  ctx.run(); // must not return before the blocking call delivered its value
  BOOST_TEST(got == 5);
}

BOOST_AUTO_TEST_CASE(idle_threads_exit_after_keep_alive) {
  kyoto::context ctx(2);
  kyoto::set_blocking_options(ctx, {512, 50ms});
  BOOST_TEST(kyoto::get_blocking_options(ctx).keep_alive == 50ms);
  const std::size_t baseline = thread_count();
  std::vector<kyoto::join_handle<void>> hs;
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  for (int i = 0; i < 8; ++i)
    hs.push_back(kyoto::spawn_blocking(ctx, [&] {
      ++started;
      while (!release)
        std::this_thread::sleep_for(1ms);
    }));
  BOOST_REQUIRE(eventually([&] { return started == 8; }));
  BOOST_TEST(thread_count() >= baseline + 8);
  release = true;
  for (auto& h : hs)
    kyoto::block_on(ctx, std::move(h));
  BOOST_TEST(eventually([&] { return thread_count() == baseline; }));
  // And the pool starts threads again afterwards.
  BOOST_TEST(kyoto::block_on(ctx, kyoto::spawn_blocking(ctx, [] { return 3; })) == 3);
}

BOOST_AUTO_TEST_CASE(calls_beyond_the_cap_wait_in_the_queue) {
  kyoto::context ctx(2);
  kyoto::set_blocking_options(ctx, {2, 10s});
  std::atomic<int> running{0}, max_running{0};
  std::vector<kyoto::join_handle<void>> hs;
  for (int i = 0; i < 12; ++i)
    hs.push_back(kyoto::spawn_blocking(ctx, [&] {
      const int now = ++running;
      int m = max_running.load();
      while (now > m && !max_running.compare_exchange_weak(m, now)) {
      }
      std::this_thread::sleep_for(5ms);
      --running;
    }));
  for (auto& h : hs)
    kyoto::block_on(ctx, std::move(h));
  BOOST_TEST(max_running == 2);
  BOOST_CHECK_THROW(kyoto::set_blocking_options(ctx, {0, 10s}), std::invalid_argument);
  BOOST_CHECK_THROW(kyoto::set_blocking_options(ctx, {4, -1ms}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(abort_before_start_skips_the_call) {
  kyoto::context ctx(2);
  kyoto::set_blocking_options(ctx, {1, 10s});
  std::atomic<bool> release{false};
  std::atomic<int> second_ran{0};
  auto first = kyoto::spawn_blocking(ctx, [&] {
    while (!release)
      std::this_thread::sleep_for(1ms);
  });
  auto second = kyoto::spawn_blocking(ctx, [&] { ++second_ran; });
  second.abort();
  BOOST_CHECK_EXCEPTION(kyoto::block_on(ctx, std::move(second)), boost::system::system_error,
                        [](const auto& e) { return e.code() == kyoto::error::task_aborted; });
  release = true;
  kyoto::block_on(ctx, std::move(first));
  // The queued call was skipped: the one thread is free again and runs the next one.
  BOOST_TEST(kyoto::block_on(ctx, kyoto::spawn_blocking(ctx, [] { return 1; })) == 1);
  BOOST_TEST(second_ran == 0);
}

BOOST_AUTO_TEST_CASE(shutdown_joins_running_calls_and_drops_queued_ones) {
  std::atomic<bool> finished{false};
  std::atomic<int> queued_ran{0};
  std::atomic<bool> started{false};
  kyoto::join_handle<void> running_h, queued_h;
  {
    kyoto::context ctx(1);
    kyoto::set_blocking_options(ctx, {1, 10s});
    running_h = kyoto::spawn_blocking(ctx, [&] {
      started = true;
      std::this_thread::sleep_for(50ms);
      finished = true;
    });
    queued_h = kyoto::spawn_blocking(ctx, [&] { ++queued_ran; });
    BOOST_REQUIRE(eventually([&] { return started.load(); }));
  } // destruction waits for the running call
  BOOST_TEST(finished);
  BOOST_TEST(queued_ran == 0);
  kyoto::waker w;
  kyoto::task_context cx(w);
  BOOST_CHECK_THROW(queued_h.poll(cx), boost::system::system_error);
}
