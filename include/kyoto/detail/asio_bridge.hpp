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
// - Private completions: with concurrency hint 1 ("one thread"), an operation that completes
//   at once (a speculative send, a cancelled timer) is queued on the calling thread's scheduler
//   frame (scheduler_thread_info) instead of the locked scheduler queue plus a reactor
//   interrupt. Each worker keeps such a frame below its own for as long as it holds a slot and
//   drains it after every operation it runs (complete_private_ops), doing the work accounting
//   that Asio's own run loop does per operation. The hint keeps every Asio lock on
//   (only the special BOOST_ASIO_CONCURRENCY_HINT_* values turn locks off). From Asio 1.34
//   (Boost 1.87) the hint lives in asio::config and is 0 here: the private path is then simply
//   not taken, and completions go through the scheduler queue, which is slower but correct.

#ifndef KYOTO_DETAIL_ASIO_BRIDGE_HPP
#define KYOTO_DETAIL_ASIO_BRIDGE_HPP

// clang-format off
// Order matters: the scheduler's inline bodies need the reactor typedef, which the reactor
// header can only provide when the scheduler header was seen first.
#include <boost/asio/detail/scheduler.hpp>
#include <boost/asio/detail/reactor.hpp>
// clang-format on
#include <boost/asio/detail/call_stack.hpp>
#include <boost/asio/detail/op_queue.hpp>
#include <boost/asio/detail/scheduler_thread_info.hpp>
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
  std::unique_ptr<asio_scheduler> s(new asio_scheduler(ctx, 1, false)); // 1: see above
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

using asio_thread_info = boost::asio::detail::scheduler_thread_info;

using asio_op_queue = boost::asio::detail::op_queue<asio_scheduler::operation>;

/// Completes the operations of `ops`, which Asio queued on `frame` (see "Private completions"
/// above; `ops` may be frame.private_op_queue itself, and completions may queue more there), and
/// settles their work count the way Asio's run loop does: an immediate completion counted itself
/// in frame.private_outstanding_work, a deferred one in the scheduler's count; each completed
/// operation consumes one unit, also when its handler throws (the exception propagates; the
/// operations not yet completed stay in `ops`). Returns how many were completed.
inline std::size_t complete_private_ops(asio_scheduler& scheduler, asio_thread_info& frame,
                                        asio_op_queue& ops) {
  struct settle_work {
    asio_scheduler& scheduler;
    asio_thread_info& frame;
    std::size_t completed = 0;
    ~settle_work() {
      long delta = frame.private_outstanding_work - static_cast<long>(completed);
      frame.private_outstanding_work = 0;
      for (; delta > 0; --delta)
        scheduler.work_started();
      for (; delta < 0; ++delta)
        scheduler.work_finished(); // never reaches zero: register_asio_scheduler pins one unit
    }
  } settle{scheduler, frame};
  boost::system::error_code ec;
  while (asio_scheduler::operation* op = ops.front()) {
    ops.pop();
    ++settle.completed; // consumed even if it throws, as in Asio's run loop
    op->complete(&scheduler, ec, 0);
  }
  return settle.completed;
}

/// Gives the scheduler access to Asio's per-thread call stack (a protected typedef).
class thread_identity : public boost::asio::detail::thread_context {
 public:
  using call_stack = boost::asio::detail::thread_context::thread_call_stack;
  using info_base = boost::asio::detail::thread_info_base;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_ASIO_BRIDGE_HPP
