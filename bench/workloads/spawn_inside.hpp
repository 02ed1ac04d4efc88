// bench/workloads/spawn_inside.hpp
//
// spawn_inside (Tokio: spawn_many_local): one handler posts 10,000 empty handlers to its own
// executor; timed from that handler's start until all have run. Measures the cost of posting
// from a worker thread.

#ifndef KYOTO_BENCH_WORKLOADS_SPAWN_INSIDE_HPP
#define KYOTO_BENCH_WORKLOADS_SPAWN_INSIDE_HPP

#include "../workload.hpp"

#include <boost/asio/post.hpp>

#include <string_view>

namespace kyoto_bench {

struct spawn_inside {
  static constexpr std::string_view name = "spawn_inside";
  static constexpr std::string_view summary = "a handler posts 10,000 handlers to its own executor";
  static constexpr int spawns = 10'000;

  template <system S>
  static sample run(S& sys, const environment&) {
    countdown done(spawns);
    stopwatch watch;
    auto ex = sys.executor();
    boost::asio::post(ex, [ex, &done, &watch] {
      watch.restart();
      for (int i = 0; i < spawns; ++i)
        boost::asio::post(ex, [&done] { done.count_down(); });
    });
    done.wait();
    return watch.elapsed_until(done);
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_SPAWN_INSIDE_HPP
