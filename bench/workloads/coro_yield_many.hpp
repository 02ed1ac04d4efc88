// bench/workloads/coro_yield_many.hpp
//
// coro_yield_many: Tokio's yield_many written with Asio C++20 coroutines, on every system (kyoto
// included). The main thread co_spawns 200 coroutines through executor(); each does
// `co_await asio::post(asio::use_awaitable)` (a yield to its own executor) 1,000 times, adds its
// yield count to a total and counts down. The run fails unless the total is 200,000.
//
// task_yield_many (task_yield_many.hpp) runs this same code on the stock systems.

#ifndef KYOTO_BENCH_WORKLOADS_CORO_YIELD_MANY_HPP
#define KYOTO_BENCH_WORKLOADS_CORO_YIELD_MANY_HPP

#include "../workload.hpp"
#include "coro_support.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace kyoto_bench {

struct coro_yield_many {
  static constexpr std::string_view name = "coro_yield_many";
  static constexpr std::string_view summary =
      "200 Asio coroutines each co_await asio::post(use_awaitable) 1,000 times";
  static constexpr int tasks = 200;
  static constexpr int yields = 1'000;

  static boost::asio::awaitable<void> yielder(countdown* done, std::atomic<std::int64_t>* total) {
    std::int64_t n = 0;
    for (int i = 0; i < yields; ++i) {
      co_await boost::asio::post(boost::asio::use_awaitable);
      ++n;
    }
    total->fetch_add(n, std::memory_order_relaxed);
    done->count_down(); // The last access to the workload's state.
  }

  /// The Asio-coroutine yield_many; also task_yield_many on stock systems.
  template <system S>
  static sample run(S& sys, const environment&) {
    countdown done(tasks);
    std::atomic<std::int64_t> total{0};
    stopwatch watch;
    for (int i = 0; i < tasks; ++i)
      boost::asio::co_spawn(sys.executor(), yielder(&done, &total), fail_on_exception{});
    done.wait();
    const auto elapsed = watch.elapsed_until(done);
    // wait() acquired every coroutine's writes through the countdown.
    const auto ran = total.load(std::memory_order_relaxed);
    check(ran == std::int64_t{tasks} * yields, [&] {
      return std::string("yield_many: ") + std::to_string(ran) + " yields instead of " +
             std::to_string(std::int64_t{tasks} * yields);
    });
    return elapsed;
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_CORO_YIELD_MANY_HPP
