// bench/workloads/chained_spawn.hpp
//
// chained_spawn (Tokio: chained_spawn): the main thread posts a root handler, which starts the
// clock and posts the first link; each link posts the next to its own executor, 1,000 links
// deep. Measures the latency of one post-to-run hop, 1,000 times in sequence (no parallelism
// to exploit).

#ifndef KYOTO_BENCH_WORKLOADS_CHAINED_SPAWN_HPP
#define KYOTO_BENCH_WORKLOADS_CHAINED_SPAWN_HPP

#include "../workload.hpp"

#include <boost/asio/post.hpp>

#include <string_view>

namespace kyoto_bench {

struct chained_spawn {
  static constexpr std::string_view name = "chained_spawn";
  static constexpr std::string_view summary = "a chain of 1,000 handlers, each posting the next";
  static constexpr int links = 1'000;

  template <typename Executor>
  struct link {
    void operator()() const {
      if (left == 0) {
        done->count_down();
        return;
      }
      boost::asio::post(ex, link{ex, done, left - 1});
    }

    // Where the next link goes.
    Executor ex;
    // Counted down by the last link.
    countdown* done;
    // Links still to post.
    int left;
  };

  template <system S>
  static sample run(S& sys, const environment&) {
    countdown done(1);
    stopwatch watch;
    auto ex = sys.executor();
    boost::asio::post(ex, [ex, &done, &watch] {
      watch.restart();
      boost::asio::post(ex, link<decltype(ex)>{ex, &done, links});
    });
    done.wait();
    return watch.elapsed_until(done);
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_CHAINED_SPAWN_HPP
