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

/// Runs `ctx.run()` on `threads` new threads. wait() joins them, stopping the context first if
/// they do not return within the timeout (so a broken context fails the test, never hangs it).
template <typename Context>
class runner {
 public:
  runner(Context& ctx, int threads) : ctx_(ctx) {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { body(); });
      ids_.insert(threads_.back().get_id());
    }
  }

  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;

  ~runner() {
    if (!joined_) {
      ctx_.stop();
      join();
    }
  }

  /// Waits until every thread returned from run(); false (after stopping the context and
  /// joining) when that takes longer than `timeout`.
  bool wait(std::chrono::milliseconds timeout = patience) {
    bool in_time;
    {
      std::unique_lock lock(mutex_);
      in_time = cv_.wait_for(lock, timeout, [&] { return finished_ == threads_.size(); });
    }
    if (!in_time)
      ctx_.stop();
    join();
    return in_time;
  }

  /// True once every thread returned from run().
  bool done() const {
    std::lock_guard lock(mutex_);
    return finished_ == threads_.size();
  }

  /// The sum of the counts run() returned.
  std::size_t handlers_run() const {
    std::lock_guard lock(mutex_);
    return handlers_run_;
  }

  /// The exceptions that left run(), in no particular order.
  std::vector<std::exception_ptr> errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }

  /// True when every id in `ids` is one of the runner's threads.
  bool all_runners(const std::set<std::thread::id>& ids) const {
    std::lock_guard lock(mutex_);
    return std::all_of(ids.begin(), ids.end(), [&](auto id) { return ids_.count(id) != 0; });
  }

 private:
  void body() {
    std::size_t n = 0;
    std::exception_ptr error;
    try {
      n = ctx_.run();
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    handlers_run_ += n;
    if (error)
      errors_.push_back(error);
    ++finished_;
    cv_.notify_all();
  }

  void join() {
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
    joined_ = true;
  }

  // The context the threads run.
  Context& ctx_;
  // Guards the fields below, except joined_.
  mutable std::mutex mutex_;
  // Signalled when a thread returns from run().
  std::condition_variable cv_;
  // The threads calling run().
  std::vector<std::thread> threads_;
  // The ids of threads_.
  std::set<std::thread::id> ids_;
  // How many threads returned from run().
  std::size_t finished_ = 0;
  // The sum of run()'s results.
  std::size_t handlers_run_ = 0;
  // The exceptions that escaped run().
  std::vector<std::exception_ptr> errors_;
  // True after join(); only the test's thread touches it.
  bool joined_ = false;
};

/// Boost.Test assertions are not thread-safe, so code on the context's threads records failed
/// checks here (with KC_CHECK) and the test's thread reports them (BOOST_TEST(log.failures()
/// == "")).
class check_log {
 public:
  /// Records `expr` at `line` as failed unless `ok`. Returns `ok`.
  bool check(bool ok, const char* expr, int line) {
    if (!ok) {
      std::lock_guard lock(mutex_);
      failures_ += "line " + std::to_string(line) + ": " + expr + "\n";
    }
    return ok;
  }

  /// Every recorded failure, one per line; empty when all checks passed.
  std::string failures() const {
    std::lock_guard lock(mutex_);
    return failures_;
  }

 private:
  // Guards failures_.
  mutable std::mutex mutex_;
  // The failed checks.
  std::string failures_;
};

#define KC_CHECK(log, expr) (log).check(static_cast<bool>(expr), #expr, __LINE__)

/// Collects the ids of the threads that called record().
class thread_recorder {
 public:
  void record() {
    std::lock_guard lock(mutex_);
    ids_.insert(std::this_thread::get_id());
  }
  std::set<std::thread::id> ids() const {
    std::lock_guard lock(mutex_);
    return ids_;
  }

 private:
  // Guards ids_.
  mutable std::mutex mutex_;
  // Every thread that called record().
  std::set<std::thread::id> ids_;
};

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
