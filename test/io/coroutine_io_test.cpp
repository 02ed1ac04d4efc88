// Coroutines doing I/O on a context: co_spawn with use_awaitable (an echo server and clients),
// and use_future from a thread that does not run the context (asio::spawn is in
// stackful_io_test.cpp). Every body runs on kyoto::context and on
// boost::asio::io_context (see io_support.hpp).

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "io/io_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <exception>
#include <future>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace kyoto_test;

BOOST_AUTO_TEST_SUITE(coroutine_io)

namespace {

asio::awaitable<void> echo_session(tcp::socket socket, thread_recorder& handlers) {
  socket.set_option(tcp::no_delay(true));
  std::array<char, 1024> buf;
  for (;;) {
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    handlers.record();
    if (ec)
      co_return; // EOF: the client is done
    co_await asio::async_write(socket, asio::buffer(buf.data(), n), asio::use_awaitable);
  }
}

asio::awaitable<void> echo_listener(tcp::acceptor& acceptor, int sessions,
                                    thread_recorder& handlers) {
  for (int i = 0; i < sessions; ++i) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    handlers.record();
    asio::co_spawn(co_await asio::this_coro::executor, echo_session(std::move(socket), handlers),
                   asio::detached);
  }
}

// Sends `messages` messages of growing size and checks each echo; returns the bytes echoed.
asio::awaitable<std::size_t> echo_client(tcp::endpoint server, int id, int messages,
                                         thread_recorder& handlers) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(server, asio::use_awaitable);
  socket.set_option(tcp::no_delay(true));
  std::size_t total = 0;
  for (int m = 0; m < messages; ++m) {
    std::string msg(static_cast<std::size_t>(1 + m * 97), static_cast<char>('a' + (id + m) % 26));
    co_await asio::async_write(socket, asio::buffer(msg), asio::use_awaitable);
    std::string reply(msg.size(), '\0');
    co_await asio::async_read(socket, asio::buffer(reply), asio::use_awaitable);
    handlers.record();
    if (reply != msg)
      throw std::runtime_error("echo mismatch on client " + std::to_string(id));
    total += reply.size();
  }
  socket.shutdown(tcp::socket::shutdown_send);
  co_return total;
}

} // namespace

// A co_spawn echo server and 6 co_spawn clients, all with use_awaitable, on 2 threads.
BOOST_AUTO_TEST_CASE_TEMPLATE(co_spawn_echo, Context, io_context_types) {
  constexpr int clients = 6;
  constexpr int messages = 20;
  auto ctx = make_context<Context>(2);
  thread_recorder handlers;
  auto acceptor = make_loopback_acceptor(ctx->get_executor());

  std::exception_ptr listener_error;
  asio::co_spawn(*ctx, echo_listener(acceptor, clients, handlers),
                 [&](std::exception_ptr e) { listener_error = e; });
  std::vector<std::size_t> totals(clients, 0);
  std::vector<std::exception_ptr> errors(clients);
  for (int i = 0; i < clients; ++i)
    asio::co_spawn(*ctx, echo_client(acceptor.local_endpoint(), i, messages, handlers),
                   [&, i](std::exception_ptr e, std::size_t total) {
                     errors[static_cast<std::size_t>(i)] = e;
                     totals[static_cast<std::size_t>(i)] = total;
                   });

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  BOOST_CHECK(!listener_error);
  std::size_t expected = 0;
  for (int m = 0; m < messages; ++m)
    expected += static_cast<std::size_t>(1 + m * 97);
  for (int i = 0; i < clients; ++i) {
    BOOST_CHECK(!errors[static_cast<std::size_t>(i)]);
    BOOST_CHECK_EQUAL(totals[static_cast<std::size_t>(i)], expected);
  }
  BOOST_CHECK(run.all_runners(handlers.ids()));
}

// use_future on async_read and async_write started from the test thread, which does not run the
// context: the futures become ready, and an error arrives as an exception from get().
BOOST_AUTO_TEST_CASE_TEMPLATE(use_future_from_foreign_thread, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  auto a_b = make_connected_pair(ctx->get_executor(), ctx->get_executor());
  auto& a = a_b.first;
  auto& b = a_b.second;
  auto guard = asio::make_work_guard(*ctx);
  runner<Context> run(*ctx, 2);

  std::array<char, 6> buf{};
  std::future<std::size_t> read = asio::async_read(b, asio::buffer(buf), asio::use_future);
  std::future<std::size_t> written =
      asio::async_write(a, asio::buffer("future", 6), asio::use_future);
  BOOST_REQUIRE(written.wait_for(watchdog_timeout) == std::future_status::ready);
  BOOST_CHECK_EQUAL(written.get(), 6u);
  BOOST_REQUIRE(read.wait_for(watchdog_timeout) == std::future_status::ready);
  BOOST_CHECK_EQUAL(read.get(), 6u);
  BOOST_CHECK_EQUAL(std::string(buf.data(), buf.size()), "future");

  // EOF as an exception.
  a.shutdown(tcp::socket::shutdown_send);
  std::future<std::size_t> eof = asio::async_read(b, asio::buffer(buf), asio::use_future);
  BOOST_REQUIRE(eof.wait_for(watchdog_timeout) == std::future_status::ready);
  // The exception is examined only after the runners are joined: a worker may drop the last
  // reference to it, inside libstdc++ (uninstrumented), which ThreadSanitizer cannot order
  // after our reads of it and would report as a race.
  std::exception_ptr eof_error;
  try {
    eof.get();
  } catch (...) {
    eof_error = std::current_exception();
  }

  guard.reset();
  BOOST_REQUIRE(run.wait());
  BOOST_REQUIRE_MESSAGE(eof_error, "expected an exception");
  try {
    std::rethrow_exception(eof_error);
  } catch (const boost::system::system_error& e) {
    BOOST_CHECK(e.code() == asio::error::eof);
  }
}

BOOST_AUTO_TEST_SUITE_END()
