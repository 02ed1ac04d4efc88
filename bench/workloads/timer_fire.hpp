// bench/workloads/timer_fire.hpp
//
// timer_fire: 100,000 native timers (kyoto::steady_timer on the kyoto system, asio::steady_timer
// on the stock systems; see timer_kyoto_arm_cancel.hpp) are armed from outside with deadlines
// spread evenly over 200 ms, and each records how late its handler ran (now - expiry). The
// result is the p99 lateness; p50, p99 and max are printed to stderr per iteration. Checks that
// no timer fired early.

#ifndef KYOTO_BENCH_WORKLOADS_TIMER_FIRE_HPP
#define KYOTO_BENCH_WORKLOADS_TIMER_FIRE_HPP

#include "../workload.hpp"
#include "timer_kyoto_arm_cancel.hpp"

#include <boost/system/error_code.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string_view>
#include <vector>

namespace kyoto_bench {

/// Arms `count` native timers from the calling thread with deadlines spread evenly over `spread`,
/// starting 20 ms from now, waits for all, checks that none fired early, prints p50/p99/max to
/// stderr under `label` and returns every lateness (now - expiry when the handler ran), sorted.
template <system S>
std::vector<std::chrono::steady_clock::duration>
measure_lateness(S& sys, int count, std::chrono::nanoseconds spread, std::string_view label) {
  using clock = std::chrono::steady_clock;
  auto ex = sys.executor();
  using timer_type = native_steady_timer<decltype(ex)>;
  std::vector<std::unique_ptr<timer_type>> all;
  all.reserve(static_cast<std::size_t>(count));
  std::vector<clock::duration> lateness(static_cast<std::size_t>(count));
  countdown done(count);
  const clock::time_point start = clock::now() + std::chrono::milliseconds(20);
  for (int i = 0; i < count; ++i) {
    all.push_back(std::make_unique<timer_type>(ex));
    timer_type& t = *all.back();
    // In nanoseconds: `spread * i / count` in milliseconds would round every deadline down to a
    // whole millisecond (500 timers sharing each), all at one phase of the clock.
    t.expires_at(start + spread * i / count);
    t.async_wait([&lateness, &done, i, deadline = t.expiry()](boost::system::error_code ec) {
      check(!ec, "timer_fire: a wait failed");
      lateness[static_cast<std::size_t>(i)] = clock::now() - deadline;
      done.count_down();
    });
  }
  done.wait();
  std::sort(lateness.begin(), lateness.end());
  check(lateness.front() >= clock::duration::zero(), "timer_fire: a timer fired early");
  auto us = [](clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
  std::fprintf(stderr, "  %.*s %.*s: lateness p50 %.0f us, p99 %.0f us, max %.0f us\n",
               static_cast<int>(label.size()), label.data(), static_cast<int>(S::name.size()),
               S::name.data(), us(lateness[lateness.size() / 2]),
               us(lateness[lateness.size() * 99 / 100]), us(lateness.back()));
  return lateness;
}

struct timer_fire {
  static constexpr std::string_view name = "timer_fire";
  static constexpr std::string_view summary =
      "p99 lateness of 100,000 timers due over 200 ms (p50/p99/max on stderr)";
  static constexpr int timers = 100'000;
  static constexpr auto spread = std::chrono::milliseconds(200);

  template <system S>
  static sample run(S& sys, const environment&) {
    auto lateness = measure_lateness(sys, timers, spread, name);
    return lateness[lateness.size() * 99 / 100];
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_TIMER_FIRE_HPP
