// bench/system.hpp
//
// The adapter between the workloads and the execution contexts they are measured on (the
// "systems"). A workload is written once against this interface and instantiated for every
// system, so all systems run the same code.
//
// A system:
// - has a static `name` (shown in the table and the JSON);
// - is constructed with a thread count N and starts its N threads at once; they stay inside the
//   context (held by a work guard) until the system is destroyed, so an idle system is a system
//   whose N threads are parked;
// - `executor()` returns the Asio executor that work from "outside" is submitted to. For a pool of
//   contexts it hands out the next context round-robin; for a single context it is always the
//   context's executor. Work submitted from inside a handler goes to the executor that handler
//   was posted to (the usual Asio idiom), not through executor();
// - is destroyed on the main thread: it releases the guard and joins its threads.
//
// "Run until the workload is done" is the workload's own business: it waits on a countdown
// (bench/workload.hpp) that its last handler counts down, so every system waits the same way.
//
// Thread safety: executor() may be called from any thread (also from inside handlers);
// construction and destruction only from the main thread.

#ifndef KYOTO_BENCH_SYSTEM_HPP
#define KYOTO_BENCH_SYSTEM_HPP

#include <boost/asio/execution.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/require.hpp>

#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace kyoto_bench {

/// What the runner and the workloads need from a system.
template <typename S>
concept system = std::constructible_from<S, int> && requires(S& s) {
  { S::name } -> std::convertible_to<std::string_view>;
  { s.executor() } -> boost::asio::execution::executor;
};

/// Runs `f` on a benchmark thread: an exception that escapes a handler is a broken benchmark, so
/// it ends the process with a message instead of a number.
template <typename F>
void run_guarded(std::string_view system_name, F&& f) noexcept {
  try {
    std::forward<F>(f)();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nkyoto_bench: a handler on %.*s threw: %s\n",
                 static_cast<int>(system_name.size()), system_name.data(), e.what());
    std::_Exit(2);
  } catch (...) {
    std::fprintf(stderr, "\nkyoto_bench: a handler on %.*s threw an unknown exception\n",
                 static_cast<int>(system_name.size()), system_name.data());
    std::_Exit(2);
  }
}

/// A system made of one io_context-like context run by N threads: anything constructible from
/// an int (the thread count) with run() and get_executor(). kyoto::context and io_context both
/// use it, so they are treated identically. `Derived` is the adapter, which holds the `name`.
template <typename Context, typename Derived>
class context_system {
 public:
  explicit context_system(int threads) : context_(threads) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this] { run_guarded(Derived::name, [this] { context_.run(); }); });
  }

  ~context_system() {
    guard_.reset();
    for (auto& t : threads_)
      t.join();
  }

  context_system(const context_system&) = delete;
  context_system& operator=(const context_system&) = delete;

  auto executor() { return context_.get_executor(); }

 private:
  // The context under test.
  Context context_;
  // Keeps run() from returning while the system is idle between workloads.
  std::optional<decltype(boost::asio::require(std::declval<Context&>().get_executor(),
                                              boost::asio::execution::outstanding_work.tracked))>
      guard_{boost::asio::require(context_.get_executor(),
                                  boost::asio::execution::outstanding_work.tracked)};
  // The N threads inside context_.run().
  std::vector<std::thread> threads_;
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_SYSTEM_HPP
