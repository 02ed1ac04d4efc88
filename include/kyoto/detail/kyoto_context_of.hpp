// kyoto/detail/kyoto_context_of.hpp
//
// Finding the kyoto::context behind an executor, for I/O objects that only work on one (the
// timers). asio::execution_context is not polymorphic, so a context reached through a
// type-erased executor (any_io_executor) cannot be dynamic_cast. In order:
// 1. the executor's context query is statically a kyoto::context (its own executor, a strand
//    of it, any executor that forwards the query): exact;
// 2. statically an io_context (or another non-erased type): not a kyoto::context;
// 3. type-erased (execution_context&): a context that already has a timer_service is a
//    kyoto::context (the service is only ever created in one); otherwise the erased target is
//    tried against kyoto's executor types and strands of them (default allocator, every
//    property combination).
// An executor that passes none of these is reported as "not a kyoto::context". A public
// kyoto::context::from(execution_context&) in context.hpp would make step 3 exact.
//
// Thread safety: as the executor's queries (any thread).

#ifndef KYOTO_DETAIL_KYOTO_CONTEXT_OF_HPP
#define KYOTO_DETAIL_KYOTO_CONTEXT_OF_HPP

#include <kyoto/context.hpp>
#include <kyoto/detail/cached_service.hpp>
#include <kyoto/detail/timer_service.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/system_error.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace kyoto::detail {

template <typename Target, typename Executor>
kyoto::context* kyoto_context_of_target(const Executor& ex) noexcept {
  if constexpr (requires { ex.template target<Target>(); }) {
    if (const Target* t = ex.template target<Target>())
      return &boost::asio::query(*t, boost::asio::execution::context);
  }
  return nullptr;
}

template <typename Executor, unsigned int... Bits>
kyoto::context* kyoto_context_of_erased(const Executor& ex,
                                        std::integer_sequence<unsigned int, Bits...>) noexcept {
  using alloc = std::allocator<void>;
  kyoto::context* k = nullptr;
  ((k = k ? k : kyoto_context_of_target<context::basic_executor_type<alloc, Bits>>(ex)), ...);
  ((k = k ? k
          : kyoto_context_of_target<boost::asio::strand<context::basic_executor_type<alloc, Bits>>>(
                ex)),
   ...);
  return k;
}

/// The kyoto::context that `ex` submits to, or null when it is not (known to be) one.
template <typename Executor>
kyoto::context* kyoto_context_of(const Executor& ex) noexcept {
  if constexpr (boost::asio::execution::is_executor<Executor>::value) {
    auto&& ctx = boost::asio::query(ex, boost::asio::execution::context);
    using ctx_type = std::remove_cvref_t<decltype(ctx)>;
    if constexpr (std::is_base_of_v<kyoto::context, ctx_type>) {
      return &ctx;
    } else if constexpr (!std::is_same_v<ctx_type, boost::asio::execution_context>) {
      return nullptr;
    } else {
      if (boost::asio::has_service<timer_service>(ctx))
        return static_cast<kyoto::context*>(&ctx);
      return kyoto_context_of_erased(ex, std::make_integer_sequence<unsigned int, 8>{});
    }
  } else {
    // A Networking TS executor: only its context() member.
    auto&& ctx = ex.context();
    using ctx_type = std::remove_cvref_t<decltype(ctx)>;
    if constexpr (std::is_base_of_v<kyoto::context, ctx_type>)
      return &ctx;
    else
      return nullptr;
  }
}

/// The timer service of the kyoto::context behind `ex` (created on first use). Throws
/// system_error(invalid_argument) with `who` in the message when there is none.
template <typename Executor>
timer_service& timer_service_for(const Executor& ex, const char* who) {
  kyoto::context* k = kyoto_context_of(ex);
  if (k == nullptr)
    throw boost::system::system_error(
        make_error_code(boost::system::errc::invalid_argument),
        std::string(who) +
            ": the executor's execution context is not a kyoto::context (kyoto's timers run "
            "only on kyoto::context; use boost::asio's timers with other contexts)");
  return cached_service_of<timer_service>(*k, runtime::cached_service::timer);
}

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_KYOTO_CONTEXT_OF_HPP
