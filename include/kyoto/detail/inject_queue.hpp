// kyoto/detail/inject_queue.hpp
//
// The injection queue: where operations scheduled from outside the workers, and the overflow of
// full local queues, wait for a worker. A mutex-protected intrusive FIFO of operations (linked
// through operation::next_) with an atomic length, so that workers can see it is empty without
// taking the lock. Workers pop in batches (Tokio 1.29+: len / workers + 1), which keeps the lock
// off the hot path.
//
// Thread safety: every member may be called from any thread.

#ifndef KYOTO_DETAIL_INJECT_QUEUE_HPP
#define KYOTO_DETAIL_INJECT_QUEUE_HPP

#include <kyoto/detail/operation.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <span>

namespace kyoto::detail {

class inject_queue {
 public:
  inject_queue() = default;
  inject_queue(const inject_queue&) = delete;
  inject_queue& operator=(const inject_queue&) = delete;

  void push(operation* op) noexcept {
    op->next_ = nullptr;
    std::lock_guard lock(mutex_);
    link(op);
    publish_length(length_ + 1);
  }

  void push_batch(std::span<operation* const> ops) noexcept {
    if (ops.empty())
      return;
    std::lock_guard lock(mutex_);
    for (operation* op : ops) {
      op->next_ = nullptr;
      link(op);
    }
    publish_length(length_ + ops.size());
  }

  /// Pops up to `max` operations, oldest first, calling sink(operation*) for each under the
  /// lock. Returns how many were popped.
  template <typename Sink>
  std::size_t pop_batch(std::size_t max, Sink&& sink) noexcept {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    while (n < max && head_) {
      operation* op = head_;
      head_ = op->next_;
      op->next_ = nullptr;
      sink(op);
      ++n;
    }
    if (!head_)
      tail_ = nullptr;
    publish_length(length_ - n);
    return n;
  }

  operation* pop() noexcept {
    operation* result = nullptr;
    pop_batch(1, [&](operation* op) { result = op; });
    return result;
  }

  /// The length, without the lock. seq_cst: a worker about to park reads it after announcing
  /// itself parked (idle_set), and a producer pushes before reading the idle state; see the lost
  /// wake-up argument in idle_set.hpp.
  std::size_t size() const noexcept { return published_length_.load(std::memory_order_seq_cst); }
  bool empty() const noexcept { return size() == 0; }

 private:
  void link(operation* op) noexcept {
    if (tail_)
      tail_->next_ = op;
    else
      head_ = op;
    tail_ = op;
  }

  void publish_length(std::size_t n) noexcept {
    length_ = n;
    published_length_.store(n, std::memory_order_seq_cst);
  }

  // Guards head_, tail_ and length_.
  mutable std::mutex mutex_;
  // The oldest and newest queued operations.
  operation* head_ = nullptr;
  operation* tail_ = nullptr;
  // The number of queued operations (under the lock).
  std::size_t length_ = 0;
  // A copy of length_ readable without the lock.
  std::atomic<std::size_t> published_length_{0};
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_INJECT_QUEUE_HPP
