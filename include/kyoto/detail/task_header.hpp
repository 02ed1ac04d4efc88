// kyoto/detail/task_header.hpp
//
// The untyped part of a spawned task, and the scheduler interface that tasks run on.
//
// A task is one allocation: a task_header (which *is* the run-queue node, a detail::operation)
// followed by the future, whose storage is reused for the output when the future is done
// (task_cell<F>). Waking a task queues the header itself: no allocation.
//
// Protocol (bits and references: task_state.hpp):
// - operation::complete() (a worker took the task from a queue) polls it once: run().
// - operation::destroy() (a queue is discarded at shutdown) cancels the task if nobody else
//   owns it, then drops the queue's reference: shutdown_queued().
// - A waker references the header, never the scheduler. The scheduler is reached only to submit
//   a task that is not complete; every task is completed (cancelled if need be) by
//   task_scheduler::shutdown_tasks() before its context goes away. So a waker that wakes after
//   the context was destroyed finds `complete` set and only drops its reference. (A wake that
//   races with the context's destructor is a use of a destroyed object, as with any Asio object.)
// - The join handle reads the output after seeing `complete`; the join waker slot belongs to
//   whoever the `join_waker` bit says (task_state.hpp).
// - task_scheduler keeps every live task in an intrusive list (sharded by the binding thread,
//   each shard under its own mutex) so that shutdown can cancel tasks that are idle and
//   referenced only by wakers; a task leaves the list when it completes. Each unfinished task
//   counts as one unit of the scheduler's outstanding work.
//
// Thread safety: members are called from any thread, each under the ownership its comment says.

#ifndef KYOTO_DETAIL_TASK_HEADER_HPP
#define KYOTO_DETAIL_TASK_HEADER_HPP

#include <kyoto/detail/operation.hpp>
#include <kyoto/detail/runtime.hpp>
#include <kyoto/detail/task_state.hpp>
#include <kyoto/future.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace kyoto {

/// One task's counters, as reported by kyoto::task_diagnostics().
struct task_info {
  /// The task's id (unique within the process, never reused; join_handle::id()).
  std::uint64_t id = 0;
  /// The future's type, as typeid(F).name() gives it.
  std::string type_name;
  /// Times the task was polled.
  std::uint64_t polls = 0;
  /// Times a waker of the task was woken.
  std::uint64_t wakes = 0;
  /// Wakes made by the task itself while it was being polled.
  std::uint64_t self_wakes = 0;
  /// True when the task looks like a busy loop (see task_scheduler::is_suspicious).
  bool suspicious = false;
};

} // namespace kyoto

namespace kyoto::detail {

class task_header;

/// The typed operations of a task (implemented by task_cell<F>).
struct task_vtable {
  /// Polls the future once (the caller owns `running`). True when it finished (value or
  /// exception): the future is destroyed and the output stored.
  bool (*poll_future)(task_header*, task_context&) noexcept;
  /// Destroys the future and stores a task_aborted error as the output (caller owns `running`).
  void (*cancel)(task_header*) noexcept;
  /// Moves the output into *out (a std::optional<task_result<T>>); caller saw `complete`.
  void (*read_output)(task_header*, void* out) noexcept;
  /// Destroys the output if it is still there (caller owns it, see task_header::complete).
  void (*drop_output)(task_header*) noexcept;
  /// Destroys and frees the task (the last reference was dropped).
  void (*dealloc)(task_header*) noexcept;
  /// typeid(F).name(), for diagnostics.
  const char* type_name;
};

/// Where tasks run: a kyoto::context (detail::task_service) or a test executor.
class task_scheduler {
 public:
  task_scheduler() = default;
  task_scheduler(const task_scheduler&) = delete;
  task_scheduler& operator=(const task_scheduler&) = delete;

  /// Queues `t`, which carries a notified reference that the queue now owns: the queue must
  /// eventually call exactly one of t->complete() or t->destroy(). Any thread.
  virtual void schedule_task(task_header* t, schedule_hint hint) noexcept = 0;

  /// Outstanding work, as io_context's; each unfinished task holds one unit.
  virtual void work_started() noexcept {}
  virtual void work_finished() noexcept {}

  /// Adds a new task to the registry. False when the scheduler was shut down: the caller then
  /// cancels the task at once.
  bool bind(task_header* t) noexcept;

  /// Removes a completed task from the registry and releases its unit of work.
  void release(task_header* t) noexcept;

  /// Refuses new tasks and cancels every live one (those idle, notified or queued; a task that
  /// is running is marked cancelled and cancels itself when its poll returns).
  void shutdown_tasks() noexcept;

  /// Tasks not yet complete.
  std::size_t live_tasks() const;

  /// Counters of every live task.
  std::vector<task_info> diagnostics() const;

  /// Tasks reported as busy loops so far (each counted once).
  std::uint64_t suspicious_task_count() const noexcept {
    return suspicious_.load(std::memory_order_relaxed);
  }

  /// The busy-loop heuristic: at least `min_polls` polls, and nearly every poll followed by a
  /// wake from the task itself, or far more polls than wakes.
  static bool is_suspicious(std::uint64_t polls, std::uint64_t wakes,
                            std::uint64_t self_wakes) noexcept {
    constexpr std::uint64_t min_polls = 1000;
    return polls >= min_polls && (self_wakes * 10 >= polls * 9 || polls > 4 * (wakes + 1));
  }

  /// Counts a task newly found suspicious.
  void note_suspicious() noexcept { suspicious_.fetch_add(1, std::memory_order_relaxed); }

 protected:
  ~task_scheduler() = default;

 private:
  // The registry is sharded so that spawning and completing tasks on different workers do not
  // contend for one lock (Tokio 1.24's OwnedTasks has a single mutex; later versions shard it).
  // A thread binds its tasks to its own shard; a task is released from the shard it is in.
  static constexpr std::size_t shard_count = 16;

  // One part of the registry; aligned so that two shards never share a cache line.
  struct alignas(64) shard {
    // Guards the other members.
    mutable std::mutex mutex_;
    // The first task of the intrusive list of live tasks.
    task_header* head_ = nullptr;
    // The number of tasks in the list.
    std::size_t count_ = 0;
    // Set by shutdown_tasks(): bind() fails from then on.
    bool closed_ = false;
  };

  // The shard for tasks bound by the calling thread (threads are spread over the shards in
  // the order they first bind a task).
  static std::uint8_t this_thread_shard() noexcept {
    static std::atomic<std::uint32_t> next_thread{0};
    thread_local const auto index = static_cast<std::uint8_t>(
        next_thread.fetch_add(1, std::memory_order_relaxed) % shard_count);
    return index;
  }

  shard shards_[shard_count];
  // Tasks reported as suspicious.
  std::atomic<std::uint64_t> suspicious_{0};
};

class task_header : public operation {
 public:
  /// Polls the task once; the caller owns a notified reference (from the run queue).
  void run() noexcept;

  /// Drops the queue's notified reference without polling, cancelling the task if nobody else
  /// owns it (shutdown).
  void shutdown_queued() noexcept;

  /// Cancels the task if it is idle; the caller holds a reference, which this drops.
  void shutdown() noexcept;

  /// The join handle's poll: true when the output was moved into *out; otherwise `w` will be
  /// woken when the task completes. Only the join handle calls this.
  bool try_read_output(void* out, const waker& w) noexcept;

  /// The join handle is gone (it holds one reference and the join interest).
  void drop_join_handle() noexcept;

  /// abort(): cancels the task at its next poll (now, if idle). The caller holds a reference.
  void remote_abort() noexcept;

  /// True once the task is complete.
  bool is_complete() const noexcept { return (state_.load() & task_state::complete) != 0; }

  /// A new waker reference to this task (one reference more).
  waker make_waker() noexcept {
    state_.ref_inc();
    return waker(this, &waker_vtable_);
  }

  /// This task's counters.
  task_info info() const;

  /// The task's id: unique within the process, never reused.
  std::uint64_t id() const noexcept { return id_; }

  /// The task's bytes beyond its future: sizeof(task_header).
  static constexpr std::size_t header_size() noexcept { return sizeof(task_header); }

 protected:
  task_header(const task_vtable* vtable, task_scheduler* scheduler) noexcept
      : operation(&do_operation), vtable_(vtable), scheduler_(scheduler), id_(new_id()) {}
  ~task_header() = default;

  /// Where the output lives: 0 future, 1 output, 2 consumed. Owned by whoever owns the task's
  /// content (the poller while running, the join handle or completer after completion).
  std::uint8_t stage_ = 0;

 private:
  friend class task_scheduler;

  static void do_operation(operation* op, bool invoke) noexcept {
    auto* t = static_cast<task_header*>(op);
    if (invoke)
      t->run();
    else
      t->shutdown_queued();
  }

  /// Cancels the future and completes the task (caller owns `running`, holds one reference).
  void cancel_and_complete() noexcept {
    vtable_->cancel(this);
    complete();
  }

  /// Publishes the output, wakes the joiner, leaves the registry and drops the registry's and
  /// the caller's references. The caller owns `running`.
  void complete() noexcept;

  void count_wake() noexcept;

  static void* waker_clone(void* p) noexcept {
    static_cast<task_header*>(p)->state_.ref_inc();
    return p;
  }
  static void waker_wake(void* p) noexcept;
  static void waker_wake_by_ref(void* p) noexcept;
  static void waker_drop(void* p) noexcept {
    auto* t = static_cast<task_header*>(p);
    if (t->state_.ref_dec())
      t->vtable_->dealloc(t);
  }

  static constexpr waker_vtable waker_vtable_{&waker_clone, &waker_wake, &waker_wake_by_ref,
                                              &waker_drop};

  // The lifecycle bits and reference count.
  task_state state_;
  // The typed operations of the cell.
  const task_vtable* vtable_;
  // Where the task is queued when woken; used only while the task is not complete.
  task_scheduler* scheduler_;
  // The registry list links, guarded by the mutex of the task's shard.
  task_header* prev_ = nullptr;
  task_header* next_task_ = nullptr;
  // Registry membership (guarded by the shard's mutex): bound_ = counted as work,
  // listed_ = in the list.
  bool bound_ = false;
  bool listed_ = false;
  // The registry shard that holds the task (set by bind, before the task is scheduled).
  std::uint8_t shard_ = 0;
  // Set once the task was reported as suspicious (poller only).
  bool flagged_ = false;
  // Times polled (written by the poller only).
  std::atomic<std::uint32_t> polls_{0};
  // Wakes from anyone, and from the task itself during its poll.
  std::atomic<std::uint32_t> wakes_{0};
  std::atomic<std::uint32_t> self_wakes_{0};
  // The join handle's waker; ownership follows the join_waker bit.
  waker join_waker_;
  // A new task id. Each thread takes ids from the shared counter in blocks, so that spawning
  // on several workers does not contend for it; ids are unique, not ordered across threads.
  static std::uint64_t new_id() noexcept {
    constexpr std::uint64_t block = 1024;
    thread_local std::uint64_t next = 0;
    thread_local std::uint64_t end = 0;
    if (next == end) {
      next = next_id_.fetch_add(block, std::memory_order_relaxed);
      end = next + block;
    }
    return next++;
  }

  // The task's id (immutable).
  std::uint64_t id_;
  // The first id of the next block to hand out.
  static inline std::atomic<std::uint64_t> next_id_{1};
};

/// The task being polled on this thread, to recognise a task that wakes itself.
inline thread_local const task_header* current_polled_task = nullptr;

inline void task_header::count_wake() noexcept {
  wakes_.fetch_add(1, std::memory_order_relaxed);
  if (current_polled_task == this)
    self_wakes_.fetch_add(1, std::memory_order_relaxed);
}

inline void task_header::waker_wake(void* p) noexcept {
  auto* t = static_cast<task_header*>(p);
  t->count_wake();
  switch (t->state_.transition_to_notified_by_val()) {
  case task_state::to_notified::submit:
    t->scheduler_->schedule_task(t, schedule_hint::continuation);
    break;
  case task_state::to_notified::dealloc:
    t->vtable_->dealloc(t);
    break;
  case task_state::to_notified::do_nothing:
    break;
  }
}

inline void task_header::waker_wake_by_ref(void* p) noexcept {
  auto* t = static_cast<task_header*>(p);
  t->count_wake();
  if (t->state_.transition_to_notified_by_ref() == task_state::to_notified::submit)
    t->scheduler_->schedule_task(t, schedule_hint::continuation);
}

inline void task_header::run() noexcept {
  switch (state_.transition_to_running()) {
  case task_state::to_running::failed:
    return;
  case task_state::to_running::dealloc:
    vtable_->dealloc(this);
    return;
  case task_state::to_running::cancelled:
    cancel_and_complete();
    return;
  case task_state::to_running::success:
    break;
  }
  const std::uint32_t polls = polls_.load(std::memory_order_relaxed) + 1;
  polls_.store(polls, std::memory_order_relaxed);
  bool done;
  {
    // A borrowed waker: the poll does not own a reference, so it is never dropped.
    union borrowed {
      explicit borrowed(task_header* t) : w(t, &waker_vtable_) {}
      ~borrowed() {}
      waker w;
    } bw(this);
    task_context cx(bw.w);
    const task_header* outer = std::exchange(current_polled_task, this);
    done = vtable_->poll_future(this, cx);
    current_polled_task = outer;
  }
  if (done) {
    complete();
    return;
  }
  switch (state_.transition_to_idle()) {
  case task_state::to_idle::ok:
    return;
  case task_state::to_idle::ok_dealloc:
    vtable_->dealloc(this);
    return;
  case task_state::to_idle::ok_notified:
    if (!flagged_ && task_scheduler::is_suspicious(polls, wakes_.load(std::memory_order_relaxed),
                                                   self_wakes_.load(std::memory_order_relaxed))) {
      flagged_ = true;
      scheduler_->note_suspicious();
    }
    // Woken during its own poll: back of the queue, never the LIFO slot.
    scheduler_->schedule_task(this, schedule_hint::yield);
    return;
  case task_state::to_idle::cancelled:
    cancel_and_complete();
    return;
  }
}

inline void task_header::complete() noexcept {
  const task_state::word w = state_.transition_to_complete();
  if (!(w & task_state::join_interest))
    vtable_->drop_output(this);
  else if (w & task_state::join_waker)
    join_waker_.wake_by_ref();
  scheduler_->release(this);
  // The registry's reference and the caller's.
  if (state_.ref_dec(2))
    vtable_->dealloc(this);
}

inline void task_header::shutdown_queued() noexcept {
  if (state_.transition_to_shutdown())
    cancel_and_complete();
  else if (state_.ref_dec())
    vtable_->dealloc(this);
}

inline void task_header::shutdown() noexcept {
  shutdown_queued();
}

inline bool task_header::try_read_output(void* out, const waker& w) noexcept {
  const task_state::word s = state_.load();
  if (!(s & task_state::complete)) {
    if (!(s & task_state::join_waker)) {
      // The slot is ours: fill it, then hand it over.
      join_waker_ = w;
      if (state_.set_join_waker())
        return false;
      join_waker_ = waker();
    } else {
      // The task owns the slot; it already holds an equivalent waker.
      if (join_waker_.will_wake(w))
        return false;
      if (state_.unset_join_waker()) {
        join_waker_ = w;
        if (state_.set_join_waker())
          return false;
        join_waker_ = waker();
      }
    }
    // Completed meanwhile (the set/unset CAS saw `complete` with acquire).
  }
  vtable_->read_output(this, out);
  return true;
}

inline void task_header::drop_join_handle() noexcept {
  if (!state_.unset_join_interest())
    vtable_->drop_output(this);
  if (state_.ref_dec())
    vtable_->dealloc(this);
}

inline void task_header::remote_abort() noexcept {
  if (state_.transition_to_notified_and_cancel())
    scheduler_->schedule_task(this, schedule_hint::fork);
}

inline task_info task_header::info() const {
  task_info i;
  i.id = id_;
  i.type_name = vtable_->type_name;
  i.polls = polls_.load(std::memory_order_relaxed);
  i.wakes = wakes_.load(std::memory_order_relaxed);
  i.self_wakes = self_wakes_.load(std::memory_order_relaxed);
  i.suspicious = task_scheduler::is_suspicious(i.polls, i.wakes, i.self_wakes);
  return i;
}

inline bool task_scheduler::bind(task_header* t) noexcept {
  const std::uint8_t index = this_thread_shard();
  shard& s = shards_[index];
  {
    std::lock_guard lock(s.mutex_);
    if (s.closed_)
      return false;
    t->shard_ = index;
    t->next_task_ = s.head_;
    if (s.head_)
      s.head_->prev_ = t;
    s.head_ = t;
    t->bound_ = t->listed_ = true;
    ++s.count_;
  }
  work_started();
  return true;
}

inline void task_scheduler::release(task_header* t) noexcept {
  shard& s = shards_[t->shard_];
  bool bound;
  {
    std::lock_guard lock(s.mutex_);
    bound = t->bound_;
    if (t->listed_) {
      if (t->prev_)
        t->prev_->next_task_ = t->next_task_;
      else
        s.head_ = t->next_task_;
      if (t->next_task_)
        t->next_task_->prev_ = t->prev_;
      t->listed_ = false;
      --s.count_;
    }
  }
  if (bound)
    work_finished();
}

inline void task_scheduler::shutdown_tasks() noexcept {
  // Close every shard first, so that no task is bound anywhere once this starts.
  for (shard& s : shards_) {
    std::lock_guard lock(s.mutex_);
    s.closed_ = true;
  }
  for (shard& s : shards_) {
    for (;;) {
      task_header* t;
      {
        std::lock_guard lock(s.mutex_);
        t = s.head_;
        if (!t)
          break;
        s.head_ = t->next_task_;
        if (s.head_)
          s.head_->prev_ = nullptr;
        t->listed_ = false;
        --s.count_;
        // Keeps the task alive while this thread shuts it down.
        t->state_.ref_inc();
      }
      t->shutdown();
    }
  }
}

inline std::size_t task_scheduler::live_tasks() const {
  std::size_t n = 0;
  for (const shard& s : shards_) {
    std::lock_guard lock(s.mutex_);
    n += s.count_;
  }
  return n;
}

inline std::vector<task_info> task_scheduler::diagnostics() const {
  std::vector<task_info> out;
  for (const shard& s : shards_) {
    std::lock_guard lock(s.mutex_);
    for (task_header* t = s.head_; t; t = t->next_task_)
      out.push_back(t->info());
  }
  return out;
}

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TASK_HEADER_HPP
