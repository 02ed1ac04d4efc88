// kyoto/detail/handler_work.hpp
//
// handler_work<Handler, IoExecutor>: what a pending operation of a kyoto I/O object holds so that
// its handler can run later, and how it runs it. The same contract as Asio's
// detail::handler_work (keep the executors' contexts busy while the operation is pending, then
// invoke the handler the way its associated executor requires), with the shortcut Asio takes
// for io_context's own executor:
//
// - Native: the I/O executor is kyoto::context's executor (as its own type, or as the target of
//   an any_io_executor, as kyoto::steady_timer has it) without blocking.never, and the handler's
//   associated executor is that same executor (the default, and by far the most common case).
//   Nothing is held: the service that keeps the pending operation counts it as outstanding work
//   (timer_service counts each wheel with armed timers as one unit), and the operation completes on
//   a worker of that very context, which invokes the handler directly, as io_context does for its
//   own executor. Asio's handler_work would track the I/O executor and the associated executor
//   separately: two atomic increments per operation, and the matching decrements.
// - Anything else (a strand, another context's executor, an executor with other properties, a
//   Networking TS executor): Asio's handler_work, unchanged.
//
// Thread safety: as the operation that holds it (one thread at a time).

#ifndef KYOTO_DETAIL_HANDLER_WORK_HPP
#define KYOTO_DETAIL_HANDLER_WORK_HPP

#include <kyoto/context.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/detail/handler_invoke_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/query.hpp>

#include <optional>
#include <type_traits>

namespace kyoto::detail {

/// True for kyoto::context's own executor types.
template <typename Executor>
inline constexpr bool is_context_executor = false;

template <typename Allocator, unsigned int Bits>
inline constexpr bool is_context_executor<context::basic_executor_type<Allocator, Bits>> = true;

template <typename Handler, typename IoExecutor>
class handler_work {
  using associated_executor_type = boost::asio::associated_executor_t<Handler, IoExecutor>;

 public:
  handler_work(Handler& handler, const IoExecutor& io_ex) noexcept {
    if (!is_native(handler, io_ex))
      work_.emplace(handler, io_ex);
  }

  /// Whether `handler` on an I/O object with executor `io_ex` runs natively (see above): an
  /// operation may then hold no handler_work at all and invoke the handler directly.
  static bool is_native(Handler& handler, const IoExecutor& io_ex) noexcept {
    if constexpr (!std::is_same_v<associated_executor_type, IoExecutor>) {
      return false;
    } else if constexpr (is_context_executor<IoExecutor>) {
      return may_run_inline(io_ex) && boost::asio::get_associated_executor(handler, io_ex) == io_ex;
    } else if constexpr (requires { io_ex.template target<context::executor_type>(); }) {
      // Type-erased (any_io_executor): native when it wraps the context's plain executor.
      const context::executor_type* target = io_ex.template target<context::executor_type>();
      return target && may_run_inline(*target) &&
             boost::asio::get_associated_executor(handler, io_ex) == io_ex;
    } else {
      return false;
    }
  }

  /// Invokes `function` (which wraps `handler`) as the handler's associated executor requires.
  /// Called on a worker of the I/O executor's context.
  template <typename Function>
  void complete(Function& function, Handler& handler) {
    if (work_)
      work_->complete(function, handler);
    else
      boost_asio_handler_invoke_helpers::invoke(function, handler);
  }

 private:
  // Whether executing on `ex` from one of its workers runs the function inline: not with
  // blocking.never, which kyoto's executor keeps as a run-time property (asio::require(ex,
  // blocking.never) has the same type), and which queues the handler instead.
  template <typename Executor>
  static bool may_run_inline(const Executor& ex) noexcept {
    return boost::asio::query(ex, boost::asio::execution::blocking) !=
           boost::asio::execution::blocking.never;
  }

  // Asio's handler_work (outstanding work on the I/O executor and on the handler's associated
  // executor) unless the handler runs natively.
  std::optional<boost::asio::detail::handler_work<Handler, IoExecutor>> work_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_HANDLER_WORK_HPP
