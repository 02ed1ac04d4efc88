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

#include "support/thread_checks.hpp"
#include "support/thread_runner.hpp"

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
inline constexpr std::chrono::seconds watchdog_timeout = runner_patience;

/// Runs `ctx.run()` on `threads` new threads (see test/support/thread_runner.hpp); wait()
/// also rethrows the first exception that left run().
template <typename Context>
class runner : public thread_runner<Context> {
 public:
  using thread_runner<Context>::thread_runner;

  bool wait(std::chrono::milliseconds timeout = watchdog_timeout) {
    const bool in_time = thread_runner<Context>::wait(timeout);
    if (auto errors = this->errors(); !errors.empty())
      std::rethrow_exception(errors.front());
    return in_time;
  }
};

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
