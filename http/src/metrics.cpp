#include "bps/http/metrics.hpp"

#include <fmt/format.h>

namespace bps::http {

void request_metrics::observe(std::string_view route, int status, double seconds) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& s = series_[{std::string{route}, status}];
  ++s.count;
  s.sum += seconds;
  for (size_t i = 0; i < buckets.size(); ++i)
    if (seconds <= buckets[i])
      ++s.in_bucket[i];
}

std::string request_metrics::render() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::string out = "# HELP bps_http_requests_total HTTP requests answered, by route and status.\n"
                    "# TYPE bps_http_requests_total counter\n";
  for (const auto& [key, s] : series_)
    out += fmt::format("bps_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, s.count);
  out += "# HELP bps_http_request_duration_seconds Time from a request's arrival to its answer.\n"
         "# TYPE bps_http_request_duration_seconds histogram\n";
  for (const auto& [key, s] : series_) {
    auto labels = fmt::format("route=\"{}\",status=\"{}\"", key.first, key.second);
    for (size_t i = 0; i < buckets.size(); ++i)
      out += fmt::format("bps_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels,
                         buckets[i], s.in_bucket[i]);
    out += fmt::format("bps_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels,
                       s.count);
    out += fmt::format("bps_http_request_duration_seconds_sum{{{}}} {}\n", labels, s.sum);
    out += fmt::format("bps_http_request_duration_seconds_count{{{}}} {}\n", labels, s.count);
  }
  return out;
}

std::string metric_line(std::string_view name, std::string_view kind, std::string_view help,
                        double value) {
  return fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, kind, name, value);
}

} // namespace bps::http
