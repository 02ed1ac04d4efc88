// conformance/conformance_support.hpp
//
// Shared pieces of the conformance tests: the context types every test body runs on, a runner
// that drives a context from N threads under a watchdog, a polling wait, a thread-safe check log
// for handlers, and a move-only handler that counts its lifetime.
//
// Each test body is a BOOST_AUTO_TEST_CASE_TEMPLATE over `context_types`, so the very same code
// runs on kyoto::context and on boost::asio::io_context. io_context is the reference: a failure
// on both is a test bug, a failure on kyoto only is a kyoto bug. Configuring with
// -DKYOTO_CONFORMANCE_ASIO_ONLY=ON runs the bodies on io_context only (for checking the tests
// themselves while the kyoto scheduler does not link).
//
// Thread safety: a runner is created, waited on and destroyed by the test's thread; the check
// log, thread recorder and lifetime counters may be used from any thread.

#ifndef KYOTO_TEST_CONFORMANCE_CONFORMANCE_SUPPORT_HPP
#define KYOTO_TEST_CONFORMANCE_CONFORMANCE_SUPPORT_HPP

#include <kyoto/context.hpp>

#include "support/thread_checks.hpp"
#include "support/thread_runner.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kyoto_conformance {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// kyoto::context, constructible from a thread count like the io_context adapter below.
struct kyoto_ctx : kyoto::context {
  static constexpr bool is_kyoto = true;
  kyoto_ctx() = default;
  explicit kyoto_ctx(int threads) : kyoto::context(threads) {}
};

/// io_context built with the thread count as its concurrency hint, remembering that count so
/// that concurrency() means the same as kyoto::context's.
struct asio_ctx : asio::io_context {
  static constexpr bool is_kyoto = false;
  asio_ctx() : threads_(std::max(1u, std::thread::hardware_concurrency())) {}
  explicit asio_ctx(int threads) : asio::io_context(threads), threads_(threads) {}
  std::size_t concurrency() const noexcept { return threads_; }

 private:
  // The thread count the context was built for.
  std::size_t threads_;
};

#if KYOTO_CONFORMANCE_ASIO_ONLY
/// Every context type the test bodies run on.
using context_types = boost::mpl::list<asio_ctx>;
#else
using context_types = boost::mpl::list<kyoto_ctx, asio_ctx>;
#endif

/// The longest any test waits for something that should happen promptly.
inline constexpr std::chrono::seconds patience{30};

/// patience in milliseconds, for assertions (Boost.Test cannot print durations).
inline constexpr long long patience_ms = std::chrono::milliseconds(patience).count();

/// Milliseconds from `start` to now, rounded down.
inline long long ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

/// Polls `pred` until it is true or `timeout` passed; returns its last value.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = patience) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// Runs `ctx.run()` on `threads` new threads (see test/support/thread_runner.hpp).
template <typename Context>
using runner = kyoto_test::thread_runner<Context>;

/// Checks on the context's threads (KT_CHECK) and thread records, shared with the I/O tests.
using kyoto_test::check_log;
using kyoto_test::thread_recorder;

/// What counted_handler objects sharing these counters did. Must outlive the handlers (declare
/// it before the context).
struct lifetime_counters {
  // Handler objects constructed (including moved-to ones) minus destroyed.
  std::atomic<long> live{0};
  // Handler objects created by the test (not by moving).
  std::atomic<long> created{0};
  // Times a handler was invoked.
  std::atomic<long> runs{0};
};

/// A move-only nullary handler that counts its objects and invocations.
class counted_handler {
 public:
  explicit counted_handler(lifetime_counters& c) noexcept : counters_(&c) {
    counters_->live.fetch_add(1);
    counters_->created.fetch_add(1);
  }
  counted_handler(counted_handler&& other) noexcept : counters_(other.counters_) {
    counters_->live.fetch_add(1);
  }
  counted_handler(const counted_handler&) = delete;
  counted_handler& operator=(const counted_handler&) = delete;
  counted_handler& operator=(counted_handler&&) = delete;
  ~counted_handler() { counters_->live.fetch_sub(1); }

  void operator()() { counters_->runs.fetch_add(1); }

 private:
  // The counters, owned by the test.
  lifetime_counters* counters_;
};

} // namespace kyoto_conformance

#endif // KYOTO_TEST_CONFORMANCE_CONFORMANCE_SUPPORT_HPP
