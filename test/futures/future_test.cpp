// Tests of kyoto/future.hpp: poll<T>, waker, task_context, the future concept.

#include <kyoto/future.hpp>

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

namespace {

struct counting_waker {
  int refs = 1, wakes = 0, drops = 0;
  static void* clone(void* p) noexcept {
    ++static_cast<counting_waker*>(p)->refs;
    return p;
  }
  static void wake(void* p) noexcept {
    ++static_cast<counting_waker*>(p)->wakes;
    drop(p);
  }
  static void wake_by_ref(void* p) noexcept { ++static_cast<counting_waker*>(p)->wakes; }
  static void drop(void* p) noexcept {
    --static_cast<counting_waker*>(p)->refs;
    ++static_cast<counting_waker*>(p)->drops;
  }
  static constexpr kyoto::waker_vtable vtable{&clone, &wake, &wake_by_ref, &drop};
};

struct int_future {
  kyoto::poll<int> poll(kyoto::task_context&) { return 1; }
};
struct not_a_future {
  int poll(kyoto::task_context&) { return 1; }
};

} // namespace

static_assert(kyoto::future<int_future>);
static_assert(!kyoto::future<not_a_future>);
static_assert(!kyoto::future<int>);
static_assert(std::is_same_v<kyoto::future_output_t<int_future>, int>);

BOOST_AUTO_TEST_CASE(poll_holds_value_or_pending) {
  kyoto::poll<std::string> p = kyoto::pending;
  BOOST_TEST(p.is_pending());
  kyoto::poll<std::string> r = std::string("x");
  BOOST_TEST(r.is_ready());
  BOOST_TEST(std::move(r).value() == "x");
  kyoto::poll<std::unique_ptr<int>> u = std::make_unique<int>(3);
  BOOST_TEST(*u.value() == 3);
  kyoto::poll<void> v = kyoto::ready;
  BOOST_TEST(v.is_ready());
  kyoto::poll<void> vp = kyoto::pending;
  BOOST_TEST(vp.is_pending());
}

BOOST_AUTO_TEST_CASE(waker_reference_counting) {
  counting_waker c;
  {
    kyoto::waker w(&c, &counting_waker::vtable);
    BOOST_TEST(static_cast<bool>(w));
    kyoto::waker w2 = w;
    BOOST_TEST(c.refs == 2);
    BOOST_TEST(w.will_wake(w2));
    w2 = w; // same task: no clone
    BOOST_TEST(c.refs == 2);
    w2.wake_by_ref();
    BOOST_TEST(c.wakes == 1);
    w2.wake();
    BOOST_TEST(!w2);
    BOOST_TEST(c.refs == 1);
    BOOST_TEST(c.wakes == 2);
    kyoto::waker w3 = std::move(w);
    BOOST_TEST(!w);
    BOOST_TEST(c.refs == 1);
  }
  BOOST_TEST(c.refs == 0);
  kyoto::waker empty;
  empty.wake_by_ref();
  empty.wake();
  BOOST_TEST(!empty.will_wake(kyoto::waker(&c, &counting_waker::vtable)));
  BOOST_TEST(c.refs == -1); // the temporary's reference was adopted and dropped
}

BOOST_AUTO_TEST_CASE(budget_runs_out_and_wakes) {
  counting_waker c;
  kyoto::waker w(&c, &counting_waker::vtable);
  kyoto::task_context cx(w, 2);
  BOOST_TEST(cx.poll_budget().is_ready());
  BOOST_TEST(cx.poll_budget().is_ready());
  BOOST_TEST(cx.poll_budget().is_pending());
  BOOST_TEST(c.wakes == 1);
  cx.refund_budget();
  BOOST_TEST(cx.budget() == 1);
  BOOST_TEST(kyoto::task_context::default_budget == 128);
}

BOOST_AUTO_TEST_CASE(poll_fn_and_ready_future) {
  int n = 0;
  auto f = kyoto::poll_fn([&](kyoto::task_context&) -> kyoto::poll<int> {
    if (++n < 2)
      return kyoto::pending;
    return n;
  });
  static_assert(kyoto::future<decltype(f)>);
  kyoto::waker w;
  kyoto::task_context cx(w);
  BOOST_TEST(f.poll(cx).is_pending());
  BOOST_TEST(f.poll(cx).value() == 2);
  kyoto::ready_future<int> rf(5);
  BOOST_TEST(rf.poll(cx).value() == 5);
}
