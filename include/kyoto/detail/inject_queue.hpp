// kyoto/detail/inject_queue.hpp
//
// The injection queue: where operations scheduled from outside the workers, and the overflow of
// full local queues, wait for a worker. A mutex-protected FIFO with an atomic length, so that
// workers can see it is empty without taking the lock. Workers pop in batches (Tokio 1.29+:
// len / workers + 1), which keeps the lock off the hot path.
//
// Storage. The queue holds pointers in fixed-size segments (arrays chained oldest to newest),
// not a list linked through the operations: popping a batch then reads one array instead of
// chasing operation::next_ through a hundred operations that are no longer in the cache (an
// overflowed operation waits behind a full local queue). On ping_pong, where most operations
// pass through here, the linked list cost one extra L1 miss per operation (cachegrind). A few
// emptied segments are kept for reuse, so a steady flow allocates nothing. If a segment cannot be
// allocated, operations are linked through next_ on a fallback list instead; while it is not
// empty every push goes there, and pops take the segments (older) first, so the order stays
// FIFO and nothing is lost.
//
// Thread safety: every member may be called from any thread.

#ifndef KYOTO_DETAIL_INJECT_QUEUE_HPP
#define KYOTO_DETAIL_INJECT_QUEUE_HPP

#include <kyoto/detail/operation.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <span>
#include <utility>

namespace kyoto::detail {

/// Allocates the injection queue's segments with the global operator new (a program that
/// replaces operator new and delete gets its own pair; the nothrow form would not be paired with
/// a replaced delete under AddressSanitizer). Null when out of memory. Tests substitute one that
/// fails.
struct inject_segment_allocator {
  void* allocate(std::size_t size) noexcept {
    try {
      return ::operator new(size);
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
  }
  void deallocate(void* p) noexcept { ::operator delete(p); }
};

template <typename SegmentAllocator = inject_segment_allocator>
class basic_inject_queue {
 public:
  /// Operations per segment: a segment is just under 1 KiB, small enough for glibc's small bins
  /// (a larger request first consolidates every freed small chunk, which showed in profiles).
  static constexpr std::size_t segment_capacity = 120;
  /// Emptied segments kept for reuse: a queue that swings by a few thousand operations (a full
  /// local queue overflowing, then drained) does not go back to malloc.
  static constexpr std::size_t max_spare_segments = 8;

  basic_inject_queue() = default;
  explicit basic_inject_queue(SegmentAllocator allocator) : allocator_(allocator) {}
  basic_inject_queue(const basic_inject_queue&) = delete;
  basic_inject_queue& operator=(const basic_inject_queue&) = delete;

  /// Frees the segments; the queue must be empty (the runtime drains it at shutdown).
  ~basic_inject_queue() {
    while (first_)
      release(std::exchange(first_, first_->next));
    while (spare_)
      release(std::exchange(spare_, spare_->next));
  }

  void push(operation* op) noexcept {
    std::lock_guard lock(mutex_);
    append(op);
    publish_length(length_ + 1);
  }

  void push_batch(std::span<operation* const> ops) noexcept {
    if (ops.empty())
      return;
    std::lock_guard lock(mutex_);
    for (operation* op : ops)
      append(op);
    publish_length(length_ + ops.size());
  }

  /// Pops up to `max` operations, oldest first, calling sink(operation*) for each under the
  /// lock. Returns how many were popped.
  template <typename Sink>
  std::size_t pop_batch(std::size_t max, Sink&& sink) noexcept {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    while (n < max && first_) {
      segment& s = *first_;
      const std::size_t take = std::min<std::size_t>(max - n, s.tail - s.head);
      for (std::size_t i = 0; i < take; ++i)
        sink(s.slots[s.head + i]);
      s.head += static_cast<std::uint32_t>(take);
      n += take;
      if (s.head < s.tail)
        break; // max reached
      // Emptied: drop it, or keep it for reuse if it is the only one.
      if (s.next) {
        first_ = s.next;
        recycle(&s);
      } else {
        s.head = s.tail = 0;
        break;
      }
    }
    // The fallback list holds the newest operations: only once the segments are empty.
    while (n < max && fallback_head_ && (!first_ || first_->head == first_->tail)) {
      operation* op = fallback_head_;
      fallback_head_ = op->next_;
      op->next_ = nullptr;
      sink(op);
      ++n;
    }
    if (!fallback_head_)
      fallback_tail_ = nullptr;
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

  /// How many operations wait on the fallback list (tests).
  std::size_t fallback_length() const noexcept {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (operation* op = fallback_head_; op; op = op->next_)
      ++n;
    return n;
  }

 private:
  struct segment {
    // The next (newer) segment, or null.
    segment* next = nullptr;
    // The oldest queued slot and one past the newest.
    std::uint32_t head = 0;
    std::uint32_t tail = 0;
    operation* slots[segment_capacity];
  };
  static_assert(sizeof(segment) <= 1000);

  // Appends `op` (caller holds the lock).
  void append(operation* op) noexcept {
    if (!fallback_head_) {
      if (last_ && last_->tail < segment_capacity) {
        last_->slots[last_->tail++] = op;
        return;
      }
      if (segment* s = new_segment()) {
        (last_ ? last_->next : first_) = s;
        last_ = s;
        s->slots[s->tail++] = op;
        return;
      }
    }
    // No room and no memory (or older operations wait there already): the fallback list.
    op->next_ = nullptr;
    (fallback_tail_ ? fallback_tail_->next_ : fallback_head_) = op;
    fallback_tail_ = op;
  }

  segment* new_segment() noexcept {
    if (segment* s = spare_) {
      spare_ = s->next;
      --spare_count_;
      s->next = nullptr;
      return s;
    }
    void* p = allocator_.allocate(sizeof(segment));
    return p ? new (p) segment : nullptr;
  }

  // Keeps an emptied segment (never the newest) for reuse, or frees it.
  void recycle(segment* s) noexcept {
    if (spare_count_ < max_spare_segments) {
      s->next = spare_;
      s->head = s->tail = 0;
      spare_ = s;
      ++spare_count_;
    } else {
      release(s);
    }
  }

  void release(segment* s) noexcept {
    s->~segment();
    allocator_.deallocate(s);
  }

  void publish_length(std::size_t n) noexcept {
    length_ = n;
    published_length_.store(n, std::memory_order_seq_cst);
  }

  // Guards everything below except published_length_.
  mutable std::mutex mutex_;
  SegmentAllocator allocator_;
  // The oldest and newest segments; only the newest may have free slots at its tail.
  segment* first_ = nullptr;
  segment* last_ = nullptr;
  // Emptied segments kept for reuse, linked through next, and how many.
  segment* spare_ = nullptr;
  std::size_t spare_count_ = 0;
  // Operations queued when no segment could be allocated, oldest first (newer than every
  // operation in the segments).
  operation* fallback_head_ = nullptr;
  operation* fallback_tail_ = nullptr;
  // The number of queued operations (under the lock).
  std::size_t length_ = 0;
  // A copy of length_ readable without the lock.
  std::atomic<std::size_t> published_length_{0};
};

using inject_queue = basic_inject_queue<>;

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_INJECT_QUEUE_HPP
