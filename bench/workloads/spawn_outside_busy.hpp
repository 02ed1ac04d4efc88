// bench/workloads/spawn_outside_busy.hpp
//
// spawn_outside_busy (Tokio: spawn_many_remote_busy1): like spawn_outside_idle, but the threads
// are kept busy by 2N background handlers that each spin for 5 us and re-post themselves. The
// background load is started (every busy handler has run once) before the clock starts and is
// stopped and drained after it stops; only the 10,000 posts and their handlers are timed.

#ifndef KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_BUSY_HPP
#define KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_BUSY_HPP

#include "../workload.hpp"

#include <boost/asio/post.hpp>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace kyoto_bench {

struct spawn_outside_busy {
  static constexpr std::string_view name = "spawn_outside_busy";
  static constexpr std::string_view summary =
      "the main thread posts 10,000 handlers while 2N handlers keep the threads busy";
  static constexpr int spawns = 10'000;

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
      sink ^= spin_for_us(*env, 5.0, sink | 1);
      boost::asio::post(ex, std::move(*this));
    }

    struct state {
      countdown running;
      countdown stopped;
      std::atomic<bool> stop{false};
    };

    // Where the handler re-posts itself.
    Executor ex;
    // Shared with the main thread.
    state* shared;
    // The calibration.
    const environment* env;
    // Whether this handler has counted itself as running.
    bool started = false;
    // Keeps spin() from being optimised away.
    std::uint64_t sink = 0;
  };

  template <system S>
  static sample run(S& sys, const environment& env) {
    using busy_t = busy<decltype(sys.executor())>;
    const int busy_count = 2 * env.threads;
    typename busy_t::state shared{countdown(busy_count), countdown(busy_count)};
    for (int i = 0; i < busy_count; ++i) {
      auto ex = sys.executor();
      boost::asio::post(ex, busy_t{ex, &shared, &env});
    }
    shared.running.wait();

    countdown done(spawns);
    stopwatch watch;
    for (int i = 0; i < spawns; ++i)
      boost::asio::post(sys.executor(), [&done] { done.count_down(); });
    done.wait();
    const auto elapsed = watch.elapsed_until(done);

    shared.stop.store(true, std::memory_order_relaxed);
    shared.stopped.wait();
    return elapsed;
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_BUSY_HPP
