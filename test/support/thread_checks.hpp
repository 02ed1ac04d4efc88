// test/support/thread_checks.hpp: checks made on a context's threads and reported on the test's
// thread (Boost.Test assertions are not thread-safe), and a record of which threads ran code.

#ifndef KYOTO_TEST_SUPPORT_THREAD_CHECKS_HPP
#define KYOTO_TEST_SUPPORT_THREAD_CHECKS_HPP

#include <boost/test/unit_test.hpp>

#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace kyoto_test {

/// Failed checks recorded on any thread (with KT_CHECK), reported on the test's thread (with
/// KT_REPORT, or BOOST_TEST(log.failures() == "")).
class check_log {
 public:
  /// Records `expr` at `line` as failed unless `ok`. Returns `ok`.
  bool check(bool ok, const char* expr, int line) {
    if (!ok) {
      std::lock_guard lock(mutex_);
      failures_ += "line " + std::to_string(line) + ": " + expr + "\n";
    }
    return ok;
  }

  /// Every recorded failure, one per line; empty when all checks passed.
  std::string failures() const {
    std::lock_guard lock(mutex_);
    return failures_;
  }

 private:
  // Guards failures_.
  mutable std::mutex mutex_;
  // The failed checks.
  std::string failures_;
};

/// Collects the ids of the threads that called record().
class thread_recorder {
 public:
  void record() {
    std::lock_guard lock(mutex_);
    ids_.insert(std::this_thread::get_id());
  }
  std::set<std::thread::id> ids() const {
    std::lock_guard lock(mutex_);
    return ids_;
  }

 private:
  // Guards ids_.
  mutable std::mutex mutex_;
  // Every thread that called record().
  std::set<std::thread::id> ids_;
};

} // namespace kyoto_test

/// Checks `cond` from any thread, recording a failure in `log` (a check_log).
#define KT_CHECK(log, cond) (log).check(static_cast<bool>(cond), #cond, __LINE__)

/// Reports the failures recorded in a check_log (call on the test thread).
#define KT_REPORT(log) BOOST_CHECK_MESSAGE((log).failures().empty(), (log).failures())

#endif // KYOTO_TEST_SUPPORT_THREAD_CHECKS_HPP
