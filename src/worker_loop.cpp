// The worker loop: what a thread inside run() does. Tokio's multi-thread worker (worker.rs),
// adapted to io_context's run()/run_one()/poll() and to Asio's reactor.
//
//   loop: LIFO slot (at most lifo_cap in a row) -> local queue -> injection queue (first, every
//         global_queue_interval ticks) -> steal half from a random victim (if fewer than half
//         the workers search) -> injection queue -> park.
//   park: the first idle worker to get the driver blocks in Asio's reactor (epoll_wait);
//         the others sleep on their condition variables.
//   every event_interval ticks: due timers fire, metrics are published, and the reactor is
//         polled without blocking unless someone looked at it within reactor_poll_interval.
//   Both intervals are maxima: with long handlers they shrink to about one check per
//   busy_check_period of handler time (tune_intervals).

#include "runtime_impl.hpp"

#include <kyoto/detail/cpu_relax.hpp>

#include <algorithm>
#include <array>
#include <span>
#include <thread>

namespace kyoto::detail {

namespace {

/// Releases the driver flag and the in_asio mark even when Asio throws.
struct driver_scope {
  std::atomic<bool>& busy;
  worker& w;
  ~driver_scope() {
    w.in_asio = false;
    // release: the next driver sees what this one did inside Asio's scheduler.
    busy.store(false, std::memory_order_release);
  }
};

/// Spins for `ticks` of the steady clock without touching shared memory.
void spin_for(std::chrono::steady_clock::rep ticks) noexcept {
  using clock = std::chrono::steady_clock;
  const clock::rep until = clock::now().time_since_epoch().count() + ticks;
  do {
    for (int i = 0; i < 16; ++i)
      cpu_relax();
  } while (clock::now().time_since_epoch().count() < until);
}

} // namespace

/// Gives the slot back when a run() call ends, normally or by an exception from a handler.
struct runtime_impl::slot_guard {
  runtime_impl& rt;
  worker& w;
  ~slot_guard() { rt.release_slot(w); }
};

std::size_t runtime_impl::run_loop(bool only_one, bool may_block, clock::time_point deadline) {
  if (outstanding_.load(std::memory_order_acquire) == 0) {
    stop(); // io_context: running out of work stops the context
    return 0;
  }
  if (stopped())
    return 0;

  worker* slot = claim_slot(may_block, deadline);
  if (!slot)
    return 0; // every slot taken until the context stopped, ran out of work or the deadline
  worker& w = *slot;
  w.maintenance_interval = options_.event_interval;
  w.global_check_interval = options_.global_queue_interval;
  w.last_maintenance_at = 0;
  w.mean_tick = 0;
  w.watched = nullptr;
  // Asio's frame first (it queues this thread's immediate completions there, see
  // asio_bridge.hpp), then the worker's own on top of it (Asio's allocator caches use the top).
  asio_thread_info asio_frame;
  asio_frame.private_outstanding_work = 0; // Asio leaves it uninitialised, and sets it per call
  thread_identity::call_stack::context asio_context(&asio_scheduler_, asio_frame);
  worker_thread_info info(w);
  thread_identity::call_stack::context frame(&identity_, info);
  w.asio_frame = &asio_frame;
  slot_guard guard{*this, w}; // destroyed first: drains asio_frame while it still exists
  acquire_token(w);

  std::size_t count = 0;
  // acquire: a worker that leaves because of a stop() from another thread synchronises with it
  // (wait_for_callers relies on that; free on x86).
  while (!stopped_.load(std::memory_order_acquire)) {
    if (operation* op = find_work(w)) {
      if (w.is_searching)
        end_search(w);
      ++w.stats.tasks_polled;
      op->complete(); // a handler's exception leaves through here; slot_guard cleans up
      ++count;
      if (!w.asio_frame->private_op_queue.empty() || w.asio_frame->private_outstanding_work)
        count += complete_private_asio_ops(w, !only_one); // run_one() runs one handler
      if (only_one)
        break;
      continue;
    }
    if (!may_block) {
      // poll(): one non-blocking look at the reactor; stop when it yields nothing to run.
      poll_reactor(w);
      if (!w.lifo && w.queue.empty())
        break;
      continue;
    }
    if (clock::now() >= deadline)
      break;
    if (w.watched) {
      // A peer runs a chain of lone operations: look again instead of parking. Not handler
      // time, which the maintenance intervals are tuned by.
      w.last_maintenance_at = 0;
      continue;
    }
    park(w, deadline);
  }
  return count;
}

operation* runtime_impl::find_work(worker& w) {
  // Count-downs rather than Tokio's `tick % interval`: a division per operation is measurable.
  if (--w.ticks_to_maintenance == 0) {
    maintenance(w); // may retune the intervals
    w.ticks_to_maintenance = w.maintenance_interval;
  }
  // Starvation freedom: the injection queue goes first now and then, even with local work.
  if (--w.ticks_to_global_check == 0) {
    w.ticks_to_global_check = w.global_check_interval;
    if (operation* op = pop_injected(w))
      return op;
  }
  if (operation* op = pop_local(w))
    return op;
  if (operation* op = pop_injected(w))
    return op;
  return steal(w);
}

operation* runtime_impl::pop_local(worker& w) noexcept {
  if (w.lifo) {
    if (w.lifo_streak < options_.lifo_cap) {
      ++w.lifo_streak;
      ++w.stats.lifo_hits;
      return std::exchange(w.lifo, nullptr);
    }
    // Fairness cap: the slot's occupant waits its turn at the back of the queue.
    push_local(w, std::exchange(w.lifo, nullptr));
  }
  w.lifo_streak = 0;
  return w.queue.pop();
}

operation* runtime_impl::pop_injected(worker& w) noexcept {
  if (injection_.empty())
    return nullptr;
  // Take a fair share (Tokio 1.29+): len / workers + 1, but never fill the local queue past half
  // (plus the one run at once). An overflow moves the newest half back to the injection queue,
  // so a batch that filled the queue would bounce straight back there on the next few pushes
  // (ping_pong N=2: 2,800-4,600 of its 3,001 operations a run made that round trip when only the
  // free room limited the batch). A queue already half full (the periodic check in a busy
  // worker) takes one.
  constexpr std::size_t half = local_queue_capacity / 2;
  std::array<operation*, half + 1> batch;
  const std::size_t room = w.queue.remaining_slots(); // <= 2 * half, so want <= batch.size()
  std::size_t want = injection_.size() / workers_.size() + 1;
  want = std::min<std::size_t>(want, (room > half ? room - half : 0) + 1);
  std::size_t n = 0;
  injection_.pop_batch(want, [&](operation* op) { batch[n++] = op; });
  if (n == 0)
    return nullptr;
  // The worker's token now covers them; the injection queue's units go. The token is held
  // (run_loop and park acquire it), so this cannot take the count to zero.
  acquire_token(w);
  outstanding_.fetch_sub(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  // want <= remaining_slots() + 1, so the rest fits without an overflow.
  w.queue.push_batch(std::span<operation* const>(batch.data() + 1, n - 1));
  ++w.stats.injection_pops;
  w.stats.tasks_from_injection += n;
  return batch[0];
}

operation* runtime_impl::steal(worker& w) noexcept {
  // Even with one slot the worker becomes a searcher: as the last searcher it re-checks the
  // injection queue after announcing that it parks (park), which is what makes a concurrent
  // remote post impossible to miss.
  if (!w.is_searching) {
    if (!idle_.transition_to_searching())
      return nullptr; // half the workers search already
    w.is_searching = true;
  }
  std::size_t n = workers_.size();
  std::size_t start = w.next_random() % n;
  worker* lone = nullptr;       // a victim with one queued operation, left alone for now
  std::uint32_t lone_front = 0; // that operation's position
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t victim_index = (start + i) % n;
    if (victim_index == w.index)
      continue;
    worker& victim = *workers_[victim_index];
    if (lone_steal_delay_ > 0 && victim.queue.size() == 1) {
      if (!lone) {
        lone = &victim;
        lone_front = victim.queue.front_position();
      }
      continue;
    }
    if (operation* op = steal_half(w, victim))
      return op;
  }
  if (operation* op = pop_injected(w))
    return op;
  if (lone)
    return steal_lone(w, *lone, lone_front);
  if (w.watched)
    keep_watching(w);
  return nullptr;
}

operation* runtime_impl::steal_lone(worker& w, worker& victim, std::uint32_t front) noexcept {
  // The one operation in the victim's queue was most likely posted by the handler its owner is
  // running, which will take it next (context_options::lone_steal_delay). Wait without touching
  // the victim's cache lines, then look once: the same front position means the owner has not
  // taken anything off its queue meanwhile (blocked, or in a long handler), so steal.
  wait_before_look(w);
  const std::uint32_t current = victim.queue.front_position();
  if (current == front) {
    w.watched = nullptr;
    return steal_half(w, victim);
  }
  // The owner took it (or another thief did). An owner running a chain posts its next step
  // right away; parking now would make it pay for waking this worker again at that post, so
  // watch it instead, for as long as it keeps taking operations (run_loop does not park while
  // w.watched is set, and a searcher's existence spares the owner's posts their wake-ups).
  if (w.watched != &victim) {
    w.watched = &victim;
    w.watch_started = clock::now().time_since_epoch().count();
  }
  w.watched_front = current;
  return nullptr;
}

void runtime_impl::keep_watching(worker& w) noexcept {
  // Nothing to steal right now: the watched peer is between two steps, or done.
  wait_before_look(w);
  const std::uint32_t current = w.watched->queue.front_position();
  if (current == w.watched_front) {
    w.watched = nullptr; // it took nothing meanwhile (idle, or in a long handler): park
    return;
  }
  w.watched_front = current;
}

void runtime_impl::wait_before_look(worker& w) noexcept {
  // A watch longer than long_watch is a long chain: from then on the watcher sleeps between
  // looks instead of spinning, so that it costs a wake-up per look rather than a whole core.
  // Still a searcher, it is not woken by the chain's posts, so new work waits for its next look.
  if (w.watched && clock::now().time_since_epoch().count() - w.watch_started > long_watch_)
    std::this_thread::sleep_for(watch_sleep);
  else
    spin_for(lone_steal_delay_);
}

operation* runtime_impl::steal_half(worker& w, worker& victim) noexcept {
  std::uint32_t stolen = 0;
  operation* op = w.queue.steal_from(victim.queue, &stolen);
  if (op) {
    ++w.stats.steal_operations;
    w.stats.tasks_stolen += stolen;
  }
  return op;
}

void runtime_impl::end_search(worker& w) noexcept {
  w.is_searching = false;
  w.watched = nullptr;
  // The last searcher to find work wakes another worker: there may be more where it found
  // this (Tokio's transition_worker_from_searching).
  if (idle_.transition_from_searching())
    notify_parked();
}

std::size_t runtime_impl::complete_private_asio_ops(worker& w, bool run_inline) {
  asio_thread_info& frame = *w.asio_frame;
  if (frame.private_op_queue.empty() && frame.private_outstanding_work == 0)
    return 0;
  // Sets w.in_asio for the scope: whether the completions' handlers are queued (true) or run
  // inline when their executor is this context's (false).
  struct in_asio_scope {
    worker& w;
    bool previous;
    in_asio_scope(worker& w, bool in_asio) : w(w), previous(std::exchange(w.in_asio, in_asio)) {}
    ~in_asio_scope() { w.in_asio = previous; }
  };
  std::size_t completed = 0;
  if (run_inline) {
    // The operations queued so far (a cancelled timer, a send that completed at once) run their
    // handlers here, each as an operation of its own, as io_context runs them: no copy of the
    // handler into an executor_function and a queued operation of ours. Only this generation:
    // an operation that its handler starts and that completes at once again (a read loop on a
    // socket with data waiting) is queued below, behind the work already waiting, or it could
    // keep this worker forever.
    asio_op_queue generation;
    generation.push(frame.private_op_queue);
    struct put_back { // on an exception: the rest go back to the frame, ahead of newer ones
      asio_op_queue& generation;
      asio_op_queue& frame_ops;
      ~put_back() {
        generation.push(frame_ops);
        frame_ops.push(generation);
      }
    } on_exit{generation, frame.private_op_queue};
    in_asio_scope scope(w, false);
    completed = complete_private_ops(asio_scheduler_, frame, generation);
    w.stats.tasks_polled += completed;
    w.stats.immediate_completions += completed;
  }
  if (!frame.private_op_queue.empty() || frame.private_outstanding_work != 0) {
    in_asio_scope scope(w, true); // handlers are queued, never run here
    complete_private_ops(asio_scheduler_, frame, frame.private_op_queue);
  }
  return completed;
}

void runtime_impl::tune_intervals(worker& w, clock::rep now) noexcept {
  // The ticks since the last maintenance were all spent running handlers (park() clears the
  // stamp), so their mean length is the elapsed time over the interval that just ended. The
  // estimate follows a longer mean at once and a shorter one slowly (by 1/8 per maintenance):
  // one quick handler among long ones must not stretch the interval back to its maximum.
  const clock::rep last = std::exchange(w.last_maintenance_at, now);
  if (last == 0 || busy_check_period_ == 0)
    return;
  const clock::rep mean = (now - last) / w.maintenance_interval;
  w.mean_tick = std::max(mean, w.mean_tick - w.mean_tick / 8);
  const clock::rep ticks =
      std::max<clock::rep>(1, busy_check_period_ / std::max<clock::rep>(1, w.mean_tick));
  w.maintenance_interval =
      static_cast<std::uint32_t>(std::min<clock::rep>(ticks, options_.event_interval));
  // At least 2 (as Tokio): at 1 the injection queue would go first on every tick, and local
  // work (the worker's own posts, completions, batches taken earlier) could wait forever while
  // remote posts keep arriving. A configured interval of 1 is taken as it is.
  w.global_check_interval = static_cast<std::uint32_t>(
      std::min<clock::rep>(std::max<clock::rep>(ticks, 2), options_.global_queue_interval));
  // A shorter interval applies from now on (the count-downs only ever restart from it).
  w.ticks_to_global_check = std::min(w.ticks_to_global_check, w.global_check_interval);
}

void runtime_impl::maintenance(worker& w) {
  // Keep I/O moving while every worker is busy: a non-blocking look at the reactor, unless
  // another worker is in it already or looked at it very recently (a poll is a system call).
  const clock::rep now = clock::now().time_since_epoch().count();
  tune_intervals(w, now);
  if (now - last_reactor_look_.load(std::memory_order_relaxed) >= reactor_poll_interval_) {
    note_reactor_look(now); // also when another worker holds the driver: it is looking
    poll_reactor(w);
  }
  if (timer_hooks* timers = timers_.load(std::memory_order_acquire))
    timers->fire_due_timers(static_cast<int>(w.index));
  w.publish_metrics();
}

std::size_t runtime_impl::poll_reactor(worker& w) {
  // Only the driver calls into Asio's scheduler; if another worker is in the reactor, it
  // handles the events.
  if (driver_busy_.exchange(true, std::memory_order_acquire))
    return 0;
  driver_scope scope{driver_busy_, w};
  boost::system::error_code ec;
  w.in_asio = true;
  ++w.stats.reactor_polls;
  return asio_scheduler_.poll(ec);
}

void runtime_impl::park(worker& w, clock::time_point deadline) {
  if (w.lifo || !w.queue.empty())
    return;
  bool last_searcher = idle_.transition_to_parked(w.index, w.is_searching);
  w.is_searching = false;
  w.parked = true;
  if (last_searcher)
    notify_if_work_pending();
  ++w.stats.parks;
  w.publish_metrics();
  // Giving the token back may take the outstanding work to zero, which stops the runtime.
  release_token(w);

  for (;;) {
    if (!stopped_.load(std::memory_order_acquire))
      park_once(w, deadline);
    acquire_token(w);
    bool has_local = w.lifo || !w.queue.empty();
    if (has_local || stopped_.load(std::memory_order_acquire) || clock::now() >= deadline) {
      // Leaving for a reason of our own. If someone chose us meanwhile, we count as searching.
      if (!idle_.unpark_by_id(w.index))
        w.is_searching = true;
      break;
    }
    if (!idle_.is_parked(w.index)) {
      // Another thread chose us (idle_set counted us as searching).
      w.is_searching = true;
      ++w.stats.unparks;
      break;
    }
    release_token(w); // a spurious wake-up: back to sleep
  }
  w.parked = false;
  w.last_maintenance_at = 0; // the time parked was not handler time

  // Back from the reactor with work in hand: wake a peer to steal it (and to take over the
  // reactor), so that one long handler here does not hold up the rest (tokio#4730).
  if (!w.is_searching && !w.queue.empty())
    notify_parked();
}

void runtime_impl::park_once(worker& w, clock::time_point deadline) {
  if (w.park.try_consume_notification())
    return;
  clock::time_point limit = std::min(deadline, clock::now() + options_.max_park);
  if (try_drive(w, limit))
    return;
  w.park.park_condvar(limit);
}

bool runtime_impl::try_drive(worker& w, clock::time_point limit) {
  if (driver_busy_.exchange(true, std::memory_order_acquire))
    return false;
  driver_scope scope{driver_busy_, w};
  timer_hooks* timers = timers_.load(std::memory_order_acquire);
  if (timers)
    timers->prepare_to_sleep();
  if (!w.park.begin_driver_park())
    return true; // notified meanwhile: do not block
  if (timers) {
    // Publish the wake-up time first, then look at the timers: a timer armed concurrently is
    // either seen here or sees a wake-up time later than its deadline and interrupts us (both
    // seq_cst; see timer_needs_interrupt).
    driver_wakes_at_.store(limit.time_since_epoch().count(), std::memory_order_seq_cst);
    clock::time_point next = timers->next_timer_deadline();
    if (next < limit) {
      limit = next;
      driver_wakes_at_.store(limit.time_since_epoch().count(), std::memory_order_seq_cst);
      // epoll_wait's timeout below is in whole milliseconds, rounded up; the alarm is exact.
      alarm_.set(limit);
    }
  }
  auto usec = std::chrono::duration_cast<std::chrono::microseconds>(limit - clock::now()).count();
  boost::system::error_code ec;
  w.in_asio = true;
  w.woke_peer_from_reactor = false;
  ++w.stats.reactor_waits;
  // Asio's wait_one needs a positive timeout (a negative one makes a bogus timespec). Asio
  // rounds it up to whole milliseconds, so a timer is never fired early by this wait.
  asio_scheduler_.wait_one(std::max<long>(1, static_cast<long>(usec)), ec);
  asio_scheduler_.poll(ec);
  w.in_asio = false;
  note_reactor_look();
  driver_wakes_at_.store(clock::time_point::min().time_since_epoch().count(),
                         std::memory_order_seq_cst);
  w.park.end_driver_park();
  if (timers)
    timers->fire_due_timers(-1);
  return true;
}

} // namespace kyoto::detail
