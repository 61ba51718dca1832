#include "progress.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace bps::cli {

namespace {

// 1234567 -> "1,234,567".
std::string grouped(uint64_t n) {
  auto digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// Whole percent, never 100 before the end (a bar at 100% that keeps running misleads).
int percent_of(const read_progress& p) {
  if (p.total == 0 || p.done >= p.total)
    return 100;
  return std::min(99, static_cast<int>(p.done * 100 / p.total));
}

} // namespace

double rate_of(const read_progress& p) {
  return p.seconds > 0 ? static_cast<double>(p.done) / p.seconds : 0;
}

std::optional<double> eta_of(const read_progress& p) {
  if (p.done >= p.total)
    return 0.0;
  // The first second includes connecting and the first fetches: too early to say.
  auto rate = rate_of(p);
  if (p.seconds < 1.0 || rate <= 0)
    return std::nullopt;
  return static_cast<double>(p.total - p.done) / rate;
}

std::string clock_text(double seconds) {
  auto s = static_cast<uint64_t>(std::ceil(std::max(0.0, seconds)));
  if (s >= 3600)
    return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string progress_line(const read_progress& p) {
  auto eta = eta_of(p);
  return fmt::format("replay: {}% ({} of {} offsets), {} offsets/s, {}", percent_of(p),
                     grouped(std::min(p.done, p.total)), grouped(p.total),
                     grouped(static_cast<uint64_t>(rate_of(p))),
                     eta ? "about " + clock_text(*eta) + " to go"
                         : std::string{"time to go not known yet"});
}

std::string progress_bar(const read_progress& p, int width) {
  width = std::max(width, 1);
  auto filled
    = p.total == 0
        ? width
        : static_cast<int>(std::min(p.done, p.total) * static_cast<uint64_t>(width) / p.total);
  auto eta = eta_of(p);
  return fmt::format("replay [{}{}] {:3}% {}/{} {}/s ETA {}",
                     std::string(static_cast<size_t>(filled), '#'),
                     std::string(static_cast<size_t>(width - filled), '.'), percent_of(p),
                     grouped(std::min(p.done, p.total)), grouped(p.total),
                     grouped(static_cast<uint64_t>(rate_of(p))), eta ? clock_text(*eta) : "?");
}

} // namespace bps::cli
