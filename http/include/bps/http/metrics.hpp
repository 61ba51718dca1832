#pragma once

// Request metrics in the Prometheus text format: a counter and a latency
// histogram per route and status. Thread-safe; no Beast.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "bps/histogram.hpp"

namespace bps::http {

class request_metrics {
public:
  void observe(std::string_view route, int status, double seconds);

  /// bps_http_requests_total and bps_http_request_duration_seconds.
  std::string render() const;

private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, latency_histogram> series_;
};

/// The HELP and TYPE lines of a histogram.
std::string histogram_header(std::string_view name, std::string_view help);

/// The lines of one histogram series: a bucket per bound and +Inf, _sum and _count.
/// `labels` is empty or `key="value",...` (without braces).
std::string histogram_series(std::string_view name, std::string_view labels,
                             const latency_histogram::figures& f);

/// One line of a gauge or counter: "# TYPE name kind\nname value\n" (with a HELP line).
std::string metric_line(std::string_view name, std::string_view kind, std::string_view help,
                        double value);

/// What Prometheus' process collector reports, from /proc (Linux).
struct process_figures {
  double cpu_seconds = 0;        // user + system
  double start_time_seconds = 0; // since the Unix epoch
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t threads = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
};

/// Reads the fields of /proc/self/stat (`stat`, its text) into `out`: CPU time,
/// start time, memory and threads. `ticks` is sysconf(_SC_CLK_TCK), `page` the
/// page size, `boot_time` the btime of /proc/stat (seconds since the epoch). False
/// if the text is not such a line (the command name may hold spaces and ')').
bool parse_proc_stat(std::string_view stat, long ticks, long page, double boot_time,
                     process_figures& out);

/// The process_* metrics of this process (process_cpu_seconds_total,
/// process_start_time_seconds, process_resident_memory_bytes,
/// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_threads),
/// with what /proc has; empty where it cannot be read.
std::string process_metrics();

} // namespace bps::http
