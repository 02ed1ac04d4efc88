// Conformance tests of asio::strand over kyoto::context::executor_type: with several threads
// running the context, handlers submitted through one strand (post, dispatch, defer; from
// foreign threads and from handlers) never overlap, all run exactly once, see
// running_in_this_thread(), and posts from one thread keep their order. Every template body runs
// on kyoto::context and on io_context (the reference).

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "conformance/conformance_support.hpp"

#include <boost/asio/defer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using namespace kyoto_conformance;

static_assert(std::is_same_v<decltype(asio::make_strand(std::declval<kyoto::context&>())),
                             asio::strand<kyoto::context::executor_type>>);
static_assert(asio::execution::is_executor<asio::strand<kyoto::context::executor_type>>::value);

// Both ways of making a strand on a context.
enum class strand_kind { make_strand, constructed };

template <typename Context>
asio::strand<typename Context::executor_type> make_test_strand(Context& ctx, strand_kind kind) {
  if (kind == strand_kind::make_strand)
    return asio::make_strand(ctx);
  return asio::strand<typename Context::executor_type>(ctx.get_executor());
}

// The state shared by the handlers of the exclusion test. Only `plain_count` is unsynchronised:
// the strand alone protects it (and ThreadSanitizer checks that it does).
struct exclusion_state {
  // Handlers of the strand running right now.
  std::atomic<int> in_flight{0};
  // Times a handler found another one running.
  std::atomic<int> overlaps{0};
  // Times running_in_this_thread() was false inside a handler.
  std::atomic<int> not_in_strand{0};
  // Handlers finished.
  std::atomic<int> done{0};
  // Handlers run, counted without synchronisation.
  long plain_count = 0;
};

// One handler of the exclusion test: checks it runs alone, then (if `spawn`) submits a child
// through the strand after leaving its critical section, so that an inline dispatch does not
// look like an overlap.
template <typename Strand>
struct exclusive_handler {
  Strand strand;
  exclusion_state* state;
  int how;
  bool spawn;

  void operator()() const {
    if (state->in_flight.fetch_add(1) != 0)
      state->overlaps.fetch_add(1);
    if (!strand.running_in_this_thread())
      state->not_in_strand.fetch_add(1);
    ++state->plain_count;
    state->in_flight.fetch_sub(1);
    if (spawn)
      submit(strand, exclusive_handler{strand, state, how, false}, how);
    state->done.fetch_add(1);
  }

  // Submits `h` through `s`: 0 post, 1 dispatch, 2 defer.
  static void submit(const Strand& s, exclusive_handler h, int how) {
    switch (how % 3) {
    case 0:
      asio::post(s, std::move(h));
      break;
    case 1:
      asio::dispatch(s, std::move(h));
      break;
    default:
      asio::defer(s, std::move(h));
      break;
    }
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(strand_conformance)

BOOST_AUTO_TEST_CASE_TEMPLATE(strand_handlers_never_overlap, Context, context_types) {
  constexpr int per_poster = 5'000; // each spawns one child: 2 x 2 x 5,000 = 20,000 handlers
  for (int threads : {2, 4}) {
    for (auto kind : {strand_kind::make_strand, strand_kind::constructed}) {
      BOOST_TEST_CONTEXT("threads " << threads << ", strand kind " << static_cast<int>(kind)) {
        Context ctx{threads};
        auto strand = make_test_strand(ctx, kind);
        using handler = exclusive_handler<decltype(strand)>;
        exclusion_state state;
        auto guard = asio::make_work_guard(ctx);
        runner<Context> r(ctx, threads);
        std::vector<std::thread> posters;
        for (int p = 0; p < 2; ++p)
          posters.emplace_back([&, p] {
            for (int i = 0; i < per_poster; ++i)
              handler::submit(strand, handler{strand, &state, i + p, true}, i + p);
          });
        for (auto& t : posters)
          t.join();
        BOOST_TEST(eventually([&] { return state.done == 4 * per_poster; }));
        guard.reset();
        BOOST_TEST(r.wait());
        BOOST_TEST(state.overlaps == 0);
        BOOST_TEST(state.not_in_strand == 0);
        BOOST_TEST(state.done == 4 * per_poster);
        BOOST_TEST(state.plain_count == 4 * per_poster);
        BOOST_TEST(!strand.running_in_this_thread());
      }
    }
  }
}

#if !defined(BOOST_ASIO_NO_DEPRECATED)
// io_context::strand, the class existing code names: constructed from the context, copies are
// the same strand, and its one-argument dispatch/post, wrap() and the free functions all
// serialise through it.
BOOST_AUTO_TEST_CASE_TEMPLATE(the_strand_class_serialises_and_wraps, Context, context_types) {
  Context ctx{2};
  typename Context::strand s(ctx);
  typename Context::strand copy = s;
  BOOST_TEST((copy == s));
  BOOST_TEST((&s.context() == &ctx));
  std::atomic<int> inside{0}, overlaps{0}, not_in_strand{0}, ran{0};
  auto body = [&] {
    if (inside.fetch_add(1) != 0)
      ++overlaps;
    if (!s.running_in_this_thread())
      ++not_in_strand;
    std::this_thread::yield();
    inside.fetch_sub(1);
    ++ran;
  };
  auto guard = asio::make_work_guard(ctx);
  runner<Context> r(ctx, 2);
  for (int i = 0; i < 500; ++i) {
    s.post(body);
    copy.dispatch(body);
    asio::post(ctx, s.wrap(body));
    asio::post(s, body);
  }
  BOOST_TEST(eventually([&] { return ran == 2000; }));
  guard.reset();
  BOOST_TEST(r.wait());
  BOOST_TEST(overlaps == 0);
  BOOST_TEST(not_in_strand == 0);
  BOOST_TEST(!s.running_in_this_thread());
}
#endif

BOOST_AUTO_TEST_CASE_TEMPLATE(strand_keeps_fifo_order_per_posting_thread, Context, context_types) {
  constexpr int per_poster = 5'000;
  for (int threads : {2, 4}) {
    BOOST_TEST_CONTEXT("threads " << threads) {
      Context ctx{threads};
      auto strand = asio::make_strand(ctx);
      // The sequence numbers each poster's handlers saw, in run order; the strand protects them.
      std::vector<int> seen[2];
      std::atomic<int> done{0};
      auto guard = asio::make_work_guard(ctx);
      runner<Context> r(ctx, threads);
      std::vector<std::thread> posters;
      for (int p = 0; p < 2; ++p)
        posters.emplace_back([&, p] {
          for (int i = 0; i < per_poster; ++i)
            asio::post(strand, [&, p, i] {
              seen[p].push_back(i);
              done.fetch_add(1);
            });
        });
      for (auto& t : posters)
        t.join();
      BOOST_TEST(eventually([&] { return done == 2 * per_poster; }));
      guard.reset();
      BOOST_TEST(r.wait());
      for (auto& s : seen) {
        BOOST_TEST_REQUIRE(s.size() == static_cast<std::size_t>(per_poster));
        bool in_order = true;
        for (int i = 0; i < per_poster; ++i)
          in_order = in_order && s[i] == i;
        BOOST_TEST(in_order);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(strand_posts_from_its_own_handlers_keep_order, Context,
                              context_types) {
  Context ctx{2};
  auto strand = asio::make_strand(ctx);
  std::vector<int> seen;
  asio::post(strand, [&] {
    for (int i = 0; i < 1'000; ++i)
      asio::post(strand, [&, i] { seen.push_back(i); });
  });
  runner<Context> r(ctx, 2);
  BOOST_TEST(r.wait());
  BOOST_TEST_REQUIRE(seen.size() == 1'000u);
  bool in_order = true;
  for (int i = 0; i < 1'000; ++i)
    in_order = in_order && seen[i] == i;
  BOOST_TEST(in_order);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(different_strands_run_in_parallel, Context, context_types) {
  // Two strands, each with a handler that waits until the other strand's handler has started:
  // this only finishes if the context runs them at the same time on its two threads.
  Context ctx{2};
  auto a = asio::make_strand(ctx);
  auto b = asio::make_strand(ctx);
  std::atomic<int> started{0};
  std::atomic<int> met{0};
  const auto meet = [&] {
    started.fetch_add(1);
    if (eventually([&] { return started == 2; }, std::chrono::seconds(10)))
      met.fetch_add(1);
  };
  asio::post(a, meet);
  asio::post(b, meet);
  runner<Context> r(ctx, 2);
  BOOST_TEST(r.wait());
  BOOST_TEST(met == 2);
}

BOOST_AUTO_TEST_SUITE_END()
