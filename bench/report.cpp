// bench/report.cpp
//
// Formatting of the results: Markdown, JSON, SVG. Everything here runs on the main thread after
// the measurements.

#include "report.hpp"

#include <boost/version.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace kyoto_bench {

namespace {

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

/// A unit that keeps the numbers of a row readable, chosen from its smallest value.
struct unit {
  const char* name;
  double ns;
};

unit unit_for(double smallest_ns) {
  if (smallest_ns < 1e3)
    return {"ns", 1.0};
  if (smallest_ns < 1e6)
    return {"us", 1e3};
  if (smallest_ns < 1e9)
    return {"ms", 1e6};
  return {"s", 1e9};
}

/// Three significant digits, no exponent.
std::string number(double v) {
  if (v < 10)
    return format("%.2f", v);
  if (v < 100)
    return format("%.1f", v);
  return format("%.0f", v);
}

std::string ratio_text(double r) {
  return format(r < 10 ? "%.2fx" : "%.1fx", r);
}

std::string today() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&t));
  return buf;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += format("\\u%04x", static_cast<unsigned char>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string xml_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::vector<std::string> stock_systems(const report& r) {
  std::vector<std::string> out;
  if (r.baseline.empty())
    return out;
  for (const auto& s : r.systems)
    if (s != r.baseline)
      out.push_back(s);
  return out;
}

/// stock median / baseline median, or NAN when either is missing.
double ratio(const report& r, const std::string& workload, int n, const std::string& system) {
  const series* b = r.find(workload, n, r.baseline);
  const series* s = r.find(workload, n, system);
  if (!b || !s || b->samples_ns.empty() || s->samples_ns.empty())
    return NAN;
  return median(s->samples_ns) / median(b->samples_ns);
}

std::string machine() {
  return std::to_string(std::thread::hardware_concurrency()) + " hardware threads, " + "compiler " +
         __VERSION__ + ", Boost " + std::to_string(BOOST_VERSION / 100000) + "." +
         std::to_string(BOOST_VERSION / 100 % 1000);
}

} // namespace

const series* report::find(const std::string& workload, int n, const std::string& system) const {
  for (const auto& s : results)
    if (s.workload == workload && s.threads == n && s.system == system)
      return &s;
  return nullptr;
}

double median(std::vector<double> v) {
  if (v.empty())
    return NAN;
  std::sort(v.begin(), v.end());
  const auto mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

void write_table(std::ostream& out, const report& r) {
  const auto stock = stock_systems(r);
  out << "Median wall time per iteration (time per operation for timer_*arm_cancel_*, lateness "
         "for timer_fire*); lower is better";
  if (!stock.empty())
    out << "; `X / " << r.baseline << "` = X's median / " << r.baseline << "'s median: > 1 means "
        << r.baseline << " is faster";
  out << ".\n\n| workload | N |";
  for (const auto& s : r.systems)
    out << ' ' << s << " |";
  for (const auto& s : stock)
    out << ' ' << s << " / " << r.baseline << " |";
  out << "\n|---|--:|";
  for (std::size_t i = 0; i < r.systems.size() + stock.size(); ++i)
    out << "--:|";
  out << '\n';
  for (const auto& w : r.workloads) {
    for (int n : r.threads) {
      double smallest = INFINITY;
      for (const auto& s : r.systems)
        if (const series* x = r.find(w.name, n, s))
          smallest = std::min(smallest, median(x->samples_ns));
      if (!std::isfinite(smallest))
        continue;
      const unit u = unit_for(smallest);
      out << "| " << w.name << " | " << n << " |";
      for (const auto& s : r.systems) {
        const series* x = r.find(w.name, n, s);
        out << ' ' << (x ? number(median(x->samples_ns) / u.ns) + ' ' + u.name : "-") << " |";
      }
      for (const auto& s : stock) {
        const double q = ratio(r, w.name, n, s);
        out << ' ' << (std::isnan(q) ? "-" : ratio_text(q)) << " |";
      }
      out << '\n';
    }
  }
}

void write_markdown(std::ostream& out, const report& r) {
  out << "# kyoto_bench results\n\n";
  write_table(out, r);
  out << "\n## Spread\n\nmedian [min - max] over " << r.iterations
      << " measured iterations per cell.\n\n| workload | N |";
  for (const auto& s : r.systems)
    out << ' ' << s << " |";
  out << "\n|---|--:|";
  for (std::size_t i = 0; i < r.systems.size(); ++i)
    out << "--:|";
  out << '\n';
  for (const auto& w : r.workloads) {
    for (int n : r.threads) {
      out << "| " << w.name << " | " << n << " |";
      for (const auto& s : r.systems) {
        const series* x = r.find(w.name, n, s);
        if (!x || x->samples_ns.empty()) {
          out << " - |";
          continue;
        }
        const auto [lo, hi] = std::minmax_element(x->samples_ns.begin(), x->samples_ns.end());
        const unit u = unit_for(*lo);
        out << ' ' << number(median(x->samples_ns) / u.ns) << " [" << number(*lo / u.ns) << " - "
            << number(*hi / u.ns) << "] " << u.name << " |";
      }
      out << '\n';
    }
  }
  out << "\n## Workloads\n\n";
  for (const auto& w : r.workloads)
    out << "- `" << w.name << "`: " << w.summary << "\n";
  out << "\n## Run\n\n- date: " << today() << "\n- machine: " << machine()
      << "\n- iterations: " << r.warmup << " warm-up + " << r.iterations
      << " measured per cell, systems interleaved (order rotated every iteration)"
      << "\n- spin calibration: " << format("%.1f", r.spins_per_us) << " steps per us"
      << "\n- run time: " << format("%.1f", r.run_seconds) << " s\n";
}

void write_json(std::ostream& out, const report& r) {
  out << "{\n  \"generator\": \"kyoto_bench\",\n  \"date\": " << json_string(today())
      << ",\n  \"machine\": " << json_string(machine())
      << ",\n  \"hardware_concurrency\": " << std::thread::hardware_concurrency()
      << ",\n  \"warmup\": " << r.warmup << ",\n  \"iterations\": " << r.iterations
      << ",\n  \"spins_per_us\": " << format("%.3f", r.spins_per_us)
      << ",\n  \"run_seconds\": " << format("%.3f", r.run_seconds)
      << ",\n  \"baseline\": " << json_string(r.baseline) << ",\n  \"unit\": \"ns\""
      << ",\n  \"workloads\": [";
  for (std::size_t i = 0; i < r.workloads.size(); ++i)
    out << (i ? "," : "") << "\n    {\"name\": " << json_string(r.workloads[i].name)
        << ", \"summary\": " << json_string(r.workloads[i].summary) << "}";
  out << "\n  ],\n  \"results\": [";
  for (std::size_t i = 0; i < r.results.size(); ++i) {
    const series& s = r.results[i];
    const auto [lo, hi] = std::minmax_element(s.samples_ns.begin(), s.samples_ns.end());
    out << (i ? "," : "") << "\n    {\"workload\": " << json_string(s.workload)
        << ", \"threads\": " << s.threads << ", \"system\": " << json_string(s.system)
        << ", \"median\": " << format("%.1f", median(s.samples_ns))
        << ", \"min\": " << format("%.1f", s.samples_ns.empty() ? NAN : *lo)
        << ", \"max\": " << format("%.1f", s.samples_ns.empty() ? NAN : *hi) << ", \"samples\": [";
    for (std::size_t j = 0; j < s.samples_ns.size(); ++j)
      out << (j ? ", " : "") << format("%.1f", s.samples_ns[j]);
    out << "]}";
  }
  out << "\n  ]\n}\n";
}

void write_svg(std::ostream& out, const report& r) {
  const auto stock = stock_systems(r);
  static const char* const colours[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                        "#76b7b2", "#b07aa1", "#edc948", "#9c755f"};

  // One group per (workload, N), one bar per stock system.
  struct bar {
    std::size_t system;
    double ratio;
  };
  struct group {
    std::string label;
    bool shaded;
    std::vector<bar> bars;
  };
  std::vector<group> groups;
  double lo = 0.5, hi = 2.0;
  bool shaded = false;
  for (const auto& w : r.workloads) {
    for (int n : r.threads) {
      group g{w.name + "  N=" + std::to_string(n), shaded, {}};
      for (std::size_t i = 0; i < stock.size(); ++i) {
        const double q = ratio(r, w.name, n, stock[i]);
        if (std::isnan(q) || q <= 0)
          continue;
        g.bars.push_back({i, q});
        lo = std::min(lo, q);
        hi = std::max(hi, q);
      }
      if (!g.bars.empty())
        groups.push_back(std::move(g));
    }
    shaded = !shaded;
  }
  const int lo_exp = static_cast<int>(std::floor(std::log2(lo)));
  const int hi_exp = static_cast<int>(std::ceil(std::log2(hi)));

  const double label_w = 230, plot_w = 560, right_w = 70, top = 84, bar_h = 14, bar_gap = 3,
               group_gap = 12;
  double height = top;
  for (const auto& g : groups)
    height += static_cast<double>(g.bars.size()) * (bar_h + bar_gap) + group_gap;
  height += 40;
  const double width = label_w + plot_w + right_w;
  auto x_of = [&](double q) {
    return label_w + (std::log2(q) - lo_exp) / (hi_exp - lo_exp) * plot_w;
  };

  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << ' ' << height
      << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << "<text x=\"" << width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" "
      << "font-weight=\"bold\">Speed-up of " << xml_text(r.baseline)
      << " over each other system (log scale)</text>\n";
  out << "<text x=\"" << width / 2 << "\" y=\"40\" text-anchor=\"middle\" fill=\"#444\">"
      << "bar = other system's median / " << xml_text(r.baseline)
      << "'s median; right of 1x: " << xml_text(r.baseline) << " is faster</text>\n";
  // Legend.
  double lx = label_w;
  for (std::size_t i = 0; i < stock.size(); ++i) {
    out << "<rect x=\"" << lx << "\" y=\"52\" width=\"12\" height=\"12\" fill=\"" << colours[i % 8]
        << "\"/>\n<text x=\"" << lx + 16 << "\" y=\"62\">vs " << xml_text(stock[i]) << "</text>\n";
    lx += 40 + 8.0 * static_cast<double>(stock[i].size());
  }
  // Groups.
  double y = top;
  for (const auto& g : groups) {
    const double gh = static_cast<double>(g.bars.size()) * (bar_h + bar_gap);
    if (g.shaded)
      out << "<rect x=\"0\" y=\"" << y - group_gap / 2 << "\" width=\"" << width << "\" height=\""
          << gh + group_gap << "\" fill=\"#f3f3f3\"/>\n";
    out << "<text x=\"" << label_w - 8 << "\" y=\"" << y + gh / 2 + 4 << "\" text-anchor=\"end\">"
        << xml_text(g.label) << "</text>\n";
    for (const auto& b : g.bars) {
      const double x0 = std::min(x_of(1), x_of(b.ratio)), x1 = std::max(x_of(1), x_of(b.ratio));
      out << "<rect x=\"" << x0 << "\" y=\"" << y << "\" width=\"" << std::max(x1 - x0, 1.0)
          << "\" height=\"" << bar_h << "\" fill=\"" << colours[b.system % 8] << "\"><title>"
          << xml_text(g.label + ", vs " + stock[b.system] + ": " + ratio_text(b.ratio))
          << "</title></rect>\n";
      out << "<text x=\"" << std::max(x1, x_of(1)) + 4 << "\" y=\"" << y + bar_h - 3
          << "\" font-size=\"11\">" << ratio_text(b.ratio) << "</text>\n";
      y += bar_h + bar_gap;
    }
    y += group_gap;
  }
  // Axis: a tick per power of two, a strong line at 1x.
  const double axis_top = top - 8, axis_bottom = y;
  for (int e = lo_exp; e <= hi_exp; ++e) {
    const double q = std::ldexp(1.0, e);
    const double x = x_of(q);
    out << "<line x1=\"" << x << "\" y1=\"" << axis_top << "\" x2=\"" << x << "\" y2=\""
        << axis_bottom << "\" stroke=\"" << (e == 0 ? "#000" : "#bbb") << "\" stroke-width=\""
        << (e == 0 ? 1.5 : 0.5) << "\"" << (e == 0 ? "" : " stroke-dasharray=\"3,3\"") << "/>\n";
    out << "<text x=\"" << x << "\" y=\"" << axis_bottom + 16 << "\" text-anchor=\"middle\">"
        << (q < 1 ? format("%.3g", q) : format("%.0f", q)) << "x</text>\n";
  }
  out << "<text x=\"" << label_w + plot_w / 2 << "\" y=\"" << axis_bottom + 32
      << "\" text-anchor=\"middle\" fill=\"#444\">speed-up of " << xml_text(r.baseline)
      << " (other / " << xml_text(r.baseline) << ")</text>\n";
  out << "</svg>\n";
}

} // namespace kyoto_bench
