// Tests of the kyoto::as_future completion token: timers, post, a socket read, cancellation as a
// value, and an abandoned operation.

#include <kyoto/as_future.hpp>

#include <boost/test/unit_test.hpp>

#include <kyoto/task.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstring>
#include <optional>
#include <tuple>
#include <type_traits>

namespace asio = boost::asio;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(timer_wait_as_a_future) {
  kyoto::context ctx(2);
  const auto start = std::chrono::steady_clock::now(); // before the timer reads the clock
  asio::steady_timer t(ctx, 30ms);
  auto f = t.async_wait(kyoto::as_future);
  static_assert(std::is_same_v<kyoto::future_output_t<decltype(f)>, boost::system::error_code>);
  static_assert(kyoto::future<decltype(f)>);
  boost::system::error_code ec = kyoto::block_on(ctx, std::move(f));
  BOOST_TEST(!ec);
  BOOST_TEST((std::chrono::steady_clock::now() - start) >= 30ms);
}

BOOST_AUTO_TEST_CASE(cancelled_timer_delivers_operation_aborted_as_a_value) {
  kyoto::context ctx(1);
  asio::steady_timer t(ctx, std::chrono::hours(1));
  auto f = t.async_wait(kyoto::as_future);
  t.cancel();
  BOOST_TEST(kyoto::block_on(ctx, std::move(f)) == asio::error::operation_aborted);
}

BOOST_AUTO_TEST_CASE(post_as_a_void_future) {
  kyoto::context ctx(2);
  auto f = asio::post(ctx, kyoto::as_future);
  static_assert(std::is_void_v<kyoto::future_output_t<decltype(f)>>);
  kyoto::block_on(ctx, std::move(f));
  // Polled twice: a logic error, not a crash.
  auto g = asio::post(ctx, kyoto::as_future);
  auto h = kyoto::spawn(ctx, kyoto::poll_fn([g = std::move(g)](kyoto::task_context& cx) mutable {
                          auto r = g.poll(cx);
                          if (r.is_pending())
                            return kyoto::poll<int>(kyoto::pending);
                          g.poll(cx);
                          return kyoto::poll<int>(0);
                        }));
  BOOST_CHECK_THROW(kyoto::block_on(ctx, std::move(h)), std::logic_error);
}

BOOST_AUTO_TEST_CASE(socket_read_as_a_tuple) {
  kyoto::context ctx(2);
  asio::local::stream_protocol::socket a(ctx), b(ctx);
  asio::local::connect_pair(a, b);
  char buf[16] = {};
  auto f = b.async_read_some(asio::buffer(buf), kyoto::as_future);
  static_assert(std::is_same_v<kyoto::future_output_t<decltype(f)>,
                               std::tuple<boost::system::error_code, std::size_t>>);
  asio::write(a, asio::buffer("hello", 5));
  auto [ec, n] = kyoto::block_on(ctx, std::move(f));
  BOOST_TEST(!ec);
  BOOST_TEST(n == 5u);
  BOOST_TEST(std::memcmp(buf, "hello", 5) == 0);
  a.close();
  auto [ec2, n2] = kyoto::block_on(ctx, b.async_read_some(asio::buffer(buf), kyoto::as_future));
  BOOST_TEST(ec2 == asio::error::eof);
  BOOST_TEST(n2 == 0u);
}

BOOST_AUTO_TEST_CASE(abandoned_operation_throws_context_shut_down) {
  std::optional<kyoto::operation_future<boost::system::error_code>> f;
  {
    asio::io_context io;
    asio::post(io, [] {});
    auto g = asio::post(io, kyoto::as_future);
    (void)g;
    asio::steady_timer t(io, std::chrono::hours(1));
    f.emplace(t.async_wait(kyoto::as_future));
    // io's destruction destroys the queued handlers without calling them.
  }
  kyoto::waker w;
  kyoto::task_context cx(w);
  BOOST_CHECK_EXCEPTION(f->poll(cx), boost::system::system_error,
                        [](const auto& e) { return e.code() == kyoto::error::context_shut_down; });
}

BOOST_AUTO_TEST_CASE(ready_poll_spends_budget) {
  kyoto::context ctx(1);
  auto f = asio::post(ctx, kyoto::as_future);
  ctx.run();
  kyoto::waker w;
  kyoto::task_context none(w, 0);
  BOOST_TEST(f.poll(none).is_pending());
  kyoto::task_context one(w, 1);
  BOOST_TEST(f.poll(one).is_ready());
  BOOST_TEST(one.budget() == 0);
}
