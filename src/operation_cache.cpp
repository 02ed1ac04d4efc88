// The shared pool and the slow paths of kyoto/detail/operation_cache.hpp.

#include <kyoto/detail/operation_cache.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define KYOTO_OPERATION_CACHE_PTHREAD_EXIT 1
#endif
#if defined(KYOTO_OPERATION_CACHE_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

namespace kyoto::detail {

// Per size class, a stack of full magazines and one of empty ones behind a lock (taken once per
// batch_blocks operations at most), and the bytes held in full magazines by all classes.
struct operation_cache::shared_pool {
  struct class_pool {
    std::mutex mutex;
    // Linked through magazine::next; guarded by mutex.
    magazine* full = nullptr;
    magazine* empty = nullptr;
    // How many full magazines there are: written under mutex, read without it (relaxed) to skip
    // the lock when there is none. A stale read only means one operator new more, or one lock
    // taken for nothing.
    std::atomic<std::size_t> full_count{0};

    magazine* take_full() noexcept {
      if (full_count.load(std::memory_order_relaxed) == 0)
        return nullptr;
      std::lock_guard lock(mutex);
      magazine* m = full;
      if (m != nullptr) {
        full = m->next;
        full_count.store(full_count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      }
      return m;
    }
    void give_full(magazine* m) noexcept {
      std::lock_guard lock(mutex);
      m->next = full;
      full = m;
      full_count.store(full_count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    magazine* take_empty() noexcept {
      std::lock_guard lock(mutex);
      magazine* m = empty;
      if (m != nullptr)
        empty = m->next;
      return m;
    }
    void give_empty(magazine* m) noexcept {
      std::lock_guard lock(mutex);
      m->next = empty;
      empty = m;
    }
  };

  std::array<class_pool, class_count> classes;
  // Reserved with fetch_add before a full magazine goes in, given back when it comes out;
  // relaxed: it only bounds memory and orders nothing (the magazines pass under the mutexes).
  std::atomic<std::size_t> bytes{0};
};

namespace {

// Plain new rather than nothrow new: a program that replaces operator new and delete but not
// the nothrow form (and AddressSanitizer's interceptors) would otherwise pair them wrongly.
template <typename Magazine>
Magazine* new_magazine_of() noexcept {
  try {
    return new Magazine;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

#ifndef KYOTO_OPERATION_CACHE_BYTES
#define KYOTO_OPERATION_CACHE_BYTES (4 * 1024 * 1024)
#endif
constexpr std::size_t shared_capacity = KYOTO_OPERATION_CACHE_BYTES;

} // namespace

#if defined(KYOTO_OPERATION_CACHE_PTHREAD_EXIT)
// The exit flush is a pthread key's destructor rather than a thread_local's: glibc runs C++
// thread_local destructors first and never comes back to them, so a thread whose first free
// happened in a pthread key destructor (boost::thread_specific_ptr, a C library's) would lose
// its blocks; key destructors that set a key are run again (up to 4 rounds).
struct operation_cache::thread_exit {
  pthread_key_t key;
  thread_exit() noexcept {
    if (pthread_key_create(&key, [](void*) { flush_this_thread(true); }) != 0)
      std::abort(); // only when the process is out of keys (PTHREAD_KEYS_MAX, 1024)
  }
  void register_this_thread(thread_cache& cache) noexcept {
    // Any non-null value makes the destructor run.
    pthread_setspecific(key, &cache);
  }
};
#else
struct operation_cache::thread_exit {
  struct flush_at_exit {
    ~flush_at_exit() { flush_this_thread(true); }
  };
  void register_this_thread(thread_cache&) noexcept {
    static thread_local flush_at_exit on_exit;
    static_cast<void>(on_exit); // constructed here, which registers its destructor
  }
};
#endif

operation_cache::shared_pool& operation_cache::shared() noexcept {
  // Never destroyed: threads may still free blocks after static destruction has begun.
  static shared_pool* pool = new shared_pool;
  return *pool;
}

std::size_t operation_cache::shared_bytes() noexcept {
  return shared().bytes.load(std::memory_order_relaxed);
}

std::size_t operation_cache::thread_count(std::size_t size) noexcept {
  const class_magazines& cm = local().classes[class_of(size)];
  return (cm.loaded != nullptr ? cm.loaded->count : 0) +
         (cm.previous != nullptr ? cm.previous->count : 0);
}

void* operation_cache::allocate_slow(std::size_t c) {
  thread_cache& cache = local();
  class_magazines& cm = cache.classes[c];
  if (cm.previous != nullptr && cm.previous->count != 0) {
    std::swap(cm.loaded, cm.previous);
  } else {
    magazine* full = cache.open ? shared().classes[c].take_full() : nullptr;
    if (full == nullptr)
      return ::operator new(class_size(c));
    shared().bytes.fetch_sub(batch_blocks * class_size(c), std::memory_order_relaxed);
    // A thread that only allocates (a producer outside the workers) must still give back what
    // it took when it ends.
    if (!cache.exit_registered)
      register_thread(cache);
    // Both magazines are empty (or null): one stays as `previous`, the other waits in the pool.
    if (cm.previous != nullptr)
      shared().classes[c].give_empty(cm.previous);
    cm.previous = cm.loaded;
    cm.loaded = full;
  }
  return cm.loaded->pop(class_size(c));
}

void operation_cache::deallocate_slow(void* p, std::size_t c) noexcept {
  thread_cache& cache = local();
  if (!cache.open) {
    ::operator delete(p);
    return;
  }
  if (!cache.exit_registered)
    register_thread(cache);
  class_magazines& cm = cache.classes[c];
  if (cm.loaded != nullptr && cm.loaded->count != batch_blocks) {
    // register_thread just loaded it.
  } else if (cm.previous != nullptr && cm.previous->count == 0) {
    std::swap(cm.loaded, cm.previous);
  } else {
    // `loaded` is full or null, `previous` full or null: `previous` goes to the pool, `loaded`
    // becomes `previous`, and an empty magazine is loaded.
    magazine* empty = cm.previous != nullptr ? give_full(cm.previous, c) : nullptr;
    if (empty == nullptr)
      empty = shared().classes[c].take_empty();
    if (empty == nullptr)
      empty = new_magazine_of<magazine>();
    cm.previous = cm.loaded;
    cm.loaded = empty;
    if (empty == nullptr) { // out of memory: the block goes back to the heap
      ::operator delete(p);
      return;
    }
  }
  cm.loaded->push(p, class_size(c));
}

operation_cache::magazine* operation_cache::give_full(magazine* m, std::size_t c) noexcept {
  shared_pool& pool = shared();
  const std::size_t bytes = batch_blocks * class_size(c);
  if (pool.bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes > shared_capacity) {
    pool.bytes.fetch_sub(bytes, std::memory_order_relaxed);
    delete_blocks(*m, c);
    return m;
  }
  pool.classes[c].give_full(m);
  return nullptr;
}

void operation_cache::delete_blocks(magazine& m, std::size_t c) noexcept {
  while (m.count != 0)
    ::operator delete(m.pop(class_size(c)));
}

void operation_cache::flush_this_thread(bool close) noexcept {
  thread_cache& cache = local();
  for (std::size_t c = 0; c < class_count; ++c) {
    class_magazines& cm = cache.classes[c];
    for (magazine* m : {cm.loaded, cm.previous}) {
      if (m == nullptr)
        continue;
      // A full magazine goes to the pool; the blocks of a partial one (and of a full one the
      // pool has no room for) go to operator delete, and the magazine with them.
      if (m->count != batch_blocks || give_full(m, c) != nullptr) {
        delete_blocks(*m, c);
        delete m;
      }
    }
    cm = {};
  }
  if (close)
    cache.open = false;
}

void operation_cache::register_thread(thread_cache& cache) noexcept {
  // Never destroyed, as the pool.
  static thread_exit* exit = new thread_exit;
  exit->register_this_thread(cache);
  cache.exit_registered = true;
  // An empty magazine for every class now, so that a thread's first free in a class (a handler
  // of a new type, or the first one a thief runs) allocates nothing later (8.4 KiB per thread).
  for (std::size_t c = 0; c < class_count; ++c) {
    class_magazines& cm = cache.classes[c];
    if (cm.loaded == nullptr && cm.previous == nullptr) {
      cm.loaded = shared().classes[c].take_empty();
      if (cm.loaded == nullptr)
        cm.loaded = new_magazine_of<magazine>();
    }
  }
}

std::size_t operation_cache::shared_capacity_bytes() noexcept {
  return shared_capacity;
}

void operation_cache::report_double_free([[maybe_unused]] void* p) noexcept {
#if defined(KYOTO_OPERATION_CACHE_ASAN)
  std::fprintf(stderr, "kyoto: operation_cache: block %p freed twice\n", p);
  __sanitizer_print_stack_trace();
#endif
  std::abort();
}

} // namespace kyoto::detail
