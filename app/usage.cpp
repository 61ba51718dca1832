#include "usage.hpp"

#include <algorithm>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bps/error.hpp"

namespace bps::cli {

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance, three rows.
  std::vector<size_t> before(b.size() + 1);
  std::vector<size_t> prev(b.size() + 1);
  std::vector<size_t> cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> closest_name(std::string_view word,
                                        const std::vector<std::string>& names) {
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const auto& name : names) {
    auto d = edit_distance(word, name);
    if (!best || d < best_distance) {
      best = name;
      best_distance = d;
    }
  }
  if (!best || best_distance > 2 || best_distance * 2 >= word.size())
    return std::nullopt;
  return best;
}

namespace {

std::string path_of(const CLI::App* cmd) {
  std::vector<std::string> names;
  for (; cmd != nullptr; cmd = cmd->get_parent())
    names.push_back(cmd->get_name());
  std::reverse(names.begin(), names.end());
  return fmt::format("{}", fmt::join(names, " "));
}

/// The option `name` ("--x" or "-x") of `cmd` or of a command above it (options of
/// the commands above may follow a command).
const CLI::Option* find_option(const CLI::App* cmd, const std::string& name) {
  for (; cmd != nullptr; cmd = cmd->get_parent())
    if (const auto* opt = cmd->get_option_no_throw(name))
      return opt;
  return nullptr;
}

std::vector<std::string> option_names(const CLI::App* cmd) {
  std::vector<std::string> out{"--help"};
  for (; cmd != nullptr; cmd = cmd->get_parent())
    for (const auto* opt : cmd->get_options())
      for (const auto& l : opt->get_lnames())
        out.push_back("--" + l);
  return out;
}

std::vector<std::string> command_names(const CLI::App* cmd) {
  std::vector<std::string> out;
  for (const auto* sub : cmd->get_subcommands([](const CLI::App*) { return true; }))
    out.push_back(sub->get_name());
  return out;
}

} // namespace

std::optional<std::string> explain_unknown(const CLI::App& app,
                                           const std::vector<std::string>& args) {
  const CLI::App* cmd = &app;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--")
      return std::nullopt;
    if (arg.size() > 1 && arg[0] == '-') {
      auto eq = arg.find('=');
      auto name = arg.substr(0, eq);
      const auto* opt = find_option(cmd, name);
      if (opt == nullptr) {
        auto guess = closest_name(name, option_names(cmd));
        return fmt::format("unknown option {} for {}{} (see {} --help)", name, path_of(cmd),
                           guess ? fmt::format("; did you mean {}?", *guess) : std::string{},
                           path_of(cmd));
      }
      if (eq == std::string::npos && opt->get_expected_max() > 0 && opt->get_type_size_max() > 0)
        ++i; // its value
      continue;
    }
    auto names = command_names(cmd);
    if (names.empty())
      continue; // a value where the command takes none: the parser says so
    auto it = std::find(names.begin(), names.end(), arg);
    if (it != names.end()) {
      cmd = cmd->get_subcommands([&](const CLI::App* s) { return s->get_name() == arg; }).front();
      continue;
    }
    auto guess = closest_name(arg, names);
    return fmt::format("unknown command \"{}\" for {}; {}", arg, path_of(cmd),
                       guess ? fmt::format("did you mean \"{}\"?", *guess)
                             : fmt::format("the commands are: {}", fmt::join(names, ", ")));
  }
  return std::nullopt;
}

std::string kafka_failure(const caf::error& err, std::string_view bootstrap, bool bootstrap_given) {
  // Only a timeout or a transport failure means that Kafka did not answer; another
  // retriable error (e.g. "not controller") is an answer.
  auto code = code_of(err);
  auto text = describe(err);
  bool silent = code == ec::timeout
                || (code == ec::kafka_retriable
                    && (text.find("Timed out") != std::string::npos
                        || text.find("transport failure") != std::string::npos
                        || text.find("broker connections are down") != std::string::npos));
  if (!silent)
    return text;
  return fmt::format(
    "Kafka at {} does not answer ({}).\n  {}For a local broker: deploy/local/kafka start",
    bootstrap, text,
    bootstrap_given ? std::string{}
                    : fmt::format("{} is only the default: give --bootstrap HOST:PORT (or "
                                  "BPS_BOOTSTRAP) for another broker. ",
                                  bootstrap));
}

} // namespace bps::cli
