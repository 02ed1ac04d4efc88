// bench/workload.cpp
//
// The compiled parts of bench/workload.hpp.

#include "workload.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace kyoto_bench {

namespace {

// Guards current_run.
std::mutex current_run_mutex;
// What is being measured, for fail().
std::string current_run = "start-up";

} // namespace

void set_current_run(std::string label) {
  std::lock_guard lock(current_run_mutex);
  current_run = std::move(label);
}

void fail(const std::string& message) {
  {
    std::lock_guard lock(current_run_mutex);
    std::fprintf(stderr, "\nkyoto_bench: FAILED %s: %s\nNo results were written.\n",
                 current_run.c_str(), message.c_str());
  }
  std::fflush(stderr);
  // The system's threads may be stuck or still running handlers: leave without joining them.
  std::_Exit(3);
}

std::uint64_t spin(std::uint64_t iterations, std::uint64_t seed) noexcept {
  std::uint64_t x = seed | 1;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    // Keeps the compiler from vectorising or folding the chain.
    asm volatile("" : "+r"(x));
  }
  return x;
}

double calibrate_spin() {
  constexpr std::uint64_t steps = 200'000;
  double best_ns = 1e300;
  std::uint64_t sink = 0;
  for (int i = 0; i < 7; ++i) {
    stopwatch watch;
    sink += spin(steps, sink + 1);
    best_ns = std::min(best_ns, watch.elapsed().count());
  }
  check(sink != 0 && best_ns > 0, "spin calibration failed");
  return static_cast<double>(steps) / (best_ns / 1e3);
}

} // namespace kyoto_bench
