#define CAF_SUITE domain.purchase
#include <caf/test/unit_test.hpp>

#include "bps/actors/domain.hpp"

using namespace bps::domain;

namespace {

item book(int64_t quantity) {
  return item{"book-1", "A book", quantity, 3};
}

purchase buy(int64_t quantity) {
  return purchase{"p-1", "book-1", quantity, "alice"};
}

} // namespace

CAF_TEST(a purchase within the stock succeeds and decreases it by one version) {
  auto d = decide_purchase(book(5), buy(2));
  CAF_CHECK(d.outcome.status == purchase_status::successful);
  CAF_CHECK(d.outcome.reason == failure_reason::none);
  CAF_REQUIRE(d.state);
  CAF_CHECK_EQUAL(d.state->quantity, 3);
  CAF_CHECK_EQUAL(d.state->version, 4);
  CAF_CHECK_EQUAL(d.outcome.item_quantity, 3);
  CAF_CHECK_EQUAL(d.outcome.item_version, 4);
}

CAF_TEST(a purchase of exactly the stock succeeds and leaves zero) {
  auto d = decide_purchase(book(2), buy(2));
  CAF_CHECK(d.outcome.status == purchase_status::successful);
  CAF_CHECK_EQUAL(d.state->quantity, 0);
}

CAF_TEST(a purchase larger than the stock fails and leaves it unchanged) {
  auto d = decide_purchase(book(1), buy(2));
  CAF_CHECK(d.outcome.status == purchase_status::failed);
  CAF_CHECK(d.outcome.reason == failure_reason::insufficient_stock);
  CAF_CHECK(*d.state == book(1));
  CAF_CHECK_EQUAL(d.outcome.item_version, 3);
  CAF_CHECK_EQUAL(d.outcome.item_quantity, 1);
}

CAF_TEST(a purchase of an unknown item fails as unknown) {
  auto d = decide_purchase(std::nullopt, buy(1));
  CAF_CHECK(d.outcome.status == purchase_status::failed);
  CAF_CHECK(d.outcome.reason == failure_reason::unknown_item);
  CAF_CHECK(!d.state);
}

CAF_TEST(a purchase of zero or fewer units fails as invalid and changes nothing) {
  for (int64_t q : {0, -1, -100}) {
    auto d = decide_purchase(book(5), buy(q));
    CAF_CHECK(d.outcome.status == purchase_status::failed);
    CAF_CHECK(d.outcome.reason == failure_reason::invalid_quantity);
    CAF_CHECK(*d.state == book(5));
  }
}

CAF_TEST(the outcome keeps the request identity) {
  auto d = decide_purchase(book(5), buy(1));
  CAF_CHECK_EQUAL(d.outcome.purchase_id, "p-1");
  CAF_CHECK_EQUAL(d.outcome.item_id, "book-1");
  CAF_CHECK_EQUAL(d.outcome.purchased_by, "alice");
  CAF_CHECK_EQUAL(d.outcome.quantity, 1);
}

CAF_TEST(statuses and reasons have their documented spellings) {
  CAF_CHECK_EQUAL(to_string(purchase_status::created), "CREATED");
  CAF_CHECK_EQUAL(to_string(purchase_status::successful), "SUCCESSFUL");
  CAF_CHECK_EQUAL(to_string(purchase_status::failed), "FAILED");
  CAF_CHECK_EQUAL(to_string(failure_reason::insufficient_stock), "INSUFFICIENT_STOCK");
  CAF_CHECK_EQUAL(to_string(failure_reason::unknown_item), "UNKNOWN_ITEM");
  CAF_CHECK_EQUAL(to_string(failure_reason::invalid_quantity), "INVALID_QUANTITY");
}

CAF_TEST(the request of an outcome is the request that was decided) {
  auto request = purchase{"p-1", "book", 3, "alice"};
  auto d = decide_purchase(item{"book", "A book", 5, 1}, request);
  CAF_REQUIRE(d.outcome.status == purchase_status::successful);
  CAF_CHECK(request_of(d.outcome) == request);
  auto failed = decide_purchase(item{"book", "A book", 1, 1}, request);
  CAF_REQUIRE(failed.outcome.status == purchase_status::failed);
  CAF_CHECK(request_of(failed.outcome) == request);
  item_command restock;
  restock.command_id = "c-1";
  restock.type = command_type::restock;
  restock.item_id = "book";
  restock.amount = 4;
  restock.expected_version = 1;
  auto applied = apply_command(item{"book", "A book", 5, 1}, restock);
  CAF_REQUIRE(applied.result.status == command_status::applied);
  CAF_CHECK(request_of(applied.result) == restock);
  auto rejected = apply_command(item{"book", "A book", 5, 2}, restock);
  CAF_REQUIRE(rejected.result.status == command_status::rejected);
  CAF_CHECK(request_of(rejected.result) == restock);
}
