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
// Thread safety: wakers may be used from any thread.

#ifndef KYOTO_DETAIL_FUTURE_OP_HPP
#define KYOTO_DETAIL_FUTURE_OP_HPP

#include <kyoto/future.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

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
    op->state_.store(running, std::memory_order_relaxed);
    op->poll_once();
    op->release();
  }

 private:
  future_op(Future f, Handler h, const Executor& ex)
      : future_(std::move(f)), handler_(std::move(h)), ex_(ex),
        work_(boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked)) {}

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    // acq_rel: the last owner must see every other owner's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
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
    {
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
      auto work = std::move(work_);
      work_.reset();
      auto ex = boost::asio::get_associated_executor(handler_, ex_);
      if constexpr (std::is_void_v<output_type>)
        boost::asio::dispatch(ex,
                              [h = std::move(handler_), error]() mutable { std::move(h)(error); });
      else if (error)
        boost::asio::dispatch(
            ex, [h = std::move(handler_), error]() mutable { std::move(h)(error, output_type{}); });
      else
        boost::asio::dispatch(ex, [h = std::move(handler_), v = std::move(*value)]() mutable {
          std::move(h)(std::exception_ptr(), std::move(v));
        });
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
  // idle / scheduled / running (| notified) / done.
  std::atomic<unsigned> state_{idle};
  // The future until it is done.
  std::optional<Future> future_;
  // The completion handler.
  Handler handler_;
  // Where the future is polled.
  Executor ex_;
  // Outstanding work on ex_ while the future is pending.
  std::optional<work_executor> work_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_FUTURE_OP_HPP
