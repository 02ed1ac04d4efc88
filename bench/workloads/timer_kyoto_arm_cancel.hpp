// bench/workloads/timer_kyoto_arm_cancel.hpp
//
// timer_kyoto_arm_cancel_<K>: timer_arm_cancel_<K> (see timer_arm_cancel.hpp) with each
// system's native timer: kyoto::steady_timer (the per-worker wheels) on the kyoto system,
// asio::steady_timer on the stock systems. Inside one handler, K constructed timers are each
// armed (expires_after 1 h + async_wait) and then all cancelled; the result is the time per
// arm+cancel pair. Compare with timer_arm_cancel_<K>, which runs asio::steady_timer on every
// system, kyoto included: the two rows on the kyoto system are kyoto's wheel against Asio's
// timer queue on the same context.

#ifndef KYOTO_BENCH_WORKLOADS_TIMER_KYOTO_ARM_CANCEL_HPP
#define KYOTO_BENCH_WORKLOADS_TIMER_KYOTO_ARM_CANCEL_HPP

#include "../workload.hpp"
#include "timer_arm_cancel.hpp"

#include <kyoto/steady_timer.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <string_view>
#include <type_traits>
#include <vector>

namespace kyoto_bench {

/// kyoto::steady_timer where the executor belongs to a kyoto::context, else asio::steady_timer.
template <typename Executor>
using native_steady_timer = std::conditional_t<
    std::is_same_v<Executor, kyoto::context::executor_type>,
    kyoto::basic_waitable_timer<std::chrono::steady_clock,
                                boost::asio::wait_traits<std::chrono::steady_clock>, Executor>,
    boost::asio::basic_waitable_timer<
        std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>>;

template <int Timers>
struct timer_kyoto_arm_cancel {
  static constexpr std::string_view name = Timers == 1'000     ? "timer_kyoto_arm_cancel_1k"
                                           : Timers == 100'000 ? "timer_kyoto_arm_cancel_100k"
                                                               : "timer_kyoto_arm_cancel_1m";
  static constexpr std::string_view summary =
      "time per arm+cancel of one native timer (kyoto::steady_timer on kyoto) among K armed";
  static constexpr bool in_default_run = Timers < 1'000'000;

  template <system S>
  static sample run(S& sys, const environment&) {
    auto ex = sys.executor();
    return measure_arm_cancel<native_steady_timer<decltype(ex)>>(ex, Timers);
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_TIMER_KYOTO_ARM_CANCEL_HPP
