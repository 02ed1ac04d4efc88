// kyoto/detail/parker.hpp
//
// How one worker sleeps and is woken (Tokio's park.rs protocol). A worker parks either on its
// own condition variable or, when it holds the driver, inside Asio's reactor (epoll_wait); the
// state word says which, so that unpark() knows whether to signal the condition variable or to
// interrupt the reactor.
//
//   EMPTY --park--> PARKED_CONDVAR | PARKED_DRIVER --unpark--> NOTIFIED --park returns--> EMPTY
//   EMPTY --unpark--> NOTIFIED (the next park returns at once: a wake-up is never lost)
//
// Thread safety: park_* and end_driver_park are called by the owning worker only; unpark() by
// any thread.

#ifndef KYOTO_DETAIL_PARKER_HPP
#define KYOTO_DETAIL_PARKER_HPP

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace kyoto::detail {

class parker {
 public:
  enum state : int { empty, parked_condvar, parked_driver, notified };

  /// Consumes a pending notification; true if there was one.
  bool try_consume_notification() noexcept {
    int expected = notified;
    // acquire: pairs with unpark()'s exchange, so what the waker did before is visible.
    return state_.compare_exchange_strong(expected, empty, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  /// Sleeps on the condition variable until unpark() or `deadline`.
  void park_condvar(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    int expected = empty;
    // acq_rel: release publishes nothing in particular, acquire pairs with unpark() when the
    // state was already notified.
    if (!state_.compare_exchange_strong(expected, parked_condvar, std::memory_order_acq_rel)) {
      state_.exchange(empty, std::memory_order_acquire); // was notified
      return;
    }
    for (;;) {
      bool timed_out = condvar_.wait_until(lock, deadline) == std::cv_status::timeout;
      if (try_consume_notification())
        return;
      if (timed_out) {
        state_.exchange(empty, std::memory_order_acquire);
        return;
      }
      // A spurious wake-up: keep sleeping.
    }
  }

  /// Announces that the worker is about to block in the reactor. False when a notification is
  /// pending (consumed): the worker must not block.
  bool begin_driver_park() noexcept {
    int expected = empty;
    if (state_.compare_exchange_strong(expected, parked_driver, std::memory_order_acq_rel))
      return true;
    state_.exchange(empty, std::memory_order_acquire);
    return false;
  }

  /// The worker came back from the reactor (notified or not).
  void end_driver_park() noexcept { state_.exchange(empty, std::memory_order_acquire); }

  /// Wakes the worker. `interrupt_reactor` is called when it is blocked in the reactor.
  /// Returns true if the worker was asleep (and has been woken).
  template <typename InterruptReactor>
  bool unpark(InterruptReactor&& interrupt_reactor) {
    // release: makes the work the caller published visible to the woken worker.
    switch (state_.exchange(notified, std::memory_order_acq_rel)) {
    case parked_condvar:
      // Taking the mutex orders this notify after the sleeper's wait has started: the sleeper
      // holds the mutex from its state change until it waits.
      { std::lock_guard lock(mutex_); }
      condvar_.notify_one();
      return true;
    case parked_driver:
      // The reactor's interrupt is latched (an edge-triggered, always-readable descriptor is
      // re-armed), so it is not lost if the worker has not reached epoll_wait yet.
      interrupt_reactor();
      return true;
    default:
      return false;
    }
  }

 private:
  // One of `state`.
  std::atomic<int> state_{empty};
  // Guard and signal for park_condvar.
  std::mutex mutex_;
  std::condition_variable condvar_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_PARKER_HPP
