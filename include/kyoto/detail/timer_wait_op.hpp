// kyoto/detail/timer_wait_op.hpp
//
// The pieces a pending timer wait is made of:
// - timer_state: what a timer object embeds; the wheel entry plus the list of its pending waits
//   and the index of the wheel (shard) that holds it;
// - timer_wait_op: one async_wait, a kyoto operation that carries the error code to deliver;
// - timer_wait_handler_op<Handler, IoExecutor>: the typed operation that owns the handler and
//   its outstanding work, and completes it the way Asio's wait_handler does;
// - timer_cancel_handler: what async_wait installs in the handler's cancellation slot.
//
// Protocol (see timer_service.hpp for the locking): every field below except
// timer_state::shard_ is read and written only under the lock of the shard that holds the
// timer. shard_ is written only under that lock too, but read without it to find which lock
// to take; the reader re-checks it once it holds the lock. A pending op is referenced only from
// its timer's list; it is unlinked under the lock before it is scheduled or destroyed, and only
// then freed (by completing it), so a cancellation handler that still holds its address finds
// it through its own `op_` field, which is cleared under the same lock.

#ifndef KYOTO_DETAIL_TIMER_WAIT_OP_HPP
#define KYOTO_DETAIL_TIMER_WAIT_OP_HPP

#include <kyoto/detail/handler_op_ptr.hpp>
#include <kyoto/detail/handler_work.hpp>
#include <kyoto/detail/operation.hpp>
#include <kyoto/detail/timer_wheel_entry.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace kyoto::detail {

class timer_service;
class timer_wait_op;

/// The per-timer state the service links into a wheel. Embedded in each timer object; it must
/// not be moved while waits are pending (the service moves its contents instead).
struct timer_state : timer_entry {
  timer_state() noexcept = default;
  timer_state(const timer_state&) = delete;
  timer_state& operator=(const timer_state&) = delete;

  // The shard whose wheel holds this timer, or -1 when no wait is pending.
  std::atomic<int> shard_{-1};
  // The first pending wait, or null.
  timer_wait_op* head_ = nullptr;
  // The last pending wait, or null.
  timer_wait_op* tail_ = nullptr;
  // The deadline in fine ticks (1/64 ms, rounded up); the wheel entry holds it in whole ms.
  std::uint64_t fine_deadline_ = 0;
  // True while the entry is in its shard's fine wheel (its last millisecond) rather than the
  // millisecond wheel.
  bool in_fine_wheel_ = false;
};

/// What async_wait puts in the handler's associated cancellation slot. It outlives the op (the
/// slot owns it), so it holds the op only as a key that the service clears under the lock.
class timer_cancel_handler {
 public:
  explicit timer_cancel_handler(timer_service& service) noexcept : service_(&service) {}

  /// Cancels the wait on terminal, partial or total cancellation (the wait has no side effects).
  void operator()(boost::asio::cancellation_type_t type);

 private:
  friend class timer_service;
  template <typename, typename>
  friend class timer_wait_handler_op;

  // The service that holds the wait.
  timer_service* service_;
  // The shard the wait was armed in; written before the op is published, then constant.
  int shard_ = -1;
  // The pending wait, or null once it has left its timer (fired, cancelled, destroyed).
  timer_wait_op* op_ = nullptr;
};

/// One pending async_wait, type-erased.
class timer_wait_op : public operation {
 public:
  /// The result to deliver: success when the deadline passed, operation_aborted when cancelled.
  boost::system::error_code ec_;
  // The next wait of the same timer, or null.
  timer_wait_op* next_wait_ = nullptr;
  // The timer whose list holds this wait (pending waits only).
  timer_state* owner_ = nullptr;
  // The handler installed in the cancellation slot, or null when the slot is not connected.
  timer_cancel_handler* cancel_ = nullptr;

 protected:
  explicit timer_wait_op(func_type func) noexcept : operation(func) {}
  ~timer_wait_op() = default;
};

/// The end of a wait operation `op` (a timer_wait_handler_op or timer_wait_native_op), as Asio's
/// wait_handler does it: bind the handler to the result, free the operation's storage, then, if
/// `invoke`, call `run(bound)` to hand the bound handler on. Anything else `run` needs must have
/// been moved out of the operation before.
template <typename Op, typename Run>
void finish_wait(Op* op, bool invoke, Run&& run) {
  typename Op::ptr p = {std::addressof(op->handler()), op, op};
  using handler_type = std::remove_reference_t<decltype(op->handler())>;
  boost::asio::detail::binder1<handler_type, boost::system::error_code> bound(op->handler(),
                                                                              op->ec_);
  p.h = std::addressof(bound.handler_);
  p.reset();
  if (invoke) {
    boost::asio::detail::fenced_block b(boost::asio::detail::fenced_block::half);
    run(bound);
  }
}

/// A wait for a handler of type Handler on a timer whose I/O executor is IoExecutor. Storage
/// comes from the handler's associated allocator or allocation hooks, or from operation_cache
/// when it has neither (handler_op_ptr.hpp).
template <typename Handler, typename IoExecutor>
class timer_wait_handler_op final : public timer_wait_op {
 public:
  using ptr = handler_op_ptr<timer_wait_handler_op, Handler>;

  timer_wait_handler_op(Handler& handler, const IoExecutor& io_ex)
      : timer_wait_op(&do_complete), handler_(std::move(handler)), work_(handler_, io_ex) {}

  /// The handler, for reading its associated cancellation slot after construction.
  Handler& handler() noexcept { return handler_; }

 private:
// g++ 12 at -O3 can report the moved-from optional inside `work` below as maybe-uninitialized
// when enough is inlined around it (a false positive: std::optional's engaged flag guards it).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
  static void do_complete(operation* base, bool invoke) {
    // As Asio's wait_handler: take the work and the handler out, free the storage, then hand
    // the handler to its associated executor (dispatch semantics: inline when allowed).
    auto* self = static_cast<timer_wait_handler_op*>(base);
    handler_work<Handler, IoExecutor> work(std::move(self->work_));
    finish_wait(self, invoke, [&](auto& bound) { work.complete(bound, bound.handler_); });
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  // The user's completion handler.
  Handler handler_;
  // What the handler's associated executor needs (nothing in the common case: the timer
  // service counts pending waits as outstanding work, see handler_work.hpp).
  handler_work<Handler, IoExecutor> work_;
};

/// A wait whose handler runs natively (handler_work::is_native): no handler_work to keep, so
/// the operation is the handler and the list links only (72 bytes for a handler of two
/// references, against 136 with an any_io_executor's handler_work).
template <typename Handler>
class timer_wait_native_op final : public timer_wait_op {
 public:
  using ptr = handler_op_ptr<timer_wait_native_op, Handler>;

  explicit timer_wait_native_op(Handler& handler)
      : timer_wait_op(&do_complete), handler_(std::move(handler)) {}

  Handler& handler() noexcept { return handler_; }

 private:
  static void do_complete(operation* base, bool invoke) {
    finish_wait(static_cast<timer_wait_native_op*>(base), invoke, [](auto& bound) {
      boost_asio_handler_invoke_helpers::invoke(bound, bound.handler_);
    });
  }

  // The user's completion handler.
  Handler handler_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TIMER_WAIT_OP_HPP
