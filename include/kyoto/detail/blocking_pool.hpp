// kyoto/detail/blocking_pool.hpp
//
// The pool of threads behind kyoto::spawn_blocking: one per context, an Asio service, so that
// the context's destruction shuts it down.
//
// Protocol:
// - submit() (any thread) queues a job (a detail::operation). If a thread is idle, the
//   submitter claims it (idle_ - 1, wakeups_ + 1) and signals the condition variable; an idle
//   thread leaves its wait only by consuming one wakeup, so N submits wake N distinct threads
//   (Tokio's blocking pool counts notifications the same way). Otherwise, below the cap
//   (blocking_options::max_threads) a new thread is started; at the cap the job waits in the
//   queue for the next thread that finishes a job.
// - A thread runs jobs until the queue is empty, then idles. An idle thread that sees no
//   wakeup within the keep-alive exits; it moves its own std::thread object to exited_, which
//   the next submit() or shutdown() joins (so no thread is ever detached).
// - shutdown() (the context's destructor): refuses new jobs (they are destroyed at once), takes
//   the queue and destroys the jobs in it without running them, then joins every thread: jobs
//   that are running finish first.
// All members are guarded by mutex_. Jobs run without the lock held.

#ifndef KYOTO_DETAIL_BLOCKING_POOL_HPP
#define KYOTO_DETAIL_BLOCKING_POOL_HPP

#include <kyoto/detail/operation.hpp>

#include <boost/asio/execution_context.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace kyoto {

/// The settings of a context's blocking pool (kyoto::set_blocking_options).
struct blocking_options {
  /// The most threads running blocking functions at once; further calls wait in a queue.
  std::size_t max_threads = 512;
  /// How long an idle thread waits for a new call before it exits.
  std::chrono::milliseconds keep_alive = std::chrono::seconds(10);
};

} // namespace kyoto

namespace kyoto::detail {

class blocking_pool final
    : public boost::asio::detail::execution_context_service_base<blocking_pool> {
 public:
  explicit blocking_pool(boost::asio::execution_context& ctx);
  ~blocking_pool() override;

  /// Queues `job`, which the pool completes (runs) on one of its threads, or destroys at
  /// shutdown. Throws what starting a thread throws when the pool has no thread at all (the job
  /// is destroyed then). Any thread.
  void submit(operation* job);

  /// Changes the settings for what happens next (a lower cap stops no running thread). Any
  /// thread. Throws std::invalid_argument for max_threads == 0 or a negative keep-alive.
  void set_options(const blocking_options& options);
  blocking_options options() const;

  /// Threads alive, and those of them idle. Any thread.
  std::size_t thread_count() const;
  std::size_t idle_count() const;

  /// Destroys the queued jobs and joins every thread (the context's destructor).
  void shutdown() override;

 private:
  void thread_main();

  // Guards everything below.
  mutable std::mutex mutex_;
  // Signalled to wake idle threads (with wakeups_) and at shutdown.
  std::condition_variable cv_;
  // Jobs not yet taken by a thread.
  std::deque<operation*> queue_;
  // The settings.
  blocking_options options_;
  // Live threads (including idle ones), by id.
  std::map<std::thread::id, std::thread> threads_;
  // Threads that exited and still need a join.
  std::vector<std::thread> exited_;
  // Idle threads not yet claimed by a submitter.
  std::size_t idle_ = 0;
  // Wakeups granted to idle threads and not yet consumed.
  std::size_t wakeups_ = 0;
  // Set by shutdown().
  bool shut_down_ = false;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_BLOCKING_POOL_HPP
