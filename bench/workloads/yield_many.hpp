// bench/workloads/yield_many.hpp
//
// yield_many (Tokio: yield_many): the main thread posts 200 tasks; each re-posts itself to its
// own executor 1,000 times (asio::post of itself: a yield), then counts down. 200,200 handler
// runs in all.

#ifndef KYOTO_BENCH_WORKLOADS_YIELD_MANY_HPP
#define KYOTO_BENCH_WORKLOADS_YIELD_MANY_HPP

#include "../workload.hpp"

#include <boost/asio/post.hpp>

#include <string_view>
#include <utility>

namespace kyoto_bench {

struct yield_many {
  static constexpr std::string_view name = "yield_many";
  static constexpr std::string_view summary = "200 tasks each re-post themselves 1,000 times";
  static constexpr int tasks = 200;
  static constexpr int yields = 1'000;

  template <typename Executor>
  struct task {
    void operator()() {
      if (yields_left == 0) {
        done->count_down();
        return;
      }
      --yields_left;
      boost::asio::post(ex, std::move(*this));
    }

    // Where the task re-posts itself.
    Executor ex;
    // Counted down once the task has yielded `yields` times.
    countdown* done;
    // Re-posts still to do.
    int yields_left = yields;
  };

  template <system S>
  static sample run(S& sys, const environment&) {
    countdown done(tasks);
    stopwatch watch;
    for (int i = 0; i < tasks; ++i) {
      auto ex = sys.executor();
      boost::asio::post(ex, task<decltype(ex)>{ex, &done});
    }
    done.wait();
    return watch.elapsed_until(done);
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_YIELD_MANY_HPP
