// test/support/sanitizers.hpp: whether this test build runs under a sanitizer, so that stress
// tests can scale their work down (a sanitized build runs 5 to 20 times slower).

#ifndef KYOTO_TEST_SUPPORT_SANITIZERS_HPP
#define KYOTO_TEST_SUPPORT_SANITIZERS_HPP

namespace kyoto_test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

} // namespace kyoto_test

#endif // KYOTO_TEST_SUPPORT_SANITIZERS_HPP
