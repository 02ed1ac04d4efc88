// Tests for kyoto::detail::basic_timer_wheel: a differential test against a std::multimap
// model (shared with the fuzz target) on several geometries, then the edge cases one by one.
#include <kyoto/detail/timer_wheel.hpp>

#include <boost/test/unit_test.hpp>

#include "fuzz/timer_wheel_harness.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

using kyoto::detail::basic_timer_wheel;
using kyoto::detail::timer_entry;
using kyoto::detail::timer_wheel;
using kyoto::test::tick_max;

// 3 levels x 4 slots: range 64 ticks, so clamping, re-arming and cascades happen constantly.
using tiny_wheel = basic_timer_wheel<3, 2>;

struct timer : timer_entry {
  // Which timer this is, for the tests' bookkeeping.
  int id = 0;
};

// Collects what advance() delivers.
struct recorder {
  // The ids delivered, in order.
  std::vector<int> ids;
  // Their deadlines, in order.
  std::vector<std::uint64_t> deadlines;

  auto fn() {
    return [this](timer_entry& e) {
      ids.push_back(static_cast<timer&>(e).id);
      deadlines.push_back(e.deadline());
    };
  }
};

// How often the sequences reached the early-cascade paths (a test checks that they do).
struct cascade_counts {
  // Effective early cascades.
  std::size_t early = 0;
  // Early cascades that left part of the slot for later.
  std::size_t partial = 0;
};

// Random byte strings, decoded by the harness into insert/remove/advance sequences.
template <unsigned Levels, unsigned SlotBits>
cascade_counts run_differential(unsigned seeds, std::size_t bytes, std::uint64_t start_mode) {
  cascade_counts counts;
  std::mt19937_64 rng(Levels * 1000 + SlotBits);
  std::vector<std::uint8_t> input(bytes);
  for (unsigned seed = 0; seed < seeds; ++seed) {
    for (std::uint8_t& b : input) {
      b = static_cast<std::uint8_t>(rng());
    }
    std::uint64_t start = 0;
    if (start_mode == 1) {
      start = rng();
    } else if (start_mode == 2) {
      start = tick_max - rng() % 100000;
    }
    kyoto::test::byte_reader in(input.data(), input.size());
    const std::string error = kyoto::test::run_timer_wheel_ops<Levels, SlotBits>(
        in, start, 1 + seed % 64, &counts.early, &counts.partial);
    BOOST_TEST_REQUIRE(error.empty(), "seed " << seed << ": " << error);
  }
  return counts;
}

// run_differential with start times 0, random and near the end of time; the sequences must
// reach the early-cascade paths, whole and in parts.
template <unsigned Levels, unsigned SlotBits>
void run_differentials(unsigned seeds, unsigned other_seeds, std::size_t bytes) {
  cascade_counts total;
  for (std::uint64_t mode = 0; mode < 3; ++mode) {
    const cascade_counts c =
        run_differential<Levels, SlotBits>(mode == 0 ? seeds : other_seeds, bytes, mode);
    total.early += c.early;
    total.partial += c.partial;
  }
  BOOST_TEST(total.early > 100u);
  BOOST_TEST(total.partial > 10u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(timer_wheel_differential)

BOOST_AUTO_TEST_CASE(default_geometry) {
  run_differentials<6, 6>(300, 100, 3000);
}

BOOST_AUTO_TEST_CASE(tiny_geometry) {
  run_differentials<3, 2>(400, 100, 3000);
}

BOOST_AUTO_TEST_CASE(other_geometries) {
  run_differential<2, 1>(200, 2000, 0);
  run_differential<1, 3>(200, 2000, 0);
  run_differential<4, 3>(200, 2000, 1);
}

// The harness itself must catch a wrong wheel: a model that disagrees is reported.
BOOST_AUTO_TEST_CASE(harness_detects_mismatch) {
  kyoto::test::wheel_differ<3, 2> d(4, 0);
  BOOST_TEST(d.insert(0, 10));
  BOOST_TEST(d.advance(9, nullptr));
  BOOST_TEST(d.advance(10, nullptr));
  BOOST_TEST(d.delivered() == 1u);
  BOOST_TEST(!d.fail("injected"));
  BOOST_TEST(!d.check());
  BOOST_TEST(d.error().find("injected") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(timer_wheel_edges)

BOOST_AUTO_TEST_CASE(deadline_now_or_past_is_refused) {
  timer_wheel w(100);
  timer t;
  BOOST_TEST(!w.insert(t, 100));
  BOOST_TEST(!w.insert(t, 99));
  BOOST_TEST(!w.insert(t, 0));
  BOOST_TEST(!w.is_armed(t));
  BOOST_TEST(w.empty());
  BOOST_TEST(!w.next_expiration());
  BOOST_TEST(w.insert(t, 101));
  BOOST_TEST(w.is_armed(t));
  BOOST_TEST(w.size() == 1u);
  BOOST_TEST(*w.next_expiration() == 101u);
  recorder r;
  BOOST_TEST(w.advance(100, r.fn()) == 0u);
  BOOST_TEST(w.advance(101, r.fn()) == 1u);
  BOOST_TEST(!w.is_armed(t));
  BOOST_TEST(w.empty());
}

BOOST_AUTO_TEST_CASE(advance_backwards_throws) {
  timer_wheel w(50);
  BOOST_CHECK_THROW(w.advance(49, [](timer_entry&) {}), std::invalid_argument);
  BOOST_TEST(w.now() == 50u);
  BOOST_TEST(w.advance(50, [](timer_entry&) {}) == 0u);
}

BOOST_AUTO_TEST_CASE(each_level_insert_remove_fire) {
  constexpr std::uint64_t s = timer_wheel::slots_per_level;
  for (unsigned level = 0; level < timer_wheel::level_count; ++level) {
    std::uint64_t span = 1;
    for (unsigned i = 0; i < level; ++i) {
      span *= s;
    }
    timer_wheel w(0);
    timer kept;
    timer removed;
    // Deadline 3 * span - 1 .. : the highest differing digit from 0 is digit `level`.
    const std::uint64_t deadline = 3 * span + 1;
    BOOST_TEST(w.insert(kept, deadline));
    BOOST_TEST(w.insert(removed, deadline));
    BOOST_TEST(w.level_of(kept) == static_cast<int>(level));
    BOOST_TEST(w.level_of(removed) == static_cast<int>(level));
    w.remove(removed);
    BOOST_TEST(!w.is_armed(removed));
    BOOST_TEST(w.level_of(removed) == -1);
    w.remove(removed); // removing an unarmed entry is a no-op
    BOOST_TEST(w.size() == 1u);
    BOOST_TEST(w.check_invariants());
    recorder r;
    BOOST_TEST(w.advance(deadline - 1, r.fn()) == 0u);
    BOOST_TEST(w.is_armed(kept));
    BOOST_TEST(w.level_of(kept) == 0); // cascaded all the way down
    BOOST_TEST(*w.next_expiration() == deadline);
    BOOST_TEST(w.advance(deadline, r.fn()) == 1u);
    BOOST_TEST(r.deadlines == std::vector<std::uint64_t>{deadline});
    BOOST_TEST(w.empty());
  }
}

BOOST_AUTO_TEST_CASE(far_future_is_clamped_and_rearmed) {
  tiny_wheel w(5);
  BOOST_TEST(tiny_wheel::range == 64u);
  timer t;
  t.id = 7;
  const std::uint64_t deadline = 5 + 1000;
  BOOST_TEST(w.insert(t, deadline));
  BOOST_TEST(w.level_of(t) == 2);
  recorder r;
  // Walk from expiration to expiration: it is re-armed many times, never fired before 1005.
  int steps = 0;
  while (w.now() < deadline - 1) {
    const std::uint64_t next = *w.next_expiration();
    BOOST_TEST(next > w.now());
    BOOST_TEST(next <= deadline);
    BOOST_TEST(w.advance(std::min(next, deadline - 1), r.fn()) == 0u);
    BOOST_TEST(w.check_invariants());
    ++steps;
  }
  BOOST_TEST(steps > 1000 / 64);
  BOOST_TEST(w.is_armed(t));
  BOOST_TEST(w.advance(deadline, r.fn()) == 1u);
  BOOST_TEST(r.ids == std::vector<int>{7});
}

BOOST_AUTO_TEST_CASE(extreme_deadlines_do_not_overflow) {
  timer_wheel w(0);
  timer a;
  timer b;
  timer c;
  a.id = 1;
  b.id = 2;
  c.id = 3;
  BOOST_TEST(w.insert(a, tick_max));
  BOOST_TEST(w.insert(b, tick_max - 1));
  BOOST_TEST(w.insert(c, tick_max / 2));
  BOOST_TEST(*w.next_expiration() < timer_wheel::range);
  recorder r;
  BOOST_TEST(w.advance(tick_max - 2, r.fn()) == 1u); // one huge jump
  BOOST_TEST(r.ids == std::vector<int>{3});
  BOOST_TEST(w.check_invariants());
  BOOST_TEST(*w.next_expiration() == tick_max - 1);
  BOOST_TEST(w.advance(tick_max - 1, r.fn()) == 1u);
  BOOST_TEST(w.advance(tick_max, r.fn()) == 1u);
  BOOST_TEST((r.ids == std::vector<int>{3, 2, 1}));
  BOOST_TEST(!w.insert(a, tick_max)); // nothing can be later than the end of time
  BOOST_TEST(w.empty());
}

BOOST_AUTO_TEST_CASE(start_near_end_of_time) {
  tiny_wheel w(tick_max - 100);
  std::vector<timer> ts(20);
  for (int i = 0; i < 20; ++i) {
    ts[i].id = i;
    BOOST_TEST(w.insert(ts[i], tick_max - static_cast<std::uint64_t>(i) * 5));
  }
  recorder r;
  while (!w.empty()) {
    const std::uint64_t next = *w.next_expiration();
    w.advance(next, r.fn());
    BOOST_TEST(w.check_invariants());
  }
  BOOST_TEST(r.ids.size() == 20u);
  BOOST_TEST(std::is_sorted(r.deadlines.begin(), r.deadlines.end()));
  BOOST_TEST(r.deadlines.back() == tick_max);
}

BOOST_AUTO_TEST_CASE(huge_jump_delivers_in_deadline_order) {
  tiny_wheel w(0);
  std::vector<timer> ts(100);
  std::mt19937_64 rng(3);
  std::vector<std::uint64_t> expected;
  for (int i = 0; i < 100; ++i) {
    ts[i].id = i;
    const std::uint64_t deadline = 1 + rng() % 100000;
    expected.push_back(deadline);
    BOOST_TEST(w.insert(ts[i], deadline));
  }
  timer beyond;
  BOOST_TEST(w.insert(beyond, 200000));
  std::sort(expected.begin(), expected.end());
  recorder r;
  const auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(w.advance(150000, r.fn()) == 100u);
  BOOST_TEST(r.deadlines == expected);
  BOOST_TEST(w.size() == 1u);
  BOOST_TEST(w.check_invariants());
  // A jump to the end of time from a tiny wheel must not step through 2^64 / 64 turns.
  BOOST_TEST(w.advance(tick_max, r.fn()) == 1u);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)));
}

BOOST_AUTO_TEST_CASE(callback_can_rearm_and_remove) {
  timer periodic;
  periodic.id = 1;
  timer victim;
  victim.id = 2;
  timer late;
  late.id = 3;
  tiny_wheel w(0); // declared after the entries, so it is destroyed (and disarms them) first
  BOOST_TEST(w.insert(periodic, 10));
  BOOST_TEST(w.insert(victim, 10)); // due together with periodic, removed by its callback
  BOOST_TEST(w.insert(late, 12));
  std::vector<int> seen;
  int fires = 0;
  auto fn = [&](timer_entry& e) {
    timer& t = static_cast<timer&>(e);
    seen.push_back(t.id);
    if (t.id == 1) {
      ++fires;
      BOOST_TEST(!w.is_armed(t));
      BOOST_TEST(!w.insert(t, w.now()));          // at now: refused
      BOOST_TEST(w.insert(t, t.deadline() + 10)); // periodic, no drift
      w.remove(victim);
      if (fires == 1) {
        BOOST_TEST(w.insert(late, w.now() + 1)); // re-arm a due, undelivered entry for later
      }
    }
  };
  BOOST_TEST(w.advance(15, fn) == 1u);
  BOOST_TEST(seen == std::vector<int>{1});
  BOOST_TEST(!w.is_armed(victim));
  BOOST_TEST(w.is_armed(late));
  BOOST_TEST(late.deadline() == 16u);
  BOOST_TEST(periodic.deadline() == 20u);
  for (std::uint64_t t = 16; t <= 1000; t += 7) {
    w.advance(t, fn);
    BOOST_TEST(w.check_invariants());
  }
  // Advances at 16, 23, ..., 996 deliver deadlines 20, 30, ..., 990: 98 more, one per call.
  BOOST_TEST(fires == 1 + 98);
  BOOST_TEST(std::count(seen.begin(), seen.end(), 1) == 99);
  BOOST_TEST(std::count(seen.begin(), seen.end(), 3) == 1); // `late`, at 16
  BOOST_TEST(std::count(seen.begin(), seen.end(), 2) == 0); // removed while due
}

BOOST_AUTO_TEST_CASE(throwing_callback_leaves_the_rest_pending) {
  timer_wheel w(0);
  std::vector<timer> ts(3);
  for (int i = 0; i < 3; ++i) {
    ts[i].id = i;
    BOOST_TEST(w.insert(ts[i], 5));
  }
  int calls = 0;
  BOOST_CHECK_THROW(w.advance(7,
                              [&](timer_entry&) {
                                ++calls;
                                throw std::runtime_error("boom");
                              }),
                    std::runtime_error);
  BOOST_TEST(calls == 1);
  BOOST_TEST(w.size() == 2u);
  BOOST_TEST(*w.next_expiration() == 7u); // the rest is due now
  BOOST_TEST(w.check_invariants());
  w.remove(ts[2]); // a pending entry can still be cancelled
  BOOST_TEST(!w.is_armed(ts[2]));
  recorder r;
  BOOST_TEST(w.advance(7, r.fn()) == 1u);
  BOOST_TEST(w.empty());
}

BOOST_AUTO_TEST_CASE(insert_of_armed_entry_rearms) {
  timer_wheel w(0);
  timer t;
  BOOST_TEST(w.insert(t, 1000));
  BOOST_TEST(w.insert(t, 10));
  BOOST_TEST(w.size() == 1u);
  BOOST_TEST(*w.next_expiration() == 10u);
  BOOST_TEST(!w.insert(t, 0)); // re-arming for the past disarms
  BOOST_TEST(!w.is_armed(t));
  BOOST_TEST(w.empty());
}

BOOST_AUTO_TEST_CASE(destroying_the_wheel_disarms) {
  timer t;
  {
    timer_wheel w(0);
    BOOST_TEST(w.insert(t, 12345));
    w.clear();
    BOOST_TEST(!w.is_armed(t));
    BOOST_TEST(w.insert(t, 12345));
  }
  BOOST_TEST(t.deadline() == 12345u); // t is idle again, so its destructor does not assert
}

BOOST_AUTO_TEST_CASE(next_expiration_is_exact_in_level_zero) {
  timer t;
  timer far;
  timer_wheel w(1000);
  BOOST_TEST(w.insert(t, 1000 + 5));
  BOOST_TEST(w.level_of(t) == 0);
  BOOST_TEST(*w.next_expiration() == 1005u);
  BOOST_TEST(w.insert(far, 1000 + 5000));
  BOOST_TEST(*w.next_expiration() == 1005u);
  w.remove(t);
  BOOST_TEST(*w.next_expiration() <= 6000u);
  BOOST_TEST(*w.next_expiration() > 1000u);
}

// A coarse slot due at T is cascaded at T - 1: afterwards its entries sit in level 0 (or 1)
// standing for the next turn, inserts go there too, and advance(T) only delivers.
BOOST_AUTO_TEST_CASE(early_cascade_moves_a_coarse_slot_one_tick_ahead) {
  timer a, b, c, d, e, f;
  a.id = 1, b.id = 2, c.id = 3, d.id = 4, e.id = 5, f.id = 6;
  timer_wheel w(0);
  BOOST_TEST(w.insert(a, 64));
  BOOST_TEST(w.insert(b, 100));
  BOOST_TEST(w.insert(c, 200));
  BOOST_TEST(w.level_of(a) == 1);
  BOOST_TEST(*w.next_expiration() == 64u);
  BOOST_TEST(*w.next_advance() == 63u); // one tick early, to cascade
  BOOST_TEST(!w.can_cascade_early());   // not yet: now is 0
  BOOST_TEST(w.cascade_early() == 0u);
  recorder r;
  BOOST_TEST(w.advance(63, r.fn()) == 0u);
  BOOST_TEST(w.can_cascade_early());
  BOOST_TEST(w.cascade_early() == 2u); // a and b; c is in a later slot
  BOOST_TEST(!w.can_cascade_early());
  BOOST_TEST(w.now() == 63u);
  BOOST_TEST(w.level_of(a) == 0);
  BOOST_TEST(w.level_of(b) == 0);
  BOOST_TEST(w.level_of(c) == 1);
  BOOST_TEST(*w.next_expiration() == 64u);
  BOOST_TEST(*w.next_advance() == 64u);
  BOOST_TEST(w.insert(d, 64)); // placed from 64 while staged: level 0, next turn
  BOOST_TEST(w.insert(e, 130));
  BOOST_TEST(!w.insert(f, 63)); // now is still 63
  BOOST_TEST(w.level_of(d) == 0);
  BOOST_TEST(w.level_of(e) == 1);
  BOOST_TEST(w.check_invariants());
  BOOST_TEST(w.advance(64, r.fn()) == 2u);
  BOOST_TEST(w.advance(1000, r.fn()) == 3u);
  BOOST_TEST((r.ids == std::vector<int>{1, 4, 2, 5, 3}));
  BOOST_TEST(w.empty());
}

// A carry: the slot due at 4096 is in level 2; cascading it early fills levels 0 and 1.
BOOST_AUTO_TEST_CASE(early_cascade_of_a_level_two_slot_fills_the_levels_below) {
  timer a, b, c;
  a.id = 1, b.id = 2, c.id = 3;
  timer_wheel w2(0);
  BOOST_TEST(w2.insert(a, 4096));
  BOOST_TEST(w2.insert(b, 4100));
  BOOST_TEST(w2.insert(c, 5000));
  BOOST_TEST(w2.level_of(a) == 2);
  BOOST_TEST(*w2.next_advance() == 4095u);
  recorder r2;
  BOOST_TEST(w2.advance(4095, r2.fn()) == 0u);
  BOOST_TEST(w2.cascade_early() == 3u);
  BOOST_TEST(w2.level_of(a) == 0);
  BOOST_TEST(w2.level_of(b) == 0);
  BOOST_TEST(w2.level_of(c) == 1);
  BOOST_TEST(w2.check_invariants());
  BOOST_TEST(*w2.next_expiration() == 4096u);
  BOOST_TEST(w2.advance(4096, r2.fn()) == 1u);
  BOOST_TEST(w2.check_invariants());
  BOOST_TEST(w2.advance(6000, r2.fn()) == 2u);
  BOOST_TEST((r2.ids == std::vector<int>{1, 2, 3}));
}

// In parts: the rest of the coarse slot stays the first slot due; cancels and inserts
// meanwhile; an advance past now finishes the cascade first.
BOOST_AUTO_TEST_CASE(early_cascade_in_parts) {
  timer a, b, c, d;
  a.id = 1, b.id = 2, c.id = 3, d.id = 4;
  timer_wheel w3(0);
  BOOST_TEST(w3.insert(a, 64));
  BOOST_TEST(w3.insert(b, 65));
  BOOST_TEST(w3.insert(c, 66));
  recorder r3;
  BOOST_TEST(w3.advance(63, r3.fn()) == 0u);
  BOOST_TEST(w3.cascade_early(1) == 1u); // a
  BOOST_TEST(w3.can_cascade_early());
  BOOST_TEST(w3.level_of(a) == 0);
  BOOST_TEST(w3.level_of(b) == 1);
  BOOST_TEST(*w3.next_expiration() == 64u);
  BOOST_TEST(*w3.next_advance() == 63u); // now: the cascade is not finished
  BOOST_TEST(w3.check_invariants());
  w3.remove(b);
  BOOST_TEST(w3.insert(d, 64));
  BOOST_TEST(w3.level_of(d) == 0);
  BOOST_TEST(w3.check_invariants());
  BOOST_TEST(w3.advance(66, r3.fn()) == 3u); // c was still in the coarse slot
  BOOST_TEST((r3.ids == std::vector<int>{1, 4, 3}));
  BOOST_TEST(w3.empty());
}

BOOST_AUTO_TEST_CASE(million_entries_insert_remove) {
  constexpr std::size_t n = 1'000'000;
  auto ts = std::make_unique<timer[]>(n);
  std::mt19937_64 rng(42);
  std::vector<std::uint64_t> deadlines(n);
  for (std::uint64_t& d : deadlines) {
    d = 1 + rng() % (std::uint64_t{1} << 40); // every level, and beyond the range
  }
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) {
    order[i] = i;
  }
  std::shuffle(order.begin(), order.end(), rng);

  timer_wheel w(0);
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    w.insert(ts[i], deadlines[i]);
  }
  auto t1 = std::chrono::steady_clock::now();
  BOOST_TEST(w.size() == n);
  BOOST_TEST(w.check_invariants());
  for (std::size_t i : order) {
    w.remove(ts[i]);
  }
  auto t2 = std::chrono::steady_clock::now();
  BOOST_TEST(w.empty());
  BOOST_TEST(!w.next_expiration());

  // Fill again and fire them all through advance, in deadline order.
  for (std::size_t i = 0; i < n; ++i) {
    w.insert(ts[i], 1 + deadlines[i] % 3'600'000); // within an hour
  }
  auto t3 = std::chrono::steady_clock::now();
  std::size_t fired = 0;
  std::uint64_t last = 0;
  bool ordered = true;
  for (std::uint64_t now = 0; now <= 3'600'000; now += 1000) {
    fired += w.advance(now, [&](timer_entry& e) {
      ordered = ordered && e.deadline() >= last && e.deadline() <= now;
      last = e.deadline();
    });
  }
  auto t4 = std::chrono::steady_clock::now();
  BOOST_TEST(fired == n);
  BOOST_TEST(ordered);
  BOOST_TEST(w.empty());

  using ns = std::chrono::duration<double, std::nano>;
  std::cout << "timer_wheel: 1M entries: insert " << ns(t1 - t0).count() / n << " ns/op, remove "
            << ns(t2 - t1).count() / n << " ns/op, insert+fire (advance in 1 s steps) "
            << ns(t4 - t2).count() / n << " ns/entry (of which insert " << ns(t3 - t2).count() / n
            << ")\n";
}

BOOST_AUTO_TEST_SUITE_END()
