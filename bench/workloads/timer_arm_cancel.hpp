// bench/workloads/timer_arm_cancel.hpp
//
// timer_arm_cancel_<K>: inside one handler, K asio::steady_timers (already constructed) are each
// armed (expires_after 1 h + async_wait) and then all cancelled; the result is the time per
// arm+cancel pair, measured in that handler. Untimed afterwards: all K waits must complete with
// operation_aborted. Shows how the timer queue scales with the number of armed timers.

#ifndef KYOTO_BENCH_WORKLOADS_TIMER_ARM_CANCEL_HPP
#define KYOTO_BENCH_WORKLOADS_TIMER_ARM_CANCEL_HPP

#include "../workload.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <string_view>
#include <vector>

namespace kyoto_bench {

/// Inside one handler on `ex`, arms `count` timers of type Timer (expires_after 1 h +
/// async_wait), then cancels them all; returns the time per arm+cancel pair, after checking that
/// every wait completed with operation_aborted.
template <typename Timer, typename Executor>
sample measure_arm_cancel(Executor ex, int count) {
  std::vector<Timer> timers;
  timers.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i)
    timers.emplace_back(ex);

  countdown done(count);
  // Waits that completed with anything but operation_aborted.
  std::atomic<int> wrong{0};
  sample per_op{};
  countdown measured(1);
  boost::asio::post(ex, [&] {
    stopwatch watch;
    for (auto& t : timers) {
      t.expires_after(std::chrono::hours(1));
      t.async_wait([&done, &wrong](const boost::system::error_code& ec) {
        if (ec != boost::asio::error::operation_aborted)
          wrong.fetch_add(1, std::memory_order_relaxed);
        done.count_down();
      });
    }
    for (auto& t : timers)
      t.cancel();
    per_op = watch.elapsed() / count;
    measured.count_down();
  });
  measured.wait();
  done.wait();
  check(wrong.load(std::memory_order_relaxed) == 0,
        "a cancelled timer's wait completed without operation_aborted");
  return per_op;
}

template <int Timers>
struct timer_arm_cancel {
  static constexpr std::string_view name = Timers == 1'000     ? "timer_arm_cancel_1k"
                                           : Timers == 100'000 ? "timer_arm_cancel_100k"
                                                               : "timer_arm_cancel_1m";
  static constexpr std::string_view summary =
      "time per arm+cancel of one asio::steady_timer among K armed ones (per operation)";
  // Building a million timers per iteration and system takes seconds: only when asked for.
  static constexpr bool in_default_run = Timers < 1'000'000;

  template <system S>
  static sample run(S& sys, const environment&) {
    return measure_arm_cancel<boost::asio::steady_timer>(sys.executor(), Timers);
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_TIMER_ARM_CANCEL_HPP
