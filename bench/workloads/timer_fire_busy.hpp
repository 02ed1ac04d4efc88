// bench/workloads/timer_fire_busy.hpp
//
// timer_fire_busy: timer_fire (see timer_fire.hpp) while every thread is busy: 2N background
// handlers of 100 us each re-post themselves (background_load.hpp), and 500 native timers armed
// from outside come due over 100 ms. The result is the median lateness: how long a due timer
// waits for a busy system to notice it (p50/p99/max on stderr). On io_context the reactor task
// takes its turn in the one FIFO queue every few handlers; a kyoto worker fires timers at its
// maintenance points, which long handlers make rarer unless the interval adapts.

#ifndef KYOTO_BENCH_WORKLOADS_TIMER_FIRE_BUSY_HPP
#define KYOTO_BENCH_WORKLOADS_TIMER_FIRE_BUSY_HPP

#include "../workload.hpp"
#include "background_load.hpp"
#include "timer_fire.hpp"

#include <chrono>
#include <string_view>

namespace kyoto_bench {

struct timer_fire_busy {
  static constexpr std::string_view name = "timer_fire_busy";
  static constexpr std::string_view summary =
      "median lateness of 500 timers due over 100 ms while 2N handlers of 100 us keep every "
      "thread busy";
  static constexpr int timers = 500;
  static constexpr auto spread = std::chrono::milliseconds(100);

  template <system S>
  static sample run(S& sys, const environment& env) {
    background_load<S> load(sys, env, 100.0);
    auto lateness = measure_lateness(sys, timers, spread, name);
    return lateness[lateness.size() / 2];
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_TIMER_FIRE_BUSY_HPP
