// kyoto/detail/timer_service.hpp
//
// The timer service of a kyoto::context: hierarchical timer wheels (timer_wheel.hpp) sharded per
// worker, plugged into the worker loop through runtime::timer_hooks. doc/timers.md has the whole
// design; this is its protocol.
//
// Shards. concurrency() + 1 shards, each two wheels (below), its own lock and a cached lower
// bound on its next expiration: shard i for worker slot i, the last one for threads that hold no
// worker slot.
// A timer with no pending wait is in no shard; its first wait arms it in the shard of the
// calling thread, and it stays there until no wait is pending (timer_state::shard_), so later
// waits, cancels and per-operation cancellations from any thread lock that one shard. The
// common path (a worker arming and cancelling its own timers) takes only its own uncontended
// lock: there is no global lock.
//
// Time. The main wheel (Tokio's geometry) counts 1 ms ticks since the service was created
// (epoch_); a deadline becomes the tick that rounds it UP. Firing at the tick would make every
// timer late by up to a millisecond (0.5 ms on average, where asio::steady_timer is exact), so
// each shard also has a small fine wheel in fine ticks of 1/64 ms (15.625 us). When the clock is
// in millisecond m (now rounded DOWN), the main wheel is advanced to m + wheel_lead: it delivers
// the timers due by the end of millisecond m + wheel_lead - 1, and each one whose deadline (in
// fine ticks, rounded UP) has not passed moves to the fine wheel, which is advanced to now in
// fine ticks. A timer fires only once a wheel reached a tick >= its deadline at a real time >=
// that tick: never early, and late by at most one fine tick plus the wake-up. A wait started for
// a deadline the main wheel has passed (it refuses it) goes straight to the fine wheel. Deadlines
// the main wheel cannot hold (beyond ~2.2 years, time_point::max()) are clamped and re-armed,
// never dropped. timer_state::in_fine_wheel_ says which wheel holds a timer.
//
// Firing. fire_due_timers() locks a due shard, advances its wheels, moves every expired timer's
// waits to a private list (clearing the timers' state), recomputes the shard's cached next
// expiration, unlocks, and only then schedules each wait with runtime::schedule(op, fork). No
// user code ever runs under a shard lock, nor inline in the driver. Cancelled waits are
// scheduled the same way with operation_aborted.
//
// Early cascades. Re-arming the entries of a coarse slot (tens of thousands when many timers
// are armed) takes long enough to make the timers due at that tick late, so each shard
// publishes a next_due_ one tick before a coarse slot is due (timer_wheel::next_advance), and
// the driver, about to sleep with nothing to run, cascades it then (prepare_to_sleep), in parts
// of early_cascade_batch entries; it stops when a timer comes due, fires it, and comes back for
// the rest. A context that is never idle cascades at the tick.
//
// Reactor integration. Each shard caches next_due_, when it next needs attention, in fine ticks:
// the earlier of the fine wheel's next expiration and the time the main wheel must be advanced
// (one tick early for a coarse slot); lowered on insert to the new timer's own time,
// recomputed after each advance, left alone on remove (a stale value only costs one early
// wake-up). next_timer_deadline() is the minimum over the shards. The
// driver publishes its wake-up time, then reads the caches; an arming thread that lowers the
// cache then calls runtime::timer_needs_interrupt(deadline), which reads the wake-up time. Both
// sides are seq_cst, so either the driver sees the new deadline or the arming thread sees the
// driver's later wake-up time and interrupts the reactor (after releasing the shard lock). A wait
// that does not lower the cache does not check (the check reads a line the driver writes at every
// park): the earlier value is covered by the check of the wait that set it, made before that wait
// released the shard lock, or by a recomputation after an advance, which never goes below what a
// sleeping driver read.
//
// Outstanding work. A pending wait holds no work of its own (handler_work.hpp); instead each
// shard counts as one unit of the runtime's outstanding work while it has armed timers
// (shard::holds_work_, changed under the shard's lock): taken when a wait arms the first timer,
// given back by whoever disarms the last one, after scheduling the waits it took out (which
// then count as queued operations), so run() never sees zero in between. Arming and cancelling
// therefore touch no shared counter: two atomic increments per wait fewer than Asio's
// handler_work.
//
// Thread safety: every member may be called from any thread, except shutdown() (the context's
// shutdown, after run() calls returned). One timer_state must not be used by two of
// start_wait/cancel/cancel_one/move at once (Asio's rule for one timer object); a cancellation
// handler, and the firing, may run concurrently with any of them.
//
// Shutdown: every pending wait is taken out of the wheels and destroyed without being run (its
// handler is destroyed, as Asio does; no operation_aborted). Waits started later are destroyed
// by the (already shut down) runtime when they are scheduled.

#ifndef KYOTO_DETAIL_TIMER_SERVICE_HPP
#define KYOTO_DETAIL_TIMER_SERVICE_HPP

#include <kyoto/detail/runtime.hpp>
#include <kyoto/detail/spin_lock.hpp>
#include <kyoto/detail/timer_wait_op.hpp>
#include <kyoto/detail/timer_wheel.hpp>

#include <boost/asio/execution_context.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace kyoto {
class context;
}

namespace kyoto::detail {

class timer_service final
    : public boost::asio::detail::execution_context_service_base<timer_service>,
      public timer_hooks {
 public:
  using clock = std::chrono::steady_clock;

  /// Created by use_service<timer_service>(ctx) (see timer_for_context in kyoto_context_of.hpp);
  /// `ctx` must be a kyoto::context, which the caller has checked. Installs itself as the
  /// runtime's timer hooks.
  explicit timer_service(boost::asio::execution_context& ctx);
  ~timer_service();

  /// Destroys every pending wait without running it.
  void shutdown() override;

  /// Starts `op` waiting on `t` until `deadline`. A deadline already reached (in ticks) completes
  /// with success at once (scheduled, not run inline). Never throws.
  void start_wait(timer_state& t, clock::time_point deadline, timer_wait_op* op) noexcept;

  /// Cancels every pending wait of `t` (operation_aborted); returns how many.
  std::size_t cancel(timer_state& t) noexcept;

  /// Cancels the oldest pending wait of `t` (operation_aborted); returns 0 or 1.
  std::size_t cancel_one(timer_state& t) noexcept;

  /// Moves the pending waits of `from` to `to`, which must have none.
  void move(timer_state& to, timer_state& from) noexcept;

  /// Cancels the wait that `h` was installed for, if it is still pending.
  void cancel_wait(timer_cancel_handler& h) noexcept;

  /// The runtime this service schedules completions on.
  runtime& scheduler() noexcept { return runtime_; }

  // timer_hooks
  clock::time_point next_timer_deadline() noexcept override;
  void fire_due_timers(int worker_index) noexcept override;
  void prepare_to_sleep() noexcept override;

 private:
  static constexpr std::uint64_t no_tick = ~std::uint64_t{0};

  /// Locks the shard that holds armed timer `t`, following it if it is fired or moved
  /// meanwhile; returns the shard's index, or -1 (nothing locked) when `t` is idle.
  int lock_armed_shard(timer_state& t, std::unique_lock<spin_lock>& lock) noexcept;

  // Fine ticks per millisecond tick of the wheel: a fine tick is 15.625 us.
  static constexpr std::uint64_t fine_per_tick = 64;
  // How many ticks ahead of the clock the main wheel is advanced: one, so that what it delivers
  // is due within the current millisecond and lands in the fine wheel's first level. More would
  // cost each timer an extra wake-up (a fine-wheel cascade) and would not lengthen an early
  // cascade's window: that ends when the main wheel passes T - 1, one millisecond after it
  // reached it, whatever the lead.
  static constexpr std::uint64_t wheel_lead = 1;
  // The most entries one prepare_to_sleep() cascades early per shard (about 15 us of work).
  static constexpr std::size_t early_cascade_batch = 1024;
  // One fine tick.
  using fine_duration = std::chrono::duration<std::int64_t, std::ratio<1, 64'000>>;
  // The fine wheel: 2 levels of 64 fine ticks, 64 ms, far more than the wheel_lead
  // milliseconds (plus a late driver's delay) that its timers are due within.
  using fine_timer_wheel = basic_timer_wheel<2, 6>;

  // The wheels of one shard with their lock; aligned so that two shards never share a cache
  // line.
  struct alignas(64) shard {
    // Serialises every access to the wheels and to the timers and waits armed in them (a spin
    // lock: mostly short holds, almost never contended; see spin_lock.hpp).
    spin_lock lock_;
    // The timers armed by threads that map to this shard, in millisecond ticks. Advanced
    // wheel_lead ticks ahead of the clock: what it delivers is due within the current
    // millisecond (for a lead of one).
    timer_wheel wheel_;
    // The timers the wheel delivered that are not due yet, in fine ticks.
    fine_timer_wheel fine_;
    // When the shard next needs attention, in fine ticks (no_tick when both wheels are empty):
    // the earlier of fine_'s next expiration and advance_time() of wheel_'s next advance. Never
    // later than the next deadline.
    std::atomic<std::uint64_t> next_due_{no_tick};
    // True while the shard holds one unit of the runtime's outstanding work, which it does
    // whenever a timer is armed in it.
    bool holds_work_ = false;
  };

  // The shard for a timer first armed by the calling thread.
  int home_shard() const noexcept;
  // The deadline in fine ticks, rounded up.
  std::uint64_t to_fine(clock::time_point t) const noexcept;
  // The current fine tick, rounded down.
  std::uint64_t fine_now() const noexcept;
  // The time at which fine tick `fine` starts.
  clock::time_point fine_time(std::uint64_t fine) const noexcept;
  // Locks `s` (or only tries, when `try_only`) and fires what is due at fine tick `now`.
  void fire_shard(shard& s, std::uint64_t now, bool try_only) noexcept;
  // Whether a shard other than `self` has something due at fine tick `now` (a hint).
  bool other_shard_due(std::size_t self, std::uint64_t now) const noexcept;
  // The fine tick from which the main wheel can be advanced to tick `tick`.
  static std::uint64_t advance_time(std::uint64_t tick) noexcept;
  // Recomputes s.next_due_ from the wheels (caller holds the lock).
  static void publish_next_due(shard& s) noexcept;
  // Disarms `t` in whichever wheel of `s` holds it (caller holds the lock).
  static void remove_entry(shard& s, timer_state& t) noexcept;
  // Makes `s` hold its unit of outstanding work (caller holds the lock, and has just armed a
  // timer in it).
  void hold_work(shard& s) noexcept;
  // When `s` has no armed timer left, stops it holding its unit of work and returns true: the
  // unit is then given back (unlock_and_schedule). Caller holds the lock.
  static bool drop_work_if_idle(shard& s) noexcept;
  // Detaches `op` from its timer and from its cancellation handler (caller holds the lock).
  static void detach(timer_wait_op* op) noexcept;
  // Unlinks every wait of `t` (under its shard's lock) and appends them to [head, tail).
  static void take_waits(timer_state& t, timer_wait_op*& head, timer_wait_op*& tail) noexcept;
  // Unlocks `s` (held through `lock`), schedules the list with `ec`, then gives the shard's unit
  // of work back if it no longer has armed timers.
  void unlock_and_schedule(shard& s, std::unique_lock<spin_lock>& lock, timer_wait_op* head,
                           const boost::system::error_code& ec) noexcept;
  // Schedules every wait of the list with `ec`.
  void schedule_all(timer_wait_op* head, const boost::system::error_code& ec) noexcept;

  // The scheduler of the owning context.
  runtime& runtime_;
  // Tick 0 of both wheels.
  clock::time_point epoch_;
  // The number of shards: concurrency() + 1.
  std::size_t shard_count_;
  // The shards; index shard_count_ - 1 is for threads without a worker slot.
  std::unique_ptr<shard[]> shards_;
};

inline void timer_cancel_handler::operator()(boost::asio::cancellation_type_t type) {
  using boost::asio::cancellation_type;
  if ((type & (cancellation_type::terminal | cancellation_type::partial |
               cancellation_type::total)) != cancellation_type::none)
    service_->cancel_wait(*this);
}

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TIMER_SERVICE_HPP
