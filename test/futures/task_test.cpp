// Tests of the task machinery (state word, waker contract, join handles, abort, diagnostics)
// on a manual scheduler, without a running context.

#include <kyoto/task.hpp>

#include <boost/test/unit_test.hpp>

#include "futures/manual_scheduler.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <vector>

// --- Counting allocations made by the current thread (for the "no allocation on wake" test) ---
namespace {
thread_local bool counting_allocations = false;
thread_local std::size_t allocations = 0;
} // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  if (counting_allocations)
    ++allocations;
  if (void* p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

using kyoto::detail::schedule_hint;
using kyoto::test::manual_scheduler;

namespace kyoto::detail {
inline std::ostream& operator<<(std::ostream& os, schedule_hint h) {
  return os << static_cast<int>(h);
}
} // namespace kyoto::detail

namespace {

/// Shared record of what a probe future saw.
struct probe_state {
  std::atomic<int> polls{0};
  std::atomic<int> alive{0};
  std::atomic<bool> ready{false};
  // The waker of the last poll.
  std::mutex mutex;
  kyoto::waker w;
};

/// Pending until state->ready; stores its waker on each poll; counts polls and live instances.
/// `on_poll` runs inside each poll.
template <typename OnPoll = void (*)(kyoto::task_context&)>
class probe {
 public:
  explicit probe(
      std::shared_ptr<probe_state> s, OnPoll on_poll = [](kyoto::task_context&) {})
      : s_(std::move(s)), on_poll_(on_poll) {
    ++s_->alive;
  }
  probe(probe&& o) noexcept : s_(o.s_), on_poll_(o.on_poll_) { ++s_->alive; }
  ~probe() { --s_->alive; }

  kyoto::poll<int> poll(kyoto::task_context& cx) {
    ++s_->polls;
    {
      std::lock_guard lock(s_->mutex);
      s_->w = cx.get_waker();
    }
    on_poll_(cx);
    if (s_->ready)
      return 7;
    return kyoto::pending;
  }

 private:
  std::shared_ptr<probe_state> s_;
  OnPoll on_poll_;
};

kyoto::waker take_waker(probe_state& s) {
  std::lock_guard lock(s.mutex);
  return s.w;
}

/// Polls a join handle with a no-op waker.
template <typename T>
kyoto::poll<T> poll_handle(kyoto::join_handle<T>& h) {
  kyoto::waker w;
  kyoto::task_context cx(w);
  return h.poll(cx);
}

} // namespace

BOOST_AUTO_TEST_CASE(ready_future_delivers_value_and_releases_work) {
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, kyoto::ready_future<int>(42));
  BOOST_TEST(s.work() == 1);
  BOOST_TEST(!h.is_finished());
  BOOST_TEST(poll_handle(h).is_pending());
  BOOST_TEST(s.run() == 1u);
  BOOST_TEST(h.is_finished());
  BOOST_TEST(s.work() == 0);
  BOOST_TEST(s.live_tasks() == 0u);
  auto r = poll_handle(h);
  BOOST_REQUIRE(r.is_ready());
  BOOST_TEST(r.value() == 42);
  BOOST_TEST(!h.valid());
  BOOST_CHECK_THROW(poll_handle(h), std::logic_error);
}

BOOST_AUTO_TEST_CASE(never_woken_future_is_polled_once_and_destroyed_at_shutdown) {
  auto st = std::make_shared<probe_state>();
  kyoto::join_handle<int> h;
  {
    manual_scheduler s;
    h = kyoto::detail::spawn_on(s, probe(st));
    BOOST_TEST(s.run() == 1u);
    BOOST_TEST(s.run() == 0u);
    BOOST_TEST(st->polls == 1);
    BOOST_TEST(st->alive == 1);
    BOOST_TEST(s.work() == 1);
    {
      // Drop the only waker without waking it.
      std::lock_guard lock(st->mutex);
      st->w = kyoto::waker();
    }
    s.shutdown();
    BOOST_TEST(st->alive == 0);
    BOOST_TEST(st->polls == 1);
    BOOST_TEST(s.work() == 0);
  }
  BOOST_TEST(h.is_finished());
  try {
    poll_handle(h);
    BOOST_FAIL("expected task_aborted");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST(e.code() == kyoto::error::task_aborted);
  }
}

BOOST_AUTO_TEST_CASE(wake_before_pending_returns_polls_again_once_at_the_back) {
  auto st = std::make_shared<probe_state>();
  manual_scheduler s;
  int wakes_left = 1;
  auto h = kyoto::detail::spawn_on(s, probe(st, [&](kyoto::task_context& cx) {
                                     if (wakes_left-- > 0) {
                                       cx.get_waker().wake_by_ref();
                                       cx.get_waker().wake_by_ref();
                                     }
                                   }));
  BOOST_TEST(s.run_one());
  BOOST_TEST(s.queued() == 1u); // rescheduled once, not twice
  BOOST_TEST(s.hints().back() == schedule_hint::yield);
  BOOST_TEST(s.run() == 1u);
  BOOST_TEST(st->polls == 2);
  st->ready = true;
  take_waker(*st).wake();
  BOOST_TEST(s.hints().back() == schedule_hint::continuation);
  s.run();
  BOOST_TEST(poll_handle(h).value() == 7);
}

BOOST_AUTO_TEST_CASE(many_concurrent_wakes_schedule_once) {
  for (int round = 0; round < 50; ++round) {
    auto st = std::make_shared<probe_state>();
    manual_scheduler s;
    auto h = kyoto::detail::spawn_on(s, probe(st));
    s.run();
    kyoto::waker w = take_waker(*st);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&, w] {
        kyoto::waker mine = w;
        while (!go)
          std::this_thread::yield();
        for (int k = 0; k < 100; ++k)
          mine.wake_by_ref();
      });
    go = true;
    for (auto& t : threads)
      t.join();
    BOOST_TEST(s.queued() == 1u);
    s.run();
    BOOST_TEST(st->polls == 2);
  }
}

BOOST_AUTO_TEST_CASE(wake_from_another_thread_during_poll_polls_once_more) {
  auto st = std::make_shared<probe_state>();
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, probe(st, [](kyoto::task_context& cx) {
                                     static int n = 0;
                                     if (n++ == 0) {
                                       kyoto::waker w = cx.get_waker();
                                       std::thread t([&] {
                                         for (int i = 0; i < 10; ++i)
                                           w.wake_by_ref();
                                       });
                                       t.join();
                                     }
                                   }));
  s.run_one();
  BOOST_TEST(s.queued() == 1u);
  s.run();
  BOOST_TEST(st->polls == 2);
  BOOST_TEST(s.queued() == 0u);
}

BOOST_AUTO_TEST_CASE(wake_after_completion_is_a_no_op) {
  auto st = std::make_shared<probe_state>();
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, probe(st));
  s.run();
  kyoto::waker w = take_waker(*st);
  st->ready = true;
  w.wake_by_ref();
  s.run();
  BOOST_TEST(h.is_finished());
  const auto before = s.scheduled();
  w.wake_by_ref();
  kyoto::waker(w).wake();
  BOOST_TEST(s.scheduled() == before);
  BOOST_TEST(st->polls == 2);
}

BOOST_AUTO_TEST_CASE(waker_outlives_task_and_scheduler) {
  auto st = std::make_shared<probe_state>();
  kyoto::waker w;
  {
    auto s = std::make_unique<manual_scheduler>();
    {
      auto h = kyoto::detail::spawn_on(*s, probe(st));
      s->run();
      w = take_waker(*st);
      {
        std::lock_guard lock(st->mutex);
        st->w = kyoto::waker();
      }
    }          // handle dropped: detached
    s.reset(); // shutdown cancels the idle task; the scheduler is freed
  }
  BOOST_TEST(st->alive == 0);
  // The header is still alive (our reference); waking reads `complete` and never touches the
  // freed scheduler (ASan would report it).
  w.wake_by_ref();
  kyoto::waker w2 = w;
  w.wake();
  w2 = kyoto::waker(); // last reference: the task is freed here
}

BOOST_AUTO_TEST_CASE(abort_idle_task_reports_task_aborted) {
  auto st = std::make_shared<probe_state>();
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, probe(st));
  s.run();
  h.abort();
  BOOST_TEST(s.queued() == 1u);
  h.abort(); // twice: still one
  BOOST_TEST(s.queued() == 1u);
  s.run();
  BOOST_TEST(st->polls == 1); // cancelled without polling
  BOOST_TEST(st->alive == 0);
  BOOST_TEST(s.work() == 0);
  BOOST_CHECK_EXCEPTION(poll_handle(h), boost::system::system_error,
                        [](const auto& e) { return e.code() == kyoto::error::task_aborted; });
}

BOOST_AUTO_TEST_CASE(abort_during_poll_cancels_after_the_poll) {
  auto st = std::make_shared<probe_state>();
  manual_scheduler s;
  kyoto::join_handle<int>* hp = nullptr;
  auto h = kyoto::detail::spawn_on(s, probe(st, [&](kyoto::task_context&) { hp->abort(); }));
  hp = &h;
  s.run();
  BOOST_TEST(st->polls == 1);
  BOOST_TEST(st->alive == 0);
  BOOST_TEST(h.is_finished());
}

BOOST_AUTO_TEST_CASE(exception_reaches_the_joiner) {
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, kyoto::poll_fn([](kyoto::task_context&) -> kyoto::poll<int> {
                                     throw std::runtime_error("boom");
                                   }));
  s.run();
  BOOST_CHECK_THROW(poll_handle(h), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(void_and_callable_tasks) {
  manual_scheduler s;
  int ran = 0;
  auto h = kyoto::detail::spawn_on(
      s, kyoto::detail::callable_future<std::function<void()>>([&] { ++ran; }));
  s.run();
  BOOST_TEST(ran == 1);
  BOOST_TEST(poll_handle(h).is_ready());
}

BOOST_AUTO_TEST_CASE(join_handle_wakes_the_joining_task) {
  auto st = std::make_shared<probe_state>();
  manual_scheduler s;
  auto inner = kyoto::detail::spawn_on(s, probe(st));
  auto outer = kyoto::detail::spawn_on(
      s, kyoto::poll_fn([h = std::move(inner)](kyoto::task_context& cx) mutable {
        auto r = h.poll(cx);
        if (r.is_pending())
          return kyoto::poll<int>(kyoto::pending);
        return kyoto::poll<int>(r.value() * 2);
      }));
  s.run();
  BOOST_TEST(!outer.is_finished());
  st->ready = true;
  take_waker(*st).wake();
  s.run();
  BOOST_TEST(outer.is_finished());
  BOOST_TEST(poll_handle(outer).value() == 14);
}

BOOST_AUTO_TEST_CASE(join_handle_respects_the_budget) {
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, kyoto::ready_future<int>(1));
  s.run();
  kyoto::waker w;
  kyoto::task_context cx(w, 0);
  BOOST_TEST(h.poll(cx).is_pending());
  kyoto::task_context cx2(w, 1);
  BOOST_TEST(h.poll(cx2).value() == 1);
  BOOST_TEST(cx2.budget() == 0);
}

// As in Tokio (schedule_task(task, is_yield = false)): a new task is scheduled like a woken one,
// into the spawning worker's LIFO slot, so a task that spawns a partner and waits for it runs the
// partner next instead of queueing it behind everything else.
BOOST_AUTO_TEST_CASE(spawn_schedules_as_a_continuation) {
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, kyoto::ready_future<int>(1));
  BOOST_TEST_REQUIRE(s.hints().size() == 1u);
  BOOST_TEST(s.hints().back() == schedule_hint::continuation);
  s.run();
  BOOST_TEST(poll_handle(h).is_ready());
}

BOOST_AUTO_TEST_CASE(yield_now_goes_to_the_back) {
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, kyoto::yield_now());
  s.run_one();
  BOOST_TEST(s.hints().back() == schedule_hint::yield);
  s.run();
  BOOST_TEST(poll_handle(h).is_ready());
}

BOOST_AUTO_TEST_CASE(wake_allocates_nothing) {
  auto st = std::make_shared<probe_state>();
  manual_scheduler s;
  auto h = kyoto::detail::spawn_on(s, probe(st));
  s.run();
  kyoto::waker w = take_waker(*st);
  // Warm up the scheduler's deque so that its own storage is not counted.
  for (int i = 0; i < 4; ++i) {
    w.wake_by_ref();
    s.run();
  }
  counting_allocations = true;
  allocations = 0;
  for (int i = 0; i < 1000; ++i) {
    kyoto::waker copy = w;
    copy.wake();
    w.wake_by_ref();
  }
  counting_allocations = false;
  BOOST_TEST(allocations == 0u);
  BOOST_TEST(s.queued() == 1u);
}

BOOST_AUTO_TEST_CASE(bytes_per_idle_task) {
  struct small_future {
    kyoto::poll<int> poll(kyoto::task_context&) { return kyoto::pending; }
    void* state = nullptr;
  };
  const std::size_t cell = sizeof(kyoto::detail::task_cell<small_future>);
  const std::size_t overhead = cell - sizeof(small_future);
  std::printf("bytes per idle spawned task beyond its future: %zu (header %zu, cell %zu)\n",
              overhead, kyoto::detail::task_header::header_size(), cell);
  BOOST_TEST(overhead < 128u);
}

BOOST_AUTO_TEST_CASE(self_waking_task_is_flagged) {
  manual_scheduler s;
  int polls = 0;
  auto busy = kyoto::detail::spawn_on(s, kyoto::poll_fn([&](kyoto::task_context& cx) {
                                        if (++polls == 3000)
                                          return kyoto::poll<int>(0);
                                        cx.get_waker().wake_by_ref(); // no progress: busy loop
                                        return kyoto::poll<int>(kyoto::pending);
                                      }));
  auto st = std::make_shared<probe_state>();
  auto quiet = kyoto::detail::spawn_on(s, probe(st));
  for (int i = 0; i < 2000; ++i)
    s.run_one();
  auto d = s.diagnostics();
  BOOST_REQUIRE(d.size() == 2u);
  int suspicious = 0;
  for (auto& t : d) {
    if (t.suspicious) {
      ++suspicious;
      BOOST_TEST(t.self_wakes >= t.polls - 1);
    }
  }
  BOOST_TEST(suspicious == 1);
  BOOST_TEST(s.suspicious_task_count() == 1u);
  s.run();
  BOOST_TEST(busy.is_finished());
}
