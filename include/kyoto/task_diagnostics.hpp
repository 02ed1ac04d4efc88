// kyoto/task_diagnostics.hpp
//
// Busy-loop diagnostics for the tasks of a kyoto::context.
//
//   auto d = kyoto::task_diagnostics(ctx);
//   for (const kyoto::task_info& t : d.suspicious)
//     std::fprintf(stderr, "task %llu (%s): %llu polls, %llu wakes, %llu self-wakes\n", ...);
//
// A task is suspicious when it was polled at least 1000 times and either nearly every poll was
// followed by a wake from the task itself (it returns pending after waking its own waker without
// waiting for anything: the spurious-wake-up busy loop), or it was polled far more often than it
// was woken. Each worker counts polls and wakes per task; nothing is sampled.
//
// Thread safety: any thread, while the context is running or not. The report is a snapshot: the
// counters of a task being polled at that moment may be one poll behind.

#ifndef KYOTO_TASK_DIAGNOSTICS_HPP
#define KYOTO_TASK_DIAGNOSTICS_HPP

#include <kyoto/context.hpp>
#include <kyoto/detail/task_header.hpp>
#include <kyoto/detail/task_service.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kyoto {

/// What task_diagnostics() reports.
struct task_diagnostics_report {
  /// Tasks found suspicious by the workers since the context was created (each counted once,
  /// finished tasks included).
  std::uint64_t suspicious_task_count = 0;
  /// Tasks not yet finished.
  std::size_t live_tasks = 0;
  /// The live tasks that look like busy loops now: id (join_handle::id()), type, polls, wakes,
  /// self-wakes.
  std::vector<task_info> suspicious;
};

/// A snapshot of the busy-loop diagnostics of `ctx`'s tasks.
inline task_diagnostics_report task_diagnostics(kyoto::context& ctx) {
  auto& service = detail::task_service::of(ctx);
  task_diagnostics_report r;
  r.suspicious_task_count = service.suspicious_task_count();
  std::vector<task_info> all = service.diagnostics();
  r.live_tasks = all.size();
  for (task_info& t : all)
    if (t.suspicious)
      r.suspicious.push_back(std::move(t));
  return r;
}

} // namespace kyoto

#endif // KYOTO_TASK_DIAGNOSTICS_HPP
