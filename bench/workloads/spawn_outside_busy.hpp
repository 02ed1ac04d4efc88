// bench/workloads/spawn_outside_busy.hpp
//
// spawn_outside_busy (Tokio: spawn_many_remote_busy1): like spawn_outside_idle, but the threads
// are kept busy by 2N background handlers that each spin for 5 us and re-post themselves. The
// background load is started (every busy handler has run once) before the clock starts and is
// stopped and drained after it stops; only the 10,000 posts and their handlers are timed.

#ifndef KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_BUSY_HPP
#define KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_BUSY_HPP

#include "../workload.hpp"
#include "background_load.hpp"

#include <boost/asio/post.hpp>

#include <string_view>

namespace kyoto_bench {

struct spawn_outside_busy {
  static constexpr std::string_view name = "spawn_outside_busy";
  static constexpr std::string_view summary =
      "the main thread posts 10,000 handlers while 2N handlers keep the threads busy";
  static constexpr int spawns = 10'000;

  template <system S>
  static sample run(S& sys, const environment& env) {
    background_load<S> load(sys, env, 5.0);
    countdown done(spawns);
    stopwatch watch;
    for (int i = 0; i < spawns; ++i)
      boost::asio::post(sys.executor(), [&done] { done.count_down(); });
    done.wait();
    return watch.elapsed_until(done);
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_SPAWN_OUTSIDE_BUSY_HPP
