// bench/workloads/task_ping_pong.hpp
//
// task_ping_pong: Tokio's ping_pong in each system's native task model. On kyoto it is written
// with kyoto tasks, as Tokio's is: the main thread kyoto::spawn()s a root task (a callable), which
// spawns 1,000 "side A" tasks; each side A makes two kyoto::sync::oneshot<int> channels, spawns
// its "side B" task, sends the ping (1) and awaits the pong; side B awaits the ping and sends
// back ping + 1. Side A checks the pong, counts it and counts down. Every join handle is
// dropped (the tasks are detached). On the stock systems it is coro_ping_pong (Asio coroutines
// exchanging over asio::experimental::channel, coro_ping_pong.hpp). The run fails unless
// exactly 1,000 pongs arrived.

#ifndef KYOTO_BENCH_WORKLOADS_TASK_PING_PONG_HPP
#define KYOTO_BENCH_WORKLOADS_TASK_PING_PONG_HPP

#include "../workload.hpp"
#include "coro_ping_pong.hpp"

#include <kyoto/context.hpp>
#include <kyoto/future.hpp>
#include <kyoto/sync/oneshot.hpp>
#include <kyoto/task.hpp>

#include <atomic>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace kyoto_bench {

struct task_ping_pong {
  static constexpr std::string_view name = "task_ping_pong";
  static constexpr std::string_view summary =
      "1,000 pairs exchange a ping and a pong: kyoto tasks + oneshot on kyoto, else coro_ping_pong";
  static constexpr int pairs = coro_ping_pong::pairs;

  /// Side B: awaits the ping, sends ping + 1 back.
  struct side_b {
    kyoto::poll<void> poll(kyoto::task_context& cx) {
      try {
        auto r = ping.poll(cx);
        if (r.is_pending())
          return kyoto::pending;
        check(r.value() == 1,
              [&] { return "task_ping_pong: side B got ping " + std::to_string(r.value()); });
        check(pong.send(r.value() + 1), "task_ping_pong: side A dropped the pong receiver");
        return kyoto::ready;
      } catch (const std::exception& e) {
        fail(std::string("task_ping_pong: side B: ") + e.what());
      }
    }

    // From side A.
    kyoto::sync::oneshot_receiver<int> ping;
    // To side A.
    kyoto::sync::oneshot_sender<int> pong;
  };

  /// Side A: on its first poll spawns side B and sends the ping; then awaits the pong.
  struct side_a {
    kyoto::poll<void> poll(kyoto::task_context& cx) {
      try {
        if (!pong) {
          auto [ping_tx, ping_rx] = kyoto::sync::make_oneshot<int>();
          auto [pong_tx, pong_rx] = kyoto::sync::make_oneshot<int>();
          kyoto::spawn(ex, side_b{std::move(ping_rx), std::move(pong_tx)});
          check(ping_tx.send(1), "task_ping_pong: side B dropped the ping receiver");
          pong.emplace(std::move(pong_rx));
        }
        auto r = pong->poll(cx);
        if (r.is_pending())
          return kyoto::pending;
        check(r.value() == 2,
              [&] { return "task_ping_pong: side A got pong " + std::to_string(r.value()); });
        pongs->fetch_add(1, std::memory_order_relaxed);
        done->count_down(); // The last access to the workload's state.
        return kyoto::ready;
      } catch (const std::exception& e) {
        fail(std::string("task_ping_pong: side A: ") + e.what());
      }
    }

    // Where side B is spawned.
    kyoto::context::executor_type ex;
    // Counted down after the pong.
    countdown* done;
    // Pongs received by all pairs.
    std::atomic<int>* pongs;
    // From side B; empty until the first poll.
    std::optional<kyoto::sync::oneshot_receiver<int>> pong{};
  };

  template <system S>
  static sample run(S& sys, const environment&) {
    auto ex = sys.executor();
    if constexpr (!std::is_same_v<decltype(ex), kyoto::context::executor_type>) {
      return coro_ping_pong::run_on(ex);
    } else {
      countdown done(pairs);
      std::atomic<int> pongs{0};
      stopwatch watch;
      kyoto::spawn(ex, [ex, &done, &pongs, &watch] {
        watch.restart();
        for (int i = 0; i < pairs; ++i)
          kyoto::spawn(ex, side_a{ex, &done, &pongs});
      });
      done.wait();
      const auto elapsed = watch.elapsed_until(done);
      // wait() acquired every side A's writes through the countdown.
      check(pongs.load(std::memory_order_relaxed) == pairs, [&] {
        return std::string("task_ping_pong: ") + std::to_string(pongs.load()) +
               " pongs instead of " + std::to_string(pairs);
      });
      return elapsed;
    }
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_TASK_PING_PONG_HPP
