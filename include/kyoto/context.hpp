// kyoto/context.hpp
//
// kyoto::context: an Asio execution context with Tokio's multi-thread scheduler, a drop-in for
// boost::asio::io_context.
//
//   kyoto::context ctx{2};                 // two worker slots
//   asio::co_spawn(ctx, session(), asio::detached);
//   std::thread t([&] { ctx.run(); });     // up to 2 threads may run it, as with io_context
//   ctx.run();
//   t.join();
//
// Semantics follow io_context: run() runs handlers until there is no outstanding work or stop()
// is called; stop() is sticky until restart(); a handler's exception propagates out of the
// run() call that ran it and the context stays usable; handlers still queued when the context is
// destroyed are destroyed without being run. Differences, by design:
// - At most concurrency() threads may be inside run()/poll()/... at once; one more gets
//   system_error(kyoto::error::no_free_worker).
// - Handlers posted from one thread may run out of posting order when several threads run the
//   context (also true of io_context). With one thread: handlers posted from outside run in
//   FIFO order, and so do handlers posted from a handler, as long as fewer than 256 are queued
//   (a full local queue moves its newest half to the shared queue); a continuation (asio::defer,
//   a woken task) runs before earlier posts, at most 3 in a row, unless
//   context_options::lifo_slot is false. Use a strand where order matters.
//
// Thread safety: distinct objects safe; shared objects safe, except that restart() must not
// race with a run() call, and the destructor with anything.

#ifndef KYOTO_CONTEXT_HPP
#define KYOTO_CONTEXT_HPP

#include <kyoto/context_options.hpp>
#include <kyoto/detail/runtime.hpp>
#include <kyoto/error.hpp>
#include <kyoto/metrics.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#if !defined(BOOST_ASIO_NO_DEPRECATED)
#include <boost/asio/detail/wrapped_handler.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#endif

#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>

namespace kyoto {

class context : public boost::asio::execution_context {
 public:
  template <typename Allocator, unsigned int Bits>
  class basic_executor_type;

  /// The executor type: standard and Networking TS executor models, untracked, blocking.possibly.
  using executor_type = basic_executor_type<std::allocator<void>, 0>;

  using count_type = std::size_t;

  /// io_context::strand's interface on asio::strand<executor_type> (impl/context_strand.hpp).
  class strand;

  /// One worker slot per hardware thread.
  context();

  /// `concurrency` worker slots: at most that many threads run the context at once. Throws
  /// system_error(kyoto::error::invalid_concurrency) when it is less than 1.
  explicit context(int concurrency, const context_options& options = {});

  /// Shuts down every service (destroying pending operations and queued handlers without
  /// running them), then destroys them.
  ~context();

  context(const context&) = delete;
  context& operator=(const context&) = delete;

  executor_type get_executor() noexcept;

  /// Runs handlers until no work is left or stop() is called. Returns how many ran.
  count_type run();

  /// Runs at most one handler, blocking until one is ready (or no work is left, or stopped).
  count_type run_one();

  /// run() / run_one() with a time limit.
  template <typename Rep, typename Period>
  count_type run_for(const std::chrono::duration<Rep, Period>& rel_time) {
    return run_until(std::chrono::steady_clock::now() + rel_time);
  }
  template <typename Clock, typename Duration>
  count_type run_until(const std::chrono::time_point<Clock, Duration>& abs_time) {
    return runtime_.run_until(to_steady(abs_time));
  }
  template <typename Rep, typename Period>
  count_type run_one_for(const std::chrono::duration<Rep, Period>& rel_time) {
    return run_one_until(std::chrono::steady_clock::now() + rel_time);
  }
  template <typename Clock, typename Duration>
  count_type run_one_until(const std::chrono::time_point<Clock, Duration>& abs_time) {
    return runtime_.run_one_until(to_steady(abs_time));
  }

  /// Runs the handlers that are ready now, without blocking.
  count_type poll();

  /// Runs at most one ready handler, without blocking.
  count_type poll_one();

  /// Makes every run() call return as soon as possible; sticky until restart().
  void stop();

  bool stopped() const;

  /// Clears the stopped state so that run() may be called again.
  void restart();

  /// The number of worker slots.
  std::size_t concurrency() const noexcept { return runtime_.concurrency(); }

  /// A snapshot of the scheduler's counters.
  runtime_metrics metrics() const { return runtime_.metrics(); }

  /// The scheduler itself, for kyoto's own components (tasks, timers).
  detail::runtime& impl() noexcept { return runtime_; }

#if !defined(BOOST_ASIO_NO_DEPRECATED)
  // io_context's deprecated interfaces, which Asio 1.81 still has unless BOOST_ASIO_NO_DEPRECATED
  // is defined, for existing code that uses them; each does what io_context's does.

  /// Keeps run() from running out of work while it exists (io_context::work).
  class work;

  count_type run(boost::system::error_code& ec) {
    ec.clear();
    return run();
  }
  count_type run_one(boost::system::error_code& ec) {
    ec.clear();
    return run_one();
  }
  count_type poll(boost::system::error_code& ec) {
    ec.clear();
    return poll();
  }
  count_type poll_one(boost::system::error_code& ec) {
    ec.clear();
    return poll_one();
  }

  /// restart().
  void reset() {
    restart();
  }

  /// asio::dispatch(*this, token): inline when called from one of this context's workers.
  template <typename CompletionToken>
  auto dispatch(CompletionToken&& token) {
    return boost::asio::dispatch(*this, std::forward<CompletionToken>(token));
  }

  /// asio::post(*this, token).
  template <typename CompletionToken>
  auto post(CompletionToken&& token) {
    return boost::asio::post(*this, std::forward<CompletionToken>(token));
  }

  /// A handler that dispatch()es `handler`, with its arguments, on this context when called.
  template <typename Handler>
  boost::asio::detail::wrapped_handler<context&, Handler> wrap(Handler handler) {
    return boost::asio::detail::wrapped_handler<context&, Handler>(*this, handler);
  }
#endif

 private:
  template <typename Clock, typename Duration>
  static std::chrono::steady_clock::time_point
  to_steady(const std::chrono::time_point<Clock, Duration>& t) {
    if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>)
      return std::chrono::time_point_cast<std::chrono::steady_clock::duration>(t);
    else
      return std::chrono::steady_clock::now() +
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(t - Clock::now());
  }

  detail::runtime runtime_;
};

#if !defined(BOOST_ASIO_NO_DEPRECATED)
class context::work {
 public:
  explicit work(context& ctx) noexcept : ctx_(ctx) { ctx_.impl().work_started(); }
  work(const work& other) noexcept : ctx_(other.ctx_) { ctx_.impl().work_started(); }
  work& operator=(const work&) = delete;
  ~work() { ctx_.impl().work_finished(); }

  context& get_io_context() noexcept { return ctx_; }

 private:
  context& ctx_;
};
#endif

} // namespace kyoto

#include <kyoto/impl/context_executor.hpp>
#include <kyoto/impl/context_strand.hpp>

#endif // KYOTO_CONTEXT_HPP
