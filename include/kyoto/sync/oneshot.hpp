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
// one thread at a time.

#ifndef KYOTO_SYNC_ONESHOT_HPP
#define KYOTO_SYNC_ONESHOT_HPP

#include <kyoto/error.hpp>
#include <kyoto/future.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace kyoto::sync {

namespace detail {
template <typename T>
struct oneshot_state {
  // Guards the members below.
  std::mutex mutex;
  // The value, once sent and not yet received.
  std::optional<T> value;
  // The receiver's waker.
  waker rx_waker;
  // Set when the sender is gone (after sending or not), and when the receiver is gone.
  bool tx_closed = false;
  bool rx_closed = false;
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
    if (!state_)
      return false;
    waker w;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->rx_closed || state_->tx_closed)
        return false;
      state_->value.emplace(std::move(value));
      state_->tx_closed = true;
      w = std::move(state_->rx_waker);
    }
    w.wake();
    state_.reset();
    return true;
  }

  /// True when the receiver was dropped.
  bool is_closed() const {
    if (!state_)
      return true;
    std::lock_guard lock(state_->mutex);
    return state_->rx_closed;
  }

 private:
  void close() noexcept {
    if (!state_)
      return;
    waker w;
    {
      std::lock_guard lock(state_->mutex);
      state_->tx_closed = true;
      w = std::move(state_->rx_waker);
    }
    w.wake();
    state_.reset();
  }

  // Shared with the receiver; null after send.
  std::shared_ptr<detail::oneshot_state<T>> state_;
};

template <typename T>
class oneshot_receiver {
 public:
  explicit oneshot_receiver(std::shared_ptr<detail::oneshot_state<T>> s) : state_(std::move(s)) {}
  oneshot_receiver(oneshot_receiver&&) noexcept = default;
  oneshot_receiver& operator=(oneshot_receiver&&) noexcept = default;
  ~oneshot_receiver() {
    if (state_) {
      std::lock_guard lock(state_->mutex);
      state_->rx_closed = true;
      state_->rx_waker = waker();
    }
  }

  /// Ready with the value; throws system_error(channel_closed) when the sender was dropped
  /// without sending (or the value was already received).
  kyoto::poll<T> poll(task_context& cx) {
    if (!state_)
      kyoto::detail::throw_error(error::channel_closed, "oneshot_receiver: moved from");
    if (cx.poll_budget().is_pending())
      return pending;
    std::unique_lock lock(state_->mutex);
    if (state_->value) {
      T v = std::move(*state_->value);
      state_->value.reset();
      return v;
    }
    if (state_->tx_closed) {
      lock.unlock();
      kyoto::detail::throw_error(error::channel_closed,
                                 "oneshot_receiver: the sender was dropped without sending");
    }
    if (!state_->rx_waker.will_wake(cx.get_waker()))
      state_->rx_waker = cx.get_waker();
    cx.refund_budget();
    return pending;
  }

  /// The value if it was sent, without waiting.
  std::optional<T> try_recv() {
    std::lock_guard lock(state_->mutex);
    return std::exchange(state_->value, std::nullopt);
  }

 private:
  // Shared with the sender.
  std::shared_ptr<detail::oneshot_state<T>> state_;
};

/// A connected sender/receiver pair.
template <typename T>
std::pair<oneshot_sender<T>, oneshot_receiver<T>> make_oneshot() {
  auto s = std::make_shared<detail::oneshot_state<T>>();
  return {oneshot_sender<T>(s), oneshot_receiver<T>(s)};
}

} // namespace kyoto::sync

#endif // KYOTO_SYNC_ONESHOT_HPP
