// kyoto/detail/operation_cache.hpp
//
// Recycled storage for posted handlers (function_op) and timer waits: per-thread magazines of free
// blocks in front of a shared pool, as thread-caching allocators do (tcmalloc's thread caches and
// transfer batches, Go's mcache/mcentral, Solaris' magazine layer).
//
// Why: Asio recycles a handler's storage through a per-thread cache of two blocks, enough when
// each handler posts the next one, not when a handler posts thousands (a burst of spawns, a
// fan-out). Those go to malloc, and with several workers most are freed on another thread than
// the one that allocated them (a thief runs them): the producer's caches stay empty while
// the consumer's overflow, and glibc takes the allocating arena's lock for each free, against
// the producer's own mallocs. Measured on spawn_inside (10,000 posts from one handler, median):
// 0.50 ms with one worker and 1.2 ms with two (doc/benchmarks.md has the figures with this
// cache).
//
// How: blocks come in 16 size classes of 16 to 256 bytes. Free blocks are kept in magazines
// (Bonwick and Adams, "Magazines and Vmem", 2001): arrays of up to `batch_blocks` pointers. A
// thread holds two magazines per class, `loaded` and `previous`, and allocates from and frees
// into `loaded`, LIFO (the block freed last is the one most likely in cache), with no
// synchronisation. When `loaded` is empty (on allocate) or full (on free), it is swapped with
// `previous` if that helps, else a full magazine is exchanged for an empty one with the shared
// pool, in one locked step per `batch_blocks` operations at most, before falling back to
// operator new. So blocks freed by consumers flow back to producers a magazine at a time.
//
// Why arrays and not lists linked through the blocks: a block freed by another thread is in that
// thread's cache, so a list walked by its producer costs one cross-core miss per block, each
// waiting for the one before (spawn_inside with two workers spent a third of its time on that
// load); a magazine hands out pointers read from one array, and the producer only writes the
// blocks it takes, which the processor overlaps.
//
// The shared pool holds at most shared_capacity_bytes() in full magazines (4 MiB unless kyoto is
// built with the CMake option KYOTO_OPERATION_CACHE_BYTES; 0: no pool); beyond that, a full
// magazine's blocks go back to operator delete. A thread keeps at most thread_blocks blocks per
// class (128 x 32 bytes = 4 KiB for a typical handler) and gives its full magazines to the
// shared pool when it ends. Empty magazines wait in the pool for the thread that needs one; there
// are never more magazines than full ones the pool can hold plus two per thread and class.
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
  /// Blocks in a magazine: what moves between a thread and the shared pool at once.
  static constexpr std::size_t batch_blocks = 64;
  /// The most blocks a thread keeps per class (its two magazines).
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
    magazine* m = local().classes[c].loaded;
    if (m != nullptr && m->count != 0) [[likely]]
      return m->pop(class_size(c));
    return allocate_slow(c);
  }

  /// Gives back a block from allocate(size), possibly allocated on another thread.
  static void deallocate(void* p, std::size_t size) noexcept {
    const std::size_t c = class_of(size);
    magazine* m = local().classes[c].loaded;
    if (m != nullptr && m->count != batch_blocks) [[likely]]
      m->push(p, class_size(c));
    else
      deallocate_slow(p, c);
  }

  /// Blocks of `size`'s class kept by the calling thread (for tests).
  static std::size_t thread_count(std::size_t size) noexcept;

  /// Bytes kept by the shared pool (for tests; a snapshot).
  static std::size_t shared_bytes() noexcept;

  /// Hands every block the calling thread keeps to the shared pool (or operator delete when it
  /// is full). With `close`, later frees on this thread go straight to operator delete: what a
  /// thread does as it ends.
  static void flush_this_thread(bool close = false) noexcept;

 private:
  // Up to batch_blocks free blocks of one class.
  struct magazine {
    magazine* next = nullptr; // in the shared pool's stacks
    std::size_t count = 0;
    std::array<void*, batch_blocks> blocks;

    void push(void* p, std::size_t bytes) noexcept {
#if defined(KYOTO_OPERATION_CACHE_ASAN)
      // Already poisoned: the block is cached already (a double free), or was deleted.
      if (__asan_address_is_poisoned(p))
        report_double_free(p);
#endif
      poison(p, bytes);
      blocks[count++] = p;
    }
    void* pop(std::size_t bytes) noexcept {
      void* p = blocks[--count];
      unpoison(p, bytes);
      return p;
    }
  };

  // Under AddressSanitizer a cached block is poisoned, so a handler's storage used after it was
  // freed is still reported, and so is a double free (in push). A block is reused at once,
  // without ASan's quarantine.
  [[noreturn]] static void report_double_free(void* p) noexcept;

  static void poison([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) noexcept {
#if defined(KYOTO_OPERATION_CACHE_ASAN)
    ASAN_POISON_MEMORY_REGION(p, bytes);
#endif
  }
  static void unpoison([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) noexcept {
#if defined(KYOTO_OPERATION_CACHE_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(p, bytes);
#endif
  }

  // A thread's magazines for one class. Outside the slow paths, `previous` is empty or full, and
  // `loaded` is null only before the first free or after a flush.
  struct class_magazines {
    magazine* loaded = nullptr;
    magazine* previous = nullptr;
  };

  // Trivially destructible, so it stays usable during the whole of a thread's exit; the exit
  // flush (a pthread key destructor, src/operation_cache.cpp), registered on the thread's first
  // free or first magazine taken from the pool, empties it.
  struct thread_cache {
    std::array<class_magazines, class_count> classes{};
    // False once the thread has flushed for good: frees go to operator delete.
    bool open = true;
    bool exit_registered = false;
  };

  static constexpr std::size_t class_of(std::size_t size) noexcept {
    return (size - 1) / granularity;
  }
  static constexpr std::size_t class_size(std::size_t c) noexcept {
    return (c + 1) * granularity;
  }

  static thread_cache& local() noexcept {
    static thread_local constinit thread_cache cache;
    return cache;
  }

  // Defined in src/operation_cache.cpp.
  struct shared_pool;
  struct thread_exit;
  static shared_pool& shared() noexcept;

  // The slow paths, out of line: `loaded` is empty (allocate) or full (deallocate), or null.
  static void* allocate_slow(std::size_t c);
  static void deallocate_slow(void* p, std::size_t c) noexcept;
  // On a thread's first slow path: registers its exit flush and loads an empty magazine for
  // every class.
  static void register_thread(thread_cache& cache) noexcept;
  // Gives a full magazine to the shared pool; when the pool is full, deletes its blocks instead
  // and returns it, empty, for reuse (else nullptr).
  static magazine* give_full(magazine* m, std::size_t c) noexcept;
  static void delete_blocks(magazine& m, std::size_t c) noexcept;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_OPERATION_CACHE_HPP
