// bench/main.cpp
//
// kyoto_bench: runs every selected workload on every selected system, in one process, with the
// systems interleaved (the order is rotated every iteration, so slow drifts of the machine hit
// every system alike), and writes the table, the JSON and the chart.
//
//   kyoto_bench [--workloads a,b] [--systems a,b] [--threads 1,2,4] [--iterations K]
//               [--warmup W] [--baseline SYSTEM] [--out DIR] [--quick] [--list]

#include "report.hpp"
#include "systems.hpp"
#include "workloads.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#ifndef KYOTO_BENCH_DEFAULT_OUT
#define KYOTO_BENCH_DEFAULT_OUT "bench/results"
#endif

namespace kyoto_bench {
namespace {

// --- Type erasure: every (system, workload) pair becomes one virtual call ---

template <typename List>
struct workload_table;

template <typename... W>
struct workload_table<type_list<W...>> {
  static std::vector<workload_info> infos() {
    return {workload_info{std::string(W::name), std::string(W::summary), in_default_run<W>()}...};
  }
  template <system S>
  static constexpr std::array<sample (*)(S&, const environment&), sizeof...(W)> runs = {
      &W::template run<S>...};
};

using workloads_table = workload_table<all_workloads>;

/// A running system, any type.
class any_system {
 public:
  virtual ~any_system() = default;
  virtual std::string_view name() const = 0;
  /// Runs workload number `w` (index into all_workloads) once.
  virtual sample run(std::size_t w, const environment& env) = 0;
};

template <system S>
class system_holder final : public any_system {
 public:
  explicit system_holder(int threads) : system_(threads) {}
  std::string_view name() const override { return S::name; }
  sample run(std::size_t w, const environment& env) override {
    return workloads_table::runs<S>[w](system_, env);
  }

 private:
  // The system.
  S system_;
};

template <typename List>
struct system_factory;

template <typename... S>
struct system_factory<type_list<S...>> {
  static std::vector<std::string> names() { return {std::string(S::name)...}; }
  static std::unique_ptr<any_system> make(std::string_view name, int threads) {
    std::unique_ptr<any_system> out;
    ((S::name == name ? (out = std::make_unique<system_holder<S>>(threads), 0) : 0), ...);
    return out;
  }
};

using systems_factory = system_factory<all_systems>;

// --- Options ---

struct options {
  std::vector<std::string> workloads;
  std::vector<std::string> systems;
  std::vector<int> threads{1, 2};
  int iterations = 10;
  int warmup = 2;
  std::string baseline;
  std::string out = KYOTO_BENCH_DEFAULT_OUT;
  int timeout = 60;
  bool list = false;
};

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  if (out.empty())
    throw usage_error("empty list '" + s + "'");
  return out;
}

int to_int(const std::string& s, const std::string& what, int lo, int hi) {
  std::size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty() || v < lo || v > hi)
    throw usage_error(what + " must be a whole number from " + std::to_string(lo) + " to " +
                      std::to_string(hi) + ", got '" + s + "'");
  return v;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ", ") + s;
  return out;
}

void check_names(const std::vector<std::string>& chosen, const std::vector<std::string>& known,
                 const std::string& what) {
  for (const auto& c : chosen) {
    if (std::find(known.begin(), known.end(), c) == known.end())
      throw usage_error("unknown " + what + " '" + c + "' (known: " + joined(known) + ")");
    if (std::count(chosen.begin(), chosen.end(), c) > 1)
      throw usage_error(what + " '" + c + "' given twice");
  }
}

const char* const usage_text =
    "usage: kyoto_bench [options]\n"
    "  --workloads a,b    workloads to run (default: all but the slow ones; see --list)\n"
    "  --systems a,b      systems to compare (default: all)\n"
    "  --threads 1,2,4    thread counts N (default: 1,2)\n"
    "  --iterations K     measured iterations per cell (default: 10)\n"
    "  --warmup W         unmeasured iterations first (default: 2)\n"
    "  --quick            1 warm-up + 3 measured iterations (smoke test)\n"
    "  --baseline NAME    the system the ratios compare to (default: kyoto, else the first)\n"
    "  --out DIR          where results.md, results.json and ratios.svg go\n"
    "                     (default: " KYOTO_BENCH_DEFAULT_OUT ")\n"
    "  --timeout S        a workload that has not finished after S seconds is a failure\n"
    "                     (default: 60)\n"
    "  --list             list workloads and systems and exit\n";

options parse(int argc, char** argv) {
  options o;
  const auto all_w = workloads_table::infos();
  for (const auto& w : all_w)
    if (w.in_default_run)
      o.workloads.push_back(w.name);
  o.systems = systems_factory::names();
  bool quick = false, iterations_set = false, warmup_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--workloads")
      o.workloads = split(value());
    else if (arg == "--systems")
      o.systems = split(value());
    else if (arg == "--threads") {
      o.threads.clear();
      for (const auto& t : split(value()))
        o.threads.push_back(to_int(t, "--threads", 1, 1024));
    } else if (arg == "--iterations") {
      o.iterations = to_int(value(), "--iterations", 1, 1'000'000);
      iterations_set = true;
    } else if (arg == "--warmup") {
      o.warmup = to_int(value(), "--warmup", 0, 1'000'000);
      warmup_set = true;
    } else if (arg == "--quick")
      quick = true;
    else if (arg == "--baseline")
      o.baseline = value();
    else if (arg == "--out")
      o.out = value();
    else if (arg == "--timeout")
      o.timeout = to_int(value(), "--timeout", 1, 86'400);
    else if (arg == "--list")
      o.list = true;
    else if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      std::exit(0);
    } else
      throw usage_error("unknown option '" + arg + "'");
  }
  if (quick) {
    if (!iterations_set)
      o.iterations = 3;
    if (!warmup_set)
      o.warmup = 1;
  }
  std::vector<std::string> known_w;
  for (const auto& w : all_w)
    known_w.push_back(w.name);
  check_names(o.workloads, known_w, "workload");
  check_names(o.systems, systems_factory::names(), "system");
  for (int n : o.threads)
    if (std::count(o.threads.begin(), o.threads.end(), n) > 1)
      throw usage_error("thread count " + std::to_string(n) + " given twice");
  if (o.baseline.empty())
    o.baseline = std::find(o.systems.begin(), o.systems.end(), "kyoto") != o.systems.end()
                     ? "kyoto"
                     : o.systems.front();
  else if (std::find(o.systems.begin(), o.systems.end(), o.baseline) == o.systems.end())
    throw usage_error("--baseline " + o.baseline + " is not one of the systems run (" +
                      joined(o.systems) + ")");
  return o;
}

// --- The run ---

/// On a terminal, one line rewritten in place (and kept when `final_line`); otherwise only the
/// final lines, so that a log stays short.
void progress(const std::string& line, bool final_line) {
  static const bool tty = isatty(STDERR_FILENO) != 0;
  if (tty)
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  else if (final_line)
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

report run(const options& o) {
  const auto start = std::chrono::steady_clock::now();
  report r;
  for (const auto& w : workloads_table::infos())
    if (std::find(o.workloads.begin(), o.workloads.end(), w.name) != o.workloads.end())
      r.workloads.push_back(w);
  r.systems = o.systems;
  r.threads = o.threads;
  r.baseline = o.baseline;
  r.warmup = o.warmup;
  r.iterations = o.iterations;

  environment env;
  env.spins_per_us = calibrate_spin();
  r.spins_per_us = env.spins_per_us;

  const auto all_w = workloads_table::infos();
  const int total = o.warmup + o.iterations;
  for (int n : o.threads) {
    env.threads = n;
    std::vector<std::unique_ptr<any_system>> systems;
    for (const auto& s : o.systems)
      systems.push_back(systems_factory::make(s, n));
    for (const auto& w : r.workloads) {
      const auto wi = static_cast<std::size_t>(
          std::find_if(all_w.begin(), all_w.end(), [&](auto& x) { return x.name == w.name; }) -
          all_w.begin());
      std::vector<std::vector<double>> samples(systems.size());
      for (int it = 0; it < total; ++it) {
        const bool measured = it >= o.warmup;
        progress(w.name + "  N=" + std::to_string(n) + "  " +
                     (measured
                          ? "iteration " + std::to_string(it - o.warmup + 1) + "/" +
                                std::to_string(o.iterations)
                          : "warm-up " + std::to_string(it + 1) + "/" + std::to_string(o.warmup)),
                 false);
        for (std::size_t k = 0; k < systems.size(); ++k) {
          const std::size_t s = (static_cast<std::size_t>(it) + k) % systems.size();
          set_current_run(w.name + " on " + std::string(systems[s]->name()) +
                          " with N=" + std::to_string(n));
          const sample t = systems[s]->run(wi, env);
          check(!countdown_overrun.load(), "a handler ran more often than it was posted");
          check(t.count() > 0, "the measured time is not positive");
          if (measured)
            samples[s].push_back(t.count());
        }
      }
      for (std::size_t s = 0; s < systems.size(); ++s)
        r.results.push_back({w.name, n, std::string(systems[s]->name()), std::move(samples[s])});
      progress(w.name + "  N=" + std::to_string(n) + "  done", !isatty(STDERR_FILENO));
    }
    progress("N=" + std::to_string(n) + " done", true);
  }
  r.run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

void write_file(const std::filesystem::path& path, void (*writer)(std::ostream&, const report&),
                const report& r) {
  std::ofstream out(path);
  writer(out, r);
  out.close();
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

int main_impl(int argc, char** argv) {
  options o;
  try {
    o = parse(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "kyoto_bench: " << e.what() << "\n" << usage_text;
    return 2;
  }
  if (o.list) {
    std::cout << "workloads:\n";
    for (const auto& w : workloads_table::infos())
      std::cout << "  " << w.name << ": " << w.summary
                << (w.in_default_run ? "" : " (only when named)") << "\n";
    std::cout << "systems:\n";
    for (const auto& s : systems_factory::names())
      std::cout << "  " << s << "\n";
    return 0;
  }
  wait_limit = std::chrono::seconds(o.timeout);
  const std::filesystem::path dir = o.out;
  std::filesystem::create_directories(dir);

  const report r = run(o);
  write_table(std::cout, r);
  write_file(dir / "results.md", write_markdown, r);
  write_file(dir / "results.json", write_json, r);
  if (r.systems.size() > 1)
    write_file(dir / "ratios.svg", write_svg, r);
  std::cout << "\nWrote " << (dir / "results.md").string() << ", "
            << (dir / "results.json").string();
  if (r.systems.size() > 1)
    std::cout << " and " << (dir / "ratios.svg").string();
  std::cout << " (" << static_cast<int>(r.run_seconds) << " s).\n";
  return 0;
}

} // namespace
} // namespace kyoto_bench

int main(int argc, char** argv) {
  try {
    return kyoto_bench::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "kyoto_bench: " << e.what() << "\n";
    return 1;
  }
}
