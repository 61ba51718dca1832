#define CAF_SUITE domain.commands
#include <caf/test/unit_test.hpp>

#include "bps/actors/domain.hpp"

using namespace bps::domain;

namespace {

item_command cmd(command_type type) {
  item_command c;
  c.command_id = "c-1";
  c.type = type;
  c.item_id = "seat-7";
  return c;
}

item seat(int64_t quantity, int64_t version = 1) {
  return item{"seat-7", "Row C", quantity, version};
}

} // namespace

CAF_TEST(inserting a new item creates it at version one) {
  auto c = cmd(command_type::insert_item);
  c.description = "Row C";
  c.quantity = 4;
  auto d = apply_command(std::nullopt, c);
  CAF_CHECK(d.result.status == command_status::applied);
  CAF_REQUIRE(d.state);
  CAF_CHECK(*d.state == seat(4, 1));
  CAF_CHECK_EQUAL(d.result.item_version, 1);
  CAF_CHECK_EQUAL(d.result.item_quantity, 4);
}

CAF_TEST(inserting an item that exists is rejected and changes nothing) {
  auto c = cmd(command_type::insert_item);
  c.quantity = 9;
  auto d = apply_command(seat(4, 3), c);
  CAF_CHECK(d.result.status == command_status::rejected);
  CAF_CHECK(d.result.reason == rejection_reason::item_exists);
  CAF_CHECK(*d.state == seat(4, 3));
  CAF_CHECK_EQUAL(d.result.item_version, 3);
}

CAF_TEST(inserting with a negative or absurd stock is rejected) {
  for (int64_t q : {int64_t{-1}, max_quantity + 1}) {
    auto c = cmd(command_type::insert_item);
    c.quantity = q;
    auto d = apply_command(std::nullopt, c);
    CAF_CHECK(d.result.reason == rejection_reason::invalid_quantity);
    CAF_CHECK(!d.state);
  }
}

CAF_TEST(setting the quantity is absolute and must not be negative) {
  auto c = cmd(command_type::set_quantity);
  c.quantity = 10;
  auto d = apply_command(seat(4, 2), c);
  CAF_CHECK(d.result.status == command_status::applied);
  CAF_CHECK(*d.state == seat(10, 3));
  c.quantity = -1;
  d = apply_command(seat(4, 2), c);
  CAF_CHECK(d.result.reason == rejection_reason::invalid_quantity);
  CAF_CHECK(*d.state == seat(4, 2));
}

CAF_TEST(a restock adds a positive amount and nothing else) {
  auto c = cmd(command_type::restock);
  c.amount = 3;
  auto d = apply_command(seat(4, 2), c);
  CAF_CHECK(*d.state == seat(7, 3));
  for (int64_t bad : {int64_t{0}, int64_t{-2}, max_quantity}) {
    c.amount = bad;
    d = apply_command(seat(4, 2), c);
    CAF_CHECK(d.result.reason == rejection_reason::invalid_amount);
    CAF_CHECK(*d.state == seat(4, 2));
  }
}

CAF_TEST(setting the description keeps the stock and bumps the version) {
  auto c = cmd(command_type::set_description);
  c.description = "Row C, aisle";
  auto d = apply_command(seat(4, 2), c);
  CAF_CHECK_EQUAL(d.state->description, "Row C, aisle");
  CAF_CHECK_EQUAL(d.state->quantity, 4);
  CAF_CHECK_EQUAL(d.state->version, 3);
}

CAF_TEST(a command on an unknown item is rejected) {
  for (auto type :
       {command_type::set_quantity, command_type::restock, command_type::set_description}) {
    auto d = apply_command(std::nullopt, cmd(type));
    CAF_CHECK(d.result.reason == rejection_reason::unknown_item);
    CAF_CHECK(!d.state);
  }
}

CAF_TEST(a command with another expected version is rejected) {
  auto c = cmd(command_type::restock);
  c.amount = 1;
  c.expected_version = 5;
  auto d = apply_command(seat(4, 2), c);
  CAF_CHECK(d.result.reason == rejection_reason::version_mismatch);
  c.expected_version = 2;
  d = apply_command(seat(4, 2), c);
  CAF_CHECK(d.result.status == command_status::applied);
}

CAF_TEST(text fields must be UTF - 8 of the right length) {
  purchase p{"p-1", "seat-7", 1, "ana\xc3\xaf"}; // valid two-byte sequence
  CAF_CHECK(!check_fields(p));
  for (std::string bad : {std::string{"\xff"}, std::string{"a\xc3"}, std::string{"\xc0\xaf"},
                          std::string{"\xed\xa0\x80"}, std::string{"\xf4\x90\x80\x80"}}) {
    p.purchased_by = bad;
    auto problem = check_fields(p);
    CAF_REQUIRE(problem);
    CAF_CHECK_EQUAL(problem->field, "purchasedBy");
    CAF_CHECK_EQUAL(problem->message, "must be UTF-8 text");
  }
  auto c = cmd(command_type::set_description);
  c.description = "caf\xe9"; // Latin-1, not UTF-8
  CAF_CHECK_EQUAL(check_fields(c).value_or(field_problem{}).field, "description");
}
