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

/// A SUCCESSFUL purchase of book-1 that left it at this version and quantity.
domain::purchase sold_at(int64_t version, int64_t quantity) {
  domain::purchase p{"p-1", "book-1", 1, "al", domain::purchase_status::successful};
  p.item_version = version;
  p.item_quantity = quantity;
  return p;
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

CAF_TEST(the item of an event is the item as its outcome left it even if the view is ahead) {
  using bps::gateway::item_left_by;
  domain::item ahead{"book-1", "Dune", 1, 9}; // a later snapshot, read first
  auto sold = sold_at(4, 3);
  auto left = item_left_by(ahead, sold);
  CAF_REQUIRE(left);
  CAF_CHECK(*left == (domain::item{"book-1", "Dune", 3, 4}));
  sold.status = domain::purchase_status::failed;
  CAF_CHECK(!item_left_by(ahead, sold));
  CAF_CHECK(!item_left_by(std::nullopt, sold));
  auto renamed
    = item_left_by(ahead, applied(domain::command_type::set_description, 5, 2, "Dune 2"));
  CAF_REQUIRE(renamed);
  CAF_CHECK(*renamed == (domain::item{"book-1", "Dune 2", 2, 5}));
  auto inserted
    = item_left_by(std::nullopt, applied(domain::command_type::insert_item, 1, 5, "Dune"));
  CAF_REQUIRE(inserted);
  CAF_CHECK(*inserted == (domain::item{"book-1", "Dune", 5, 1}));
  CAF_CHECK(!item_left_by(std::nullopt, applied(domain::command_type::restock, 2, 7)));
  auto rejected = applied(domain::command_type::restock, 2, 7);
  rejected.status = domain::command_status::rejected;
  CAF_CHECK(!item_left_by(ahead, rejected));
}

CAF_TEST(a successful purchase moves the item and a failed one does not ) {
  domain::item have{"book-1", "Dune", 5, 3};
  auto sold = sold_at(4, 3);
  auto next = view_after(have, sold);
  CAF_REQUIRE(next);
  CAF_CHECK(*next == (domain::item{"book-1", "Dune", 3, 4}));
  auto failed = sold;
  failed.status = domain::purchase_status::failed;
  failed.reason = domain::failure_reason::insufficient_stock;
  CAF_CHECK(!view_after(have, failed));
  CAF_CHECK(!view_after(std::nullopt, sold));
}

namespace {

std::map<std::string, domain::item> shelf(std::initializer_list<const char*> ids) {
  std::map<std::string, domain::item> out;
  for (const auto* id : ids)
    out[id] = domain::item{id, "", 1, 1};
  return out;
}

std::string ids_of(const bps::gateway::page_answer& p) {
  std::string out;
  for (const auto& x : p.items)
    out += (out.empty() ? "" : ",") + x.item_id;
  return out + " next=" + p.next + " prev=" + p.prev;
}

bps::gateway::page_answer page(const std::map<std::string, domain::item>& items, std::string after,
                               std::string before, std::string prefix, size_t limit) {
  return bps::gateway::page_of(items,
                               {std::move(after), std::move(before), std::move(prefix), limit});
}

} // namespace

CAF_TEST(pages go forward with next and back with prev and meet the same items) {
  auto items = shelf({"a", "b", "c", "d", "e"});
  CAF_CHECK_EQUAL(ids_of(page(items, "", "", "", 2)), "a,b next=b prev=");
  CAF_CHECK_EQUAL(ids_of(page(items, "b", "", "", 2)), "c,d next=d prev=c");
  CAF_CHECK_EQUAL(ids_of(page(items, "d", "", "", 2)), "e next= prev=e");
  // Back from the last page: the two before it, then the first.
  CAF_CHECK_EQUAL(ids_of(page(items, "", "e", "", 2)), "c,d next=d prev=c");
  CAF_CHECK_EQUAL(ids_of(page(items, "", "c", "", 2)), "a,b next=b prev=");
  // A cursor need not be an item (a deleted or never inserted id).
  CAF_CHECK_EQUAL(ids_of(page(items, "bb", "", "", 2)), "c,d next=d prev=c");
  CAF_CHECK_EQUAL(ids_of(page(items, "", "bb", "", 5)), "a,b next=b prev=");
  CAF_CHECK_EQUAL(ids_of(page(items, "e", "", "", 2)), " next= prev=");
  CAF_CHECK_EQUAL(ids_of(page(items, "", "a", "", 2)), " next= prev=");
}

CAF_TEST(a prefix keeps only the items whose itemId starts with it in either direction) {
  auto items = shelf({"a-1", "seat-a1", "seat-a2", "seat-a3", "seat-b1", "seats", "t"});
  CAF_CHECK_EQUAL(ids_of(page(items, "", "", "seat-", 2)), "seat-a1,seat-a2 next=seat-a2 prev=");
  CAF_CHECK_EQUAL(ids_of(page(items, "seat-a2", "", "seat-", 2)),
                  "seat-a3,seat-b1 next= prev=seat-a3");
  CAF_CHECK_EQUAL(ids_of(page(items, "", "", "seat-b", 5)), "seat-b1 next= prev=");
  // Backwards from beyond the prefix's run, and from inside it.
  CAF_CHECK_EQUAL(ids_of(page(items, "", "z", "seat-", 3)),
                  "seat-a2,seat-a3,seat-b1 next= prev=seat-a2");
  CAF_CHECK_EQUAL(ids_of(page(items, "", "seat-a2", "seat-", 3)), "seat-a1 next=seat-a1 prev=");
  // Cursors outside the run: after one before it starts at the run, before one ahead is empty.
  CAF_CHECK_EQUAL(ids_of(page(items, "a", "", "seat-", 1)), "seat-a1 next=seat-a1 prev=");
  CAF_CHECK_EQUAL(ids_of(page(items, "", "a", "seat-", 2)), " next= prev=");
  CAF_CHECK_EQUAL(ids_of(page(items, "", "", "x", 2)), " next= prev=");
}

CAF_TEST(after and before together give the first items between them) {
  auto items = shelf({"a", "b", "c", "d", "e"});
  CAF_CHECK_EQUAL(ids_of(page(items, "a", "e", "", 2)), "b,c next=c prev=b");
  // The cursors say what precedes and follows the page, before or not: d and e do.
  CAF_CHECK_EQUAL(ids_of(page(items, "a", "d", "", 5)), "b,c next=c prev=b");
  CAF_CHECK_EQUAL(ids_of(page(items, "c", "b", "", 5)), " next= prev=");
}
