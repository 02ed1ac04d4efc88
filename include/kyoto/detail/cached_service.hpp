// kyoto/detail/cached_service.hpp
//
// cached_service_of<Service>(ctx, kind): boost::asio::use_service<Service>(ctx), remembered in
// the context's runtime after the first call. use_service locks the service registry and walks
// its list on every call; spawning a task and constructing a timer need their service each time.
//
// Thread safety: any thread; two first calls may both go to use_service, which returns the same
// service to both.

#ifndef KYOTO_DETAIL_CACHED_SERVICE_HPP
#define KYOTO_DETAIL_CACHED_SERVICE_HPP

#include <kyoto/context.hpp>

#include <boost/asio/execution_context.hpp>

#include <atomic>

namespace kyoto::detail {

template <typename Service>
Service& cached_service_of(kyoto::context& ctx, runtime::cached_service kind) {
  std::atomic<void*>& slot = ctx.impl().service_cache(kind);
  // acquire: pairs with the release store below, so the service is seen fully built.
  if (void* service = slot.load(std::memory_order_acquire))
    return *static_cast<Service*>(service);
  Service& service = boost::asio::use_service<Service>(ctx);
  slot.store(&service, std::memory_order_release);
  return service;
}

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_CACHED_SERVICE_HPP
