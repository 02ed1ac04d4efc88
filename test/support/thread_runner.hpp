// test/support/thread_runner.hpp: threads that run a context for a test, with a watchdog.

#ifndef KYOTO_TEST_SUPPORT_THREAD_RUNNER_HPP
#define KYOTO_TEST_SUPPORT_THREAD_RUNNER_HPP

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace kyoto_test {

/// The longest a runner waits for its threads before it stops the context and fails.
inline constexpr std::chrono::seconds runner_patience{30};

/// Runs `ctx.run()` on `threads` new threads. wait() joins them, stopping the context first if
/// they do not return within the timeout (so a broken context fails the test, never hangs it).
template <typename Context>
class thread_runner {
 public:
  thread_runner(Context& ctx, int threads) : ctx_(ctx) {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { body(); });
      ids_.insert(threads_.back().get_id());
    }
  }

  thread_runner(const thread_runner&) = delete;
  thread_runner& operator=(const thread_runner&) = delete;

  ~thread_runner() {
    if (!joined_) {
      ctx_.stop();
      join();
    }
  }

  /// Waits until every thread returned from run(); false (after stopping the context and
  /// joining) when that takes longer than `timeout`.
  bool wait(std::chrono::milliseconds timeout = runner_patience) {
    bool in_time;
    {
      std::unique_lock lock(mutex_);
      in_time = cv_.wait_for(lock, timeout, [&] { return finished_ == threads_.size(); });
    }
    if (!in_time)
      ctx_.stop();
    join();
    return in_time;
  }

  /// True once every thread returned from run().
  bool done() const {
    std::lock_guard lock(mutex_);
    return finished_ == threads_.size();
  }

  /// The sum of the counts run() returned.
  std::size_t handlers_run() const {
    std::lock_guard lock(mutex_);
    return handlers_run_;
  }

  /// The exceptions that left run(), in no particular order.
  std::vector<std::exception_ptr> errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }

  /// True when `id` is one of the threads that run the context.
  bool is_runner(std::thread::id id) const {
    std::lock_guard lock(mutex_);
    return ids_.count(id) != 0;
  }

  /// True when every id in `ids` is one of the runner's threads.
  bool all_runners(const std::set<std::thread::id>& ids) const {
    std::lock_guard lock(mutex_);
    return std::all_of(ids.begin(), ids.end(), [&](auto id) { return ids_.count(id) != 0; });
  }

 private:
  void body() {
    std::size_t n = 0;
    std::exception_ptr error;
    try {
      n = ctx_.run();
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    handlers_run_ += n;
    if (error)
      errors_.push_back(error);
    ++finished_;
    cv_.notify_all();
  }

  void join() {
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
    joined_ = true;
  }

  // The context the threads run.
  Context& ctx_;
  // Guards the fields below, except joined_.
  mutable std::mutex mutex_;
  // Signalled when a thread returns from run().
  std::condition_variable cv_;
  // The threads calling run().
  std::vector<std::thread> threads_;
  // The ids of threads_.
  std::set<std::thread::id> ids_;
  // How many threads returned from run().
  std::size_t finished_ = 0;
  // The sum of run()'s results.
  std::size_t handlers_run_ = 0;
  // The exceptions that escaped run().
  std::vector<std::exception_ptr> errors_;
  // True after join(); only the test's thread touches it.
  bool joined_ = false;
};

} // namespace kyoto_test

#endif // KYOTO_TEST_SUPPORT_THREAD_RUNNER_HPP
