// kyoto/detail/worker.hpp
//
// One worker slot of the scheduler. A thread that calls run() (or poll(), run_one() ...) claims
// a free slot for the duration of the call and becomes its owner; the slot's queues outlive the
// thread. Fields marked "owner" are touched only by the owning thread; the local queue's steal
// side, the parker and the published metrics by any thread.

#ifndef KYOTO_DETAIL_WORKER_HPP
#define KYOTO_DETAIL_WORKER_HPP

#include <kyoto/detail/asio_bridge.hpp>
#include <kyoto/detail/local_queue.hpp>
#include <kyoto/detail/operation.hpp>
#include <kyoto/detail/parker.hpp>
#include <kyoto/metrics.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace kyoto::detail {

class runtime_impl;

/// The capacity of a worker's local queue (Tokio's).
inline constexpr std::uint32_t local_queue_capacity = 256;

struct alignas(64) worker {
  explicit worker(std::size_t i) : index(i), rng_state(0x9E3779B97F4A7C15ull * (i + 1)) {}

  /// A cheap per-worker random number (xorshift64), for choosing steal victims.
  std::uint32_t next_random() noexcept {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return static_cast<std::uint32_t>(rng_state >> 32);
  }

  /// Copies the owner's counters to the published snapshot (owner only).
  void publish_metrics() {
    std::lock_guard lock(metrics_mutex);
    published = stats;
  }

  // The slot's position in the runtime's worker array.
  const std::size_t index;
  // Operations scheduled by this worker; stolen from by others.
  local_queue<operation, local_queue_capacity> queue;
  // How this worker sleeps and is woken.
  parker park;

  // owner: the most recent continuation, run before the queue (null when empty).
  operation* lifo = nullptr;
  // owner: operations taken from the LIFO slot in a row (the fairness cap counts these).
  std::uint32_t lifo_streak = 0;
  // owner: operations to look for until the next maintenance (counts down from
  // maintenance_interval).
  std::uint32_t ticks_to_maintenance = 1;
  // owner: operations to look for until the injection queue goes first (counts down from
  // global_check_interval).
  std::uint32_t ticks_to_global_check = 1;
  // owner: the current intervals: the options' event_interval and global_queue_interval, or
  // fewer ticks while handlers are long (runtime_impl::tune_intervals).
  std::uint32_t maintenance_interval = 1;
  std::uint32_t global_check_interval = 1;
  // owner: when the last maintenance ran (clock ticks since the epoch), or 0 when the ticks
  // since then are not all handler time (the worker parked, or the slot was just claimed).
  std::int64_t last_maintenance_at = 0;
  // owner: the estimated time per tick (clock ticks), from which the intervals are tuned.
  std::int64_t mean_tick = 0;
  // owner: whether the worker counts as searching in the idle set.
  bool is_searching = false;
  // owner: whether the worker holds one unit of outstanding work for its local operations.
  bool has_work_token = false;
  // owner: whether the worker is inside Asio's scheduler (poll/wait_one) or completing Asio's
  // private operations right now: functions submitted then are queued, never run inline.
  bool in_asio = false;
  // owner: whether the worker is parked (between announcing it in the idle set and leaving);
  // work it schedules for itself then wakes no one until it has two operations queued, then
  // one peer per reactor wait (see runtime_impl::schedule_local).
  bool parked = false;
  // owner: whether this worker, parked in the reactor, already woke a peer for the completions
  // of the current reactor wait (reset before each wait).
  bool woke_peer_from_reactor = false;
  // owner: while searching, a peer seen taking its own lone operation (runtime_impl::steal_lone):
  // it is running a chain of handlers that post one operation each. The worker keeps watching
  // it instead of parking until the peer stops taking operations. Null when not watching.
  worker* watched = nullptr;
  // owner: the front position of watched's queue at the last look.
  std::uint32_t watched_front = 0;
  // owner: when the current watch began (clock ticks since the epoch).
  std::int64_t watch_started = 0;
  // owner: the frame under which Asio queues this thread's immediate completions (valid while
  // the slot is claimed).
  asio_thread_info* asio_frame = nullptr;
  // owner: xorshift state.
  std::uint64_t rng_state;
  // owner: the counters, published at maintenance points.
  worker_metrics stats;

  // Guards `published` and `claimed`.
  mutable std::mutex metrics_mutex;
  // The last published copy of `stats`.
  worker_metrics published;
};

/// What a worker thread pushes on Asio's thread call stack: Asio's per-thread memory cache
/// (which the recycling allocator uses) plus which slot the thread holds.
struct worker_thread_info : thread_identity::info_base {
  explicit worker_thread_info(worker& w) noexcept : slot(&w) {}
  worker* slot;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_WORKER_HPP
