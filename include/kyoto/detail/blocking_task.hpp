// kyoto/detail/blocking_task.hpp
//
// The two halves of a spawn_blocking call: blocking_job (the operation that a pool thread runs)
// and blocking_future (what the task that spawn_blocking spawns polls). They share a
// blocking_state.
//
// Protocol: the job runs fn on a pool thread and calls finish() with the value or exception;
// if the pool is shut down first, the job is destroyed and finishes with context_shut_down.
// finish() stores the result and wakes the latest waker, under the state's mutex. The future,
// polled by its task, takes the result or stores its waker. Dropping the future (the task was
// aborted or cancelled) sets `abandoned`, so a job that has not started yet skips fn.

#ifndef KYOTO_DETAIL_BLOCKING_TASK_HPP
#define KYOTO_DETAIL_BLOCKING_TASK_HPP

#include <kyoto/detail/operation.hpp>
#include <kyoto/detail/task_cell.hpp>
#include <kyoto/error.hpp>
#include <kyoto/future.hpp>

#include <boost/system/system_error.hpp>

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace kyoto::detail {

template <typename R>
struct blocking_state {
  // Guards the members below.
  std::mutex mutex;
  // The function's outcome, once it returned or threw.
  std::optional<task_result<R>> result;
  // The waker of the last pending poll.
  waker w;
  // Set when the future was dropped: the result is not wanted any more.
  bool abandoned = false;

  void finish(task_result<R> r) noexcept {
    waker to_wake;
    {
      std::lock_guard lock(mutex);
      result.emplace(std::move(r));
      to_wake = std::move(w);
    }
    to_wake.wake();
  }

  bool is_abandoned() {
    std::lock_guard lock(mutex);
    return abandoned;
  }
};

template <typename Fn, typename R>
class blocking_job final : public operation {
 public:
  template <typename F>
  blocking_job(F&& fn, std::shared_ptr<blocking_state<R>> s)
      : operation(&do_operation), fn_(std::forward<F>(fn)), state_(std::move(s)) {}

 private:
  static void do_operation(operation* op, bool invoke) noexcept {
    std::unique_ptr<blocking_job> self(static_cast<blocking_job*>(op));
    if (!invoke) {
      self->state_->finish(task_result<R>(
          std::in_place_index<1>,
          std::make_exception_ptr(boost::system::system_error(
              make_error_code(kyoto::error::context_shut_down),
              "kyoto::spawn_blocking: the context was shut down before the call ran"))));
      return;
    }
    if (self->state_->is_abandoned())
      return;
    try {
      if constexpr (std::is_void_v<R>) {
        self->fn_();
        self->state_->finish(task_result<R>(std::in_place_index<0>));
      } else {
        self->state_->finish(task_result<R>(std::in_place_index<0>, self->fn_()));
      }
    } catch (...) {
      self->state_->finish(task_result<R>(std::in_place_index<1>, std::current_exception()));
    }
  }

  // The blocking function.
  Fn fn_;
  // Shared with the future.
  std::shared_ptr<blocking_state<R>> state_;
};

template <typename R>
class blocking_future {
 public:
  explicit blocking_future(std::shared_ptr<blocking_state<R>> s) noexcept : state_(std::move(s)) {}
  blocking_future(blocking_future&&) noexcept = default;
  blocking_future& operator=(blocking_future&&) = delete;
  ~blocking_future() {
    if (state_) {
      std::lock_guard lock(state_->mutex);
      state_->abandoned = true;
      state_->w = waker();
    }
  }

  kyoto::poll<R> poll(task_context& cx) {
    std::unique_lock lock(state_->mutex);
    if (state_->result) {
      auto r = std::move(*state_->result);
      state_->result.reset();
      lock.unlock();
      if constexpr (std::is_void_v<R>) {
        take_result<R>(std::move(r));
        return ready;
      } else {
        return take_result<R>(std::move(r));
      }
    }
    if (!state_->w.will_wake(cx.get_waker()))
      state_->w = cx.get_waker();
    return pending;
  }

 private:
  // Shared with the job.
  std::shared_ptr<blocking_state<R>> state_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_BLOCKING_TASK_HPP
