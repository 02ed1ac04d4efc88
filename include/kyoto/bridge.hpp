// kyoto/bridge.hpp
//
// kyoto::async_poll(ex, future, token): any kyoto::future as an Asio asynchronous operation,
// through async_initiate, so callbacks, use_awaitable, deferred and use_future all work.
// Completion signature void(std::exception_ptr, T) (void(std::exception_ptr) for T = void);
// the future is polled on `ex` (any Asio executor) and the handler runs on its associated
// executor (default: ex). Each wake posts one poll to ex (detail/future_op.hpp). Inside an
// asio::awaitable: `int v = co_await kyoto::async_poll(ex, fut, asio::use_awaitable);`.
//
// Per-operation cancellation: terminal. The future is destroyed (on ex, never during a poll) and
// the operation completes with system_error(asio::error::operation_aborted). Whatever the future
// had done before stays done (the meaning of terminal).
// Thread safety: as Asio's initiating functions.

#ifndef KYOTO_BRIDGE_HPP
#define KYOTO_BRIDGE_HPP

#include <kyoto/detail/future_op.hpp>
#include <kyoto/future.hpp>
#include <kyoto/task.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <exception>
#include <type_traits>
#include <utility>

namespace kyoto {

template <typename Executor, future F, typename Token>
auto async_poll(const Executor& ex, F&& f, Token&& token) {
  using T = future_output_t<std::decay_t<F>>;
  using sig = typename detail::join_signature<T>::type;
  return boost::asio::async_initiate<Token, sig>(
      [](auto handler, std::decay_t<F> fut, Executor e) {
        detail::future_op<std::decay_t<F>, decltype(handler), Executor>::start(
            std::move(fut), std::move(handler), e);
      },
      token, std::forward<F>(f), ex);
}

} // namespace kyoto

#endif // KYOTO_BRIDGE_HPP
