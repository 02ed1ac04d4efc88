// kyoto/future.hpp
//
// Rust's Future/Waker model in C++: a future is any object with
//
//   kyoto::poll<T> poll(kyoto::task_context& cx);
//
// An executor calls poll() to advance it. It returns a ready value, or kyoto::pending after it
// has arranged for cx.get_waker() (or a copy of it) to be woken when progress is possible.
// Futures are lazy (nothing happens until polled), and a future must not be polled again after
// it returned a ready value.
//
// The waker is a pointer plus a table of four functions (clone, wake, wake_by_ref, drop), as
// Rust's RawWaker. Copying one clones it (a task's waker: one atomic increment); it may outlive
// the task and the context it belongs to (waking it then does nothing).
//
// Cooperative budget: a task_context carries a budget of task_context::default_budget (128)
// operations per task poll. Kyoto's leaf futures (channels, join handles, timers) spend one unit
// each time they would return ready; with the budget spent they wake the task and return
// pending, so one busy task cannot starve a worker (poll_budget()).
//
// Thread safety: waker: distinct objects safe; a shared waker is safe for const members
// (wake_by_ref, will_wake, copying from it). poll<T>, task_context: not thread-safe.

#ifndef KYOTO_FUTURE_HPP
#define KYOTO_FUTURE_HPP

#include <concepts>
#include <optional>
#include <type_traits>
#include <utility>

namespace kyoto {

/// The tag of a pending poll result: `return kyoto::pending;`.
struct pending_t {
  explicit constexpr pending_t() = default;
};
inline constexpr pending_t pending{};

/// The tag of a ready poll<void>: `return kyoto::ready;`.
struct ready_t {
  explicit constexpr ready_t() = default;
};
inline constexpr ready_t ready{};

/// The result of polling a future: a ready value of type T, or pending.
template <typename T>
class poll {
  static_assert(!std::is_reference_v<T>, "kyoto::poll<T>: T must be an object type, not a "
                                         "reference (return a pointer or std::reference_wrapper)");

 public:
  using value_type = T;

  constexpr poll(pending_t) noexcept {}

  template <typename U = T>
  requires std::constructible_from<T, U&&> &&(!std::same_as<std::remove_cvref_t<U>, poll>)&&(
      !std::same_as<std::remove_cvref_t<U>, pending_t>)constexpr poll(U&& value)
      : value_(std::in_place, std::forward<U>(value)) {}

  constexpr bool is_ready() const noexcept { return value_.has_value(); }
  constexpr bool is_pending() const noexcept { return !value_.has_value(); }

  /// The ready value. Precondition: is_ready().
  constexpr T& value() & noexcept { return *value_; }
  constexpr const T& value() const& noexcept { return *value_; }
  constexpr T&& value() && noexcept { return std::move(*value_); }

 private:
  // The value when ready, empty when pending.
  std::optional<T> value_;
};

/// poll<void>: ready (without a value) or pending.
template <>
class poll<void> {
 public:
  using value_type = void;

  constexpr poll(pending_t) noexcept {}
  constexpr poll(ready_t) noexcept : ready_(true) {}

  constexpr bool is_ready() const noexcept { return ready_; }
  constexpr bool is_pending() const noexcept { return !ready_; }
  constexpr void value() const noexcept {}

 private:
  // True when ready.
  bool ready_ = false;
};

/// The functions behind a waker (Rust's RawWakerVTable). Each takes the waker's data pointer.
/// `clone` returns the data pointer of the new reference (usually the same pointer); `wake`
/// consumes the reference; `wake_by_ref` does not; `drop` releases it without waking.
/// All four must be callable from any thread and must not throw.
struct waker_vtable {
  void* (*clone)(void* data) noexcept;
  void (*wake)(void* data) noexcept;
  void (*wake_by_ref)(void* data) noexcept;
  void (*drop)(void* data) noexcept;
};

/// A handle that tells an executor to poll a task again.
class waker {
 public:
  /// An empty waker: waking it does nothing.
  constexpr waker() noexcept = default;

  /// Adopts one reference described by `data` and `vtable` (which must outlive every use).
  constexpr waker(void* data, const waker_vtable* vtable) noexcept : data_(data), vtable_(vtable) {}

  waker(const waker& other) noexcept
      : data_(other.vtable_ ? other.vtable_->clone(other.data_) : nullptr), vtable_(other.vtable_) {
  }

  waker(waker&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), vtable_(std::exchange(other.vtable_, nullptr)) {
  }

  waker& operator=(const waker& other) noexcept {
    if (this != &other && !will_wake(other)) {
      waker tmp(other);
      swap(tmp);
    }
    return *this;
  }

  waker& operator=(waker&& other) noexcept {
    if (this != &other) {
      waker tmp(std::move(other));
      swap(tmp);
    }
    return *this;
  }

  ~waker() {
    if (vtable_)
      vtable_->drop(data_);
  }

  /// Wakes the task and releases this reference; the waker is empty afterwards.
  void wake() noexcept {
    if (vtable_) {
      const waker_vtable* vt = std::exchange(vtable_, nullptr);
      vt->wake(std::exchange(data_, nullptr));
    }
  }

  /// Wakes the task, keeping this reference.
  void wake_by_ref() const noexcept {
    if (vtable_)
      vtable_->wake_by_ref(data_);
  }

  /// True when both wakers wake the same task, so replacing one with the other is pointless.
  bool will_wake(const waker& other) const noexcept {
    return data_ == other.data_ && vtable_ == other.vtable_;
  }

  /// True unless empty.
  explicit operator bool() const noexcept { return vtable_ != nullptr; }

  /// The data pointer and vtable, for executors that recognise their own wakers.
  void* data() const noexcept { return data_; }
  const waker_vtable* vtable() const noexcept { return vtable_; }

  void swap(waker& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(vtable_, other.vtable_);
  }

 private:
  // The pointer handed to the vtable's functions.
  void* data_ = nullptr;
  // The functions; null for an empty waker.
  const waker_vtable* vtable_ = nullptr;
};

/// What a future's poll() receives: the waker of the task being polled and its budget.
class task_context {
 public:
  /// Operations a task may complete in one poll before kyoto's futures make it yield.
  static constexpr int default_budget = 128;

  explicit task_context(const waker& w, int budget = default_budget) noexcept
      : waker_(&w), budget_(budget) {}

  task_context(const task_context&) = delete;
  task_context& operator=(const task_context&) = delete;

  /// The waker of the task being polled. Copy it to keep it beyond this poll.
  const waker& get_waker() const noexcept { return *waker_; }

  /// The remaining budget.
  int budget() const noexcept { return budget_; }

  /// Spends one unit of budget and returns ready; when none is left, wakes the task and
  /// returns pending (the caller returns pending too, so the task goes to the back of the queue).
  poll<void> poll_budget() noexcept {
    if (budget_ > 0) {
      --budget_;
      return ready;
    }
    waker_->wake_by_ref();
    return pending;
  }

  /// Gives back one unit spent by poll_budget() when the operation made no progress after all.
  void refund_budget() noexcept { ++budget_; }

 private:
  // The waker of the task being polled; outlives this object.
  const waker* waker_;
  // Operations left in this poll.
  int budget_;
};

namespace detail {
template <typename T>
struct is_poll : std::false_type {};
template <typename T>
struct is_poll<kyoto::poll<T>> : std::true_type {};
} // namespace detail

/// A type with `poll(task_context&) -> kyoto::poll<T>`.
template <typename F>
concept future = std::is_object_v<F> && requires(F& f, task_context& cx) {
  {f.poll(cx)};
  requires detail::is_poll<decltype(f.poll(cx))>::value;
};

/// The T of a future's poll<T>.
template <future F>
using future_output_t =
    typename decltype(std::declval<F&>().poll(std::declval<task_context&>()))::value_type;

/// A future whose poll() calls `fn(cx)`, which returns a poll<T>.
template <typename Fn>
class poll_fn_future {
 public:
  explicit poll_fn_future(Fn fn) : fn_(std::move(fn)) {}
  auto poll(task_context& cx) { return fn_(cx); }

 private:
  // The polling function.
  Fn fn_;
};

/// Makes a future from a function `(task_context&) -> poll<T>`.
template <typename Fn>
requires detail::is_poll<std::invoke_result_t<Fn&, task_context&>>::value
    poll_fn_future<std::decay_t<Fn>>
    poll_fn(Fn&& fn) {
  return poll_fn_future<std::decay_t<Fn>>(std::forward<Fn>(fn));
}

/// A future that is ready at once with a value.
template <typename T>
class ready_future {
 public:
  explicit ready_future(T value) : value_(std::move(value)) {}
  kyoto::poll<T> poll(task_context&) { return std::move(value_); }

 private:
  // The value to return.
  T value_;
};

} // namespace kyoto

#endif // KYOTO_FUTURE_HPP
