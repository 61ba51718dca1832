#pragma once

#include <chrono>
#include <cstdint>

namespace bps {

/// Wall-clock time in milliseconds since the Unix epoch, as Kafka spells record
/// timestamps: for claims, record headers and ages compared with record times
/// (never for measuring durations: that is std::chrono::steady_clock's job).
inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace bps
