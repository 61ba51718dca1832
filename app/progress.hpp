#pragma once

// How far a long read has come, in words: `bps replay` reading every log to its end.
// Plain functions of plain numbers, so that the figures are unit-tested.

#include <cstdint>
#include <optional>
#include <string>

namespace bps::cli {

/// Offsets read of the offsets to read (the sum, over partitions, of high watermark
/// minus low watermark taken before reading), and the time spent.
struct read_progress {
  uint64_t done = 0;
  uint64_t total = 0;
  double seconds = 0;
};

/// Offsets per second so far (0 before any time has passed).
double rate_of(const read_progress& p);

/// Seconds still to go at the rate so far; nothing in the first second (connecting
/// and the first fetches say little of the rate) or while nothing has been read.
std::optional<double> eta_of(const read_progress& p);

/// "1:05", "12:00:07": a duration for people, rounded up to the second.
std::string clock_text(double seconds);

/// One line for a log or a pipe: "replay: 45% (1,234,567 of 2,743,482 offsets),
/// 98,765 offsets/s, about 0:16 to go".
std::string progress_line(const read_progress& p);

/// The same as a bar `width` characters wide, for a terminal (redrawn in place):
/// "replay [##########..........]  45% 1,234,567/2,743,482 98,765/s ETA 0:16".
std::string progress_bar(const read_progress& p, int width);

} // namespace bps::cli
