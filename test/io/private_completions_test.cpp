// Completions that Asio queues on the calling thread instead of its scheduler (a cancelled wait,
// an operation that completes at once): kyoto runs their handlers on the worker right after the
// handler that caused them, as io_context runs them as operations of their own. Each body runs on
// kyoto::context and on io_context with one thread (where io_context queues them on the thread
// too): each completion runs once and counts as one handler, a throwing one leaves run() and the
// others still run once with the work count intact, run_one() runs the handler and not its
// completions, and a wait restarted and cancelled by its own handler does not starve a handler
// posted before it. On kyoto, the completions do not go through the run queue.

#include <kyoto/context.hpp>

#include <boost/test/unit_test.hpp>

#include "io/io_support.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

namespace asio = boost::asio;
using boost::system::error_code;
using namespace kyoto_test;

namespace {

std::vector<std::unique_ptr<asio::steady_timer>> make_timers(asio::any_io_executor ex, int n) {
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  for (int i = 0; i < n; ++i)
    timers.push_back(std::make_unique<asio::steady_timer>(ex));
  return timers;
}

} // namespace

BOOST_AUTO_TEST_SUITE(private_completions)

BOOST_AUTO_TEST_CASE_TEMPLATE(cancelled_waits_complete_once_each, Context, io_context_types) {
  constexpr int n = 1000;
  auto ctx = make_context<Context>(1);
  auto timers = make_timers(ctx->get_executor(), n);
  std::vector<int> runs(n, 0);
  asio::post(*ctx, [&] {
    for (int i = 0; i < n; ++i) {
      timers[i]->expires_after(std::chrono::hours(1));
      timers[i]->async_wait(
          [&, i](error_code ec) { runs[i] += ec == asio::error::operation_aborted ? 1 : 100; });
    }
    for (auto& t : timers)
      t->cancel();
  });
  BOOST_TEST(ctx->run() == static_cast<std::size_t>(n + 1)); // each completion is one handler
  BOOST_TEST(runs == std::vector<int>(n, 1), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(completions_on_the_worker_run_without_being_queued, Context,
                              kyoto_context_types) {
  // kyoto runs them on the worker's stack right after the handler that cancelled them, with no
  // copy of the handler into a queued operation (which Asio's polymorphic executor would
  // allocate for each): they are counted as immediate completions, and none goes through the
  // LIFO slot or the queue.
  constexpr int n = 1000;
  auto ctx = make_context<Context>(1);
  auto timers = make_timers(ctx->get_executor(), n);
  int completed = 0;
  asio::post(*ctx, [&] {
    for (auto& t : timers) {
      t->expires_after(std::chrono::hours(1));
      t->async_wait([&](error_code) { ++completed; });
      t->cancel();
    }
  });
  BOOST_TEST(ctx->run() == static_cast<std::size_t>(n + 1));
  BOOST_TEST(completed == n);
  const kyoto::worker_metrics m = ctx->metrics().workers.at(0);
  BOOST_TEST(m.immediate_completions == static_cast<std::uint64_t>(n));
  BOOST_TEST(m.tasks_polled == static_cast<std::uint64_t>(n + 1));
  BOOST_TEST(m.lifo_hits == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_throwing_completion_leaves_run_and_the_others_still_run_once,
                              Context, io_context_types) {
  auto ctx = make_context<Context>(1);
  auto timers = make_timers(ctx->get_executor(), 3);
  std::vector<int> runs(timers.size(), 0);
  int thrown = 0;
  asio::post(*ctx, [&] {
    for (std::size_t i = 0; i < timers.size(); ++i) {
      timers[i]->expires_after(std::chrono::hours(1));
      timers[i]->async_wait([&, i](error_code) {
        ++runs[i];
        if (i == 0)
          throw std::runtime_error("from a completion");
      });
    }
    for (auto& t : timers)
      t->cancel();
  });
  try {
    ctx->run();
  } catch (const std::runtime_error&) {
    ++thrown;
  }
  BOOST_TEST(thrown == 1);
  // The context is still usable: the remaining completions run, and run() returns once they
  // are done (a work unit lost or kept by the exception would make it return early or never).
  ctx->run_for(std::chrono::seconds(10));
  BOOST_TEST(ctx->stopped());
  BOOST_TEST(runs == std::vector<int>({1, 1, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(run_one_runs_the_handler_and_not_its_completions, Context,
                              io_context_types) {
  auto ctx = make_context<Context>(1);
  asio::steady_timer timer(ctx->get_executor());
  bool completed = false;
  asio::post(*ctx, [&] {
    timer.expires_after(std::chrono::hours(1));
    timer.async_wait([&](error_code) { completed = true; });
    timer.cancel();
  });
  BOOST_TEST(ctx->run_one() == 1u);
  BOOST_TEST(!completed);
  BOOST_TEST(ctx->run_one() == 1u);
  BOOST_TEST(completed);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_wait_restarted_and_cancelled_by_its_handler_lets_others_run,
                              Context, io_context_types) {
  // Each completion arms and cancels the wait again, so there is always one more completion
  // queued on the thread: a worker that ran such completions as long as there were any would
  // never get to the handler posted before the first one.
  auto ctx = make_context<Context>(1);
  asio::steady_timer timer(ctx->get_executor());
  constexpr int limit = 100'000;
  int iterations = 0;
  bool posted_ran = false;
  std::function<void(error_code)> again = [&](error_code) {
    if (posted_ran || ++iterations == limit)
      return;
    timer.expires_after(std::chrono::hours(1));
    timer.async_wait(again);
    timer.cancel();
  };
  asio::post(*ctx, [&] {
    asio::post(*ctx, [&] { posted_ran = true; });
    again(error_code());
  });
  ctx->run();
  BOOST_TEST(posted_ran);
  BOOST_TEST(iterations < 100);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_completion_runs_before_the_handlers_its_cause_posted, Context,
                              kyoto_context_types) {
  // The documented difference from io_context (README): the cancelled wait's handler runs right
  // after the handler that cancelled it, before the one that handler posted first.
  auto ctx = make_context<Context>(1);
  asio::steady_timer timer(ctx->get_executor());
  std::vector<char> order;
  asio::post(*ctx, [&] {
    timer.expires_after(std::chrono::hours(1));
    timer.async_wait([&](error_code) { order.push_back('c'); });
    asio::post(*ctx, [&] { order.push_back('p'); });
    timer.cancel();
  });
  ctx->run();
  BOOST_TEST(order == std::vector<char>({'c', 'p'}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
