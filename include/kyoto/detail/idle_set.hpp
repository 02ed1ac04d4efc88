// kyoto/detail/idle_set.hpp
//
// Which workers are parked and how many are searching for work (Tokio's idle.rs protocol).
//
// One atomic word packs two counts: bits 0-15 hold the number of workers searching (stealing),
// the bits above hold the number of workers not parked. A list of parked worker indices, under a
// mutex, says whom to wake. The rules that keep wake-ups cheap and never lost:
// - A producer that made work available (pushed to the injection queue or to a local queue that
//   can be stolen from) wakes one parked worker only if no worker is searching: a searcher will
//   find the work. The woken worker starts out searching.
// - At most half the workers search at once (stealing is pointless beyond that).
// - The last searcher to stop searching, by finding work or by parking, re-checks for work and
//   wakes another worker if there is any (transition_from_searching / transition_to_parked
//   return true for it).
// Lost wake-up argument (the store-buffering pattern): a producer pushes, issues a seq_cst fence
// and reads the state word; a parking worker updates the state word, issues a seq_cst fence and
// then, as the last searcher, reads the queues. One of the two fences comes first in the single
// total order of seq_cst operations, so either the producer sees the worker parked (and wakes
// it) or the worker sees the work. The producer's side is a fence and a plain load, not a
// read-modify-write (Tokio's fetch_add(0)): every spawn runs it, and a load leaves the cache line
// shared between the workers instead of pulling it over exclusively each time.
//
// Thread safety: every member may be called from any thread.

#ifndef KYOTO_DETAIL_IDLE_SET_HPP
#define KYOTO_DETAIL_IDLE_SET_HPP

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

namespace kyoto::detail {

class idle_set {
 public:
  /// No worker: worker_to_notify's default exception.
  static constexpr std::size_t no_worker = ~std::size_t{0};

  explicit idle_set(std::size_t num_workers)
      : state_(num_workers << unparked_shift), num_workers_(num_workers) {
    sleepers_.reserve(num_workers);
  }

  /// The worker to wake after making work available, or nullopt when none needs waking (a
  /// worker is searching already, or none is parked). The returned worker counts as unparked
  /// and searching from now on. `except`: a parked worker that must not be chosen (a worker
  /// parked in the reactor that wants a peer: it is still on the sleeper list).
  std::optional<std::size_t> worker_to_notify(std::size_t except = no_worker) {
    if (!notify_should_wake())
      return std::nullopt;
    std::lock_guard lock(mutex_);
    if (!notify_should_wake())
      return std::nullopt;
    // The most recent sleeper other than `except` (which is on the list at most once).
    std::size_t pos = sleepers_.size();
    if (pos > 0 && sleepers_[pos - 1] == except)
      --pos;
    if (pos == 0)
      return std::nullopt;
    --pos;
    state_.fetch_add(1 | (std::size_t{1} << unparked_shift), std::memory_order_seq_cst);
    const std::size_t index = sleepers_[pos];
    sleepers_.erase(sleepers_.begin() + static_cast<std::ptrdiff_t>(pos));
    return index;
  }

  /// Records that `worker` is about to park. Returns true when it was the last searcher, in
  /// which case the caller must re-check the queues for work (and wake someone if there is any).
  bool transition_to_parked(std::size_t worker, bool is_searching) {
    std::lock_guard lock(mutex_);
    std::size_t dec = (std::size_t{1} << unparked_shift) + (is_searching ? 1 : 0);
    std::size_t prev = state_.fetch_sub(dec, std::memory_order_seq_cst);
    // Pairs with the producer's fence in notify_should_wake (the lost wake-up argument above):
    // the caller reads the queues next.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    assert(num_unparked(prev) > 0);
    sleepers_.push_back(worker);
    return is_searching && num_searching(prev) == 1;
  }

  /// Tries to become a searcher; false when half the workers already search.
  bool transition_to_searching() {
    std::size_t state = state_.load(std::memory_order_seq_cst);
    if (2 * num_searching(state) >= num_workers_)
      return false;
    state_.fetch_add(1, std::memory_order_seq_cst);
    return true;
  }

  /// A searcher stops searching. Returns true when it was the last one: the caller then wakes
  /// another worker, because it may have left work behind (Tokio's
  /// transition_worker_from_searching).
  bool transition_from_searching() {
    std::size_t prev = state_.fetch_sub(1, std::memory_order_seq_cst);
    assert(num_searching(prev) > 0);
    return num_searching(prev) == 1;
  }

  /// Removes `worker` from the parked list if it is there (it woke up for a reason of its own,
  /// or is leaving). Returns true if it was parked.
  bool unpark_by_id(std::size_t worker) {
    std::lock_guard lock(mutex_);
    auto it = std::find(sleepers_.begin(), sleepers_.end(), worker);
    if (it == sleepers_.end())
      return false;
    *it = sleepers_.back();
    sleepers_.pop_back();
    state_.fetch_add(std::size_t{1} << unparked_shift, std::memory_order_seq_cst);
    return true;
  }

  /// True while `worker` is on the parked list (nobody has chosen to wake it).
  bool is_parked(std::size_t worker) const {
    std::lock_guard lock(mutex_);
    return std::find(sleepers_.begin(), sleepers_.end(), worker) != sleepers_.end();
  }

  std::size_t num_searching() const noexcept { return num_searching(state_.load()); }
  std::size_t num_unparked() const noexcept { return num_unparked(state_.load()); }

 private:
  static constexpr unsigned unparked_shift = 16;
  static constexpr std::size_t search_mask = (std::size_t{1} << unparked_shift) - 1;

  static std::size_t num_searching(std::size_t state) noexcept { return state & search_mask; }
  static std::size_t num_unparked(std::size_t state) noexcept { return state >> unparked_shift; }

  bool notify_should_wake() const noexcept {
    // The fence orders the producer's push before this read (pairs with the fence in
    // transition_to_parked; see the lost wake-up argument above).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::size_t state = state_.load(std::memory_order_relaxed);
    return num_searching(state) == 0 && num_unparked(state) < num_workers_;
  }

  // The packed counts: searching workers (low 16 bits) and unparked workers (the rest).
  mutable std::atomic<std::size_t> state_;
  // The number of worker slots.
  const std::size_t num_workers_;
  // Guards sleepers_.
  mutable std::mutex mutex_;
  // Indices of the parked workers, most recently parked last.
  std::vector<std::size_t> sleepers_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_IDLE_SET_HPP
