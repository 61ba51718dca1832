// `topics ensure` against the real broker: through the library and through the
// bps executable, as an operator runs it.

#include <cstdio>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "bps/kafka/admin.hpp"
#include "bps/kafka/topics.hpp"
#include "it_support.hpp"

using namespace bps;
using namespace bps::it;

namespace {

std::string bps_ensure(const std::string& prefix, const std::string& more = "") {
  return std::string{BPS_EXE} + " topics ensure --bootstrap " + bootstrap() + " --topic-prefix "
         + prefix + " " + more;
}

size_t count(const std::string& text, const std::string& word) {
  size_t n = 0;
  for (auto pos = text.find(word); pos != std::string::npos; pos = text.find(word, pos + 1))
    ++n;
  return n;
}

class TopicsIT : public ::testing::Test {
protected:
  void SetUp() override {
    prefix = unique_prefix();
    admin = must(kafka::admin::make(bootstrap()));
  }
  void TearDown() override {
    if (admin) {
      EXPECT_FALSE(admin->delete_topics(kafka::topic_names::with_prefix(prefix).all(), 30s));
    }
  }
  /// Creates the items topic beforehand the way an operator might get it wrong.
  void create_wrong_items_topic() {
    auto err = admin->create_topic(
      {prefix + "items", 3, 1, {{"cleanup.policy", "delete"}, {"retention.ms", "-1"}}}, 30s);
    ASSERT_FALSE(err) << describe(err);
  }
  std::string prefix;
  std::unique_ptr<kafka::admin> admin;
};

} // namespace

TEST_F(TopicsIT, EnsureCreatesThenVerifiesThenRejectsAnotherPartitionCount) {
  auto specs = kafka::bps_topic_specs(prefix, 3);
  auto first = must(kafka::ensure_topics(*admin, specs, 30s));
  EXPECT_EQ(first.created.size(), 7u);
  EXPECT_TRUE(first.verified.empty());

  for (const auto& spec : specs) {
    auto d = must(admin->describe_topic(spec.name, 30s));
    ASSERT_TRUE(d.has_value()) << spec.name;
    EXPECT_EQ(d->partitions, 3);
    EXPECT_EQ(d->configs.at("cleanup.policy"), spec.configs.at("cleanup.policy"));
    EXPECT_EQ(d->configs.at("retention.ms"), "-1");
  }

  auto second = must(kafka::ensure_topics(*admin, specs, 30s));
  EXPECT_TRUE(second.created.empty());
  EXPECT_EQ(second.verified.size(), 7u);

  auto third = kafka::ensure_topics(*admin, kafka::bps_topic_specs(prefix, 4), 30s);
  ASSERT_FALSE(third);
  EXPECT_EQ(code_of(third.error()), ec::topic_mismatch);
  EXPECT_NE(describe(third.error()).find(prefix + "items: has 3 partitions, bps needs 4"),
            std::string::npos)
    << describe(third.error());
}

TEST_F(TopicsIT, EnsureAddsTheNewerTopicsToAnExistingDeploymentOnlyIfTheOthersFit) {
  // A deployment from before the idempotency-keys and the request topics: the four
  // first topics, 3 partitions.
  auto specs = kafka::bps_topic_specs(prefix, 3);
  auto older = std::vector<kafka::topic_spec>(specs.begin(), specs.begin() + 4);
  const std::vector<std::string> newer{prefix + "idempotency-keys", prefix + "purchase-requests",
                                       prefix + "item-command-requests"};
  ASSERT_EQ(specs.size(), 7u);
  EXPECT_EQ(must(kafka::ensure_topics(*admin, older, 30s)).created.size(), 4u);
  // An ensure with another partition count creates nothing, also not the new topics.
  auto wrong = kafka::ensure_topics(*admin, kafka::bps_topic_specs(prefix, 4), 30s);
  ASSERT_FALSE(wrong);
  EXPECT_NE(describe(wrong.error())
              .find("not created while the topics above do not fit: " + newer[0] + ", " + newer[1]
                    + ", " + newer[2]),
            std::string::npos)
    << describe(wrong.error());
  for (const auto& name : newer)
    EXPECT_FALSE(must(admin->describe_topic(name, 30s)).has_value()) << name;
  // With the deployment's count: the missing topics are created, the others verified.
  auto added = must(kafka::ensure_topics(*admin, specs, 30s));
  EXPECT_EQ(added.created, newer);
  EXPECT_EQ(added.verified.size(), 4u);
  for (const auto& name : newer) {
    auto d = must(admin->describe_topic(name, 30s));
    ASSERT_TRUE(d.has_value()) << name;
    EXPECT_EQ(d->partitions, 3);
    EXPECT_EQ(d->configs.at("cleanup.policy"), "delete");
    EXPECT_EQ(d->configs.at("retention.ms"), "-1");
  }
  // The operator is told what changes for the deployment's clients.
  EXPECT_NE(kafka::upgrade_note(kafka::topic_names::with_prefix(prefix), added)
              .find("requests now go to " + newer[1]),
            std::string::npos);
}

TEST_F(TopicsIT, EnsureRejectsAnItemsTopicThatIsNotCompacted) {
  create_wrong_items_topic();
  auto report = kafka::ensure_topics(*admin, kafka::bps_topic_specs(prefix, 3), 30s);
  ASSERT_FALSE(report);
  EXPECT_EQ(code_of(report.error()), ec::topic_mismatch);
  auto text = describe(report.error());
  EXPECT_NE(text.find(prefix
                      + "items: setting cleanup.policy is \"delete\", bps needs "
                        "\"compact\""),
            std::string::npos)
    << text;
}

TEST_F(TopicsIT, CliEnsureCreatesAndThenVerifies) {
  auto first = run(bps_ensure(prefix, "--partitions 2"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_EQ(count(first.output, "created "), 7u) << first.output;
  auto second = run(bps_ensure(prefix, "--partitions 2"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(count(second.output, "verified "), 7u) << second.output;
}

TEST_F(TopicsIT, CliEnsureExitsNonZeroNamingTheTopicAndTheSettingThatIsWrong) {
  create_wrong_items_topic();
  auto r = run(bps_ensure(prefix, "--partitions 3"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(prefix + "items"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cleanup.policy"), std::string::npos) << r.output;
}

TEST_F(TopicsIT, CliEnsureTakesItsSettingsFromTheEnvironmentAndAConfigFile) {
  auto conf = ::testing::TempDir() + "bps-it-" + std::to_string(::getpid()) + ".conf";
  {
    std::FILE* f = std::fopen(conf.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fprintf(f, "# settings for the test\npartitions = 2\ntopic-prefix = %s\n", prefix.c_str());
    std::fclose(f);
  }
  // bootstrap from the environment, prefix and partitions from the file.
  auto r = run("BPS_BOOTSTRAP=" + bootstrap() + " " + BPS_EXE + " topics ensure --config " + conf);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto d = must(admin->describe_topic(prefix + "purchases", 30s));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->partitions, 2);
  std::remove(conf.c_str());
}

TEST_F(TopicsIT, CliRefusesABadNodeIdOrStateDirBeforeTouchingKafka) {
  auto node
    = std::string{BPS_EXE} + " node --bootstrap " + bootstrap() + " --topic-prefix " + prefix;
  auto bad_id = run(node + " --node-id 'node 1'");
  EXPECT_EQ(bad_id.exit_code, 2) << bad_id.output;
  EXPECT_NE(bad_id.output.find("option --node-id"), std::string::npos) << bad_id.output;
  auto bad_dir = run(node + " --node-id n1 --state-dir /proc/bps-cannot-be-here");
  EXPECT_EQ(bad_dir.exit_code, 2) << bad_dir.output;
  EXPECT_NE(bad_dir.output.find("option --state-dir"), std::string::npos) << bad_dir.output;
}

TEST_F(TopicsIT, CliRefusesOutOfRangeNodeSettingsAndAMissingReplayStateDir) {
  auto node = std::string{BPS_EXE} + " node --bootstrap " + bootstrap() + " --node-id n1 ";
  for (const auto& [flag, value] :
       std::vector<std::pair<std::string, std::string>>{{"--worker-threads", "-1"},
                                                        {"--max-live-items", "0"},
                                                        {"--idle-timeout-ms", "5"},
                                                        {"--commit-interval-ms", "abc"}}) {
    auto r = run(node + flag + " " + value);
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.output;
    EXPECT_NE(r.output.find(flag), std::string::npos) << r.output;
  }
  auto wait = run(std::string{BPS_EXE}
                  + " purchase --item-id a --quantity 1 --purchased-by x "
                    "--wait-ms -5");
  EXPECT_EQ(wait.exit_code, 2) << wait.output;
  EXPECT_NE(wait.output.find("--wait-ms"), std::string::npos) << wait.output;
  auto replay = run(std::string{BPS_EXE} + " replay --verify --bootstrap " + bootstrap()
                    + " --state-dir /nonexistent/bps-state");
  EXPECT_EQ(replay.exit_code, 2) << replay.output;
  EXPECT_NE(replay.output.find("option --state-dir"), std::string::npos) << replay.output;
}

TEST_F(TopicsIT, CliRefusesABadPrefixBeforeTouchingKafka) {
  auto r = run(bps_ensure("'bad prefix/'"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--topic-prefix"), std::string::npos) << r.output;
}

// Bad usage, as a new user types it: the closest name is suggested.
TEST(CliUsageIT, AMisspelledCommandOrOptionIsNamedWithTheClosestOne) {
  struct usage_case {
    const char* args;
    const char* says;
  };
  const usage_case cases[] = {
    {"purchse --item-id x --quantity 1 --purchased-by a",
     "unknown command \"purchse\" for bps; did you mean \"purchase\"?"},
    {"item restok --item-id x --amount 1",
     "unknown command \"restok\" for bps item; did you mean \"restock\"?"},
    {"purchase --item-id x --quantiy 1 --purchased-by a",
     "unknown option --quantiy for bps purchase; did you mean --quantity?"},
    // A global option after the command is known; far from any name, the list is given.
    {"--log-level warn zzzzzzzz",
     "the commands are: topics, node, item, purchase, replay, version"},
  };
  for (const auto& c : cases) {
    auto r = run(std::string{BPS_EXE} + " " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << ": " << r.output;
  }
}

// A number outside its option's range is refused before anything starts, naming the
// option and the range (no broker is needed: nothing is contacted).
TEST(CliUsageIT, ANodeOptionOutOfItsRangeIsRefusedNamingTheOptionAndTheRange) {
  struct range_case {
    const char* args;
    const char* says;
  };
  const range_case cases[] = {
    {"--lanes 0", "--lanes: Value 0 not in range 1 to 64"},
    {"--lanes 65", "--lanes: Value 65 not in range 1 to 64"},
    {"--lanes two", "--lanes: Value two not in range 1 to 64"},
    {"--http-max-streams 100001", "--http-max-streams: Value 100001 not in range 0 to 100000"},
    {"--http-max-streams -1", "--http-max-streams: Value -1 not in range 0 to 100000"},
  };
  for (const auto& c : cases) {
    auto r = run(std::string{BPS_EXE} + " node --bootstrap 127.0.0.1:1 --http-auth off " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << ": " << r.output;
  }
}

TEST(CliUsageIT, TheLogLevelTheLogsPrintIsAccepted) {
  auto r = run(std::string{BPS_EXE} + " --log-level warning version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("librdkafka"), std::string::npos) << r.output;
}

TEST_F(TopicsIT, CliWarnsOfAPrefixWithoutASeparator) {
  // The prefix is unique, only its separator is dropped.
  auto bare = prefix.substr(0, prefix.size() - 1);
  auto r = run(bps_ensure(bare));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--topic-prefix \"" + bare + "\" does not end in a separator"),
            std::string::npos)
    << r.output;
  EXPECT_NE(r.output.find(bare + "purchases"), std::string::npos) << r.output;
  EXPECT_FALSE(admin->delete_topics(kafka::topic_names::with_prefix(bare).all(), 30s));
  auto quiet = run(bps_ensure(prefix));
  EXPECT_EQ(quiet.output.find("separator"), std::string::npos) << quiet.output;
}

TEST(CliUsageIT, ABrokerThatDoesNotAnswerIsNamedWithHowToStartOne) {
  // A port nothing listens on: bound, never listened to, for the test's life.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto port = std::to_string(ntohs(addr.sin_port));
  auto given
    = run(std::string{BPS_EXE} + " topics ensure --timeout-ms 2000 --bootstrap 127.0.0.1:" + port);
  EXPECT_EQ(given.exit_code, 1) << given.output;
  EXPECT_NE(given.output.find("Kafka at 127.0.0.1:" + port + " does not answer"), std::string::npos)
    << given.output;
  EXPECT_NE(given.output.find("deploy/local/kafka start"), std::string::npos) << given.output;
  EXPECT_EQ(given.output.find("only the default"), std::string::npos) << given.output;
  ::close(fd);
  // Without --bootstrap the message says the address is only the default: the unit
  // suite cli.usage checks that wording (the default port may have a broker here).
}
