#define CAF_SUITE cli.settings
#include <caf/test/unit_test.hpp>

#include <map>

#include <CLI/CLI.hpp>

#include "bps/error.hpp"
#include "settings.hpp"

using namespace bps::cli;

namespace {

/// A bps-like command line: one global option, a subcommand with typed options.
struct fixture {
  CLI::App app{"test"};
  std::string log_level = "info";
  std::string bootstrap = "127.0.0.1:9092";
  int partitions = 12;
  bool verbose = false;
  CLI::App* run = nullptr;
  std::map<std::string, std::string> env;
  std::vector<std::string> properties;

  fixture() {
    app.add_option("--log-level", log_level);
    app.add_option("--config", log_level);
    run = app.add_subcommand("run");
    run->add_option("--bootstrap", bootstrap);
    run->add_option("--partitions", partitions)->check(CLI::Range(1, 100));
    run->add_flag("--verbose", verbose);
    run->add_option("--kafka-property", properties)->delimiter(',');
  }

  caf::error parse(std::vector<std::string> args, const std::string& file_text = "") {
    std::vector<const char*> argv{"test"};
    for (auto& a : args)
      argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    auto file = parse_config_text(file_text, "test.conf");
    if (!file)
      return file.error();
    return apply_layers(app, *file, [this](const std::string& name) -> const char* {
      auto i = env.find(name);
      return i == env.end() ? nullptr : i->second.c_str();
    });
  }
};

bool contains(const caf::error& err, const std::string& text) {
  return bps::describe(err).find(text) != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(settings_tests, fixture)

CAF_TEST(an option name maps to its environment variable) {
  CAF_CHECK_EQUAL(env_name("topic-prefix"), "BPS_TOPIC_PREFIX");
  CAF_CHECK_EQUAL(env_name("bootstrap"), "BPS_BOOTSTRAP");
}

CAF_TEST(the command line wins over the environment which wins over the file) {
  env["BPS_BOOTSTRAP"] = "env:1";
  env["BPS_PARTITIONS"] = "7";
  CAF_REQUIRE(!parse({"run", "--bootstrap", "cli:1"},
                     "bootstrap = file:1\npartitions = 5\nlog-level = debug\n"));
  CAF_CHECK_EQUAL(bootstrap, "cli:1");
  CAF_CHECK_EQUAL(partitions, 7);
  CAF_CHECK_EQUAL(log_level, "debug");
}

CAF_TEST(a value from the file is used when nothing else sets the option) {
  CAF_REQUIRE(!parse({"run"}, "# comment\n\nbootstrap = \"file:9\"  \nverbose = true\n"));
  CAF_CHECK_EQUAL(bootstrap, "file:9");
  CAF_CHECK_EQUAL(verbose, true);
  CAF_CHECK_EQUAL(partitions, 12);
}

CAF_TEST(a bad environment value names the option and the variable) {
  env["BPS_PARTITIONS"] = "many";
  auto err = parse({"run"});
  CAF_REQUIRE(err);
  CAF_CHECK(bps::code_of(err) == bps::ec::invalid_argument);
  CAF_CHECK(contains(err, "--partitions"));
  CAF_CHECK(contains(err, "BPS_PARTITIONS"));
}

CAF_TEST(a value out of range in the file names the option and the line) {
  auto err = parse({"run"}, "bootstrap = x:1\npartitions = 1000\n");
  CAF_REQUIRE(err);
  CAF_CHECK(contains(err, "--partitions"));
  CAF_CHECK(contains(err, "test.conf line 2"));
}

CAF_TEST(a file key that is no option is refused with its line) {
  auto err = parse({"run"}, "bootstrap = x:1\nbootsrap = y:2\n");
  CAF_REQUIRE(err);
  CAF_CHECK(contains(err, "test.conf line 2"));
  CAF_CHECK(contains(err, "bootsrap"));
}

CAF_TEST(a line without an equals sign is refused) {
  auto file = parse_config_text("bootstrap x\n", "a.conf");
  CAF_REQUIRE(!file);
  CAF_CHECK(contains(file.error(), "a.conf line 1"));
}

CAF_TEST(a key given twice in the file is refused) {
  auto file = parse_config_text("bootstrap = a\nbootstrap = b\n", "a.conf");
  CAF_REQUIRE(!file);
  CAF_CHECK(contains(file.error(), "line 2"));
}

CAF_TEST(a comment after a quoted value is no part of the value) {
  // Found by tests/fuzz (settings): `name = "v" # note` kept the quotes.
  auto file = parse_config_text("bootstrap = \"k1:9092\"  # the broker\n"
                                "topic-prefix = \"a\"b\"\n"
                                "node-id = n-1 # bare\n"
                                "state-dir = \"/x # y\"\n"
                                "http = \"unclosed # z\n",
                                "a.conf");
  CAF_REQUIRE(file);
  CAF_CHECK_EQUAL(file->values["bootstrap"].first, "k1:9092");
  CAF_CHECK_EQUAL(file->values["topic-prefix"].first, "a\"b");
  CAF_CHECK_EQUAL(file->values["node-id"].first, "n-1");
  CAF_CHECK_EQUAL(file->values["state-dir"].first, "/x # y");
  CAF_CHECK_EQUAL(file->values["http"].first, "\"unclosed");
}

CAF_TEST(a missing config file is a clear error) {
  auto file = parse_config_file("/nonexistent/bps.conf");
  CAF_REQUIRE(!file);
  CAF_CHECK(contains(file.error(), "/nonexistent/bps.conf"));
}

CAF_TEST(kafka properties come repeated or comma separated from every layer) {
  env["BPS_KAFKA_PROPERTY"] = "security.protocol=SASL_SSL,sasl.mechanism=PLAIN";
  CAF_REQUIRE(!parse({"run", "--kafka-property", "linger.ms=5"}));
  std::map<std::string, std::string> extra;
  CAF_REQUIRE(!parse_kafka_properties(properties, extra));
  // The command line wins: the environment's two are not taken.
  CAF_CHECK_EQUAL(extra, (std::map<std::string, std::string>{{"linger.ms", "5"}}));
  properties.clear();
  CAF_REQUIRE(!parse({"run"}));
  extra.clear();
  CAF_REQUIRE(!parse_kafka_properties(properties, extra));
  CAF_CHECK_EQUAL(extra, (std::map<std::string, std::string>{{"sasl.mechanism", "PLAIN"},
                                                             {"security.protocol", "SASL_SSL"}}));
}

CAF_TEST(a kafka property whose value is a comma separated list keeps its whole list) {
  CAF_REQUIRE(!parse({"run", "--kafka-property", "debug=eos,protocol,msg,linger.ms=5",
                      "--kafka-property", "ssl.curves.list=X25519,P-256"}));
  std::map<std::string, std::string> extra;
  CAF_REQUIRE(!parse_kafka_properties(properties, extra));
  CAF_CHECK_EQUAL(extra, (std::map<std::string, std::string>{{"debug", "eos,protocol,msg"},
                                                             {"linger.ms", "5"},
                                                             {"ssl.curves.list", "X25519,P-256"}}));
}

CAF_TEST(a kafka property that is not KEY = VALUE or that bps owns is refused by name) {
  std::map<std::string, std::string> extra;
  auto bad = parse_kafka_properties({"linger.ms"}, extra);
  CAF_REQUIRE(bad);
  CAF_CHECK(bad->find("\"linger.ms\" is not KEY=VALUE") != std::string::npos);
  auto owned = parse_kafka_properties({"isolation.level=read_uncommitted"}, extra);
  CAF_REQUIRE(owned);
  CAF_CHECK(owned->find("bps sets isolation.level itself") != std::string::npos);
  auto servers = parse_kafka_properties({"bootstrap.servers=x:1"}, extra);
  CAF_REQUIRE(servers);
  CAF_CHECK(servers->find("use --bootstrap") != std::string::npos);
  CAF_CHECK(extra.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
