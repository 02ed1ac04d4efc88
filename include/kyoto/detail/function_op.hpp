// kyoto/detail/function_op.hpp
//
// An operation that owns a nullary function object: what asio::post/dispatch/defer and
// executor.execute() queue. Its storage comes from the executor's allocator; with the default
// std::allocator<void> it comes from kyoto's per-thread operation_cache (or, for an operation
// too large for it, Asio's per-thread recycling allocator), so in steady state posting
// allocates nothing.

#ifndef KYOTO_DETAIL_FUNCTION_OP_HPP
#define KYOTO_DETAIL_FUNCTION_OP_HPP

#include <kyoto/detail/operation.hpp>
#include <kyoto/detail/operation_cache.hpp>

#include <boost/asio/detail/recycling_allocator.hpp>
#include <boost/asio/detail/thread_info_base.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace kyoto::detail {

template <typename Function, typename Allocator>
class function_op final : public operation {
  using recycling = boost::asio::detail::get_recycling_allocator<
      Allocator, boost::asio::detail::thread_info_base::default_tag>;
  using op_allocator =
      typename std::allocator_traits<typename recycling::type>::template rebind_alloc<function_op>;
  // Whether the storage comes from operation_cache: only for the default allocator (a user's
  // allocator is always used as given) and an operation that fits its size classes.
  static constexpr bool cached() noexcept {
    return std::is_same_v<Allocator, std::allocator<void>> &&
           operation_cache::fits(sizeof(function_op), alignof(function_op));
  }

 public:
  /// Allocates and constructs the operation. Throws std::bad_alloc, or what F's constructor
  /// throws; nothing leaks either way.
  template <typename F>
  static function_op* create(F&& f, const Allocator& allocator) {
    if constexpr (cached()) {
      void* p = operation_cache::allocate(sizeof(function_op));
      try {
        return ::new (p) function_op(std::forward<F>(f), allocator);
      } catch (...) {
        operation_cache::deallocate(p, sizeof(function_op));
        throw;
      }
    } else {
      op_allocator alloc(recycling::get(allocator));
      function_op* p = std::allocator_traits<op_allocator>::allocate(alloc, 1);
      try {
        return ::new (static_cast<void*>(p)) function_op(std::forward<F>(f), allocator);
      } catch (...) {
        std::allocator_traits<op_allocator>::deallocate(alloc, p, 1);
        throw;
      }
    }
  }

 private:
  template <typename F>
  function_op(F&& f, const Allocator& allocator)
      : operation(&do_complete), function_(std::forward<F>(f)), allocator_(allocator) {}

  static void do_complete(operation* base, bool invoke) {
    auto* self = static_cast<function_op*>(base);
    // Move the function out and free the storage before running it, as Asio does: the storage
    // is then reusable by whatever the function posts, and nothing leaks if it throws.
    Allocator allocator(std::move(self->allocator_));
    Function function(std::move(self->function_));
    self->~function_op();
    if constexpr (cached()) {
      operation_cache::deallocate(self, sizeof(function_op));
    } else {
      op_allocator alloc(recycling::get(allocator));
      std::allocator_traits<op_allocator>::deallocate(alloc, self, 1);
    }
    if (invoke)
      std::move(function)();
  }

  Function function_;
  Allocator allocator_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_FUNCTION_OP_HPP
