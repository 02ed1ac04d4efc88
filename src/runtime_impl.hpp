// src/runtime_impl.hpp (private)
//
// The scheduler's state and its operations. The protocol, in brief (doc/design.md has it all):
//
// Outstanding work. `outstanding_` counts, like io_context's outstanding_work_: operations in
// the injection queue (one unit each), tracked executors and work guards (one each), and one
// "work token" per worker that holds operations of its own (LIFO slot, local queue) or is
// running one. Operations a worker schedules for itself therefore cost no shared atomic. A
// worker gives its token back only when it has no local operations and is about to park; when
// the count reaches zero the runtime stops, which makes run() return. A count can never reach
// zero while work exists: units are added before the work they stand for becomes visible to
// other threads, and removed only after it is gone.
//
// Driver. Asio's scheduler (and through it the reactor) is called only by the worker holding
// `driver_busy_`: a non-blocking poll at maintenance points, or a blocking wait_one() when the
// worker parks. Everyone else parks on a condition variable. This exclusivity matters: Asio's
// wait_one() sleeps on Asio's own condition variable (which kyoto never signals) if another
// thread is inside the reactor at that moment.
//
// Thread safety: see runtime.hpp.

#ifndef KYOTO_SRC_RUNTIME_IMPL_HPP
#define KYOTO_SRC_RUNTIME_IMPL_HPP

#include <kyoto/context_options.hpp>
#include <kyoto/detail/asio_bridge.hpp>
#include <kyoto/detail/idle_set.hpp>
#include <kyoto/detail/inject_queue.hpp>
#include <kyoto/detail/runtime.hpp>
#include <kyoto/detail/worker.hpp>
#include <kyoto/metrics.hpp>

#include "reactor_alarm.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace kyoto::detail {

class runtime_impl {
 public:
  using clock = std::chrono::steady_clock;

  runtime_impl(boost::asio::execution_context& owner, int concurrency,
               const context_options& options);

  // --- Scheduling (any thread) ---
  void schedule(operation* op, schedule_hint hint) noexcept;
  worker* current_worker() const noexcept;
  void work_started() noexcept { outstanding_.fetch_add(1, std::memory_order_relaxed); }
  void work_finished() noexcept;

  // --- Running (worker_loop.cpp) ---
  /// The body of run(), run_one(), poll(), poll_one() and their timed forms.
  std::size_t run_loop(bool only_one, bool may_block, clock::time_point deadline);

  // --- Life cycle ---
  void stop() noexcept;
  /// Waits until no call that could let run() return is still inside the runtime (a post or a
  /// work count released from a thread that is not running the context, stop()). The owner's
  /// destructor calls it first: once run() has returned the context may be destroyed at once,
  /// as an io_context may, even though the thread that made run() return is still on its way
  /// out of that call (io_context's calls do everything under its lock, so its run() cannot
  /// return before they are done).
  void wait_for_callers() const noexcept;

  /// Counts the enclosing call in callers_ for wait_for_callers(). Also for the timer service's
  /// calls from threads that do not run the context.
  struct caller_scope {
    explicit caller_scope(runtime_impl& rt) noexcept : callers(rt.callers_) {
      // seq_cst: sequenced before whatever lets run() return (publishing an operation, the
      // work count's decrement, the stopped_ store), which run()'s thread acquires; the owner
      // destroys the context after run() returned, so it sees this increment. seq_cst also
      // for schedule_remote()'s check of shut_down_ (see there).
      callers.fetch_add(1, std::memory_order_seq_cst);
    }
    caller_scope(const caller_scope&) = delete;
    caller_scope& operator=(const caller_scope&) = delete;
    ~caller_scope() {
      // release: the call's last touches of the runtime happen before wait_for_callers() sees 0.
      callers.fetch_sub(1, std::memory_order_release);
    }
    std::atomic<std::int64_t>& callers;
  };
  bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }
  void restart() noexcept { stopped_.store(false, std::memory_order_release); }
  void shutdown() noexcept;

  std::size_t concurrency() const noexcept { return workers_.size(); }
  const context_options& options() const noexcept { return options_; }
  runtime_metrics metrics() const;
  void interrupt_reactor() noexcept { reactor_.interrupt(); }
  void set_timer_hooks(timer_hooks* hooks) noexcept {
    // release: pairs with the workers' acquire loads in timer_hooks_(); the service is fully
    // built before workers can call it.
    timers_.store(hooks, std::memory_order_release);
  }
  bool timer_needs_interrupt(clock::time_point deadline) noexcept;

 private:
  /// `d` in clock ticks, at most clock::duration::max() (microseconds::max() would overflow).
  static clock::rep saturated_ticks(std::chrono::microseconds d) noexcept {
    constexpr auto limit =
        std::chrono::duration_cast<std::chrono::microseconds>(clock::duration::max());
    return d >= limit ? clock::duration::max().count()
                      : std::chrono::duration_cast<clock::duration>(d).count();
  }

  // --- Slots (runtime_impl.cpp) ---
  worker* claim_slot(bool may_block, clock::time_point deadline);
  void release_slot(worker& w) noexcept;
  struct slot_guard;

  // --- Local scheduling (runtime_impl.cpp) ---
  void schedule_local(worker& w, operation* op, schedule_hint hint) noexcept;
  void schedule_remote(operation* op) noexcept;
  void push_local(worker& w, operation* op) noexcept;
  void overflow_to_injection(worker& w, std::span<operation* const> batch) noexcept;
  void acquire_token(worker& w) noexcept {
    if (!w.has_work_token) {
      outstanding_.fetch_add(1, std::memory_order_relaxed);
      w.has_work_token = true;
    }
  }
  void release_token(worker& w) noexcept;
  bool notify_parked(std::size_t except = idle_set::no_worker) noexcept;
  void notify_if_work_pending() noexcept;
  void unpark(worker& w) noexcept;

  // --- The worker loop (worker_loop.cpp) ---
  operation* find_work(worker& w);
  operation* pop_local(worker& w) noexcept;
  operation* pop_injected(worker& w) noexcept;
  operation* steal(worker& w) noexcept;
  operation* steal_lone(worker& w, worker& victim, std::uint32_t front) noexcept;
  operation* steal_half(worker& w, worker& victim) noexcept;
  void keep_watching(worker& w) noexcept;
  void wait_before_look(worker& w) noexcept;
  void end_search(worker& w) noexcept;
  void maintenance(worker& w);
  void tune_intervals(worker& w, clock::rep now) noexcept;
  // Completes the Asio operations queued on the worker's Asio frame; with run_inline, those
  // queued so far run their handlers here (and count as operations run: the return value).
  std::size_t complete_private_asio_ops(worker& w, bool run_inline);
  std::size_t poll_reactor(worker& w);
  void park(worker& w, clock::time_point deadline);
  void park_once(worker& w, clock::time_point deadline);
  bool try_drive(worker& w, clock::time_point deadline);
  void note_reactor_look(clock::rep now = clock::now().time_since_epoch().count()) noexcept {
    // relaxed: only a hint for maintenance(), which may poll once too often or too rarely.
    last_reactor_look_.store(now, std::memory_order_relaxed);
  }

  // The tuning knobs.
  const context_options options_;
  // The key under which workers push themselves on Asio's thread call stack.
  thread_identity identity_;
  // Asio's scheduler and reactor, registered in the owning context without a thread.
  asio_scheduler& asio_scheduler_;
  asio_reactor& reactor_;
  // Wakes the worker blocked in the reactor at the next timer deadline, to the microsecond.
  reactor_alarm alarm_{reactor_};
  // The worker slots; the vector never changes size.
  std::vector<std::unique_ptr<worker>> workers_;
  // Operations scheduled from outside the workers, and local-queue overflow.
  inject_queue injection_;
  // Parked workers and searching workers.
  idle_set idle_;
  // The count of unfinished work (see the protocol above).
  std::atomic<std::int64_t> outstanding_{0};
  // Calls in progress that can let run() return before they do (caller_scope). Next to
  // outstanding_: the calls that touch one touch the other, so it costs no extra cache miss.
  std::atomic<std::int64_t> callers_{0};
  // Set by stop(), cleared by restart().
  std::atomic<bool> stopped_{false};
  // Set by shutdown(): schedule() destroys operations instead of queueing them.
  std::atomic<bool> shut_down_{false};
  // Held by the one worker allowed to call into Asio's scheduler.
  std::atomic<bool> driver_busy_{false};
  // Guards claimed_.
  std::mutex slots_mutex_;
  // Which worker slots a thread holds.
  std::vector<bool> claimed_;
  // Signalled when a slot is given back or the runtime stops (threads beyond concurrency()).
  std::condition_variable slot_freed_;
  // The timer service's hooks, or null. Installed lazily, when the first timer is created.
  std::atomic<timer_hooks*> timers_{nullptr};
  // When the worker blocked in the reactor will wake up by itself (clock ticks since the
  // epoch); the minimum when no worker is blocked there.
  std::atomic<clock::rep> driver_wakes_at_{clock::time_point::min().time_since_epoch().count()};
  // When a worker last polled or waited in the reactor (clock ticks since the epoch).
  std::atomic<clock::rep> last_reactor_look_{0};
  // options_.busy_check_period in clock ticks.
  const clock::rep busy_check_period_ = saturated_ticks(options_.busy_check_period);
  // options_.reactor_poll_interval in clock ticks.
  const clock::rep reactor_poll_interval_ = saturated_ticks(options_.reactor_poll_interval);
  // options_.lone_steal_delay in clock ticks.
  const clock::rep lone_steal_delay_ = saturated_ticks(options_.lone_steal_delay);
  // How long a worker watching a peer's chain spins between looks before it sleeps between
  // them instead (wait_before_look), and how long it then sleeps: nominally; Linux's default
  // timer slack of 50 us comes on top, about 70 us in all.
  const clock::rep long_watch_ = saturated_ticks(std::chrono::microseconds(200));
  static constexpr std::chrono::microseconds watch_sleep{20};
  // Wake-ups sent by threads that are not workers.
  std::atomic<std::uint64_t> remote_wakeups_{0};
};

// The two calls of every scheduling and timer operation, inline for the compiled parts that
// include this header (runtime.cpp, timer_service.cpp).

inline worker* runtime_impl::current_worker() const noexcept {
  auto* info = thread_identity::call_stack::contains(const_cast<thread_identity*>(&identity_));
  return info ? static_cast<worker_thread_info*>(info)->slot : nullptr;
}

inline void runtime_impl::schedule(operation* op, schedule_hint hint) noexcept {
  // acquire: pairs with shutdown()'s release store; an operation scheduled after shutdown
  // is destroyed, not queued.
  if (shut_down_.load(std::memory_order_acquire)) {
    op->destroy();
    return;
  }
  if (worker* w = current_worker())
    schedule_local(*w, op, hint);
  else
    schedule_remote(op);
}

} // namespace kyoto::detail

#endif // KYOTO_SRC_RUNTIME_IMPL_HPP
