// kyoto/detail/asio_bridge.hpp
//
// Every use of Asio's detail:: namespace by the scheduler, in one place. These are not stable
// Asio interfaces; each one is listed here with what kyoto relies on, and the test suite pins the
// behaviour (test/io/). See doc/design.md, "Driving Asio's reactor".
//
// - detail::scheduler, registered by us *before* any I/O object asks for it, with
//   own_thread = false (no hidden reactor thread) and concurrency hint 0 (locking on). Asio
//   1.34 (Boost 1.87) moved the hint into asio::config and dropped the constructor argument.
// - scheduler::work_started() once, so it never counts down to zero and stops itself.
// - scheduler::wait_one(usec) blocks in the reactor once (usec > 0 always);
//   scheduler::poll() runs the reactor without blocking and drains completed operations.
// - detail::reactor::interrupt(): wakes a thread blocked in the reactor; latched.
// - detail::thread_context::thread_call_stack: the per-thread stack through which Asio's
//   recycling allocator finds the thread's memory cache; workers push themselves on it.

#ifndef KYOTO_DETAIL_ASIO_BRIDGE_HPP
#define KYOTO_DETAIL_ASIO_BRIDGE_HPP

// clang-format off
// Order matters: the scheduler's inline bodies need the reactor typedef, which the reactor
// header can only provide when the scheduler header was seen first.
#include <boost/asio/detail/scheduler.hpp>
#include <boost/asio/detail/reactor.hpp>
// clang-format on
#include <boost/asio/detail/call_stack.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/detail/thread_info_base.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/version.hpp>

#include <memory>

namespace kyoto::detail {

using asio_scheduler = boost::asio::detail::scheduler;
using asio_reactor = boost::asio::detail::reactor;

/// Registers Asio's scheduler service in `ctx` without a thread of its own, pinned so that it
/// never stops itself, and starts the reactor task. Must run before any I/O object is created.
inline asio_scheduler& register_asio_scheduler(boost::asio::execution_context& ctx) {
#if BOOST_ASIO_VERSION >= 103400
  std::unique_ptr<asio_scheduler> s(new asio_scheduler(ctx, false));
#else
  std::unique_ptr<asio_scheduler> s(new asio_scheduler(ctx, 0, false));
#endif
  boost::asio::add_service<asio_scheduler>(ctx, s.get());
  asio_scheduler& scheduler = *s.release();
  scheduler.work_started();
  return scheduler;
}

inline asio_reactor& start_asio_reactor(boost::asio::execution_context& ctx) {
  asio_reactor& reactor = boost::asio::use_service<asio_reactor>(ctx);
  reactor.init_task();
  return reactor;
}

/// Gives the scheduler access to Asio's per-thread call stack (a protected typedef).
class thread_identity : public boost::asio::detail::thread_context {
 public:
  using call_stack = boost::asio::detail::thread_context::thread_call_stack;
  using info_base = boost::asio::detail::thread_info_base;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_ASIO_BRIDGE_HPP
