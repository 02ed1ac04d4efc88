// kyoto/metrics.hpp
//
// A snapshot of a context's scheduler counters. Workers count into plain per-worker fields and
// publish them at maintenance points (every event_interval ticks and when they park), so the
// counters cost nothing on the hot path and a snapshot may lag a running worker by up to one
// maintenance interval. A snapshot taken after run() returned is exact.

#ifndef KYOTO_METRICS_HPP
#define KYOTO_METRICS_HPP

#include <cstdint>
#include <vector>

namespace kyoto {

/// The counters of one worker slot. All are totals since the context was created.
struct worker_metrics {
  /// Operations (handlers, tasks) this worker ran.
  std::uint64_t tasks_polled = 0;
  /// Operations taken from the LIFO slot.
  std::uint64_t lifo_hits = 0;
  /// Successful steal operations, and the operations they moved.
  std::uint64_t steal_operations = 0;
  std::uint64_t tasks_stolen = 0;
  /// Times the local queue overflowed into the injection queue, and the operations moved.
  std::uint64_t overflows = 0;
  std::uint64_t tasks_overflowed = 0;
  /// Batches popped from the injection queue, and the operations they held.
  std::uint64_t injection_pops = 0;
  std::uint64_t tasks_from_injection = 0;
  /// Times the worker parked, and times it was woken by another thread.
  std::uint64_t parks = 0;
  std::uint64_t unparks = 0;
  /// Calls into Asio's reactor: non-blocking polls and blocking waits.
  std::uint64_t reactor_polls = 0;
  std::uint64_t reactor_waits = 0;
  /// Blocking waits in the reactor that woke a peer to run their completions (I/O, timers)
  /// while this worker was still performing the rest of them (two or more completions).
  std::uint64_t reactor_peer_wakes = 0;
  /// Handlers of Asio operations that completed on this worker's own thread (a cancelled wait,
  /// a send that completed at once), run right after the handler that caused them, without
  /// passing through a queue (also counted in tasks_polled).
  std::uint64_t immediate_completions = 0;
  /// Operations in the local queue when the snapshot was taken.
  std::uint64_t local_queue_depth = 0;
};

/// A snapshot of a whole context.
struct runtime_metrics {
  std::vector<worker_metrics> workers;
  /// Operations waiting in the injection queue when the snapshot was taken.
  std::uint64_t injection_queue_depth = 0;
  /// Times a thread outside the workers woke a parked worker or interrupted the reactor.
  std::uint64_t remote_wakeups = 0;

  /// The sum of one counter over all workers, e.g. `m.total(&worker_metrics::tasks_stolen)`.
  std::uint64_t total(std::uint64_t worker_metrics::*field) const noexcept {
    std::uint64_t sum = 0;
    for (const auto& w : workers)
      sum += w.*field;
    return sum;
  }
};

} // namespace kyoto

#endif // KYOTO_METRICS_HPP
