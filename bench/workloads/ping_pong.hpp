// bench/workloads/ping_pong.hpp
//
// ping_pong (Tokio: ping_pong): a root handler starts the clock and posts 1,000 pair handlers to
// its own executor.
// Each pair handler is side A of a pair: it posts a ping to side B; B posts the pong back to A;
// after `rounds` exchanges (default 1, as in Tokio) A counts down. With one round that is three
// handlers per pair (spawn+ping, pong, receive), 3,001 in all, every hop a post to the
// executor the pair runs on. The ball carries a hit count that each side checks.

#ifndef KYOTO_BENCH_WORKLOADS_PING_PONG_HPP
#define KYOTO_BENCH_WORKLOADS_PING_PONG_HPP

#include "../workload.hpp"

#include <boost/asio/post.hpp>

#include <string>
#include <string_view>

namespace kyoto_bench {

struct ping_pong {
  static constexpr std::string_view name = "ping_pong";
  static constexpr std::string_view summary =
      "1,000 pairs each exchange one ping and one pong by posting to each other";
  static constexpr int pairs = 1'000;
  static constexpr int rounds = 1;

  template <typename Executor>
  struct ball {
    // The executor of the pair.
    Executor ex;
    // Counted down by side A after the last pong.
    countdown* done;
    // Hits so far: A hits on even counts, B on odd ones.
    int hits = 0;
  };

  template <typename Executor>
  struct side_b;

  template <typename Executor>
  struct side_a {
    void operator()() {
      check(b.hits % 2 == 0, "ping_pong: side A got the ball out of turn");
      if (b.hits == 2 * rounds) {
        b.done->count_down();
        return;
      }
      ++b.hits;
      boost::asio::post(b.ex, side_b<Executor>{b});
    }
    // The ball in play.
    ball<Executor> b;
  };

  template <typename Executor>
  struct side_b {
    void operator()() {
      check(b.hits % 2 == 1, "ping_pong: side B got the ball out of turn");
      ++b.hits;
      boost::asio::post(b.ex, side_a<Executor>{b});
    }
    // The ball in play.
    ball<Executor> b;
  };

  template <system S>
  static sample run(S& sys, const environment&) {
    countdown done(pairs);
    stopwatch watch;
    auto ex = sys.executor();
    using executor_t = decltype(ex);
    boost::asio::post(ex, [ex, &done, &watch] {
      watch.restart();
      for (int i = 0; i < pairs; ++i)
        boost::asio::post(ex, side_a<executor_t>{{ex, &done}});
    });
    done.wait();
    return watch.elapsed_until(done);
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_PING_PONG_HPP
