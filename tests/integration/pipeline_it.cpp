// The purchase pipeline end to end: real `bps node` processes against the real
// broker, many concurrent buyers, a node killed with SIGKILL, poison records. The
// invariants are checked twice: here, from what the test itself sent, and by
// `bps replay --verify`.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "bps/actors/codec.hpp"
#include "bps/actors/processor.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"
#include "it_support.hpp"
#include "process.hpp"

using namespace bps;
using namespace bps::it;
using namespace bps::domain;

namespace {

constexpr int32_t partitions = 6;

/// Everything read back from the topics.
struct log_view {
  std::map<std::string, std::vector<purchase>> outcomes;    // by purchaseId
  std::map<std::string, std::vector<item_command>> results; // by commandId
  std::map<std::string, item> items;                        // last snapshot per itemId
  std::vector<dead_letter> dead;
  std::set<std::string> requests; // ids of CREATED purchases and REQUESTED commands
  std::set<std::string> claims;   // ids claimed in the idempotency-keys topic
  size_t outcome_count = 0;
  size_t result_count = 0;
};

/// What the test sent, to check the outcomes against.
struct workload {
  std::map<std::string, int64_t> initial;
  std::map<std::string, int64_t> restocked;
  std::map<std::string, int> restocks;
  std::set<std::string> purchase_ids;
  std::mutex mtx;
};

class PipelineIT : public ::testing::Test {
protected:
  void SetUp() override {
    prefix = unique_prefix();
    topics = kafka::topic_names::with_prefix(prefix);
    admin = must(kafka::admin::make(bootstrap()));
    must(kafka::ensure_topics(*admin, kafka::bps_topic_specs(prefix, partitions), 30s));
    producer = must(kafka::producer::make({bootstrap(), "", 10000ms, {}}));
  }

  void TearDown() override {
    for (auto& [id, node] : nodes) {
      if (node->running()) {
        int rc = node->stop(SIGTERM, 30s);
        EXPECT_EQ(rc, 0) << "node " << id << " did not stop cleanly on SIGTERM:\n"
                         << log_tail(node->log());
      }
      if (HasFailure())
        std::cerr << "---- log of node " << id << " ----\n" << log_tail(node->log()) << "\n";
    }
    if (admin) {
      EXPECT_FALSE(admin->delete_topics(topics.all(), 30s));
    }
  }

  void start_node(const std::string& id, std::vector<std::string> more = {}) {
    auto& node = nodes[id];
    if (!node)
      node = std::make_unique<child_process>();
    std::vector<std::string> args{BPS_EXE,          "node",
                                  "--bootstrap",    bootstrap(),
                                  "--topic-prefix", prefix,
                                  "--node-id",      id,
                                  "--partitions",   std::to_string(partitions)};
    args.insert(args.end(), more.begin(), more.end());
    if (std::find(more.begin(), more.end(), "--http") == more.end())
      args.insert(args.end(), {"--http", "off"}); // the gateway has its own tests
    ASSERT_TRUE(node->start(args, ::testing::TempDir() + prefix + id + ".log"));
  }

  void send(const std::string& topic, const std::string& key, const std::string& value,
            kafka::producer& p) {
    auto err = p.produce(topic, key, value);
    ASSERT_FALSE(err) << describe(err);
  }

  void insert_items(workload& w, int count, std::mt19937& rng) {
    std::uniform_int_distribution<int64_t> stock{5, 60};
    for (int i = 0; i < count; ++i) {
      item_command c;
      c.command_id = "insert-" + std::to_string(i);
      c.item_id = "item-" + std::to_string(i);
      c.description = "Item " + std::to_string(i);
      c.quantity = stock(rng);
      w.initial[c.item_id] = c.quantity;
      send(topics.item_command_requests, c.item_id, encode(c), *producer);
    }
    ASSERT_FALSE(producer->flush(30s));
  }

  /// `threads` concurrent producers, each sending purchases [first, first+count)
  /// of its own; thread 0 mixes a restock in every 50 purchases. Most purchases go
  /// to 5 hot items.
  void buy(workload& w, int threads, int first, int count) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        auto p = must(kafka::producer::make({bootstrap(), "", 10000ms, {}}));
        std::mt19937 rng(1000 * t + first);
        std::uniform_int_distribution<int> any{0, static_cast<int>(w.initial.size()) - 1};
        std::uniform_int_distribution<int> hot{0, 4};
        std::uniform_int_distribution<int> percent{0, 99};
        std::uniform_int_distribution<int64_t> qty{1, 3};
        std::uniform_int_distribution<int64_t> amount{1, 20};
        for (int n = first; n < first + count; ++n) {
          auto item_id = "item-" + std::to_string(percent(rng) < 60 ? hot(rng) : any(rng));
          purchase pu{"p-" + std::to_string(t) + "-" + std::to_string(n), item_id, qty(rng),
                      "buyer-" + std::to_string(t)};
          {
            std::lock_guard<std::mutex> guard{w.mtx};
            w.purchase_ids.insert(pu.purchase_id);
          }
          send(topics.purchase_requests, item_id, encode(pu), *p);
          if (t == 0 && n % 50 == 0) {
            item_command c;
            c.command_id = "restock-" + std::to_string(n);
            c.type = command_type::restock;
            c.item_id = "item-" + std::to_string(any(rng));
            c.amount = amount(rng);
            {
              std::lock_guard<std::mutex> guard{w.mtx};
              w.restocked[c.item_id] += c.amount;
              w.restocks[c.item_id] += 1;
            }
            send(topics.item_command_requests, c.item_id, encode(c), *p);
          }
        }
        auto err = p->flush(60s);
        EXPECT_FALSE(err) << describe(err);
      });
    for (auto& worker : workers)
      worker.join();
  }

  log_view read_all(const kafka::properties& extra = {}) {
    log_view v;
    std::vector<kafka::topic_partition> tps;
    for (const auto& t : topics.all())
      for (int32_t p = 0; p < partitions; ++p)
        tps.push_back({t, p});
    auto err = kafka::read_to_end(
      bootstrap(), tps,
      [&](const kafka::record& r) {
        if (!r.value)
          return;
        if (r.topic == topics.purchases) {
          if (auto d = decode_purchase(*r.value);
              d && d.value->status != purchase_status::created) {
            v.outcomes[d.value->purchase_id].push_back(*d.value);
            ++v.outcome_count;
          } else if (d) {
            v.requests.insert(d.value->purchase_id);
          }
        } else if (r.topic == topics.item_commands) {
          if (auto d = decode_command(*r.value);
              d && d.value->status != command_status::requested) {
            v.results[d.value->command_id].push_back(*d.value);
            ++v.result_count;
          } else if (d) {
            v.requests.insert(d.value->command_id);
          }
        } else if (r.topic == topics.purchase_requests) {
          if (auto d = decode_purchase(*r.value); d && d.value->status == purchase_status::created)
            v.requests.insert(d.value->purchase_id);
        } else if (r.topic == topics.item_command_requests) {
          if (auto d = decode_command(*r.value); d && d.value->status == command_status::requested)
            v.requests.insert(d.value->command_id);
        } else if (r.topic == topics.items) {
          if (auto d = decode_item(*r.value))
            v.items[d.value->item_id] = *d.value;
        } else if (r.topic == topics.idempotency_keys) {
          if (auto d = decode_claim(*r.value))
            v.claims.insert(d.value->id);
        } else if (auto d = decode_dead_letter(*r.value)) {
          v.dead.push_back(*d.value);
        }
      },
      120s, extra);
    EXPECT_FALSE(err) << describe(err);
    return v;
  }

  /// Reads until at least `purchases` outcomes and `commands` results are committed.
  log_view wait_decided(size_t purchases, size_t commands, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto v = read_all();
      if (v.outcome_count >= purchases && v.result_count >= commands)
        return v;
      if (std::chrono::steady_clock::now() >= deadline) {
        ADD_FAILURE() << "after " << timeout.count() << " s only " << v.outcome_count << " of "
                      << purchases << " purchases and " << v.result_count << " of " << commands
                      << " commands are decided";
        return v;
      }
      std::this_thread::sleep_for(1s);
    }
  }

  /// The invariants, from what the test sent.
  void check(workload& w, const log_view& v, const std::string& state_dir = "") {
    for (const auto& id : w.purchase_ids) {
      auto it = v.outcomes.find(id);
      ASSERT_NE(it, v.outcomes.end()) << "purchase " << id << " has no outcome";
      EXPECT_EQ(it->second.size(), 1u) << "purchase " << id << " was decided more than once";
    }
    EXPECT_EQ(v.outcomes.size(), w.purchase_ids.size()) << "outcomes for purchases never sent";
    std::map<std::string, int64_t> sold;
    std::map<std::string, int> sales;
    for (const auto& [id, outs] : v.outcomes)
      for (const auto& o : outs)
        if (o.status == purchase_status::successful) {
          sold[o.item_id] += o.quantity;
          sales[o.item_id] += 1;
        }
    for (const auto& [id, res] : v.results)
      for (const auto& r : res)
        EXPECT_EQ(r.status, command_status::applied) << "command " << id << " was rejected";
    int64_t total_sold = 0;
    for (const auto& [item_id, stock] : w.initial) {
      auto supplied = stock + w.restocked[item_id];
      EXPECT_LE(sold[item_id], supplied) << item_id << " oversold";
      auto it = v.items.find(item_id);
      ASSERT_NE(it, v.items.end()) << item_id << " has no snapshot";
      EXPECT_EQ(it->second.quantity, supplied - sold[item_id]) << item_id;
      EXPECT_EQ(it->second.version, 1 + w.restocks[item_id] + sales[item_id]) << item_id;
      total_sold += sold[item_id];
    }
    EXPECT_GT(total_sold, 0);
    auto replay
      = run(std::string{BPS_EXE} + " replay --verify --bootstrap " + bootstrap()
            + " --topic-prefix " + prefix + (state_dir.empty() ? "" : " --state-dir " + state_dir));
    EXPECT_EQ(replay.exit_code, 0) << replay.output;
    EXPECT_NE(replay.output.find("every invariant holds"), std::string::npos) << replay.output;
    // Its progress (stderr is a pipe here: lines, no bar) counts every offset of every
    // topic, as the broker has them (the nodes are idle now).
    auto ends = must(kafka::log_ends::make(bootstrap()));
    int64_t offsets = 0;
    for (const auto& name : topics.all())
      for (int32_t p = 0; p < partitions; ++p) {
        auto range = must(ends->range({name, p}, 10s));
        offsets += range.second - range.first;
      }
    EXPECT_GT(offsets, 0);
    EXPECT_NE(replay.output.find(
                "replay: reading " + std::to_string(topics.all().size() * partitions)
                + " partitions of " + prefix + "*, " + std::to_string(offsets) + " offsets\n"),
              std::string::npos)
      << replay.output;
    EXPECT_NE(replay.output.find("replay: 100% ("), std::string::npos) << replay.output;
    if (!state_dir.empty()) { // the stores were compared too: at least one per partition
      // (a lane may keep a store that is behind of a partition another lane owns now)
      auto at = replay.output.find("state stores: ");
      ASSERT_NE(at, std::string::npos) << replay.output;
      auto stores = std::stoi(replay.output.substr(at + 14));
      EXPECT_GE(stores, 6) << replay.output;
      EXPECT_NE(replay.output.find(" (of 6 partitions)", at), std::string::npos) << replay.output;
    }
  }

  std::string prefix;
  kafka::topic_names topics;
  std::unique_ptr<kafka::admin> admin;
  std::unique_ptr<kafka::producer> producer;
  std::map<std::string, std::unique_ptr<child_process>> nodes;
};

size_t restock_count(workload& w) {
  size_t n = 0;
  for (const auto& [id, count] : w.restocks)
    n += count;
  return n;
}

} // namespace

TEST_F(PipelineIT, TwoNodesSell20000PurchasesWithoutOversellAndDecideEachOnce) {
  start_node("node-a");
  start_node("node-b");
  workload w;
  std::mt19937 rng{42};
  insert_items(w, 50, rng);
  wait_decided(0, 50, 120s);
  buy(w, 4, 0, 5000);
  auto v = wait_decided(w.purchase_ids.size(), 50 + restock_count(w), 240s);
  check(w, v);
  EXPECT_TRUE(v.dead.empty()) << v.dead.size() << " dead letters, first: " << v.dead[0].reason;
  // Both nodes got partitions, and the same numbers of both topics.
  for (const auto& id : {"node-a", "node-b"}) {
    auto log = nodes[id]->log();
    EXPECT_NE(log.find("partitions assigned"), std::string::npos) << id << ":\n" << log_tail(log);
    EXPECT_EQ(log.find("the group assigned purchases partitions"), std::string::npos) << log;
  }
}

TEST_F(PipelineIT, ANodeKilledWithSigkillLosesNothingAndDecidesNothingTwice) {
  start_node("node-a");
  start_node("node-b");
  workload w;
  std::mt19937 rng{7};
  insert_items(w, 50, rng);
  wait_decided(0, 50, 120s);
  buy(w, 4, 0, 1700);
  EXPECT_EQ(nodes["node-a"]->stop(SIGKILL, 10s), 128 + SIGKILL);
  buy(w, 4, 1700, 1700);
  start_node("node-a");
  buy(w, 4, 3400, 1600);
  auto v = wait_decided(w.purchase_ids.size(), 50 + restock_count(w), 300s);
  check(w, v);
}

TEST_F(PipelineIT, PoisonRecordsEndAsFailedOrDeadLettersWithTheirReasonAndProcessingGoesOn) {
  start_node("node-a");
  item_command insert;
  insert.command_id = "insert-book";
  insert.item_id = "book";
  insert.description = "A book";
  insert.quantity = 3;
  send(topics.item_command_requests, "book", encode(insert), *producer);
  ASSERT_FALSE(producer->flush(30s));
  // Commands and purchases are different topics: nothing orders one after the
  // other, so the item must exist before the purchases are sent.
  wait_decided(0, 1, 60s);
  auto book_partition = kafka::partition_for("book", partitions);
  auto raw = [&](const std::string& topic, const std::string& key, const std::string& value) {
    ASSERT_FALSE(producer->produce(topic, key, value, book_partition));
  };
  const std::string garbage{"\x00\xff\xfe garbage", 12};
  raw(topics.purchase_requests, "book", garbage);
  raw(topics.purchase_requests, "book", R"({"hello":"world"})");
  raw(topics.purchase_requests, "book", encode(purchase{"p-negative", "book", -2, "mallory"}));
  raw(topics.purchase_requests, "other-item", encode(purchase{"p-wrong-key", "book", 1, "eve"}));
  // An outcome where requests belong: only nodes write outcomes, and not there.
  purchase forged{"p-forged", "book", 1, "mallory"};
  forged.status = purchase_status::successful;
  forged.item_version = 2;
  forged.item_quantity = 2;
  raw(topics.purchase_requests, "book", encode(forged));
  raw(
    topics.item_command_requests, "book",
    R"({"schemaVersion":1,"commandId":"c-del","type":"DELETE_ITEM","itemId":"book","status":"REQUESTED"})");
  item_command bad_restock;
  bad_restock.command_id = "c-bad-restock";
  bad_restock.type = command_type::restock;
  bad_restock.item_id = "book";
  bad_restock.amount = -5;
  raw(topics.item_command_requests, "book", encode(bad_restock));
  send(topics.purchase_requests, "ghost", encode(purchase{"p-unknown", "ghost", 1, "eve"}),
       *producer);
  send(topics.purchase_requests, "book", encode(purchase{"p-ok", "book", 2, "alice"}), *producer);
  send(topics.purchase_requests, "book", encode(purchase{"p-ok", "book", 1, "alice-again"}),
       *producer);
  ASSERT_FALSE(producer->flush(30s));

  auto v = wait_decided(3, 2, 120s);
  ASSERT_TRUE(v.results.count("insert-book"));
  ASSERT_TRUE(v.outcomes.count("p-negative"));
  EXPECT_EQ(v.outcomes["p-negative"][0].reason, failure_reason::invalid_quantity);
  ASSERT_TRUE(v.outcomes.count("p-unknown"));
  EXPECT_EQ(v.outcomes["p-unknown"][0].reason, failure_reason::unknown_item);
  ASSERT_TRUE(v.outcomes.count("p-ok"));
  ASSERT_EQ(v.outcomes["p-ok"].size(), 1u);
  EXPECT_EQ(v.outcomes["p-ok"][0].status, purchase_status::successful)
    << "processing did not go on after the poison records";
  EXPECT_EQ(v.outcomes["p-ok"][0].item_quantity, 1);
  ASSERT_TRUE(v.results.count("c-bad-restock"));
  EXPECT_EQ(v.results["c-bad-restock"][0].reason, rejection_reason::invalid_amount);
  EXPECT_EQ(v.items["book"].quantity, 1);

  auto dead_with = [&](const std::string& text) -> const dead_letter* {
    for (const auto& d : v.dead)
      if (d.reason.find(text) != std::string::npos)
        return &d;
    return nullptr;
  };
  const auto* g = dead_with("not valid JSON");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->value, garbage) << "the original bytes must be kept";
  EXPECT_EQ(g->source_topic, topics.purchase_requests);
  EXPECT_NE(dead_with("schemaVersion is missing"), nullptr);
  EXPECT_NE(dead_with("the record key is \"other-item\" but the itemId is \"book\""), nullptr);
  EXPECT_NE(dead_with("type is \"DELETE_ITEM\""), nullptr);
  EXPECT_NE(dead_with("purchaseId \"p-ok\" was already decided"), nullptr);
  EXPECT_NE(dead_with("with status SUCCESSFUL is not a request"), nullptr);
  EXPECT_EQ(v.outcomes.count("p-forged"), 0u) << "an outcome in a request topic counted";
  EXPECT_EQ(v.dead.size(), 6u);

  auto replay = run(std::string{BPS_EXE} + " replay --verify --bootstrap " + bootstrap()
                    + " --topic-prefix " + prefix);
  EXPECT_EQ(replay.exit_code, 0) << replay.output;
}

TEST_F(PipelineIT, AnOutcomeThatAClientWritesIntoTheOutputsMakesTheNodeAbortAndReadTheLogAgain) {
  start_node("node-a", {"--lanes", "1"});
  item_command insert;
  insert.command_id = "insert-book";
  insert.item_id = "book";
  insert.description = "A book";
  insert.quantity = 5;
  send(topics.item_command_requests, "book", encode(insert), *producer);
  send(topics.purchase_requests, "book", encode(purchase{"p-1", "book", 1, "alice"}), *producer);
  ASSERT_FALSE(producer->flush(30s));
  wait_decided(1, 1, 60s);
  // Only nodes write outcomes: a client writes one into purchases anyway.
  purchase forged{"p-forged", "book", 1, "mallory"};
  forged.status = purchase_status::successful;
  forged.item_version = 3;
  forged.item_quantity = 3;
  ASSERT_FALSE(producer->produce(topics.purchases, "book", encode(forged),
                                 kafka::partition_for("book", partitions)));
  ASSERT_FALSE(producer->flush(30s)); // in the log before the next request
  send(topics.purchase_requests, "book", encode(purchase{"p-2", "book", 1, "bob"}), *producer);
  ASSERT_FALSE(producer->flush(30s));
  wait_decided(3, 1, 60s);
  // The node finds the record it did not write before its next commit there.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  const std::string found = "that this node did not write";
  while (nodes["node-a"]->log().find(found) == std::string::npos
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  auto log = nodes["node-a"]->log();
  ASSERT_NE(log.find(found), std::string::npos) << log_tail(log);
  EXPECT_NE(log.find("aborting, and reading those partitions' logs again"), std::string::npos)
    << log_tail(log);
  // The transaction that found it aborted: p-2 is decided again, once, after the
  // catch-up, and so is what comes next.
  send(topics.purchase_requests, "book", encode(purchase{"p-3", "book", 1, "carol"}), *producer);
  ASSERT_FALSE(producer->flush(30s));
  auto v = wait_decided(4, 1, 60s);
  ASSERT_EQ(v.outcomes["p-2"].size(), 1u);
  ASSERT_EQ(v.outcomes["p-3"].size(), 1u);
  EXPECT_EQ(v.outcomes["p-3"][0].status, purchase_status::successful);
  // The forged outcome has no request: replay names it.
  auto replay = run(std::string{BPS_EXE} + " replay --verify --bootstrap " + bootstrap()
                    + " --topic-prefix " + prefix);
  EXPECT_NE(replay.exit_code, 0) << replay.output;
  EXPECT_NE(replay.output.find("purchase p-forged has an outcome but was never CREATED"),
            std::string::npos)
    << replay.output;
}

TEST_F(PipelineIT, AnItemRecordInTheWrongPartitionGoesToDeadLettersNamingTheRightOne) {
  start_node("node-a");
  auto right = kafka::partition_for("misplaced", partitions);
  auto wrong = (right + 1) % partitions;
  ASSERT_FALSE(producer->produce(topics.purchase_requests, "misplaced",
                                 encode(purchase{"p-misplaced", "misplaced", 1, "x"}), wrong));
  ASSERT_FALSE(producer->flush(30s));
  auto deadline = std::chrono::steady_clock::now() + 60s;
  log_view v;
  while (v.dead.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
    v = read_all();
  }
  ASSERT_EQ(v.dead.size(), 1u);
  EXPECT_NE(v.dead[0].reason.find("belongs to partition " + std::to_string(right)),
            std::string::npos)
    << v.dead[0].reason;
  EXPECT_EQ(v.dead[0].source_partition, wrong);
}

TEST_F(PipelineIT, AbortedTransactionsAreRewoundAndTheirRequestsDecidedAgainExactlyOnce) {
  start_node("node-a", {"--chaos-abort-every", "3"});
  workload w;
  std::mt19937 rng{3};
  insert_items(w, 20, rng);
  wait_decided(0, 20, 120s);
  buy(w, 2, 0, 1500);
  auto v = wait_decided(w.purchase_ids.size(), 20 + restock_count(w), 240s);
  check(w, v);
  // The aborted transactions really wrote outcomes: a read_uncommitted reader sees
  // them, and a read_committed one does not.
  auto dirty = read_all({{"isolation.level", "read_uncommitted"}});
  EXPECT_GT(dirty.outcome_count, v.outcome_count);
  auto log = nodes["node-a"]->log();
  EXPECT_NE(log.find("aborting the transaction: chaos"), std::string::npos) << log_tail(log);
}

TEST_F(PipelineIT, TheCliWritesRequestsAndPrintsTheirCommittedOutcomes) {
  start_node("node-a");
  auto bps = std::string{BPS_EXE} + " --log-level warn ";
  auto common = " --bootstrap " + bootstrap() + " --topic-prefix " + prefix + " --wait-ms 60000";
  auto insert
    = run(bps + "item insert --item-id seat-1 --description 'Row A' --quantity 1" + common);
  ASSERT_EQ(insert.exit_code, 0) << insert.output;
  EXPECT_NE(insert.output.find("\"status\":\"APPLIED\""), std::string::npos) << insert.output;
  auto alice
    = run(bps + "purchase --item-id seat-1 --quantity 1 --purchased-by alice --id p-a" + common);
  ASSERT_EQ(alice.exit_code, 0) << alice.output;
  EXPECT_NE(alice.output.find("\"purchaseStatus\":\"SUCCESSFUL\""), std::string::npos)
    << alice.output;
  auto bob
    = run(bps + "purchase --item-id seat-1 --quantity 1 --purchased-by bob --id p-b" + common);
  // A refused outcome has its own exit code (4), also when a retry prints it.
  EXPECT_EQ(bob.exit_code, 4) << bob.output;
  EXPECT_NE(bob.output.find("\"reason\":\"INSUFFICIENT_STOCK\""), std::string::npos) << bob.output;
  auto bob_again
    = run(bps + "purchase --item-id seat-1 --quantity 1 --purchased-by bob --id p-b" + common);
  EXPECT_EQ(bob_again.exit_code, 4) << bob_again.output;
  EXPECT_NE(bob_again.output.find("not written again"), std::string::npos) << bob_again.output;
  EXPECT_NE(bob_again.output.find("INSUFFICIENT_STOCK"), std::string::npos) << bob_again.output;
  auto restock
    = run(bps + "item restock --item-id seat-1 --amount 2 --expected-version 9" + common);
  EXPECT_EQ(restock.exit_code, 4) << restock.output;
  EXPECT_NE(restock.output.find("\"reason\":\"VERSION_MISMATCH\""), std::string::npos)
    << restock.output;
  // Values the HTTP API refuses with 400 are refused here too, and nothing is written.
  for (const char* args : {"purchase --item-id seat-1 --quantity 0 --purchased-by x --id p-zero",
                           "purchase --item-id seat-1 --quantity 1 --purchased-by '' --id p-nobody",
                           "item restock --item-id seat-1 --amount 0 --id c-zero",
                           "item set-quantity --item-id seat-1 --quantity -1 --id c-neg"}) {
    auto refused = run(bps + args + common);
    EXPECT_EQ(refused.exit_code, 2) << args << ": " << refused.output;
    EXPECT_NE(refused.output.find("nothing was written"), std::string::npos) << refused.output;
  }
  auto zero = run(bps + "purchase --item-id seat-1 --quantity 0 --purchased-by x" + common);
  EXPECT_NE(zero.output.find("option --quantity: must be a whole number from 1 to 1000000000000"),
            std::string::npos)
    << zero.output;
  auto log = read_all();
  EXPECT_EQ(log.requests.count("p-a"), 1u); // the reader sees requests and claims
  EXPECT_EQ(log.claims.count("p-a"), 1u);
  for (const char* id : {"p-zero", "p-nobody", "c-zero", "c-neg"}) {
    EXPECT_EQ(log.requests.count(id), 0u) << id << " was written";
    EXPECT_EQ(log.claims.count(id), 0u) << id << " was claimed";
  }
  auto bad = run(bps + "purchase --item-id 'seat 1' --quantity 1 --purchased-by x" + common);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--item-id"), std::string::npos) << bad.output;
  auto missing = run(bps + "purchase --item-id seat-1 --purchased-by x" + common);
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("option --quantity is required"), std::string::npos)
    << missing.output;
}

TEST_F(PipelineIT, AKillBetweenTheCommitAndTheStoreWriteIsCaughtUpOnRestart) {
  auto state = ::testing::TempDir() + prefix + "state";
  start_node("node-a", {"--state-dir", state});
  workload w;
  std::mt19937 rng{11};
  insert_items(w, 20, rng);
  wait_decided(0, 20, 120s);
  ASSERT_EQ(nodes["node-a"]->stop(SIGTERM, 30s), 0);
  // Purchases wait while the node is down; its first commit after the restart
  // decides some of them, and the node dies before its store learns of it.
  buy(w, 2, 0, 1000);
  start_node("node-a", {"--state-dir", state, "--chaos-crash-after-commit", "1"});
  EXPECT_EQ(nodes["node-a"]->wait(120s), 128 + SIGKILL) << log_tail(nodes["node-a"]->log());
  EXPECT_NE(nodes["node-a"]->log().find("chaos: killing this node"), std::string::npos);
  start_node("node-a", {"--state-dir", state});
  buy(w, 2, 1000, 500);
  auto v = wait_decided(w.purchase_ids.size(), 20 + restock_count(w), 240s);
  check(w, v, state);
  EXPECT_NE(nodes["node-a"]->log().find("existing store"), std::string::npos);
  std::filesystem::remove_all(state);
}

TEST_F(PipelineIT, LanesOfOneNodeShareThePartitionsAndFewerLanesAfterARestartLoseNothing) {
  auto state = ::testing::TempDir() + prefix + "state";
  start_node("node-a", {"--state-dir", state, "--lanes", "3"});
  workload w;
  std::mt19937 rng{23};
  insert_items(w, 30, rng);
  wait_decided(0, 30, 120s);
  buy(w, 3, 0, 2000);
  auto v = wait_decided(w.purchase_ids.size(), 30 + restock_count(w), 240s);
  check(w, v, state); // 6 stores for 6 partitions: each lane its own two
  auto log = nodes["node-a"]->log();
  for (int lane = 0; lane < 3; ++lane)
    EXPECT_NE(log.find("processor node-a/" + std::to_string(lane) + ": partitions assigned: "),
              std::string::npos)
      << "lane " << lane << ":\n"
      << log_tail(log);
  EXPECT_TRUE(std::filesystem::is_directory(state + "/lane-1"));
  EXPECT_TRUE(std::filesystem::is_directory(state + "/lane-2"));
  // Two lanes after a restart: lane 2's static member keeps its partitions until its
  // session times out, then lanes 0 and 1 take them over and catch them up.
  ASSERT_EQ(nodes["node-a"]->stop(SIGTERM, 30s), 0);
  start_node("node-a", {"--state-dir", state, "--lanes", "2"});
  buy(w, 3, 2000, 1000);
  v = wait_decided(w.purchase_ids.size(), 30 + restock_count(w), 300s);
  check(w, v);
  // lane 2's stores stay behind on disk; every store, current or behind, agrees with the log
  auto replay = run(std::string{BPS_EXE} + " replay --verify --bootstrap " + bootstrap()
                    + " --topic-prefix " + prefix + " --state-dir " + state);
  EXPECT_EQ(replay.exit_code, 0) << replay.output;
  EXPECT_NE(replay.output.find("every invariant holds"), std::string::npos) << replay.output;
  EXPECT_EQ(replay.output.find("state stores: 6 (of"), std::string::npos)
    << "lanes 0 and 1 should have stores of lane 2's partitions too:\n"
    << replay.output;
  std::filesystem::remove_all(state);
}

TEST_F(PipelineIT, ALaneThatCannotOpenItsStoresStopsTheWholeNodeWithTheReason) {
  // Lane 1's directory cannot be made (a file is in its place): lane 1 fails when it
  // opens a store, lane 0 works; the node must stop as a whole, saying why.
  auto state = ::testing::TempDir() + prefix + "state";
  std::filesystem::create_directories(state);
  std::ofstream{state + "/lane-1"} << "not a directory";
  start_node("node-a", {"--state-dir", state, "--lanes", "2"});
  auto rc = nodes["node-a"]->wait(120s);
  auto log = nodes["node-a"]->log();
  EXPECT_EQ(rc, 1) << log_tail(log);
  EXPECT_NE(log.find("lane 1 of 2 failed"), std::string::npos) << log_tail(log);
  EXPECT_NE(log.find("the state store of partition"), std::string::npos) << log_tail(log);
  EXPECT_NE(log.find("a processing lane failed"), std::string::npos) << log_tail(log);
  std::filesystem::remove_all(state);
}

TEST_F(PipelineIT, AStoreDeletedOrCorruptedWhileTheNodeIsDownIsRebuilt) {
  auto state = ::testing::TempDir() + prefix + "state";
  start_node("node-a", {"--state-dir", state});
  workload w;
  std::mt19937 rng{13};
  insert_items(w, 20, rng);
  wait_decided(0, 20, 120s);
  buy(w, 2, 0, 600);
  wait_decided(w.purchase_ids.size(), 20 + restock_count(w), 240s);
  ASSERT_EQ(nodes["node-a"]->stop(SIGTERM, 30s), 0);
  // Partition 0's store disappears, partition 1's is overwritten with garbage: the
  // stores of the lane that owned them last (by its last "partitions assigned" line),
  // which the same lane opens again after the restart (the same members get the same
  // partitions).
  auto log = nodes["node-a"]->log();
  auto store_of = [&](int32_t p) {
    for (size_t lane = 0; lane < 2; ++lane) {
      auto marker = "processor node-a/" + std::to_string(lane) + ": partitions assigned: ";
      auto at = log.rfind(marker);
      if (at == std::string::npos)
        continue;
      auto list
        = "," + log.substr(at + marker.size(), log.find('\n', at) - at - marker.size()) + ",";
      if (list.find("," + std::to_string(p) + ",") != std::string::npos)
        return processor_store_dir(state, prefix, lane, p);
    }
    ADD_FAILURE() << "no lane owned partition " << p << ":\n" << log_tail(log);
    return std::string{};
  };
  std::filesystem::remove_all(store_of(0));
  for (const auto& entry : std::filesystem::directory_iterator(store_of(1))) {
    std::ofstream out{entry.path(), std::ios::trunc};
    out << "garbage";
  }
  start_node("node-a", {"--state-dir", state});
  buy(w, 2, 600, 600);
  auto v = wait_decided(w.purchase_ids.size(), 20 + restock_count(w), 240s);
  check(w, v, state);
  log = nodes["node-a"]->log();
  EXPECT_NE(log.find("partition 0: new store"), std::string::npos) << log_tail(log);
  EXPECT_NE(log.find("partition 1: store cannot be opened"), std::string::npos) << log_tail(log);
  std::filesystem::remove_all(state);
}

TEST_F(PipelineIT, PassivatedItemActorsComeBackFromTheStateStoreWithTheirState) {
  auto state = ::testing::TempDir() + prefix + "state";
  start_node("node-a", {"--state-dir", state, "--max-live-items", "5", "--idle-timeout-ms", "200"});
  workload w;
  std::mt19937 rng{17};
  insert_items(w, 30, rng);
  wait_decided(0, 30, 120s);
  buy(w, 2, 0, 1500);
  auto v = wait_decided(w.purchase_ids.size(), 30 + restock_count(w), 240s);
  check(w, v, state);
  // A stopping node's lanes report how many actors each passivated (the last report
  // of each lane counts): together they must have done so.
  ASSERT_EQ(nodes["node-a"]->stop(SIGTERM, 30s), 0);
  auto log = nodes["node-a"]->log();
  std::map<std::string, long long> last_by_lane;
  std::regex report{R"(processor (\S+): .*\((\d+) passivated\))"};
  for (std::sregex_iterator it{log.begin(), log.end(), report}, end; it != end; ++it)
    last_by_lane[(*it)[1].str()] = std::stoll((*it)[2].str());
  ASSERT_FALSE(last_by_lane.empty()) << log_tail(log);
  long long passivated = 0;
  for (const auto& [lane, n] : last_by_lane)
    passivated += n;
  EXPECT_GT(passivated, 30) << log_tail(log);
  std::filesystem::remove_all(state);
}

TEST_F(PipelineIT, AStoreOfTopicsThatWereDeletedAndCreatedAnewIsRebuilt) {
  auto state = ::testing::TempDir() + prefix + "state";
  start_node("node-a", {"--state-dir", state});
  workload first;
  std::mt19937 rng{19};
  insert_items(first, 12, rng);
  wait_decided(0, 12, 120s);
  ASSERT_EQ(nodes["node-a"]->stop(SIGTERM, 30s), 0);
  // The operator deletes the topics and creates them again: the stores now point
  // past the end of the new, empty logs.
  ASSERT_FALSE(admin->delete_topics(topics.all(), 30s));
  auto deadline = std::chrono::steady_clock::now() + 60s;
  for (const auto& name : topics.all()) {
    for (;;) {
      auto d = admin->describe_topic(name, 10s);
      if (d && !*d)
        break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << name << " was not deleted";
      std::this_thread::sleep_for(200ms);
    }
  }
  auto created
    = must(kafka::ensure_topics(*admin, kafka::bps_topic_specs(prefix, partitions), 30s));
  ASSERT_EQ(created.created.size(), 7u);
  workload w;
  insert_items(w, 12, rng);
  // Before any node opens them, replay tells the old stores from the new log: not
  // compared (they would be "ahead of the log"), and counted.
  auto replay = run(std::string{BPS_EXE} + " replay --verify --allow-undecided --bootstrap "
                    + bootstrap() + " --topic-prefix " + prefix + " --state-dir " + state);
  EXPECT_EQ(replay.exit_code, 0) << replay.output;
  EXPECT_NE(replay.output.find("state stores of earlier logs (topics deleted and created anew), "
                               "not compared: "),
            std::string::npos)
    << replay.output;
  start_node("node-a", {"--state-dir", state});
  wait_decided(0, 12, 120s);
  buy(w, 2, 0, 300);
  auto v = wait_decided(w.purchase_ids.size(), 12 + restock_count(w), 240s);
  check(w, v, state);
  EXPECT_NE(nodes["node-a"]->log().find("store reaches beyond the end of the log"),
            std::string::npos)
    << log_tail(nodes["node-a"]->log());
  std::filesystem::remove_all(state);
}
