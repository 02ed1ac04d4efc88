// kyoto/sync/semaphore.hpp
//
// kyoto::sync::semaphore: a counting semaphore for tasks (Tokio's Semaphore).
//
//   kyoto::sync::semaphore sem(3);
//   // in a task:  poll sem.acquire()  -> kyoto::sync::semaphore_permit (RAII: gives it back)
//   auto p = sem.try_acquire(2);       // std::optional<semaphore_permit>, never waits
//
// Fairness: acquire(n) futures are served strictly in the order in which they first returned
// pending (FIFO). Released permits go to the oldest waiter first, even partially: a waiter for 5
// holds the 2 that are free and waits for 3 more, and a later acquire(1) waits behind it.
// try_acquire never overtakes a waiter.
//
// Cancel safety: dropping an acquire future gives back what it held: the permits assigned to it
// so far (or all n when it was granted but had not returned ready yet) go to the next waiters.
//
// close(): pending and future acquires fail with system_error(kyoto::error::channel_closed);
// try_acquire returns nullopt; permits already held stay valid and may still be released.
//
// acquire(n) and release(n) throw std::invalid_argument when n (or the total) exceeds
// semaphore::max_permits. A ready acquire spends one unit of the cooperative budget.
//
// Thread safety: every member may be called from any thread; each future by one thread at a
// time. The semaphore must outlive its futures and permits. One mutex guards the state; each
// waiting future owns one list node (allocated at its first pending poll).

#ifndef KYOTO_SYNC_SEMAPHORE_HPP
#define KYOTO_SYNC_SEMAPHORE_HPP

#include <kyoto/error.hpp>
#include <kyoto/future.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kyoto::sync {

class semaphore;

/// Permits held from a semaphore; released when destroyed.
class semaphore_permit {
 public:
  semaphore_permit(semaphore_permit&& o) noexcept
      : sem_(std::exchange(o.sem_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  semaphore_permit& operator=(semaphore_permit&& o) noexcept {
    if (this != &o) {
      reset();
      sem_ = std::exchange(o.sem_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  ~semaphore_permit() { reset(); }

  /// The permits held.
  std::size_t count() const noexcept { return count_; }

  /// Keeps the permits out of the semaphore for good.
  void forget() noexcept {
    sem_ = nullptr;
    count_ = 0;
  }

  /// Gives the permits back now.
  void reset() noexcept;

 private:
  friend class semaphore;
  friend class acquire_future;
  semaphore_permit(semaphore* s, std::size_t n) noexcept : sem_(s), count_(n) {}

  // The semaphore; null when empty.
  semaphore* sem_;
  // The permits held.
  std::size_t count_;
};

namespace detail {
struct semaphore_waiter {
  // Permits asked for, and assigned so far.
  std::size_t needed;
  std::size_t assigned;
  // The waker of the future's last poll.
  waker w;
};
} // namespace detail

/// The future returned by semaphore::acquire().
class acquire_future {
 public:
  acquire_future(acquire_future&& o) noexcept
      : sem_(o.sem_), n_(o.n_), node_(o.node_), queued_(std::exchange(o.queued_, false)),
        done_(o.done_) {}
  acquire_future& operator=(acquire_future&&) = delete;
  ~acquire_future();

  /// Ready with the permits; throws system_error(channel_closed) when the semaphore was closed
  /// first, std::logic_error when polled after it returned ready.
  kyoto::poll<semaphore_permit> poll(task_context& cx);

 private:
  friend class semaphore;
  acquire_future(semaphore* s, std::size_t n) noexcept : sem_(s), n_(n) {}

  // The semaphore; outlives this future.
  semaphore* sem_;
  // Permits wanted.
  std::size_t n_;
  // Our node in the waiting or granted list, while queued_.
  std::list<detail::semaphore_waiter>::iterator node_{};
  // True while the node exists.
  bool queued_ = false;
  // True after the ready poll.
  bool done_ = false;
};

class semaphore {
 public:
  /// The most permits a semaphore holds, and the most one acquire() may ask for.
  static constexpr std::size_t max_permits = SIZE_MAX >> 3;

  /// A semaphore with `permits` permits. Throws std::invalid_argument above max_permits.
  explicit semaphore(std::size_t permits) : permits_(check(permits, "semaphore")) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// A future of `n` permits (FIFO-fair). Throws std::invalid_argument when n > max_permits.
  acquire_future acquire(std::size_t n = 1) { return acquire_future(this, check(n, "acquire")); }

  /// `n` permits now if they are free and nobody waits; nullopt otherwise (or when closed).
  std::optional<semaphore_permit> try_acquire(std::size_t n = 1) {
    std::lock_guard lock(mutex_);
    if (closed_ || !waiting_.empty() || permits_ < n)
      return std::nullopt;
    permits_ -= n;
    return semaphore_permit(this, n);
  }

  /// Adds `n` permits, serving waiters first. Throws std::invalid_argument when the total would
  /// exceed max_permits.
  void release(std::size_t n) {
    std::vector<waker> ws;
    {
      std::lock_guard lock(mutex_);
      if (n > max_permits - permits_)
        throw std::invalid_argument("kyoto::sync::semaphore::release: more than max_permits");
      permits_ += n;
      distribute_locked(ws);
    }
    for (auto& w : ws)
      w.wake();
  }

  /// Fails every pending and future acquire.
  void close() {
    std::vector<waker> ws;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      for (auto& n : waiting_)
        ws.push_back(std::move(n.w));
    }
    for (auto& w : ws)
      w.wake();
  }

  bool is_closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  /// Permits free now (not counting those assigned to waiters).
  std::size_t available_permits() const {
    std::lock_guard lock(mutex_);
    return permits_;
  }

 private:
  friend class acquire_future;
  friend class semaphore_permit;

  static std::size_t check(std::size_t n, const char* what) {
    if (n > max_permits)
      throw std::invalid_argument(std::string("kyoto::sync::semaphore: ") + what +
                                  ": more than max_permits");
    return n;
  }

  /// Gives free permits to the oldest waiters; collects the wakers of those now complete.
  void distribute_locked(std::vector<waker>& ws) {
    while (permits_ > 0 && !waiting_.empty()) {
      auto& front = waiting_.front();
      const std::size_t take = std::min(permits_, front.needed - front.assigned);
      front.assigned += take;
      permits_ -= take;
      if (front.assigned < front.needed)
        break;
      ws.push_back(std::move(front.w));
      granted_.splice(granted_.end(), waiting_, waiting_.begin());
    }
  }

  /// Returns permits without the overflow check (they came from this semaphore).
  void give_back(std::size_t n) noexcept {
    std::vector<waker> ws;
    {
      std::lock_guard lock(mutex_);
      permits_ += n;
      try {
        distribute_locked(ws);
      } catch (...) {
        std::terminate(); // out of memory for the wake list: a waiter would hang
      }
    }
    for (auto& w : ws)
      w.wake();
  }

  // Guards the members below.
  mutable std::mutex mutex_;
  // Free permits. Invariant: permits_ == 0 whenever waiting_ is not empty.
  std::size_t permits_;
  // Waiters not yet fully served, oldest first.
  std::list<detail::semaphore_waiter> waiting_;
  // Waiters fully served that have not returned ready yet.
  std::list<detail::semaphore_waiter> granted_;
  // Set by close().
  bool closed_ = false;
};

inline void semaphore_permit::reset() noexcept {
  if (sem_ && count_ > 0)
    sem_->give_back(count_);
  sem_ = nullptr;
  count_ = 0;
}

inline kyoto::poll<semaphore_permit> acquire_future::poll(task_context& cx) {
  if (done_)
    throw std::logic_error("kyoto::sync::semaphore: acquire future polled after it completed");
  if (cx.poll_budget().is_pending())
    return pending;
  if (n_ == 0 && !queued_) {
    done_ = true;
    return semaphore_permit(sem_, 0);
  }
  std::unique_lock lock(sem_->mutex_);
  if (!queued_) {
    if (sem_->closed_) {
      lock.unlock();
      kyoto::detail::throw_error(error::channel_closed, "kyoto::sync::semaphore: closed");
    }
    if (sem_->waiting_.empty() && sem_->permits_ >= n_) {
      sem_->permits_ -= n_;
      done_ = true;
      return semaphore_permit(sem_, n_);
    }
    // FIFO: take what is free now only when nobody waits (then permits_ is 0 anyway).
    const std::size_t take = sem_->waiting_.empty() ? std::min(sem_->permits_, n_) : 0;
    sem_->permits_ -= take;
    sem_->waiting_.push_back(detail::semaphore_waiter{n_, take, cx.get_waker()});
    node_ = std::prev(sem_->waiting_.end());
    queued_ = true;
    cx.refund_budget();
    return pending;
  }
  if (node_->assigned == node_->needed) {
    // Granted: our node is in granted_.
    sem_->granted_.erase(node_);
    queued_ = false;
    done_ = true;
    return semaphore_permit(sem_, n_);
  }
  if (sem_->closed_) {
    waker mine = std::move(node_->w);
    const std::size_t held = node_->assigned;
    sem_->waiting_.erase(node_);
    queued_ = false;
    sem_->permits_ += held;
    lock.unlock();
    kyoto::detail::throw_error(error::channel_closed, "kyoto::sync::semaphore: closed");
  }
  if (!node_->w.will_wake(cx.get_waker()))
    node_->w = cx.get_waker();
  cx.refund_budget();
  return pending;
}

inline acquire_future::~acquire_future() {
  if (!queued_)
    return;
  std::vector<waker> ws;
  waker mine; // dropped after unlocking: dropping a waker may free a task
  {
    std::lock_guard lock(sem_->mutex_);
    mine = std::move(node_->w);
    std::size_t back;
    if (node_->assigned == node_->needed) {
      back = node_->needed;
      sem_->granted_.erase(node_);
    } else {
      back = node_->assigned;
      sem_->waiting_.erase(node_);
    }
    sem_->permits_ += back;
    try {
      sem_->distribute_locked(ws);
    } catch (...) {
      std::terminate(); // out of memory for the wake list: a waiter would hang
    }
  }
  for (auto& w : ws)
    w.wake();
}

} // namespace kyoto::sync

#endif // KYOTO_SYNC_SEMAPHORE_HPP
