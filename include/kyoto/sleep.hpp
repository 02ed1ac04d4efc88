// kyoto/sleep.hpp
//
// kyoto::sleep_for / kyoto::sleep_until: an asynchronous pause on kyoto's timer wheels without
// a timer object, with any completion token:
//
//   co_await kyoto::sleep_for(100ms, asio::use_awaitable);          // the coroutine's executor
//   kyoto::sleep_for(ctx, 100ms, [](boost::system::error_code) {}); // an explicit context
//   auto f = kyoto::sleep_for(ex, 1s, asio::use_future);            // an explicit executor
//
// Which executor. The overloads without an executor use the completion handler's associated
// executor, the way a coroutine or a strand-bound handler already carries one
// (asio::use_awaitable, bind_executor(ex, token)); it must belong to a kyoto::context. A
// handler with no associated executor (a plain lambda, use_future) has nowhere to run, and
// that overload throws system_error(invalid_argument) saying so: pass an executor or a context
// instead. The overloads with an executor or context use it for the timer; the handler still
// runs on its own associated executor if it has one (default: that executor).
//
// Completion signature: void(boost::system::error_code): success when the time has passed,
// operation_aborted when cancelled through the handler's cancellation slot (terminal, partial
// or total). The sleep counts as outstanding work, and is destroyed without being run when the
// context is destroyed first.
//
// Thread safety: may be called from any thread.

#ifndef KYOTO_SLEEP_HPP
#define KYOTO_SLEEP_HPP

#include <kyoto/basic_waitable_timer.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/wait_traits.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <memory>
#include <type_traits>
#include <utility>

namespace kyoto {

namespace detail {

/// The handler of a sleep's timer: owns the timer and forwards the completion (and every
/// associated property, through asio::associator) to the user's handler.
template <typename Handler, typename Timer>
class sleep_handler {
 public:
  sleep_handler(std::unique_ptr<Timer> timer, Handler handler)
      : timer_(std::move(timer)), handler_(std::move(handler)) {}

  void operator()(const boost::system::error_code& ec) { std::move(handler_)(ec); }

  const Handler& get() const noexcept { return handler_; }

 private:
  // The timer the wait runs on; destroyed with the handler, once the wait is over.
  std::unique_ptr<Timer> timer_;
  // The user's completion handler.
  Handler handler_;
};

template <typename T>
inline constexpr bool is_executor_v =
    boost::asio::execution::is_executor<T>::value || boost::asio::is_executor<T>::value;

/// Starts a sleep until `expiry` (Clock's time point) or for `d` on executor `ex`.
template <typename Clock, typename Handler, typename Executor, typename When>
void start_sleep(Handler&& handler, const Executor& ex, const When& when) {
  using timer_type = basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, Executor>;
  auto timer = std::make_unique<timer_type>(ex, when);
  timer_type& t = *timer;
  t.async_wait(sleep_handler<std::decay_t<Handler>, timer_type>(std::move(timer),
                                                                std::forward<Handler>(handler)));
}

/// Initiation of the overloads that are given an executor.
template <typename Clock>
struct initiate_sleep_on {
  template <typename Handler, typename Executor, typename When>
  void operator()(Handler&& handler, const Executor& ex, const When& when) const {
    start_sleep<Clock>(std::forward<Handler>(handler), ex, when);
  }
};

/// Initiation of the overloads that use the handler's associated executor.
template <typename Clock>
struct initiate_sleep {
  template <typename Handler, typename When>
  void operator()(Handler&& handler, const When& when) const {
    using executor_type = boost::asio::associated_executor_t<std::decay_t<Handler>>;
    if constexpr (std::is_same_v<executor_type, boost::asio::system_executor>) {
      throw boost::system::system_error(
          make_error_code(boost::system::errc::invalid_argument),
          "kyoto::sleep_for/sleep_until: the completion handler has no associated executor; "
          "pass an executor or a kyoto::context as the first argument");
    } else {
      const executor_type ex = boost::asio::get_associated_executor(handler);
      start_sleep<Clock>(std::forward<Handler>(handler), ex, when);
    }
  }
};

} // namespace detail

/// Completes `d` from now, on the completion handler's associated executor.
template <typename Rep, typename Period,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) Token>
auto sleep_for(const std::chrono::duration<Rep, Period>& d, Token&& token) {
  using clock = std::chrono::steady_clock;
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      detail::initiate_sleep<clock>{}, token, std::chrono::ceil<clock::duration>(d));
}

/// Completes at `t`, on the completion handler's associated executor.
template <typename Clock, typename Duration,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) Token>
auto sleep_until(const std::chrono::time_point<Clock, Duration>& t, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      detail::initiate_sleep<Clock>{}, token, std::chrono::ceil<typename Clock::duration>(t));
}

/// Completes `d` from now; the timer runs on `ex`, which must belong to a kyoto::context.
template <typename Executor, typename Rep, typename Period,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) Token =
              boost::asio::default_completion_token_t<Executor>>
requires detail::is_executor_v<Executor>
auto sleep_for(const Executor& ex, const std::chrono::duration<Rep, Period>& d,
               Token&& token = boost::asio::default_completion_token_t<Executor>()) {
  using clock = std::chrono::steady_clock;
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      detail::initiate_sleep_on<clock>{}, token, ex, std::chrono::ceil<clock::duration>(d));
}

/// Completes at `t`; the timer runs on `ex`, which must belong to a kyoto::context.
template <typename Executor, typename Clock, typename Duration,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) Token =
              boost::asio::default_completion_token_t<Executor>>
requires detail::is_executor_v<Executor>
auto sleep_until(const Executor& ex, const std::chrono::time_point<Clock, Duration>& t,
                 Token&& token = boost::asio::default_completion_token_t<Executor>()) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      detail::initiate_sleep_on<Clock>{}, token, ex,
      std::chrono::ceil<typename Clock::duration>(t));
}

/// Completes `d` from now on `ctx`'s executor.
template <typename Rep, typename Period,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
              Token = boost::asio::default_completion_token_t<context::executor_type>>
auto sleep_for(context& ctx, const std::chrono::duration<Rep, Period>& d,
               Token&& token = boost::asio::default_completion_token_t<context::executor_type>()) {
  return kyoto::sleep_for(ctx.get_executor(), d, std::forward<Token>(token));
}

/// Completes at `t` on `ctx`'s executor.
template <typename Clock, typename Duration,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
              Token = boost::asio::default_completion_token_t<context::executor_type>>
auto sleep_until(
    context& ctx, const std::chrono::time_point<Clock, Duration>& t,
    Token&& token = boost::asio::default_completion_token_t<context::executor_type>()) {
  return kyoto::sleep_until(ctx.get_executor(), t, std::forward<Token>(token));
}

} // namespace kyoto

template <template <typename, typename> class Associator, typename Handler, typename Timer,
          typename DefaultCandidate>
struct boost::asio::associator<Associator, kyoto::detail::sleep_handler<Handler, Timer>,
                               DefaultCandidate> {
  using type = typename Associator<Handler, DefaultCandidate>::type;

  static type get(const kyoto::detail::sleep_handler<Handler, Timer>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.get());
  }

  static auto get(const kyoto::detail::sleep_handler<Handler, Timer>& h,
                  const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.get(), c)) {
    return Associator<Handler, DefaultCandidate>::get(h.get(), c);
  }
};

#endif // KYOTO_SLEEP_HPP
