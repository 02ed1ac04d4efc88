// test/support/counting_new.hpp: a global operator new (and the matching deletes) that counts
// its calls while a flag is set, for tests that check that a path allocates nothing.
//
// It replaces the program's operator new: include it in exactly one translation unit of a test
// program (each test is one source file plus the shared Boost.Test main).

#ifndef KYOTO_TEST_SUPPORT_COUNTING_NEW_HPP
#define KYOTO_TEST_SUPPORT_COUNTING_NEW_HPP

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace kyoto_test {

// True while a test measures; the counter below counts only then.
inline std::atomic<bool> counting_news{false};
// Calls to the global operator new while counting_news was true.
inline std::atomic<long> counted_news{0};

namespace counting_new_detail {

inline void* counted_malloc(std::size_t n) {
  if (counting_news.load(std::memory_order_relaxed))
    counted_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}

inline void* counted_aligned_malloc(std::size_t n, std::align_val_t al) {
  if (counting_news.load(std::memory_order_relaxed))
    counted_news.fetch_add(1, std::memory_order_relaxed);
  const auto align = static_cast<std::size_t>(al);
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align))
    return p;
  throw std::bad_alloc();
}

} // namespace counting_new_detail

} // namespace kyoto_test

void* operator new(std::size_t n) {
  return kyoto_test::counting_new_detail::counted_malloc(n);
}
void* operator new[](std::size_t n) {
  return kyoto_test::counting_new_detail::counted_malloc(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
  return kyoto_test::counting_new_detail::counted_aligned_malloc(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al) {
  return kyoto_test::counting_new_detail::counted_aligned_malloc(n, al);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

#endif // KYOTO_TEST_SUPPORT_COUNTING_NEW_HPP
