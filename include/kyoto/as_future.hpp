// kyoto/as_future.hpp
//
// kyoto::as_future: a completion token that turns any Asio asynchronous operation into a
// kyoto::future of its completion's arguments.
//
//   auto f = timer.async_wait(kyoto::as_future);             // future of error_code
//   auto g = socket.async_read_some(buf, kyoto::as_future);  // future of tuple<error_code, size_t>
//   auto h = asio::post(ctx, kyoto::as_future);              // future of void
//
// Output: for a completion signature void(A), an A; for void(A, B, ...), a std::tuple<A, B, ...>;
// for void(), void. Errors are values (the error_code is part of the output); nothing is thrown,
// except system_error(kyoto::error::context_shut_down) when the operation's handler was
// destroyed without being called (its execution context was shut down first).
//
// The operation starts at once, inside the initiating call (as with asio::use_future), on its
// I/O object's executor; the future only waits for it. Dropping the future does not cancel the
// operation: its result is discarded when it completes. A ready poll spends one unit of the
// cooperative budget.
//
// Thread safety: the operation may complete on any thread; the future is polled by one thread at
// a time.

#ifndef KYOTO_AS_FUTURE_HPP
#define KYOTO_AS_FUTURE_HPP

#include <kyoto/error.hpp>
#include <kyoto/future.hpp>

#include <boost/asio/async_result.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace kyoto {

/// The type of kyoto::as_future.
struct as_future_t {
  constexpr as_future_t() = default;
};

/// Completion token: the initiating function returns a kyoto::operation_future.
inline constexpr as_future_t as_future{};

namespace detail {

/// The output of an operation_future for completion arguments Args...
template <typename... Args>
struct as_future_output {
  using type = std::tuple<Args...>;
};
template <typename A>
struct as_future_output<A> {
  using type = A;
};
template <>
struct as_future_output<> {
  using type = void;
};

/// Shared by the operation's handler and the future.
template <typename T>
struct as_future_state {
  // Guards the members below.
  std::mutex mutex;
  // The completion's arguments, once the handler ran (std::monostate for void).
  std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>> value;
  // Set when the handler was destroyed without being called.
  bool abandoned = false;
  // The waker of the last pending poll.
  waker w;
};

/// The completion handler given to the operation.
template <typename T, typename... Args>
class as_future_handler {
 public:
  explicit as_future_handler(std::shared_ptr<as_future_state<T>> s) noexcept
      : state_(std::move(s)) {}
  as_future_handler(as_future_handler&&) noexcept = default;
  as_future_handler& operator=(as_future_handler&&) = delete;
  ~as_future_handler() {
    if (state_)
      finish([](auto&) { return false; });
  }

  void operator()(Args... args) {
    finish([&](auto& v) {
      v.emplace(std::move(args)...); // monostate, the one argument, or a tuple of them
      return true;
    });
  }

 private:
  template <typename Store>
  void finish(Store store) noexcept {
    auto s = std::move(state_);
    waker w;
    {
      std::lock_guard lock(s->mutex);
      try {
        if (!store(s->value))
          s->abandoned = true;
      } catch (...) {
        s->abandoned = true; // A value's move constructor threw.
      }
      w = std::move(s->w);
    }
    w.wake();
  }

  // Shared with the future; null once the handler ran (or was moved from).
  std::shared_ptr<as_future_state<T>> state_;
};

} // namespace detail

/// The future returned by an operation started with kyoto::as_future. T is the output type.
template <typename T>
class operation_future {
 public:
  using output_type = T;

  explicit operation_future(std::shared_ptr<detail::as_future_state<T>> s) noexcept
      : state_(std::move(s)) {}

  /// Ready with the completion's arguments. Throws system_error(context_shut_down) when the
  /// handler was destroyed without being called, std::logic_error when polled after it returned
  /// ready.
  kyoto::poll<T> poll(task_context& cx) {
    if (!state_)
      throw std::logic_error("kyoto::operation_future polled after it completed");
    if (cx.poll_budget().is_pending())
      return pending;
    std::unique_lock lock(state_->mutex);
    if (state_->value) {
      auto v = std::move(*state_->value);
      lock.unlock();
      state_.reset();
      if constexpr (std::is_void_v<T>)
        return ready;
      else
        return kyoto::poll<T>(std::move(v));
    }
    if (state_->abandoned) {
      lock.unlock();
      state_.reset();
      detail::throw_error(error::context_shut_down,
                          "kyoto::as_future: the operation was abandoned (its execution context "
                          "was shut down before it completed)");
    }
    if (!state_->w.will_wake(cx.get_waker()))
      state_->w = cx.get_waker();
    lock.unlock();
    cx.refund_budget();
    return pending;
  }

 private:
  // Shared with the handler; null after the ready poll.
  std::shared_ptr<detail::as_future_state<T>> state_;
};

} // namespace kyoto

template <typename... Args>
class boost::asio::async_result<kyoto::as_future_t, void(Args...)> {
  using output = typename kyoto::detail::as_future_output<std::decay_t<Args>...>::type;

 public:
  using return_type = kyoto::operation_future<output>;

  template <typename Initiation, typename... InitArgs>
  static return_type initiate(Initiation&& init, kyoto::as_future_t, InitArgs&&... args) {
    auto s = std::make_shared<kyoto::detail::as_future_state<output>>();
    std::forward<Initiation>(init)(
        kyoto::detail::as_future_handler<output, std::decay_t<Args>...>(s),
        std::forward<InitArgs>(args)...);
    return return_type(std::move(s));
  }
};

#endif // KYOTO_AS_FUTURE_HPP
