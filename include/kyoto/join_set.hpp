// kyoto/join_set.hpp
//
// kyoto::join_set<T>: a collection of spawned tasks that all produce a T, joined in the order in
// which they finish (Tokio's JoinSet).
//
//   kyoto::join_set<int> set;
//   for (int i = 0; i < 10; ++i)
//     set.spawn(ctx, [i] { return i * i; });      // anything kyoto::spawn accepts
//   // in a task:       poll set.join_next()        -> std::optional<int>
//   // in a coroutine:  co_await set.async_join_next(ex, asio::use_awaitable)
//
// join_next() is a future of std::optional<T> (std::optional<std::monostate> for T = void):
// the output of some finished task, or nullopt when the set is empty. A task's exception is
// rethrown by the join_next() future that reports it (system_error(kyoto::error::task_aborted)
// for an aborted task); the task leaves the set either way. join_next() is cancel-safe: a
// join_next future dropped before it returned loses no output.
//
// Wake-ups: each task wakes a small per-entry waker that queues the entry on the set's ready
// list and wakes the join_next caller, so a join_next poll looks only at entries that were woken
// (plus entries added since the last poll): O(finished), not O(size).
//
// Dropping the set aborts every task still in it (their futures are destroyed at their next
// poll, on a worker; their outputs are dropped). abort_all() aborts them but keeps them in the
// set, so join_next() then reports each (task_aborted, or the value of a task that had already
// finished).
//
// Thread safety: the tasks run anywhere; the join_set object itself, and its join_next futures,
// must be used by one thread at a time, and the set must outlive its join_next futures.

#ifndef KYOTO_JOIN_SET_HPP
#define KYOTO_JOIN_SET_HPP

#include <kyoto/bridge.hpp>
#include <kyoto/context.hpp>
#include <kyoto/future.hpp>
#include <kyoto/task.hpp>

#include <atomic>
#include <cassert>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace kyoto {

template <typename T>
class join_set;

namespace detail {

/// What a join_set shares with the wakers of its entries (which may outlive it).
struct join_set_shared {
  // Guards the members below.
  std::mutex mutex;
  // Entries woken since the last join_next poll (by id).
  std::vector<std::uint64_t> ready;
  // The waker of the last join_next poll that returned pending.
  waker parent;
};

/// The waker that a join_set gives to one of its tasks' join handles. Reference counted.
///
/// Protocol: `queued` is set by a wake that put the id on the ready list and cleared by the
/// join_next poll that takes the id off it, before it polls the entry; so a completion after
/// that poll queues it again, and many wakes queue it once.
class join_set_entry_waker {
 public:
  static waker make(std::shared_ptr<join_set_shared> s, std::uint64_t id) {
    return waker(new join_set_entry_waker(std::move(s), id), &vtable_);
  }
  static join_set_entry_waker& of(const waker& w) noexcept {
    return *static_cast<join_set_entry_waker*>(w.data());
  }

  /// Called by the join_next poll that took this entry off the ready list.
  void unqueue() noexcept {
    // release: pairs with the acquire of the next wake's exchange (it must see us done).
    queued_.store(false, std::memory_order_release);
  }

  /// Marks the entry queued without touching the ready list (a new entry is listed directly).
  void mark_queued() noexcept { queued_.store(true, std::memory_order_relaxed); }

 private:
  join_set_entry_waker(std::shared_ptr<join_set_shared> s, std::uint64_t id)
      : shared_(std::move(s)), id_(id) {}

  void notify() noexcept {
    // acq_rel: pairs with unqueue()'s release; only one waker queues the id.
    if (queued_.exchange(true, std::memory_order_acq_rel))
      return;
    waker parent;
    {
      std::lock_guard lock(shared_->mutex);
      // (Out of memory here terminates: a lost wake-up would hang the joiner.)
      shared_->ready.push_back(id_);
      parent = std::move(shared_->parent);
    }
    parent.wake();
  }

  static void* clone(void* p) noexcept {
    static_cast<join_set_entry_waker*>(p)->refs_.fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  static void wake(void* p) noexcept {
    wake_by_ref(p);
    drop(p);
  }
  static void wake_by_ref(void* p) noexcept { static_cast<join_set_entry_waker*>(p)->notify(); }
  static void drop(void* p) noexcept {
    // acq_rel: the last owner sees the others' writes before deleting.
    if (static_cast<join_set_entry_waker*>(p)->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete static_cast<join_set_entry_waker*>(p);
  }
  static constexpr waker_vtable vtable_{&clone, &wake, &wake_by_ref, &drop};

  // References held by wakers.
  std::atomic<int> refs_{1};
  // Shared with the set.
  std::shared_ptr<join_set_shared> shared_;
  // The entry's id in the set.
  std::uint64_t id_;
  // True while the id is on the ready list (or about to be polled as new).
  std::atomic<bool> queued_{false};
};

} // namespace detail

/// The future returned by join_set<T>::join_next().
template <typename T>
class join_next_future {
 public:
  using output_type = std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>>;

  explicit join_next_future(join_set<T>& set) noexcept : set_(&set) {}

  /// Ready with the output of a finished task (rethrowing its exception), or nullopt when the
  /// set is empty. Spends one unit of the cooperative budget when ready.
  kyoto::poll<output_type> poll(task_context& cx) { return set_->poll_next(cx); }

 private:
  // The set; outlives this future.
  join_set<T>* set_;
};

template <typename T>
class join_set {
  struct entry {
    // The task.
    join_handle<T> handle;
    // The waker given to the task's join handle.
    waker w;
  };

 public:
  using output_type = std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>>;

  join_set() : shared_(std::make_shared<detail::join_set_shared>()) {}
  join_set(const join_set&) = delete;
  join_set& operator=(const join_set&) = delete;

  /// Aborts every task still in the set.
  ~join_set() { abort_all(); }

  /// Spawns `f` (anything kyoto::spawn accepts, producing a T) on `ctx` and adds it. Returns the
  /// task's id (join_handle::id()).
  template <typename F>
  std::uint64_t spawn(kyoto::context& ctx, F&& f) {
    return insert(kyoto::spawn(ctx, std::forward<F>(f)));
  }

  /// Spawns on the context of a kyoto::context executor.
  template <typename Allocator, unsigned int Bits, typename F>
  std::uint64_t spawn(const context::basic_executor_type<Allocator, Bits>& ex, F&& f) {
    return spawn(ex.context(), std::forward<F>(f));
  }

  /// Adds an already spawned task. Returns its id. Throws std::invalid_argument when the handle
  /// is empty. Should adding fail for lack of memory, the task is detached and bad_alloc thrown.
  template <typename U>
  std::uint64_t insert(join_handle<U>&& h) {
    static_assert(std::is_same_v<U, T>, "kyoto::join_set<T>: the task's output type must be T");
    if (!h.valid())
      throw std::invalid_argument("kyoto::join_set::insert: the join handle is empty");
    const std::uint64_t id = h.id();
    waker w = detail::join_set_entry_waker::make(shared_, id);
    // Listed as new: the next join_next poll polls it once, which registers its waker.
    new_.reserve(new_.size() + 1);
    entries_.emplace(id, entry{std::move(h), w});
    detail::join_set_entry_waker::of(w).mark_queued();
    new_.push_back(id);
    // A join_next caller waiting on an empty set must look again.
    waker parent;
    {
      std::lock_guard lock(shared_->mutex);
      parent = std::move(shared_->parent);
    }
    parent.wake();
    return id;
  }

  /// A future of the next finished task's output; nullopt once the set is empty.
  join_next_future<T> join_next() noexcept { return join_next_future<T>(*this); }

  /// join_next() as an Asio operation polled on `ex`; completion signature
  /// void(std::exception_ptr, std::optional<T>). Per-operation cancellation: terminal (no task
  /// output is lost).
  template <typename Executor, typename Token>
  auto async_join_next(const Executor& ex, Token&& token) {
    return kyoto::async_poll(ex, join_next(), std::forward<Token>(token));
  }

  /// Aborts every task in the set; they stay in it until join_next() reports them.
  void abort_all() noexcept {
    for (auto& [id, e] : entries_)
      e.handle.abort();
  }

  /// Removes every task from the set without aborting it (they run on, detached).
  void detach_all() noexcept {
    entries_.clear();
    new_.clear();
    std::lock_guard lock(shared_->mutex);
    shared_->ready.clear();
  }

  /// Tasks in the set (finished ones included until join_next() reports them).
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

 private:
  friend class join_next_future<T>;

  output_type poll_entry_value(join_handle<T>& h, task_context& sub, bool& ready) {
    auto r = h.poll(sub);
    ready = r.is_ready();
    if (!ready)
      return std::nullopt;
    if constexpr (std::is_void_v<T>)
      return std::monostate{};
    else
      return std::move(r).value();
  }

// g++ 12 reports a false -Wmaybe-uninitialized when an empty std::optional<int> is moved into
// poll<std::optional<int>> (the disengaged payload is copied as raw bytes).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
  kyoto::poll<output_type> poll_next(task_context& cx) {
    if (entries_.empty())
      return output_type{};
    if (cx.poll_budget().is_pending())
      return pending;
    std::vector<std::uint64_t> ids;
    {
      std::lock_guard lock(shared_->mutex);
      // Register first, so that a completion after the ready list was taken wakes us.
      if (!shared_->parent.will_wake(cx.get_waker()))
        shared_->parent = cx.get_waker();
      ids.swap(shared_->ready);
    }
    ids.insert(ids.end(), new_.begin(), new_.end());
    new_.clear();
    for (std::size_t k = 0; k < ids.size(); ++k) {
      auto it = entries_.find(ids[k]);
      if (it == entries_.end())
        continue; // Reported already (a stale wake).
      auto& ew = detail::join_set_entry_waker::of(it->second.w);
      ew.unqueue();
      task_context sub(it->second.w, INT_MAX);
      bool ready = false;
      output_type out;
      try {
        out = poll_entry_value(it->second.handle, sub, ready);
      } catch (...) {
        requeue_rest(ids, k + 1);
        entries_.erase(it);
        throw;
      }
      if (ready) {
        requeue_rest(ids, k + 1);
        entries_.erase(it);
        return out;
      }
    }
    cx.refund_budget();
    return pending;
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  /// Ids taken off the ready list but not looked at: put them back for the next poll.
  void requeue_rest(const std::vector<std::uint64_t>& ids, std::size_t from) {
    new_.insert(new_.end(), ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end());
  }

  // Shared with the entries' wakers.
  std::shared_ptr<detail::join_set_shared> shared_;
  // The tasks, by id.
  std::unordered_map<std::uint64_t, entry> entries_;
  // Ids to poll at the next join_next poll without a wake: new entries, and ready ids left over
  // when a poll returned early.
  std::vector<std::uint64_t> new_;
};

} // namespace kyoto

#endif // KYOTO_JOIN_SET_HPP
