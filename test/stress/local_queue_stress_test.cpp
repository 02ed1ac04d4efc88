// Stress test of kyoto/detail/local_queue.hpp: one owner pushes and pops (overflow going to a
// mutex-protected vector) while three thieves steal into their own queues, steal from each
// other, and drain. Every item must come out exactly once, with the payload the owner wrote.

#include <kyoto/detail/local_queue.hpp>

#include <boost/test/unit_test.hpp>

#include "support/sanitizers.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <span>
#include <thread>
#include <vector>

namespace {

constexpr std::uint32_t item_count = kyoto_test::sanitized ? 100'000 : 1'000'000;

constexpr int thief_count = 3;

struct item {
  std::uint32_t id = 0;
  // Written by the owner before the push; a thief that sees another value read a slot that the
  // queue did not publish properly.
  std::uint64_t payload = 0;
};

std::uint64_t payload_of(std::uint32_t id) {
  return (id + 1) * 0x9E3779B97F4A7C15ull;
}

struct counters {
  std::uint64_t steals = 0;
  std::uint64_t stolen = 0;
  std::uint64_t overflow_batches = 0;
  std::uint64_t overflow_items = 0;
};

template <std::uint32_t C>
void run_stress() {
  using queue = kyoto::detail::local_queue<item, C>;
  std::vector<item> items(item_count);
  queue owner_queue;
  queue thief_queues[thief_count];

  std::mutex overflow_mutex;
  std::vector<item*> overflowed;
  std::uint64_t overflow_batches = 0;

  std::atomic<int> started{0};
  std::atomic<bool> done{false};
  // What each thread took out of the queues; merged after the joins.
  std::vector<item*> seen[thief_count + 1];
  counters stats[thief_count + 1];

  auto thief = [&](int self) {
    std::minstd_rand rng(static_cast<unsigned>(self) + 7);
    queue& mine = thief_queues[self];
    auto& out = seen[self];
    started.fetch_add(1);
    for (;;) {
      // acquire: pairs with the owner's release store; after it the owner's queue is empty for
      // good, and only our own queue can still hold items for us.
      if (done.load(std::memory_order_acquire))
        break;
      // Mostly the owner; sometimes another thief, so a queue is stolen from while it is being
      // stolen into.
      queue* victim = &owner_queue;
      if (rng() % 4 == 0)
        victim =
            &thief_queues[(self + 1 + static_cast<int>(rng() % (thief_count - 1))) % thief_count];
      std::uint32_t n = 0;
      if (item* it = mine.steal_from(*victim, &n)) {
        out.push_back(it);
        ++stats[self].steals;
        stats[self].stolen += n;
      } else if (mine.empty()) {
        // Nothing to do: let the owner run (the machine may have fewer cores than threads).
        std::this_thread::yield();
      }
      // Leave some behind for the other thieves.
      for (unsigned k = rng() % 4; k != 0; --k) {
        item* it = mine.pop();
        if (!it)
          break;
        out.push_back(it);
      }
    }
    while (item* it = mine.pop())
      out.push_back(it);
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < thief_count; ++i)
    threads.emplace_back(thief, i);
  while (started.load() != thief_count)
    std::this_thread::yield();

  // The owner, on this thread.
  {
    std::minstd_rand rng(C);
    auto& out = seen[thief_count];
    auto overflow = [&](std::span<item* const> batch) {
      std::lock_guard lock(overflow_mutex);
      overflowed.insert(overflowed.end(), batch.begin(), batch.end());
      ++overflow_batches;
    };
    std::uint32_t next = 0;
    while (next != item_count) {
      // A burst of pushes (sometimes longer than the queue, to force overflows), then pops.
      for (std::uint32_t k = rng() % (2 * C) + 1; k != 0 && next != item_count; --k, ++next) {
        items[next].id = next;
        items[next].payload = payload_of(next);
        owner_queue.push_back(&items[next], overflow);
      }
      if (rng() % 4 == 0) {
        // A batch that fits, published with one store (as an injection-queue pop does).
        std::vector<item*> batch;
        for (std::uint32_t k = rng() % (owner_queue.remaining_slots() + 1);
             k != 0 && next != item_count; --k, ++next) {
          items[next].id = next;
          items[next].payload = payload_of(next);
          batch.push_back(&items[next]);
        }
        owner_queue.push_batch(batch);
      }
      for (std::uint32_t k = rng() % (C + 1); k != 0; --k) {
        item* it = owner_queue.pop();
        if (!it)
          break;
        out.push_back(it);
      }
      if (rng() % 8 == 0) {
        // Give the thieves a chance to run while this queue holds work.
        std::this_thread::yield();
      }
      if (rng() % 16 == 0) {
        std::uint32_t n = 0;
        if (item* it = owner_queue.steal_from(thief_queues[rng() % thief_count], &n)) {
          out.push_back(it);
          ++stats[thief_count].steals;
          stats[thief_count].stolen += n;
        }
      }
    }
    while (item* it = owner_queue.pop())
      out.push_back(it);
    // release: pairs with the thieves' acquire loads (see there).
    done.store(true, std::memory_order_release);
  }
  for (auto& t : threads)
    t.join();

  // Every item exactly once, with its payload.
  std::vector<std::uint32_t> count(item_count, 0);
  std::uint64_t bad_payload = 0;
  std::uint64_t out_of_range = 0;
  auto tally = [&](const std::vector<item*>& list) {
    for (item* it : list) {
      const auto index = static_cast<std::size_t>(it - items.data());
      if (it < items.data() || index >= item_count) {
        ++out_of_range;
        continue;
      }
      ++count[index];
      if (it->id != index || it->payload != payload_of(it->id))
        ++bad_payload;
    }
  };
  for (const auto& list : seen)
    tally(list);
  tally(overflowed);

  std::uint64_t missing = 0;
  std::uint64_t duplicated = 0;
  for (std::uint32_t c : count) {
    if (c == 0)
      ++missing;
    else if (c > 1)
      ++duplicated;
  }
  BOOST_TEST(out_of_range == 0u);
  BOOST_TEST(missing == 0u);
  BOOST_TEST(duplicated == 0u);
  BOOST_TEST(bad_payload == 0u);
  BOOST_TEST(owner_queue.empty());
  for (const auto& q : thief_queues)
    BOOST_TEST(q.empty());

  counters total;
  for (const auto& s : stats) {
    total.steals += s.steals;
    total.stolen += s.stolen;
  }
  BOOST_TEST_MESSAGE("capacity " << C << ": " << item_count << " items, " << total.steals
                                 << " steals moving " << total.stolen << " items, "
                                 << overflow_batches << " overflow batches moving "
                                 << overflowed.size() << " items");
  // Timing dependent on a loaded machine, so a warning rather than a failure.
  BOOST_WARN(total.steals > 0u);
  BOOST_WARN(overflow_batches > 0u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(local_queue_stress)

BOOST_AUTO_TEST_CASE(capacity_4) {
  run_stress<4>();
}
BOOST_AUTO_TEST_CASE(capacity_256) {
  run_stress<256>();
}

BOOST_AUTO_TEST_SUITE_END()
