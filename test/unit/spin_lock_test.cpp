// Tests of kyoto/detail/spin_lock.hpp: try_lock's answers, mutual exclusion between threads
// (a plain counter and a pair of fields that must change together; ThreadSanitizer checks the
// happens-before edges), and waiters that reach the yielding phase because the holder stays in
// its critical section for milliseconds, as a preempted holder would.

#include <kyoto/detail/spin_lock.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using kyoto::detail::spin_lock;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(try_lock_fails_while_held_and_succeeds_after_unlock) {
  spin_lock l;
  BOOST_TEST(l.try_lock());
  BOOST_TEST(!l.try_lock());
  l.unlock();
  BOOST_TEST(l.try_lock());
  l.unlock();
  {
    std::unique_lock lock(l);
    BOOST_TEST(!l.try_lock());
  }
  BOOST_TEST(l.try_lock());
  l.unlock();
}

BOOST_AUTO_TEST_CASE(threads_increment_under_the_lock_without_losing_updates) {
  constexpr int threads = 4;
  constexpr int rounds = 100'000;
  spin_lock l;
  // Not atomic: only the lock makes the updates safe. `a` and `b` must always be equal to a
  // reader that holds the lock.
  long a = 0;
  long b = 0;
  int torn = 0;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < rounds; ++i) {
        if ((i + t) % 7 == 0) {
          if (!l.try_lock())
            continue;
        } else {
          l.lock();
        }
        if (a != b)
          ++torn;
        ++a;
        ++b;
        l.unlock();
      }
    });
  }
  for (auto& th : pool)
    th.join();
  BOOST_TEST(torn == 0);
  BOOST_TEST(a == b);
  // Every lock() call got the lock; try_lock() calls may have failed.
  BOOST_TEST(a >= static_cast<long>(threads) * rounds * 6 / 7);
  BOOST_TEST(a <= static_cast<long>(threads) * rounds);
}

BOOST_AUTO_TEST_CASE(waiters_get_the_lock_after_a_long_critical_section) {
  // The holder keeps the lock for 20 ms (a preempted holder): the waiters go through their
  // spinning rounds into the yielding phase, and all of them get the lock, one at a time.
  spin_lock l;
  std::atomic<int> inside{0};
  std::atomic<int> overlap{0};
  std::atomic<int> done{0};
  l.lock();
  std::vector<std::thread> waiters;
  for (int t = 0; t < 3; ++t) {
    waiters.emplace_back([&] {
      std::lock_guard guard(l);
      if (inside.fetch_add(1) != 0)
        overlap.fetch_add(1);
      std::this_thread::sleep_for(1ms);
      inside.fetch_sub(1);
      done.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(20ms);
  BOOST_TEST(done.load() == 0);
  l.unlock();
  for (auto& th : waiters)
    th.join();
  BOOST_TEST(done.load() == 3);
  BOOST_TEST(overlap.load() == 0);
}
