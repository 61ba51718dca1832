#define CAF_SUITE actors.gateway_view
#include <caf/test/unit_test.hpp>

#include "bps/actors/gateway.hpp"

using namespace bps;
using bps::gateway::view_after;

namespace {

domain::item_command applied(domain::command_type type, int64_t version, int64_t quantity,
                             std::string description = {}) {
  domain::item_command c;
  c.command_id = "c-1";
  c.type = type;
  c.item_id = "book-1";
  c.description = std::move(description);
  c.status = domain::command_status::applied;
  c.item_version = version;
  c.item_quantity = quantity;
  return c;
}

} // namespace

CAF_TEST(an applied insert creates the item before its snapshot is read) {
  auto next = view_after(std::nullopt, applied(domain::command_type::insert_item, 1, 5, "Dune"));
  CAF_REQUIRE(next);
  CAF_CHECK(*next == (domain::item{"book-1", "Dune", 5, 1}));
  // Other commands on an item the view does not know wait for the snapshot.
  CAF_CHECK(!view_after(std::nullopt, applied(domain::command_type::restock, 2, 7)));
}

CAF_TEST(applied changes move the item forward and keep what they do not carry) {
  domain::item have{"book-1", "Dune", 5, 3};
  auto restocked = view_after(have, applied(domain::command_type::restock, 4, 8));
  CAF_REQUIRE(restocked);
  CAF_CHECK(*restocked == (domain::item{"book-1", "Dune", 8, 4}));
  auto described = view_after(have, applied(domain::command_type::set_description, 4, 5, "Dune 2"));
  CAF_REQUIRE(described);
  CAF_CHECK_EQUAL(described->description, "Dune 2");
  auto set = view_after(have, applied(domain::command_type::set_quantity, 4, 0));
  CAF_REQUIRE(set);
  CAF_CHECK_EQUAL(set->description, "Dune");
  CAF_CHECK_EQUAL(set->quantity, 0);
}

CAF_TEST(the view never steps back a version) {
  domain::item have{"book-1", "Dune", 5, 3};
  CAF_CHECK(!view_after(have, applied(domain::command_type::restock, 3, 9)));
  CAF_CHECK(!view_after(have, applied(domain::command_type::restock, 2, 9)));
  domain::purchase old{"p-1", "book-1", 1, "al", domain::purchase_status::successful};
  old.item_version = 3;
  old.item_quantity = 4;
  CAF_CHECK(!view_after(have, old));
}

CAF_TEST(a successful purchase moves the item and a failed one does not ) {
  domain::item have{"book-1", "Dune", 5, 3};
  domain::purchase sold{"p-1", "book-1", 2, "al", domain::purchase_status::successful};
  sold.item_version = 4;
  sold.item_quantity = 3;
  auto next = view_after(have, sold);
  CAF_REQUIRE(next);
  CAF_CHECK(*next == (domain::item{"book-1", "Dune", 3, 4}));
  auto failed = sold;
  failed.status = domain::purchase_status::failed;
  failed.reason = domain::failure_reason::insufficient_stock;
  CAF_CHECK(!view_after(have, failed));
  CAF_CHECK(!view_after(std::nullopt, sold));
}
