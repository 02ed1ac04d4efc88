// Tests of kyoto::sync::notify: permits, notify_waiters, FIFO order, forwarding on drop, and a
// ping-pong between tasks on a two-worker context.

#include <kyoto/sync/notify.hpp>

#include <boost/test/unit_test.hpp>

#include "futures/counting_waker.hpp"

#include <kyoto/bridge.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using kyoto::test::counting_waker;

namespace {
bool poll_ready(kyoto::sync::notified_future& f, counting_waker& w) {
  kyoto::task_context cx(w.get());
  return f.poll(cx).is_ready();
}
} // namespace

BOOST_AUTO_TEST_CASE(notify_one_without_waiter_stores_one_permit) {
  kyoto::sync::notify n;
  counting_waker w;
  n.notify_one();
  n.notify_one(); // permits do not add up
  auto a = n.notified();
  BOOST_TEST(poll_ready(a, w));
  BOOST_TEST(poll_ready(a, w)); // stays ready
  auto b = n.notified();
  BOOST_TEST(!poll_ready(b, w));
  n.notify_one();
  BOOST_TEST(w.wakes() == 1);
  BOOST_TEST(poll_ready(b, w));
}

BOOST_AUTO_TEST_CASE(notify_one_wakes_waiters_in_fifo_order) {
  kyoto::sync::notify n;
  counting_waker w1, w2, w3;
  auto a = n.notified(), b = n.notified(), c = n.notified();
  BOOST_TEST(!poll_ready(a, w1));
  BOOST_TEST(!poll_ready(b, w2));
  BOOST_TEST(!poll_ready(c, w3));
  n.notify_one();
  BOOST_TEST(w1.wakes() == 1);
  BOOST_TEST(w2.wakes() == 0);
  BOOST_TEST(!poll_ready(b, w2));
  BOOST_TEST(poll_ready(a, w1));
  n.notify_one();
  BOOST_TEST(w2.wakes() == 1);
  BOOST_TEST(w3.wakes() == 0);
  BOOST_TEST(poll_ready(b, w2));
  BOOST_TEST(!poll_ready(c, w3));
}

BOOST_AUTO_TEST_CASE(notify_waiters_wakes_all_current_and_stores_nothing) {
  kyoto::sync::notify n;
  counting_waker w1, w2, w3;
  auto a = n.notified(), b = n.notified();
  auto unpolled = n.notified(); // created before the call: notified too
  BOOST_TEST(!poll_ready(a, w1));
  BOOST_TEST(!poll_ready(b, w2));
  n.notify_waiters();
  BOOST_TEST(w1.wakes() == 1);
  BOOST_TEST(w2.wakes() == 1);
  BOOST_TEST(poll_ready(a, w1));
  BOOST_TEST(poll_ready(b, w2));
  BOOST_TEST(poll_ready(unpolled, w3));
  auto later = n.notified(); // created after: not notified, and no permit was stored
  BOOST_TEST(!poll_ready(later, w3));
}

BOOST_AUTO_TEST_CASE(dropped_chosen_waiter_forwards_the_notification) {
  kyoto::sync::notify n;
  counting_waker w1, w2;
  std::optional<kyoto::sync::notified_future> a(n.notified());
  auto b = n.notified();
  BOOST_TEST(!poll_ready(*a, w1));
  BOOST_TEST(!poll_ready(b, w2));
  n.notify_one(); // chooses a
  a.reset();      // a never saw it: b gets it
  BOOST_TEST(w2.wakes() == 1);
  BOOST_TEST(poll_ready(b, w2));
  // A dropped waiting (not chosen) future just leaves the queue.
  std::optional<kyoto::sync::notified_future> c(n.notified());
  BOOST_TEST(!poll_ready(*c, w1));
  c.reset();
  n.notify_one(); // nobody waits: stored
  auto d = n.notified();
  BOOST_TEST(poll_ready(d, w1));
  // Forwarding with nobody left stores the permit.
  std::optional<kyoto::sync::notified_future> e(n.notified());
  BOOST_TEST(!poll_ready(*e, w1));
  n.notify_one();
  e.reset();
  auto f = n.notified();
  BOOST_TEST(poll_ready(f, w1));
}

BOOST_AUTO_TEST_CASE(ping_pong_between_tasks_on_two_workers) {
  kyoto::context ctx(2);
  kyoto::sync::notify ping, pong;
  constexpr int rounds = 2000;
  int pings = 0, pongs = 0;
  auto ex = ctx.get_executor();
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < rounds; ++i) {
          co_await kyoto::async_poll(ex, ping.notified(), asio::use_awaitable);
          ++pongs;
          pong.notify_one();
        }
      },
      asio::detached);
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < rounds; ++i) {
          ++pings;
          ping.notify_one();
          co_await kyoto::async_poll(ex, pong.notified(), asio::use_awaitable);
          BOOST_REQUIRE(pongs == pings);
        }
      },
      asio::detached);
  std::thread t([&] { ctx.run(); });
  ctx.run();
  t.join();
  BOOST_TEST(pings == rounds);
  BOOST_TEST(pongs == rounds);
}

BOOST_AUTO_TEST_CASE(notify_waiters_from_another_thread_releases_many_tasks) {
  kyoto::context ctx(2);
  kyoto::sync::notify n;
  std::atomic<int> released{0}, created{0};
  std::vector<kyoto::join_handle<void>> hs;
  for (int i = 0; i < 50; ++i)
    hs.push_back(
        kyoto::spawn(ctx, kyoto::poll_fn([&, f = std::optional<kyoto::sync::notified_future>()](
                                             kyoto::task_context& cx) mutable {
                       if (!f) {
                         f.emplace(n.notified());
                         ++created;
                       }
                       if (f->poll(cx).is_pending())
                         return kyoto::poll<void>(kyoto::pending);
                       ++released;
                       return kyoto::poll<void>(kyoto::ready);
                     })));
  std::thread t([&] { ctx.run(); });
  // Wait until every task created its future (notify_waiters() then covers it).
  while (created < 50)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  n.notify_waiters();
  ctx.run();
  t.join();
  BOOST_TEST(released == 50);
}
