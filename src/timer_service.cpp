// The timer service: per-worker timer wheels behind the runtime's timer hooks. The protocol is
// at the top of include/kyoto/detail/timer_service.hpp; the design in doc/timers.md.

#include <kyoto/detail/timer_service.hpp>

#include <kyoto/context.hpp>

#include "runtime_impl.hpp"

#include <algorithm>
#include <cassert>
#include <optional>

namespace kyoto::detail {

namespace {

// Appends `op` to the list [head, tail].
void append(timer_wait_op*& head, timer_wait_op*& tail, timer_wait_op* op) noexcept {
  op->next_wait_ = nullptr;
  if (tail)
    tail->next_wait_ = op;
  else
    head = op;
  tail = op;
}

} // namespace

void timer_service::detach(timer_wait_op* op) noexcept {
  op->owner_ = nullptr;
  if (op->cancel_) {
    op->cancel_->op_ = nullptr;
    op->cancel_ = nullptr;
  }
}

timer_service::timer_service(boost::asio::execution_context& ctx)
    : execution_context_service_base<timer_service>(ctx),
      runtime_(static_cast<kyoto::context&>(ctx).impl()), epoch_(clock::now()),
      shard_count_(runtime_.concurrency() + 1), shards_(new shard[shard_count_]) {
  runtime_.set_timer_hooks(this);
  // A driver that went to sleep before the hooks existed published no wake-up time, so
  // start_wait could not interrupt it: wake it (latched) to re-plan its sleep with the wheels.
  runtime_.interrupt_reactor();
}

timer_service::~timer_service() {
  runtime_.set_timer_hooks(nullptr);
}

void timer_service::shutdown() {
  // Destroying a handler may destroy other timers (which lock their shard) or start new waits
  // (destroyed at once by the shut-down runtime), so handlers are destroyed outside the lock.
  for (std::size_t i = 0; i < shard_count_; ++i) {
    shard& s = shards_[i];
    timer_wait_op* head = nullptr;
    timer_wait_op* tail = nullptr;
    {
      std::lock_guard lock(s.lock_);
      // Moving the wheel to the end of time delivers every entry; later inserts fail (their
      // deadline is in the past) and complete at once, i.e. are destroyed by the runtime.
      auto take = [&](timer_entry& e) { take_waits(static_cast<timer_state&>(e), head, tail); };
      s.fine_.advance(no_tick - 1, take);
      s.wheel_.advance(no_tick - 1, take);
      s.next_due_.store(no_tick, std::memory_order_relaxed);
      // The runtime is shut down: its count no longer matters (as Asio, which destroys pending
      // operations without counting them finished).
      s.holds_work_ = false;
    }
    while (head) {
      timer_wait_op* next = head->next_wait_;
      head->next_wait_ = nullptr;
      head->destroy();
      head = next;
    }
  }
}

void timer_service::start_wait(timer_state& t, clock::time_point deadline,
                               timer_wait_op* op) noexcept {
  const std::uint64_t fine = to_fine(deadline);
  const std::uint64_t tick = fine / fine_per_tick + (fine % fine_per_tick != 0); // rounded up
  std::uint64_t due = no_tick; // when the shard needs attention for this timer, once armed
  bool interrupt = false;      // whether the driver must be woken to re-plan its sleep
  // Once the lock is released the wait may fire and run() return before the interrupt below is
  // made: the owner's destructor must wait for it (runtime_impl::wait_for_callers). Counted
  // only when there is an interrupt to make, so the common arm costs nothing more.
  std::optional<runtime_impl::caller_scope> interrupt_scope;
  for (;;) {
    // acquire: pairs with the release store of -1 in take_waits; a thread that sees the timer
    // idle also sees its wait list emptied by whichever thread fired or cancelled it.
    const int current = t.shard_.load(std::memory_order_acquire);
    const int index = current >= 0 ? current : home_shard();
    shard& s = shards_[static_cast<std::size_t>(index)];
    std::unique_lock lock(s.lock_);
    if (t.shard_.load(std::memory_order_relaxed) != current)
      continue; // fired or cancelled meanwhile: now idle, start over
    if (current < 0) {
      t.fine_deadline_ = fine;
      if (s.wheel_.insert(t, tick)) {
        // In a coarse slot, one tick before the slot's start: the early cascade's time.
        due = advance_time(s.wheel_.next_advance_for(t));
      } else if (fine > fine_now() && s.fine_.insert(t, fine)) {
        // In the millisecond the main wheel has reached, but not due yet (see the header).
        t.in_fine_wheel_ = true;
        due = fine;
      } else {
        // Already due: complete with success, scheduled like any completion.
        lock.unlock();
        op->cancel_ = nullptr;
        op->ec_ = {};
        runtime_.impl().schedule(op, schedule_hint::fork);
        return;
      }
      t.shard_.store(index, std::memory_order_relaxed);
      hold_work(s);
      if (due < s.next_due_.load(std::memory_order_relaxed)) {
        // seq_cst: one half of the handshake with the driver (see the header): this store, then
        // timer_needs_interrupt's load of the driver's wake-up time.
        s.next_due_.store(due, std::memory_order_seq_cst);
        // Decided under the lock: a wait that finds next_due_ already this low (and so does not
        // check) comes after this check. Checked after unlocking, a later wait for a later
        // deadline could skip its check while this thread is preempted before its own, and the
        // driver would sleep past both. The interrupt itself (a system call) is made after
        // unlocking; a delay there delays the driver as a delay under the lock would.
        interrupt = runtime_.timer_needs_interrupt(fine_time(due));
        if (interrupt)
          interrupt_scope.emplace(runtime_.impl());
      }
    }
    op->owner_ = &t;
    if (op->cancel_) {
      op->cancel_->shard_ = index;
      op->cancel_->op_ = op;
    }
    append(t.head_, t.tail_, op);
    break;
  }
  if (interrupt)
    runtime_.interrupt_reactor();
}

int timer_service::lock_armed_shard(timer_state& t, std::unique_lock<spin_lock>& lock) noexcept {
  for (;;) {
    // acquire: as in start_wait.
    const int current = t.shard_.load(std::memory_order_acquire);
    if (current < 0)
      return -1;
    lock = std::unique_lock(shards_[static_cast<std::size_t>(current)].lock_);
    if (t.shard_.load(std::memory_order_relaxed) == current)
      return current;
    lock.unlock(); // fired, cancelled or moved meanwhile: look again
  }
}

std::size_t timer_service::cancel(timer_state& t) noexcept {
  std::unique_lock<spin_lock> lock;
  const int current = lock_armed_shard(t, lock);
  if (current < 0)
    return 0;
  shard& s = shards_[static_cast<std::size_t>(current)];
  remove_entry(s, t);
  timer_wait_op* head = nullptr;
  timer_wait_op* tail = nullptr;
  std::size_t n = 0;
  for (timer_wait_op* op = t.head_; op; op = op->next_wait_)
    ++n;
  take_waits(t, head, tail);
  unlock_and_schedule(s, lock, head, boost::asio::error::operation_aborted);
  return n;
}

std::size_t timer_service::cancel_one(timer_state& t) noexcept {
  std::unique_lock<spin_lock> lock;
  const int current = lock_armed_shard(t, lock);
  if (current < 0)
    return 0;
  shard& s = shards_[static_cast<std::size_t>(current)];
  timer_wait_op* op = t.head_;
  assert(op != nullptr);
  t.head_ = op->next_wait_;
  op->next_wait_ = nullptr;
  detach(op);
  if (!t.head_) {
    t.tail_ = nullptr;
    remove_entry(s, t);
    // release: see take_waits.
    t.shard_.store(-1, std::memory_order_release);
  }
  unlock_and_schedule(s, lock, op, boost::asio::error::operation_aborted);
  return 1;
}

void timer_service::move(timer_state& to, timer_state& from) noexcept {
  assert(to.shard_.load(std::memory_order_relaxed) < 0 && "move: the target has pending waits");
  std::unique_lock<spin_lock> lock;
  const int current = lock_armed_shard(from, lock);
  if (current < 0)
    return;
  shard& s = shards_[static_cast<std::size_t>(current)];
  // Re-link in the same shard, so that cancellation handlers (which remember the shard)
  // still find their waits.
  const std::uint64_t deadline = from.deadline(); // in the units of the wheel that holds it
  const bool in_fine_wheel = from.in_fine_wheel_;
  remove_entry(s, from);
  // An armed entry's deadline is after its wheel's now (advance fires the others under this
  // same lock), so re-inserting it in the same wheel always succeeds.
  [[maybe_unused]] const bool inserted =
      in_fine_wheel ? s.fine_.insert(to, deadline) : s.wheel_.insert(to, deadline);
  assert(inserted);
  to.in_fine_wheel_ = in_fine_wheel;
  to.fine_deadline_ = from.fine_deadline_;
  to.head_ = std::exchange(from.head_, nullptr);
  to.tail_ = std::exchange(from.tail_, nullptr);
  for (timer_wait_op* op = to.head_; op; op = op->next_wait_)
    op->owner_ = &to;
  to.shard_.store(current, std::memory_order_relaxed);
  // release: see take_waits.
  from.shard_.store(-1, std::memory_order_release);
  return;
}

void timer_service::cancel_wait(timer_cancel_handler& h) noexcept {
  if (h.shard_ < 0)
    return; // completed at once, never armed
  shard& s = shards_[static_cast<std::size_t>(h.shard_)];
  std::unique_lock lock(s.lock_);
  timer_wait_op* op = h.op_;
  if (!op)
    return; // already fired or cancelled
  timer_state& t = *op->owner_;
  timer_wait_op* prev = nullptr;
  for (timer_wait_op* p = t.head_; p != op; p = p->next_wait_)
    prev = p;
  (prev ? prev->next_wait_ : t.head_) = op->next_wait_;
  if (t.tail_ == op)
    t.tail_ = prev;
  op->next_wait_ = nullptr;
  detach(op);
  if (!t.head_) {
    remove_entry(s, t);
    // release: see take_waits.
    t.shard_.store(-1, std::memory_order_release);
  }
  unlock_and_schedule(s, lock, op, boost::asio::error::operation_aborted);
}

timer_service::clock::time_point timer_service::next_timer_deadline() noexcept {
  std::uint64_t next = no_tick;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    // seq_cst: the driver's half of the handshake: its wake-up time store, then these loads.
    const std::uint64_t due = shards_[i].next_due_.load(std::memory_order_seq_cst);
    if (due < next)
      next = due;
  }
  return next == no_tick ? clock::time_point::max() : fine_time(next);
}

void timer_service::fire_due_timers(int worker_index) noexcept {
  const std::uint64_t now = fine_now();
  const auto own = static_cast<std::size_t>(worker_index);
  if (worker_index >= 0 && own + 1 < shard_count_) {
    // A busy worker: its own wheel, then whatever else is due if nobody holds it (a wheel whose
    // worker is busy elsewhere, or the non-worker wheel while every worker is busy).
    fire_shard(shards_[own], now, false);
    for (std::size_t i = 0; i < shard_count_; ++i)
      if (i != own)
        fire_shard(shards_[i], now, true);
  } else {
    for (std::size_t i = 0; i < shard_count_; ++i)
      fire_shard(shards_[i], now, false);
  }
}

void timer_service::fire_shard(shard& s, std::uint64_t now, bool try_only) noexcept {
  // relaxed: a stale value only delays firing to the next call; the driver's sleep is bounded
  // by the seq_cst handshake, and after waking it reads at least what it read before sleeping.
  if (s.next_due_.load(std::memory_order_relaxed) > now)
    return;
  std::unique_lock lock(s.lock_, std::defer_lock);
  if (try_only) {
    if (!lock.try_lock())
      return;
  } else {
    lock.lock();
  }
  timer_wait_op* head = nullptr;
  timer_wait_op* tail = nullptr;
  // The fine wheel first, to now; then the main wheel, wheel_lead ticks ahead of the clock.
  if (now > s.fine_.now())
    s.fine_.advance(now,
                    [&](timer_entry& e) { take_waits(static_cast<timer_state&>(e), head, tail); });
  const std::uint64_t ahead = now / fine_per_tick + wheel_lead;
  if (ahead > s.wheel_.now()) {
    s.wheel_.advance(ahead, [&](timer_entry& e) {
      auto& t = static_cast<timer_state&>(e);
      // Due by the end of this millisecond; not yet due ones wait in the fine wheel, which is
      // at `now` and refuses (returns false for) deadlines <= now.
      if (s.fine_.insert(t, t.fine_deadline_))
        t.in_fine_wheel_ = true;
      else
        take_waits(t, head, tail);
    });
  }
  publish_next_due(s);
  unlock_and_schedule(s, lock, head, {});
}

void timer_service::prepare_to_sleep() noexcept {
  const std::uint64_t now = fine_now();
  for (std::size_t i = 0; i < shard_count_; ++i) {
    shard& s = shards_[i];
    // relaxed: as in fire_shard; a shard that can cascade early published advance_time() of
    // its main wheel's now, which has begun.
    if (s.next_due_.load(std::memory_order_relaxed) > now)
      continue;
    // In parts, so that timers due meanwhile wait for one part at most: the driver stops when
    // one is due, fires it, and (the shard staying due while the cascade is unfinished, it does
    // not sleep) comes back for the rest.
    for (;;) {
      std::unique_lock lock(s.lock_);
      if (s.wheel_.cascade_early(early_cascade_batch) == 0)
        break;
      publish_next_due(s);
      const bool unfinished = s.wheel_.can_cascade_early();
      const std::optional<std::uint64_t> fine = s.fine_.next_expiration();
      lock.unlock();
      const std::uint64_t later = fine_now();
      if (!unfinished || (fine && *fine <= later) || other_shard_due(i, later))
        break;
    }
  }
}

bool timer_service::other_shard_due(std::size_t self, std::uint64_t now) const noexcept {
  for (std::size_t i = 0; i < shard_count_; ++i)
    // relaxed: a hint; a stale value only makes the other shard's timers wait one more part.
    if (i != self && shards_[i].next_due_.load(std::memory_order_relaxed) <= now)
      return true;
  return false;
}

void timer_service::publish_next_due(shard& s) noexcept {
  std::uint64_t next = no_tick;
  if (const std::optional<std::uint64_t> fine = s.fine_.next_expiration())
    next = *fine;
  // next_advance() is one tick before a coarse slot comes due, so that the driver is awake then
  // and, once it has nothing else to run, cascades the slot early in prepare_to_sleep().
  if (const std::optional<std::uint64_t> tick = s.wheel_.next_advance())
    next = std::min(next, advance_time(*tick));
  // seq_cst: part of the handshake with the driver. A recomputation never goes below what a
  // sleeping driver read (see the header), so it needs no timer_needs_interrupt check.
  s.next_due_.store(next, std::memory_order_seq_cst);
}

std::uint64_t timer_service::advance_time(std::uint64_t tick) noexcept {
  // The main wheel is advanced to tick m + wheel_lead once the clock is in millisecond m.
  return tick > wheel_lead ? (tick - wheel_lead) * fine_per_tick : 0;
}

void timer_service::remove_entry(shard& s, timer_state& t) noexcept {
  if (t.in_fine_wheel_) {
    s.fine_.remove(t);
    t.in_fine_wheel_ = false;
  } else {
    s.wheel_.remove(t);
  }
}

void timer_service::hold_work(shard& s) noexcept {
  if (!s.holds_work_) {
    s.holds_work_ = true;
    runtime_.work_started();
  }
}

bool timer_service::drop_work_if_idle(shard& s) noexcept {
  if (!s.holds_work_ || !s.wheel_.empty() || !s.fine_.empty())
    return false;
  s.holds_work_ = false;
  return true;
}

void timer_service::take_waits(timer_state& t, timer_wait_op*& head,
                               timer_wait_op*& tail) noexcept {
  for (timer_wait_op* op = t.head_; op;) {
    timer_wait_op* next = op->next_wait_;
    detach(op);
    append(head, tail, op);
    op = next;
  }
  t.head_ = t.tail_ = nullptr;
  t.in_fine_wheel_ = false;
  // release: pairs with the acquire loads of start_wait/cancel/move: whoever sees the timer
  // idle (and so takes no lock) sees the emptied list.
  t.shard_.store(-1, std::memory_order_release);
}

void timer_service::unlock_and_schedule(shard& s, std::unique_lock<spin_lock>& lock,
                                        timer_wait_op* head,
                                        const boost::system::error_code& ec) noexcept {
  // The shard's unit of work goes back only once the waits are scheduled (and so counted as
  // queued operations): run() must not see zero in between.
  const bool give_back = drop_work_if_idle(s);
  lock.unlock();
  schedule_all(head, ec);
  if (give_back)
    runtime_.work_finished();
}

void timer_service::schedule_all(timer_wait_op* head,
                                 const boost::system::error_code& ec) noexcept {
  while (head) {
    timer_wait_op* next = head->next_wait_;
    head->next_wait_ = nullptr;
    head->ec_ = ec;
    runtime_.impl().schedule(head, schedule_hint::fork);
    head = next;
  }
}

int timer_service::home_shard() const noexcept {
  const worker* w = runtime_.impl().current_worker();
  const int i = w ? static_cast<int>(w->index) : -1;
  return i >= 0 && static_cast<std::size_t>(i) + 1 < shard_count_
             ? i
             : static_cast<int>(shard_count_ - 1);
}

std::uint64_t timer_service::to_fine(clock::time_point t) const noexcept {
  if (t <= epoch_)
    return 0;
  // Rounded up: a deadline between two fine ticks belongs to the later one.
  return static_cast<std::uint64_t>(std::chrono::ceil<fine_duration>(t - epoch_).count());
}

std::uint64_t timer_service::fine_now() const noexcept {
  const clock::time_point now = clock::now();
  if (now <= epoch_)
    return 0;
  return static_cast<std::uint64_t>(std::chrono::floor<fine_duration>(now - epoch_).count());
}

timer_service::clock::time_point timer_service::fine_time(std::uint64_t fine) const noexcept {
  const auto last = static_cast<std::uint64_t>(
      std::chrono::floor<fine_duration>(clock::time_point::max() - epoch_).count());
  if (fine >= last)
    return clock::time_point::max();
  return epoch_ + std::chrono::duration_cast<clock::duration>(
                      fine_duration(static_cast<std::int64_t>(fine)));
}

} // namespace kyoto::detail
