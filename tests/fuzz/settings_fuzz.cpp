// libFuzzer target: the config file reader (app/settings.cpp): parse_config_text,
// then apply_layers onto a command line with the kinds of options bps has (text,
// checked integers of several widths, a flag, a choice, an option function), as
// `bps --config FILE node` does.
//
// Properties, on any input:
// - nothing throws, aborts, leaks or trips UBSan; a refusal is an invalid_argument
//   error with a message;
// - what parses, written back as `name = "value"` lines (also with a trailing
//   `# comment`), parses to the same values;
// - a value applied from the file passed the option's check (ranges, choices).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "bps/error.hpp"
#include "settings.hpp"

namespace {

using namespace bps::cli;

[[noreturn]] void violated(const char* what, std::string_view input) {
  std::fprintf(stderr, "property violated: %s\ninput: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

void require(bool ok, const char* what, std::string_view input) {
  if (!ok)
    violated(what, input);
}

void check_refusal(const caf::error& err, std::string_view input) {
  require(bps::code_of(err) == bps::ec::invalid_argument, "a refusal is invalid_argument", input);
  require(!bps::describe(err).empty(), "a refusal says why", input);
}

/// Options like bps': every kind of type and check that main.cpp uses.
struct command_line {
  CLI::App app{"fuzz"};
  std::string config;
  std::string log_level = "info";
  std::string bootstrap = "127.0.0.1:9092";
  std::string http_auth = "on";
  int64_t timeout_ms = 10000;
  int32_t partitions = 12;
  int16_t replication = 1;
  uint32_t chaos_abort_every = 0;
  bool verify = false;
  int64_t expected_version = -1;

  command_line() {
    app.add_option("--config", config);
    app.add_option("--log-level", log_level)->check(CLI::IsMember({"info", "debug", "off"}));
    app.fallthrough();
    auto* node = app.add_subcommand("node");
    node->add_option("--bootstrap", bootstrap);
    node->add_option("--timeout-ms", timeout_ms)->check(CLI::Range(int64_t{100}, int64_t{600000}));
    node->add_option("--partitions", partitions)->check(CLI::Range(1, 10000));
    node->add_option("--replication-factor", replication)->check(CLI::Range(1, 32));
    node->add_option("--chaos-abort-every", chaos_abort_every)->check(CLI::Range(0u, 1000000u));
    node->add_option("--http-auth", http_auth)->check(CLI::IsMember({"on", "off"}));
    node->add_flag("--verify", verify);
    node->add_option_function<int64_t>("--expected-version",
                                       [this](const int64_t& v) { expected_version = v; });
    auto* other = app.add_subcommand("replay");
    other->add_option("--state-dir", config);
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{reinterpret_cast<const char*>(data), size};
  auto file = parse_config_text(text, "fuzz.conf");
  if (!file) {
    check_refusal(file.error(), text);
    return 0;
  }

  // Written back, the same values; a comment after a quoted value is no part of it.
  for (const char* comment : {"", "  # a comment"}) {
    std::string again;
    for (const auto& [name, value] : file->values) {
      require(!name.empty(), "a name is not empty", text);
      again += name + " = \"" + value.first + "\"" + comment + "\n";
    }
    auto reread = parse_config_text(again, "again.conf");
    require(static_cast<bool>(reread), "values written back parse", text);
    require(reread->values.size() == file->values.size(), "the same names", text);
    for (const auto& [name, value] : file->values) {
      auto it = reread->values.find(name);
      require(it != reread->values.end() && it->second.first == value.first, "the same values",
              text);
    }
  }

  command_line cl;
  const char* argv[] = {"fuzz", "node"};
  cl.app.parse(2, argv);
  auto err = apply_layers(cl.app, *file, [](const std::string&) -> const char* { return nullptr; });
  if (err) {
    check_refusal(err, text);
    return 0;
  }
  require(cl.timeout_ms >= 100 && cl.timeout_ms <= 600000, "--timeout-ms in range", text);
  require(cl.partitions >= 1 && cl.partitions <= 10000, "--partitions in range", text);
  require(cl.replication >= 1 && cl.replication <= 32, "--replication-factor in range", text);
  require(cl.chaos_abort_every <= 1000000, "--chaos-abort-every in range", text);
  require(cl.http_auth == "on" || cl.http_auth == "off", "--http-auth a choice", text);
  require(cl.log_level == "info" || cl.log_level == "debug" || cl.log_level == "off",
          "--log-level a choice", text);
  return 0;
}
