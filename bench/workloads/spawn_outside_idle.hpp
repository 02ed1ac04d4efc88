// bench/workloads/spawn_outside_idle.hpp
//
// spawn_outside_idle (Tokio: spawn_many_remote_idle): the main thread, which is not one of the
// system's threads, posts 10,000 empty handlers to an idle system (all its threads parked);
// done when all have run. Each post goes through executor(), so a pool spreads them.

#ifndef KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_IDLE_HPP
#define KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_IDLE_HPP

#include "../workload.hpp"

#include <boost/asio/post.hpp>

#include <string_view>

namespace kyoto_bench {

struct spawn_outside_idle {
  static constexpr std::string_view name = "spawn_outside_idle";
  static constexpr std::string_view summary =
      "the main thread posts 10,000 handlers to an idle system";
  static constexpr int spawns = 10'000;

  template <system S>
  static sample run(S& sys, const environment&) {
    countdown done(spawns);
    stopwatch watch;
    for (int i = 0; i < spawns; ++i)
      boost::asio::post(sys.executor(), [&done] { done.count_down(); });
    done.wait();
    return watch.elapsed_until(done);
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_IDLE_HPP
