#pragma once

// Better words for bad usage than the argument parser's own: the closest name to a
// misspelled command or option.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace caf {
class error;
} // namespace caf

namespace bps::cli {

/// The edit distance of two words (insertions, deletions, substitutions and swaps of
/// neighbours each count 1).
size_t edit_distance(std::string_view a, std::string_view b);

/// The name in `names` closest to `word`, if it is close enough to be a likely typo
/// (at most 2 edits, and fewer than half the word's length).
std::optional<std::string> closest_name(std::string_view word,
                                        const std::vector<std::string>& names);

/// Reads the arguments as `app` would and names the first command or option it does
/// not know, with the closest known name: "unknown command \"purchse\"; did you mean
/// \"purchase\"? ...". Nothing if every command and option is known (the parser's
/// own message is then the right one).
std::optional<std::string> explain_unknown(const CLI::App& app,
                                           const std::vector<std::string>& args);

/// The text of a Kafka error for the user. When Kafka did not answer at all (a
/// timeout), it says "Kafka at HOST:PORT does not answer" first, whether that address
/// is only the default (no --bootstrap given), and how to start a local broker.
std::string kafka_failure(const caf::error& err, std::string_view bootstrap, bool bootstrap_given);

} // namespace bps::cli
