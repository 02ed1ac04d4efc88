// bench/systems/thread_pool.hpp
//
// `thread_pool`: boost::asio::thread_pool(N). Its threads are its own; they idle inside the pool
// until it is destroyed.

#ifndef KYOTO_BENCH_SYSTEMS_THREAD_POOL_HPP
#define KYOTO_BENCH_SYSTEMS_THREAD_POOL_HPP

#include "../system.hpp"

#include <boost/asio/thread_pool.hpp>

#include <cstddef>
#include <string_view>

namespace kyoto_bench {

class thread_pool_system {
 public:
  static constexpr std::string_view name = "thread_pool";

  explicit thread_pool_system(int threads) : pool_(static_cast<std::size_t>(threads)) {}

  ~thread_pool_system() {
    pool_.stop();
    pool_.join();
  }

  thread_pool_system(const thread_pool_system&) = delete;
  thread_pool_system& operator=(const thread_pool_system&) = delete;

  auto executor() { return pool_.get_executor(); }

 private:
  // The pool under test.
  boost::asio::thread_pool pool_;
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_SYSTEMS_THREAD_POOL_HPP
