// Tests of kyoto::sync::semaphore: try_acquire/release, FIFO fairness with partial grants,
// cancel safety, close, permits, and a bound on concurrency across two workers.

#include <kyoto/sync/semaphore.hpp>

#include <boost/test/unit_test.hpp>

#include "futures/counting_waker.hpp"

#include <kyoto/task.hpp>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

using kyoto::sync::semaphore;
using kyoto::test::counting_waker;

namespace {
std::optional<kyoto::sync::semaphore_permit> poll_once(kyoto::sync::acquire_future& f,
                                                       counting_waker& w) {
  kyoto::task_context cx(w.get());
  auto r = f.poll(cx);
  if (r.is_pending())
    return std::nullopt;
  return std::move(r).value();
}
} // namespace

BOOST_AUTO_TEST_CASE(try_acquire_release_and_permit_raii) {
  semaphore s(3);
  auto p = s.try_acquire(2);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->count() == 2u);
  BOOST_TEST(s.available_permits() == 1u);
  BOOST_TEST(!s.try_acquire(2));
  p.reset();
  BOOST_TEST(s.available_permits() == 3u);
  auto q = s.try_acquire(1);
  q->forget();
  BOOST_TEST(s.available_permits() == 2u);
  s.release(5);
  BOOST_TEST(s.available_permits() == 7u);
  BOOST_CHECK_THROW(s.release(semaphore::max_permits), std::invalid_argument);
  BOOST_CHECK_THROW(s.acquire(semaphore::max_permits + 1), std::invalid_argument);
  BOOST_CHECK_THROW(semaphore(semaphore::max_permits + 1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(fifo_with_partial_grants) {
  semaphore s(1);
  counting_waker wa, wb, wc;
  auto a = s.acquire(3);
  auto b = s.acquire(1);
  BOOST_TEST(poll_once(a, wa).has_value() == false); // holds 1, waits for 2 more
  BOOST_TEST(s.available_permits() == 0u);
  BOOST_TEST(poll_once(b, wb).has_value() == false);
  BOOST_TEST(!s.try_acquire(1)); // never overtakes a waiter
  s.release(1);                  // to a (partial): b stays behind
  BOOST_TEST(wa.wakes() == 0);
  BOOST_TEST(wb.wakes() == 0);
  BOOST_TEST(poll_once(b, wb).has_value() == false);
  s.release(1); // a complete; b still waits
  BOOST_TEST(wa.wakes() == 1);
  BOOST_TEST(wb.wakes() == 0);
  auto pa = poll_once(a, wa);
  BOOST_REQUIRE(pa);
  BOOST_TEST(pa->count() == 3u);
  pa.reset(); // 3 back: b gets 1, 2 stay free
  BOOST_TEST(wb.wakes() == 1);
  auto pb = poll_once(b, wb);
  BOOST_TEST(pb.has_value());
  BOOST_TEST(s.available_permits() == 2u);
  // A third acquirer that was never polled is not in the queue.
  auto c = s.acquire(2);
  BOOST_TEST(poll_once(c, wc).has_value() == true);
}

BOOST_AUTO_TEST_CASE(dropping_a_waiter_forwards_its_partial_permits) {
  semaphore s(2);
  counting_waker wa, wb;
  std::optional<kyoto::sync::acquire_future> a(s.acquire(5));
  auto b = s.acquire(2);
  BOOST_TEST(poll_once(*a, wa).has_value() == false); // holds 2
  BOOST_TEST(poll_once(b, wb).has_value() == false);
  a.reset(); // its 2 go to b
  BOOST_TEST(wb.wakes() == 1);
  auto pb = poll_once(b, wb);
  BOOST_REQUIRE(pb);
  BOOST_TEST(s.available_permits() == 0u);
}

BOOST_AUTO_TEST_CASE(dropping_a_granted_unobserved_waiter_returns_everything) {
  semaphore s(0);
  counting_waker wa;
  std::optional<kyoto::sync::acquire_future> a(s.acquire(2));
  BOOST_TEST(poll_once(*a, wa).has_value() == false);
  s.release(2);
  BOOST_TEST(wa.wakes() == 1);
  a.reset(); // granted, never polled again
  BOOST_TEST(s.available_permits() == 2u);
}

BOOST_AUTO_TEST_CASE(close_fails_waiters_and_later_acquires) {
  semaphore s(0);
  counting_waker wa;
  auto a = s.acquire(1);
  BOOST_TEST(poll_once(a, wa).has_value() == false);
  s.close();
  BOOST_TEST(s.is_closed());
  BOOST_TEST(wa.wakes() == 1);
  auto is_closed = [](const boost::system::system_error& e) {
    return e.code() == kyoto::error::channel_closed;
  };
  BOOST_CHECK_EXCEPTION(poll_once(a, wa), boost::system::system_error, is_closed);
  auto b = s.acquire(1);
  BOOST_CHECK_EXCEPTION(poll_once(b, wa), boost::system::system_error, is_closed);
  s.release(1);
  BOOST_TEST(!s.try_acquire(1));
}

BOOST_AUTO_TEST_CASE(zero_permits_and_budget) {
  semaphore s(0);
  counting_waker w;
  auto a = s.acquire(0);
  BOOST_TEST(poll_once(a, w).has_value() == true);
  s.release(1);
  auto b = s.acquire(1);
  kyoto::task_context none(w.get(), 0);
  BOOST_TEST(b.poll(none).is_pending());
  BOOST_TEST(s.available_permits() == 1u); // nothing taken while out of budget
  BOOST_TEST(poll_once(b, w).has_value() == true);
}

BOOST_AUTO_TEST_CASE(bounds_concurrency_across_two_workers) {
  kyoto::context ctx(2);
  semaphore s(3);
  std::atomic<int> inside{0}, max_inside{0}, done{0};
  std::vector<kyoto::join_handle<void>> hs;
  for (int i = 0; i < 200; ++i) {
    struct state {
      std::optional<kyoto::sync::acquire_future> acq;
      std::optional<kyoto::sync::semaphore_permit> permit;
      int spins = 0;
    };
    hs.push_back(
        kyoto::spawn(ctx, kyoto::poll_fn([&, st = state()](kyoto::task_context& cx) mutable {
                       if (!st.permit) {
                         if (!st.acq)
                           st.acq.emplace(s.acquire(1 + (st.spins % 2)));
                         auto r = st.acq->poll(cx);
                         if (r.is_pending())
                           return kyoto::poll<void>(kyoto::pending);
                         st.acq.reset();
                         st.permit.emplace(std::move(r).value());
                         const int now = ++inside;
                         int m = max_inside.load();
                         while (now > m && !max_inside.compare_exchange_weak(m, now)) {
                         }
                       }
                       if (++st.spins < 5) { // hold the permit for a few polls
                         cx.get_waker().wake_by_ref();
                         return kyoto::poll<void>(kyoto::pending);
                       }
                       --inside;
                       st.permit.reset();
                       ++done;
                       return kyoto::poll<void>(kyoto::ready);
                     })));
  }
  std::thread t([&] { ctx.run(); });
  ctx.run();
  t.join();
  BOOST_TEST(done == 200);
  BOOST_TEST(max_inside <= 3);
  BOOST_TEST(max_inside >= 1);
  BOOST_TEST(s.available_permits() == 3u);
}
