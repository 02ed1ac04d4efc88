// kyoto::sleep_for / sleep_until, and kyoto-only timer behaviours: rejection of non-kyoto
// executors, type-erased and strand executors, other clocks, absurd deadlines.
#include <kyoto/sleep.hpp>

#include <boost/test/unit_test.hpp>

#include <kyoto/steady_timer.hpp>
#include <kyoto/system_timer.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

BOOST_AUTO_TEST_SUITE(timer_kyoto)

BOOST_AUTO_TEST_CASE(sleep_for_in_coroutine_uses_its_executor) {
  kyoto::context ctx{2};
  int done = 0;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        const auto start = steady::now();
        co_await kyoto::sleep_for(20ms, asio::use_awaitable);
        BOOST_TEST((steady::now() - start >= 20ms));
        co_await kyoto::sleep_until(steady::now() + 5ms, asio::use_awaitable);
        co_await kyoto::sleep_for(-5ms, asio::use_awaitable); // the past: at once
        ++done;
      },
      asio::detached);
  ctx.run();
  BOOST_TEST(done == 1);
}

BOOST_AUTO_TEST_CASE(sleep_with_explicit_executor_or_context) {
  kyoto::context ctx{1};
  error_code a = asio::error::fault, b = asio::error::fault;
  kyoto::sleep_for(ctx, 5ms, [&](error_code ec) { a = ec; });
  kyoto::sleep_until(ctx.get_executor(), std::chrono::system_clock::now() + 5ms,
                     [&](error_code ec) { b = ec; });
  ctx.run();
  BOOST_TEST(!a);
  BOOST_TEST(!b);
}

BOOST_AUTO_TEST_CASE(sleep_use_future_and_cancellation) {
  kyoto::context ctx{1};
  std::future<void> f = kyoto::sleep_for(ctx, 5ms, asio::use_future);
  asio::cancellation_signal signal;
  error_code cancelled;
  kyoto::sleep_for(
      ctx, 1h, asio::bind_cancellation_slot(signal.slot(), [&](error_code ec) { cancelled = ec; }));
  asio::post(ctx, [&] { signal.emit(asio::cancellation_type::terminal); });
  ctx.run();
  f.get();
  BOOST_TEST((cancelled == asio::error::operation_aborted));
}

BOOST_AUTO_TEST_CASE(sleep_without_executor_is_rejected_with_a_message) {
  try {
    kyoto::sleep_for(1ms, [](error_code) {});
    BOOST_FAIL("expected system_error");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST(std::string(e.what()).find("no associated executor") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(non_kyoto_executor_is_rejected_with_a_message) {
  asio::io_context io;
  try {
    kyoto::steady_timer t(asio::any_io_executor(io.get_executor()));
    BOOST_FAIL("expected system_error");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST((e.code() == boost::system::errc::invalid_argument));
    BOOST_TEST(std::string(e.what()).find("not a kyoto::context") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(type_erased_and_strand_executors_work) {
  // A fresh context (no timer service yet) reached only through any_io_executor.
  kyoto::context ctx{2};
  asio::any_io_executor erased = ctx.get_executor();
  kyoto::steady_timer t1(erased, 5ms);
  auto strand2 = asio::make_strand(ctx);
  asio::any_io_executor erased_strand = strand2;
  kyoto::basic_waitable_timer<steady, asio::wait_traits<steady>, asio::any_io_executor> t2(
      erased_strand, 5ms);
  auto strand3 = asio::make_strand(ctx.get_executor());
  kyoto::basic_waitable_timer<steady, asio::wait_traits<steady>,
                              asio::strand<kyoto::context::executor_type>>
      t3(strand3, 5ms);
  int ok = 0;
  int in_strand = 0;
  t1.async_wait([&](error_code ec) { ok += !ec; });
  // A timer whose executor is a strand runs its handlers in that strand.
  t2.async_wait([&](error_code ec) {
    ok += !ec;
    in_strand += strand2.running_in_this_thread();
  });
  t3.async_wait([&](error_code ec) {
    ok += !ec;
    in_strand += strand3.running_in_this_thread();
  });
  ctx.run();
  BOOST_TEST(ok == 3);
  BOOST_TEST(in_strand == 2);
}

BOOST_AUTO_TEST_CASE(system_timer_and_rebind) {
  kyoto::context ctx{1};
  const auto start = std::chrono::system_clock::now(); // before t reads the clock
  kyoto::system_timer t(ctx, 10ms);
  using rebound = kyoto::system_timer::rebind_executor<kyoto::context::executor_type>::other;
  rebound r(ctx.get_executor(), std::chrono::system_clock::now() + 5ms);
  int ok = 0;
  t.async_wait([&](error_code ec) { ok += !ec; });
  r.async_wait([&](error_code ec) { ok += !ec; });
  ctx.run();
  BOOST_TEST(ok == 2);
  BOOST_TEST((std::chrono::system_clock::now() - start >= 9ms)); // 1 ms for clock slew
}

BOOST_AUTO_TEST_CASE(absurd_deadlines_are_kept_and_cancellable) {
  kyoto::context ctx{1};
  kyoto::steady_timer forever(ctx, steady::time_point::max());
  kyoto::steady_timer years(ctx, std::chrono::hours(24 * 365 * 3));
  kyoto::steady_timer soon(ctx, 30ms);
  int aborted = 0;
  bool soon_fired = false;
  forever.async_wait([&](error_code ec) { aborted += ec == asio::error::operation_aborted; });
  years.async_wait([&](error_code ec) { aborted += ec == asio::error::operation_aborted; });
  soon.async_wait([&](error_code ec) {
    soon_fired = !ec;
    // Still pending (not dropped, not fired early): exactly one wait each to cancel.
    BOOST_TEST(forever.cancel() == 1u);
    BOOST_TEST(years.cancel() == 1u);
  });
  ctx.run();
  BOOST_TEST(soon_fired);
  BOOST_TEST(aborted == 2);
}

BOOST_AUTO_TEST_CASE(expiry_round_trips_for_asio_code) {
  // asio code that reads expiry() and re-arms relative to it (a periodic timer).
  // The start time is taken before the timer: expires_after reads the clock itself, so a
  // start taken after construction may be later than the timer's own origin.
  const auto start = steady::now();
  kyoto::context ctx{1};
  kyoto::steady_timer t(ctx, 2ms);
  const auto first = t.expiry();
  int ticks = 0;
  int early = 0;
  std::function<void(error_code)> tick = [&](error_code ec) {
    if (ec)
      return;
    if (steady::now() < t.expiry())
      ++early;
    if (++ticks == 5)
      return;
    t.expires_at(t.expiry() + 2ms);
    t.async_wait(tick);
  };
  t.async_wait(tick);
  ctx.run();
  BOOST_TEST(ticks == 5);
  BOOST_TEST(early == 0);
  BOOST_TEST((first >= start + 2ms));
  BOOST_TEST((t.expiry() == first + 8ms));
  BOOST_TEST((steady::now() >= start + 10ms));
}

BOOST_AUTO_TEST_SUITE_END()
