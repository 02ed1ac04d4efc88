// Tests of kyoto::task_diagnostics: a self-waking (busy-loop) task is listed, a normal one is
// not.

#include <kyoto/task_diagnostics.hpp>

#include <boost/test/unit_test.hpp>

#include <kyoto/sync/oneshot.hpp>
#include <kyoto/task.hpp>

#include <atomic>
#include <chrono>
#include <thread>

BOOST_AUTO_TEST_CASE(self_waking_task_is_listed_and_a_normal_one_is_not) {
  kyoto::context ctx(2);
  std::atomic<bool> stop{false};
  std::atomic<int> busy_polls{0};
  // Busy loop: wakes itself and returns pending without waiting for anything.
  auto busy = kyoto::spawn(ctx, kyoto::poll_fn([&](kyoto::task_context& cx) {
                             ++busy_polls;
                             if (stop)
                               return kyoto::poll<int>(1);
                             cx.get_waker().wake_by_ref();
                             return kyoto::poll<int>(kyoto::pending);
                           }));
  // Normal: waits on a channel.
  auto [tx, rx] = kyoto::sync::make_oneshot<int>();
  auto quiet = kyoto::spawn(ctx, std::move(rx));
  BOOST_TEST(busy.id() != 0u);
  BOOST_TEST(busy.id() != quiet.id());

  std::thread runner([&] { ctx.run(); });
  while (busy_polls < 5000)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto d = kyoto::task_diagnostics(ctx);
  BOOST_TEST(d.live_tasks == 2u);
  BOOST_TEST(d.suspicious_task_count >= 1u);
  BOOST_REQUIRE(d.suspicious.size() == 1u);
  const kyoto::task_info& t = d.suspicious.front();
  BOOST_TEST(t.id == busy.id());
  BOOST_TEST(t.polls >= 1000u);
  BOOST_TEST(t.self_wakes + 1 >= t.polls);
  BOOST_TEST(t.suspicious);
  BOOST_TEST(!t.type_name.empty());
  for (const auto& s : d.suspicious)
    BOOST_TEST(s.id != quiet.id());

  stop = true;
  tx.send(2);
  runner.join();
  auto after = kyoto::task_diagnostics(ctx);
  BOOST_TEST(after.live_tasks == 0u);
  BOOST_TEST(after.suspicious.empty());
  BOOST_TEST(after.suspicious_task_count == d.suspicious_task_count); // a running total
}

BOOST_AUTO_TEST_CASE(empty_context_reports_nothing) {
  kyoto::context ctx(1);
  auto d = kyoto::task_diagnostics(ctx);
  BOOST_TEST(d.live_tasks == 0u);
  BOOST_TEST(d.suspicious_task_count == 0u);
  BOOST_TEST(d.suspicious.empty());
}
