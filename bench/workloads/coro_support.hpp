// bench/workloads/coro_support.hpp
//
// What the coroutine workloads share: the completion handler given to co_spawn, which turns an
// exception escaping a coroutine into fail() (asio::detached would drop it, and the workload
// would then only time out).

#ifndef KYOTO_BENCH_WORKLOADS_CORO_SUPPORT_HPP
#define KYOTO_BENCH_WORKLOADS_CORO_SUPPORT_HPP

#include "../workload.hpp"

#include <exception>
#include <string>

namespace kyoto_bench {

/// co_spawn completion handler: fail()s when the coroutine ended with an exception.
struct fail_on_exception {
  void operator()(std::exception_ptr e) const {
    if (!e)
      return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      fail(std::string("a coroutine threw: ") + x.what());
    } catch (...) {
      fail("a coroutine threw an unknown exception");
    }
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_CORO_SUPPORT_HPP
