// echo_server.cpp: Asio's C++20 coroutine echo server, running on kyoto::context.
//
// The server part is the stock Asio example; the only change is the context type (marked
// below). Usage:
//
//   echo_server [port] [threads] [--self-test N]
//
// port 0 (the default) lets the kernel pick one; threads (default 1) is both the context's
// concurrency and the number of threads that run it. With --self-test N the program also runs
// N client connections against itself, checks the echoed bytes, and exits 0 on success, 1 on
// failure.

#include <kyoto/context.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using boost::asio::awaitable;
using boost::asio::co_spawn;
using boost::asio::detached;
using boost::asio::use_awaitable;
using boost::asio::ip::tcp;
namespace this_coro = boost::asio::this_coro;

// --- The stock echo server -----------------------------------------------------------------

awaitable<void> echo(tcp::socket socket) {
  try {
    char data[1024];
    for (;;) {
      std::size_t n = co_await socket.async_read_some(boost::asio::buffer(data), use_awaitable);
      co_await async_write(socket, boost::asio::buffer(data, n), use_awaitable);
    }
  } catch (std::exception&) {
    // The client closed the connection (or it failed): the session ends.
  }
}

awaitable<void> listener(tcp::acceptor acceptor) {
  auto executor = co_await this_coro::executor;
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
    co_spawn(executor, echo(std::move(socket)), detached);
  }
}

// --- The self-test clients -----------------------------------------------------------------

// Sends `rounds` messages of varying sizes and checks that each comes back intact.
awaitable<void> client(tcp::endpoint server, int id, int rounds, std::atomic<int>& passed,
                       std::atomic<int>& failed) {
  try {
    tcp::socket socket(co_await this_coro::executor);
    co_await socket.async_connect(server, use_awaitable);
    for (int r = 0; r < rounds; ++r) {
      std::string message(static_cast<std::size_t>(1 + (id * 131 + r * 577) % 4000), '\0');
      for (std::size_t i = 0; i < message.size(); ++i)
        message[i] = static_cast<char>('A' + (i + static_cast<std::size_t>(id + r)) % 58);
      co_await async_write(socket, boost::asio::buffer(message), use_awaitable);
      std::string reply(message.size(), '\0');
      co_await boost::asio::async_read(socket, boost::asio::buffer(reply), use_awaitable);
      if (reply != message)
        throw std::runtime_error("echoed bytes differ");
    }
    ++passed;
  } catch (std::exception& e) {
    std::fprintf(stderr, "client %d: %s\n", id, e.what());
    ++failed;
  }
}

// Parses a whole decimal argument, naming it in the error.
int parse_int(const std::string& text, const char* what) {
  std::size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw std::invalid_argument(std::string(what) + " is not a number: '" + text + "'");
  return value;
}

int main(int argc, char* argv[]) {
  try {
    unsigned short port = 0;
    int threads = 1;
    int self_test = -1;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--self-test" && i + 1 < argc)
        self_test = parse_int(argv[++i], "--self-test");
      else if (arg.rfind("--", 0) == 0)
        throw std::invalid_argument("unknown option " + arg);
      else
        positional.push_back(arg);
    }
    if (positional.size() > 2)
      throw std::invalid_argument("too many arguments");
    if (positional.size() > 0) {
      int p = parse_int(positional[0], "port");
      if (p < 0 || p > 65535)
        throw std::invalid_argument("port out of range: " + positional[0]);
      port = static_cast<unsigned short>(p);
    }
    if (positional.size() > 1)
      threads = parse_int(positional[1], "thread count");
    if (self_test < -1)
      throw std::invalid_argument("--self-test needs a count of 0 or more");
    if (threads < 1)
      throw std::invalid_argument("thread count must be at least 1");

    kyoto::context ctx{threads}; // was: boost::asio::io_context ctx{1};

    boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { ctx.stop(); });

    tcp::acceptor acceptor(ctx, {boost::asio::ip::address_v4::loopback(), port});
    const tcp::endpoint endpoint = acceptor.local_endpoint();
    co_spawn(ctx, listener(std::move(acceptor)), detached);

    std::atomic<int> passed{0}, failed{0};
    boost::asio::steady_timer watchdog(ctx, std::chrono::seconds(60));
    if (self_test >= 0) {
      // The last client to finish stops the context; the watchdog does if they take too long.
      auto finished = [&] {
        if (passed + failed == self_test)
          ctx.stop();
      };
      for (int i = 0; i < self_test; ++i)
        co_spawn(ctx, client(endpoint, i, 8, passed, failed),
                 [finished](std::exception_ptr) { finished(); });
      watchdog.async_wait([&](boost::system::error_code ec) {
        if (!ec) {
          std::fprintf(stderr, "self-test: timed out\n");
          ctx.stop();
        }
      });
      if (self_test == 0)
        ctx.stop();
    } else {
      std::printf("echo server listening on %s port %u with %d thread(s)\n",
                  endpoint.address().to_string().c_str(), endpoint.port(), threads);
      std::fflush(stdout);
    }

    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i)
      pool.emplace_back([&] { ctx.run(); });
    ctx.run();
    for (auto& t : pool)
      t.join();

    if (self_test >= 0) {
      std::printf("self-test: %d of %d clients passed\n", passed.load(), self_test);
      return (passed == self_test && failed == 0) ? 0 : 1;
    }
    return 0;
  } catch (std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    std::fprintf(stderr, "usage: echo_server [port] [threads] [--self-test N]\n");
    return 1;
  }
}
