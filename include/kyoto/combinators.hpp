// kyoto/combinators.hpp
//
// Futures made of futures, polled inside one task:
//
//   join(a, b, ...)      ready when all are; a std::tuple of their outputs (std::monostate
//                        for void). An exception from one is rethrown at once (the others are
//                        destroyed with the join future).
//   select(a, b, ...)    ready when the first is; a std::variant whose index() says which won,
//                        holding its output. The losers are destroyed at once, without being
//                        polled again. Polling starts at a rotating index, so no branch starves.
//   timeout(ex, d, f)    f's output, or system_error(asio::error::timed_out) when d elapses
//                        first (an asio::steady_timer on `ex`; kyoto's wheel replaces it later).
//
// A branch is never polled again after it returned ready.
//
// Thread safety: as for any future, polled by one thread at a time.

#ifndef KYOTO_COMBINATORS_HPP
#define KYOTO_COMBINATORS_HPP

#include <kyoto/future.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace kyoto {

namespace detail {
template <typename T>
using value_or_monostate = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
}

/// The future returned by join().
template <future... F>
class join_future {
  using outputs = std::tuple<detail::value_or_monostate<future_output_t<F>>...>;

 public:
  explicit join_future(F... f) : futures_(std::move(f)...) {}

  kyoto::poll<outputs> poll(task_context& cx) {
    bool all = true;
    poll_all(cx, all, std::index_sequence_for<F...>{});
    if (!all)
      return pending;
    return take(std::index_sequence_for<F...>{});
  }

 private:
  template <std::size_t... I>
  void poll_all(task_context& cx, bool& all, std::index_sequence<I...>) {
    (poll_one<I>(cx, all), ...);
  }
  template <std::size_t I>
  void poll_one(task_context& cx, bool& all) {
    auto& out = std::get<I>(results_);
    if (out)
      return;
    auto r = std::get<I>(futures_).poll(cx);
    if (r.is_pending()) {
      all = false;
      return;
    }
    if constexpr (std::is_void_v<future_output_t<std::tuple_element_t<I, std::tuple<F...>>>>)
      out.emplace();
    else
      out.emplace(std::move(r).value());
  }
  template <std::size_t... I>
  outputs take(std::index_sequence<I...>) {
    return outputs(std::move(*std::get<I>(results_))...);
  }

  // The branches.
  std::tuple<F...> futures_;
  // The outputs of the branches that finished.
  std::tuple<std::optional<detail::value_or_monostate<future_output_t<F>>>...> results_;
};

/// Polls all futures; ready with all their outputs.
template <future... F>
join_future<std::decay_t<F>...> join(F&&... f) {
  return join_future<std::decay_t<F>...>(std::forward<F>(f)...);
}

/// The future returned by select().
template <future... F>
class select_future {
  static_assert(sizeof...(F) >= 1, "kyoto::select needs at least one future");

 public:
  using output_type = std::variant<detail::value_or_monostate<future_output_t<F>>...>;

  explicit select_future(F... f) : futures_(std::in_place, std::move(f)...) {}

  kyoto::poll<output_type> poll(task_context& cx) {
    if (!futures_)
      throw std::logic_error("kyoto::select polled after it completed");
    std::optional<output_type> out;
    constexpr std::size_t n = sizeof...(F);
    for (std::size_t k = 0; k < n && !out; ++k)
      poll_index((start_ + k) % n, cx, out, std::index_sequence_for<F...>{});
    start_ = (start_ + 1) % n;
    if (!out)
      return pending;
    futures_.reset(); // the losers are destroyed now
    return std::move(*out);
  }

 private:
  template <std::size_t... I>
  void poll_index(std::size_t i, task_context& cx, std::optional<output_type>& out,
                  std::index_sequence<I...>) {
    ((i == I ? poll_one<I>(cx, out) : void()), ...);
  }
  template <std::size_t I>
  void poll_one(task_context& cx, std::optional<output_type>& out) {
    auto r = std::get<I>(*futures_).poll(cx);
    if (r.is_pending())
      return;
    if constexpr (std::is_void_v<future_output_t<std::tuple_element_t<I, std::tuple<F...>>>>)
      out.emplace(std::in_place_index<I>);
    else
      out.emplace(std::in_place_index<I>, std::move(r).value());
  }

  // The branches, until one wins.
  std::optional<std::tuple<F...>> futures_;
  // The branch polled first next time.
  std::size_t start_ = 0;
};

/// Ready with the output of the first future to finish; the others are dropped.
template <future... F>
select_future<std::decay_t<F>...> select(F&&... f) {
  return select_future<std::decay_t<F>...>(std::forward<F>(f)...);
}

/// The future returned by timeout().
template <typename Executor, future F>
class timeout_future {
  struct shared {
    // Guards the members below.
    std::mutex mutex;
    // Set when the timer fired (not when it was cancelled).
    bool expired = false;
    // The waker of the last poll.
    waker w;
  };

 public:
  timeout_future(const Executor& ex, std::chrono::steady_clock::duration d, F f)
      : ex_(ex), duration_(d), future_(std::move(f)) {}

  kyoto::poll<future_output_t<F>> poll(task_context& cx) {
    auto r = future_.poll(cx);
    if (r.is_ready())
      return r;
    if (!timer_) {
      state_ = std::make_shared<shared>();
      timer_.emplace(ex_, duration_);
      timer_->async_wait([s = state_](boost::system::error_code ec) {
        if (ec)
          return;
        waker w;
        {
          std::lock_guard lock(s->mutex);
          s->expired = true;
          w = std::move(s->w);
        }
        w.wake();
      });
    }
    std::lock_guard lock(state_->mutex);
    if (state_->expired)
      throw boost::system::system_error(boost::asio::error::timed_out, "kyoto::timeout");
    if (!state_->w.will_wake(cx.get_waker()))
      state_->w = cx.get_waker();
    return pending;
  }

 private:
  // Where the timer runs.
  Executor ex_;
  // The time limit, counted from the first poll.
  std::chrono::steady_clock::duration duration_;
  // The inner future.
  F future_;
  // Shared with the timer's handler.
  std::shared_ptr<shared> state_;
  // Armed on the first poll that returned pending.
  std::optional<boost::asio::steady_timer> timer_;
};

/// `f`, limited to `d` from its first poll; the timer runs on `ex` (any Asio executor).
template <typename Executor, typename Rep, typename Period, future F>
timeout_future<Executor, std::decay_t<F>> timeout(const Executor& ex,
                                                  std::chrono::duration<Rep, Period> d, F&& f) {
  return timeout_future<Executor, std::decay_t<F>>(
      ex, std::chrono::duration_cast<std::chrono::steady_clock::duration>(d), std::forward<F>(f));
}

} // namespace kyoto

#endif // KYOTO_COMBINATORS_HPP
