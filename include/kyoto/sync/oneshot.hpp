// kyoto/sync/oneshot.hpp
//
// A single-value channel between tasks (Tokio's oneshot):
//
//   auto [tx, rx] = kyoto::sync::make_oneshot<int>();
//   tx.send(5);                     // from anywhere; false if the receiver is gone
//   int v = co-await / poll(rx)     // rx is a future of T
//
// The receiver is a future: ready with the value, or it throws
// system_error(kyoto::error::channel_closed) when the sender was dropped without sending.
// Polling spends one unit of the cooperative budget. Waker-based: the receiver's waker is woken
// by send() or by the sender's destruction.
//
// Thread safety: the sender and the receiver may be used from different threads; each object by
// one thread at a time. Lock-free: one atomic flag word (see detail::oneshot_state).

#ifndef KYOTO_SYNC_ONESHOT_HPP
#define KYOTO_SYNC_ONESHOT_HPP

#include <kyoto/error.hpp>
#include <kyoto/future.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <utility>

namespace kyoto::sync {

namespace detail {

// The channel's state: one atomic word of flags (Tokio's oneshot protocol) and two slots that are
// owned, at any moment, by exactly one side:
// - value: written by the sender before it sets `sent`; from then on the receiver's.
// - rx_waker: written by the receiver while `rx_waker_set` is clear; while it is set, the sender
//   may read it (wake_by_ref) once it has set `sent` or `tx_done`. The receiver therefore never
//   touches a set waker once either flag is up; the waker is destroyed with the state.
template <typename T>
struct oneshot_state {
  enum flags : unsigned {
    sent = 1,         // the value is in `value`
    tx_done = 2,      // the sender is finished (sent, or dropped without sending)
    rx_closed = 4,    // the receiver is gone
    rx_waker_set = 8, // rx_waker holds the receiver's waker
  };
  std::atomic<unsigned> state{0};
  std::optional<T> value;
  waker rx_waker;

  /// The sender's last act: sets `done_flags` unless the receiver is gone; wakes the receiver
  /// if it left a waker. Returns false when the receiver was gone.
  bool finish_sender(unsigned done_flags) noexcept {
    unsigned prev = state.load(std::memory_order_relaxed);
    do {
      if (prev & rx_closed)
        return false;
      // acq_rel: release publishes `value` to the receiver; acquire makes the receiver's waker
      // write (released by its fetch_or of rx_waker_set) visible before wake_by_ref below.
    } while (!state.compare_exchange_weak(prev, prev | done_flags, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
    if (prev & rx_waker_set)
      rx_waker.wake_by_ref();
    return true;
  }
};

} // namespace detail

template <typename T>
class oneshot_sender {
 public:
  explicit oneshot_sender(std::shared_ptr<detail::oneshot_state<T>> s) : state_(std::move(s)) {}
  oneshot_sender(oneshot_sender&&) noexcept = default;
  oneshot_sender& operator=(oneshot_sender&& o) noexcept {
    close();
    state_ = std::move(o.state_);
    return *this;
  }
  ~oneshot_sender() { close(); }

  /// Sends the value and wakes the receiver. False (value dropped) when the receiver is gone
  /// or a value was already sent.
  bool send(T value) {
    if (!state_ || is_closed())
      return false;
    // The sender owns the slot until it sets `sent`.
    state_->value.emplace(std::move(value));
    using st = detail::oneshot_state<T>;
    if (!state_->finish_sender(st::sent | st::tx_done)) {
      state_->value.reset(); // the receiver is gone and never reads it
      state_.reset();
      return false;
    }
    state_.reset();
    return true;
  }

  /// True when the receiver was dropped.
  bool is_closed() const {
    if (!state_)
      return true;
    return (state_->state.load(std::memory_order_acquire) & detail::oneshot_state<T>::rx_closed) !=
           0;
  }

 private:
  void close() noexcept {
    if (!state_)
      return;
    state_->finish_sender(detail::oneshot_state<T>::tx_done);
    state_.reset();
  }

  // Shared with the receiver; null after send.
  std::shared_ptr<detail::oneshot_state<T>> state_;
};

template <typename T>
class oneshot_receiver {
  using st = detail::oneshot_state<T>;

 public:
  explicit oneshot_receiver(std::shared_ptr<st> s) : state_(std::move(s)) {}
  oneshot_receiver(oneshot_receiver&&) noexcept = default;
  oneshot_receiver& operator=(oneshot_receiver&& o) noexcept {
    if (this != &o) {
      close();
      state_ = std::move(o.state_);
    }
    return *this;
  }
  ~oneshot_receiver() { close(); }

  /// Ready with the value; throws system_error(channel_closed) when the sender was dropped
  /// without sending (or the value was already received).
  kyoto::poll<T> poll(task_context& cx) {
    if (!state_)
      kyoto::detail::throw_error(error::channel_closed, "oneshot_receiver: moved from");
    if (cx.poll_budget().is_pending())
      return pending;
    // acquire: pairs with the sender's release, so `value` is visible once `sent` is.
    unsigned s = state_->state.load(std::memory_order_acquire);
    if (s & st::tx_done)
      return take(s);
    if ((s & st::rx_waker_set) && !state_->rx_waker.will_wake(cx.get_waker())) {
      // Take the waker back before replacing it; if the sender finished meanwhile it may be
      // reading the waker, so leave it alone (and mark it set again: the state destroys it).
      s = state_->state.fetch_and(~unsigned{st::rx_waker_set}, std::memory_order_acq_rel);
      if (s & st::tx_done) {
        state_->state.fetch_or(st::rx_waker_set, std::memory_order_relaxed);
        return take(s);
      }
      s &= ~unsigned{st::rx_waker_set};
    }
    if (!(s & st::rx_waker_set)) {
      state_->rx_waker = cx.get_waker();
      // acq_rel: release publishes the waker to the sender's acquire; acquire makes `value`
      // visible if the sender finished first (then it did not see the waker: take it now).
      s = state_->state.fetch_or(st::rx_waker_set, std::memory_order_acq_rel);
      if (s & st::tx_done)
        return take(s);
    }
    cx.refund_budget();
    return pending;
  }

  /// The value if it was sent (and not yet received), without waiting.
  std::optional<T> try_recv() {
    if (!state_ || !(state_->state.load(std::memory_order_acquire) & st::sent))
      return std::nullopt;
    return std::exchange(state_->value, std::nullopt);
  }

 private:
  void close() noexcept {
    if (!state_)
      return;
    // relaxed: the sender only learns that the receiver is gone; it reads nothing we wrote.
    const unsigned prev = state_->state.fetch_or(st::rx_closed, std::memory_order_relaxed);
    // Without tx_done the sender's CAS comes later, sees rx_closed and never reads the waker:
    // release it now (it holds a reference to our task). Otherwise the sender may be waking it;
    // the state's destructor releases it.
    if (!(prev & st::tx_done))
      state_->rx_waker = waker();
    state_.reset();
  }

  // The sender is finished (`s` has tx_done): the value, or the error.
  T take(unsigned s) {
    if ((s & st::sent) && state_->value) {
      T v = std::move(*state_->value);
      state_->value.reset();
      return v;
    }
    kyoto::detail::throw_error(error::channel_closed,
                               (s & st::sent)
                                   ? "oneshot_receiver: the value was already received"
                                   : "oneshot_receiver: the sender was dropped without sending");
  }

  // Shared with the sender.
  std::shared_ptr<st> state_;
};

/// A connected sender/receiver pair.
template <typename T>
std::pair<oneshot_sender<T>, oneshot_receiver<T>> make_oneshot() {
  auto s = std::make_shared<detail::oneshot_state<T>>();
  return {oneshot_sender<T>(s), oneshot_receiver<T>(s)};
}

} // namespace kyoto::sync

#endif // KYOTO_SYNC_ONESHOT_HPP
