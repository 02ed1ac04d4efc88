// Stackful coroutines doing I/O on a context: asio::spawn with yield_context (a timer wait and
// a socket read). The body runs on kyoto::context and on boost::asio::io_context.
//
// Not run under ThreadSanitizer (no 'concurrency' label): TSan does not follow Boost.Context's
// stack switches and crashes at random inside its own bookkeeping, on io_context as on kyoto.

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "io/io_support.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <string>

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace kyoto_test;

BOOST_AUTO_TEST_SUITE(stackful_io)

// asio::spawn (stackful): a timer wait, then a socket read that the peer satisfies, then a read
// that ends with an error code through yield[ec].
BOOST_AUTO_TEST_CASE_TEMPLATE(spawn_timer_and_read, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  asio::io_context peer_ctx;
  auto socket_peer = make_connected_pair(ctx->get_executor(), peer_ctx.get_executor());
  auto& socket = socket_peer.first;
  auto& peer = socket_peer.second;
  thread_recorder handlers;

  std::chrono::steady_clock::duration waited{};
  std::string got;
  error_code eof_ec;
  std::exception_ptr error;
  asio::spawn(
      *ctx,
      [&](asio::yield_context yield) {
        handlers.record();
        const auto start = std::chrono::steady_clock::now(); // before the timer's own now()
        asio::steady_timer timer(yield.get_executor(), 30ms);
        timer.async_wait(yield);
        waited = std::chrono::steady_clock::now() - start;
        handlers.record();
        // The peer writes only after the timer fired, so this read really waits.
        asio::write(peer, asio::buffer("stackful", 8));
        std::array<char, 8> buf{};
        std::size_t n = asio::async_read(socket, asio::buffer(buf), yield);
        handlers.record();
        got.assign(buf.data(), n);
        peer.shutdown(tcp::socket::shutdown_send);
        asio::async_read(socket, asio::buffer(buf), yield[eof_ec]);
        handlers.record();
      },
      [&](std::exception_ptr e) { error = e; });

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  BOOST_CHECK(!error);
  BOOST_CHECK(waited >= 30ms);
  BOOST_CHECK_EQUAL(got, "stackful");
  BOOST_CHECK(eof_ec == asio::error::eof);
  BOOST_CHECK(run.all_runners(handlers.ids()));
}

BOOST_AUTO_TEST_SUITE_END()
