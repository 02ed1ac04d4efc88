// bench/workloads/background_load.hpp
//
// background_load: 2N handlers that each spin for a fixed time and re-post themselves, keeping
// every thread of a system busy while a workload measures something else (spawn_outside_busy,
// timer_fire_busy). The constructor returns once every handler has run once; the destructor
// stops them and waits until each has returned for good.

#ifndef KYOTO_BENCH_WORKLOADS_BACKGROUND_LOAD_HPP
#define KYOTO_BENCH_WORKLOADS_BACKGROUND_LOAD_HPP

#include "../workload.hpp"

#include <boost/asio/post.hpp>

#include <atomic>
#include <cstdint>

namespace kyoto_bench {

template <system S>
class background_load {
 public:
  /// Starts 2N handlers (N: the system's threads) of `spin_us` microseconds each on `sys`.
  background_load(S& sys, const environment& env, double spin_us)
      : shared_{countdown(2 * env.threads), countdown(2 * env.threads), {}} {
    for (int i = 0; i < 2 * env.threads; ++i) {
      auto ex = sys.executor();
      boost::asio::post(ex, busy<decltype(ex)>{ex, &shared_, &env, spin_us});
    }
    shared_.running.wait();
  }

  background_load(const background_load&) = delete;
  background_load& operator=(const background_load&) = delete;

  ~background_load() {
    shared_.stop.store(true, std::memory_order_relaxed);
    shared_.stopped.wait();
  }

 private:
  struct state {
    countdown running;
    countdown stopped;
    std::atomic<bool> stop;
  };

  template <typename Executor>
  struct busy {
    void operator()() {
      if (!started) {
        started = true;
        shared->running.count_down();
      }
      if (shared->stop.load(std::memory_order_relaxed)) {
        shared->stopped.count_down();
        return;
      }
      sink ^= spin_for_us(*env, spin_us, sink | 1);
      boost::asio::post(ex, std::move(*this));
    }

    // Where the handler re-posts itself.
    Executor ex;
    // Shared with the main thread.
    state* shared;
    // The calibration.
    const environment* env;
    // How long each run spins.
    double spin_us;
    // Whether this handler has counted itself as running.
    bool started = false;
    // Keeps spin() from being optimised away.
    std::uint64_t sink = 0;
  };

  state shared_;
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_BACKGROUND_LOAD_HPP
