// kyoto/task.hpp
//
// Tokio-style tasks on a kyoto::context.
//
//   auto h = kyoto::spawn(ctx, my_future);              // any kyoto::future
//   auto h2 = kyoto::spawn(ctx, [] { return 42; });     // a plain callable, run once on a worker
//   int v = kyoto::block_on(ctx, std::move(h2));        // from a thread that is not a worker
//   int v2 = co_await h.join();                          // in an asio::awaitable coroutine
//
// A spawned task is one allocation (task header + future). Waking it allocates nothing. An
// unfinished task counts as outstanding work, so ctx.run() does not return while it is pending
// (like a pending Asio operation). Tasks still alive when the context is destroyed are cancelled:
// their futures are destroyed without being polled again, and their join handles report
// kyoto::error::task_aborted.
//
// join_handle<T>: a future of T (the task's value, or its exception rethrown); also an Asio
// asynchronous operation with signature void(std::exception_ptr, T):
// `std::move(h).async_wait(token)` with any completion token (use_awaitable in coroutines).
// Dropping it detaches the task. abort() cancels the task at its next poll; the joiner then gets
// system_error(kyoto::error::task_aborted) unless the task had already finished.
//
// Thread safety: spawn, abort, is_finished: any thread. One join_handle object must not be used
// by two threads at once.

#ifndef KYOTO_TASK_HPP
#define KYOTO_TASK_HPP

#include <kyoto/context.hpp>
#include <kyoto/detail/future_op.hpp>
#include <kyoto/detail/task_cell.hpp>
#include <kyoto/detail/task_header.hpp>
#include <kyoto/detail/task_service.hpp>
#include <kyoto/detail/task_spawn_awaitable.hpp>
#include <kyoto/error.hpp>
#include <kyoto/future.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace kyoto {

template <typename T>
class join_handle;

namespace detail {
/// void(std::exception_ptr, T), or void(std::exception_ptr) for T = void.
template <typename T>
struct join_signature {
  using type = void(std::exception_ptr, T);
};
template <>
struct join_signature<void> {
  using type = void(std::exception_ptr);
};

template <typename F>
join_handle<future_output_t<std::decay_t<F>>> spawn_on(task_scheduler& s, F&& f);
} // namespace detail

template <typename T>
class join_handle {
 public:
  using output_type = T;

  /// An empty handle (joins nothing).
  join_handle() noexcept = default;
  join_handle(join_handle&& o) noexcept : task_(std::exchange(o.task_, nullptr)) {}
  join_handle& operator=(join_handle&& o) noexcept {
    if (this != &o) {
      detach();
      task_ = std::exchange(o.task_, nullptr);
    }
    return *this;
  }
  /// Detaches the task: it keeps running, its output is dropped when it finishes.
  ~join_handle() { detach(); }

  /// Ready with the task's value when it finished; rethrows its exception (system_error with
  /// kyoto::error::task_aborted when it was aborted). Spends one unit of the cooperative budget.
  /// Throws std::logic_error when the handle is empty (detached, or polled after it was ready).
  kyoto::poll<T> poll(task_context& cx) {
    if (!task_)
      throw std::logic_error("kyoto::join_handle::poll: the handle is empty (detached, moved "
                             "from, or already returned the task's output)");
    if (cx.poll_budget().is_pending())
      return pending;
    std::optional<detail::task_result<T>> out;
    if (!task_->try_read_output(&out, cx.get_waker())) {
      cx.refund_budget();
      return pending;
    }
    detach();
    if constexpr (std::is_void_v<T>) {
      detail::take_result<T>(std::move(*out));
      return ready;
    } else {
      return detail::take_result<T>(std::move(*out));
    }
  }

  /// Cancels the task: it is not polled again (a poll in progress finishes first) and its future
  /// is destroyed on a worker. No effect when it already finished or the handle is empty.
  void abort() noexcept {
    if (task_)
      task_->remote_abort();
  }

  /// True when the task has finished (value, exception or cancellation). False when empty.
  bool is_finished() const noexcept { return task_ && task_->is_complete(); }

  /// True unless empty.
  bool valid() const noexcept { return task_ != nullptr; }

  /// Lets the task run on without a joiner.
  void detach() noexcept {
    if (auto* t = std::exchange(task_, nullptr))
      t->drop_join_handle();
  }

  /// Waits for the task as an Asio operation. Completion signature void(std::exception_ptr, T)
  /// (void(std::exception_ptr) for T = void); the handler runs on its associated executor.
  /// The completion signature of async_wait.
  using signature = typename detail::join_signature<T>::type;

  template <boost::asio::completion_token_for<signature> Token>
  auto async_wait(Token&& token) && {
    return boost::asio::async_initiate<Token, signature>(
        [](auto handler, join_handle h) {
          auto ex = boost::asio::get_associated_executor(handler, boost::asio::system_executor());
          detail::future_op<join_handle, decltype(handler), decltype(ex)>::start(
              std::move(h), std::move(handler), ex);
        },
        token, std::move(*this));
  }

  /// Waits for the task as an Asio operation, taking the handle over (it is empty afterwards):
  /// `T v = co_await h.join(asio::use_awaitable);` or `h.join(asio::deferred)`, a callback ...
  /// Same completion as async_wait.
  template <boost::asio::completion_token_for<signature> Token>
  auto join(Token&& token) {
    return std::move(*this).async_wait(std::forward<Token>(token));
  }

  /// In an asio::awaitable coroutine (any_io_executor): `T v = co_await h.join();`. The value,
  /// or the task's exception rethrown in the coroutine (system_error(task_aborted) when it was
  /// aborted).
  ///
  /// Per-operation cancellation (of join/async_wait): terminal. The wait completes with
  /// system_error(asio::error::operation_aborted) and the task is detached (not aborted).
  boost::asio::awaitable<T> join() {
    return std::move(*this).async_wait(boost::asio::use_awaitable);
  }

  /// The task's id, as task_diagnostics() reports it; 0 when the handle is empty.
  std::uint64_t id() const noexcept { return task_ ? task_->id() : 0; }

  // Note: no operator()(token), which would make `co_await std::move(h)` work through Asio's
  // async-operation await_transform: Boost 1.81's awaitable_async_op_handler for
  // void(std::exception_ptr, T) does not compile (`if (*result)`, asio/impl/awaitable.hpp).
  // Write `co_await h.join()` (or `h.join(asio::use_awaitable)`).

 private:
  template <typename F>
  friend join_handle<future_output_t<std::decay_t<F>>> detail::spawn_on(detail::task_scheduler&,
                                                                        F&&);
  explicit join_handle(detail::task_header* t) noexcept : task_(t) {}

  // The task, with a reference and the join interest; null when empty.
  detail::task_header* task_ = nullptr;
};

namespace detail {

/// A future that runs a callable once, on its first poll.
template <typename Fn>
class callable_future {
  using result_type = std::invoke_result_t<Fn&>;

 public:
  explicit callable_future(Fn fn) : fn_(std::move(fn)) {}
  kyoto::poll<result_type> poll(task_context&) {
    if constexpr (std::is_void_v<result_type>) {
      fn_();
      return ready;
    } else {
      return fn_();
    }
  }

 private:
  // The callable.
  Fn fn_;
};

/// Spawns a future on a task scheduler (a context's task service, or a test executor).
template <typename F>
join_handle<future_output_t<std::decay_t<F>>> spawn_on(task_scheduler& s, F&& f) {
  using cell = task_cell<std::decay_t<F>>;
  auto* t = cell::create(std::forward<F>(f), &s);
  join_handle<future_output_t<std::decay_t<F>>> h(t);
  if (!s.bind(t))
    t->shutdown_queued(); // Shut down: cancel at once; the joiner sees task_aborted.
  else
    s.schedule_task(t, schedule_hint::continuation);
  return h;
}

/// Turns what spawn() accepts into a future.
template <typename F>
auto as_task_future(F&& f) {
  using D = std::decay_t<F>;
  if constexpr (kyoto::future<D>)
    return D(std::forward<F>(f));
  else if constexpr (is_asio_awaitable<D>::value)
    return awaitable_future<D>(std::forward<F>(f));
  else {
    static_assert(std::is_invocable_v<D&>,
                  "kyoto::spawn: the argument must be a kyoto::future (poll(task_context&) -> "
                  "kyoto::poll<T>), an asio::awaitable<T>, or a callable taking no arguments");
    return callable_future<D>(std::forward<F>(f));
  }
}

} // namespace detail

/// Spawns `f` on `ctx`: a kyoto::future, an asio::awaitable<T> (run with co_spawn on ctx), or a
/// callable taking no arguments (run once, on a worker). Any thread.
template <typename F>
auto spawn(kyoto::context& ctx, F&& f) {
  auto fut = detail::as_task_future(std::forward<F>(f));
  if constexpr (detail::is_awaitable_future<decltype(fut)>::value)
    fut.set_executor(ctx.get_executor());
  return detail::spawn_on(detail::task_service::of(ctx), std::move(fut));
}

/// Spawns on the context of a kyoto::context executor.
template <typename Allocator, unsigned int Bits, typename F>
auto spawn(const context::basic_executor_type<Allocator, Bits>& ex, F&& f) {
  return kyoto::spawn(ex.context(), std::forward<F>(f));
}

/// A future that returns pending once, after waking its task, so that the task goes to the back
/// of the run queue (never the LIFO slot) and other work runs first.
class yield_now_future {
 public:
  kyoto::poll<void> poll(task_context& cx) noexcept {
    if (yielded_)
      return ready;
    yielded_ = true;
    cx.get_waker().wake_by_ref();
    return pending;
  }

 private:
  // Set after the first poll.
  bool yielded_ = false;
};

/// Gives other tasks a turn.
inline yield_now_future yield_now() noexcept {
  return {};
}

namespace detail {

/// A waker that signals a condition variable: what block_on waits on.
class thread_notifier {
 public:
  static waker make() {
    auto* n = new thread_notifier;
    return waker(n, &vtable_);
  }
  static thread_notifier& of(const waker& w) noexcept {
    return *static_cast<thread_notifier*>(w.data());
  }

  /// Waits until notified or `d` elapsed. Leaves the notification for take(): clearing it here
  /// lost it (block_on then never polled its finished task again and waited forever).
  void wait_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, d, [this] { return notified_; });
  }

  /// True (and cleared) when notified since the last call.
  bool take() {
    std::lock_guard lock(mutex_);
    return std::exchange(notified_, false);
  }

 private:
  void notify() {
    {
      std::lock_guard lock(mutex_);
      notified_ = true;
    }
    cv_.notify_all();
  }
  static void* clone(void* p) noexcept {
    static_cast<thread_notifier*>(p)->refs_.fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  static void wake(void* p) noexcept {
    wake_by_ref(p);
    drop(p);
  }
  static void wake_by_ref(void* p) noexcept { static_cast<thread_notifier*>(p)->notify(); }
  static void drop(void* p) noexcept {
    // acq_rel: the last owner sees the others' writes before deleting.
    if (static_cast<thread_notifier*>(p)->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete static_cast<thread_notifier*>(p);
  }
  static constexpr waker_vtable vtable_{&clone, &wake, &wake_by_ref, &drop};

  // References held by wakers.
  std::atomic<int> refs_{1};
  // Guards notified_.
  std::mutex mutex_;
  // Signalled on wake.
  std::condition_variable cv_;
  // Set by a wake, cleared by the waiter.
  bool notified_ = false;
};

} // namespace detail

/// Runs `f` (anything spawn() accepts) on `ctx` and waits for its output, from a thread that is
/// not one of ctx's workers. While waiting, the calling thread helps run ctx (run_one_for in
/// slices of 1 ms); when every slot is taken by other threads, each slice waits for a free slot,
/// and the other threads finish the task.
///
/// A stopped context is restarted first (so restart() must not race with a run() call then, as
/// always); a stop() while block_on waits makes it throw.
///
/// Throws system_error(kyoto::error::blocking_on_worker) when called on a worker of ctx (it
/// would deadlock), and system_error(kyoto::error::context_shut_down) when ctx is stopped before
/// the task finished (the task is left to run when ctx is restarted). Rethrows the task's
/// exception, and what a handler run by the calling thread throws (as run() does).
template <typename F>
auto block_on(kyoto::context& ctx, F&& f) {
  if (ctx.impl().running_in_this_thread())
    detail::throw_error(error::blocking_on_worker,
                        "kyoto::block_on: called on a worker thread of the context; use "
                        "co_await or spawn instead");
  // A context whose run() returned for lack of work is stopped (io_context semantics); block_on
  // restarts it, as one would before calling run() again.
  if (ctx.stopped())
    ctx.restart();
  auto h = kyoto::spawn(ctx, std::forward<F>(f));
  using T = typename decltype(h)::output_type;
  waker w = detail::thread_notifier::make();
  auto& n = detail::thread_notifier::of(w);
  task_context cx(w, INT_MAX);
  for (;;) {
    auto r = h.poll(cx);
    if (r.is_ready()) {
      if constexpr (std::is_void_v<T>)
        return;
      else
        return std::move(r).value();
    }
    while (!n.take()) {
      // Runs one handler, or waits up to 1 ms for one or (every slot taken) for a free slot.
      ctx.run_one_for(std::chrono::milliseconds(1));
      if (ctx.stopped() && !h.is_finished())
        detail::throw_error(error::context_shut_down,
                            "kyoto::block_on: the context was stopped before the task finished");
    }
  }
}

} // namespace kyoto

#endif // KYOTO_TASK_HPP
