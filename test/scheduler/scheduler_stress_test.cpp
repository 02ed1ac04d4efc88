// Randomised stress of the scheduler: handlers posted from inside and outside the context, with
// random yields, on more threads than cores. Invariants: every handler runs exactly once; run()
// returns when the work is done (no hang, no lost wake-up); at shutdown every handler that did
// not run is destroyed, none is lost or leaked.

#include <kyoto/context.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/test/unit_test.hpp>

#include "support/sanitizers.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace asio = boost::asio;

namespace {

using kyoto_test::sanitized;

constexpr int total_handlers = sanitized ? 100'000 : 1'000'000;
constexpr int repetitions = sanitized ? 3 : 20;
constexpr int workers = 4;
constexpr int outside_posters = 2;

struct shared_state {
  explicit shared_state(int n) : runs(static_cast<std::size_t>(n)) {}
  std::vector<std::atomic<std::uint8_t>> runs;
  std::atomic<int> next_id{0};
};

// Runs once, records it, and sometimes posts children (from inside the context).
struct tracked_handler {
  kyoto::context* ctx;
  shared_state* state;
  int id;
  std::uint32_t seed;

  void operator()() const {
    state->runs[static_cast<std::size_t>(id)].fetch_add(1, std::memory_order_relaxed);
    std::minstd_rand rng(seed);
    if (rng() % 64 == 0)
      std::this_thread::yield();
    int children = static_cast<int>(rng() % 3); // 0, 1 or 2 children: about one on average
    for (int c = 0; c < children; ++c) {
      int child = state->next_id.fetch_add(1, std::memory_order_relaxed);
      if (child >= static_cast<int>(state->runs.size()))
        return;
      asio::post(*ctx, tracked_handler{ctx, state, child, static_cast<std::uint32_t>(rng())});
    }
  }
};

void post_from_outside(kyoto::context& ctx, shared_state& state, std::uint32_t seed) {
  std::minstd_rand rng(seed);
  for (;;) {
    int id = state.next_id.fetch_add(1, std::memory_order_relaxed);
    if (id >= static_cast<int>(state.runs.size()))
      return;
    asio::post(ctx, tracked_handler{&ctx, &state, id, static_cast<std::uint32_t>(rng())});
    if (rng() % 16 == 0)
      std::this_thread::yield();
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(every_posted_handler_runs_exactly_once) {
  for (int rep = 0; rep < repetitions; ++rep) {
    kyoto::context ctx{workers};
    shared_state state(total_handlers);
    // The guard keeps run() going while the outside posters are still at work.
    auto guard = asio::make_work_guard(ctx);
    std::vector<std::thread> runners;
    for (int w = 0; w < workers; ++w)
      runners.emplace_back([&] { ctx.run(); });
    std::vector<std::thread> posters;
    for (int p = 0; p < outside_posters; ++p)
      posters.emplace_back(
          [&, p] { post_from_outside(ctx, state, static_cast<std::uint32_t>(rep * 31 + p)); });
    for (auto& t : posters)
      t.join();
    guard.reset();
    for (auto& t : runners)
      t.join();
    BOOST_TEST_REQUIRE(ctx.stopped()); // ran out of work
    int missing = 0, duplicated = 0;
    for (auto& r : state.runs) {
      auto v = r.load();
      missing += v == 0;
      duplicated += v > 1;
    }
    BOOST_TEST_REQUIRE(missing == 0, "repetition " << rep);
    BOOST_TEST_REQUIRE(duplicated == 0, "repetition " << rep);
  }
}

BOOST_AUTO_TEST_CASE(nothing_is_lost_when_destroyed_mid_run) {
  for (int rep = 0; rep < repetitions; ++rep) {
    auto token = std::make_shared<int>(0);
    std::atomic<int> ran{0};
    int posted = 0;
    {
      kyoto::context ctx{workers};
      // Handlers that re-post themselves a few times, holding a shared token.
      struct bouncer {
        kyoto::context* ctx;
        std::shared_ptr<int> token;
        std::atomic<int>* ran;
        int hops;
        void operator()() {
          ++*ran;
          if (hops > 0)
            asio::post(*ctx, bouncer{ctx, token, ran, hops - 1});
        }
      };
      for (; posted < 20'000; ++posted)
        asio::post(ctx, bouncer{&ctx, token, &ran, 3});
      std::vector<std::thread> runners;
      for (int w = 0; w < workers; ++w)
        runners.emplace_back([&] { ctx.run(); });
      while (ran < 10'000)
        std::this_thread::yield();
      ctx.stop();
      for (auto& t : runners)
        t.join();
    } // destroys the queued handlers
    BOOST_TEST_REQUIRE(token.use_count() == 1, "repetition " << rep); // none leaked
    BOOST_TEST(ran <= 4 * posted);
  }
}
