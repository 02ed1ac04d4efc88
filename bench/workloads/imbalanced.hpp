// bench/workloads/imbalanced.hpp
//
// imbalanced_handout / imbalanced_local: one handler spawns 2,000 handlers of ~20 us of CPU each
// (a spin loop calibrated once at start-up), 40 ms of CPU in all; done when all have run. Ideal
// wall time is 40 ms / N.
// - handout: the children go to the system's executor() (for the io_context pool, round-robin
//   over its contexts);
// - local: the children go to the spawner's own executor (for the io_context pool, the
//   spawner's context, whose one thread must run them all; a work-stealing scheduler spreads
//   them anyway).
// For a single shared context (kyoto, io_context, thread_pool) the two variants are the same
// code path.

#ifndef KYOTO_BENCH_WORKLOADS_IMBALANCED_HPP
#define KYOTO_BENCH_WORKLOADS_IMBALANCED_HPP

#include "../workload.hpp"

#include <boost/asio/post.hpp>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace kyoto_bench {

template <bool Local>
struct imbalanced {
  static constexpr std::string_view name = Local ? "imbalanced_local" : "imbalanced_handout";
  static constexpr std::string_view summary =
      Local ? "a handler posts 2,000 x 20 us CPU handlers to its own executor"
            : "a handler posts 2,000 x 20 us CPU handlers to the system's executor()";
  static constexpr int children = 2'000;
  static constexpr double child_us = 20.0;

  template <system S>
  static sample run(S& sys, const environment& env) {
    countdown done(children);
    // Every child adds its spin() result here, so the spinning cannot be optimised away.
    std::atomic<std::uint64_t> sink{0};
    stopwatch watch;
    auto spawner_ex = sys.executor();
    boost::asio::post(spawner_ex, [spawner_ex, &sys, &env, &done, &sink, &watch] {
      watch.restart();
      for (int i = 0; i < children; ++i) {
        auto child = [&env, &done, &sink, i] {
          sink.fetch_add(spin_for_us(env, child_us, static_cast<std::uint64_t>(i) + 1),
                         std::memory_order_relaxed);
          done.count_down();
        };
        if constexpr (Local) {
          (void)sys; // Captured for the handout variant only.
          boost::asio::post(spawner_ex, child);
        } else
          boost::asio::post(sys.executor(), child);
      }
    });
    done.wait();
    const auto elapsed = watch.elapsed_until(done);
    check(sink.load(std::memory_order_relaxed) != 0, "imbalanced: the children did not spin");
    return elapsed;
  }
};

using imbalanced_handout = imbalanced<false>;
using imbalanced_local = imbalanced<true>;

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_IMBALANCED_HPP
