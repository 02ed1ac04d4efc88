// bench/workloads/task_yield_many.hpp
//
// task_yield_many: Tokio's yield_many in each system's native task model. On kyoto the main
// thread kyoto::spawn()s 200 tasks (join handles dropped); each awaits kyoto::yield_now() 1,000
// times (a yield puts the task at the back of the run queue), adds its yield count to a total
// and counts down. On the stock systems it is coro_yield_many (Asio coroutines doing
// `co_await asio::post(use_awaitable)`, coro_yield_many.hpp). The run fails unless the total is
// 200,000.

#ifndef KYOTO_BENCH_WORKLOADS_TASK_YIELD_MANY_HPP
#define KYOTO_BENCH_WORKLOADS_TASK_YIELD_MANY_HPP

#include "../workload.hpp"
#include "coro_yield_many.hpp"

#include <kyoto/context.hpp>
#include <kyoto/future.hpp>
#include <kyoto/task.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace kyoto_bench {

struct task_yield_many {
  static constexpr std::string_view name = "task_yield_many";
  static constexpr std::string_view summary =
      "200 tasks x 1,000 yields: kyoto tasks + yield_now() on kyoto, else coro_yield_many";
  static constexpr int tasks = coro_yield_many::tasks;
  static constexpr int yields = coro_yield_many::yields;

  /// A task that awaits yield_now() `yields` times.
  struct yielder {
    kyoto::poll<void> poll(kyoto::task_context& cx) {
      for (;;) {
        if (yielded == yields) {
          total->fetch_add(yielded, std::memory_order_relaxed);
          done->count_down(); // The last access to the workload's state.
          return kyoto::ready;
        }
        if (current.poll(cx).is_pending())
          return kyoto::pending;
        ++yielded;
        current = kyoto::yield_now();
      }
    }

    // Counted down after the last yield.
    countdown* done;
    // Yields done by all tasks.
    std::atomic<std::int64_t>* total;
    // Yields done by this task.
    std::int64_t yielded = 0;
    // The yield in progress.
    kyoto::yield_now_future current = kyoto::yield_now();
  };

  template <system S>
  static sample run(S& sys, const environment& env) {
    if constexpr (!std::is_same_v<decltype(sys.executor()), kyoto::context::executor_type>) {
      return coro_yield_many::run(sys, env);
    } else {
      countdown done(tasks);
      std::atomic<std::int64_t> total{0};
      stopwatch watch;
      for (int i = 0; i < tasks; ++i)
        kyoto::spawn(sys.executor(), yielder{&done, &total});
      done.wait();
      const auto elapsed = watch.elapsed_until(done);
      // wait() acquired every task's writes through the countdown.
      const auto ran = total.load(std::memory_order_relaxed);
      check(ran == std::int64_t{tasks} * yields, [&] {
        return std::string("task_yield_many: ") + std::to_string(ran) + " yields instead of " +
               std::to_string(std::int64_t{tasks} * yields);
      });
      return elapsed;
    }
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_TASK_YIELD_MANY_HPP
