// kyoto/basic_waitable_timer.hpp
//
// kyoto::basic_waitable_timer: boost::asio::basic_waitable_timer's interface on kyoto's
// per-worker timer wheels (doc/timers.md). Swapping asio::steady_timer for kyoto::steady_timer
// is a type change:
//
//   kyoto::context ctx{4};
//   kyoto::steady_timer t(ctx, std::chrono::milliseconds(100));
//   t.async_wait([](boost::system::error_code ec) { ... });     // or use_awaitable, deferred ...
//
// The timer works with any executor whose execution context is a kyoto::context (its own
// executor, any_io_executor, strands of either). Other executors are rejected: at compile time
// for io_context::executor_type, otherwise with system_error(invalid_argument) at construction.
//
// Semantics follow Asio: a wait completes with success once the expiry has passed (never
// earlier; late by at most one fine tick of 15.625 us plus the wake-up, see doc/timers.md), or
// with operation_aborted when cancelled (cancel, cancel_one, expires_at/expires_after on a
// pending wait, per-operation cancellation, destroying the timer). Completions run on the
// handler's associated executor (default: the timer's), never inside the calling function.
// Pending waits count as outstanding work, so run() does not return while one is pending. When
// the context is destroyed, pending waits are destroyed without being run (as Asio does).
//
// Differences from Asio: a timer on a clock other than steady_clock converts its expiry to a
// steady_clock deadline when the wait starts (later changes of that clock are not followed).
// The deprecated members (expires_from_now, expires_at() without argument) are not provided.
//
// Thread safety: distinct objects safe; shared objects unsafe (as Asio), except that the firing
// of a wait, per-operation cancellation and completion handlers may run on any worker thread
// concurrently with the owner's calls.

#ifndef KYOTO_BASIC_WAITABLE_TIMER_HPP
#define KYOTO_BASIC_WAITABLE_TIMER_HPP

#include <kyoto/context.hpp>
#include <kyoto/detail/timer_service.hpp>
#include <kyoto/detail/timer_wait_op.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/wait_traits.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <type_traits>

namespace kyoto {

template <typename Clock, typename WaitTraits = boost::asio::wait_traits<Clock>,
          typename Executor = boost::asio::any_io_executor>
class basic_waitable_timer {
  static_assert(!std::is_same_v<Executor, boost::asio::io_context::executor_type>,
                "kyoto::basic_waitable_timer runs on a kyoto::context, and an "
                "io_context::executor_type never belongs to one: use "
                "boost::asio::basic_waitable_timer with an io_context, or give this timer a "
                "kyoto::context executor.");

 public:
  /// The type of the executor associated with the object.
  using executor_type = Executor;

  /// Rebinds the timer type to another executor.
  template <typename Executor1>
  struct rebind_executor {
    /// The timer type when rebound to the specified executor.
    using other = basic_waitable_timer<Clock, WaitTraits, Executor1>;
  };

  using clock_type = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  using traits_type = WaitTraits;

  /// A timer with no expiry set (expiry() == time_point()). Throws system_error when `ex` does
  /// not belong to a kyoto::context.
  explicit basic_waitable_timer(const executor_type& ex);

  /// A timer on `ctx`'s executor.
  template <typename ExecutionContext>
  requires std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>
  explicit basic_waitable_timer(ExecutionContext& ctx)
      : basic_waitable_timer(executor_type(checked_context(ctx).get_executor())) {}

  /// A timer that expires at `expiry_time`.
  basic_waitable_timer(const executor_type& ex, const time_point& expiry_time)
      : basic_waitable_timer(ex) {
    expiry_ = expiry_time;
  }
  template <typename ExecutionContext>
  requires std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>
  basic_waitable_timer(ExecutionContext& ctx, const time_point& expiry_time)
      : basic_waitable_timer(ctx) {
    expiry_ = expiry_time;
  }

  /// A timer that expires `expiry_time` from now.
  basic_waitable_timer(const executor_type& ex, const duration& expiry_time)
      : basic_waitable_timer(ex) {
    expires_after(expiry_time);
  }
  template <typename ExecutionContext>
  requires std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>
  basic_waitable_timer(ExecutionContext& ctx, const duration& expiry_time)
      : basic_waitable_timer(ctx) {
    expires_after(expiry_time);
  }

  /// Moves the timer, its expiry and its pending waits. The moved-from timer keeps its executor
  /// and has expiry() == time_point() and no pending wait.
  basic_waitable_timer(basic_waitable_timer&& other);
  template <typename Executor1>
  requires std::is_convertible_v<Executor1, Executor>
  basic_waitable_timer(basic_waitable_timer<Clock, WaitTraits, Executor1>&& other);

  /// Cancels this timer's pending waits (operation_aborted), then takes over `other`'s.
  basic_waitable_timer& operator=(basic_waitable_timer&& other);
  template <typename Executor1>
  requires std::is_convertible_v<Executor1, Executor> basic_waitable_timer&
  operator=(basic_waitable_timer<Clock, WaitTraits, Executor1>&& other);

  basic_waitable_timer(const basic_waitable_timer&) = delete;
  basic_waitable_timer& operator=(const basic_waitable_timer&) = delete;

  /// Cancels pending waits: their handlers get operation_aborted.
  ~basic_waitable_timer() { service_->cancel(impl_); }

  executor_type get_executor() noexcept { return executor_; }

  /// Cancels every pending wait (operation_aborted). Returns how many were cancelled.
  std::size_t cancel() { return service_->cancel(impl_); }

  /// Cancels the oldest pending wait (operation_aborted). Returns 0 or 1.
  std::size_t cancel_one() { return service_->cancel_one(impl_); }

  /// The expiry time, absolute.
  time_point expiry() const { return expiry_; }

  /// Sets the expiry and cancels pending waits; returns how many were cancelled.
  std::size_t expires_at(const time_point& expiry_time) {
    std::size_t n = service_->cancel(impl_);
    expiry_ = expiry_time;
    return n;
  }

  /// Sets the expiry to now + `expiry_time` (saturating) and cancels pending waits; returns how
  /// many were cancelled.
  std::size_t expires_after(const duration& expiry_time) {
    std::size_t n = service_->cancel(impl_);
    expiry_ = add(Clock::now(), expiry_time);
    return n;
  }

  /// Blocks the calling thread until the expiry has passed. Not interrupted by cancel().
  void wait() {
    boost::system::error_code ec;
    wait(ec);
    boost::asio::detail::throw_error(ec, "wait");
  }
  void wait(boost::system::error_code& ec);

  /// Starts an asynchronous wait for the expiry.
  ///
  /// Completion signature: void(boost::system::error_code). Success when the expiry passed,
  /// operation_aborted when cancelled. The handler runs on its associated executor (default:
  /// the timer's); it is never invoked from inside async_wait.
  ///
  /// Per-operation cancellation: terminal, partial and total cancellation cancel this wait
  /// (it completes with operation_aborted); other waits of the timer are not affected.
  template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                WaitToken = boost::asio::default_completion_token_t<executor_type>>
  auto async_wait(WaitToken&& token = boost::asio::default_completion_token_t<executor_type>()) {
    return boost::asio::async_initiate<WaitToken, void(boost::system::error_code)>(
        initiate_async_wait(this), token);
  }

 private:
  template <typename, typename, typename>
  friend class basic_waitable_timer;

  class initiate_async_wait {
   public:
    using executor_type = Executor;

    explicit initiate_async_wait(basic_waitable_timer* self) noexcept : self_(self) {}

    executor_type get_executor() const noexcept { return self_->get_executor(); }

    template <typename WaitHandler>
    void operator()(WaitHandler&& handler) const {
      self_->start_wait(std::forward<WaitHandler>(handler));
    }

   private:
    // The timer the wait is started on.
    basic_waitable_timer* self_;
  };

  template <typename ExecutionContext>
  static ExecutionContext& checked_context(ExecutionContext& ctx) {
    static_assert(!std::is_base_of_v<boost::asio::io_context, ExecutionContext>,
                  "kyoto::basic_waitable_timer runs on a kyoto::context, not on an io_context: "
                  "use boost::asio::basic_waitable_timer with an io_context.");
    return ctx;
  }

  // The timer service of the kyoto::context that `ex` belongs to; throws otherwise.
  static detail::timer_service& service_for(const Executor& ex);

  // now + d, saturated to the clock's range (as Asio does).
  static time_point add(const time_point& t, const duration& d);

  // t - Clock::now(), saturated.
  static duration remaining(const time_point& t);

  // The steady_clock deadline of expiry_.
  std::chrono::steady_clock::time_point steady_deadline() const;

  template <typename Handler>
  void start_wait(Handler&& handler);

  // Allocates an Op for `handler` (constructed with `handler, args...`) and hands it to the
  // service.
  template <typename Op, typename Handler, typename... Args>
  void arm(Handler& handler, const Args&... args);

  // The executor the timer was created with.
  Executor executor_;
  // The timer service of the executor's kyoto::context.
  detail::timer_service* service_;
  // The wheel entry and the pending waits; owned by the service's locking protocol.
  detail::timer_state impl_;
  // The expiry time.
  time_point expiry_{};
};

} // namespace kyoto

#include <kyoto/impl/basic_waitable_timer.hpp>

#endif // KYOTO_BASIC_WAITABLE_TIMER_HPP
