#include "settings.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "bps/error.hpp"

namespace bps::cli {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

/// A value as written after '=': in double quotes, up to the last quote, which only a
/// `#` comment may follow; or bare, up to a " #" comment.
std::string unquote(const std::string& value) {
  if (value.size() >= 2 && value.front() == '"') {
    auto close = value.rfind('"');
    auto rest = trim(value.substr(close + 1));
    if (close > 0 && (rest.empty() || rest.front() == '#'))
      return value.substr(1, close - 1);
  }
  if (auto hash = value.find(" #"); hash != std::string::npos)
    return trim(value.substr(0, hash));
  return value;
}

std::string normalize(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

/// The long name of an option without dashes ("bootstrap"), or empty.
std::string long_name(const CLI::Option* opt) {
  if (opt->get_lnames().empty())
    return {};
  return opt->get_lnames().front();
}

/// Every option name of `app` and all its subcommands, parsed or not.
void collect_names(const CLI::App* app, std::set<std::string>& out) {
  for (const auto* opt : app->get_options())
    if (auto name = long_name(opt); !name.empty())
      out.insert(name);
  for (const auto* sub : app->get_subcommands([](const CLI::App*) { return true; }))
    collect_names(sub, out);
}

caf::error apply_value(CLI::Option* opt, const std::string& value, const std::string& source) {
  try {
    if (opt->get_expected_min() == 0)
      opt->add_result(opt->get_flag_value(long_name(opt), value));
    else
      opt->add_result(value);
    opt->run_callback();
  } catch (const CLI::Error& e) {
    return make_error(ec::invalid_argument,
                      fmt::format("option --{} ({}): {}", long_name(opt), source, e.what()));
  }
  return {};
}

caf::error apply_to(CLI::App* app, const config_file& file, const env_lookup& getenv) {
  for (auto* opt : app->get_options()) {
    auto name = long_name(opt);
    if (name.empty() || name == "help" || name == "config" || opt->count() > 0)
      continue;
    auto env = env_name(name);
    if (const char* v = getenv(env); v != nullptr && *v != '\0') {
      if (auto err = apply_value(opt, v, "from environment variable " + env))
        return err;
      continue;
    }
    if (auto i = file.values.find(name); i != file.values.end()) {
      auto source = fmt::format("from {} line {}", file.path, i->second.second);
      if (auto err = apply_value(opt, i->second.first, source))
        return err;
    }
  }
  for (auto* sub : app->get_subcommands())
    if (auto err = apply_to(sub, file, getenv))
      return err;
  return {};
}

} // namespace

std::string env_name(const std::string& option_name) {
  std::string out = "BPS_";
  for (char c : option_name)
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

caf::expected<config_file> parse_config_text(const std::string& text, const std::string& path) {
  config_file out;
  out.path = path;
  std::istringstream in{text};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto t = trim(line);
    if (t.empty() || t[0] == '#')
      continue;
    auto eq = t.find('=');
    if (eq == std::string::npos)
      return make_error(
        ec::invalid_argument,
        fmt::format("{} line {}: expected \"name = value\", got \"{}\"", path, number, t));
    auto key = normalize(trim(t.substr(0, eq)));
    auto value = unquote(trim(t.substr(eq + 1)));
    if (key.empty())
      return make_error(ec::invalid_argument,
                        fmt::format("{} line {}: the name before '=' is empty", path, number));
    if (out.values.count(key) > 0)
      return make_error(ec::invalid_argument,
                        fmt::format("{} line {}: {} is already set on line {}", path, number, key,
                                    out.values[key].second));
    out.values[key] = {value, number};
  }
  return out;
}

caf::expected<config_file> parse_config_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(ec::invalid_argument,
                      fmt::format("config file {} cannot be read (does it exist?)", path));
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_config_text(buf.str(), path);
}

caf::error apply_layers(CLI::App& app, const config_file& file, const env_lookup& getenv) {
  std::set<std::string> known;
  collect_names(&app, known);
  for (const auto& [key, value] : file.values)
    if (known.count(key) == 0 || key == "config" || key == "help")
      return make_error(ec::invalid_argument,
                        fmt::format("{} line {}: \"{}\" is not an option of bps (see bps --help "
                                    "and the help of each command)",
                                    file.path, value.second, key));
  return apply_to(&app, file, getenv);
}

std::optional<std::string> parse_kafka_properties(const std::vector<std::string>& given,
                                                  std::map<std::string, std::string>& out) {
  // What bps sets itself, because exactly-once depends on it.
  static const std::set<std::string> owned{"bootstrap.servers",  "group.id",
                                           "group.instance.id",  "enable.auto.commit",
                                           "isolation.level",    "transactional.id",
                                           "enable.idempotence", "enable.auto.offset.store",
                                           "partitioner",        "enable.partition.eof"};
  // Commas separate properties, and some values are lists themselves
  // (debug=eos,protocol): a piece without '=' continues the value before it.
  std::string last;
  for (const auto& p : given) {
    auto eq = p.find('=');
    if (eq == std::string::npos && !last.empty() && !trim(p).empty()) {
      out[last] += "," + trim(p);
      continue;
    }
    auto key = trim(p.substr(0, eq));
    if (eq == std::string::npos || key.empty())
      return fmt::format("option --kafka-property: \"{}\" is not KEY=VALUE", p);
    if (owned.count(key) > 0)
      return fmt::format("option --kafka-property: bps sets {} itself (exactly-once depends on "
                         "it){}",
                         key, key == "bootstrap.servers" ? "; use --bootstrap" : "");
    out[key] = trim(p.substr(eq + 1));
    last = key;
  }
  return std::nullopt;
}

} // namespace bps::cli
