#include "bps/http/metrics.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

namespace bps::http {

void request_metrics::observe(std::string_view route, int status, double seconds) {
  std::lock_guard<std::mutex> guard{mutex_};
  series_[{std::string{route}, status}].observe(seconds);
}

std::string request_metrics::render() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::string out = "# HELP bps_http_requests_total HTTP requests answered, by route and status.\n"
                    "# TYPE bps_http_requests_total counter\n";
  for (const auto& [key, h] : series_)
    out += fmt::format("bps_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, h.read().count);
  out += histogram_header("bps_http_request_duration_seconds",
                          "Time from a request's arrival to its answer.");
  for (const auto& [key, h] : series_)
    out += histogram_series("bps_http_request_duration_seconds",
                            fmt::format("route=\"{}\",status=\"{}\"", key.first, key.second),
                            h.read());
  return out;
}

std::string histogram_header(std::string_view name, std::string_view help) {
  return fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
}

std::string histogram_series(std::string_view name, std::string_view labels,
                             const latency_histogram::figures& f) {
  std::string sep = labels.empty() ? "" : ",";
  std::string out;
  for (size_t i = 0; i < latency_histogram::bounds.size(); ++i)
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                       latency_histogram::bounds[i], f.cumulative[i]);
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, f.count);
  auto braces = labels.empty() ? std::string{} : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n", name, braces, f.sum);
  out += fmt::format("{}_count{} {}\n", name, braces, f.count);
  return out;
}

std::string metric_line(std::string_view name, std::string_view kind, std::string_view help,
                        double value) {
  return fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, kind, name, value);
}

bool parse_proc_stat(std::string_view stat, long ticks, long page, double boot_time,
                     process_figures& out) {
  // "pid (comm) state ppid ...": the command name ends at the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string_view::npos || ticks <= 0 || page <= 0)
    return false;
  std::vector<std::string_view> fields; // fields[0] is field 3 of proc(5), the state
  auto rest = stat.substr(close + 1);
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n'))
      ++i;
    auto start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n')
      ++i;
    if (i > start)
      fields.push_back(rest.substr(start, i - start));
  }
  // proc(5) numbers fields from 1: utime 14, stime 15, num_threads 20, starttime 22,
  // vsize 23, rss 24.
  auto field = [&](size_t n, uint64_t& v) {
    if (n < 3 || n - 3 >= fields.size())
      return false;
    auto f = fields[n - 3];
    return std::from_chars(f.data(), f.data() + f.size(), v).ec == std::errc{};
  };
  uint64_t utime = 0, stime = 0, threads = 0, start = 0, vsize = 0, rss = 0;
  if (!field(14, utime) || !field(15, stime) || !field(20, threads) || !field(22, start)
      || !field(23, vsize) || !field(24, rss))
    return false;
  auto t = static_cast<double>(ticks);
  out.cpu_seconds = static_cast<double>(utime + stime) / t;
  out.start_time_seconds = boot_time + static_cast<double>(start) / t;
  out.threads = threads;
  out.virtual_bytes = vsize;
  out.resident_bytes = rss * static_cast<uint64_t>(page);
  return true;
}

std::string process_metrics() {
  process_figures f;
  double boot_time = 0;
  {
    std::ifstream in{"/proc/stat"};
    std::string word;
    while (in >> word)
      if (word == "btime") {
        in >> boot_time;
        break;
      }
  }
  std::ifstream in{"/proc/self/stat"};
  std::stringstream text;
  text << in.rdbuf();
  if (!in || boot_time <= 0
      || !parse_proc_stat(text.str(), sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), boot_time, f))
    return {};
  std::error_code ec;
  for (std::filesystem::directory_iterator it{"/proc/self/fd", ec}, end; !ec && it != end;
       it.increment(ec))
    ++f.open_fds;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
    f.max_fds = lim.rlim_cur;
  auto d = [](auto x) { return static_cast<double>(x); };
  return metric_line("process_cpu_seconds_total", "counter",
                     "Total user and system CPU time spent in seconds.", f.cpu_seconds)
         + metric_line("process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in seconds.",
                       f.start_time_seconds)
         + metric_line("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                       d(f.resident_bytes))
         + metric_line("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                       d(f.virtual_bytes))
         + metric_line("process_open_fds", "gauge", "Number of open file descriptors.",
                       d(f.open_fds))
         + metric_line("process_max_fds", "gauge", "Maximum number of open file descriptors.",
                       d(f.max_fds))
         + metric_line("process_threads", "gauge", "Number of OS threads in the process.",
                       d(f.threads));
}

} // namespace bps::http
