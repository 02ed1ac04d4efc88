// kyoto/detail/local_queue.hpp
//
// A worker's local run queue: a fixed-capacity ring of T* with one producer (the owning worker)
// and many consumers (the owner pops, any thread may steal half).
//
// Design: Tokio's multi-thread run queue (runtime/scheduler/multi_thread/queue.rs, 1.24), a
// bounded single-producer multi-consumer relative of the Chase-Lev deque. The owner pushes at the
// tail and pops at the head (FIFO). A thief takes half of the queue in one go: it claims a range
// of positions with one CAS on the head word, copies the pointers out, then releases the range
// with a second CAS. Unlike Tokio 1.24, a full queue hands its NEWEST half (plus the new task) to
// the overflow, not its oldest half: moving the oldest half lets a spawner bounce one task
// between the local and the injection queue forever (tokio#8029).
//
// Positions and words
//   Positions are 32-bit counters that wrap; a position p lives in slots_[p & (Capacity - 1)].
//   tail_  (32 bits): the position the next push writes. Written by the owner only.
//   head_  (64 bits): packed (steal << 32) | real.
//     real  the first position still in the queue; the queue holds [real, tail).
//     steal the first position a thief is still copying out. steal == real: no steal in progress.
//           steal != real: positions [steal, real) are claimed but not yet copied, and no other
//           thief may start (at most one steal runs at a time per victim).
//   The owner also sets steal != real itself for the few instructions of an overflow (the
//   "overflow marker", steal = real - 1); thieves then back off exactly as from a steal.
//   Indices are 32 bits wide so that a thief that stalls between its load and its CAS would
//   need 2^32 positions to pass before an ABA on the head word could fool it.
//
// Thread-safety contract
//   push_back, push_batch, pop, remaining_slots, steal_from: the owner only (one thread at a
//     time; when the owning thread changes, the hand-over must itself synchronise, e.g.
//     through a mutex).
//     steal_from is called by the owner of the queue that RECEIVES the tasks; the victim may be
//     owned by, and concurrently used by, any other thread.
//   size, empty, front_position: any thread; exact for the owner, a snapshot for anyone else.
//   The queue does not own its tasks: the destructor does not touch them.
//
// Invariants (distances are taken modulo 2^32)
//   (I1) steal <= real <= tail <= steal + Capacity.
//   (I2) The owner writes the slot of position p only for p in [tail, steal' + Capacity), where
//        steal' is read by an acquire load of head_. A thief releases its range with a release
//        RMW on head_ after its last slot read, so its reads happen before the owner reuses a
//        slot. The owner publishes slot writes with a release store of tail_, which thieves
//        read with acquire.
//   (I3) Every write of head_ is a release RMW, and thieves read head_ with acquire. So a thief
//        that reads real == h then reads a tail_ no older than the one the writer of h saw:
//        t >= h (tail never drops below real). The tail may be much NEWER than the head it
//        read (t - h > Capacity is possible when the head has moved on meanwhile), but then
//        head_ is no longer (h, h) and the claim CAS fails. If the CAS succeeds, head_ held
//        (h, h) (or, briefly, the owner's marker) from the thief's load to its CAS, so t was
//        written while steal was h and t <= h + Capacity (I1): the claim is n =
//        ceil((t - h) / 2) <= Capacity/2. Checks of t - h therefore come after the CAS.
//   (I4) tail_ only decreases inside an overflow, while head_ carries the overflow marker, and
//        only down to real + Capacity/2.
//
// Why taking the newest half from the tail is safe against thieves (C = Capacity)
//   The owner finds head_ == (h, h) and tail == T == h + C. It CASes head_ from (h, h) to the
//   marker (h - 1, h), stores tail = h + C/2 (release), reads positions [h + C/2, h + C), then
//   restores head_ to (h, h) (release exchange) and hands the batch to `overflow`. Consider any
//   thief claim [h', h' + n), ordered by where its CAS falls in head_'s modification order:
//   - Before the marker CAS: the marker CAS expects the (h, h) that the owner loaded, so the claim
//     happened before that load and real only grows: the claim ends at or before h. If it fell
//     between the owner's load and its CAS, the CAS fails and the owner starts again.
//   - While the marker is set: impossible. A claim CAS expects steal == real, and nobody but the
//     owner writes head_ until the owner removes the marker.
//   - After the marker is removed, from h' == h: the thief may have read any tail value written
//     while real was h, including T from before the overflow (the restored (h, h) is
//     bit-identical to the old one, so its CAS succeeds). All such values are <= h + C (I1),
//     so n <= C/2 and the claim ends at or before h + C/2: it never reaches the handed-off
//     positions. Positions below h + C/2 are not rewritten while real == h (I4), and their
//     contents were published by whichever release store of tail the thief read.
//   - After the marker is removed, from h' > h: head_ reached h' through RMWs after the
//     owner's release exchange, so by (I3) the thief synchronises with it and reads the
//     overflow's tail store or a later one. Its claim lies in [h', t) for a tail value t of
//     the post-overflow queue, whose slots hold the tasks pushed after the overflow.
//   The marker is what makes the third case hold. Without it (owner: check head, then lower
//   tail) a thief could claim [h, h + C/2) with the old tail T, finish (head = (h + C/2,
//   h + C/2)), and a second thief reading that head and the stale T would claim h + C/2, which
//   the owner has handed to the overflow: a task run twice.
//   If the queue is full while a steal is in progress (steal != real), the thief will free
//   space soon, so only the new task goes to the overflow, as in Tokio.

#ifndef KYOTO_DETAIL_LOCAL_QUEUE_HPP
#define KYOTO_DETAIL_LOCAL_QUEUE_HPP

#include <array>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

namespace kyoto::detail {

// Unit tests' access to the internals (contents, starting positions); defined by the tests.
struct local_queue_test_access;

/// A fixed-capacity single-producer, multi-consumer ring of T* (Tokio's local run queue). See
/// the top of this file for the protocol.
template <typename T, std::uint32_t Capacity = 256>
class local_queue {
 public:
  static_assert(Capacity >= 2 && (Capacity & (Capacity - 1)) == 0,
                "local_queue: Capacity must be a power of two and at least 2");
  static_assert(Capacity <= 4096,
                "local_queue: Capacity must be at most 4096 (the overflow batch is built on the "
                "stack)");
  static_assert(std::is_object_v<T>, "local_queue: T must be an object type (it holds T*)");

  local_queue() noexcept = default;
  local_queue(const local_queue&) = delete;
  local_queue& operator=(const local_queue&) = delete;

  static constexpr std::uint32_t capacity() noexcept { return Capacity; }

  /// Owner only. Pushes `task` at the tail. When the queue is full, moves the newest
  /// Capacity/2 tasks plus `task` (oldest first) to `overflow` in one call,
  /// overflow(std::span<T* const>); when it is full while a steal is in progress, hands just
  /// `task` to it. Returns how many tasks went to `overflow`. `overflow` must not throw (the
  /// tasks would be lost): an exception from it calls std::terminate.
  template <typename Overflow>
  std::uint32_t push_back(T* task, Overflow&& overflow) {
    assert(task != nullptr && "local_queue::push_back: null task");
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed); // owner: our own value
    for (;;) {
      // acquire: synchronises with the release RMW of a thief that finished copying out, so its
      // slot reads happen before we reuse those slots (I2).
      const std::uint64_t head = head_.load(std::memory_order_acquire);
      const std::uint32_t steal = steal_part(head);
      const std::uint32_t real = real_part(head);
      assert(tail - steal <= Capacity && real - steal <= tail - steal);
      if (tail - steal < Capacity) {
        slots_[tail & mask] = task;
        // release: publishes the slot write to thieves, whose acquire load of tail_ pairs with it.
        tail_.store(tail + 1, std::memory_order_release);
        return 0;
      }
      if (steal != real) {
        // Full, and a thief is copying out: it will make room; send just this task away.
        T* const one[1] = {task};
        hand_over(overflow, std::span<T* const>(one));
        return 1;
      }
      if (overflow_newest_half(task, real, tail, overflow))
        return half + 1;
      // A thief claimed tasks between our load and our CAS: there may be room now.
    }
  }

  /// Owner only. Pushes `tasks` at the tail, oldest first, and publishes them with one store.
  /// There must be room for all of them: tasks.size() <= remaining_slots() (thieves only ever
  /// make more room).
  void push_batch(std::span<T* const> tasks) noexcept {
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed); // owner: our own value
    // acquire: as in push_back, orders the slot reads of finished thieves before our writes (I2).
    const std::uint32_t steal = steal_part(head_.load(std::memory_order_acquire));
    const auto n = static_cast<std::uint32_t>(tasks.size());
    assert(n <= Capacity - (tail - steal) && "local_queue::push_batch: not enough room");
    (void)steal;
    for (std::uint32_t i = 0; i < n; ++i) {
      assert(tasks[i] != nullptr && "local_queue::push_batch: null task");
      slots_[(tail + i) & mask] = tasks[i];
    }
    // release: publishes all the slot writes to thieves at once, as push_back does for one.
    tail_.store(tail + n, std::memory_order_release);
  }

  /// Owner only. The number of free slots. Exact unless a thief is stealing right now; thieves
  /// only ever increase it.
  std::uint32_t remaining_slots() const noexcept {
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed); // owner: our own value
    // relaxed: a stale head only under-reports the free space; push_back re-checks with acquire.
    const std::uint32_t steal = steal_part(head_.load(std::memory_order_relaxed));
    assert(tail - steal <= Capacity);
    return Capacity - (tail - steal);
  }

  /// Owner only. Pops the oldest task, or returns nullptr when the queue is empty.
  T* pop() noexcept {
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed); // owner: our own value
    // relaxed: the slot we read was written by this thread; a stale head makes the CAS fail.
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint32_t steal = steal_part(head);
      const std::uint32_t real = real_part(head);
      if (real == tail)
        return nullptr;
      assert(tail - real <= Capacity);
      const std::uint32_t next_real = real + 1;
      // With no steal in progress both halves advance; otherwise the thief's steal index stays.
      const std::uint64_t next =
          steal == real ? pack(next_real, next_real) : pack(steal, next_real);
      assert(steal == real || steal != next_real);
      // release on success: synchronises with thieves' acquire loads of head_, so a thief that
      // sees real == next_real also sees a tail_ >= next_real (I3). Failure: relaxed, we only
      // retry with the value a thief wrote.
      if (head_.compare_exchange_weak(head, next, std::memory_order_release,
                                      std::memory_order_relaxed)) {
        // Start fetching the next task while this one runs: tasks pushed or stolen here were
        // mostly written on another core. The slot is ours to read (only we write it); a task
        // a thief takes meanwhile was only prefetched, which has no effect but on the cache.
        if (next_real != tail)
          __builtin_prefetch(slots_[next_real & mask]);
        return slots_[real & mask];
      }
    }
  }

  /// Owner of *this only. Steals half (rounded up) of `victim`'s tasks into this queue and
  /// returns one of them to run now, or nullptr when nothing was stolen (victim empty, another
  /// steal in progress on victim, fewer than Capacity/2 free slots here, or victim == *this).
  /// Stores how many tasks moved in total (including the returned one) in *stolen if non-null.
  T* steal_from(local_queue& victim, std::uint32_t* stolen = nullptr) noexcept {
    if (stolen)
      *stolen = 0;
    if (&victim == this)
      return nullptr;
    const std::uint32_t dst_tail = tail_.load(std::memory_order_relaxed); // owner: our own value
    // acquire: synchronises with the release RMW of a thief of *this* that finished copying out,
    // so its slot reads happen before we write the stolen tasks into those slots (I2).
    const std::uint32_t dst_steal = steal_part(head_.load(std::memory_order_acquire));
    assert(dst_tail - dst_steal <= Capacity);
    // A claim is at most Capacity/2 tasks; require that much room so the copy never blocks.
    if (dst_tail - dst_steal > half)
      return nullptr;
    std::uint32_t n = victim.steal_into(*this, dst_tail);
    if (n == 0)
      return nullptr;
    if (stolen)
      *stolen = n;
    // The newest stolen task is returned, so it is never exposed to thieves of *this.
    --n;
    T* const task = slots_[(dst_tail + n) & mask];
    if (n != 0) {
      // release: publishes the copied slots to thieves of *this*, whose acquire load of tail_
      // pairs with it.
      tail_.store(dst_tail + n, std::memory_order_release);
    }
    return task;
  }

  /// Any thread. The number of tasks; exact for the owner, a snapshot for other threads.
  std::uint32_t size() const noexcept {
    // acquire (both): as a thief's loads; synchronise with the release RMW that wrote head_ and
    // with the owner's release store of tail_, so that the tail read is no older than the head
    // (I3) and the difference does not wrap below zero.
    const std::uint32_t real = real_part(head_.load(std::memory_order_acquire));
    const std::uint32_t tail = tail_.load(std::memory_order_acquire);
    // From another thread the tail may be newer than the head (I3): clamp the snapshot.
    return tail - real < Capacity ? tail - real : Capacity;
  }

  /// Any thread. Whether size() == 0.
  bool empty() const noexcept { return size() == 0; }

  /// Any thread. The position of the oldest task. It moves on whenever a task leaves the queue
  /// (popped by the owner or stolen), so two equal readings with a non-empty queue in between
  /// mean that the task at the front stayed there all along (positions would have to wrap
  /// around 2^32 for anything else).
  std::uint32_t front_position() const noexcept {
    // relaxed: a snapshot that only decides whether to steal; the steal itself re-reads head_
    // with acquire.
    return real_part(head_.load(std::memory_order_relaxed));
  }

 private:
  friend struct local_queue_test_access;

  static constexpr std::uint32_t mask = Capacity - 1;
  static constexpr std::uint32_t half = Capacity / 2;

  static constexpr std::uint32_t steal_part(std::uint64_t head) noexcept {
    return static_cast<std::uint32_t>(head >> 32);
  }
  static constexpr std::uint32_t real_part(std::uint64_t head) noexcept {
    return static_cast<std::uint32_t>(head);
  }
  static constexpr std::uint64_t pack(std::uint32_t steal, std::uint32_t real) noexcept {
    return (static_cast<std::uint64_t>(steal) << 32) | real;
  }

  // Calls overflow(batch); noexcept so that a throwing callback terminates rather than losing
  // tasks silently.
  template <typename Overflow>
  static void hand_over(Overflow& overflow, std::span<T* const> batch) noexcept {
    overflow(batch);
  }

  // Owner, queue full (tail == real + Capacity) and no steal in progress when head_ was read.
  // Moves the newest half plus `task` to `overflow`; false if a thief got in first.
  template <typename Overflow>
  bool overflow_newest_half(T* task, std::uint32_t real, std::uint32_t tail, Overflow& overflow) {
    assert(tail - real == Capacity);
    std::uint64_t expected = pack(real, real);
    // acquire: as the load in push_back (the slots are reused after this). relaxed on failure:
    // the caller reloads head_ with acquire.
    if (!head_.compare_exchange_strong(expected, pack(real - 1, real), std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return false;
    // The marker is set: no thief can claim until we remove it. See "Why taking the newest half
    // ..." at the top of this file.
    const std::uint32_t new_tail = tail - half;
    std::array<T*, half + 1> batch;
    for (std::uint32_t i = 0; i != half; ++i)
      batch[i] = slots_[(new_tail + i) & mask];
    batch[half] = task;
    // release: a thief that loaded head_ before the marker may read this value; it must see the
    // slots below new_tail, published by earlier release stores of tail_, through this one.
    tail_.store(new_tail, std::memory_order_release);
    // release: synchronises with thieves' acquire loads of head_ (directly, or through the
    // release sequence of later head_ RMWs), so they read new_tail or a later tail (I3).
    [[maybe_unused]] const std::uint64_t marker =
        head_.exchange(pack(real, real), std::memory_order_release);
    assert(marker == pack(real - 1, real));
    hand_over(overflow, std::span<T* const>(batch));
    return true;
  }

  // Victim side of a steal, run by the thief (the owner of dst). Claims half of this queue,
  // copies the pointers to dst's slots from position dst_tail on, and releases the claim.
  // Returns how many were copied.
  std::uint32_t steal_into(local_queue& dst, std::uint32_t dst_tail) noexcept {
    // acquire: synchronises with the release RMW that wrote this head value (an owner pop or
    // overflow, or a thief finishing), so the tail_ read below is no older (I3).
    std::uint64_t head = head_.load(std::memory_order_acquire);
    std::uint32_t first = 0;
    std::uint32_t n = 0;
    for (;;) {
      const std::uint32_t steal = steal_part(head);
      const std::uint32_t real = real_part(head);
      if (steal != real)
        return 0; // another thief (or the owner's overflow) is in progress
      // acquire: synchronises with the owner's release store of tail_, so the slots below it
      // hold the tasks the owner wrote.
      const std::uint32_t tail = tail_.load(std::memory_order_acquire);
      // May exceed Capacity if the tail is newer than the head we read; the CAS then fails (I3).
      const std::uint32_t available = tail - real;
      n = available - available / 2;
      if (n == 0)
        return 0;
      // acq_rel on success: acquire as the load above (the retry path reads tail_ again after a
      // failure, hence acquire on failure too); release keeps every head_ write a release, as
      // (I3) assumes.
      if (head_.compare_exchange_weak(head, pack(steal, real + n), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        assert(available <= Capacity && "local_queue: claimed past the tail");
        first = real;
        break;
      }
    }
    assert(n <= half);
    for (std::uint32_t i = 0; i != n; ++i)
      dst.slots_[(dst_tail + i) & mask] = slots_[(first + i) & mask];
    // Release the claim: steal catches up with real (which the owner's pops may have moved).
    head = pack(first, first + n);
    for (;;) {
      assert(steal_part(head) == first);
      const std::uint32_t real = real_part(head);
      // release: synchronises with the owner's acquire load of head_ before it reuses our slots
      // (I2), and with later thieves' acquire loads (I3). relaxed on failure: we read nothing.
      if (head_.compare_exchange_weak(head, pack(real, real), std::memory_order_release,
                                      std::memory_order_relaxed))
        return n;
    }
  }

  // The packed (steal, real) head word; see the top of this file.
  std::atomic<std::uint64_t> head_{0};
  // The position the owner's next push writes; written by the owner only.
  std::atomic<std::uint32_t> tail_{0};
  // The ring; slots outside [steal, tail) hold stale pointers.
  T* slots_[Capacity] = {};
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_LOCAL_QUEUE_HPP
