// kyoto/sync/mpsc.hpp
//
// A bounded multi-producer, single-consumer channel (Tokio's mpsc::channel):
//
//   auto [tx, rx] = kyoto::sync::make_mpsc<int>(16);
//   tx.send(1)      // a future of void: waits while the channel is full; throws
//                   // system_error(channel_closed) when the receiver is gone
//   rx.recv()       // a future of std::optional<T>: nullopt once every sender is gone and the
//                   // buffer is empty
//
// Cancellation safety: a recv future takes a message from the buffer only in the poll that
// returns it, so dropping a pending recv future (e.g. the loser of a select) loses no message.
// A dropped pending send future sends nothing and passes its wake-up on to the next waiting
// sender. Both futures spend one unit of the cooperative budget per ready poll.
//
// Thread safety: senders (copyable) may be used from any threads; the receiver by one thread at
// a time. Internally one mutex guards the buffer and the wakers.

#ifndef KYOTO_SYNC_MPSC_HPP
#define KYOTO_SYNC_MPSC_HPP

#include <kyoto/error.hpp>
#include <kyoto/future.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

namespace kyoto::sync {

namespace detail {
template <typename T>
struct mpsc_state {
  explicit mpsc_state(std::size_t cap) : capacity(cap) {}
  // Guards the members below.
  std::mutex mutex;
  // Messages not yet received.
  std::deque<T> buffer;
  // The bound.
  const std::size_t capacity;
  // Senders waiting for room: (waiter id, waker), oldest first.
  std::list<std::pair<std::uint64_t, waker>> send_waiters;
  // The next waiter id.
  std::uint64_t next_id = 1;
  // The receiver's waker.
  waker rx_waker;
  // Live sender objects.
  std::size_t senders = 1;
  // Set when the receiver is gone.
  bool rx_closed = false;

  /// Wakes the oldest waiting sender (caller holds the mutex; returns the waker to wake after
  /// unlocking).
  waker pop_send_waiter() {
    if (send_waiters.empty())
      return {};
    waker w = std::move(send_waiters.front().second);
    send_waiters.pop_front();
    return w;
  }
};
} // namespace detail

template <typename T>
class mpsc_sender;

/// The future returned by mpsc_sender::send().
template <typename T>
class mpsc_send_future {
 public:
  mpsc_send_future(std::shared_ptr<detail::mpsc_state<T>> s, T v)
      : state_(std::move(s)), value_(std::move(v)) {}
  mpsc_send_future(mpsc_send_future&& o) noexcept
      : state_(std::move(o.state_)), value_(std::move(o.value_)), id_(std::exchange(o.id_, 0)) {}
  mpsc_send_future& operator=(mpsc_send_future&&) = delete;

  ~mpsc_send_future() {
    if (!state_ || !value_)
      return;
    waker pass_on;
    {
      std::lock_guard lock(state_->mutex);
      bool found = false;
      for (auto it = state_->send_waiters.begin(); it != state_->send_waiters.end(); ++it)
        if (it->first == id_) {
          state_->send_waiters.erase(it);
          found = true;
          break;
        }
      // Woken for a free slot but never used it: hand the wake-up to the next sender.
      if (!found && id_ != 0 && state_->buffer.size() < state_->capacity)
        pass_on = state_->pop_send_waiter();
    }
    pass_on.wake();
  }

  kyoto::poll<void> poll(task_context& cx) {
    if (!value_)
      throw std::logic_error("mpsc_send_future polled after it completed");
    if (cx.poll_budget().is_pending())
      return pending;
    waker rx;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->rx_closed)
        kyoto::detail::throw_error(error::channel_closed, "mpsc send: the receiver was dropped");
      if (state_->buffer.size() >= state_->capacity) {
        bool found = false;
        for (auto& [id, w] : state_->send_waiters)
          if (id == id_) {
            if (!w.will_wake(cx.get_waker()))
              w = cx.get_waker();
            found = true;
          }
        if (!found) {
          id_ = state_->next_id++;
          state_->send_waiters.emplace_back(id_, cx.get_waker());
        }
        cx.refund_budget();
        return pending;
      }
      state_->buffer.push_back(std::move(*value_));
      value_.reset();
      rx = std::move(state_->rx_waker);
    }
    rx.wake();
    return ready;
  }

 private:
  // The channel.
  std::shared_ptr<detail::mpsc_state<T>> state_;
  // The message until sent.
  std::optional<T> value_;
  // This future's entry in send_waiters (0: never waited).
  std::uint64_t id_ = 0;
};

template <typename T>
class mpsc_sender {
 public:
  explicit mpsc_sender(std::shared_ptr<detail::mpsc_state<T>> s) : state_(std::move(s)) {}
  mpsc_sender(const mpsc_sender& o) : state_(o.state_) {
    std::lock_guard lock(state_->mutex);
    ++state_->senders;
  }
  mpsc_sender(mpsc_sender&&) noexcept = default;
  mpsc_sender& operator=(const mpsc_sender&) = delete;
  mpsc_sender& operator=(mpsc_sender&&) = delete;
  ~mpsc_sender() {
    if (!state_)
      return;
    waker rx;
    {
      std::lock_guard lock(state_->mutex);
      if (--state_->senders == 0)
        rx = std::move(state_->rx_waker);
    }
    rx.wake();
  }

  /// A future that sends `value`, waiting while the channel is full.
  mpsc_send_future<T> send(T value) const { return {state_, std::move(value)}; }

  /// Sends without waiting. False when full; throws system_error(channel_closed) when the
  /// receiver is gone.
  bool try_send(T value) const {
    waker rx;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->rx_closed)
        kyoto::detail::throw_error(error::channel_closed,
                                   "mpsc try_send: the receiver was dropped");
      if (state_->buffer.size() >= state_->capacity)
        return false;
      state_->buffer.push_back(std::move(value));
      rx = std::move(state_->rx_waker);
    }
    rx.wake();
    return true;
  }

 private:
  // The channel.
  std::shared_ptr<detail::mpsc_state<T>> state_;
};

template <typename T>
class mpsc_receiver;

/// The future returned by mpsc_receiver::recv(): ready with a message, or nullopt when closed.
template <typename T>
class mpsc_recv_future {
 public:
  explicit mpsc_recv_future(detail::mpsc_state<T>* s) : state_(s) {}

  kyoto::poll<std::optional<T>> poll(task_context& cx) {
    if (cx.poll_budget().is_pending())
      return pending;
    waker sender;
    std::optional<T> msg;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->buffer.empty()) {
        if (state_->senders == 0)
          return std::nullopt; // ready, with no message: the channel is closed
        if (!state_->rx_waker.will_wake(cx.get_waker()))
          state_->rx_waker = cx.get_waker();
        cx.refund_budget();
        return pending;
      }
      msg.emplace(std::move(state_->buffer.front()));
      state_->buffer.pop_front();
      sender = state_->pop_send_waiter();
    }
    sender.wake();
    return msg;
  }

 private:
  // The channel, kept alive by the receiver (which must outlive this future).
  detail::mpsc_state<T>* state_;
};

template <typename T>
class mpsc_receiver {
 public:
  explicit mpsc_receiver(std::shared_ptr<detail::mpsc_state<T>> s) : state_(std::move(s)) {}
  mpsc_receiver(mpsc_receiver&&) noexcept = default;
  mpsc_receiver& operator=(mpsc_receiver&&) = delete;
  ~mpsc_receiver() {
    if (!state_)
      return;
    std::list<std::pair<std::uint64_t, waker>> waiters;
    {
      std::lock_guard lock(state_->mutex);
      state_->rx_closed = true;
      state_->rx_waker = waker();
      waiters.swap(state_->send_waiters);
    }
    for (auto& [id, w] : waiters)
      w.wake();
  }

  /// A future of the next message (nullopt once closed and drained). Must not outlive *this.
  mpsc_recv_future<T> recv() { return mpsc_recv_future<T>(state_.get()); }

  /// The next message if one is buffered.
  std::optional<T> try_recv() {
    waker sender;
    std::optional<T> msg;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->buffer.empty())
        return msg;
      msg.emplace(std::move(state_->buffer.front()));
      state_->buffer.pop_front();
      sender = state_->pop_send_waiter();
    }
    sender.wake();
    return msg;
  }

 private:
  // The channel.
  std::shared_ptr<detail::mpsc_state<T>> state_;
};

/// A channel that buffers up to `capacity` messages. Throws std::invalid_argument when
/// capacity is 0.
template <typename T>
std::pair<mpsc_sender<T>, mpsc_receiver<T>> make_mpsc(std::size_t capacity) {
  if (capacity == 0)
    throw std::invalid_argument("kyoto::sync::make_mpsc: capacity must be at least 1");
  auto s = std::make_shared<detail::mpsc_state<T>>(capacity);
  return {mpsc_sender<T>(s), mpsc_receiver<T>(s)};
}

} // namespace kyoto::sync

#endif // KYOTO_SYNC_MPSC_HPP
