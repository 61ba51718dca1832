#pragma once

// A latency histogram that one thread writes and others read without a lock, with
// Prometheus' bucket bounds (seconds). No CAF.

#include <array>
#include <atomic>
#include <cstdint>

namespace bps {

class latency_histogram {
public:
  /// Upper bounds of the buckets, in seconds (a last bucket, +Inf, holds the rest).
  static constexpr std::array<double, 14> bounds{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                                 0.2,   0.5,   1,     2,    5,    10,   30};

  /// Counts one observation; a negative one (clocks of two hosts) counts as 0.
  void observe(double seconds) {
    if (!(seconds > 0))
      seconds = 0;
    size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i])
      ++i;
    in_bucket_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  }

  /// What it holds now: cumulative counts per bound (Prometheus' `le`), the count
  /// and the sum (seconds). Read while written, it may be off by the observations
  /// in flight, never inconsistent: count is the last cumulative bucket.
  struct figures {
    std::array<uint64_t, bounds.size()> cumulative{};
    uint64_t count = 0;
    double sum = 0;
  };
  figures read() const {
    figures f;
    uint64_t running = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      running += in_bucket_[i].load(std::memory_order_relaxed);
      f.cumulative[i] = running;
    }
    f.count = running + in_bucket_[bounds.size()].load(std::memory_order_relaxed);
    f.sum = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
    return f;
  }

  /// Adds what `other` holds now to this one (to sum several writers' histograms).
  void add(const latency_histogram& other) {
    for (size_t i = 0; i < in_bucket_.size(); ++i)
      in_bucket_[i].fetch_add(other.in_bucket_[i].load(std::memory_order_relaxed),
                              std::memory_order_relaxed);
    sum_us_.fetch_add(other.sum_us_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

private:
  std::array<std::atomic<uint64_t>, bounds.size() + 1> in_bucket_{};
  std::atomic<uint64_t> sum_us_{0};
};

} // namespace bps
