#pragma once

// Where option values come from, in order of precedence: the command line, then a
// BPS_-prefixed environment variable, then the config file (--config FILE or
// BPS_CONFIG), then the option's default. Applied once, at start-up.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/App.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace bps::cli {

/// The values of a config file: option name (long name, without dashes) to value,
/// with the line each came from.
struct config_file {
  std::string path;
  std::map<std::string, std::pair<std::string, int>> values;
};

/// Parses a config file: `name = value` lines; `#` starts a comment; values may be
/// in double quotes; names are long option names, '-' or '_' alike.
caf::expected<config_file> parse_config_file(const std::string& path);
/// The same, from text (`path` is only used in messages).
caf::expected<config_file> parse_config_text(const std::string& text, const std::string& path);

/// The environment variable of an option: "topic-prefix" -> "BPS_TOPIC_PREFIX".
std::string env_name(const std::string& option_name);

/// Reads the environment; replaceable in tests.
using env_lookup = std::function<const char*(const std::string&)>;

/// Fills every option of the parsed (sub)commands that the command line left
/// unset, from the environment, then from the file. A value that does not convert
/// or validate is an invalid_argument error naming the option and its source; a
/// file key that names no option of any command is an error too.
caf::error apply_layers(CLI::App& app, const config_file& file, const env_lookup& getenv);

/// Checks --kafka-property values (KEY=VALUE) into `out`. Returns why one cannot be
/// used: not KEY=VALUE, or a property bps sets itself because exactly-once depends on
/// it (group.id, isolation.level, transactional.id, ...).
std::optional<std::string> parse_kafka_properties(const std::vector<std::string>& given,
                                                  std::map<std::string, std::string>& out);

} // namespace bps::cli
