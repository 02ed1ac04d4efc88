// kyoto/sync/notify.hpp
//
// kyoto::sync::notify: wakes tasks without sending data (Tokio's Notify).
//
//   kyoto::sync::notify n;
//   // waiter:   poll n.notified()             (a future of void)
//   // notifier: n.notify_one();  or  n.notify_waiters();
//
// notify_one() wakes the oldest waiting notified() future; when none waits, it stores one permit
// (at most one: permits do not add up), which the next notified() future consumes at once.
// notify_waiters() wakes every notified() future that exists at the time of the call, including
// those created but not yet polled, and stores no permit.
//
// A notified() future joins the queue at its first pending poll. Dropping it after notify_one()
// chose it, before it returned ready, passes the notification on to the next waiter (or stores
// the permit), so no notify_one() is lost to a cancelled waiter (e.g. the loser of a select).
// notified() futures do not spend the cooperative budget.
//
// Thread safety: notify_one, notify_waiters and notified may be called from any thread; each
// future by one thread at a time. The notify must outlive its futures. One mutex guards the
// queue; each waiting future owns one list node (allocated at its first pending poll).

#ifndef KYOTO_SYNC_NOTIFY_HPP
#define KYOTO_SYNC_NOTIFY_HPP

#include <kyoto/future.hpp>

#include <cstdint>
#include <list>
#include <mutex>
#include <utility>
#include <vector>

namespace kyoto::sync {

class notify;

namespace detail {
struct notify_waiter {
  enum state_type { waiting, notified_one, notified_all };
  // The waker of the future's last poll.
  waker w;
  // Why it left the waiting list.
  state_type state = waiting;
};
} // namespace detail

/// The future returned by notify::notified().
class notified_future {
 public:
  notified_future(notified_future&& o) noexcept
      : notify_(o.notify_), generation_(o.generation_), node_(o.node_),
        queued_(std::exchange(o.queued_, false)), done_(o.done_) {}
  notified_future& operator=(notified_future&&) = delete;
  ~notified_future();

  /// Ready once notified.
  kyoto::poll<void> poll(task_context& cx);

 private:
  friend class notify;
  notified_future(notify* n, std::uint64_t generation) noexcept
      : notify_(n), generation_(generation) {}

  // The notify; outlives this future.
  notify* notify_;
  // notify_waiters() calls made before this future was created.
  std::uint64_t generation_;
  // Our node in one of the notify's lists, while queued_.
  std::list<detail::notify_waiter>::iterator node_{};
  // True while the node exists.
  bool queued_ = false;
  // True after the ready poll.
  bool done_ = false;
};

class notify {
 public:
  notify() = default;
  notify(const notify&) = delete;
  notify& operator=(const notify&) = delete;
  ~notify() = default;

  /// Wakes the oldest waiter, or stores a permit when none waits.
  void notify_one() {
    waker w;
    {
      std::lock_guard lock(mutex_);
      w = notify_one_locked();
    }
    w.wake();
  }

  /// Wakes every current waiter (and every notified() future created before this call).
  void notify_waiters() {
    std::vector<waker> ws;
    {
      std::lock_guard lock(mutex_);
      ++generation_;
      ws.reserve(waiting_.size());
      for (auto& n : waiting_) {
        n.state = detail::notify_waiter::notified_all;
        ws.push_back(std::move(n.w));
      }
      notified_.splice(notified_.end(), waiting_);
    }
    for (auto& w : ws)
      w.wake();
  }

  /// A future that is ready when this notify is notified.
  notified_future notified() {
    std::lock_guard lock(mutex_);
    return notified_future(this, generation_);
  }

 private:
  friend class notified_future;

  /// Picks the oldest waiter (returns its waker, to wake after unlocking) or stores the permit.
  waker notify_one_locked() {
    if (waiting_.empty()) {
      permit_ = true;
      return {};
    }
    auto& n = waiting_.front();
    n.state = detail::notify_waiter::notified_one;
    waker w = std::move(n.w);
    notified_.splice(notified_.end(), waiting_, waiting_.begin());
    return w;
  }

  // Guards the members below.
  std::mutex mutex_;
  // Futures waiting, oldest first.
  std::list<detail::notify_waiter> waiting_;
  // Futures notified that have not seen it yet.
  std::list<detail::notify_waiter> notified_;
  // A stored notify_one().
  bool permit_ = false;
  // notify_waiters() calls so far.
  std::uint64_t generation_ = 0;
};

inline kyoto::poll<void> notified_future::poll(task_context& cx) {
  if (done_)
    return ready;
  std::lock_guard lock(notify_->mutex_);
  if (!queued_) {
    if (notify_->permit_) {
      notify_->permit_ = false;
      done_ = true;
      return ready;
    }
    if (notify_->generation_ != generation_) {
      done_ = true;
      return ready;
    }
    notify_->waiting_.push_back(detail::notify_waiter{cx.get_waker()});
    node_ = std::prev(notify_->waiting_.end());
    queued_ = true;
    return pending;
  }
  if (node_->state != detail::notify_waiter::waiting) {
    notify_->notified_.erase(node_);
    queued_ = false;
    done_ = true;
    return ready;
  }
  if (!node_->w.will_wake(cx.get_waker()))
    node_->w = cx.get_waker();
  return pending;
}

inline notified_future::~notified_future() {
  if (!queued_)
    return;
  waker w;
  waker mine; // dropped after unlocking: dropping a waker may free a task
  {
    std::lock_guard lock(notify_->mutex_);
    mine = std::move(node_->w);
    const auto state = node_->state;
    if (state == detail::notify_waiter::waiting) {
      notify_->waiting_.erase(node_);
    } else {
      notify_->notified_.erase(node_);
      // Chosen by notify_one() but never saw it: pass it on.
      if (state == detail::notify_waiter::notified_one)
        w = notify_->notify_one_locked();
    }
  }
  w.wake();
}

} // namespace kyoto::sync

#endif // KYOTO_SYNC_NOTIFY_HPP
