// kyoto/context_options.hpp
//
// Tuning knobs of kyoto::context. The defaults are Tokio's; tests shrink them to reach edge
// cases quickly.

#ifndef KYOTO_CONTEXT_OPTIONS_HPP
#define KYOTO_CONTEXT_OPTIONS_HPP

#include <chrono>
#include <cstdint>

namespace kyoto {

struct context_options {
  /// Run the most recently scheduled continuation of a worker next (Tokio's LIFO slot). Turn it
  /// off to keep every worker's queue strictly FIFO.
  bool lifo_slot = true;

  /// How many operations in a row may come from the LIFO slot before it yields to the queue.
  std::uint32_t lifo_cap = 3;

  /// A worker checks the injection queue first at least every this many ticks, even with local
  /// work (sooner with long handlers: see busy_check_period). At least 1.
  std::uint32_t global_queue_interval = 61;

  /// A busy worker does its maintenance (publishes metrics, fires due timers, and polls the
  /// reactor without blocking) at least every this many ticks (sooner with long handlers: see
  /// busy_check_period). At least 1.
  std::uint32_t event_interval = 61;

  /// With long handlers, a busy worker still checks the injection queue and does its maintenance
  /// about once per this much handler time: at each maintenance it measures the mean time per
  /// tick since the previous one, and both intervals become this period divided by that mean,
  /// between 1 and their maximum above (Tokio 1.27+ tunes its global queue interval the same way,
  /// to 200 us). With 5 us handlers and the defaults: every 10 ticks instead of 61, so work
  /// posted from outside, due timers and ready sockets wait about 50 us, not 300 us. Zero: fixed
  /// intervals (Tokio 1.24). Not negative.
  std::chrono::microseconds busy_check_period = std::chrono::microseconds(50);

  /// The maintenance poll of the reactor is skipped when any worker looked at the reactor less
  /// than this long ago. Polling costs a system call (epoll_wait); with short handlers, 61 ticks
  /// are a few microseconds. The bound on how long a ready socket waits while every worker is
  /// busy is this interval plus the longest handler. Zero: poll at every maintenance (Tokio).
  std::chrono::microseconds reactor_poll_interval = std::chrono::microseconds(50);

  /// How long a searching worker leaves alone an operation that is the only one in another
  /// worker's queue before it steals it. A handler that posts one operation is usually about to
  /// run it itself, as the next link of a chain or the reply of a ping-pong; taking it moves the
  /// chain, and every later hop of it, to the thief's core (the Go runtime waits 3 us before it
  /// takes a running P's runnext goroutine for the same reason). An owner that has not taken it
  /// by then (its handler blocks or runs long) loses it to the thief, so a post is never stranded
  /// behind a blocked handler. Queues of two or more are stolen from at once. While a peer runs
  /// a chain of such posts, one idle worker keeps watching it instead of parking (spinning one
  /// delay between looks for the first 200 us, then sleeping briefly between them), so that the
  /// chain's posts wake nobody (doc/design.md, "Lone operations"). The waiting worker spins, so
  /// the delay is short: between zero (steal at once, as Tokio does from its queues, and never
  /// watch) and max_lone_steal_delay.
  std::chrono::microseconds lone_steal_delay = std::chrono::microseconds(3);
  static constexpr std::chrono::microseconds max_lone_steal_delay{1000};
  /// The longest a worker blocks in the reactor before it looks around again. Only a safety net:
  /// every wake-up the scheduler needs is delivered explicitly. Positive.
  std::chrono::milliseconds max_park = std::chrono::seconds(60);
};

} // namespace kyoto

#endif // KYOTO_CONTEXT_OPTIONS_HPP
