// Where a timer wait's storage comes from (kyoto/detail/handler_op_ptr.hpp): a handler's
// associated allocator and its (deprecated) asio_handler_allocate hooks are used exactly as
// asio::steady_timer uses them; a handler with neither takes its storage from kyoto's
// operation_cache, so arming many timers at once allocates nothing in steady state.

#include <kyoto/steady_timer.hpp>

#include <boost/test/unit_test.hpp>

#include "support/counting_allocator.hpp"
#include "support/counting_new.hpp"

#include <kyoto/context.hpp>
#include <kyoto/detail/handler_op_ptr.hpp>
#include <kyoto/detail/operation_cache.hpp>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/mpl/list.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <new>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;
using kyoto_test::counted_news;
using kyoto_test::counting_news;

namespace {

using native_steady_timer = kyoto::basic_waitable_timer<clock_type, asio::wait_traits<clock_type>,
                                                        kyoto::context::executor_type>;
using kyoto_timer_types = boost::mpl::list<kyoto::steady_timer, native_steady_timer>;
using timer_types = boost::mpl::list<kyoto::steady_timer, native_steady_timer, asio::steady_timer>;

} // namespace

// Not in an unnamed namespace: the hooks are only named in unevaluated operands.
namespace wait_memory_test {

#if !defined(BOOST_ASIO_NO_DEPRECATED)
// Calls to the hooks below.
std::atomic<long> hook_allocations{0};
std::atomic<long> hook_deallocations{0};

// A handler with its own (deprecated) allocation hooks.
struct hooked_handler {
  int* completions;
  void operator()(const error_code&) const { ++*completions; }

  friend void* asio_handler_allocate(std::size_t size, hooked_handler*) {
    hook_allocations.fetch_add(1);
    return ::operator new(size);
  }
  friend void asio_handler_deallocate(void* p, std::size_t, hooked_handler*) {
    hook_deallocations.fetch_add(1);
    ::operator delete(p);
  }
};

// Gets its hooks from a base class.
struct derived_hooked_handler : hooked_handler {};

// Has a hook for deallocation only (and so, with Asio's default allocate, must not be cached).
struct half_hooked_handler {
  void operator()(const error_code&) const {}
  friend void asio_handler_deallocate(void* p, std::size_t, half_hooked_handler*) {
    ::operator delete(p);
  }
};

template <typename Handler>
constexpr bool has_hooks = kyoto::detail::hook_probe::has_allocation_hooks<Handler>();

using plain_lambda = decltype([](const error_code&) {});
static_assert(!has_hooks<plain_lambda>);
static_assert(has_hooks<hooked_handler>);
static_assert(has_hooks<derived_hooked_handler>);
static_assert(has_hooks<half_hooked_handler>);
// Asio's own wrappers forward the hooks of the handler they wrap.
static_assert(has_hooks<asio::detail::binder1<plain_lambda, error_code>>);
#endif

} // namespace wait_memory_test

using namespace wait_memory_test;

BOOST_AUTO_TEST_SUITE(timer_wait_memory)

BOOST_AUTO_TEST_CASE_TEMPLATE(associated_allocator_is_used, Timer, timer_types) {
  kyoto::context ctx{1};
  kyoto_test::allocation_counts counts;
  int completions = 0;
  {
    Timer t(ctx, 1h);
    for (int i = 0; i < 3; ++i)
      t.async_wait(
          asio::bind_allocator(kyoto_test::counting_allocator<void>(counts), [&](error_code ec) {
            BOOST_TEST((ec == asio::error::operation_aborted));
            ++completions;
          }));
    BOOST_TEST(counts.allocations >= 3);
    t.cancel();
    ctx.run();
  }
  BOOST_TEST(completions == 3);
  BOOST_TEST(counts.deallocations == counts.allocations);
}

#if !defined(BOOST_ASIO_NO_DEPRECATED)
BOOST_AUTO_TEST_CASE_TEMPLATE(allocation_hooks_are_used, Timer, timer_types) {
  hook_allocations = 0;
  hook_deallocations = 0;
  kyoto::context ctx{1};
  int completions = 0;
  {
    Timer t(ctx, 1ms);
    t.async_wait(hooked_handler{&completions});
    t.async_wait(derived_hooked_handler{{&completions}});
    BOOST_TEST(hook_allocations == 2);
    ctx.run();
  }
  BOOST_TEST(completions == 2);
  BOOST_TEST(hook_deallocations == 2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(pending_wait_destroyed_with_its_hooks, Timer, timer_types) {
  hook_allocations = 0;
  hook_deallocations = 0;
  int completions = 0;
  {
    kyoto::context ctx{1};
    Timer t(ctx, 1h);
    t.async_wait(hooked_handler{&completions});
    BOOST_TEST(hook_allocations == 1);
  } // The context's shutdown destroys the pending wait, not running it.
  BOOST_TEST(completions == 0);
  BOOST_TEST(hook_deallocations == 1);
}
#endif

// Bytes kept by operation_cache: the calling thread's lists and the shared pool.
std::size_t cached_bytes() {
  using cache = kyoto::detail::operation_cache;
  std::size_t bytes = cache::shared_bytes();
  for (std::size_t size = cache::granularity; size <= cache::largest; size += cache::granularity)
    bytes += cache::thread_count(size) * size;
  return bytes;
}

// What arming timers the second time round took.
struct arming_cost {
  long news = 0;                  // calls to operator new
  std::ptrdiff_t cache_bytes = 0; // bytes taken out of operation_cache
};

// Arms `count` timers from inside the context (so on its one worker, the thread that also runs
// the aborted handlers), cancels them and runs the handlers; twice.
template <typename Timer>
arming_cost cost_of_arming_again(int count) {
  kyoto::context ctx{1};
  std::vector<Timer> timers;
  timers.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i)
    timers.emplace_back(ctx, 1h);
  int aborted = 0;
  arming_cost cost;
  for (int round = 0; round < 2; ++round) {
    asio::post(ctx, [&] {
      const std::size_t before = cached_bytes();
      counted_news = 0;
      counting_news = round == 1;
      for (auto& t : timers)
        t.async_wait([&](error_code ec) { aborted += ec == asio::error::operation_aborted; });
      counting_news = false;
      cost.news = counted_news;
      cost.cache_bytes =
          static_cast<std::ptrdiff_t>(before) - static_cast<std::ptrdiff_t>(cached_bytes());
      for (auto& t : timers)
        t.cancel();
    });
    ctx.run();
    ctx.restart();
  }
  BOOST_TEST(aborted == 2 * count);
  return cost;
}

BOOST_AUTO_TEST_CASE_TEMPLATE(arming_many_takes_cached_storage, Timer, kyoto_timer_types) {
  // More waits at once than a thread's own lists keep (operation_cache::thread_blocks), so the
  // shared pool serves most of them; a wait is at least 64 bytes.
  constexpr int count = 1'000;
  // Only with a pool that can keep them all (kyoto built with KYOTO_OPERATION_CACHE_BYTES large
  // enough; the default 4 MiB is).
  if (kyoto::detail::operation_cache::shared_capacity_bytes() <
      count * kyoto::detail::operation_cache::largest) {
    BOOST_TEST_MESSAGE("operation_cache's shared pool is too small for this test: skipped");
    return;
  }
  const arming_cost cost = cost_of_arming_again<Timer>(count);
  BOOST_TEST(cost.news == 0);
  BOOST_TEST(cost.cache_bytes >= count * 64);
}

BOOST_AUTO_TEST_CASE(asio_timers_do_not_take_cached_storage) {
  // asio::steady_timer allocates through Asio's recycling allocator: the measurement above tells
  // the two apart.
  BOOST_TEST(cost_of_arming_again<asio::steady_timer>(1'000).cache_bytes < 1'000);
}

BOOST_AUTO_TEST_SUITE_END()
