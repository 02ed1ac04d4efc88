// Tests of kyoto/detail/operation_cache.hpp: LIFO reuse within a size class, the per-thread bound
// and the magazines that go to the shared pool, blocks freed on one thread coming back to another
// through the pool without allocating once warm, the pool's capacity, what a thread leaves
// behind when it ends, and a multi-threaded exchange of blocks whose contents are checked
// (ThreadSanitizer and AddressSanitizer builds run it).

#include <kyoto/detail/operation_cache.hpp>

#include "../support/counting_new.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <pthread.h>
#include <random>
#include <set>
#include <thread>
#include <vector>

using kyoto::detail::operation_cache;
using kyoto_test::counted_news;
using kyoto_test::counting_news;

namespace {

constexpr std::size_t batch = operation_cache::batch_blocks;

// Empties the calling thread's magazines into the shared pool, so a test starts from a known state.
void start_clean() {
  operation_cache::flush_this_thread();
}

} // namespace

BOOST_AUTO_TEST_CASE(fits_says_which_requests_the_cache_serves) {
  BOOST_TEST(operation_cache::fits(1, 1));
  BOOST_TEST(operation_cache::fits(256, 16));
  BOOST_TEST(!operation_cache::fits(0, 1));
  BOOST_TEST(!operation_cache::fits(257, 8));
  BOOST_TEST(!operation_cache::fits(64, 2 * __STDCPP_DEFAULT_NEW_ALIGNMENT__));
}

BOOST_AUTO_TEST_CASE(a_freed_block_is_the_next_one_handed_out_in_its_size_class) {
  start_clean();
  void* a = operation_cache::allocate(32);
  std::memset(a, 0xab, 32); // the whole class size is usable
  operation_cache::deallocate(a, 32);
  BOOST_TEST(operation_cache::thread_count(32) == 1u);
  // 17..32 bytes share a class; 16 is another one.
  void* small = operation_cache::allocate(16);
  BOOST_TEST(small != a);
  void* b = operation_cache::allocate(17);
  BOOST_TEST(b == a);
  BOOST_TEST(operation_cache::thread_count(32) == 0u);
  operation_cache::deallocate(b, 17);
  operation_cache::deallocate(small, 16);
  start_clean();
}

#if defined(KYOTO_OPERATION_CACHE_ASAN)
BOOST_AUTO_TEST_CASE(a_cached_block_is_poisoned_for_address_sanitizer) {
  start_clean();
  auto* p = static_cast<char*>(operation_cache::allocate(64));
  BOOST_TEST(!__asan_address_is_poisoned(p + 32));
  operation_cache::deallocate(p, 64);
  // A handler's storage used after its free is reported: the whole block is poisoned.
  BOOST_TEST(__asan_address_is_poisoned(p));
  BOOST_TEST(__asan_address_is_poisoned(p + 16));
  BOOST_TEST(__asan_address_is_poisoned(p + 63));
  BOOST_TEST(operation_cache::allocate(64) == static_cast<void*>(p)); // not char*: no strcmp
  BOOST_TEST(!__asan_address_is_poisoned(p + 63));
  operation_cache::deallocate(p, 64);
  start_clean();
}
#endif

BOOST_AUTO_TEST_CASE(a_thread_keeps_a_bounded_cache_and_gives_magazines_to_the_shared_pool) {
  start_clean();
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i)
    blocks.push_back(operation_cache::allocate(48));
  const std::size_t shared_before = operation_cache::shared_bytes();
  for (void* p : blocks)
    operation_cache::deallocate(p, 48);
  BOOST_TEST(operation_cache::thread_count(48) <= operation_cache::thread_blocks);
  BOOST_TEST(operation_cache::thread_count(48) +
                 (operation_cache::shared_bytes() - shared_before) / 48 ==
             1000u);
  BOOST_TEST((operation_cache::shared_bytes() - shared_before) % (batch * 48) == 0u);
  // Allocating them again drains the thread's magazines, then takes full ones back.
  blocks.clear();
  for (int i = 0; i < 1000; ++i)
    blocks.push_back(operation_cache::allocate(48));
  BOOST_TEST(operation_cache::shared_bytes() == shared_before);
  for (void* p : blocks)
    operation_cache::deallocate(p, 48);
  start_clean();
}

BOOST_AUTO_TEST_CASE(blocks_freed_by_a_consumer_thread_come_back_to_the_producer) {
  start_clean();
  constexpr int n = 1000;
  std::vector<void*> produced;
  for (int i = 0; i < n; ++i)
    produced.push_back(operation_cache::allocate(64));
  // The consumer frees everything and ends: its full magazines go to the shared pool.
  std::thread consumer([&] {
    for (void* p : produced)
      operation_cache::deallocate(p, 64);
  });
  consumer.join();
  const std::set<void*> freed(produced.begin(), produced.end());
  std::vector<void*> again;
  for (int i = 0; i < n; ++i)
    again.push_back(operation_cache::allocate(64));
  const auto reused =
      std::count_if(again.begin(), again.end(), [&](void* p) { return freed.count(p) != 0; });
  // All but the consumer's last partial magazine (given back to operator delete).
  BOOST_TEST(static_cast<std::size_t>(reused) >= n / batch * batch);
  for (void* p : again)
    operation_cache::deallocate(p, 64);
  start_clean();
}

BOOST_AUTO_TEST_CASE(the_shared_pool_never_holds_more_than_its_capacity) {
  start_clean();
  constexpr std::size_t size = operation_cache::largest;
  const std::size_t n = operation_cache::shared_capacity_bytes() / size + 4 * batch;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < n; ++i)
    blocks.push_back(operation_cache::allocate(size));
  for (void* p : blocks)
    operation_cache::deallocate(p, size);
  BOOST_TEST(operation_cache::shared_bytes() <= operation_cache::shared_capacity_bytes());
  // The pool is full: what a flush cannot place is deleted, not kept.
  start_clean();
  BOOST_TEST(operation_cache::thread_count(size) == 0u);
  BOOST_TEST(operation_cache::shared_bytes() <= operation_cache::shared_capacity_bytes());
  // Take the pool's blocks back out, so later tests (and LeakSanitizer) see it small.
  blocks.clear();
  for (std::size_t i = 0; i < n; ++i)
    blocks.push_back(operation_cache::allocate(size));
  for (void* p : blocks)
    ::operator delete(p);
}

BOOST_AUTO_TEST_CASE(a_thread_that_only_allocates_gives_back_what_it_took_when_it_ends) {
  // The producer side of a post from outside the workers: it never frees, but refills from the
  // shared pool. What it has not used when it ends must not be lost (LeakSanitizer checks this
  // in the ASan build; the pool's byte count shows the refill happened).
  start_clean();
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 2 * operation_cache::thread_blocks; ++i)
    blocks.push_back(operation_cache::allocate(80));
  for (void* p : blocks)
    operation_cache::deallocate(p, 80);
  start_clean(); // now the pool holds at least one batch of 80-byte blocks
  const std::size_t before = operation_cache::shared_bytes();
  BOOST_REQUIRE(before >= batch * 80);
  std::vector<void*> taken;
  std::thread producer([&] {
    for (int i = 0; i < 10; ++i)
      taken.push_back(operation_cache::allocate(80));
  });
  producer.join();
  BOOST_TEST(operation_cache::shared_bytes() == before - batch * 80);
  for (void* p : taken)
    operation_cache::deallocate(p, 80);
  start_clean();
}

BOOST_AUTO_TEST_CASE(blocks_first_freed_in_a_pthread_key_destructor_are_flushed_too) {
  // glibc runs thread_local destructors before pthread key destructors and never returns to
  // them: a flush registered from a key destructor must still run (LeakSanitizer reports the
  // blocks otherwise; the pool's byte count shows the flush).
  constexpr std::size_t size = 208;
  constexpr std::size_t n = 200;
  start_clean();
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < n; ++i)
    blocks.push_back(operation_cache::allocate(size));
  const std::size_t before = operation_cache::shared_bytes();
  pthread_key_t key;
  BOOST_REQUIRE(pthread_key_create(&key, [](void* v) {
                  for (void* p : *static_cast<std::vector<void*>*>(v))
                    operation_cache::deallocate(p, size);
                }) == 0);
  std::thread t([&] { pthread_setspecific(key, &blocks); });
  t.join();
  pthread_key_delete(key);
  // Every full batch reached the pool: those spilled while freeing and the one the exit flush
  // made of the rest.
  BOOST_TEST(operation_cache::shared_bytes() - before == n / batch * batch * size);
  for (std::size_t i = 0; i < n; ++i)
    ::operator delete(operation_cache::allocate(size));
  start_clean();
}

BOOST_AUTO_TEST_CASE(an_ending_thread_flushes_its_magazines_and_later_frees_bypass_the_cache) {
  std::size_t kept_after_close = 1;
  std::thread t([&] {
    void* a = operation_cache::allocate(32);
    void* b = operation_cache::allocate(32);
    operation_cache::deallocate(a, 32);
    operation_cache::flush_this_thread(true);
    operation_cache::deallocate(b, 32); // goes to operator delete
    kept_after_close = operation_cache::thread_count(32);
  });
  t.join();
  BOOST_TEST(kept_after_close == 0u);
}

BOOST_AUTO_TEST_CASE(threads_exchanging_blocks_never_share_one) {
  // Four threads allocate blocks of random sizes, stamp them with their owner's mark, and hand
  // them to each other through a locked exchange; the receiver checks the stamp before freeing.
  // A block handed out twice at once would be stamped by two owners and fail the check.
  constexpr int threads = 4;
  constexpr int rounds = 50'000;
  struct stamped {
    void* p;
    std::size_t size;
    std::uint64_t mark;
  };
  std::mutex exchange_mutex;
  std::vector<stamped> exchange;
  std::atomic<int> bad{0};
  auto check_and_free = [&](const stamped& s) {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::memcpy(&first, s.p, sizeof first);
    std::memcpy(&last, static_cast<char*>(s.p) + s.size - sizeof last, sizeof last);
    if (first != s.mark || last != s.mark)
      ++bad;
    operation_cache::deallocate(s.p, s.size);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < rounds; ++i) {
        const std::size_t size = 16 * (1 + rng() % 16);
        const std::uint64_t mark = (static_cast<std::uint64_t>(t) << 32) | static_cast<unsigned>(i);
        void* p = operation_cache::allocate(size);
        std::memcpy(p, &mark, sizeof mark);
        std::memcpy(static_cast<char*>(p) + size - sizeof mark, &mark, sizeof mark);
        std::vector<stamped> received;
        {
          std::lock_guard lock(exchange_mutex);
          exchange.push_back({p, size, mark});
          if (exchange.size() > 200 || rng() % 8 == 0) {
            const std::size_t take = std::min<std::size_t>(exchange.size(), 1 + rng() % 100);
            received.assign(exchange.end() - static_cast<std::ptrdiff_t>(take), exchange.end());
            exchange.resize(exchange.size() - take);
          }
        }
        for (const stamped& s : received)
          check_and_free(s);
      }
    });
  }
  for (auto& th : pool)
    th.join();
  for (const stamped& s : exchange)
    check_and_free(s);
  BOOST_TEST(bad.load() == 0);
  start_clean();
}

BOOST_AUTO_TEST_CASE(a_threads_first_free_in_a_new_class_allocates_nothing) {
  // A thread that has used the cache holds an empty magazine for every class, so the first
  // handler of a new size it runs (a thief's first task of a chain, say) costs no allocation.
  // The allocation usually finds nothing cached and calls operator new; when an earlier test
  // left a full magazine of this class in the shared pool, it takes that one instead (then the
  // thread holds its other 63 blocks). Either way the free adds the block to the thread's own.
  long news = -1;
  std::size_t before = 0;
  std::size_t kept = 0;
  std::thread t([&] {
    operation_cache::deallocate(operation_cache::allocate(32), 32); // the thread's first use
    void* p = operation_cache::allocate(200);
    before = operation_cache::thread_count(200);
    counted_news = 0;
    counting_news = true;
    operation_cache::deallocate(p, 200);
    counting_news = false;
    news = counted_news;
    kept = operation_cache::thread_count(200);
  });
  t.join();
  BOOST_TEST(news == 0);
  BOOST_TEST(kept == before + 1);
}

BOOST_AUTO_TEST_CASE(blocks_cycle_between_a_producer_and_a_consumer_without_allocating) {
  // The main thread allocates 1,000 blocks a round, a consumer thread frees them: full magazines
  // go from the consumer to the producer through the shared pool, empty ones the other way. Once
  // the cycle has warmed up, a round calls operator new for neither blocks nor magazines.
  if (operation_cache::shared_capacity_bytes() < 4000 * 64) {
    BOOST_TEST_MESSAGE("skipped: kyoto built with a shared pool too small for this test");
    return;
  }
  start_clean();
  constexpr int n = 1000;
  constexpr int rounds = 6;
  std::vector<void*> blocks(n);
  std::atomic<int> handed{0};   // rounds handed to the consumer
  std::atomic<int> consumed{0}; // rounds it has freed
  std::thread consumer([&] {
    for (int r = 1; r <= rounds; ++r) {
      while (handed.load() < r)
        std::this_thread::yield();
      for (void* p : blocks)
        operation_cache::deallocate(p, 64);
      consumed.store(r);
    }
  });
  long last_round_news = -1;
  for (int r = 1; r <= rounds; ++r) {
    counted_news = 0;
    counting_news = r == rounds;
    for (void*& p : blocks)
      p = operation_cache::allocate(64);
    handed.store(r);
    while (consumed.load() < r)
      std::this_thread::yield();
    counting_news = false;
    last_round_news = counted_news;
  }
  consumer.join();
  BOOST_TEST(last_round_news == 0);
  start_clean();
}
