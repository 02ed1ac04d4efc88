// test/futures/manual_scheduler.hpp
//
// A task scheduler for tests that do not need a running context: woken tasks go to a deque,
// and the test runs them one by one, on the thread it chooses. Records each schedule hint.

#ifndef KYOTO_TEST_FUTURES_MANUAL_SCHEDULER_HPP
#define KYOTO_TEST_FUTURES_MANUAL_SCHEDULER_HPP

#include <kyoto/detail/task_header.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <vector>

namespace kyoto::test {

class manual_scheduler final : public kyoto::detail::task_scheduler {
 public:
  ~manual_scheduler() { shutdown(); }

  void schedule_task(kyoto::detail::task_header* t,
                     kyoto::detail::schedule_hint hint) noexcept override {
    std::lock_guard lock(mutex_);
    if (shut_down_) {
      t->destroy();
      return;
    }
    queue_.push_back(t);
    hints_.push_back(hint);
    ++scheduled_;
  }
  void work_started() noexcept override { work_.fetch_add(1); }
  void work_finished() noexcept override { work_.fetch_sub(1); }

  /// Runs one queued task; false when the queue was empty.
  bool run_one() {
    kyoto::detail::operation* op;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty())
        return false;
      op = queue_.front();
      queue_.pop_front();
    }
    op->complete();
    return true;
  }

  /// Runs until the queue is empty; returns how many ran.
  std::size_t run() {
    std::size_t n = 0;
    while (run_one())
      ++n;
    return n;
  }

  /// What a context's destruction does: cancel every task, then destroy the queued ones.
  void shutdown() {
    shutdown_tasks();
    std::deque<kyoto::detail::operation*> q;
    {
      std::lock_guard lock(mutex_);
      shut_down_ = true;
      q.swap(queue_);
    }
    for (auto* op : q)
      op->destroy();
  }

  std::size_t queued() {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }
  std::size_t scheduled() {
    std::lock_guard lock(mutex_);
    return scheduled_;
  }
  std::vector<kyoto::detail::schedule_hint> hints() {
    std::lock_guard lock(mutex_);
    return hints_;
  }
  int work() const { return work_.load(); }

 private:
  std::mutex mutex_;
  std::deque<kyoto::detail::operation*> queue_;
  std::vector<kyoto::detail::schedule_hint> hints_;
  std::size_t scheduled_ = 0;
  bool shut_down_ = false;
  std::atomic<int> work_{0};
};

} // namespace kyoto::test

#endif // KYOTO_TEST_FUTURES_MANUAL_SCHEDULER_HPP
