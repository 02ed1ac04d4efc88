// test/futures/counting_waker.hpp
//
// A waker for tests that poll futures by hand: counts its wakes (from any thread).

#ifndef KYOTO_TEST_FUTURES_COUNTING_WAKER_HPP
#define KYOTO_TEST_FUTURES_COUNTING_WAKER_HPP

#include <kyoto/future.hpp>

#include <atomic>

namespace kyoto::test {

class counting_waker {
 public:
  counting_waker() : w_(this, &vtable_) {}
  counting_waker(const counting_waker&) = delete;
  counting_waker& operator=(const counting_waker&) = delete;

  /// The waker (references are not counted: this object must outlive every copy).
  const kyoto::waker& get() const noexcept { return w_; }

  /// Wakes so far.
  int wakes() const noexcept { return wakes_.load(); }

 private:
  static void* clone(void* p) noexcept { return p; }
  static void wake(void* p) noexcept { ++static_cast<counting_waker*>(p)->wakes_; }
  static void drop(void*) noexcept {}
  static constexpr kyoto::waker_vtable vtable_{&clone, &wake, &wake, &drop};

  std::atomic<int> wakes_{0};
  kyoto::waker w_;
};

} // namespace kyoto::test

#endif // KYOTO_TEST_FUTURES_COUNTING_WAKER_HPP
