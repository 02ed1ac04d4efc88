// kyoto/detail/operation_cache.hpp
//
// Recycled storage for posted handlers (function_op): per-thread free lists in front of a shared
// pool, as thread-caching allocators do (tcmalloc's thread caches and transfer batches, Go's
// mcache/mcentral).
//
// Why: Asio recycles a handler's storage through a per-thread cache of two blocks, enough when
// each handler posts the next one, not when a handler posts thousands (a burst of spawns, a
// fan-out). Those go to malloc, and with several workers most are freed on another thread than
// the one that allocated them (a thief runs them): the producer's free lists stay empty while
// the consumer's overflow, and glibc takes the allocating arena's lock for each free, against
// the producer's own mallocs. Measured on spawn_inside (10,000 posts from one handler, median):
// 0.50 ms with one worker and 1.2 ms with two (doc/benchmarks.md has the figures with this
// cache).
//
// How: blocks come in 16 size classes of 16 to 256 bytes. A thread frees into and allocates
// from its own list for the class, LIFO (the block freed last is the one most likely in cache),
// with no synchronisation. A list longer than `thread_blocks` gives `batch_blocks` of them to the
// shared pool in one locked step; an empty list takes a batch back the same way before falling
// back to operator new. So blocks freed by consumers flow back to producers in batches, and a
// lock is taken once per `batch_blocks` operations at most. The shared pool holds at most
// shared_capacity_bytes() (4 MiB unless kyoto is built with the CMake option
// KYOTO_OPERATION_CACHE_BYTES; 0: no pool); beyond that, batches go
// back to operator delete. A thread's own lists hold at most thread_blocks blocks per class
// (128 x 32 bytes = 4 KiB for a typical handler) and go to the shared pool when it ends.
//
// The shared pool is never destroyed (threads may end after static destruction), so its blocks
// stay reachable: LeakSanitizer does not report them.
//
// Blocks come from the global operator new, so their alignment is the default new alignment;
// fits() says whether a request is for this cache.
//
// Thread safety: allocate() and deallocate() may be called from any thread; a block may be freed
// on another thread than the one that allocated it.

#ifndef KYOTO_DETAIL_OPERATION_CACHE_HPP
#define KYOTO_DETAIL_OPERATION_CACHE_HPP

#include <array>
#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define KYOTO_OPERATION_CACHE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KYOTO_OPERATION_CACHE_ASAN 1
#endif
#endif
#if defined(KYOTO_OPERATION_CACHE_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace kyoto::detail {

class operation_cache {
 public:
  static constexpr std::size_t granularity = 16;
  static constexpr std::size_t largest = 256;
  static constexpr std::size_t class_count = largest / granularity;
  /// Blocks moved between a thread's list and the shared pool at once.
  static constexpr std::size_t batch_blocks = 64;
  /// The most blocks a thread keeps per class; one more sends a batch to the shared pool.
  static constexpr std::size_t thread_blocks = 2 * batch_blocks;
  /// The most bytes the shared pool keeps (0: no shared pool); fixed when kyoto is built.
  static std::size_t shared_capacity_bytes() noexcept;

  /// True if blocks of `size` bytes and `alignment` come from this cache.
  static constexpr bool fits(std::size_t size, std::size_t alignment) noexcept {
    return size != 0 && size <= largest && alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  }

  /// A block of at least `size` bytes; fits(size, ...) must hold. Throws std::bad_alloc.
  static void* allocate(std::size_t size) {
    const std::size_t c = class_of(size);
    thread_lists& lists = local();
    free_list& list = lists.lists[c];
    if (list.head != nullptr || refill(lists, c))
      return list.pop(class_size(c));
    return ::operator new(class_size(c));
  }

  /// Gives back a block from allocate(size), possibly allocated on another thread.
  static void deallocate(void* p, std::size_t size) noexcept {
    const std::size_t c = class_of(size);
    thread_lists& lists = local();
    free_list& list = lists.lists[c];
    if (lists.accepting && list.count < thread_blocks) [[likely]]
      list.push(p, class_size(c));
    else
      deallocate_slow(lists, p, c);
  }

  /// Blocks of `size`'s class kept by the calling thread (for tests).
  static std::size_t thread_count(std::size_t size) noexcept {
    return local().lists[class_of(size)].count;
  }

  /// Bytes kept by the shared pool (for tests; a snapshot).
  static std::size_t shared_bytes() noexcept;

  /// Hands every block the calling thread keeps to the shared pool (or operator delete when it
  /// is full). With `close`, later frees on this thread go straight to operator delete: what a
  /// thread does as it ends.
  static void flush_this_thread(bool close = false) noexcept;

 private:
  // A free block; the first of a batch in the shared pool also links the next batch.
  struct block {
    block* next;
    block* next_batch;
  };
  static_assert(sizeof(block) <= granularity);

  struct free_list {
    block* head = nullptr;
    std::size_t count = 0;

    void push(void* p, std::size_t bytes) noexcept {
#if defined(KYOTO_OPERATION_CACHE_ASAN)
      // Already poisoned: the block is in a list already (a double free).
      if (bytes > sizeof(block) &&
          __asan_address_is_poisoned(static_cast<char*>(p) + sizeof(block)))
        report_double_free(p);
#endif
      head = ::new (p) block{head, nullptr};
      ++count;
      poison(p, bytes);
    }
    void* pop(std::size_t bytes) noexcept {
      block* b = head;
      head = b->next;
      --count;
      unpoison(b, bytes);
      return b;
    }
  };

  // Under AddressSanitizer, a cached block's bytes past its 16 bytes of links are poisoned, so a
  // handler's storage used after it was freed is still reported, and so is a double free (in
  // push). Not the first 16 bytes (the links; for a function_op, operation's next_ and func_):
  // fully poisoned blocks would hide the pool's pointers from LeakSanitizer. And a block is
  // reused at once, without ASan's quarantine.
  [[noreturn]] static void report_double_free(void* p) noexcept;

  static void poison([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) noexcept {
#if defined(KYOTO_OPERATION_CACHE_ASAN)
    ASAN_POISON_MEMORY_REGION(static_cast<char*>(p) + sizeof(block), bytes - sizeof(block));
#endif
  }
  static void unpoison([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) noexcept {
#if defined(KYOTO_OPERATION_CACHE_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(p) + sizeof(block), bytes - sizeof(block));
#endif
  }

  // Trivially destructible, so it stays usable during the whole of a thread's exit; the exit
  // flush (a pthread key destructor, src/operation_cache.cpp), registered on the thread's first
  // free or refill, empties it.
  struct thread_lists {
    std::array<free_list, class_count> lists{};
    // False once the thread has flushed for good: frees go to operator delete.
    bool open = true;
    bool exit_registered = false;
    // open && exit_registered: the one flag deallocate()'s fast path tests.
    bool accepting = false;
  };

  static constexpr std::size_t class_of(std::size_t size) noexcept {
    return (size - 1) / granularity;
  }
  static constexpr std::size_t class_size(std::size_t c) noexcept {
    return (c + 1) * granularity;
  }

  static thread_lists& local() noexcept {
    static thread_local constinit thread_lists lists;
    return lists;
  }

  // Defined in src/operation_cache.cpp.
  struct shared_pool;
  struct thread_exit;
  static shared_pool& shared() noexcept;

  // The slow paths, out of line.
  // Takes a batch from the shared pool into an empty list; false if there is none (or the
  // thread has flushed for good).
  static bool refill(thread_lists& lists, std::size_t c) noexcept;
  static void spill(free_list& list, std::size_t c) noexcept;
  // A free that registers the thread's exit flush, goes to operator delete after it, or makes
  // the list spill a batch.
  static void deallocate_slow(thread_lists& lists, void* p, std::size_t c) noexcept;
  static void register_thread_exit(thread_lists& lists) noexcept;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_OPERATION_CACHE_HPP
