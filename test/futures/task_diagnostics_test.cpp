// Tests of kyoto::task_diagnostics: a self-waking (busy-loop) task is listed, a normal one is
// not; tasks spawned from many threads are all registered and shut down.

#include <kyoto/task_diagnostics.hpp>

#include <boost/test/unit_test.hpp>

#include <kyoto/error.hpp>
#include <kyoto/sync/oneshot.hpp>
#include <kyoto/task.hpp>

#include <boost/system/system_error.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

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

// The registry is sharded by the spawning thread: tasks spawned from many threads (more than
// there are shards) are all counted and listed, with distinct ids, complete from any thread, and
// the ones still pending at destruction are cancelled (their join handles see task_aborted).
BOOST_AUTO_TEST_CASE(tasks_spawned_from_many_threads_are_all_registered_and_shut_down) {
  constexpr int threads = 20;
  constexpr int per_thread = 50;
  std::vector<kyoto::join_handle<int>> pending;
  std::vector<kyoto::sync::oneshot_sender<int>> senders;
  std::mutex m;
  {
    kyoto::context ctx(2);
    std::vector<std::thread> spawners;
    for (int i = 0; i < threads; ++i)
      spawners.emplace_back([&] {
        for (int k = 0; k < per_thread; ++k) {
          auto [tx, rx] = kyoto::sync::make_oneshot<int>();
          auto h = kyoto::spawn(ctx, std::move(rx));
          std::lock_guard lock(m);
          pending.push_back(std::move(h));
          senders.push_back(std::move(tx));
        }
      });
    for (auto& t : spawners)
      t.join();
    auto d = kyoto::task_diagnostics(ctx);
    BOOST_TEST(d.live_tasks == std::size_t{threads * per_thread});
    std::set<std::uint64_t> ids;
    for (auto& h : pending)
      ids.insert(h.id());
    BOOST_TEST(ids.size() == pending.size());
    // Half complete (woken from this thread, run on the workers); the rest stay pending.
    for (std::size_t i = 0; i < senders.size(); i += 2)
      senders[i].send(static_cast<int>(i));
    ctx.run_for(std::chrono::milliseconds(200));
    BOOST_TEST(kyoto::task_diagnostics(ctx).live_tasks == senders.size() / 2);
  } // the context goes: the pending half is cancelled
  int completed = 0;
  int aborted = 0;
  kyoto::waker w;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    BOOST_REQUIRE(pending[i].is_finished());
    kyoto::task_context cx(w); // a fresh budget for each
    try {
      auto r = pending[i].poll(cx);
      BOOST_REQUIRE(r.is_ready());
      completed += i % 2 == 0 && r.value() == static_cast<int>(i);
    } catch (const boost::system::system_error& e) {
      aborted += i % 2 == 1 && e.code() == kyoto::error::task_aborted;
    }
  }
  BOOST_TEST(completed == threads * per_thread / 2);
  BOOST_TEST(aborted == threads * per_thread / 2);
}
