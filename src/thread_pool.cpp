// kyoto::thread_pool: a context that starts and joins its own worker threads.

#include <kyoto/thread_pool.hpp>

namespace kyoto {

namespace {
int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}
} // namespace

thread_pool::thread_pool() : thread_pool(hardware_threads()) {
}

thread_pool::thread_pool(int threads, const context_options& options) : context(threads, options) {
  impl().work_started(); // released by join()
  threads_.reserve(static_cast<std::size_t>(threads));
  try {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this] { run(); });
  } catch (...) {
    context::stop();
    release_work();
    for (auto& t : threads_)
      t.join();
    throw;
  }
}

thread_pool::~thread_pool() {
  context::stop();
  join();
}

void thread_pool::release_work() noexcept {
  if (holds_work_) {
    holds_work_ = false;
    impl().work_finished();
  }
}

void thread_pool::join() {
  std::lock_guard lock(join_mutex_);
  release_work();
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

} // namespace kyoto
