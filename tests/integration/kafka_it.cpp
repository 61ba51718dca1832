// Integration tests of the kafka/ wrappers against the real broker started by
// deploy/run-tests. Each test has its own topics and consumer groups.

#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "bps/kafka/admin.hpp"
#include "bps/kafka/classify.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/reader.hpp"
#include "it_support.hpp"

using namespace bps;
using namespace bps::it;
using kafka::poll_event;

namespace {

class KafkaIT : public ::testing::Test {
protected:
  void SetUp() override {
    prefix = unique_prefix();
    admin = must(kafka::admin::make(bootstrap()));
  }
  void TearDown() override {
    if (admin && !created.empty()) {
      EXPECT_FALSE(admin->delete_topics(created, 30s));
    }
  }
  std::string make_topic(const std::string& name, int32_t partitions) {
    auto topic = prefix + name;
    auto err = admin->create_topic({topic, partitions, 1, {}}, 30s);
    EXPECT_FALSE(err) << describe(err);
    // Wait until the topic is visible: KRaft metadata may lag a creation.
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto d = admin->describe_topic(topic, 5s);
      if (d && *d)
        break;
      std::this_thread::sleep_for(100ms);
    }
    created.push_back(topic);
    return topic;
  }
  /// Writes n records "r0".."r<n-1>" keyed "k" (to `partition`, or by key).
  void feed(const std::string& topic, int n, int32_t partition = -1) {
    auto feeder = must(kafka::producer::make({bootstrap(), "", 10000ms, {}}));
    for (int i = 0; i < n; ++i)
      ASSERT_FALSE(feeder->produce(topic, "k", "r" + std::to_string(i), partition));
    ASSERT_FALSE(feeder->flush(30s));
  }
  /// A consumer of group prefix+`group` subscribed to `topic`, after it read n messages.
  std::unique_ptr<kafka::consumer> after_reading(const std::string& group, const std::string& topic,
                                                 int n) {
    kafka::consumer_options opts;
    opts.bootstrap = bootstrap();
    opts.group_id = prefix + group;
    auto c = must(kafka::consumer::make(opts));
    EXPECT_FALSE(c->subscribe({topic}));
    int read = 0;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (read < n && std::chrono::steady_clock::now() < deadline)
      if (must(c->poll(500ms)).what == poll_event::kind::message)
        ++read;
    EXPECT_EQ(read, n);
    return c;
  }
  std::string prefix;
  std::unique_ptr<kafka::admin> admin;
  std::vector<std::string> created;
};

} // namespace

TEST_F(KafkaIT, ProducedRecordsComeBackWithKeysValuesAndPerKeyOrder) {
  auto topic = make_topic("round-trip", 3);
  auto p = must(kafka::producer::make({bootstrap(), "", 10000ms, {}}));
  constexpr int keys = 10;
  constexpr int per_key = 30;
  for (int seq = 0; seq < per_key; ++seq)
    for (int k = 0; k < keys; ++k) {
      auto err = p->produce(topic, "k" + std::to_string(k), std::to_string(seq));
      ASSERT_FALSE(err) << describe(err);
    }
  auto flushed = p->flush(30s);
  ASSERT_FALSE(flushed) << describe(flushed);
  EXPECT_EQ(p->delivery_failures(), 0u);

  kafka::consumer_options opts;
  opts.bootstrap = bootstrap();
  opts.group_id = prefix + "group";
  auto c = must(kafka::consumer::make(opts));
  ASSERT_FALSE(c->subscribe({topic}));
  std::map<std::string, std::vector<int>> seen;
  std::map<std::string, int32_t> partition_of;
  int total = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (total < keys * per_key && std::chrono::steady_clock::now() < deadline) {
    auto ev = must(c->poll(500ms));
    if (ev.what != poll_event::kind::message)
      continue;
    ASSERT_TRUE(ev.rec.key.has_value());
    ASSERT_TRUE(ev.rec.value.has_value());
    seen[*ev.rec.key].push_back(std::stoi(*ev.rec.value));
    auto [it, fresh] = partition_of.emplace(*ev.rec.key, ev.rec.partition);
    EXPECT_EQ(it->second, ev.rec.partition) << "key " << *ev.rec.key << " changed partition";
    // bps' producer and bps' own partition_for agree (both murmur2, like Java).
    EXPECT_EQ(kafka::partition_for(*ev.rec.key, 3), ev.rec.partition) << *ev.rec.key;
    ++total;
  }
  ASSERT_EQ(total, keys * per_key);
  ASSERT_EQ(seen.size(), static_cast<size_t>(keys));
  for (const auto& [key, seqs] : seen) {
    ASSERT_EQ(seqs.size(), static_cast<size_t>(per_key)) << key;
    for (int i = 0; i < per_key; ++i)
      EXPECT_EQ(seqs[i], i) << "key " << key << " out of order";
  }
}

TEST_F(KafkaIT, CommittedTransactionIsVisibleToReadCommittedAndAbortedOneIsNot) {
  auto topic = make_topic("txn", 1);
  auto p = must(kafka::producer::make({bootstrap(), prefix + "txn-producer", 10000ms, {}}));
  auto err = p->init_transactions(30s);
  ASSERT_FALSE(err) << describe(err);

  ASSERT_FALSE(p->begin_transaction());
  ASSERT_FALSE(p->produce(topic, "k", "committed-1"));
  err = p->commit_transaction(30s);
  ASSERT_FALSE(err) << describe(err);

  ASSERT_FALSE(p->begin_transaction());
  ASSERT_FALSE(p->produce(topic, "k", "aborted-1"));
  // Make sure the record reaches the log before the abort: otherwise the abort
  // would only purge it locally and the test would prove nothing.
  err = p->flush(30s);
  ASSERT_FALSE(err) << describe(err);
  err = p->abort_transaction(30s);
  ASSERT_FALSE(err) << describe(err);

  ASSERT_FALSE(p->begin_transaction());
  ASSERT_FALSE(p->produce(topic, "k", "committed-2"));
  err = p->commit_transaction(30s);
  ASSERT_FALSE(err) << describe(err);

  auto uncommitted = read_partition(topic, 0, false);
  EXPECT_EQ(uncommitted, (std::vector<std::string>{"committed-1", "aborted-1", "committed-2"}));
  auto committed = read_partition(topic, 0, true);
  EXPECT_EQ(committed, (std::vector<std::string>{"committed-1", "committed-2"}));
}

TEST_F(KafkaIT, LagsListEveryAssignedPartitionWithWhatIsNotReadYet) {
  auto topic = make_topic("lags", 2);
  feed(topic, 10, 0); // all in partition 0
  auto c = after_reading("lags", topic, 3);
  std::map<int32_t, int64_t> by_partition;
  for (const auto& l : c->lags()) {
    EXPECT_EQ(l.topic, topic);
    by_partition[l.partition] = l.records;
  }
  // Partition 0: 3 of 10 read. Partition 1: empty, listed all the same.
  EXPECT_EQ(by_partition, (std::map<int32_t, int64_t>{{0, 7}, {1, 0}}));
  EXPECT_EQ(c->lag(), 7);
}

TEST_F(KafkaIT, OffsetsSentToATransactionCommitWithItAndNotWithAnAbort) {
  auto input = make_topic("in", 1);
  auto output = make_topic("out", 1);
  auto feeder = must(kafka::producer::make({bootstrap(), "", 10000ms, {}}));
  for (int i = 0; i < 6; ++i)
    ASSERT_FALSE(feeder->produce(input, "k", "r" + std::to_string(i)));
  ASSERT_FALSE(feeder->flush(30s));

  kafka::consumer_options opts;
  opts.bootstrap = bootstrap();
  opts.group_id = prefix + "processor";
  auto c = must(kafka::consumer::make(opts));
  ASSERT_FALSE(c->subscribe({input}));
  std::vector<kafka::record> got;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (got.size() < 6 && std::chrono::steady_clock::now() < deadline) {
    auto ev = must(c->poll(500ms));
    if (ev.what == poll_event::kind::message)
      got.push_back(ev.rec);
  }
  ASSERT_EQ(got.size(), 6u);

  auto p = must(kafka::producer::make({bootstrap(), prefix + "processor-txn", 10000ms, {}}));
  ASSERT_FALSE(p->init_transactions(30s));
  // First 4 records: processed and committed together with their offsets.
  ASSERT_FALSE(p->begin_transaction());
  for (int i = 0; i < 4; ++i)
    ASSERT_FALSE(p->produce(output, "k", "done-" + *got[i].value));
  auto err = p->send_offsets_to_transaction({{input, 0, got[3].offset + 1}}, *c, 30s);
  ASSERT_FALSE(err) << describe(err);
  err = p->commit_transaction(30s);
  ASSERT_FALSE(err) << describe(err);
  // The last 2: processed, then aborted; their offsets must not move.
  ASSERT_FALSE(p->begin_transaction());
  for (int i = 4; i < 6; ++i)
    ASSERT_FALSE(p->produce(output, "k", "done-" + *got[i].value));
  ASSERT_FALSE(p->send_offsets_to_transaction({{input, 0, got[5].offset + 1}}, *c, 30s));
  err = p->abort_transaction(30s);
  ASSERT_FALSE(err) << describe(err);

  auto committed = must(c->committed({{input, 0}}, 30s));
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].offset, got[3].offset + 1);
  EXPECT_EQ(read_partition(output, 0, true),
            (std::vector<std::string>{"done-r0", "done-r1", "done-r2", "done-r3"}));
}

TEST_F(KafkaIT, OffsetsHeldByAnOpenTransactionAreNeverReadAsNothingCommitted) {
  // A node that takes a partition over must wait while the previous owner's
  // transaction holds offsets of it (KIP-447): librdkafka 2.0.2 gives up after two
  // retries with a per-partition UNSTABLE_OFFSET_COMMIT and offset -1001, which read as
  // "nothing committed" would make the new owner decide the whole partition again.
  auto input = make_topic("unstable-in", 1);
  auto output = make_topic("unstable-out", 1);
  feed(input, 3);
  auto c = after_reading("unstable", input, 3);
  kafka::consumer_options opts;
  opts.bootstrap = bootstrap();
  opts.group_id = prefix + "unstable";
  auto p = must(kafka::producer::make({bootstrap(), prefix + "unstable-txn", 60000ms, {}}));
  ASSERT_FALSE(p->init_transactions(30s));
  ASSERT_FALSE(p->begin_transaction());
  ASSERT_FALSE(p->produce(output, "k", "pending"));
  ASSERT_FALSE(p->send_offsets_to_transaction({{input, 0, 3}}, *c, 30s));
  // The transaction stays open: the offsets are pending.
  kafka::consumer_options other = opts;
  auto taker = must(kafka::consumer::make(other)); // same group, read_committed
  auto unstable = taker->committed({{input, 0}}, 3s);
  ASSERT_FALSE(unstable) << "answered offset " << (*unstable)[0].offset;
  EXPECT_EQ(kafka::class_of(code_of(unstable.error())), kafka::error_class::retriable)
    << describe(unstable.error());
  // The end of the output log is its high watermark, whoever reads it: the pending
  // record counts (a read_committed client would be told the last stable offset).
  auto ends = must(kafka::log_end(bootstrap(), {output, 0}, 10s));
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(must(taker->watermarks({output, 0}, 10s)).second, 0)
    << "a read_committed client is told the last stable offset";
  ASSERT_FALSE(p->commit_transaction(30s));
  auto stable = must(taker->committed({{input, 0}}, 30s));
  EXPECT_EQ(stable[0].offset, 3);
}

// warm() fetches topics' metadata early (so that a producer's first record does not
// wait for librdkafka's topic scan: bench/first-decision measures that). A topic that
// does not exist or a broker that does not answer is an error it returns (the callers
// only log it), the producer still produces, and warming creates no topic.
TEST_F(KafkaIT, WarmFetchesTopicMetadataAndReportsAMissingTopicOrAnAbsentBroker) {
  auto topic = make_topic("warm", 2);
  auto p = must(kafka::producer::make({bootstrap(), prefix + "warm-producer", 10000ms, {}}));
  auto warmed = p->warm({topic}, 10s);
  EXPECT_FALSE(warmed) << describe(warmed);
  EXPECT_TRUE(p->warm({prefix + "no-such-topic"}, 2s))
    << "the metadata of a topic that does not exist was fetched";
  ASSERT_FALSE(p->init_transactions(30s));
  ASSERT_FALSE(p->begin_transaction());
  ASSERT_FALSE(p->produce(topic, "k", "warm"));
  auto err = p->commit_transaction(30s);
  ASSERT_FALSE(err) << describe(err);
  EXPECT_EQ(read_partition(topic, kafka::partition_for("k", 2), true),
            (std::vector<std::string>{"warm"}));
  auto d = admin->describe_topic(prefix + "no-such-topic", 10s);
  ASSERT_TRUE(d) << describe(d.error());
  EXPECT_FALSE(*d) << "warming a topic created it";
  // A broker that does not answer: warm fails within its bound.
  auto away = must(kafka::producer::make({"127.0.0.1:1", "", 10000ms, {}}));
  EXPECT_TRUE(away->warm({topic}, 300ms));
}

TEST_F(KafkaIT, ProducingToAMissingTopicFailsWithoutHanging) {
  auto p
    = must(kafka::producer::make({bootstrap(), "", 10000ms, {{"message.timeout.ms", "3000"}}}));
  auto err = p->produce(prefix + "no-such-topic", "k", "v");
  if (!err)
    err = p->flush(20s);
  ASSERT_TRUE(err) << "a record for a topic that does not exist was reported delivered";
  EXPECT_NE(describe(err).find("no-such-topic"), std::string::npos) << describe(err);
}

TEST_F(KafkaIT, AnUnknownClientPropertyIsRefusedWithItsName) {
  auto p = kafka::producer::make({bootstrap(), "", 10000ms, {{"linger.mss", "5"}}});
  ASSERT_FALSE(p);
  EXPECT_EQ(code_of(p.error()), ec::invalid_argument);
  EXPECT_NE(describe(p.error()).find("linger.mss"), std::string::npos);
}
