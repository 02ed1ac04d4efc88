// kyoto/detail/runtime.hpp
//
// The scheduler behind kyoto::context: N worker slots, each with a lock-free local queue and a
// LIFO slot, one injection queue, the idle/searching bookkeeping, the parkers, and the driver
// that runs Asio's reactor. Its protocol is described in doc/design.md; the pieces live in
// their own headers (local_queue.hpp, inject_queue.hpp, idle_set.hpp, parker.hpp, worker.hpp).
//
// Thread safety: schedule(), work_started(), work_finished(), stop(), stopped(),
// running_in_this_thread() and metrics() may be called from any thread. run() and friends may be
// called from up to concurrency() threads at once. restart() must not race with run().

#ifndef KYOTO_DETAIL_RUNTIME_HPP
#define KYOTO_DETAIL_RUNTIME_HPP

#include <kyoto/context_options.hpp>
#include <kyoto/detail/operation.hpp>
#include <kyoto/metrics.hpp>

#include <boost/asio/execution_context.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

namespace kyoto::detail {

/// Where a newly scheduled operation should go when it is scheduled from a worker.
enum class schedule_hint {
  /// A new, independent piece of work (asio::post): the back of the worker's local queue.
  fork,
  /// The continuation of what is running now (asio::defer, a woken task): the LIFO slot.
  continuation,
  /// A task that gives up its turn (yield_now): the back of the queue, never the LIFO slot.
  yield,
};

class runtime_impl;

/// How a timer service joins the worker loop (implemented by kyoto's timer service).
///
/// Protocol: the worker that blocks in the reactor sleeps no later than next_timer_deadline(),
/// and calls fire_due_timers(-1) when it wakes; every busy worker calls fire_due_timers(its
/// index) at each maintenance point. Both are called on a worker thread, outside Asio's
/// scheduler, with no scheduler lock held. A timer armed from any thread asks
/// runtime::timer_needs_interrupt(deadline) whether the driver would otherwise sleep past it,
/// and if so calls runtime::interrupt_reactor().
class timer_hooks {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// The earliest deadline of any armed timer, or time_point::max() when there is none.
  virtual time_point next_timer_deadline() noexcept = 0;

  /// Completes the timers that are due: those owned by worker `worker_index`, or all of them
  /// when it is -1. Completions are scheduled, never run inline.
  virtual void fire_due_timers(int worker_index) noexcept = 0;

  /// Called by the worker about to block in the reactor, before next_timer_deadline(): timer
  /// work that can be done ahead of time (an early cascade) is done here, while nothing else
  /// waits to run.
  virtual void prepare_to_sleep() noexcept = 0;

 protected:
  ~timer_hooks() = default;
};

/// The bits of kyoto::context::basic_executor_type's Bits parameter and bits_ member.
struct executor_bits {
  static constexpr unsigned int blocking_never = 1;
  static constexpr unsigned int relationship_continuation = 2;
  static constexpr unsigned int outstanding_work_tracked = 4;
};

class runtime {
 public:
  /// Registers Asio's scheduler and reactor in `owner` (without a thread of their own) and sets
  /// up `concurrency` worker slots. Throws system_error(error::invalid_concurrency) when
  /// concurrency < 1.
  runtime(boost::asio::execution_context& owner, int concurrency, const context_options& options);
  ~runtime();

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Queues `op`. From a worker of this runtime it goes to that worker (see schedule_hint);
  /// from any other thread to the injection queue, waking a parked worker. The operation counts
  /// as outstanding work until it has run. After shutdown() the operation is destroyed.
  void schedule(operation* op, schedule_hint hint) noexcept;

  /// True when the calling thread is running this runtime's operations right now.
  bool running_in_this_thread() const noexcept;

  /// True when running_in_this_thread() and the thread is not inside Asio's reactor, so an
  /// executor may run a blocking.possibly function inline.
  bool can_run_inline() const noexcept;

  /// Index of the worker slot the calling thread holds, or -1.
  int current_worker_index() const noexcept;

  /// Outstanding-work counting, as io_context's: run() returns when it reaches zero.
  void work_started() noexcept;
  void work_finished() noexcept;

  std::size_t run();
  std::size_t run_one();
  std::size_t run_until(std::chrono::steady_clock::time_point deadline);
  std::size_t run_one_until(std::chrono::steady_clock::time_point deadline);
  std::size_t poll();
  std::size_t poll_one();
  void stop() noexcept;
  bool stopped() const noexcept;
  void restart() noexcept;

  /// Destroys every queued operation without running it; later schedule() calls destroy their
  /// operation at once. Called from the context's shutdown, after all run() calls returned.
  void shutdown() noexcept;

  std::size_t concurrency() const noexcept;
  const context_options& options() const noexcept;
  runtime_metrics metrics() const;

  /// Wakes the reactor if a worker is blocked in it.
  void interrupt_reactor() noexcept;

  /// Installs the timer service's hooks (once; may be called while workers run).
  void set_timer_hooks(timer_hooks* hooks) noexcept;

  /// A timer was armed for `deadline`: true when the worker blocked in the reactor (or about to
  /// block) would sleep past it, in which case the caller must call interrupt_reactor(). Two
  /// steps, so that the check can be made under a lock and the system call outside it.
  bool timer_needs_interrupt(std::chrono::steady_clock::time_point deadline) noexcept;

  /// The services that hot paths look up (every spawn, every timer construction).
  enum class cached_service { task, timer, count };

  /// Where cached_service_of (detail/cached_service.hpp) keeps the service of kind `which`:
  /// Asio's use_service takes the service registry's mutex on every call.
  std::atomic<void*>& service_cache(cached_service which) noexcept {
    return service_cache_[static_cast<std::size_t>(which)];
  }

  /// The implementation, for kyoto's compiled parts (src/), which see its definition and call
  /// its hot paths inline (the timer service: every arm and cancel).
  runtime_impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<runtime_impl> impl_;
  // The cached services, each null until first used.
  std::atomic<void*> service_cache_[static_cast<std::size_t>(cached_service::count)] = {};
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_RUNTIME_HPP
