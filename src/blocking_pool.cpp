// The blocking pool's threads (protocol: include/kyoto/detail/blocking_pool.hpp).

#include <kyoto/detail/blocking_pool.hpp>

#include <stdexcept>
#include <utility>

namespace kyoto::detail {

blocking_pool::blocking_pool(boost::asio::execution_context& ctx)
    : execution_context_service_base<blocking_pool>(ctx) {
}

blocking_pool::~blocking_pool() {
  shutdown();
}

void blocking_pool::submit(operation* job) {
  std::vector<std::thread> to_join;
  {
    std::unique_lock lock(mutex_);
    if (shut_down_) {
      lock.unlock();
      job->destroy();
      return;
    }
    to_join.swap(exited_);
    queue_.push_back(job);
    if (idle_ > 0) {
      --idle_;
      ++wakeups_;
      cv_.notify_one();
    } else if (threads_.size() < options_.max_threads) {
      try {
        std::thread t([this] { thread_main(); });
        const auto id = t.get_id();
        threads_.emplace(id, std::move(t));
      } catch (...) {
        if (threads_.empty()) {
          // Nobody would ever run it.
          queue_.pop_back();
          lock.unlock();
          job->destroy();
          for (auto& t : to_join)
            t.join();
          throw;
        }
        // Otherwise a running thread takes it when it is done with its job.
      }
    }
  }
  for (auto& t : to_join)
    t.join();
}

void blocking_pool::thread_main() {
  std::unique_lock lock(mutex_);
  for (;;) {
    while (!queue_.empty()) {
      operation* job = queue_.front();
      queue_.pop_front();
      lock.unlock();
      job->complete(); // never throws: blocking jobs catch what the function throws
      lock.lock();
    }
    if (shut_down_)
      break;
    ++idle_;
    const auto deadline = std::chrono::steady_clock::now() + options_.keep_alive;
    bool woken = false;
    for (;;) {
      const bool timed_out = cv_.wait_until(lock, deadline) == std::cv_status::timeout;
      if (wakeups_ > 0) {
        --wakeups_; // the submitter already took us off idle_
        woken = true;
        break;
      }
      if (shut_down_ || timed_out)
        break;
    }
    if (!woken) {
      --idle_;
      break;
    }
  }
  // Exiting: hand our std::thread to whoever joins next (shutdown may have taken it already).
  auto it = threads_.find(std::this_thread::get_id());
  if (it != threads_.end()) {
    exited_.push_back(std::move(it->second));
    threads_.erase(it);
  }
}

void blocking_pool::set_options(const blocking_options& options) {
  if (options.max_threads == 0)
    throw std::invalid_argument("kyoto::set_blocking_options: max_threads must be at least 1");
  if (options.keep_alive.count() < 0)
    throw std::invalid_argument("kyoto::set_blocking_options: keep_alive must not be negative");
  std::lock_guard lock(mutex_);
  options_ = options;
}

blocking_options blocking_pool::options() const {
  std::lock_guard lock(mutex_);
  return options_;
}

std::size_t blocking_pool::thread_count() const {
  std::lock_guard lock(mutex_);
  return threads_.size();
}

std::size_t blocking_pool::idle_count() const {
  std::lock_guard lock(mutex_);
  return idle_;
}

void blocking_pool::shutdown() {
  std::deque<operation*> queued;
  std::map<std::thread::id, std::thread> live;
  std::vector<std::thread> exited;
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    queued.swap(queue_);
    live.swap(threads_);
    exited.swap(exited_);
    cv_.notify_all();
  }
  for (operation* job : queued)
    job->destroy();
  // A blocking function that destroys its own context cannot join its own thread: that one
  // is detached (it only returns from here).
  auto join = [](std::thread& t) {
    if (!t.joinable())
      return;
    if (t.get_id() == std::this_thread::get_id())
      t.detach();
    else
      t.join();
  };
  for (auto& [id, t] : live)
    join(t);
  for (auto& t : exited)
    join(t);
}

} // namespace kyoto::detail
