// bench/workloads/coro_ping_pong.hpp
//
// coro_ping_pong: Tokio's ping_pong written with Asio C++20 coroutines, on every system (kyoto
// included). The main thread co_spawns a root coroutine on executor(); the root co_spawns 1,000
// "side A" coroutines on its own executor. Each side A makes two
// asio::experimental::concurrent_channel<void(error_code, int)>s of capacity 1 (a buffered send
// completes without waiting for the receiver, as a Tokio oneshot send does), co_spawns its "side
// B", sends the ping (1) and awaits the pong; side B awaits the ping and sends back ping + 1. Side
// A checks the pong, counts it and counts down. The run fails unless exactly 1,000 pongs arrived.
//
// task_ping_pong (task_ping_pong.hpp) runs this same code on the stock systems.

#ifndef KYOTO_BENCH_WORKLOADS_CORO_PING_PONG_HPP
#define KYOTO_BENCH_WORKLOADS_CORO_PING_PONG_HPP

#include "../workload.hpp"
#include "coro_support.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

namespace kyoto_bench {

struct coro_ping_pong {
  static constexpr std::string_view name = "coro_ping_pong";
  static constexpr std::string_view summary =
      "1,000 Asio coroutine pairs each exchange one ping and one pong over asio channels";
  static constexpr int pairs = 1'000;

  // concurrent_channel: the two sides may run on different threads at once (a plain channel is
  // not thread-safe without a strand).
  using channel =
      boost::asio::experimental::concurrent_channel<void(boost::system::error_code, int)>;

  /// The two channels of a pair, shared by both sides.
  struct pair_channels {
    explicit pair_channels(const boost::asio::any_io_executor& ex) : ping(ex, 1), pong(ex, 1) {}
    // A to B.
    channel ping;
    // B to A.
    channel pong;
  };

  static boost::asio::awaitable<void> side_b(std::shared_ptr<pair_channels> ch) {
    const int ping = co_await ch->ping.async_receive(boost::asio::use_awaitable);
    check(ping == 1, [&] { return "coro_ping_pong: side B got ping " + std::to_string(ping); });
    co_await ch->pong.async_send(boost::system::error_code(), ping + 1, boost::asio::use_awaitable);
  }

  static boost::asio::awaitable<void> side_a(countdown* done, std::atomic<int>* pongs) {
    auto ex = co_await boost::asio::this_coro::executor;
    auto ch = std::make_shared<pair_channels>(ex);
    boost::asio::co_spawn(ex, side_b(ch), fail_on_exception{});
    co_await ch->ping.async_send(boost::system::error_code(), 1, boost::asio::use_awaitable);
    const int pong = co_await ch->pong.async_receive(boost::asio::use_awaitable);
    check(pong == 2, [&] { return "coro_ping_pong: side A got pong " + std::to_string(pong); });
    pongs->fetch_add(1, std::memory_order_relaxed);
    done->count_down(); // The last access to the workload's state.
  }

  static boost::asio::awaitable<void> root(countdown* done, std::atomic<int>* pongs,
                                           stopwatch* watch) {
    watch->restart();
    auto ex = co_await boost::asio::this_coro::executor;
    for (int i = 0; i < pairs; ++i)
      boost::asio::co_spawn(ex, side_a(done, pongs), fail_on_exception{});
  }

  /// The Asio-coroutine ping-pong on any executor; also task_ping_pong on stock systems.
  template <typename Executor>
  static sample run_on(const Executor& ex) {
    countdown done(pairs);
    std::atomic<int> pongs{0};
    stopwatch watch;
    boost::asio::co_spawn(ex, root(&done, &pongs, &watch), fail_on_exception{});
    done.wait();
    const auto elapsed = watch.elapsed_until(done);
    // wait() acquired every side A's writes through the countdown.
    check(pongs.load(std::memory_order_relaxed) == pairs, [&] {
      return std::string("ping_pong: ") + std::to_string(pongs.load()) + " pongs instead of " +
             std::to_string(pairs);
    });
    return elapsed;
  }

  template <system S>
  static sample run(S& sys, const environment&) {
    return run_on(sys.executor());
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_CORO_PING_PONG_HPP
