// bench/workloads/tcp_echo.hpp
//
// tcp_echo: 32 loopback TCP connections, each doing 2,000 round trips of 64 bytes, with the
// echo server and the clients on the same system. Connections are set up before the stopwatch
// starts; each side's socket gets its executor from the system (round-robin on the
// io_context pool). Reported: the wall time of all 64,000 round trips.

#ifndef KYOTO_BENCH_WORKLOADS_TCP_ECHO_HPP
#define KYOTO_BENCH_WORKLOADS_TCP_ECHO_HPP

#include "../workload.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kyoto_bench {

struct tcp_echo {
  static constexpr std::string_view name = "tcp_echo";
  static constexpr std::string_view summary =
      "32 loopback TCP connections x 2,000 round trips of 64 bytes, server and clients on one "
      "system";
  static constexpr int connections = 32;
  static constexpr int round_trips = 2'000;
  static constexpr std::size_t message_size = 64;

  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;

  /// The server side of one connection: read 64 bytes, write them back, until EOF.
  struct echo_session : std::enable_shared_from_this<echo_session> {
    explicit echo_session(tcp::socket s) : socket(std::move(s)) {}
    void read() {
      boost::asio::async_read(socket, boost::asio::buffer(data),
                              [self = shared_from_this()](error_code ec, std::size_t) {
                                if (!ec)
                                  self->write();
                              });
    }
    void write() {
      boost::asio::async_write(socket, boost::asio::buffer(data),
                               [self = shared_from_this()](error_code ec, std::size_t) {
                                 if (!ec)
                                   self->read();
                               });
    }
    tcp::socket socket;
    std::array<char, message_size> data{};
  };

  /// The client side: write, read the echo, check it, round_trips times.
  struct client {
    tcp::socket socket;
    countdown* done;
    int left = round_trips;
    std::array<char, message_size> out{};
    std::array<char, message_size> in{};

    void start() {
      boost::asio::async_write(
          socket, boost::asio::buffer(out), [this](error_code ec, std::size_t) {
            check(!ec, [&] { return "tcp_echo: client write failed: " + ec.message(); });
            boost::asio::async_read(
                socket, boost::asio::buffer(in), [this](error_code ec, std::size_t) {
                  check(!ec, [&] { return "tcp_echo: client read failed: " + ec.message(); });
                  check(in == out, "tcp_echo: the echo differs from what was sent");
                  ++out[static_cast<std::size_t>(left) % message_size];
                  if (--left == 0)
                    done->count_down();
                  else
                    start();
                });
          });
    }
  };

  template <system S>
  static sample run(S& sys, const environment&) {
    tcp::acceptor acceptor(sys.executor(), {boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor.set_option(tcp::no_delay(true));
    std::vector<std::unique_ptr<client>> clients;
    std::vector<std::shared_ptr<echo_session>> sessions;
    for (int i = 0; i < connections; ++i) {
      tcp::socket c(sys.executor());
      c.connect(acceptor.local_endpoint());
      c.set_option(tcp::no_delay(true));
      tcp::socket s(sys.executor());
      acceptor.accept(s);
      s.set_option(tcp::no_delay(true));
      sessions.push_back(std::make_shared<echo_session>(std::move(s)));
      clients.push_back(std::make_unique<client>(client{std::move(c), nullptr}));
    }

    countdown done(connections);
    stopwatch watch;
    for (auto& s : sessions)
      s->read();
    for (auto& c : clients) {
      c->done = &done;
      c->start();
    }
    done.wait();
    sample elapsed = watch.elapsed_until(done);

    // Closing the clients ends the sessions (EOF); wait until every session let go of its socket.
    for (auto& c : clients) {
      error_code ignored;
      c->socket.shutdown(tcp::socket::shutdown_both, ignored);
    }
    for (auto& s : sessions)
      while (s.use_count() > 1)
        std::this_thread::yield();
    return elapsed;
  }
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_TCP_ECHO_HPP
