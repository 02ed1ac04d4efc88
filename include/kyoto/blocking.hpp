// kyoto/blocking.hpp
//
// kyoto::spawn_blocking: runs a function that blocks (file I/O, a C library, a long
// computation) on a separate pool of threads, so that it does not hold up the context's
// workers, and joins it as a task.
//
//   auto h = kyoto::spawn_blocking(ctx, [] { return read_whole_file("big.bin"); });
//   auto bytes = co_await h.join();      // or poll h in a task, or block_on(ctx, std::move(h))
//
// The pool belongs to the context (an Asio service): threads are started on demand, up to
// blocking_options::max_threads (512 by default); calls beyond that wait in a FIFO queue. A
// thread that stays idle for blocking_options::keep_alive (10 s by default) exits. Change both
// with kyoto::set_blocking_options(ctx, options) (it applies to what happens next).
//
// The result: the function's value, or its exception, is delivered through the join_handle,
// whose waiting task is woken. The call counts as outstanding work of the context until its
// result is delivered, so ctx.run() does not return while a blocking call is pending.
// Aborting the handle (join_handle::abort) before the function started means it never runs;
// once it runs it cannot be interrupted, and its result is dropped.
//
// Shutdown: the context's destruction joins the functions that are running (it waits for them
// to return), and drops those still queued without running them (their handles, if polled
// then, report kyoto::error::task_aborted, as every task cancelled by shutdown does).
//
// Thread safety: spawn_blocking and set_blocking_options may be called from any thread.

#ifndef KYOTO_BLOCKING_HPP
#define KYOTO_BLOCKING_HPP

#include <kyoto/context.hpp>
#include <kyoto/detail/blocking_pool.hpp>
#include <kyoto/detail/blocking_task.hpp>
#include <kyoto/task.hpp>

#include <boost/asio/execution_context.hpp>

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace kyoto {

/// Sets the blocking pool's settings for `ctx`. Throws std::invalid_argument when
/// max_threads is 0 or keep_alive is negative.
inline void set_blocking_options(kyoto::context& ctx, const blocking_options& options) {
  boost::asio::use_service<detail::blocking_pool>(ctx).set_options(options);
}

/// The blocking pool's current settings for `ctx`.
inline blocking_options get_blocking_options(kyoto::context& ctx) {
  return boost::asio::use_service<detail::blocking_pool>(ctx).options();
}

/// Runs `fn()` on ctx's blocking pool; returns the join handle of a task that waits for it.
/// Any thread.
template <typename Fn>
requires std::is_invocable_v < std::decay_t<Fn>
& > auto spawn_blocking(kyoto::context& ctx, Fn&& fn) {
  using R = std::invoke_result_t<std::decay_t<Fn>&>;
  auto& pool = boost::asio::use_service<detail::blocking_pool>(ctx);
  auto state = std::make_shared<detail::blocking_state<R>>();
  auto job =
      std::make_unique<detail::blocking_job<std::decay_t<Fn>, R>>(std::forward<Fn>(fn), state);
  auto h = kyoto::spawn(ctx, detail::blocking_future<R>(state));
  try {
    pool.submit(job.release());
  } catch (...) {
    // No thread could be started: report it through the handle as well as here.
    state->finish(detail::task_result<R>(std::in_place_index<1>, std::current_exception()));
    throw;
  }
  return h;
}

/// Runs `fn()` on the blocking pool of the context of a kyoto::context executor.
template <typename Allocator, unsigned int Bits, typename Fn>
auto spawn_blocking(const context::basic_executor_type<Allocator, Bits>& ex, Fn&& fn) {
  return kyoto::spawn_blocking(ex.context(), std::forward<Fn>(fn));
}

} // namespace kyoto

#endif // KYOTO_BLOCKING_HPP
