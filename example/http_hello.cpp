// http_hello.cpp: a small multi-connection HTTP/1.1 server on kyoto::context.
//
// Every GET (or HEAD) answers "Hello, world\n". Connections are kept alive (HTTP/1.1 default,
// or HTTP/1.0 with "Connection: keep-alive") until the client sends "Connection: close" or
// closes; a request body announced by Content-Length is read and discarded; malformed requests
// get 400, other methods 405, oversized headers 431, and the connection is closed after an
// error. Each connection is a callback-style session on its own strand.
//
//   http_hello [port] [threads] [--self-test N]
//
// With --self-test N it also runs N client connections against itself, each sending several
// keep-alive requests (and a last one with "Connection: close") and checking every response;
// it exits 0 when all pass, 1 otherwise.

#include <kyoto/context.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <exception>
#include <istream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::string_view hello_body = "Hello, world\n";
constexpr std::size_t max_header_bytes = 8192;
constexpr std::size_t max_body_bytes = 1 << 20;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The parts of a request head this server looks at.
struct request {
  std::string method;
  std::string target;
  int minor_version = 1;
  bool keep_alive = true;
  std::size_t content_length = 0;
};

// Parses a request head (request line and header lines, without the final empty line).
// Returns the status code to answer with when the head is malformed.
std::optional<int> parse_head(std::string_view head, request& req) {
  auto next_line = [&]() -> std::string_view {
    auto end = head.find("\r\n");
    auto line = head.substr(0, end);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
    return line;
  };
  std::string_view line = next_line();
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1)
    return 400;
  req.method = std::string(line.substr(0, sp1));
  req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string_view version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1")
    req.minor_version = 1;
  else if (version == "HTTP/1.0")
    req.minor_version = 0;
  else
    return 400;
  req.keep_alive = req.minor_version == 1;

  bool have_length = false;
  while (!head.empty()) {
    line = next_line();
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return 400;
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Connection")) {
      if (iequals(value, "close"))
        req.keep_alive = false;
      else if (iequals(value, "keep-alive"))
        req.keep_alive = true;
    } else if (iequals(name, "Content-Length")) {
      if (have_length || value.empty() || value.size() > 9 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return 400;
      req.content_length = std::stoul(std::string(value));
      have_length = true;
    } else if (iequals(name, "Transfer-Encoding")) {
      return 501; // chunked bodies are not supported by this small server
    }
  }
  if (req.content_length > max_body_bytes)
    return 413;
  return std::nullopt;
}

const char* reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 405:
    return "Method Not Allowed";
  case 413:
    return "Content Too Large";
  case 431:
    return "Request Header Fields Too Large";
  case 501:
    return "Not Implemented";
  default:
    return "Error";
  }
}

// One connection: read a head, (discard a body), write the response, repeat while keep-alive.
// All of a session's operations complete on the strand its socket was accepted with.
class session : public std::enable_shared_from_this<session> {
 public:
  explicit session(tcp::socket socket) : socket_(std::move(socket)), buffer_(max_header_bytes) {}

  void start() { read_head(); }

 private:
  void read_head() {
    asio::async_read_until(
        socket_, buffer_, "\r\n\r\n",
        [self = shared_from_this()](error_code ec, std::size_t n) { self->on_head(ec, n); });
  }

  void on_head(error_code ec, std::size_t n) {
    if (ec == asio::error::not_found) // the streambuf's limit: headers too large
      return respond(431, false, false);
    if (ec)
      return; // closed by the client (or failed): the session ends
    std::string head(asio::buffers_begin(buffer_.data()),
                     asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(n - 4));
    buffer_.consume(n);
    request_ = request{};
    if (auto error = parse_head(head, request_))
      return respond(*error, false, false);
    const bool get = request_.method == "GET", head_only = request_.method == "HEAD";
    if (!get && !head_only)
      return respond(405, false, false);
    // Discard the body: part may already be buffered behind the head.
    std::size_t buffered = std::min(buffer_.size(), request_.content_length);
    buffer_.consume(buffered);
    body_left_ = request_.content_length - buffered;
    if (body_left_ == 0)
      return respond(200, request_.keep_alive, !head_only);
    discard_body();
  }

  void discard_body() {
    auto n = std::min(body_left_, scratch_.size());
    asio::async_read(socket_, asio::buffer(scratch_.data(), n),
                     [self = shared_from_this()](error_code ec, std::size_t n) {
                       if (ec)
                         return;
                       self->body_left_ -= n;
                       if (self->body_left_ > 0)
                         return self->discard_body();
                       self->respond(200, self->request_.keep_alive,
                                     self->request_.method != "HEAD");
                     });
  }

  void respond(int status, bool keep_alive, bool with_body) {
    std::string_view body = status == 200 ? hello_body : std::string_view(reason(status));
    std::ostringstream out;
    out << "HTTP/1.1 " << status << ' ' << reason(status) << "\r\n"
        << "Server: kyoto-http-hello\r\n"
        << "Content-Type: text/plain\r\n"
        << "Content-Length: " << body.size() << "\r\n";
    if (status == 405)
      out << "Allow: GET, HEAD\r\n";
    out << "Connection: " << (keep_alive ? "keep-alive" : "close") << "\r\n\r\n";
    if (with_body || status != 200)
      out << body;
    response_ = out.str();
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this(), keep_alive](error_code ec, std::size_t) {
                        if (ec)
                          return;
                        if (keep_alive)
                          return self->read_head();
                        error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->drain();
                      });
  }

  // After the last response: discard input until the client closes, so that closing with
  // unread bytes does not reset the connection (and lose the response) under the client.
  void drain() {
    socket_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (!ec && ++self->drain_reads_ < 1024)
                                self->drain();
                            });
  }

  // The connection.
  tcp::socket socket_;
  // Received bytes not yet parsed; its maximum size bounds the request head.
  asio::streambuf buffer_;
  // The request being answered.
  request request_;
  // Bytes of the current request body still to be discarded.
  std::size_t body_left_ = 0;
  // Where discarded body bytes go.
  std::array<char, 4096> scratch_{};
  // The response being written.
  std::string response_;
  // Reads made by drain(), which gives up after a bounded number.
  int drain_reads_ = 0;
};

// Accepts connections forever, each onto a new strand.
class server {
 public:
  server(kyoto::context& ctx, const tcp::endpoint& endpoint)
      : ctx_(ctx), acceptor_(ctx, endpoint) {}

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  void accept() {
    acceptor_.async_accept(asio::make_strand(ctx_), [this](error_code ec, tcp::socket socket) {
      if (!ec)
        std::make_shared<session>(std::move(socket))->start();
      if (ec != asio::error::operation_aborted)
        accept();
    });
  }

 private:
  // The context sessions run on.
  kyoto::context& ctx_;
  // The listening socket.
  tcp::acceptor acceptor_;
};

// --- The self-test client ------------------------------------------------------------------

// Reads one response (head + Content-Length body) and checks it; returns its Connection header.
asio::awaitable<std::string> read_response(tcp::socket& socket, asio::streambuf& buf,
                                           int expected_status, bool expect_hello_body) {
  std::size_t n = co_await asio::async_read_until(socket, buf, "\r\n\r\n", asio::use_awaitable);
  std::string head(asio::buffers_begin(buf.data()),
                   asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
  buf.consume(n);
  std::string expected_line = "HTTP/1.1 " + std::to_string(expected_status) + " ";
  if (head.rfind(expected_line, 0) != 0)
    throw std::runtime_error("unexpected status line: " + head.substr(0, head.find('\r')));
  std::size_t length = 0;
  std::string connection;
  std::istringstream lines(head);
  for (std::string line; std::getline(lines, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    auto name = line.substr(0, colon);
    auto value = std::string(trim(std::string_view(line).substr(colon + 1)));
    if (iequals(name, "Content-Length"))
      length = std::stoul(value);
    else if (iequals(name, "Connection"))
      connection = value;
  }
  if (buf.size() < length)
    co_await asio::async_read(socket, buf, asio::transfer_exactly(length - buf.size()),
                              asio::use_awaitable);
  std::string body(asio::buffers_begin(buf.data()),
                   asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(length));
  buf.consume(length);
  if (expect_hello_body && body != hello_body)
    throw std::runtime_error("unexpected body: " + body);
  co_return connection;
}

// Sends `requests` keep-alive requests (one with a body, one HEAD), then one with
// "Connection: close", checking every response and that the server then closes.
asio::awaitable<void> client(tcp::endpoint server, int id, int requests, std::atomic<int>& passed,
                             std::atomic<int>& failed) {
  try {
    tcp::socket socket(co_await asio::this_coro::executor);
    co_await socket.async_connect(server, asio::use_awaitable);
    socket.set_option(tcp::no_delay(true));
    asio::streambuf buf;
    for (int r = 0; r <= requests; ++r) {
      const bool last = r == requests;
      const bool with_body = r == 1;
      const bool head_only = r == 2;
      std::string req = std::string(head_only ? "HEAD" : "GET") + " /client/" + std::to_string(id) +
                        "/" + std::to_string(r) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
      if (with_body)
        req += "Content-Length: 11\r\n";
      req += last ? "Connection: close\r\n\r\n" : "\r\n";
      if (with_body)
        req += "hello world"; // 11 bytes, discarded by the server
      co_await asio::async_write(socket, asio::buffer(req), asio::use_awaitable);
      if (head_only) {
        // A HEAD response has Content-Length but no body.
        std::size_t n =
            co_await asio::async_read_until(socket, buf, "\r\n\r\n", asio::use_awaitable);
        std::string head(asio::buffers_begin(buf.data()),
                         asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
        buf.consume(n);
        if (head.rfind("HTTP/1.1 200 ", 0) != 0 ||
            head.find("Content-Length: " + std::to_string(hello_body.size())) == std::string::npos)
          throw std::runtime_error("bad HEAD response");
        continue;
      }
      std::string connection = co_await read_response(socket, buf, 200, true);
      if (connection != (last ? "close" : "keep-alive"))
        throw std::runtime_error("unexpected Connection: " + connection);
    }
    // After "Connection: close" the server closes: the next read ends with EOF.
    char byte;
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(&byte, 1),
                                                   asio::as_tuple(asio::use_awaitable));
    if (ec != asio::error::eof || n != 0)
      throw std::runtime_error("connection not closed after Connection: close");
    ++passed;
  } catch (std::exception& e) {
    std::fprintf(stderr, "client %d: %s\n", id, e.what());
    ++failed;
  }
}

// Malformed input gets an error status and a closed connection, not a crash or a hang.
asio::awaitable<void> bad_client(tcp::endpoint server, std::string request, int expected,
                                 std::atomic<int>& passed, std::atomic<int>& failed) {
  try {
    tcp::socket socket(co_await asio::this_coro::executor);
    co_await socket.async_connect(server, asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
    asio::streambuf buf;
    std::string connection = co_await read_response(socket, buf, expected, false);
    if (connection != "close")
      throw std::runtime_error("error response without Connection: close");
    ++passed;
  } catch (std::exception& e) {
    std::fprintf(stderr, "bad client (expecting %d): %s\n", expected, e.what());
    ++failed;
  }
}

} // namespace

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

    kyoto::context ctx{threads};
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { ctx.stop(); });

    server srv(ctx, {asio::ip::address_v4::loopback(), port});
    srv.accept();
    const tcp::endpoint endpoint = srv.local_endpoint();

    std::atomic<int> passed{0}, failed{0};
    int expected_clients = 0;
    asio::steady_timer watchdog(ctx, std::chrono::seconds(60));
    if (self_test >= 0) {
      expected_clients = self_test + 4;
      auto finished = [&](std::exception_ptr) {
        if (passed + failed == expected_clients)
          ctx.stop();
      };
      for (int i = 0; i < self_test; ++i)
        asio::co_spawn(ctx, client(endpoint, i, 5, passed, failed), finished);
      asio::co_spawn(ctx, bad_client(endpoint, "NONSENSE\r\n\r\n", 400, passed, failed), finished);
      asio::co_spawn(
          ctx,
          bad_client(endpoint, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, passed, failed),
          finished);
      asio::co_spawn(
          ctx,
          bad_client(endpoint, "GET / HTTP/1.1\r\nX: 1\r\nbroken\r\n\r\n", 400, passed, failed),
          finished);
      asio::co_spawn(ctx,
                     bad_client(endpoint,
                                "GET / HTTP/1.1\r\nX-Big: " + std::string(10000, 'x') + "\r\n\r\n",
                                431, passed, failed),
                     finished);
      watchdog.async_wait([&](error_code ec) {
        if (!ec) {
          std::fprintf(stderr, "self-test: timed out\n");
          ctx.stop();
        }
      });
    } else {
      std::printf("http_hello listening on http://%s:%u/ with %d thread(s)\n",
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
      std::printf("self-test: %d of %d clients passed\n", passed.load(), expected_clients);
      return (passed == expected_clients && failed == 0) ? 0 : 1;
    }
    return 0;
  } catch (std::exception& e) {
    std::fprintf(stderr, "http_hello: %s\n", e.what());
    std::fprintf(stderr, "usage: http_hello [port] [threads] [--self-test N]\n");
    return 1;
  }
}
