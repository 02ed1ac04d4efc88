// bench/systems/io_context_pool.hpp
//
// `io_context_pool`: N io_contexts, each run by its own thread (the "io_context-per-thread"
// design). executor() hands the contexts out round-robin; work posted from inside a handler to
// that handler's executor stays on its context, which cannot give it to an idle thread.

#ifndef KYOTO_BENCH_SYSTEMS_IO_CONTEXT_POOL_HPP
#define KYOTO_BENCH_SYSTEMS_IO_CONTEXT_POOL_HPP

#include "../system.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

namespace kyoto_bench {

class io_context_pool_system {
 public:
  static constexpr std::string_view name = "io_context_pool";

  explicit io_context_pool_system(int threads) {
    for (int i = 0; i < threads; ++i) {
      // Concurrency hint 1: each context is only ever run by one thread.
      contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
    for (auto& c : contexts_)
      threads_.emplace_back([ctx = c.get()] { run_guarded(name, [ctx] { ctx->run(); }); });
  }

  ~io_context_pool_system() {
    guards_.clear();
    for (auto& t : threads_)
      t.join();
  }

  io_context_pool_system(const io_context_pool_system&) = delete;
  io_context_pool_system& operator=(const io_context_pool_system&) = delete;

  boost::asio::io_context::executor_type executor() {
    auto i = next_.fetch_add(1, std::memory_order_relaxed);
    return contexts_[i % contexts_.size()]->get_executor();
  }

 private:
  // One context per thread.
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  // Keep each context's run() from returning while the system is idle.
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  // Thread i runs contexts_[i].
  std::vector<std::thread> threads_;
  // The round-robin cursor of executor().
  std::atomic<std::size_t> next_{0};
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_SYSTEMS_IO_CONTEXT_POOL_HPP
