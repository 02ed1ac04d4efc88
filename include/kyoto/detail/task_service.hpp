// kyoto/detail/task_service.hpp
//
// The task scheduler of a kyoto::context: an Asio service, so that the context's shutdown (its
// destructor) cancels every live task before the scheduler goes away, and waking a task after
// the context is gone never reaches it (task_header.hpp).
//
// Protocol: schedule_task() from any thread queues the task's header on the context's runtime
// (the header is the queue node, so nothing is allocated). shutdown() runs in the context's
// destructor, after every run() call returned.

#ifndef KYOTO_DETAIL_TASK_SERVICE_HPP
#define KYOTO_DETAIL_TASK_SERVICE_HPP

#include <kyoto/context.hpp>
#include <kyoto/detail/cached_service.hpp>
#include <kyoto/detail/task_header.hpp>

#include <boost/asio/execution_context.hpp>

namespace kyoto::detail {

class task_service final : public boost::asio::detail::execution_context_service_base<task_service>,
                           public task_scheduler {
 public:
  explicit task_service(boost::asio::execution_context& ctx)
      : execution_context_service_base<task_service>(ctx),
        runtime_(static_cast<kyoto::context&>(ctx).impl()) {}

  void schedule_task(task_header* t, schedule_hint hint) noexcept override {
    runtime_.schedule(t, hint);
  }
  void work_started() noexcept override { runtime_.work_started(); }
  void work_finished() noexcept override { runtime_.work_finished(); }

  /// Cancels every live task (the context is being destroyed).
  void shutdown() override { shutdown_tasks(); }

  /// The task service of `ctx`, created on first use.
  static task_service& of(kyoto::context& ctx) {
    return cached_service_of<task_service>(ctx, runtime::cached_service::task);
  }

  detail::runtime& runtime() noexcept { return runtime_; }

 private:
  // The scheduler of the owning context.
  detail::runtime& runtime_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TASK_SERVICE_HPP
