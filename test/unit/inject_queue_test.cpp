// Tests of kyoto/detail/inject_queue.hpp: FIFO order across segments, the fallback list when a
// segment cannot be allocated, a differential test against a std::deque model with random
// push / push_batch / pop_batch sequences and random allocation failures, and producers and
// consumers on several threads with allocations failing now and then (run under ThreadSanitizer
// too: label concurrency).

#include <kyoto/detail/inject_queue.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

using kyoto::detail::operation;

// An operation that only has an identity.
struct item : operation {
  item() noexcept : operation(nullptr) {}
};

// Fails whenever *fail is true; counts what is live.
struct failing_allocator {
  bool* fail;
  int* live;
  void* allocate(std::size_t size) noexcept {
    if (*fail)
      return nullptr;
    ++*live;
    return ::operator new(size);
  }
  void deallocate(void* p) noexcept {
    --*live;
    ::operator delete(p);
  }
};

using test_queue = kyoto::detail::basic_inject_queue<failing_allocator>;
constexpr std::size_t seg = test_queue::segment_capacity;

std::vector<operation*> pop_all(test_queue& q, std::size_t max) {
  std::vector<operation*> out;
  q.pop_batch(max, [&](operation* op) { out.push_back(op); });
  return out;
}

struct fixture {
  bool fail = false;
  int live = 0;
  std::vector<item> items = std::vector<item>(4 * seg + 10);
  static_assert(test_queue::max_spare_segments >= 4);
};

} // namespace

BOOST_FIXTURE_TEST_CASE(fifo_across_segments_and_size, fixture) {
  {
    test_queue q(failing_allocator{&fail, &live});
    BOOST_TEST(q.empty());
    BOOST_TEST(q.pop() == nullptr);
    for (auto& i : items)
      q.push(&i);
    BOOST_TEST(q.size() == items.size());
    BOOST_TEST(live == 5); // four full segments and part of a fifth
    // Batches that end inside a segment, exactly at its end, and across two.
    std::vector<operation*> got;
    for (std::size_t max : {std::size_t{3}, seg - 3, seg + 7, std::size_t{1}, 10 * seg}) {
      auto part = pop_all(q, max);
      BOOST_TEST(part.size() <= max);
      got.insert(got.end(), part.begin(), part.end());
    }
    BOOST_REQUIRE(got.size() == items.size());
    for (std::size_t i = 0; i < items.size(); ++i)
      BOOST_TEST(got[i] == &items[i]);
    BOOST_TEST(q.empty());
    // Emptied segments are kept for reuse (up to max_spare_segments), the newest in place.
    BOOST_TEST(live == 5);
    // Refilling reuses them.
    fail = true;
    for (auto& i : items)
      q.push(&i);
    BOOST_TEST(q.fallback_length() == 0u);
    BOOST_TEST(pop_all(q, items.size()).size() == items.size());
    fail = false;
  }
  BOOST_TEST(live == 0);
}

BOOST_AUTO_TEST_CASE(at_most_max_spare_segments_are_kept) {
  bool fail = false;
  int live = 0;
  std::vector<item> many((test_queue::max_spare_segments + 12) * seg);
  test_queue q(failing_allocator{&fail, &live});
  for (auto& i : many)
    q.push(&i);
  BOOST_TEST(live == static_cast<int>(test_queue::max_spare_segments + 12));
  BOOST_TEST(pop_all(q, many.size()).size() == many.size());
  // The newest segment stays in place; of the emptied ones, max_spare_segments are kept.
  BOOST_TEST(live == static_cast<int>(test_queue::max_spare_segments + 1));
}

BOOST_FIXTURE_TEST_CASE(a_steady_flow_allocates_nothing, fixture) {
  test_queue q(failing_allocator{&fail, &live});
  for (std::size_t i = 0; i < 2 * seg; ++i)
    q.push(&items[i]);
  pop_all(q, 2 * seg);
  const int after_warm_up = live;
  fail = true; // any allocation from now on would show up on the fallback list
  for (int round = 0; round < 20; ++round) {
    std::vector<operation*> batch;
    for (std::size_t i = 0; i < seg + 5; ++i)
      batch.push_back(&items[i]);
    q.push_batch(batch);
    BOOST_TEST(pop_all(q, seg + 5).size() == seg + 5);
  }
  BOOST_TEST(q.fallback_length() == 0u);
  BOOST_TEST(live == after_warm_up);
}

BOOST_FIXTURE_TEST_CASE(without_memory_operations_wait_on_the_fallback_list_in_order, fixture) {
  test_queue q(failing_allocator{&fail, &live});
  for (std::size_t i = 0; i < seg + 2; ++i) // one full segment and two in a second
    q.push(&items[i]);
  fail = true;
  for (std::size_t i = seg + 2; i < 3 * seg; ++i) // the second fills, then no third
    q.push(&items[i]);
  BOOST_TEST(q.fallback_length() == seg);
  fail = false;
  // Memory is back, but older operations wait on the list: new ones queue behind them.
  q.push(&items[3 * seg]);
  BOOST_TEST(q.fallback_length() == seg + 1);
  BOOST_TEST(q.size() == 3 * seg + 1);
  std::vector<operation*> expected;
  for (std::size_t i = 0; i <= 3 * seg; ++i)
    expected.push_back(&items[i]);
  // Pops in parts with a push between each: the pushes queue behind everything older.
  std::vector<operation*> got;
  std::size_t fresh = 3 * seg + 1;
  while (!q.empty()) {
    auto part = pop_all(q, 100);
    got.insert(got.end(), part.begin(), part.end());
    if (fresh < items.size()) {
      q.push(&items[fresh]);
      expected.push_back(&items[fresh++]);
    }
  }
  BOOST_TEST(got == expected);
  BOOST_TEST(q.fallback_length() == 0u);
  // The list drained, later pushes use segments again.
  fail = true;
  q.push(&items[0]);
  BOOST_TEST(q.fallback_length() == 0u);
  BOOST_TEST(q.pop() == &items[0]);
}

BOOST_AUTO_TEST_CASE(differential_against_a_deque) {
  std::size_t seeds_with_fallback = 0;
  for (unsigned seed = 1; seed <= 40; ++seed) {
    bool fail = false;
    int live = 0;
    {
      std::mt19937 rng(seed);
      std::vector<item> items(20'000);
      std::size_t next = 0;
      test_queue q(failing_allocator{&fail, &live});
      std::deque<operation*> model;
      bool used_fallback = false;
      for (int step = 0; step < 3'000 && next < items.size(); ++step) {
        fail = rng() % 8 == 0; // now and then no memory
        switch (rng() % 3) {
        case 0: {
          q.push(&items[next]);
          model.push_back(&items[next++]);
          break;
        }
        case 1: {
          std::vector<operation*> batch;
          const std::size_t n = rng() % 300;
          for (std::size_t i = 0; i < n && next < items.size(); ++i)
            batch.push_back(&items[next++]);
          q.push_batch(batch);
          model.insert(model.end(), batch.begin(), batch.end());
          break;
        }
        default: {
          const std::size_t max = rng() % 400;
          auto got = pop_all(q, max);
          BOOST_REQUIRE_EQUAL(got.size(), std::min(max, model.size()));
          for (operation* op : got) {
            BOOST_REQUIRE(op == model.front());
            model.pop_front();
          }
        }
        }
        BOOST_REQUIRE_EQUAL(q.size(), model.size());
        if (step % 64 == 0 && q.fallback_length() > 0)
          used_fallback = true;
      }
      seeds_with_fallback += used_fallback;
      fail = false;
      auto rest = pop_all(q, model.size() + 1);
      BOOST_REQUIRE(rest == std::vector<operation*>(model.begin(), model.end()));
      BOOST_TEST(q.empty());
    }
    BOOST_TEST(live == 0);
  }
  // The random failures did reach the fallback list (and its transitions back).
  BOOST_TEST(seeds_with_fallback >= 10u);
}

// Fails every third allocation, from any thread.
struct flaky_allocator {
  std::atomic<int>* calls;
  void* allocate(std::size_t size) noexcept {
    if (calls->fetch_add(1) % 3 == 2)
      return nullptr;
    return ::operator new(size);
  }
  void deallocate(void* p) noexcept { ::operator delete(p); }
};

BOOST_AUTO_TEST_CASE(producers_and_consumers_on_threads_lose_nothing) {
  constexpr int producers = 3;
  constexpr int per_producer = 20'000;
  std::vector<item> items(producers * per_producer);
  std::atomic<int> allocations{0};
  kyoto::detail::basic_inject_queue<flaky_allocator> q(flaky_allocator{&allocations});
  std::vector<std::atomic<int>> seen(items.size());
  std::atomic<int> popped{0};
  std::atomic<bool> out_of_order{false};
  auto consume = [&] {
    // Operations of one producer come out in its order (FIFO per producer).
    std::vector<std::ptrdiff_t> last(producers, -1);
    while (popped.load() < static_cast<int>(items.size())) {
      q.pop_batch(1 + static_cast<std::size_t>(popped.load() % 97), [&](operation* op) {
        const auto index = static_cast<item*>(op) - items.data();
        const auto producer = index / per_producer;
        if (index <= last[static_cast<std::size_t>(producer)])
          out_of_order = true;
        last[static_cast<std::size_t>(producer)] = index;
        seen[static_cast<std::size_t>(index)].fetch_add(1);
        popped.fetch_add(1);
      });
    }
  };
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer;) {
        if (i % 3 == 0) {
          q.push(&items[static_cast<std::size_t>(p * per_producer + i)]);
          ++i;
        } else {
          std::vector<operation*> batch;
          for (int k = 0; k < 50 && i < per_producer; ++k, ++i)
            batch.push_back(&items[static_cast<std::size_t>(p * per_producer + i)]);
          q.push_batch(batch);
        }
      }
    });
  std::thread c1(consume), c2(consume);
  for (auto& t : threads)
    t.join();
  c1.join();
  c2.join();
  BOOST_TEST(q.empty());
  int wrong = 0;
  for (auto& s : seen)
    wrong += s.load() != 1;
  BOOST_TEST(wrong == 0);
  // Per consumer; two consumers may interleave one producer's items between them, but each
  // sees that producer's items in increasing order.
  BOOST_TEST(!out_of_order.load());
}
