#define CAF_SUITE cli.usage
#include <caf/test/unit_test.hpp>

#include <CLI/CLI.hpp>

#include "bps/error.hpp"
#include "usage.hpp"

using namespace bps::cli;

namespace {

/// A command line shaped like bps': global options, nested commands, options with
/// and without values.
struct fixture {
  CLI::App app{"test", "bps"};
  std::string level;
  std::string item;
  int quantity = 0;
  bool yes = false;
  fixture() {
    app.add_option("--log-level", level);
    auto* purchase = app.add_subcommand("purchase");
    purchase->add_option("--item-id", item);
    purchase->add_option("--quantity", quantity);
    auto* item_cmd = app.add_subcommand("item");
    item_cmd->add_subcommand("restock")->add_option("--amount", quantity);
    item_cmd->add_subcommand("insert")->add_flag("--yes", yes);
    app.add_subcommand("replay");
  }
  std::string explain(std::vector<std::string> args) {
    return explain_unknown(app, args).value_or("(nothing)");
  }
};

} // namespace

CAF_TEST(the edit distance counts insertions deletions substitutions and swaps) {
  CAF_CHECK_EQUAL(edit_distance("purchase", "purchase"), 0u);
  CAF_CHECK_EQUAL(edit_distance("purchse", "purchase"), 1u);
  CAF_CHECK_EQUAL(edit_distance("purchasee", "purchase"), 1u);
  CAF_CHECK_EQUAL(edit_distance("purchasr", "purchase"), 1u);
  CAF_CHECK_EQUAL(edit_distance("prucahse", "purchase"), 2u); // two swaps
  CAF_CHECK_EQUAL(edit_distance("kitten", "sitting"), 3u);
  CAF_CHECK_EQUAL(edit_distance("pruchase", "purchase"), 1u); // a swap
  CAF_CHECK_EQUAL(edit_distance("", "abc"), 3u);
}

CAF_TEST(only a close name is suggested) {
  std::vector<std::string> names{"topics", "node", "item", "purchase", "replay", "version"};
  CAF_CHECK_EQUAL(closest_name("purchse", names).value_or("-"), "purchase");
  CAF_CHECK_EQUAL(closest_name("replya", names).value_or("-"), "replay");
  CAF_CHECK_EQUAL(closest_name("nod", names).value_or("-"), "node");
  CAF_CHECK(!closest_name("zzzzzzzz", names));
  CAF_CHECK(!closest_name("ab", names)); // two edits of a two-letter word say nothing
  CAF_CHECK(!closest_name("x", {}));
}

CAF_TEST_FIXTURE_SCOPE(usage_tests, fixture)

CAF_TEST(an unknown command is named with the closest one at its level) {
  CAF_CHECK_EQUAL(explain({"purchse", "--item-id", "x"}),
                  "unknown command \"purchse\" for bps; did you mean \"purchase\"?");
  CAF_CHECK_EQUAL(explain({"item", "restok"}),
                  "unknown command \"restok\" for bps item; did you mean \"restock\"?");
  CAF_CHECK_EQUAL(explain({"--log-level", "warn", "qqqqqq"}),
                  "unknown command \"qqqqqq\" for bps; the commands are: purchase, item, replay");
}

CAF_TEST(an unknown option is named with the closest one of its command or above) {
  CAF_CHECK_EQUAL(explain({"purchase", "--item-id", "x", "--quantiy", "1"}),
                  "unknown option --quantiy for bps purchase; did you mean --quantity? (see bps "
                  "purchase --help)");
  CAF_CHECK_EQUAL(explain({"purchase", "--log-levl=debug"}),
                  "unknown option --log-levl for bps purchase; did you mean --log-level? (see "
                  "bps purchase --help)");
  CAF_CHECK_EQUAL(explain({"item", "restock", "--zzzzzz"}),
                  "unknown option --zzzzzz for bps item restock (see bps item restock --help)");
}

CAF_TEST(known commands options and their values are not reported) {
  // A value that looks like a command name is the option's value, not a command.
  CAF_CHECK_EQUAL(explain({"purchase", "--item-id", "replay", "--quantity", "1"}), "(nothing)");
  CAF_CHECK_EQUAL(explain({"--log-level=warn", "purchase", "--item-id=x"}), "(nothing)");
  // A flag takes no value: what follows it is read as it is.
  CAF_CHECK_EQUAL(explain({"item", "insert", "--yes", "--log-level", "info"}), "(nothing)");
  CAF_CHECK_EQUAL(explain({"purchase", "--", "--anything"}), "(nothing)");
  CAF_CHECK_EQUAL(explain({"--help"}), "(nothing)");
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(a broker that does not answer is named and the default is called one) {
  auto timeout = bps::make_error(bps::ec::timeout, "describe configs: Local: Timed out");
  auto given = kafka_failure(timeout, "10.0.0.9:9092", true);
  CAF_CHECK_EQUAL(given, "Kafka at 10.0.0.9:9092 does not answer (timeout: describe configs: "
                         "Local: Timed out).\n  For a local broker: deploy/local/kafka start");
  auto by_default = kafka_failure(timeout, "127.0.0.1:9092", false);
  CAF_CHECK_NOT_EQUAL(by_default.find("127.0.0.1:9092 is only the default: give --bootstrap "
                                      "HOST:PORT (or BPS_BOOTSTRAP) for another broker."),
                      std::string::npos);
  // A retriable error that is an answer is not called silence.
  auto answered
    = bps::make_error(bps::ec::kafka_retriable, "create topics: Broker: Not controller");
  CAF_CHECK_EQUAL(kafka_failure(answered, "h:1", false),
                  "kafka_retriable: create topics: Broker: Not controller");
  auto down
    = bps::make_error(bps::ec::kafka_retriable, "metadata: Local: All broker connections are down");
  CAF_CHECK_NOT_EQUAL(kafka_failure(down, "h:1", true).find("Kafka at h:1 does not answer"),
                      std::string::npos);
  // Other errors are told as they are.
  auto other = bps::make_error(bps::ec::topic_mismatch, "topic x: setting y");
  CAF_CHECK_EQUAL(kafka_failure(other, "h:1", false), "topic_mismatch: topic x: setting y");
}
