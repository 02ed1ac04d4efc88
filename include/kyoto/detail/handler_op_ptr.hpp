// kyoto/detail/handler_op_ptr.hpp
//
// The storage of an operation that owns a completion handler (a timer wait), as Asio's
// BOOST_ASIO_DEFINE_HANDLER_PTR gives it, with one difference: a handler that asks for nothing
// in particular (the default associated allocator and no asio_handler_allocate hook of its own)
// gets its storage from operation_cache, like a posted handler, instead of Asio's per-thread
// recycling allocator, which keeps two blocks per thread and sends the rest to malloc. A handler
// with an associated allocator or a (deprecated) allocation hook is served by them, exactly as
// Asio does.

#ifndef KYOTO_DETAIL_HANDLER_OP_PTR_HPP
#define KYOTO_DETAIL_HANDLER_OP_PTR_HPP

#include <kyoto/detail/operation_cache.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>

#include <cstddef>
#include <memory>
#include <type_traits>

namespace kyoto::detail {

namespace hook_probe {

// What overload resolution picks below when a handler has no hook of its own. A hook declared
// for the handler's type (or a base, or a template over it) is a better match than a conversion
// to a void pointer; Asio's default hooks (an ellipsis) are worse.
struct no_hook {};
no_hook asio_handler_allocate(std::size_t, const volatile void*);
no_hook asio_handler_deallocate(void*, std::size_t, const volatile void*);

template <typename Handler>
constexpr bool has_allocation_hooks() noexcept {
#if defined(BOOST_ASIO_NO_DEPRECATED) || !defined(BOOST_ASIO_HAS_HANDLER_HOOKS)
  return false; // Asio ignores the hooks then.
#else
  Handler* h = nullptr;
  return !std::is_same_v<decltype(asio_handler_allocate(std::size_t{}, h)), no_hook> ||
         !std::is_same_v<decltype(asio_handler_deallocate(nullptr, std::size_t{}, h)), no_hook>;
#endif
}

} // namespace hook_probe

/// Owns the storage (v) and then the constructed operation (p) of an Op for a Handler until
/// released (set both to null) or reset. Drop-in for the `ptr` of BOOST_ASIO_DEFINE_HANDLER_PTR.
template <typename Op, typename Handler>
struct handler_op_ptr {
  Handler* h;
  Op* v;
  Op* p;

  /// Whether Op's storage comes from operation_cache rather than the handler's allocator.
  static constexpr bool cached() noexcept {
    return std::is_same_v<boost::asio::associated_allocator_t<Handler>, std::allocator<void>> &&
           !hook_probe::has_allocation_hooks<Handler>() &&
           operation_cache::fits(sizeof(Op), alignof(Op));
  }

  ~handler_op_ptr() { reset(); }

  static Op* allocate(Handler& handler) {
    if constexpr (cached()) {
      (void)handler;
      return static_cast<Op*>(operation_cache::allocate(sizeof(Op)));
    } else {
      auto a = allocator(handler);
      return a.allocate(1);
    }
  }

  void reset() noexcept {
    if (p) {
      p->~Op();
      p = nullptr;
    }
    if (v) {
      if constexpr (cached()) {
        operation_cache::deallocate(v, sizeof(Op));
      } else {
        auto a = allocator(*h);
        a.deallocate(v, 1);
      }
      v = nullptr;
    }
  }

 private:
  // The allocator Asio would use: the associated one, or the hooks behind the default one.
  static auto allocator(Handler& handler) {
    using associated = boost::asio::associated_allocator_t<Handler>;
    using hook = boost::asio::detail::get_hook_allocator<Handler, associated>;
    using rebound = typename std::allocator_traits<typename hook::type>::template rebind_alloc<Op>;
    return rebound(hook::get(handler, boost::asio::get_associated_allocator(handler)));
  }
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_HANDLER_OP_PTR_HPP
