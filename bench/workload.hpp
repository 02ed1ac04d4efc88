// bench/workload.hpp
//
// What a workload is, and the few tools every workload uses.
//
// A workload is a class with
//   static constexpr std::string_view name;     // the name given to --workloads
//   static constexpr std::string_view summary;  // one line for --list and the report
//   template <system S> static sample run(S& sys, const environment& env);
// and optionally `static constexpr bool in_default_run = false;` for a workload too slow for the
// default run (it then runs only when named in --workloads).
// run() does any untimed set-up, measures one iteration with a stopwatch (up to the last
// handler's count_down(): stopwatch::elapsed_until), validates what ran
// (calling fail() when anything is wrong), tears down, and returns the measured time. It is
// called on the main thread, which is never one of the system's threads. It may only return
// once nothing it submitted can still touch its stack: the last handler's count_down() is the
// last access to the workload's state.
//
// Registering a workload: one header under bench/workloads/, one line in bench/workloads.hpp.

#ifndef KYOTO_BENCH_WORKLOAD_HPP
#define KYOTO_BENCH_WORKLOAD_HPP

#include "system.hpp"

#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace kyoto_bench {

/// One measurement. Most workloads return the wall time of one iteration; a workload may return
/// a time per operation instead (and says so in its summary).
using sample = std::chrono::duration<double, std::nano>;

/// What the runner tells a workload about the run.
struct environment {
  /// N, the number of threads of the system.
  int threads = 1;
  /// spin() iterations per microsecond of CPU on this machine (calibrated once at start-up).
  double spins_per_us = 1.0;
};

/// Whether workload W runs when --workloads is not given.
template <typename W>
constexpr bool in_default_run() {
  if constexpr (requires { W::in_default_run; })
    return W::in_default_run;
  else
    return true;
}

/// A name for the workload, system and N being measured, for failure messages.
void set_current_run(std::string label);

/// Prints "kyoto_bench: FAILED <current run>: <message>" and ends the process without a report:
/// a broken system must not produce a number. Safe to call from any thread.
[[noreturn]] void fail(const std::string& message);

/// fail(message) unless `ok`. Checks sit on the workloads' hot paths, so the message is a
/// literal or a callable that builds it only on failure (never a std::string built per call).
inline void check(bool ok, const char* message) {
  if (!ok)
    fail(message);
}

/// fail(make_message()) unless `ok`.
template <std::invocable F>
void check(bool ok, F&& make_message) {
  if (!ok)
    fail(std::forward<F>(make_message)());
}

/// How long countdown::wait() waits before it declares the system hung (--timeout).
inline std::chrono::seconds wait_limit{60};

/// Set when a countdown went below zero (a handler ran more often than submitted). Checked by
/// the runner after every sample.
inline std::atomic<bool> countdown_overrun{false};

/// Burns CPU deterministically for `iterations` steps (an xorshift chain the compiler cannot fold)
/// and returns the final state, which the caller must use.
std::uint64_t spin(std::uint64_t iterations, std::uint64_t seed) noexcept;

/// spin() for `us` microseconds with the calibration in `env`.
inline std::uint64_t spin_for_us(const environment& env, double us, std::uint64_t seed) noexcept {
  return spin(static_cast<std::uint64_t>(env.spins_per_us * us), seed);
}

/// Measures spin() iterations per microsecond (best of several runs).
double calibrate_spin();

/// Counts handlers down to zero; the main thread waits for zero.
///
/// Protocol: count_down() from any thread, at most `n` times in total; wait() from one thread.
/// After wait() returns no count_down() call touches the object any more (the one that reached
/// zero notifies under the mutex, and wait() takes the mutex before it returns).
class countdown {
 public:
  explicit countdown(std::int64_t n) : remaining_(n) {}

  countdown(const countdown&) = delete;
  countdown& operator=(const countdown&) = delete;

  void count_down() noexcept {
    // acq_rel: the release publishes this handler's writes; the acquire of the call that reaches
    // zero sees every earlier handler's writes, and hands them to wait() through the mutex.
    const auto left = remaining_.fetch_sub(1, std::memory_order_acq_rel) - 1;
    if (left == 0) {
      finished_at_ = std::chrono::steady_clock::now(); // read by wait()'s caller, after the mutex
      std::lock_guard lock(mutex_);
      done_ = true;
      cv_.notify_all();
    } else if (left < 0) {
      countdown_overrun.store(true, std::memory_order_relaxed);
    }
  }

  /// Blocks until the count reaches zero; fail()s after wait_limit (a lost handler or a hung
  /// system).
  void wait() {
    const auto limit = wait_limit;
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, limit, [this] { return done_; }))
      fail("timed out after " + std::to_string(limit.count()) + " s with " +
           std::to_string(remaining_.load()) + " handlers still to run");
  }

  std::int64_t remaining() const noexcept { return remaining_.load(std::memory_order_acquire); }

  /// When the count reached zero, as seen by the handler that took it there. Valid after wait().
  /// Timing up to here rather than to wait()'s return keeps the main thread's own wake-up, a
  /// cost of the harness and not of the system, out of the measurement.
  std::chrono::steady_clock::time_point finished_at() const noexcept { return finished_at_; }

 private:
  // Handlers still to run.
  std::atomic<std::int64_t> remaining_;
  // Guards done_ (and orders the last count_down() before wait() returns).
  std::mutex mutex_;
  // Signals done_.
  std::condition_variable cv_;
  // Set by the count_down() that reaches zero.
  bool done_ = false;
  // Stamped by the count_down() that reaches zero.
  std::chrono::steady_clock::time_point finished_at_{};
};

/// Wall-clock stopwatch, started at construction (or again by restart()).
class stopwatch {
 public:
  sample elapsed() const { return std::chrono::steady_clock::now() - start_; }

  /// From the start to the moment `done` reached zero; call after done.wait().
  sample elapsed_until(const countdown& done) const { return done.finished_at() - start_; }

  /// Starts again now. Workloads that begin with one root handler call this there, so that the
  /// idle system's wake-up by the main thread's first post is not part of what they measure
  /// (spawn_outside_idle measures exactly that).
  void restart() noexcept { start_ = std::chrono::steady_clock::now(); }

 private:
  // When the stopwatch started.
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOAD_HPP
