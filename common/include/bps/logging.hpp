#pragma once

#include <string>
#include <string_view>

namespace bps {

/// How log lines look: readable text for a terminal, or one JSON object per line
/// for a log collector.
enum class log_format { text, json };

/// Parses "text" or "json"; false for anything else.
bool parse_log_format(std::string_view text, log_format& out);

/// Sets up the process-wide logger (spdlog's default logger, writing to stderr).
/// `level` is one of trace, debug, info, warn, error, critical, off.
void setup_logging(log_format format, const std::string& level);

/// Escapes a string for inclusion inside a JSON string literal.
std::string json_escape(std::string_view text);

} // namespace bps
