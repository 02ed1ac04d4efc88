// kyoto/detail/future_op.hpp
//
// future_op: drives one future on any Asio executor and delivers its output to a completion
// handler, signature void(std::exception_ptr, T) (void(std::exception_ptr) for T = void). It is
// the engine of kyoto::async_poll and of join_handle::async_wait.
//
// It is a small task of its own, reference counted: each waker and each posted run holds one
// reference. Its state word (idle, scheduled, running, notified, done) ensures that the future
// is polled by one thread at a time and that N wakes during a poll cause one more poll. A wake
// posts a run to the executor (one allocation per wake, Asio's recycling allocator).
// The first poll happens inside the initiating call. While the future is pending the op holds
// outstanding work on its executor. If every waker is dropped without a wake, the op is
// destroyed without calling the handler (as an abandoned Asio operation is).
//
// Per-operation cancellation: when the handler has a connected cancellation slot, a terminal
// cancellation sets `cancel_requested_` and wakes the op; its next poll destroys the future
// instead of polling it and completes with system_error(asio::error::operation_aborted). Only
// the poller ever touches the future, so the emitter never races with a poll. The slot's
// handler (the canceller) keeps only the op's storage alive (`shell_refs_`), not the op: the
// handler owns the slot's signal in a coroutine, so a strong reference would be a cycle that
// leaks an abandoned op. It wakes the op only if it can still take a strong reference (as
// weak_ptr::lock does). The slot is cleared on the handler's executor just before the handler
// runs (where Asio requires emit() and completion to be serialised).
//
// References: `refs_` (the starter or a runner, and every waker) owns the future and the
// handler; when it reaches zero they are destroyed and one `shell_refs_` unit is dropped. The
// canceller holds the other `shell_refs_` unit; the storage is freed when both are gone.
//
// Thread safety: wakers may be used from any thread.

#ifndef KYOTO_DETAIL_FUTURE_OP_HPP
#define KYOTO_DETAIL_FUTURE_OP_HPP

#include <kyoto/future.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <climits>
#include <exception>
#include <optional>
#include <utility>

namespace kyoto::detail {

template <typename Future, typename Handler, typename Executor>
class future_op {
  using output_type = future_output_t<Future>;
  using work_executor = std::decay_t<decltype(boost::asio::prefer(
      std::declval<const Executor&>(), boost::asio::execution::outstanding_work.tracked))>;

  static constexpr unsigned idle = 0, scheduled = 1, running = 2, notified = 4, done = 8;

 public:
  /// Starts driving `f`: polls it once on the calling thread.
  static void start(Future f, Handler h, const Executor& ex) {
    auto* op = new future_op(std::move(f), std::move(h), ex);
    auto slot = boost::asio::get_associated_cancellation_slot(*op->handler_);
    if (slot.is_connected()) {
      op->shell_refs_.fetch_add(1, std::memory_order_relaxed); // the canceller's
      slot.template emplace<canceller>(op);
    }
    op->state_.store(running, std::memory_order_relaxed);
    op->poll_once();
    op->release();
  }

 private:
  future_op(Future f, Handler h, const Executor& ex)
      : future_(std::move(f)), handler_(std::in_place, std::move(h)), ex_(ex),
        work_(boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked)) {}

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }

  /// Takes a strong reference unless the count already reached zero.
  bool try_add_ref() noexcept {
    unsigned cur = refs_.load(std::memory_order_relaxed);
    while (cur != 0)
      if (refs_.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed))
        return true;
    return false;
  }

  void release() noexcept {
    // acq_rel: the last owner must see every other owner's writes before destroying.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1)
      return;
    state_.store(done, std::memory_order_relaxed);
    future_.reset();
    work_.reset();
    handler_.reset(); // may destroy the canceller (its shell reference) when it owns the slot
    release_shell();
  }

  void release_shell() noexcept {
    // acq_rel: the last owner of the storage sees the other's writes before deleting.
    if (shell_refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete this;
  }

  /// A wake: posts a run unless one is pending or a poll is in progress (then it marks notified).
  void schedule() noexcept {
    unsigned cur = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (cur & (done | scheduled | notified))
        return;
      const unsigned next = (cur & running) ? (cur | notified) : scheduled;
      // acq_rel: the poller's idle transition (release) published the future's state.
      if (state_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed))
        break;
    }
    if (cur & running)
      return;
    add_ref();
    try {
      boost::asio::post(ex_, runner{this});
    } catch (...) {
      // Could not queue the run (out of memory): nothing else would poll the future again.
      std::terminate();
    }
  }

  /// Installed in the handler's cancellation slot; holds one reference on the op.
  struct canceller {
    explicit canceller(future_op* op) noexcept : op_(op) {}
    canceller(const canceller&) = delete;
    canceller& operator=(const canceller&) = delete;
    ~canceller() { op_->release_shell(); }
    void operator()(boost::asio::cancellation_type type) {
      if ((type & boost::asio::cancellation_type::terminal) == boost::asio::cancellation_type::none)
        return;
      // release: the poller's acquire load of the flag (after its running transition) sees it.
      op_->cancel_requested_.store(true, std::memory_order_release);
      if (op_->try_add_ref()) {
        op_->schedule();
        op_->release();
      }
    }
    future_op* op_;
  };

  struct runner {
    runner(future_op* op) noexcept : op_(op) {}
    runner(runner&& o) noexcept : op_(std::exchange(o.op_, nullptr)) {}
    ~runner() {
      if (op_)
        op_->release();
    }
    void operator()() {
      future_op* op = std::exchange(op_, nullptr);
      op->state_.store(running, std::memory_order_relaxed);
      op->poll_once();
      op->release();
    }
    future_op* op_;
  };

  /// Polls the future once; the caller owns `running`.
  void poll_once() {
    std::optional<std::conditional_t<std::is_void_v<output_type>, bool, output_type>> value;
    std::exception_ptr error;
    // acquire: pairs with the canceller's release store.
    if (cancel_requested_.load(std::memory_order_acquire)) {
      error = std::make_exception_ptr(boost::system::system_error(
          boost::asio::error::operation_aborted, "kyoto: the operation was cancelled"));
    } else {
      union borrowed {
        explicit borrowed(future_op* p) : w(p, &vtable_) {}
        ~borrowed() {}
        waker w;
      } bw(this);
      task_context cx(bw.w, INT_MAX);
      try {
        auto r = future_->poll(cx);
        if (r.is_ready()) {
          if constexpr (std::is_void_v<output_type>)
            value.emplace(true);
          else
            value.emplace(std::move(r).value());
        }
      } catch (...) {
        error = std::current_exception();
      }
    }
    if (value || error) {
      // acq_rel: later wakes see `done` and do nothing.
      state_.store(done, std::memory_order_release);
      future_.reset();
      auto ex = boost::asio::get_associated_executor(*handler_, ex_);
      // The slot is cleared where the handler runs, just before it runs (see the top).
      if constexpr (std::is_void_v<output_type>)
        boost::asio::dispatch(ex, [h = std::move(*handler_), error]() mutable {
          boost::asio::get_associated_cancellation_slot(h).clear();
          std::move(h)(error);
        });
      else if (error)
        boost::asio::dispatch(ex, [h = std::move(*handler_), error]() mutable {
          boost::asio::get_associated_cancellation_slot(h).clear();
          std::move(h)(error, output_type{});
        });
      else
        boost::asio::dispatch(ex, [h = std::move(*handler_), v = std::move(*value)]() mutable {
          boost::asio::get_associated_cancellation_slot(h).clear();
          std::move(h)(std::exception_ptr(), std::move(v));
        });
      // The work ends once the handler was dispatched.
      work_.reset();
      return;
    }
    unsigned cur = running;
    // release: publishes the future's state to the next poller (which acquires in schedule's
    // CAS or in the runner's start).
    if (!state_.compare_exchange_strong(cur, idle, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
      // Woken during the poll: poll again from the executor's queue.
      state_.store(idle, std::memory_order_release);
      schedule();
    }
  }

  static void* w_clone(void* p) noexcept {
    static_cast<future_op*>(p)->add_ref();
    return p;
  }
  static void w_wake(void* p) noexcept {
    static_cast<future_op*>(p)->schedule();
    static_cast<future_op*>(p)->release();
  }
  static void w_wake_by_ref(void* p) noexcept { static_cast<future_op*>(p)->schedule(); }
  static void w_drop(void* p) noexcept { static_cast<future_op*>(p)->release(); }
  static constexpr waker_vtable vtable_{&w_clone, &w_wake, &w_wake_by_ref, &w_drop};

  // References: the starter or a runner, and every waker.
  std::atomic<unsigned> refs_{1};
  // Owners of the storage: the strong references together, and the canceller.
  std::atomic<unsigned> shell_refs_{1};
  // idle / scheduled / running (| notified) / done.
  std::atomic<unsigned> state_{idle};
  // Set by a terminal cancellation; the next poll drops the future.
  std::atomic<bool> cancel_requested_{false};
  // The future until it is done.
  std::optional<Future> future_;
  // The completion handler (moved out when it is dispatched; destroyed with the future).
  std::optional<Handler> handler_;
  // Where the future is polled.
  Executor ex_;
  // Outstanding work on ex_ while the future is pending.
  std::optional<work_executor> work_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_FUTURE_OP_HPP
