// Tests of kyoto::join_set on a running kyoto::context: collecting results, abort_all, the
// destructor's abort, exceptions, void tasks and coroutine use.

#include <kyoto/join_set.hpp>

#include <boost/test/unit_test.hpp>

#include <kyoto/sync/oneshot.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace asio = boost::asio;

namespace {

/// Drains `set` inside a task: every value, and the count of task_aborted errors.
template <typename T>
struct drained {
  std::vector<T> values;
  int aborted = 0;
  int failed = 0;
};

template <typename T, typename V = std::conditional_t<std::is_void_v<T>, std::monostate, T>>
drained<V> drain(kyoto::context& ctx, kyoto::join_set<T>& set) {
  return kyoto::block_on(
      ctx, kyoto::poll_fn([&set, out = drained<V>()](kyoto::task_context& cx) mutable {
        for (;;) {
          try {
            auto r = set.join_next().poll(cx);
            if (r.is_pending())
              return kyoto::poll<drained<V>>(kyoto::pending);
            if (!r.value())
              return kyoto::poll<drained<V>>(std::move(out));
            out.values.push_back(*r.value());
          } catch (const boost::system::system_error& e) {
            if (e.code() == kyoto::error::task_aborted)
              ++out.aborted;
            else
              ++out.failed;
          } catch (const std::exception&) {
            ++out.failed;
          }
        }
      }));
}

/// Pending until its oneshot delivers; counts live instances and completions.
struct waiting_task {
  waiting_task(kyoto::sync::oneshot_receiver<int> rx, std::atomic<int>& alive,
               std::atomic<int>& completed)
      : rx_(std::move(rx)), alive_(&alive), completed_(&completed) {
    ++*alive_;
  }
  waiting_task(waiting_task&& o) noexcept
      : rx_(std::move(o.rx_)), alive_(o.alive_), completed_(o.completed_) {
    ++*alive_;
  }
  ~waiting_task() { --*alive_; }
  kyoto::poll<int> poll(kyoto::task_context& cx) {
    auto r = rx_.poll(cx);
    if (r.is_ready())
      ++*completed_;
    return r;
  }
  kyoto::sync::oneshot_receiver<int> rx_;
  std::atomic<int>* alive_;
  std::atomic<int>* completed_;
};

} // namespace

BOOST_AUTO_TEST_CASE(collects_the_results_of_all_tasks) {
  kyoto::context ctx(2);
  kyoto::join_set<int> set;
  BOOST_TEST(set.empty());
  constexpr int n = 300; // more than one budget's worth
  for (int i = 0; i < n; ++i)
    set.spawn(ctx, [i] { return i; });
  BOOST_TEST(set.size() == static_cast<std::size_t>(n));
  auto d = drain(ctx, set);
  std::sort(d.values.begin(), d.values.end());
  BOOST_REQUIRE(d.values.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    BOOST_TEST(d.values[static_cast<std::size_t>(i)] == i);
  BOOST_TEST(set.empty());
  BOOST_TEST(d.aborted == 0);
}

BOOST_AUTO_TEST_CASE(join_next_waits_for_late_tasks_and_reports_in_finish_order) {
  kyoto::context ctx(2);
  kyoto::join_set<int> set;
  std::atomic<int> alive{0}, completed{0};
  std::vector<kyoto::sync::oneshot_sender<int>> txs;
  for (int i = 0; i < 3; ++i) {
    auto [tx, rx] = kyoto::sync::make_oneshot<int>();
    set.spawn(ctx, waiting_task(std::move(rx), alive, completed));
    txs.push_back(std::move(tx));
  }
  // Finish them from another thread, in the order 2, 0, 1, each after the previous was joined.
  std::atomic<int> joined{0};
  std::thread sender([&] {
    const int order[] = {2, 0, 1};
    for (int k = 0; k < 3; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      txs[static_cast<std::size_t>(order[k])].send(order[k] * 10);
      while (joined.load() <= k)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<int> got;
  for (int k = 0; k < 3; ++k) {
    auto v = kyoto::block_on(
        ctx, kyoto::poll_fn([&](kyoto::task_context& cx) { return set.join_next().poll(cx); }));
    BOOST_REQUIRE(v.has_value());
    got.push_back(*v);
    ++joined;
  }
  sender.join();
  BOOST_TEST(got == (std::vector<int>{20, 0, 10}), boost::test_tools::per_element());
  BOOST_TEST(set.empty());
  BOOST_TEST(completed == 3);
}

BOOST_AUTO_TEST_CASE(abort_all_then_join_next_reports_aborted_tasks) {
  kyoto::context ctx(2);
  kyoto::join_set<int> set;
  std::atomic<int> alive{0}, completed{0};
  std::vector<kyoto::sync::oneshot_sender<int>> txs;
  for (int i = 0; i < 10; ++i) {
    auto [tx, rx] = kyoto::sync::make_oneshot<int>();
    set.spawn(ctx, waiting_task(std::move(rx), alive, completed));
    txs.push_back(std::move(tx));
  }
  // One task finishes before the abort: its value is still reported.
  set.spawn(ctx, [] { return 99; });
  ctx.run_for(std::chrono::milliseconds(20));
  set.abort_all();
  BOOST_TEST(set.size() == 11u);
  auto d = drain(ctx, set);
  BOOST_TEST(d.aborted == 10);
  BOOST_TEST(d.values == (std::vector<int>{99}), boost::test_tools::per_element());
  BOOST_TEST(set.empty());
  BOOST_TEST(alive == 0);
  BOOST_TEST(completed == 0);
  for (auto& tx : txs)
    BOOST_TEST(!tx.send(1)); // the receivers were destroyed with the aborted futures
}

BOOST_AUTO_TEST_CASE(destruction_aborts_pending_tasks) {
  kyoto::context ctx(2);
  std::atomic<int> alive{0}, completed{0};
  std::vector<kyoto::sync::oneshot_sender<int>> txs;
  {
    kyoto::join_set<int> set;
    for (int i = 0; i < 10; ++i) {
      auto [tx, rx] = kyoto::sync::make_oneshot<int>();
      set.spawn(ctx, waiting_task(std::move(rx), alive, completed));
      txs.push_back(std::move(tx));
    }
    ctx.run_for(std::chrono::milliseconds(20));
    BOOST_TEST(alive == 10);
  }
  // The aborted tasks are cancelled on a worker; run() returns once they are gone.
  ctx.restart();
  ctx.run();
  BOOST_TEST(alive == 0);
  for (auto& tx : txs)
    BOOST_TEST(!tx.send(1));
  BOOST_TEST(completed == 0);
}

BOOST_AUTO_TEST_CASE(exceptions_and_void_tasks) {
  kyoto::context ctx(2);
  kyoto::join_set<int> set;
  set.spawn(ctx, []() -> int { throw std::runtime_error("boom"); });
  set.spawn(ctx, [] { return 1; });
  auto d = drain(ctx, set);
  BOOST_TEST(d.failed == 1);
  BOOST_TEST(d.values.size() == 1u);

  kyoto::join_set<void> vs;
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i)
    vs.spawn(ctx, [&] { ++ran; });
  auto dv = drain(ctx, vs);
  BOOST_TEST(dv.values.size() == 5u);
  BOOST_TEST(ran == 5);

  kyoto::join_handle<int> empty;
  BOOST_CHECK_THROW(set.insert(std::move(empty)), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(join_next_from_a_coroutine) {
  kyoto::context ctx(2);
  kyoto::join_set<int> set;
  for (int i = 1; i <= 10; ++i)
    set.spawn(ctx, [i] { return i; });
  int sum = 0;
  int rounds = 0;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        while (auto v = co_await set.async_join_next(ctx.get_executor(), asio::use_awaitable)) {
          sum += *v;
          ++rounds;
        }
      },
      asio::detached);
  ctx.run();
  BOOST_TEST(sum == 55);
  BOOST_TEST(rounds == 10);
}

BOOST_AUTO_TEST_CASE(empty_set_is_ready_with_nullopt) {
  kyoto::join_set<int> set;
  kyoto::waker w;
  kyoto::task_context cx(w);
  auto r = set.join_next().poll(cx);
  BOOST_REQUIRE(r.is_ready());
  BOOST_TEST(!r.value().has_value());
}
