// kyoto/detail/task_state.hpp
//
// The state word of a spawned task: lifecycle bits and a reference count in one atomic, so that
// every transition is a single CAS (the design of Tokio's runtime/task/state.rs).
//
// Layout of the 64-bit word:
//   bit 0  running        a thread is polling the task (or cancelling it)
//   bit 1  complete       the future is gone; the output (if any) is stored
//   bit 2  notified       the task is in a run queue, or about to be put in one
//   bit 3  join_interest  the join handle exists
//   bit 4  join_waker     the join waker slot is set and belongs to the task (the handle may not
//                         touch it until it clears this bit)
//   bit 5  cancelled      abort() or shutdown asked for cancellation
//   bits 6..63            reference count
//
// References: the task registry (until the task completes), the run queue (while notified, or
// the poller while running: a notified reference becomes the running one), the join handle, and
// every waker. The task is deallocated when the count reaches zero.
//
// Rules the transitions keep:
// - A task is scheduled only when it goes from idle (not running, not complete, not notified) to
//   notified; a wake while notified or complete does nothing, a wake while running sets notified
//   and the poller schedules it once more after the poll. Hence N concurrent wakes schedule it
//   at most once, and never zero times after a wake.
// - Once complete, nothing schedules the task again, so a waker that outlives the task's
//   context only reads and decrements this word.
//
// Memory ordering: transitions use acq_rel. The release half publishes what the thread did while
// it owned the task (the future's state after a poll, the output before `complete`, the join
// waker before `join_waker`); the acquire half of the next transition (the next poller's
// transition_to_running, the join handle's load seeing `complete`, the completer's
// transition_to_complete seeing `join_waker`) makes it visible. ref_inc is relaxed (a reference
// is only copied from one already held, as with shared_ptr); ref_dec is acq_rel so the last owner
// sees every other owner's writes before deallocating.
//
// Thread safety: every member may be called from any thread; each documents which bits its
// caller must own.

#ifndef KYOTO_DETAIL_TASK_STATE_HPP
#define KYOTO_DETAIL_TASK_STATE_HPP

#include <atomic>
#include <cassert>
#include <cstdint>
#include <cstdlib>

namespace kyoto::detail {

class task_state {
 public:
  using word = std::uint64_t;

  static constexpr word running = 1u << 0;
  static constexpr word complete = 1u << 1;
  static constexpr word notified = 1u << 2;
  static constexpr word join_interest = 1u << 3;
  static constexpr word join_waker = 1u << 4;
  static constexpr word cancelled = 1u << 5;
  static constexpr int ref_shift = 6;
  static constexpr word ref_one = word{1} << ref_shift;

  /// A new task: notified (it is about to be queued), join interest, three references (the
  /// registry, the run queue, the join handle).
  task_state() noexcept : word_(notified | join_interest | 3 * ref_one) {}

  /// A snapshot, acquire: pairs with the release of the transition that set the bits read.
  word load() const noexcept { return word_.load(std::memory_order_acquire); }

  static constexpr word ref_count(word w) noexcept { return w >> ref_shift; }
  static constexpr bool is_idle(word w) noexcept { return (w & (running | complete)) == 0; }

  enum class to_running { success, cancelled, failed, dealloc };

  /// Called by the thread that took the task from a run queue (it owns the notified reference).
  /// On success/cancelled the notified reference becomes the running one. failed/dealloc: the
  /// task was running or complete; the reference was dropped (dealloc: it was the last one).
  to_running transition_to_running() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      assert(cur & notified);
      word next = cur;
      to_running result;
      if (!is_idle(cur)) {
        next -= ref_one;
        result = ref_count(next) == 0 ? to_running::dealloc : to_running::failed;
      } else {
        next = (next & ~notified) | running;
        result = (cur & cancelled) ? to_running::cancelled : to_running::success;
      }
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return result;
    }
  }

  enum class to_idle { ok, ok_notified, ok_dealloc, cancelled };

  /// Called by the poller after a pending poll. ok: idle now, the running reference was dropped.
  /// ok_notified: woken during the poll; the running reference became a notified one and the
  /// caller must schedule the task. cancelled: still running; the caller cancels the task.
  to_idle transition_to_idle() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      assert(cur & running);
      if (cur & cancelled)
        return to_idle::cancelled;
      word next = cur & ~running;
      to_idle result = to_idle::ok_notified;
      if (!(cur & notified)) {
        next -= ref_one;
        result = ref_count(next) == 0 ? to_idle::ok_dealloc : to_idle::ok;
      }
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return result;
    }
  }

  /// Called by the poller when the future is done (or cancelled) and the output is stored.
  /// Returns the new word. The caller still holds the running reference.
  word transition_to_complete() noexcept {
    const word prev = word_.fetch_xor(running | complete, std::memory_order_acq_rel);
    assert((prev & running) && !(prev & complete));
    return prev ^ (running | complete);
  }

  enum class to_notified { do_nothing, submit, dealloc };

  /// wake(): consumes the caller's (waker's) reference. submit: the reference became the
  /// notified one and the caller must schedule the task.
  to_notified transition_to_notified_by_val() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      word next = cur;
      to_notified result;
      if (cur & running) {
        // The poller holds a reference, so this cannot be the last.
        next = (next | notified) - ref_one;
        result = to_notified::do_nothing;
      } else if (cur & (complete | notified)) {
        next -= ref_one;
        result = ref_count(next) == 0 ? to_notified::dealloc : to_notified::do_nothing;
      } else {
        next |= notified;
        result = to_notified::submit;
      }
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return result;
    }
  }

  /// wake_by_ref(): keeps the caller's reference. submit: a new notified reference was taken
  /// and the caller must schedule the task.
  to_notified transition_to_notified_by_ref() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      word next = cur;
      to_notified result = to_notified::do_nothing;
      if (cur & (complete | notified))
        return to_notified::do_nothing;
      if (cur & running) {
        next |= notified;
      } else {
        next = (next | notified) + ref_one;
        result = to_notified::submit;
      }
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return result;
    }
  }

  /// abort() from any thread: sets cancelled. Returns true when the task was idle; a notified
  /// reference was then taken and the caller must schedule the task so that its next poll
  /// cancels it. A running task is marked notified so that its poller sees the cancellation.
  bool transition_to_notified_and_cancel() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      if (cur & (cancelled | complete))
        return false;
      word next = cur | cancelled;
      bool submit = false;
      if (cur & running) {
        next |= notified;
      } else if (!(cur & notified)) {
        next = (next | notified) + ref_one;
        submit = true;
      }
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return submit;
    }
  }

  /// Shutdown: sets cancelled; when the task was idle (even if notified) also sets running, so
  /// the caller now owns it and must cancel and complete it (returns true).
  bool transition_to_shutdown() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      word next = cur | cancelled;
      const bool claim = is_idle(cur);
      if (claim)
        next |= running;
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return claim;
    }
  }

  /// The join handle is dropped. Fails (returns false) when the task is complete: the handle
  /// must then drop the output itself.
  bool unset_join_interest() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      assert(cur & join_interest);
      if (cur & complete)
        return false;
      if (word_.compare_exchange_weak(cur, cur & ~join_interest, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return true;
    }
  }

  /// The join handle wrote the join waker slot and hands it to the task. Fails when the task
  /// completed meanwhile (the handle still owns the slot then, and reads the output).
  bool set_join_waker() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      assert((cur & join_interest) && !(cur & join_waker));
      if (cur & complete)
        return false;
      if (word_.compare_exchange_weak(cur, cur | join_waker, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return true;
    }
  }

  /// The join handle takes the slot back to replace the waker. Fails when complete.
  bool unset_join_waker() noexcept {
    word cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      assert((cur & join_interest) && (cur & join_waker));
      if (cur & complete)
        return false;
      if (word_.compare_exchange_weak(cur, cur & ~join_waker, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return true;
    }
  }

  /// Takes one more reference; the caller holds one already.
  void ref_inc() noexcept {
    const word prev = word_.fetch_add(ref_one, std::memory_order_relaxed);
    // An overflow would free the task while in use: abort like Rust's Arc does.
    if (ref_count(prev) >= (word{1} << (63 - ref_shift)))
      std::abort();
  }

  /// Drops `n` references; true when they were the last ones (deallocate then).
  bool ref_dec(word n = 1) noexcept {
    const word prev = word_.fetch_sub(n * ref_one, std::memory_order_acq_rel);
    assert(ref_count(prev) >= n);
    return ref_count(prev) == n;
  }

 private:
  // The bits and the reference count described above.
  std::atomic<word> word_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TASK_STATE_HPP
