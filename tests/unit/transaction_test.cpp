#define CAF_SUITE actors.transaction
#include <caf/test/unit_test.hpp>

#include "bps/actors/transaction.hpp"

// What a lane's transaction gathers between its begin and its commit: when it is due,
// the input positions it commits, the requests it awaits, and what the state stores
// take once it committed.

using namespace bps;
using namespace std::chrono_literals;
using status = domain::purchase_status;

namespace {

const transaction::clock::time_point t0{};

domain::purchase outcome(std::string id, std::string item, status st) {
  domain::purchase p;
  p.purchase_id = std::move(id);
  p.item_id = std::move(item);
  p.quantity = 1;
  p.status = st;
  return p;
}

domain::item_command result(std::string id, std::string item, domain::command_status st) {
  domain::item_command c;
  c.command_id = std::move(id);
  c.item_id = std::move(item);
  c.type = domain::command_type::restock;
  c.amount = 5;
  c.status = st;
  return c;
}

domain::item item_at(std::string id, int64_t quantity, int64_t version) {
  return {std::move(id), "seat", quantity, version};
}

} // namespace

CAF_TEST(a transaction never begun is never due) {
  transaction tx;
  CAF_CHECK(!tx.open());
  CAF_CHECK(!tx.due(t0 + 1h, 0));
}

CAF_TEST(an open transaction is due when its interval is over and not before) {
  transaction tx;
  tx.begin(t0, 20ms);
  CAF_CHECK(tx.open());
  CAF_CHECK(!tx.due(t0 + 19ms, 100));
  CAF_CHECK(tx.due(t0 + 20ms, 100));
}

CAF_TEST(an open transaction is due before its interval ends once the in flight bound is reached) {
  transaction tx;
  tx.begin(t0, 20ms);
  tx.sent(request_kind::purchase, 0, "a", 1);
  CAF_CHECK(!tx.due(t0, 2));
  tx.sent(request_kind::purchase, 0, "b", 1);
  CAF_CHECK(tx.due(t0, 2));
  // A decision frees a place again.
  tx.decided(0, outcome("a", "i", status::failed), std::nullopt);
  CAF_CHECK(!tx.due(t0, 2));
}

CAF_TEST(the positions committed are one past the last record read of each input partition) {
  transaction tx;
  tx.read("requests", 3, 5);
  tx.read("requests", 3, 7);
  tx.read("requests", 1, 0);
  tx.read("commands", 3, 41);
  auto offsets = tx.offsets();
  CAF_REQUIRE_EQUAL(offsets.size(), 3u);
  CAF_CHECK(offsets[0] == (kafka::partition_offset{"commands", 3, 42}));
  CAF_CHECK(offsets[1] == (kafka::partition_offset{"requests", 1, 1}));
  CAF_CHECK(offsets[2] == (kafka::partition_offset{"requests", 3, 8}));
}

CAF_TEST(an input partition unread is not committed and is read again from its committed offset) {
  transaction tx;
  tx.read("requests", 3, 5);
  tx.read("requests", 4, 9);
  tx.unread({"requests", 3});
  auto offsets = tx.offsets();
  CAF_REQUIRE_EQUAL(offsets.size(), 1u);
  CAF_CHECK(offsets[0] == (kafka::partition_offset{"requests", 4, 10}));
}

CAF_TEST(a request sent is pending in its own partition and kind only) {
  transaction tx;
  tx.sent(request_kind::purchase, 2, "x", 1);
  CAF_CHECK(tx.pending(request_kind::purchase, 2, "x"));
  CAF_CHECK(!tx.pending(request_kind::purchase, 3, "x"));
  CAF_CHECK(!tx.pending(request_kind::command, 2, "x"));
  CAF_CHECK(!tx.pending(request_kind::purchase, 2, "y"));
  tx.sent(request_kind::command, 2, "x", 1);
  CAF_CHECK(tx.pending(request_kind::command, 2, "x"));
  // Still pending once decided: the store knows the id only after the commit.
  tx.decided(2, outcome("x", "i", status::failed), std::nullopt);
  CAF_CHECK(tx.pending(request_kind::purchase, 2, "x"));
  CAF_CHECK_EQUAL(tx.outstanding(), 1u);
}

CAF_TEST(only requests with a record timestamp are timed) {
  transaction tx;
  tx.sent(request_kind::purchase, 0, "a", 1700000000000);
  tx.sent(request_kind::purchase, 0, "b", -1);
  tx.sent(request_kind::command, 0, "c", 1700000000005);
  CAF_CHECK_EQUAL(tx.outstanding(), 3u);
  CAF_CHECK(tx.request_times_ms() == (std::vector<int64_t>{1700000000000, 1700000000005}));
}

CAF_TEST(a sale leaves its item s snapshot and a failed purchase leaves none) {
  transaction tx;
  tx.decided(1, outcome("a", "sold", status::successful), item_at("sold", 4, 2));
  tx.decided(1, outcome("b", "unsold", status::failed), item_at("unsold", 0, 7));
  tx.decided(1, outcome("c", "missing", status::failed), std::nullopt);
  CAF_REQUIRE_EQUAL(tx.snapshots().size(), 1u);
  CAF_CHECK(tx.snapshots().at("sold") == (std::pair{1, item_at("sold", 4, 2)}));
}

CAF_TEST(of several sales of one item the snapshot after the last is produced) {
  transaction tx;
  tx.decided(5, outcome("a", "i", status::successful), item_at("i", 4, 2));
  tx.decided(5, outcome("b", "i", status::successful), item_at("i", 3, 3));
  // A failure afterwards changes nothing: the last change stays.
  tx.decided(5, outcome("c", "i", status::failed), item_at("i", 3, 3));
  CAF_REQUIRE_EQUAL(tx.snapshots().size(), 1u);
  CAF_CHECK(tx.snapshots().at("i").second == item_at("i", 3, 3));
}

CAF_TEST(an applied command leaves a snapshot and a rejected one leaves none) {
  transaction tx;
  tx.decided(0, result("c1", "a", domain::command_status::applied), item_at("a", 10, 4));
  tx.decided(0, result("c2", "b", domain::command_status::rejected), item_at("b", 1, 1));
  tx.decided(0, result("c3", "c", domain::command_status::rejected), std::nullopt);
  CAF_REQUIRE_EQUAL(tx.snapshots().size(), 1u);
  CAF_CHECK(tx.snapshots().at("a").second == item_at("a", 10, 4));
}

CAF_TEST(the batches hold each partition s outcomes in decision order with its snapshots) {
  transaction tx;
  tx.decided(0, outcome("p1", "a", status::successful), item_at("a", 9, 2));
  tx.decided(3, outcome("p2", "b", status::failed), item_at("b", 0, 5));
  tx.decided(0, outcome("p3", "a", status::successful), item_at("a", 8, 3));
  tx.decided(3, result("c1", "b", domain::command_status::applied), item_at("b", 5, 6));
  auto batches = tx.take_batches();
  CAF_REQUIRE_EQUAL(batches.size(), 2u);
  const auto& zero = batches.at(0);
  CAF_REQUIRE_EQUAL(zero.purchases.size(), 2u);
  CAF_CHECK_EQUAL(zero.purchases[0].purchase_id, "p1");
  CAF_CHECK_EQUAL(zero.purchases[1].purchase_id, "p3");
  CAF_CHECK(zero.items == (std::vector<domain::item>{item_at("a", 8, 3)}));
  CAF_CHECK(zero.commands.empty());
  const auto& three = batches.at(3);
  CAF_REQUIRE_EQUAL(three.purchases.size(), 1u);
  CAF_REQUIRE_EQUAL(three.commands.size(), 1u);
  CAF_CHECK_EQUAL(three.commands[0].command_id, "c1");
  CAF_CHECK(three.items == (std::vector<domain::item>{item_at("b", 5, 6)}));
  // Positions and meta are the lane's to add.
  CAF_CHECK(!three.positions);
  CAF_CHECK(three.meta.empty());
  // Taken once.
  CAF_CHECK(tx.take_batches().empty());
  CAF_CHECK(tx.snapshots().empty());
}

CAF_TEST(the first failure is the one kept) {
  transaction tx;
  CAF_CHECK(tx.failure().empty());
  tx.fail("producing to purchases/3: queue full");
  tx.fail("producing to items/3: queue full");
  CAF_CHECK_EQUAL(tx.failure(), "producing to purchases/3: queue full");
}

CAF_TEST(delivery reports gathered before and after the commit add up) {
  transaction tx;
  tx.add_delivered({{{"purchases", 2}, {10, 11}}});
  tx.add_delivered({{{"purchases", 2}, {12}}, {{"items", 2}, {4}}});
  CAF_CHECK(tx.delivered().at({"purchases", 2}) == (std::vector<int64_t>{10, 11, 12}));
  CAF_CHECK(tx.delivered().at({"items", 2}) == (std::vector<int64_t>{4}));
}

CAF_TEST(a cleared transaction is closed and has nothing to commit) {
  transaction tx;
  tx.begin(t0, 20ms);
  tx.read("requests", 0, 3);
  tx.sent(request_kind::purchase, 0, "a", 1);
  tx.decided(0, outcome("a", "i", status::successful), item_at("i", 1, 2));
  tx.fail("x");
  tx.add_delivered({{{"purchases", 0}, {1}}});
  tx.clear();
  CAF_CHECK(!tx.open());
  CAF_CHECK(!tx.due(t0 + 1h, 0));
  CAF_CHECK(tx.offsets().empty());
  CAF_CHECK(!tx.pending(request_kind::purchase, 0, "a"));
  CAF_CHECK_EQUAL(tx.outstanding(), 0u);
  CAF_CHECK(tx.snapshots().empty());
  CAF_CHECK(tx.request_times_ms().empty());
  CAF_CHECK(tx.failure().empty());
  CAF_CHECK(tx.delivered().empty());
  CAF_CHECK(tx.take_batches().empty());
}
