// test/support/counting_allocator.hpp: a standard allocator that counts its calls, to check
// that a user's allocator is the one used.

#ifndef KYOTO_TEST_SUPPORT_COUNTING_ALLOCATOR_HPP
#define KYOTO_TEST_SUPPORT_COUNTING_ALLOCATOR_HPP

#include <atomic>
#include <cstddef>
#include <memory>

namespace kyoto_test {

// What a counting_allocator did.
struct allocation_counts {
  std::atomic<long> allocations{0};
  std::atomic<long> deallocations{0};
};

// A standard allocator that counts its calls.
template <typename T>
class counting_allocator {
 public:
  using value_type = T;

  explicit counting_allocator(allocation_counts& counts) noexcept : counts_(&counts) {}
  template <typename U>
  counting_allocator(const counting_allocator<U>& other) noexcept : counts_(other.counts_) {}

  T* allocate(std::size_t n) {
    counts_->allocations.fetch_add(1);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    counts_->deallocations.fetch_add(1);
    std::allocator<T>().deallocate(p, n);
  }

  friend bool operator==(const counting_allocator& a, const counting_allocator& b) noexcept {
    return a.counts_ == b.counts_;
  }
  friend bool operator!=(const counting_allocator& a, const counting_allocator& b) noexcept {
    return !(a == b);
  }

 private:
  template <typename>
  friend class counting_allocator;

  // The counters, owned by the test.
  allocation_counts* counts_;
};

} // namespace kyoto_test

#endif // KYOTO_TEST_SUPPORT_COUNTING_ALLOCATOR_HPP
