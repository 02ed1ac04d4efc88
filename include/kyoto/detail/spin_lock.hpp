// kyoto/detail/spin_lock.hpp
//
// spin_lock: a test-and-test-and-set lock for critical sections that are short and almost never
// contended: the timer shards (timer_service.hpp), which the owning worker locks for every arm
// and cancel, and other threads only for cross-thread cancels and for firing a busy worker's
// timers.
//
// Why not std::mutex: its lock and unlock are two out-of-line calls, and unlocking is an atomic
// exchange (it must look for sleepers); here unlocking is a plain release store, and a waiter
// that sleeps polls instead of being woken. Measured on kyoto::steady_timer arm+cancel (two
// lock/unlock pairs): ~12 ns of ~110 (doc/timers.md).
//
// Contention: the waiter spins on a relaxed load (no cache-line ping-pong), with a pause hint,
// for spin_rounds rounds; then yields the CPU for yield_rounds rounds, so that a holder
// preempted on this CPU gets to run (2 vCPUs are common); then sleeps sleep_quantum per round,
// so that a long hold does not burn a core and a waiter with a real-time priority cannot starve
// the holder. Common critical sections are a few dozen instructions; the long ones are rare and
// proportional to the work: firing every timer that comes due at one tick (200,000 at once:
// ~20 ms), cancelling a timer with that many waits, an early cascade part (~15 us). Holders
// never make system calls or run user code. No fairness: a waiter may be overtaken.
//
// Meets the Lockable requirements (std::unique_lock, std::lock_guard). Thread safety: shared
// objects safe.

#ifndef KYOTO_DETAIL_SPIN_LOCK_HPP
#define KYOTO_DETAIL_SPIN_LOCK_HPP

#include <kyoto/detail/cpu_relax.hpp>

#include <atomic>
#include <chrono>
#include <thread>

namespace kyoto::detail {

class spin_lock {
 public:
  spin_lock() noexcept = default;
  spin_lock(const spin_lock&) = delete;
  spin_lock& operator=(const spin_lock&) = delete;

  void lock() noexcept {
    // acquire: pairs with unlock's release store; the critical section sees the previous one's
    // writes.
    if (locked_.exchange(true, std::memory_order_acquire))
      lock_contended();
  }

  bool try_lock() noexcept {
    // acquire: as in lock(). The relaxed load first avoids taking the line for writing when
    // the lock is held.
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }

  void unlock() noexcept {
    // release: publishes the critical section to the next holder's acquire.
    locked_.store(false, std::memory_order_release);
  }

 private:
  // Rounds of busy waiting before the waiter starts yielding the CPU.
  static constexpr int spin_rounds = 64;
  // Rounds of yielding before the waiter starts sleeping.
  static constexpr int yield_rounds = 64;
  // How long a waiter sleeps per round once it has spun and yielded.
  static constexpr std::chrono::microseconds sleep_quantum{50};

  [[gnu::noinline]] void lock_contended() noexcept {
    for (int round = 0;; ++round) {
      if (try_lock())
        return;
      if (round < spin_rounds)
        cpu_relax();
      else if (round < spin_rounds + yield_rounds)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(sleep_quantum);
    }
  }

  // True while a thread holds the lock.
  std::atomic<bool> locked_{false};
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_SPIN_LOCK_HPP
