// The shared pool and the slow paths of kyoto/detail/operation_cache.hpp.

#include <kyoto/detail/operation_cache.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define KYOTO_OPERATION_CACHE_PTHREAD_EXIT 1
#endif
#if defined(KYOTO_OPERATION_CACHE_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

namespace kyoto::detail {

// One stack of full batches per size class, each behind its own lock (taken once per
// batch_blocks operations), and the bytes held by all of them.
struct operation_cache::shared_pool {
  struct class_pool {
    std::mutex mutex;
    // Batches linked through their first block's next_batch; guarded by mutex.
    block* batches = nullptr;
    // How many batches there are: written under mutex, read without it (relaxed) by refill()
    // to skip the lock when the pool is empty. A stale read only means one operator new more,
    // or one lock taken for nothing.
    std::atomic<std::size_t> batch_count{0};
  };

  std::array<class_pool, class_count> classes;
  // Reserved with fetch_add before a batch goes in, given back when it comes out; relaxed: it
  // only bounds memory and orders nothing (the blocks themselves pass under the class mutex).
  std::atomic<std::size_t> bytes{0};
};

namespace {

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
  void register_this_thread(thread_lists& lists) noexcept {
    // Any non-null value makes the destructor run.
    pthread_setspecific(key, &lists);
  }
};
#else
struct operation_cache::thread_exit {
  struct flush_at_exit {
    ~flush_at_exit() { flush_this_thread(true); }
  };
  void register_this_thread(thread_lists&) noexcept {
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

bool operation_cache::refill(thread_lists& lists, std::size_t c) noexcept {
  shared_pool& pool = shared();
  shared_pool::class_pool& cp = pool.classes[c];
  if (cp.batch_count.load(std::memory_order_relaxed) == 0 || !lists.open)
    return false;
  // A thread that only allocates (a producer outside the workers) must still give back what it
  // took when it ends.
  if (!lists.exit_registered)
    register_thread_exit(lists);
  block* batch = nullptr;
  {
    std::lock_guard lock(cp.mutex);
    batch = cp.batches;
    if (batch == nullptr)
      return false;
    cp.batches = batch->next_batch;
    cp.batch_count.store(cp.batch_count.load(std::memory_order_relaxed) - 1,
                         std::memory_order_relaxed);
  }
  pool.bytes.fetch_sub(batch_blocks * class_size(c), std::memory_order_relaxed);
  free_list& list = lists.lists[c];
  list.head = batch;
  list.count = batch_blocks;
  return true;
}

void operation_cache::spill(free_list& list, std::size_t c) noexcept {
  // Detach the batch_blocks blocks at the tail: the ones freed first, least likely still in this
  // thread's cache; the newest stay for the thread's next allocations.
  block** link = &list.head;
  for (std::size_t i = batch_blocks; i < list.count; ++i)
    link = &(*link)->next;
  block* batch = *link;
  *link = nullptr;
  list.count -= batch_blocks;

  shared_pool& pool = shared();
  const std::size_t bytes = batch_blocks * class_size(c);
  if (pool.bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes > shared_capacity) {
    pool.bytes.fetch_sub(bytes, std::memory_order_relaxed);
    while (batch != nullptr) {
      block* next = batch->next;
      unpoison(batch, class_size(c));
      ::operator delete(batch);
      batch = next;
    }
    return;
  }
  shared_pool::class_pool& cp = pool.classes[c];
  std::lock_guard lock(cp.mutex);
  batch->next_batch = cp.batches;
  cp.batches = batch;
  cp.batch_count.store(cp.batch_count.load(std::memory_order_relaxed) + 1,
                       std::memory_order_relaxed);
}

void operation_cache::deallocate_slow(thread_lists& lists, void* p, std::size_t c) noexcept {
  if (!lists.open) {
    ::operator delete(p);
    return;
  }
  if (!lists.exit_registered)
    register_thread_exit(lists);
  free_list& list = lists.lists[c];
  list.push(p, class_size(c));
  if (list.count > thread_blocks)
    spill(list, c);
}

void operation_cache::flush_this_thread(bool close) noexcept {
  thread_lists& lists = local();
  for (std::size_t c = 0; c < class_count; ++c) {
    free_list& list = lists.lists[c];
    while (list.count >= batch_blocks)
      spill(list, c);
    // Bounded by the count, not the links: a corrupted list must not hang a thread's exit.
    while (list.count != 0 && list.head != nullptr)
      ::operator delete(list.pop(class_size(c)));
  }
  if (close) {
    lists.open = false;
    lists.accepting = false;
  }
}

void operation_cache::register_thread_exit(thread_lists& lists) noexcept {
  // Never destroyed, as the pool.
  static thread_exit* exit = new thread_exit;
  exit->register_this_thread(lists);
  lists.exit_registered = true;
  lists.accepting = lists.open;
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
