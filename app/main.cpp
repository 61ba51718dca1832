// bps: the command line. Thin: parses and validates options, then calls the
// libraries. Exit codes: 0 done, 1 the operation failed, 2 bad usage or settings.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <caf/config.hpp>
#include <fmt/format.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/topics.hpp"
#include "bps/logging.hpp"
#include "settings.hpp"

namespace {

constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

/// Options every command has.
struct global_options {
  std::string config;
  std::string log_format = "text";
  std::string log_level = "info";
};

/// Options of commands that talk to Kafka.
struct kafka_options {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic_prefix{bps::kafka::default_topic_prefix};
  int64_t timeout_ms = 10000;
};

void add_kafka_options(CLI::App* cmd, kafka_options& k) {
  cmd->add_option("--bootstrap", k.bootstrap, "Kafka bootstrap servers, HOST:PORT[,HOST:PORT]")
    ->capture_default_str();
  cmd->add_option("--topic-prefix", k.topic_prefix, "prefix of every bps topic")
    ->capture_default_str();
  cmd->add_option("--timeout-ms", k.timeout_ms, "time limit of each Kafka request")
    ->check(CLI::Range(int64_t{100}, int64_t{600000}))
    ->capture_default_str();
}

int fail(const std::string& text, int code) {
  std::cerr << "bps: error: " << text << "\n";
  return code;
}

/// Adds a hint when Kafka could not be reached at all.
std::string with_kafka_hint(const caf::error& err, const std::string& bootstrap) {
  auto text = bps::describe(err);
  auto code = bps::code_of(err);
  if (code == bps::ec::timeout || code == bps::ec::kafka_retriable)
    text += fmt::format("\n  Is Kafka running at {}? For a local broker: deploy/local/kafka start",
                        bootstrap);
  return text;
}

int run_topics_ensure(const kafka_options& k, int32_t partitions, int16_t replication) {
  if (auto err = bps::kafka::validate_topic_prefix(k.topic_prefix))
    return fail("option --topic-prefix: " + bps::describe(err), exit_usage);
  auto client = bps::kafka::admin::make(k.bootstrap);
  if (!client)
    return fail("option --bootstrap: " + bps::describe(client.error()), exit_usage);
  auto specs = bps::kafka::bps_topic_specs(k.topic_prefix, partitions, replication);
  auto report = bps::kafka::ensure_topics(**client, specs, std::chrono::milliseconds{k.timeout_ms});
  if (!report)
    return fail(with_kafka_hint(report.error(), k.bootstrap), exit_failed);
  for (const auto& spec : specs) {
    bool created = std::find(report->created.begin(), report->created.end(), spec.name)
                   != report->created.end();
    std::string configs;
    for (const auto& [key, value] : spec.configs)
      configs += fmt::format(" {}={}", key, value);
    std::cout << fmt::format("{} {} ({} partitions,{})\n", created ? "created " : "verified",
                             spec.name, spec.partitions, configs);
  }
  return 0;
}

int run_main(int argc, char** argv) {
  CLI::App app{"bps (Book-Purchase-Streams): sells a limited stock to many concurrent buyers "
               "without overselling, on Kafka.\nEvery option can also be set as a BPS_ "
               "environment variable (--topic-prefix: BPS_TOPIC_PREFIX) or in a config file "
               "(topic-prefix = x); the command line wins, then the environment, then the file.",
               "bps"};
  app.require_subcommand(1);
  app.fallthrough(); // global options may follow the command too
  global_options g;
  app.add_option("--config", g.config, "config file of name = value lines (also BPS_CONFIG)");
  app.add_option("--log-format", g.log_format, "text or json")
    ->check(CLI::IsMember({"text", "json"}))
    ->capture_default_str();
  app.add_option("--log-level", g.log_level, "trace, debug, info, warn, error or off")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
    ->capture_default_str();

  auto* topics = app.add_subcommand("topics", "manage bps' Kafka topics");
  topics->require_subcommand(1);
  topics->fallthrough();
  kafka_options k;
  int32_t partitions = bps::kafka::default_partitions;
  int16_t replication = 1;
  auto* ensure = topics->add_subcommand(
    "ensure", "create bps' topics, or verify that existing ones have the right settings "
              "(exits 1 naming every difference)");
  add_kafka_options(ensure, k);
  ensure->add_option("--partitions", partitions, "partitions of every topic")
    ->check(CLI::Range(1, 10000))
    ->capture_default_str();
  ensure->add_option("--replication-factor", replication, "replicas of every new topic")
    ->check(CLI::Range(1, 32))
    ->capture_default_str();

  auto* version = app.add_subcommand("version", "print the versions of bps and its libraries");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (g.config.empty())
    if (const char* c = std::getenv("BPS_CONFIG"); c != nullptr)
      g.config = c;
  bps::cli::config_file file;
  if (!g.config.empty()) {
    auto parsed = bps::cli::parse_config_file(g.config);
    if (!parsed)
      return fail(bps::describe(parsed.error()), exit_usage);
    file = std::move(*parsed);
  }
  if (auto err = bps::cli::apply_layers(
        app, file, [](const std::string& n) { return std::getenv(n.c_str()); }))
    return fail(bps::describe(err), exit_usage);

  bps::log_format format{};
  bps::parse_log_format(g.log_format, format);
  bps::setup_logging(format, g.log_level);

  if (*version) {
    std::cout << fmt::format("bps {}\nCAF {}.{}.{}\nlibrdkafka {}\n", BPS_VERSION,
                             CAF_MAJOR_VERSION, CAF_MINOR_VERSION, CAF_PATCH_VERSION,
                             RdKafka::version_str());
    return 0;
  }
  if (*ensure)
    return run_topics_ensure(k, partitions, replication);
  return fail("no command given (see bps --help)", exit_usage);
}

} // namespace

int main(int argc, char** argv) {
  // Errors travel as values; an exception reaching here is a bug, reported as one.
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    return fail(std::string{"internal error (please report it): "} + e.what(), exit_failed);
  }
}
