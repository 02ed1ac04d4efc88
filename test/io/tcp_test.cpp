// TCP on a context: accept, connect, read and write, concurrent echo connections on strands,
// cancellation (socket.cancel() and per-operation slots), and the threads handlers run on.
// Every body runs on kyoto::context and on boost::asio::io_context (see io_support.hpp).

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "io/io_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace kyoto_test;

BOOST_AUTO_TEST_SUITE(tcp_io)

// async_accept + async_connect, then async_write/async_read one way and async_read_some the
// other, with every completion handler on a thread that runs the context.
BOOST_AUTO_TEST_CASE_TEMPLATE(accept_connect_read_write, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  thread_recorder handlers;
  check_log log;
  auto acceptor = make_loopback_acceptor(ctx->get_executor());
  tcp::socket server(ctx->get_executor());
  tcp::socket client(ctx->get_executor());

  const std::string request = "hello over loopback";
  const std::string reply = "and back again";
  std::string server_got(request.size(), '\0');
  std::array<char, 64> client_buf{};
  std::size_t client_got = 0;
  error_code accept_ec = asio::error::would_block, connect_ec = asio::error::would_block;
  error_code read_ec = asio::error::would_block, reply_ec = asio::error::would_block;

  acceptor.async_accept(server, [&](error_code ec) {
    handlers.record();
    accept_ec = ec;
    if (ec)
      return;
    asio::async_read(server, asio::buffer(server_got), [&](error_code ec, std::size_t n) {
      handlers.record();
      read_ec = ec;
      KT_CHECK(log, n == request.size());
      asio::async_write(server, asio::buffer(reply), [&](error_code ec, std::size_t n) {
        handlers.record();
        KT_CHECK(log, !ec);
        KT_CHECK(log, n == reply.size());
      });
    });
  });
  client.async_connect(acceptor.local_endpoint(), [&](error_code ec) {
    handlers.record();
    connect_ec = ec;
    if (ec)
      return;
    asio::async_write(client, asio::buffer(request), [&](error_code ec, std::size_t n) {
      handlers.record();
      KT_CHECK(log, !ec);
      KT_CHECK(log, n == request.size());
      // The reply may arrive in pieces: read_some until all of it is in.
      auto read_more = std::make_shared<std::function<void(error_code, std::size_t)>>();
      *read_more = [&, read_more](error_code ec, std::size_t n) {
        handlers.record();
        client_got += n;
        if (ec || client_got >= reply.size()) {
          reply_ec = ec;
          *read_more = nullptr; // break the self-reference
          return;
        }
        client.async_read_some(
            asio::buffer(client_buf.data() + client_got, client_buf.size() - client_got),
            *read_more);
      };
      client.async_read_some(asio::buffer(client_buf), *read_more);
    });
  });

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  KT_REPORT(log);
  BOOST_CHECK(!accept_ec);
  BOOST_CHECK(!connect_ec);
  BOOST_CHECK(!read_ec);
  BOOST_CHECK(!reply_ec);
  BOOST_CHECK_EQUAL(server_got, request);
  BOOST_CHECK_EQUAL(std::string(client_buf.data(), client_got), reply);
  BOOST_CHECK_EQUAL(server.remote_endpoint(), client.local_endpoint());
  BOOST_CHECK(!handlers.ids().empty());
  BOOST_CHECK(run.all_runners(handlers.ids()));
}

namespace {

// One echo connection's server side: read_some, write back, repeat until EOF; every operation
// and handler on the connection's own strand, which the handlers check.
template <typename Strand>
class echo_session : public std::enable_shared_from_this<echo_session<Strand>> {
 public:
  echo_session(tcp::socket socket, Strand strand, thread_recorder& handlers,
               std::atomic<int>& overlaps)
      : socket_(std::move(socket)), strand_(std::move(strand)), handlers_(handlers),
        overlaps_(overlaps) {}

  void start() { read(); }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buf_),
                            [self = this->shared_from_this()](error_code ec, std::size_t n) {
                              self->enter();
                              if (!ec)
                                self->write(n);
                              self->leave();
                            });
  }
  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buf_.data(), n),
                      [self = this->shared_from_this()](error_code ec, std::size_t) {
                        self->enter();
                        if (!ec)
                          self->read();
                        self->leave();
                      });
  }
  // Checks that handlers of one connection never overlap and run on its strand.
  void enter() {
    handlers_.record();
    if (!strand_.running_in_this_thread() || in_handler_.exchange(true))
      ++overlaps_;
  }
  void leave() { in_handler_ = false; }

  tcp::socket socket_;
  Strand strand_;
  thread_recorder& handlers_;
  std::atomic<int>& overlaps_;
  std::atomic<bool> in_handler_{false};
  std::array<char, 4096> buf_{};
};

} // namespace

// 8 concurrent echo connections on a 2-thread context; each connection (server and client side)
// lives on a strand made with make_strand(ctx). Every byte must come back in order.
BOOST_AUTO_TEST_CASE_TEMPLATE(concurrent_echo_on_strands, Context, io_context_types) {
  constexpr int connections = 8;
  constexpr std::size_t bytes_per_connection = 256 * 1024;
  constexpr std::size_t chunk = 8 * 1024;
  using strand_type = asio::strand<typename Context::executor_type>;

  auto ctx = make_context<Context>(2);
  thread_recorder handlers;
  check_log log;
  std::atomic<int> overlaps{0};
  auto acceptor = make_loopback_acceptor(ctx->get_executor());

  // Server: accept `connections` sockets, each on a new strand.
  auto accept_one = std::make_shared<std::function<void(int)>>();
  *accept_one = [&, accept_one](int remaining) {
    if (remaining == 0) {
      *accept_one = nullptr;
      return;
    }
    auto strand = asio::make_strand(*ctx);
    acceptor.async_accept(
        strand, [&, strand, remaining, accept_one](error_code ec, tcp::socket socket) {
          handlers.record();
          KT_CHECK(log, !ec);
          std::make_shared<echo_session<strand_type>>(std::move(socket), strand, handlers, overlaps)
              ->start();
          (*accept_one)(remaining - 1);
        });
  };
  (*accept_one)(connections);

  // Clients: write the pattern in chunks and read the echo concurrently.
  struct client_state {
    explicit client_state(strand_type s) : strand(s), socket(s) {}
    strand_type strand;
    tcp::socket socket;
    std::vector<std::uint8_t> out, in;
    std::size_t written = 0, read = 0;
    error_code ec;
  };
  std::vector<std::shared_ptr<client_state>> clients;
  for (int i = 0; i < connections; ++i) {
    auto c = std::make_shared<client_state>(asio::make_strand(*ctx));
    c->out.resize(bytes_per_connection);
    for (std::size_t j = 0; j < c->out.size(); ++j)
      c->out[j] = static_cast<std::uint8_t>((j * 7 + static_cast<std::size_t>(i)) & 0xff);
    c->in.resize(bytes_per_connection);
    clients.push_back(c);
    c->socket.async_connect(acceptor.local_endpoint(), [&, c](error_code ec) {
      handlers.record();
      if (ec) {
        c->ec = ec;
        return;
      }
      auto write_more = std::make_shared<std::function<void()>>();
      *write_more = [&, c, write_more] {
        if (c->written == c->out.size()) {
          *write_more = nullptr;
          return;
        }
        std::size_t n = std::min(chunk, c->out.size() - c->written);
        asio::async_write(c->socket, asio::buffer(c->out.data() + c->written, n),
                          [&, c, write_more](error_code ec, std::size_t n) {
                            handlers.record();
                            KT_CHECK(log, c->strand.running_in_this_thread());
                            c->written += n;
                            if (ec) {
                              c->ec = ec;
                              *write_more = nullptr;
                              return;
                            }
                            (*write_more)();
                          });
      };
      (*write_more)();
      auto read_more = std::make_shared<std::function<void()>>();
      *read_more = [&, c, read_more] {
        if (c->read == c->in.size()) {
          c->socket.shutdown(tcp::socket::shutdown_send); // server sees EOF and ends
          *read_more = nullptr; // destroys this closure: touch nothing after it
          return;
        }
        c->socket.async_read_some(asio::buffer(c->in.data() + c->read, c->in.size() - c->read),
                                  [&, c, read_more](error_code ec, std::size_t n) {
                                    handlers.record();
                                    KT_CHECK(log, c->strand.running_in_this_thread());
                                    c->read += n;
                                    if (ec) {
                                      c->ec = ec;
                                      *read_more = nullptr;
                                      return;
                                    }
                                    (*read_more)();
                                  });
      };
      (*read_more)();
    });
  }

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  KT_REPORT(log);
  acceptor.close();
  for (auto& c : clients) {
    BOOST_CHECK_MESSAGE(!c->ec, c->ec.message());
    BOOST_CHECK_EQUAL(c->written, bytes_per_connection);
    BOOST_CHECK_EQUAL(c->read, bytes_per_connection);
    BOOST_CHECK(c->in == c->out);
  }
  BOOST_CHECK_EQUAL(overlaps.load(), 0);
  BOOST_CHECK(run.all_runners(handlers.ids()));
}

// socket.cancel() completes a pending async_read with operation_aborted; the socket stays usable.
BOOST_AUTO_TEST_CASE_TEMPLATE(cancel_pending_read_with_socket_cancel, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  asio::io_context peer_ctx;
  auto socket_peer = make_connected_pair(ctx->get_executor(), peer_ctx.get_executor());
  auto& socket = socket_peer.first;
  auto& peer = socket_peer.second;
  auto strand = asio::make_strand(*ctx);
  thread_recorder handlers;
  check_log log;

  std::array<char, 5> buf{};
  error_code first_ec, second_ec;
  std::size_t second_n = 0;
  asio::post(strand, [&] {
    asio::async_read(
        socket, asio::buffer(buf), asio::bind_executor(strand, [&](error_code ec, std::size_t) {
          handlers.record();
          first_ec = ec;
          // Still usable after the cancellation: read what the peer sends now.
          asio::async_read(socket, asio::buffer(buf), [&](error_code ec, std::size_t n) {
            handlers.record();
            second_ec = ec;
            second_n = n;
          });
          asio::write(peer, asio::buffer("after", 5));
        }));
    // Queued behind the read's initiation on the strand: the read is pending when it runs.
    asio::post(strand, [&] { socket.cancel(); });
  });

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  KT_REPORT(log);
  BOOST_CHECK(first_ec == asio::error::operation_aborted);
  BOOST_CHECK(!second_ec);
  BOOST_CHECK_EQUAL(second_n, 5u);
  BOOST_CHECK_EQUAL(std::string(buf.data(), buf.size()), "after");
  BOOST_CHECK(run.all_runners(handlers.ids()));
}

// A cancellation_signal bound to a pending async_read with bind_cancellation_slot aborts just
// that operation; another pending operation on another socket is not affected.
BOOST_AUTO_TEST_CASE_TEMPLATE(cancel_pending_read_with_slot, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  asio::io_context peer_ctx;
  // The peer of `socket` never writes; the peer of `other` writes once `socket` is cancelled.
  auto socket_pair = make_connected_pair(ctx->get_executor(), peer_ctx.get_executor());
  auto& socket = socket_pair.first;
  auto other_pair = make_connected_pair(ctx->get_executor(), peer_ctx.get_executor());
  auto& other = other_pair.first;
  auto& other_peer = other_pair.second;
  auto strand = asio::make_strand(*ctx);
  asio::cancellation_signal signal;
  thread_recorder handlers;
  check_log log;

  std::array<char, 8> buf{}, other_buf{};
  error_code cancelled_ec, other_ec;
  std::size_t cancelled_n = 99, other_n = 0;
  bool other_done_before_cancel = false;
  asio::post(strand, [&] {
    asio::async_read(
        socket, asio::buffer(buf),
        asio::bind_cancellation_slot(signal.slot(),
                                     asio::bind_executor(strand, [&](error_code ec, std::size_t n) {
                                       handlers.record();
                                       cancelled_ec = ec;
                                       cancelled_n = n;
                                       // Now let the other read finish.
                                       asio::write(other_peer, asio::buffer("complete", 8));
                                     })));
    asio::async_read(other, asio::buffer(other_buf),
                     asio::bind_executor(strand, [&](error_code ec, std::size_t n) {
                       handlers.record();
                       other_done_before_cancel = (cancelled_n == 99);
                       other_ec = ec;
                       other_n = n;
                     }));
    asio::post(strand, [&] { signal.emit(asio::cancellation_type::terminal); });
  });

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  KT_REPORT(log);
  BOOST_CHECK(cancelled_ec == asio::error::operation_aborted);
  BOOST_CHECK_EQUAL(cancelled_n, 0u);
  BOOST_CHECK(!other_done_before_cancel);
  BOOST_CHECK(!other_ec);
  BOOST_CHECK_EQUAL(other_n, 8u);
  BOOST_CHECK_EQUAL(std::string(other_buf.data(), other_buf.size()), "complete");
  BOOST_CHECK(run.all_runners(handlers.ids()));
}

// Completion handlers of plain (non-strand) socket operations run on the threads inside run(),
// never on the thread that started the operation or on a hidden one.
BOOST_AUTO_TEST_CASE_TEMPLATE(handlers_run_on_runner_threads, Context, io_context_types) {
  auto ctx = make_context<Context>(2);
  asio::io_context peer_ctx;
  thread_recorder handlers;
  check_log log;
  constexpr int pairs = 4;
  constexpr int rounds = 50;
  std::vector<std::pair<tcp::socket, tcp::socket>> sockets;
  for (int i = 0; i < pairs; ++i)
    sockets.push_back(make_connected_pair(ctx->get_executor(), ctx->get_executor()));
  std::atomic<int> completed{0};

  // Ping-pong one byte `rounds` times per pair; each side's ops are sequential, so no strand.
  struct pinger {
    tcp::socket& a;
    tcp::socket& b;
    thread_recorder& handlers;
    check_log& log;
    std::atomic<int>& completed;
    int left = rounds;
    char byte_a = 'x', byte_b = 0;
    void go(std::shared_ptr<pinger> self) {
      asio::async_write(a, asio::buffer(&byte_a, 1), [self](error_code ec, std::size_t) {
        self->handlers.record();
        KT_CHECK(self->log, !ec);
      });
      asio::async_read(b, asio::buffer(&byte_b, 1), [self](error_code ec, std::size_t) {
        self->handlers.record();
        KT_CHECK(self->log, !ec);
        KT_CHECK(self->log, self->byte_b == 'x');
        ++self->completed;
        if (--self->left > 0)
          self->go(self);
      });
    }
  };
  for (auto& [a, b] : sockets) {
    auto p = std::make_shared<pinger>(pinger{a, b, handlers, log, completed});
    p->go(p);
  }

  runner<Context> run(*ctx, 2);
  BOOST_REQUIRE(run.wait());
  KT_REPORT(log);
  BOOST_CHECK_EQUAL(completed.load(), pairs * rounds);
  auto ids = handlers.ids();
  BOOST_CHECK(!ids.empty());
  BOOST_CHECK(ids.count(std::this_thread::get_id()) == 0);
  BOOST_CHECK(run.all_runners(ids));
}

BOOST_AUTO_TEST_SUITE_END()
