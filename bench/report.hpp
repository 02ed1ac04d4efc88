// bench/report.hpp
//
// The results of a run and the three ways they are written: a Markdown table, a JSON file with
// every raw sample, and an SVG bar chart of the ratios.

#ifndef KYOTO_BENCH_REPORT_HPP
#define KYOTO_BENCH_REPORT_HPP

#include <iosfwd>
#include <string>
#include <vector>

namespace kyoto_bench {

/// The samples of one (workload, N, system), in nanoseconds, in the order they were taken.
struct series {
  std::string workload;
  int threads = 0;
  std::string system;
  std::vector<double> samples_ns;
};

struct workload_info {
  std::string name;
  std::string summary;
  /// Runs without being named in --workloads.
  bool in_default_run = true;
};

struct report {
  /// Workloads, systems and thread counts in report order.
  std::vector<workload_info> workloads;
  std::vector<std::string> systems;
  std::vector<int> threads;
  /// The system the others are compared to ("kyoto"); empty: no ratios.
  std::string baseline;
  int warmup = 0;
  int iterations = 0;
  double spins_per_us = 0;
  /// Seconds the whole run took.
  double run_seconds = 0;
  std::vector<series> results;

  /// The series of (workload, threads, system), or null.
  const series* find(const std::string& workload, int threads, const std::string& system) const;
};

double median(std::vector<double> v);

/// The table of medians and ratios, as printed to stdout.
void write_table(std::ostream& out, const report& r);
/// results.md: the table, the spread (min and max) and how the run was made.
void write_markdown(std::ostream& out, const report& r);
void write_json(std::ostream& out, const report& r);
/// The ratios chart; writes nothing useful when there is no baseline.
void write_svg(std::ostream& out, const report& r);

} // namespace kyoto_bench

#endif // KYOTO_BENCH_REPORT_HPP
