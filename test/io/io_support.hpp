// io/io_support.hpp
//
// Shared pieces of the I/O tests: the list of context types every test body runs on, a runner
// that drives a context with N threads under a watchdog, a recorder of the threads handlers ran
// on, and loopback connection helpers.
//
// The same test body runs on kyoto::context and on boost::asio::io_context: io_context is the
// reference, so a failure that shows on both is a test bug, one that shows on kyoto only is a
// kyoto bug. Building with KYOTO_IO_TEST_STOCK_ONLY defined runs every body on io_context only
// (useful while the kyoto scheduler is not linked).
//
// Thread safety: a runner is created, waited on and destroyed by one thread (the test's); the
// recorder may be used from any thread.

#ifndef KYOTO_TEST_IO_IO_SUPPORT_HPP
#define KYOTO_TEST_IO_IO_SUPPORT_HPP

#include <kyoto/context.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kyoto_test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

#ifdef KYOTO_IO_TEST_STOCK_ONLY
/// Every context type the I/O test bodies run on.
using io_context_types = boost::mpl::list<asio::io_context>;
/// The contexts whose kyoto-specific promises are tested (stand-in: io_context).
using kyoto_context_types = boost::mpl::list<asio::io_context>;
#else
using io_context_types = boost::mpl::list<kyoto::context, asio::io_context>;
using kyoto_context_types = boost::mpl::list<kyoto::context>;
#endif

/// The tiny adapter: both context types are built from a thread count (io_context takes it as
/// its concurrency hint, kyoto::context as its number of worker slots).
template <typename Context>
std::unique_ptr<Context> make_context(int threads) {
  return std::make_unique<Context>(threads);
}

/// The longest any runner waits for its threads before it stops the context and fails.
inline constexpr std::chrono::seconds watchdog_timeout{30};

/// Runs `ctx.run()` on `threads` new threads. wait() joins them, stopping the context first if
/// they do not finish within the timeout (so a broken context fails the test, never hangs it).
template <typename Context>
class runner {
 public:
  runner(Context& ctx, int threads) : ctx_(ctx) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this] {
        try {
          ctx_.run();
        } catch (...) {
          std::lock_guard lock(mutex_);
          if (!error_)
            error_ = std::current_exception();
        }
        std::lock_guard lock(mutex_);
        ++finished_;
        cv_.notify_all();
      });
    std::lock_guard lock(mutex_);
    for (auto& t : threads_)
      ids_.insert(t.get_id());
  }

  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;

  ~runner() {
    if (!joined_) {
      ctx_.stop();
      join();
    }
  }

  /// Waits until every thread has returned from run(). Returns false (after stopping the
  /// context) when that takes longer than `timeout`. Rethrows an exception that left run().
  bool wait(std::chrono::milliseconds timeout = watchdog_timeout) {
    bool in_time;
    {
      std::unique_lock lock(mutex_);
      in_time = cv_.wait_for(lock, timeout, [&] { return finished_ == threads_.size(); });
    }
    if (!in_time)
      ctx_.stop();
    join();
    if (error_)
      std::rethrow_exception(error_);
    return in_time;
  }

  /// True once every thread has returned from run().
  bool done() const {
    std::lock_guard lock(mutex_);
    return finished_ == threads_.size();
  }

  /// True when `id` is one of the threads that run the context.
  bool is_runner(std::thread::id id) const {
    std::lock_guard lock(mutex_);
    return ids_.count(id) != 0;
  }

  /// True when every id in `ids` is a runner thread.
  bool all_runners(const std::set<std::thread::id>& ids) const {
    std::lock_guard lock(mutex_);
    for (auto id : ids)
      if (!ids_.count(id))
        return false;
    return true;
  }

 private:
  void join() {
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
    joined_ = true;
  }

  // The context the threads run.
  Context& ctx_;
  // The threads calling run().
  std::vector<std::thread> threads_;
  // Guards the fields below.
  mutable std::mutex mutex_;
  // Signalled when a thread returns from run().
  std::condition_variable cv_;
  // How many threads returned from run().
  std::size_t finished_ = 0;
  // The first exception that escaped run().
  std::exception_ptr error_;
  // The ids of threads_.
  std::set<std::thread::id> ids_;
  // True after join(); only the owning thread touches it.
  bool joined_ = false;
};

/// Collects the ids of the threads that handlers ran on.
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

/// Boost.Test assertions are not thread-safe, so handlers on the context's threads record
/// failed checks here (with KT_CHECK) and the test thread reports them after run() returned.
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

/// Checks `cond` from any thread, recording a failure in `log` (a check_log).
#define KT_CHECK(log, cond) (log).check(static_cast<bool>(cond), #cond, __LINE__)

/// Reports the failures recorded in a check_log (call on the test thread).
#define KT_REPORT(log) BOOST_CHECK_MESSAGE((log).failures().empty(), (log).failures())

/// The IPv4 loopback endpoint with port 0 (the kernel picks a free port).
inline asio::ip::tcp::endpoint loopback_any_port() {
  return {asio::ip::address_v4::loopback(), 0};
}

/// A listening acceptor on 127.0.0.1 with a kernel-chosen port.
template <typename Executor>
asio::ip::tcp::acceptor make_loopback_acceptor(const Executor& ex) {
  asio::ip::tcp::acceptor acceptor(ex, loopback_any_port());
  acceptor.listen();
  return acceptor;
}

/// Two connected TCP sockets over 127.0.0.1, made with synchronous calls (nothing needs to run):
/// `first` on `a`, `second` on `b`.
template <typename ExecutorA, typename ExecutorB>
std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket> make_connected_pair(const ExecutorA& a,
                                                                            const ExecutorB& b) {
  auto acceptor = make_loopback_acceptor(b);
  asio::ip::tcp::socket first(a);
  first.connect(acceptor.local_endpoint());
  asio::ip::tcp::socket second(b);
  acceptor.accept(second);
  return {std::move(first), std::move(second)};
}

} // namespace kyoto_test

#endif // KYOTO_TEST_IO_IO_SUPPORT_HPP
