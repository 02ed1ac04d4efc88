// The scheduler's life cycle, scheduling paths and work accounting. The worker loop is in
// worker_loop.cpp; the protocol is described in runtime_impl.hpp and doc/design.md.

#include "runtime_impl.hpp"

#include <kyoto/error.hpp>

#include <array>
#include <sstream>
#include <string>
#include <thread>

namespace kyoto::detail {

namespace {

// "<prefix><n><suffix>" (std::string's operator+ trips a g++ 12 -Wrestrict false positive).
template <typename Number>
std::string describe(const char* prefix, Number n, const char* suffix) {
  std::ostringstream out;
  out << prefix << n << suffix;
  return out.str();
}

int checked_concurrency(int concurrency) {
  if (concurrency < 1)
    throw_error(error::invalid_concurrency,
                describe("kyoto::context: the number of worker threads must be at least 1, got ",
                         concurrency, ""));
  return concurrency;
}

const context_options& checked_options(const context_options& options) {
  if (options.event_interval == 0)
    throw_error(error::invalid_option, "kyoto::context_options: event_interval must be at least 1");
  if (options.global_queue_interval == 0)
    throw_error(error::invalid_option,
                "kyoto::context_options: global_queue_interval must be at least 1");
  if (options.max_park.count() <= 0)
    throw_error(error::invalid_option,
                describe("kyoto::context_options: max_park must be positive, got ",
                         options.max_park.count(), " ms"));
  if (options.busy_check_period.count() < 0)
    throw_error(error::invalid_option,
                describe("kyoto::context_options: busy_check_period must not be negative, got ",
                         options.busy_check_period.count(), " us"));
  if (options.lone_steal_delay.count() < 0 ||
      options.lone_steal_delay > context_options::max_lone_steal_delay)
    throw_error(error::invalid_option,
                describe("kyoto::context_options: lone_steal_delay must be between 0 and ",
                         context_options::max_lone_steal_delay.count(),
                         " us (a searching worker spins while it waits), got ") +
                    std::to_string(options.lone_steal_delay.count()) + " us");
  if (options.reactor_poll_interval.count() < 0)
    throw_error(error::invalid_option,
                describe("kyoto::context_options: reactor_poll_interval must not be negative, got ",
                         options.reactor_poll_interval.count(), " us"));
  return options;
}

} // namespace

runtime_impl::runtime_impl(boost::asio::execution_context& owner, int concurrency,
                           const context_options& options)
    : options_(checked_options(options)), asio_scheduler_(register_asio_scheduler(owner)),
      reactor_(start_asio_reactor(owner)),
      idle_(static_cast<std::size_t>(checked_concurrency(concurrency))),
      claimed_(static_cast<std::size_t>(concurrency), false) {
  workers_.reserve(static_cast<std::size_t>(concurrency));
  for (int i = 0; i < concurrency; ++i)
    workers_.push_back(std::make_unique<worker>(static_cast<std::size_t>(i)));
}

// --- Scheduling ---

void runtime_impl::schedule_local(worker& w, operation* op, schedule_hint hint) noexcept {
  // The worker's token covers everything in its own queues (it may have given it back while
  // parked in the reactor, where I/O completions arrive).
  acquire_token(w);
  bool should_notify = true;
  if (hint == schedule_hint::continuation && options_.lifo_slot) {
    operation* previous = w.lifo;
    w.lifo = op;
    if (previous)
      push_local(w, previous);
    else
      should_notify = false; // this worker runs it next; nobody else needs waking
  } else {
    push_local(w, op);
  }
  // With one slot there is no peer, and the caller is the one worker.
  if (!should_notify || workers_.size() == 1)
    return;
  if (!w.parked) {
    // Only a push that made the queue non-empty looks for a sleeper (a seq_cst fence and a load
    // of the idle state, on every post otherwise). Liveness does not need more: that look woke a
    // worker, saw a searcher, or saw no worker parked (all of them will search before parking);
    // and a searcher that parks re-checks every queue first (the last searcher's rule), so some
    // worker other than this one looks at this queue again while it is non-empty, even if this
    // handler blocks (waiting for what it posted, say). A size read high because a thief just
    // took some is harmless the same way: the thief runs them and comes back. A lone post still
    // wakes a peer (Tokio does not: tokio#4941).
    if (w.queue.size() == 1)
      notify_parked();
  } else if (!w.woke_peer_from_reactor && (w.lifo != nullptr) + w.queue.size() >= 2) {
    // A worker parked in the reactor receives the completions of the descriptors it found
    // ready, and performs their I/O (Asio's reactor ops do the recv/send system calls) one by
    // one before it returns; then those of the timers it fires. One completion it runs itself
    // when it comes back; from the second on, a peer is woken now to run them meanwhile,
    // instead of once all the I/O is done (Tokio wakes peers only after its driver returns,
    // but its driver only dispatches wakers). Once per wait: the peer, searching, wakes others
    // if it finds more. This worker is still on the sleeper list: it must not pick itself.
    if (notify_parked(w.index)) {
      w.woke_peer_from_reactor = true;
      ++w.stats.reactor_peer_wakes;
    }
  }
}

void runtime_impl::schedule_remote(operation* op) noexcept {
  caller_scope scope(*this); // a worker may run the operation, and run() return, before we notify
  // seq_cst: with the scope's increment, against shutdown()'s store then wait: either shutdown()
  // waits for this call (and drains what it pushes) or this load sees the flag.
  if (shut_down_.load(std::memory_order_seq_cst)) {
    op->destroy();
    return;
  }
  // The unit is added before the operation becomes visible, so that the worker that runs it
  // cannot take the count to zero first.
  outstanding_.fetch_add(1, std::memory_order_relaxed);
  injection_.push(op);
  if (notify_parked())
    remote_wakeups_.fetch_add(1, std::memory_order_relaxed);
}

void runtime_impl::push_local(worker& w, operation* op) noexcept {
  w.queue.push_back(op,
                    [&](std::span<operation* const> batch) { overflow_to_injection(w, batch); });
}

void runtime_impl::overflow_to_injection(worker& w, std::span<operation* const> batch) noexcept {
  // Operations in the injection queue hold a unit each; add them before they become visible.
  outstanding_.fetch_add(static_cast<std::int64_t>(batch.size()), std::memory_order_relaxed);
  injection_.push_batch(batch);
  ++w.stats.overflows;
  w.stats.tasks_overflowed += batch.size();
}

void runtime_impl::release_token(worker& w) noexcept {
  if (w.has_work_token) {
    w.has_work_token = false;
    // As work_finished(), without its caller_scope: a worker is inside run() itself.
    if (outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      stop();
  }
}

void runtime_impl::work_finished() noexcept {
  // acq_rel: the thread that takes the count to zero sees everything the other decrementers
  // did, as io_context's work counting does.
  if (current_worker() != nullptr) {
    // No caller_scope: this thread's own run() keeps the context alive until we return (every
    // async operation of an I/O object ends here, through its tracked executor).
    if (outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      stop();
    return;
  }
  caller_scope scope(*this); // the count reaching zero lets run() return before stop() is done
  if (outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    stop();
}

bool runtime_impl::notify_parked(std::size_t except) noexcept {
  if (auto index = idle_.worker_to_notify(except)) {
    unpark(*workers_[*index]);
    return true;
  }
  return false;
}

void runtime_impl::notify_if_work_pending() noexcept {
  for (auto& w : workers_) {
    if (!w->queue.empty()) {
      notify_parked();
      return;
    }
  }
  if (!injection_.empty())
    notify_parked();
}

void runtime_impl::unpark(worker& w) noexcept {
  w.park.unpark([this] { reactor_.interrupt(); });
}

bool runtime_impl::timer_needs_interrupt(clock::time_point deadline) noexcept {
  // seq_cst: pairs with try_drive's store-then-look (see there).
  return deadline.time_since_epoch().count() < driver_wakes_at_.load(std::memory_order_seq_cst);
}

// --- Life cycle ---

void runtime_impl::stop() noexcept {
  caller_scope scope(*this); // a worker may see the flag and leave before the others are woken
  // seq_cst: a worker checks stopped_ after its parker returns; the unpark below happens after
  // this store, so a worker either sees the flag or is woken after it.
  stopped_.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_)
    unpark(*w);
  reactor_.interrupt();
  // Threads waiting for a slot check stopped_ under this mutex before they wait.
  { std::lock_guard lock(slots_mutex_); }
  slot_freed_.notify_all();
}

void runtime_impl::wait_for_callers() const noexcept {
  // seq_cst: pairs with caller_scope's release decrement, and is the second half of shutdown()'s
  // store-then-load against schedule_remote()'s increment-then-load.
  while (callers_.load(std::memory_order_seq_cst) != 0)
    std::this_thread::yield();
}

void runtime_impl::shutdown() noexcept {
  // seq_cst: see schedule_remote(). From here on schedule() destroys operations at once.
  shut_down_.store(true, std::memory_order_seq_cst);
  wait_for_callers();
  alarm_.shutdown(); // before the reactor shuts down with the other services
  // Destroying an operation runs its handler's destructor, which may schedule more work; that
  // is destroyed at once by schedule(). Loop until everything is gone.
  bool destroyed_any = true;
  while (destroyed_any) {
    destroyed_any = false;
    while (operation* op = injection_.pop()) {
      op->destroy();
      destroyed_any = true;
    }
    for (auto& w : workers_) {
      std::unique_lock lock(slots_mutex_); // orders us after the last owner's release
      lock.unlock();
      if (operation* op = std::exchange(w->lifo, nullptr)) {
        op->destroy();
        destroyed_any = true;
      }
      while (operation* op = w->queue.pop()) {
        op->destroy();
        destroyed_any = true;
      }
    }
  }
}

// --- Worker slots ---

worker* runtime_impl::claim_slot(bool may_block, clock::time_point deadline) {
  std::unique_lock lock(slots_mutex_);
  for (;;) {
    for (std::size_t i = 0; i < claimed_.size(); ++i) {
      if (!claimed_[i]) {
        claimed_[i] = true;
        return workers_[i].get();
      }
    }
    // Every slot is taken. A thread beyond concurrency() waits, as a thread with nothing to do
    // waits in io_context::run(), and takes the first slot given back; it leaves when the
    // context stops or runs out of work (stop() notifies), or at its deadline. A worker that
    // calls run() again from a handler would wait for its own slot: that is an error.
    if (current_worker())
      throw_error(error::no_free_worker,
                  describe("kyoto::context: run() called from a handler while all ",
                           claimed_.size(),
                           " worker slots are taken (one by the caller itself); construct the "
                           "context with a larger concurrency to nest run() calls"));
    if (!may_block || stopped() || outstanding_.load(std::memory_order_acquire) == 0 ||
        clock::now() >= deadline)
      return nullptr;
    // Whatever ends the wait, the slots are scanned again before giving up: a notification
    // that arrives just after the deadline must not be lost (another waiter would sleep on
    // beside a free slot).
    if (deadline == clock::time_point::max())
      slot_freed_.wait(lock);
    else
      slot_freed_.wait_until(lock, deadline);
  }
}

void runtime_impl::release_slot(worker& w) noexcept {
  // A handler that threw may have left immediate completions on this thread's Asio frame; their
  // handlers are queued (this may run during unwinding: no user code here).
  complete_private_asio_ops(w, false);
  w.asio_frame = nullptr;
  // Hand the operations this slot still holds to the injection queue, where any thread that
  // runs the context later finds them (io_context keeps queued handlers across run() calls).
  std::array<operation*, 64> batch;
  std::size_t n = 0, moved = 0;
  auto flush = [&] {
    outstanding_.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
    injection_.push_batch(std::span<operation* const>(batch.data(), n));
    moved += n;
    n = 0;
  };
  if (operation* op = std::exchange(w.lifo, nullptr))
    batch[n++] = op;
  while (operation* op = w.queue.pop()) {
    batch[n++] = op;
    if (n == batch.size())
      flush();
  }
  flush();

  if (w.is_searching)
    end_search(w);
  idle_.unpark_by_id(w.index);
  release_token(w);
  w.lifo_streak = 0;
  w.in_asio = false;
  w.parked = false;
  w.publish_metrics();
  if (moved)
    notify_parked();
  {
    std::lock_guard lock(slots_mutex_);
    claimed_[w.index] = false;
  }
  slot_freed_.notify_one(); // a thread waiting for a slot (claim_slot)
}

runtime_metrics runtime_impl::metrics() const {
  runtime_metrics m;
  m.workers.reserve(workers_.size());
  for (const auto& w : workers_) {
    std::lock_guard lock(w->metrics_mutex);
    m.workers.push_back(w->published);
    m.workers.back().local_queue_depth = w->queue.size();
  }
  m.injection_queue_depth = injection_.size();
  m.remote_wakeups = remote_wakeups_.load(std::memory_order_relaxed);
  return m;
}

} // namespace kyoto::detail
