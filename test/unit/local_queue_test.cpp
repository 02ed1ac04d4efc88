// Tests of kyoto/detail/local_queue.hpp, single-threaded: edge cases, and a differential test
// against a std::deque model with random push / pop / steal / overflow sequences, including
// positions that wrap around 2^32.

#include <kyoto/detail/local_queue.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <deque>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace kyoto::detail {

// The tests' window into the queue: its contents and its head/tail words.
struct local_queue_test_access {
  // The tasks in the queue, oldest first (owner only).
  template <typename T, std::uint32_t C>
  static std::vector<T*> contents(const local_queue<T, C>& q) {
    using queue = local_queue<T, C>;
    const std::uint32_t real = queue::real_part(q.head_.load());
    const std::uint32_t tail = q.tail_.load();
    std::vector<T*> result;
    for (std::uint32_t p = real; p != tail; ++p)
      result.push_back(q.slots_[p & queue::mask]);
    return result;
  }

  // Moves an empty queue so that its next push writes position `position`.
  template <typename T, std::uint32_t C>
  static void start_at(local_queue<T, C>& q, std::uint32_t position) {
    BOOST_REQUIRE(q.empty());
    q.head_.store(local_queue<T, C>::pack(position, position));
    q.tail_.store(position);
  }

  // Sets the head word directly (to fake a steal in progress).
  template <typename T, std::uint32_t C>
  static void set_head(local_queue<T, C>& q, std::uint32_t steal, std::uint32_t real) {
    q.head_.store(local_queue<T, C>::pack(steal, real));
  }

  template <typename T, std::uint32_t C>
  static std::uint32_t tail(const local_queue<T, C>& q) {
    return q.tail_.load();
  }
};

} // namespace kyoto::detail

namespace {

using kyoto::detail::local_queue;
using access = kyoto::detail::local_queue_test_access;

// Task objects with stable addresses; the tests compare pointers.
struct task {
  int id;
};

// Collects every overflow batch.
struct overflow_log {
  std::vector<std::vector<task*>> batches;
  auto sink() {
    return
        [this](std::span<task* const> batch) { batches.emplace_back(batch.begin(), batch.end()); };
  }
};

template <std::uint32_t C>
std::vector<task*> drain(local_queue<task, C>& q) {
  std::vector<task*> out;
  while (task* t = q.pop())
    out.push_back(t);
  return out;
}

std::vector<task*> pointers(std::vector<task>& tasks, std::size_t from, std::size_t to) {
  std::vector<task*> out;
  for (std::size_t i = from; i < to; ++i)
    out.push_back(&tasks[i]);
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(local_queue_edges)

BOOST_AUTO_TEST_CASE(capacity_is_the_template_argument) {
  BOOST_TEST((local_queue<task, 4>::capacity()) == 4u);
  BOOST_TEST((local_queue<task>::capacity()) == 256u);
}

BOOST_AUTO_TEST_CASE(a_new_queue_is_empty) {
  local_queue<task, 4> q;
  BOOST_TEST(q.empty());
  BOOST_TEST(q.size() == 0u);
  BOOST_TEST(q.remaining_slots() == 4u);
  BOOST_TEST(q.pop() == nullptr);
  BOOST_TEST(q.pop() == nullptr); // popping an empty queue leaves it usable
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(pop_is_fifo_and_size_tracks_pushes_and_pops) {
  std::vector<task> tasks(4);
  local_queue<task, 4> q;
  overflow_log log;
  for (std::size_t i = 0; i < 4; ++i) {
    BOOST_TEST(q.push_back(&tasks[i], log.sink()) == 0u);
    BOOST_TEST(q.size() == i + 1);
    BOOST_TEST(q.remaining_slots() == 3 - i);
    BOOST_TEST(!q.empty());
  }
  BOOST_TEST(log.batches.empty());
  BOOST_TEST(q.pop() == &tasks[0]);
  BOOST_TEST(q.size() == 3u);
  BOOST_TEST(q.remaining_slots() == 1u);
  const auto rest = drain(q);
  BOOST_TEST(rest == pointers(tasks, 1, 4));
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(full_push_moves_the_newest_half_and_the_new_task_oldest_first) {
  std::vector<task> tasks(9);
  local_queue<task, 8> q;
  overflow_log log;
  for (std::size_t i = 0; i < 8; ++i)
    BOOST_TEST(q.push_back(&tasks[i], log.sink()) == 0u);
  BOOST_TEST(q.remaining_slots() == 0u);
  BOOST_TEST(q.push_back(&tasks[8], log.sink()) == 5u);
  BOOST_TEST_REQUIRE(log.batches.size() == 1u);
  BOOST_TEST(log.batches[0] == pointers(tasks, 4, 9)); // tasks 4..7 then the new task 8
  BOOST_TEST(q.size() == 4u);
  BOOST_TEST(q.remaining_slots() == 4u);
  BOOST_TEST(drain(q) == pointers(tasks, 0, 4)); // the oldest stay, in order
}

BOOST_AUTO_TEST_CASE(the_smallest_queue_overflows_one_plus_the_new_task) {
  std::vector<task> tasks(3);
  local_queue<task, 2> q;
  overflow_log log;
  q.push_back(&tasks[0], log.sink());
  q.push_back(&tasks[1], log.sink());
  BOOST_TEST(q.push_back(&tasks[2], log.sink()) == 2u);
  BOOST_TEST_REQUIRE(log.batches.size() == 1u);
  BOOST_TEST(log.batches[0] == pointers(tasks, 1, 3));
  BOOST_TEST(drain(q) == pointers(tasks, 0, 1));
}

BOOST_AUTO_TEST_CASE(overflow_across_the_index_wrap) {
  std::vector<task> tasks(9);
  local_queue<task, 8> q;
  access::start_at(q, std::numeric_limits<std::uint32_t>::max() - 5);
  overflow_log log;
  for (std::size_t i = 0; i < 8; ++i)
    q.push_back(&tasks[i], log.sink());
  BOOST_TEST(access::tail(q) == 2u); // wrapped
  BOOST_TEST(q.size() == 8u);
  BOOST_TEST(q.push_back(&tasks[8], log.sink()) == 5u);
  BOOST_TEST_REQUIRE(log.batches.size() == 1u);
  BOOST_TEST(log.batches[0] == pointers(tasks, 4, 9));
  BOOST_TEST(drain(q) == pointers(tasks, 0, 4));
}

BOOST_AUTO_TEST_CASE(full_push_during_a_steal_hands_over_only_the_new_task) {
  std::vector<task> tasks(5);
  local_queue<task, 4> q;
  overflow_log log;
  for (std::size_t i = 0; i < 4; ++i)
    q.push_back(&tasks[i], log.sink());
  // Pretend a thief has claimed positions [0, 1) and is still copying: steal = 0, real = 1.
  access::set_head(q, 0, 1);
  BOOST_TEST(q.push_back(&tasks[4], log.sink()) == 1u);
  BOOST_TEST_REQUIRE(log.batches.size() == 1u);
  BOOST_TEST(log.batches[0] == pointers(tasks, 4, 5));
  BOOST_TEST(access::contents(q) == pointers(tasks, 1, 4)); // untouched
  // Another thief backs off while the steal is in progress.
  local_queue<task, 4> thief;
  std::uint32_t stolen = 99;
  BOOST_TEST(thief.steal_from(q, &stolen) == nullptr);
  BOOST_TEST(stolen == 0u);
  // The owner may still pop; the steal index stays.
  BOOST_TEST(q.pop() == &tasks[1]);
  access::set_head(q, 2, 2); // the thief finishes
  BOOST_TEST(q.remaining_slots() == 2u);
  BOOST_TEST(drain(q) == pointers(tasks, 2, 4));
}

BOOST_AUTO_TEST_CASE(steal_from_an_empty_queue_returns_nothing) {
  local_queue<task, 4> victim;
  local_queue<task, 4> thief;
  std::uint32_t stolen = 99;
  BOOST_TEST(thief.steal_from(victim, &stolen) == nullptr);
  BOOST_TEST(stolen == 0u);
  BOOST_TEST(thief.steal_from(victim) == nullptr);
  BOOST_TEST(thief.empty());
}

BOOST_AUTO_TEST_CASE(steal_takes_half_rounded_up_and_returns_the_newest_stolen) {
  std::vector<task> tasks(5);
  local_queue<task, 8> victim;
  local_queue<task, 8> thief;
  overflow_log log;
  for (std::size_t i = 0; i < 5; ++i)
    victim.push_back(&tasks[i], log.sink());
  std::uint32_t stolen = 0;
  BOOST_TEST(thief.steal_from(victim, &stolen) == &tasks[2]);
  BOOST_TEST(stolen == 3u);
  BOOST_TEST(access::contents(thief) == pointers(tasks, 0, 2));
  BOOST_TEST(access::contents(victim) == pointers(tasks, 3, 5));
  BOOST_TEST(victim.size() == 2u);
  BOOST_TEST(thief.size() == 2u);
}

BOOST_AUTO_TEST_CASE(stealing_a_single_task_returns_it_and_adds_nothing) {
  std::vector<task> tasks(1);
  local_queue<task, 4> victim;
  local_queue<task, 4> thief;
  overflow_log log;
  victim.push_back(&tasks[0], log.sink());
  std::uint32_t stolen = 0;
  BOOST_TEST(thief.steal_from(victim, &stolen) == &tasks[0]);
  BOOST_TEST(stolen == 1u);
  BOOST_TEST(thief.empty());
  BOOST_TEST(victim.empty());
  BOOST_TEST(thief.steal_from(victim) == nullptr);
}

BOOST_AUTO_TEST_CASE(stealing_needs_half_the_capacity_free_here) {
  std::vector<task> tasks(8);
  local_queue<task, 4> victim;
  local_queue<task, 4> thief;
  overflow_log log;
  for (std::size_t i = 0; i < 4; ++i)
    victim.push_back(&tasks[i], log.sink());
  for (std::size_t i = 4; i < 7; ++i)
    thief.push_back(&tasks[i], log.sink());
  // 3 of 4 slots used: less than Capacity/2 free.
  std::uint32_t stolen = 99;
  BOOST_TEST(thief.steal_from(victim, &stolen) == nullptr);
  BOOST_TEST(stolen == 0u);
  BOOST_TEST(victim.size() == 4u);
  // Exactly Capacity/2 free: allowed, and the full victim gives Capacity/2.
  BOOST_TEST(thief.pop() == &tasks[4]);
  BOOST_TEST(thief.steal_from(victim, &stolen) == &tasks[1]);
  BOOST_TEST(stolen == 2u);
  BOOST_TEST(thief.remaining_slots() == 1u);
  BOOST_TEST(access::contents(thief) == (std::vector<task*>{&tasks[5], &tasks[6], &tasks[0]}));
  BOOST_TEST(log.batches.empty());
}

BOOST_AUTO_TEST_CASE(stealing_from_itself_returns_nothing) {
  std::vector<task> tasks(2);
  local_queue<task, 4> q;
  overflow_log log;
  q.push_back(&tasks[0], log.sink());
  q.push_back(&tasks[1], log.sink());
  std::uint32_t stolen = 99;
  BOOST_TEST(q.steal_from(q, &stolen) == nullptr);
  BOOST_TEST(stolen == 0u);
  BOOST_TEST(drain(q) == pointers(tasks, 0, 2));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// A reference model of a set of queues (std::deque each) run in lockstep with the real ones.
template <std::uint32_t C>
class differential {
 public:
  static constexpr std::size_t queue_count = 3;

  differential(std::uint32_t seed, bool near_wrap) : rng_(seed) {
    for (auto& q : queues_) {
      std::uint32_t start = 0;
      if (near_wrap)
        start = std::numeric_limits<std::uint32_t>::max() -
                std::uniform_int_distribution<std::uint32_t>(0, 3 * C)(rng_);
      access::start_at(q, start);
    }
  }

  // Runs `steps` random operations, checking every queue after each; returns the failure
  // description, or an empty string.
  std::string run(int steps) {
    for (step_ = 0; step_ < steps; ++step_) {
      const int op = std::uniform_int_distribution<int>(0, 99)(rng_);
      const std::size_t a = pick();
      if (op < 45) {
        push(a);
      } else if (op < 50) {
        // A burst, so that large queues fill and overflow too.
        const std::uint32_t n = std::uniform_int_distribution<std::uint32_t>(1, C + 2)(rng_);
        for (std::uint32_t i = 0; i < n && error_.empty(); ++i)
          push(a);
      } else if (op < 55) {
        push_batch(a);
      } else if (op < 75) {
        pop(a);
      } else if (op < 97) {
        std::size_t b = pick();
        steal(a, b);
      } else {
        while (!model_[a].empty() && error_.empty())
          pop(a);
        pop(a); // and once more on the empty queue
      }
      for (std::size_t i = 0; i < queue_count && error_.empty(); ++i)
        check(i);
      if (!error_.empty())
        return error_;
    }
    return {};
  }

  // How often each interesting path ran (all seeds together are expected to hit each).
  std::uint64_t overflows = 0;
  std::uint64_t steals = 0;
  std::uint64_t batches = 0;

 private:
  std::size_t pick() {
    return std::uniform_int_distribution<std::size_t>(0, queue_count - 1)(rng_);
  }

  task* make_task() {
    pool_.push_back(task{static_cast<int>(pool_.size())});
    return &pool_.back();
  }

  void fail(const std::string& what) {
    if (!error_.empty())
      return;
    std::ostringstream out;
    out << "step " << step_ << ": " << what;
    error_ = out.str();
  }

  void push(std::size_t i) {
    task* t = make_task();
    std::vector<std::vector<task*>> batches;
    const std::uint32_t handed = queues_[i].push_back(
        t, [&](std::span<task* const> b) { batches.emplace_back(b.begin(), b.end()); });
    auto& m = model_[i];
    if (m.size() < C) {
      m.push_back(t);
      if (handed != 0 || !batches.empty())
        fail("push with room overflowed");
      return;
    }
    ++overflows;
    std::vector<task*> expected(m.end() - C / 2, m.end());
    expected.push_back(t);
    m.erase(m.end() - C / 2, m.end());
    if (handed != C / 2 + 1)
      fail("full push returned " + std::to_string(handed));
    if (batches.size() != 1 || batches[0] != expected)
      fail("wrong overflow batch");
  }

  // push_batch of a random number of tasks that fits (0 included).
  void push_batch(std::size_t i) {
    auto& m = model_[i];
    const auto room = static_cast<std::uint32_t>(C - m.size());
    const std::uint32_t n = std::uniform_int_distribution<std::uint32_t>(0, room)(rng_);
    std::vector<task*> batch;
    for (std::uint32_t k = 0; k < n; ++k)
      batch.push_back(make_task());
    queues_[i].push_batch(batch);
    m.insert(m.end(), batch.begin(), batch.end());
    batches += n != 0 ? 1 : 0;
  }

  void pop(std::size_t i) {
    auto& m = model_[i];
    task* expected = nullptr;
    if (!m.empty()) {
      expected = m.front();
      m.pop_front();
    }
    if (queues_[i].pop() != expected)
      fail("pop returned the wrong task");
  }

  void steal(std::size_t thief, std::size_t victim) {
    std::uint32_t stolen = 12345;
    task* got = queues_[thief].steal_from(queues_[victim], &stolen);
    auto& v = model_[victim];
    auto& d = model_[thief];
    task* expected = nullptr;
    std::uint32_t n = 0;
    if (thief != victim && d.size() <= C / 2 && !v.empty()) {
      n = static_cast<std::uint32_t>(v.size() - v.size() / 2);
      for (std::uint32_t k = 0; k + 1 < n; ++k) {
        d.push_back(v.front());
        v.pop_front();
      }
      expected = v.front();
      v.pop_front();
      ++steals;
    }
    if (got != expected)
      fail("steal returned the wrong task");
    if (stolen != n)
      fail("steal reported " + std::to_string(stolen) + " moved, expected " + std::to_string(n));
  }

  void check(std::size_t i) {
    const auto& q = queues_[i];
    const auto& m = model_[i];
    if (access::contents(q) != std::vector<task*>(m.begin(), m.end()))
      fail("queue " + std::to_string(i) + " contents differ from the model");
    if (q.size() != m.size())
      fail("size() differs from the model");
    if (q.empty() != m.empty())
      fail("empty() differs from the model");
    if (q.remaining_slots() != C - m.size())
      fail("remaining_slots() differs from the model");
  }

  std::mt19937 rng_;
  std::deque<task> pool_;
  local_queue<task, C> queues_[queue_count];
  std::deque<task*> model_[queue_count];
  int step_ = 0;
  std::string error_;
};

template <std::uint32_t C>
void run_differential(int seeds, int steps) {
  std::uint64_t overflows = 0;
  std::uint64_t steals = 0;
  std::uint64_t batches = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    for (bool near_wrap : {false, true}) {
      differential<C> d(static_cast<std::uint32_t>(seed), near_wrap);
      const std::string error = d.run(steps);
      BOOST_TEST_INFO("capacity " << C << ", seed " << seed << ", near_wrap " << near_wrap);
      BOOST_TEST_REQUIRE(error.empty(), error);
      overflows += d.overflows;
      steals += d.steals;
      batches += d.batches;
    }
  }
  // The random mix must actually reach the paths under test.
  BOOST_TEST(overflows > 0u);
  BOOST_TEST(steals > 0u);
  BOOST_TEST(batches > 0u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(local_queue_differential)

BOOST_AUTO_TEST_CASE(capacity_4) {
  run_differential<4>(300, 500);
}
BOOST_AUTO_TEST_CASE(capacity_8) {
  run_differential<8>(300, 500);
}
BOOST_AUTO_TEST_CASE(capacity_256) {
  run_differential<256>(40, 1500);
}

BOOST_AUTO_TEST_SUITE_END()
