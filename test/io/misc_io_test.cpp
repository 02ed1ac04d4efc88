// The other I/O objects on a context: UDP, the resolver, signal_set, steady and system timers,
// POSIX stream descriptors, and how pending operations keep run() from returning.
// Every body runs on kyoto::context and on boost::asio::io_context (see io_support.hpp).

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "io/io_support.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;
using namespace kyoto_test;

BOOST_AUTO_TEST_SUITE(misc_io)

// A datagram from a to b and a reply from b to a, over 127.0.0.1, with the sender's endpoint
// reported by async_receive_from.
BOOST_AUTO_TEST_CASE_TEMPLATE(udp_send_to_receive_from, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  thread_recorder handlers;
  check_log log;
  udp::socket a(ctx->get_executor(), udp::endpoint(asio::ip::address_v4::loopback(), 0));
  udp::socket b(ctx->get_executor(), udp::endpoint(asio::ip::address_v4::loopback(), 0));

  const std::string ping = "ping datagram", pong = "pong";
  std::array<char, 64> b_buf{}, a_buf{};
  udp::endpoint b_from, a_from;
  std::size_t b_n = 0, a_n = 0;
  error_code b_ec = asio::error::would_block, a_ec = asio::error::would_block;

  b.async_receive_from(asio::buffer(b_buf), b_from, [&](error_code ec, std::size_t n) {
    handlers.record();
    b_ec = ec;
    b_n = n;
    if (ec)
      return;
    b.async_send_to(asio::buffer(pong), b_from, [&](error_code ec, std::size_t n) {
      handlers.record();
      KT_CHECK(log, !ec);
      KT_CHECK(log, n == pong.size());
    });
  });
  a.async_receive_from(asio::buffer(a_buf), a_from, [&](error_code ec, std::size_t n) {
    handlers.record();
    a_ec = ec;
    a_n = n;
  });
  a.async_send_to(asio::buffer(ping), b.local_endpoint(), [&](error_code ec, std::size_t n) {
    handlers.record();
    KT_CHECK(log, !ec);
    KT_CHECK(log, n == ping.size());
  });

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  KT_REPORT(log);
  BOOST_CHECK(!b_ec);
  BOOST_CHECK_EQUAL(std::string(b_buf.data(), b_n), ping);
  BOOST_CHECK_EQUAL(b_from, a.local_endpoint());
  BOOST_CHECK(!a_ec);
  BOOST_CHECK_EQUAL(std::string(a_buf.data(), a_n), pong);
  BOOST_CHECK_EQUAL(a_from, b.local_endpoint());
  BOOST_CHECK(run.all_runners(handlers.ids()));
}

// async_resolve of a numeric host and service (no name lookup leaves the machine).
BOOST_AUTO_TEST_CASE_TEMPLATE(resolver_numeric, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  thread_recorder handlers;
  tcp::resolver resolver(ctx->get_executor());
  error_code ec = asio::error::would_block;
  std::vector<tcp::endpoint> endpoints;
  resolver.async_resolve("127.0.0.1", "80",
                         tcp::resolver::numeric_host | tcp::resolver::numeric_service,
                         [&](error_code e, tcp::resolver::results_type results) {
                           handlers.record();
                           ec = e;
                           for (const auto& entry : results)
                             endpoints.push_back(entry.endpoint());
                         });

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  BOOST_CHECK_MESSAGE(!ec, ec.message());
  BOOST_REQUIRE(!endpoints.empty());
  for (const auto& ep : endpoints)
    BOOST_CHECK_EQUAL(ep, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 80));
  BOOST_CHECK(run.all_runners(handlers.ids()));

  // A malformed numeric host is an error, not a crash.
  auto ctx2 = make_context<Context>(1);
  tcp::resolver bad(ctx2->get_executor());
  error_code bad_ec;
  bad.async_resolve("not a number", "80", tcp::resolver::numeric_host,
                    [&](error_code e, tcp::resolver::results_type) { bad_ec = e; });
  runner<Context> run2(*ctx2, 1);
  BOOST_REQUIRE(run2.wait());
  BOOST_CHECK(bad_ec);
}

// signal_set: SIGUSR1 raised from a handler on the context, and from the test thread.
BOOST_AUTO_TEST_CASE_TEMPLATE(signal_set_sigusr1, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  thread_recorder handlers;
  asio::signal_set signals(ctx->get_executor(), SIGUSR1);
  int first = 0, second = 0;
  error_code first_ec, second_ec;

  // 1. Raised from a handler that runs on the context.
  signals.async_wait([&](error_code ec, int sig) {
    handlers.record();
    first_ec = ec;
    first = sig;
  });
  asio::post(*ctx, [] { std::raise(SIGUSR1); });
  {
    runner<Context> run(*ctx, 2);
    BOOST_REQUIRE(run.wait());
    BOOST_CHECK(run.all_runners(handlers.ids()));
  }
  BOOST_CHECK(!first_ec);
  BOOST_CHECK_EQUAL(first, SIGUSR1);

  // 2. Raised from the test thread (not a runner) while the context is running.
  ctx->restart();
  std::atomic<bool> waiting{false};
  signals.async_wait([&](error_code ec, int sig) {
    second_ec = ec;
    second = sig;
  });
  asio::post(*ctx, [&] { waiting = true; });
  runner<Context> run(*ctx, 2);
  for (int i = 0; i < 2000 && !waiting; ++i)
    std::this_thread::sleep_for(1ms);
  BOOST_CHECK(!run.done()); // the pending wait keeps run() going
  std::raise(SIGUSR1);
  BOOST_REQUIRE(run.wait());
  BOOST_CHECK(!second_ec);
  BOOST_CHECK_EQUAL(second, SIGUSR1);
}

// steady_timer and system_timer: waits complete, never before their expiry; cancel() completes
// a long wait with operation_aborted at once.
BOOST_AUTO_TEST_CASE_TEMPLATE(timers_wait_and_cancel, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  thread_recorder handlers;
  check_log log;
  constexpr int timer_count = 64;

  // Many steady timers with spread expiries; each checks it did not fire early.
  std::vector<std::unique_ptr<asio::steady_timer>> steady;
  std::atomic<int> steady_fired{0};
  for (int i = 0; i < timer_count; ++i) {
    auto t = std::make_unique<asio::steady_timer>(ctx->get_executor());
    t->expires_after(std::chrono::milliseconds(5 + (i * 37) % 60));
    auto expiry = t->expiry();
    t->async_wait([&, expiry](error_code ec) {
      handlers.record();
      KT_CHECK(log, !ec);
      KT_CHECK(log, std::chrono::steady_clock::now() >= expiry);
      ++steady_fired;
    });
    steady.push_back(std::move(t));
  }

  // A system_timer.
  asio::system_timer sys(ctx->get_executor());
  sys.expires_after(30ms);
  const auto sys_expiry = sys.expiry();
  const auto steady_start = std::chrono::steady_clock::now();
  error_code sys_ec = asio::error::would_block;
  std::chrono::steady_clock::duration sys_elapsed{};
  sys.async_wait([&](error_code ec) {
    handlers.record();
    sys_ec = ec;
    sys_elapsed = std::chrono::steady_clock::now() - steady_start;
    KT_CHECK(log, std::chrono::system_clock::now() >= sys_expiry);
  });

  // Long waits cancelled from a handler: one steady, one system.
  asio::steady_timer long_steady(ctx->get_executor(), 30s);
  asio::system_timer long_system(ctx->get_executor(), 30s);
  error_code long_steady_ec, long_system_ec;
  long_steady.async_wait([&](error_code ec) { long_steady_ec = ec; });
  long_system.async_wait([&](error_code ec) { long_system_ec = ec; });
  auto strand = asio::make_strand(*ctx);
  asio::steady_timer canceller(strand, 20ms);
  canceller.async_wait([&](error_code) {
    KT_CHECK(log, long_steady.cancel() == 1);
    KT_CHECK(log, long_system.cancel() == 1);
  });

  const auto start = std::chrono::steady_clock::now();
  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  KT_REPORT(log);
  BOOST_CHECK_EQUAL(steady_fired.load(), timer_count);
  BOOST_CHECK(!sys_ec);
  BOOST_CHECK(sys_elapsed >= 25ms); // the system clock may be slewed slightly
  BOOST_CHECK(long_steady_ec == asio::error::operation_aborted);
  BOOST_CHECK(long_system_ec == asio::error::operation_aborted);
  BOOST_CHECK(elapsed < 10s); // the cancelled waits did not run to their expiry
  BOOST_CHECK(run.all_runners(handlers.ids()));
}

// posix::stream_descriptor over a pipe: 1 MiB written to the write end arrives at the read end,
// with both sides waiting for readiness many times (the pipe buffer is 64 KiB).
BOOST_AUTO_TEST_CASE_TEMPLATE(stream_descriptor_pipe, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  thread_recorder handlers;
  int fds[2];
  BOOST_REQUIRE_EQUAL(::pipe(fds), 0);
  asio::posix::stream_descriptor reader(ctx->get_executor(), fds[0]);
  asio::posix::stream_descriptor writer(ctx->get_executor(), fds[1]);

  std::vector<std::uint8_t> out(1024 * 1024), in(out.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint8_t>(i * 131 + (i >> 9));
  error_code write_ec = asio::error::would_block, read_ec = asio::error::would_block;
  std::size_t written = 0, read = 0;
  asio::async_write(writer, asio::buffer(out), [&](error_code ec, std::size_t n) {
    handlers.record();
    write_ec = ec;
    written = n;
  });
  asio::async_read(reader, asio::buffer(in), [&](error_code ec, std::size_t n) {
    handlers.record();
    read_ec = ec;
    read = n;
  });

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  BOOST_CHECK(!write_ec);
  BOOST_CHECK(!read_ec);
  BOOST_CHECK_EQUAL(written, out.size());
  BOOST_CHECK_EQUAL(read, in.size());
  BOOST_CHECK(in == out);
  BOOST_CHECK(run.all_runners(handlers.ids()));

  // Closing the write end: the reader sees EOF.
  ctx->restart();
  writer.close();
  error_code eof_ec;
  asio::async_read(reader, asio::buffer(in), [&](error_code ec, std::size_t) { eof_ec = ec; });
  runner<Context> run2(*ctx, 2);
  BOOST_REQUIRE(run2.wait());
  BOOST_CHECK(eof_ec == asio::error::eof);
}

// run() returns at once when there is no work, keeps running while a socket read or a timer
// wait is pending, and returns once they complete: operations in flight count as work.
BOOST_AUTO_TEST_CASE_TEMPLATE(run_waits_for_operations_in_flight, Context, io_context_types) {
  {
    auto ctx = make_context<Context>(1);
    const auto start = std::chrono::steady_clock::now();
    BOOST_CHECK_EQUAL(ctx->run(), 0u);
    BOOST_CHECK(std::chrono::steady_clock::now() - start < 5s);
  }

  // A pending socket read: the peer is on another io_context, driven by the test thread.
  {
    auto ctx = make_context<Context>(2);
    asio::io_context peer_ctx;
    auto socket_peer = make_connected_pair(ctx->get_executor(), peer_ctx.get_executor());
    auto& socket = socket_peer.first;
    auto& peer = socket_peer.second;
    std::array<char, 4> buf{};
    std::atomic<bool> read_done{false};
    error_code ec = asio::error::would_block;
    asio::async_read(socket, asio::buffer(buf), [&](error_code e, std::size_t) {
      ec = e;
      read_done = true;
    });
    runner<Context> run(*ctx, 2);
    std::this_thread::sleep_for(200ms);
    BOOST_CHECK(!run.done());
    BOOST_CHECK(!read_done);
    asio::write(peer, asio::buffer("data", 4));
    BOOST_REQUIRE(run.wait());
    BOOST_CHECK(read_done);
    BOOST_CHECK(!ec);
    BOOST_CHECK_EQUAL(std::string(buf.data(), 4), "data");
  }

  // A pending timer: run() returns after the expiry, not before.
  {
    auto ctx = make_context<Context>(2);
    asio::steady_timer timer(ctx->get_executor(), 300ms);
    const auto expiry = timer.expiry();
    bool fired = false;
    timer.async_wait([&](error_code e) { fired = !e; });
    runner<Context> run(*ctx, 2);
    std::this_thread::sleep_for(100ms);
    BOOST_CHECK(!run.done());
    BOOST_REQUIRE(run.wait());
    BOOST_CHECK(fired);
    BOOST_CHECK(std::chrono::steady_clock::now() >= expiry);
  }
}

BOOST_AUTO_TEST_SUITE_END()
