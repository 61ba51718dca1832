#define CAF_SUITE actors.own_outputs
#include <caf/test/unit_test.hpp>

#include "bps/actors/own_outputs.hpp"

// Where a node's own records land in an output partition, and when that shows another
// writer's records (the check a transaction passes before it commits).

using namespace bps;
using own_outputs::expectation;
using own_outputs::foreign_records;
using own_outputs::next_after_commit;

namespace {

bool has(const std::optional<std::string>& why, const std::string& part) {
  return why && why->find(part) != std::string::npos;
}

} // namespace

CAF_TEST(records right after the previous transaction s marker are this node s alone) {
  expectation e{41, 0};
  CAF_CHECK(!foreign_records("p/3", {41, 42, 43}, e));
  // Delivery reports may come in any order.
  CAF_CHECK(!foreign_records("p/3", {43, 41, 42}, e));
  CAF_CHECK(!foreign_records("p/3", {}, e));
}

CAF_TEST(a record before the first own one after the marker is another writer s) {
  auto why = foreign_records("p/3", {42, 43}, expectation{41, 0});
  CAF_CHECK(has(why, "p/3 holds 1 offset(s) before this node's first record at 42"));
  CAF_CHECK(has(why, "expected at 41, after its previous transaction's marker"));
}

CAF_TEST(records of another writer among the own ones are found whatever the first offset) {
  auto why = foreign_records("p/3", {41, 42, 45}, expectation{41, 0});
  CAF_CHECK(has(why, "p/3 holds 2 record(s) this node did not write among its own (offsets 41 "
                     "to 45)"));
  // After a catch-up too, and when the run starts where it should.
  CAF_CHECK(has(foreign_records("p/0", {10, 12}, expectation{std::nullopt, 10}),
                "holds 1 record(s) this node did not write"));
}

CAF_TEST(after a catch up the first record lands at the end read or one marker later) {
  expectation e{std::nullopt, 100};
  CAF_CHECK_EQUAL(e.first_allowed(), 101);
  CAF_CHECK(!foreign_records("p/0", {100, 101}, e));
  CAF_CHECK(!foreign_records("p/0", {101, 102}, e));
  auto why = foreign_records("p/0", {102, 103}, e);
  CAF_CHECK(has(why, "holds 1 offset(s) before this node's first record at 102"));
  CAF_CHECK(has(why, "expected at 101, after the caught-up log"));
}

CAF_TEST(an empty partition caught up takes the first record at offset zero or one) {
  expectation e{std::nullopt, 0};
  CAF_CHECK(!foreign_records("p/0", {0}, e));
  CAF_CHECK(!foreign_records("p/0", {1, 2}, e));
  CAF_CHECK(foreign_records("p/0", {2}, e));
}

CAF_TEST(the known marker position wins over the caught up end) {
  // Committed once since the catch-up at 100: the allowance for the previous owner's
  // marker no longer applies.
  expectation e{120, 100};
  CAF_CHECK_EQUAL(e.first_allowed(), 120);
  CAF_CHECK(foreign_records("p/0", {121}, e));
  CAF_CHECK(!foreign_records("p/0", {120}, e));
}

CAF_TEST(after a commit the next record lands past the marker that follows the last) {
  CAF_CHECK_EQUAL(next_after_commit({41, 43, 42}), std::optional<int64_t>{45});
  CAF_CHECK_EQUAL(next_after_commit({0}), std::optional<int64_t>{2});
  CAF_CHECK(!next_after_commit({}));
}

CAF_TEST(a commit followed by the next transaction passes the check in a row) {
  // Transaction 1 at 10..12, its marker at 13; transaction 2 then starts at 14.
  auto next = next_after_commit({10, 11, 12});
  CAF_REQUIRE(next);
  CAF_CHECK(!foreign_records("p/0", {14, 15}, expectation{next, 9}));
  // Another producer's single record after the marker (a zombie's late write) shifts it.
  CAF_CHECK(foreign_records("p/0", {15, 16}, expectation{next, 9}));
}
