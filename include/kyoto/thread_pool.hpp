// kyoto/thread_pool.hpp
//
// kyoto::thread_pool: a kyoto::context that runs itself on its own threads, like
// boost::asio::thread_pool.
//
//   kyoto::thread_pool pool{4};            // four worker threads start at once
//   asio::post(pool, [] { ... });
//   pool.join();                           // waits until no work is left, then joins
//
// The pool holds one unit of outstanding work from construction until join() (or stop()), so
// its threads wait for work instead of returning when the queues run dry. As with
// asio::thread_pool, an exception that escapes a handler terminates the program; catch inside
// handlers (or use co_spawn/kyoto::spawn, which deliver exceptions to their completion).
//
// Thread safety: distinct objects safe; shared objects safe, except the destructor.

#ifndef KYOTO_THREAD_POOL_HPP
#define KYOTO_THREAD_POOL_HPP

#include <kyoto/context.hpp>

#include <mutex>
#include <thread>
#include <vector>

namespace kyoto {

class thread_pool : public context {
 public:
  /// One thread per hardware thread.
  thread_pool();

  /// Starts `threads` worker threads. Throws system_error(kyoto::error::invalid_concurrency)
  /// when threads < 1.
  explicit thread_pool(int threads, const context_options& options = {});

  /// Stops the pool, joins its threads, then destroys pending handlers without running them.
  ~thread_pool();

  /// Lets the threads exit once no work is left, and waits for them.
  void join();

  /// Makes the threads exit as soon as they finish the handler they are running; queued
  /// handlers are kept (and destroyed with the pool unless run later by a restart()).
  void stop() { context::stop(); }

 private:
  void release_work() noexcept;

  // The pool's own threads.
  std::vector<std::thread> threads_;
  // Whether the pool still holds its unit of outstanding work.
  bool holds_work_ = true;
  // Serialises join() calls.
  std::mutex join_mutex_;
};

} // namespace kyoto

#endif // KYOTO_THREAD_POOL_HPP
