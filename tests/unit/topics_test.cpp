#define CAF_SUITE kafka.topics
#include <caf/test/unit_test.hpp>

#include "bps/error.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"

using namespace bps::kafka;

namespace {

bool mentions(const std::vector<std::string>& lines, const std::string& a, const std::string& b) {
  for (const auto& l : lines)
    if (l.find(a) != std::string::npos && l.find(b) != std::string::npos)
      return true;
  return false;
}

topic_description as_described(const topic_spec& spec) {
  return {spec.name, spec.partitions, spec.configs};
}

} // namespace

CAF_TEST(the seven topics share a prefix and one partition count) {
  auto specs = bps_topic_specs("shop.", 6);
  CAF_REQUIRE_EQUAL(specs.size(), 7u);
  CAF_CHECK_EQUAL(specs[0].name, "shop.items");
  CAF_CHECK_EQUAL(specs[1].name, "shop.purchases");
  CAF_CHECK_EQUAL(specs[2].name, "shop.item-commands");
  CAF_CHECK_EQUAL(specs[3].name, "shop.dead-letters");
  CAF_CHECK_EQUAL(specs[4].name, "shop.idempotency-keys");
  CAF_CHECK_EQUAL(specs[5].name, "shop.purchase-requests");
  CAF_CHECK_EQUAL(specs[6].name, "shop.item-command-requests");
  CAF_CHECK_EQUAL(topic_names::with_prefix("shop.").all().size(), 7u);
  for (const auto& s : specs) {
    CAF_CHECK_EQUAL(s.partitions, 6);
    CAF_CHECK_EQUAL(s.configs.at("retention.ms"), "-1");
    CAF_CHECK_EQUAL(s.configs.at("retention.bytes"), "-1");
  }
}

CAF_TEST(items are compacted and the logs are not ) {
  auto specs = bps_topic_specs("bps.", 12);
  CAF_CHECK_EQUAL(specs[0].configs.at("cleanup.policy"), "compact");
  for (size_t i = 1; i < specs.size(); ++i)
    CAF_CHECK_EQUAL(specs[i].configs.at("cleanup.policy"), "delete");
}

CAF_TEST(a topic as bps wants it has no mismatch) {
  for (const auto& spec : bps_topic_specs("bps.", 12))
    CAF_CHECK(mismatches(spec, as_described(spec)).empty());
}

CAF_TEST(a wrong cleanup policy is named with its topic) {
  auto spec = bps_topic_specs("bps.", 12)[0];
  auto have = as_described(spec);
  have.configs["cleanup.policy"] = "delete";
  auto diff = mismatches(spec, have);
  CAF_REQUIRE_EQUAL(diff.size(), 1u);
  CAF_CHECK(mentions(diff, "bps.items", "cleanup.policy"));
  CAF_CHECK(mentions(diff, "\"delete\"", "\"compact\""));
}

CAF_TEST(a finite retention and a different partition count are both reported) {
  auto spec = bps_topic_specs("bps.", 12)[1];
  auto have = as_described(spec);
  have.configs["retention.ms"] = "604800000";
  have.partitions = 3;
  auto diff = mismatches(spec, have);
  CAF_CHECK_EQUAL(diff.size(), 2u);
  CAF_CHECK(mentions(diff, "bps.purchases", "retention.ms"));
  CAF_CHECK(mentions(diff, "bps.purchases", "3 partitions"));
}

CAF_TEST(a setting the broker does not report is a mismatch) {
  auto spec = bps_topic_specs("bps.", 12)[0];
  auto have = as_described(spec);
  have.configs.erase("retention.bytes");
  CAF_CHECK(mentions(mismatches(spec, have), "bps.items", "retention.bytes"));
}

CAF_TEST(a topic prefix with characters Kafka rejects is refused with the character) {
  CAF_CHECK(!validate_topic_prefix("bps."));
  CAF_CHECK(!validate_topic_prefix(""));
  CAF_CHECK(!validate_topic_prefix("team-a_v2."));
  auto err = validate_topic_prefix("my shop/");
  CAF_REQUIRE(err);
  CAF_CHECK(bps::describe(err).find("' '") != std::string::npos);
  CAF_CHECK(validate_topic_prefix(std::string(240, 'a')));
  // The longest topic name, "<prefix>item-command-requests", must stay within Kafka's 249.
  CAF_CHECK(!validate_topic_prefix(std::string(228, 'a')));
  CAF_CHECK(validate_topic_prefix(std::string(229, 'a')));
}

CAF_TEST(murmur2 gives the hashes of the Kafka Java client) {
  // The vectors of Kafka's UtilsTest.testMurmur2.
  CAF_CHECK_EQUAL(static_cast<int32_t>(murmur2("21")), -973932308);
  CAF_CHECK_EQUAL(static_cast<int32_t>(murmur2("foobar")), -790332482);
  CAF_CHECK_EQUAL(static_cast<int32_t>(murmur2("a-little-bit-long-string")), -985981536);
  CAF_CHECK_EQUAL(static_cast<int32_t>(murmur2("a-little-bit-longer-string")), -1486304829);
  CAF_CHECK_EQUAL(static_cast<int32_t>(murmur2("abc")), 479470107);
  CAF_CHECK_EQUAL(partition_for("foobar", 12),
                  static_cast<int32_t>((-790332482 & 0x7fffffff) % 12));
}

CAF_TEST(creating the request topics beside an existing purchases topic prints an upgrade note) {
  auto names = topic_names::with_prefix("shop.");
  bps::kafka::ensure_report upgraded;
  upgraded.verified = {names.items, names.purchases, names.item_commands};
  upgraded.created = {names.purchase_requests, names.item_command_requests};
  auto note = bps::kafka::upgrade_note(names, upgraded);
  CAF_CHECK(note.find("shop.purchase-requests") != std::string::npos);
  CAF_CHECK(note.find("Stop every node") != std::string::npos);
  bps::kafka::ensure_report fresh;
  fresh.created = names.all();
  CAF_CHECK(bps::kafka::upgrade_note(names, fresh).empty());
  bps::kafka::ensure_report again;
  again.verified = names.all();
  CAF_CHECK(bps::kafka::upgrade_note(names, again).empty());
}
