#define CAF_SUITE actors.item
#include <caf/test/dsl.hpp>

#include <caf/actor_system_config.hpp>

#include "bps/actors/item_actor.hpp"
#include "bps/error.hpp"

using namespace bps;
using domain::purchase;
using domain::purchase_status;

namespace {

struct config : caf::actor_system_config {
  config() {
    add_message_types<caf::id_block::bps>();
  }
};

struct fixture : test_coordinator_fixture<config> {
  item_actor spawn_item(int64_t quantity) {
    return sys.spawn(item_actor_impl, std::optional<domain::item>{
                                        domain::item{"seat-1", "Row A, seat 1", quantity, 1}});
  }
  item_state& item_state_of(const item_actor& hdl) {
    return deref<item_actor::stateful_base<item_state>>(hdl).state;
  }
};

purchase make_request(std::string id, int64_t quantity = 1) {
  return purchase{std::move(id), "seat-1", quantity, "buyer"};
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(item_actor_tests, fixture)

CAF_TEST(two purchases racing for the last unit give exactly one SUCCESSFUL) {
  auto item = spawn_item(1);
  // Both requests are in the item's mailbox before it runs: a race for one unit.
  self->send(item, atom::purchase_v, make_request("p-a"), uint64_t{7});
  self->send(item, atom::purchase_v, make_request("p-b"), uint64_t{8});
  expect((atom::purchase, purchase, uint64_t),
         from(self).to(item).with(atom::purchase_v, make_request("p-a"), uint64_t{7}));
  expect((atom::purchase, purchase, uint64_t),
         from(self).to(item).with(atom::purchase_v, make_request("p-b"), uint64_t{8}));
  purchase first;
  purchase second;
  uint64_t first_tag = 0;
  uint64_t second_tag = 0;
  self->receive([&](purchase_reply& r) {
    first = std::move(r.outcome);
    first_tag = r.tag;
  });
  self->receive([&](purchase_reply& r) {
    second = std::move(r.outcome);
    second_tag = r.tag;
  });
  // Each reply carries its request's tag back.
  CAF_CHECK_EQUAL(first_tag, 7u);
  CAF_CHECK_EQUAL(second_tag, 8u);
  CAF_CHECK_EQUAL(first.purchase_id, "p-a");
  CAF_CHECK(first.status == purchase_status::successful);
  CAF_CHECK_EQUAL(second.purchase_id, "p-b");
  CAF_CHECK(second.status == purchase_status::failed);
  CAF_CHECK(second.reason == domain::failure_reason::insufficient_stock);
  CAF_CHECK_EQUAL(item_state_of(item).item->quantity, 0);
  CAF_CHECK_EQUAL(item_state_of(item).item->version, 2);
}

CAF_TEST(many queued purchases never sell more than the stock) {
  auto item = spawn_item(3);
  for (int i = 0; i < 10; ++i)
    self->send(item, atom::purchase_v, make_request("p-" + std::to_string(i)), uint64_t{0});
  run();
  int successful = 0;
  for (int i = 0; i < 10; ++i)
    self->receive([&](purchase_reply& r) {
      if (r.outcome.status == purchase_status::successful)
        ++successful;
      CAF_CHECK_GREATER_OR_EQUAL(r.state.quantity, 0);
    });
  CAF_CHECK_EQUAL(successful, 3);
  CAF_CHECK_EQUAL(item_state_of(item).item->quantity, 0);
}

CAF_TEST(an item actor inserted by a command then sells from the new stock) {
  auto item = sys.spawn(item_actor_impl, std::optional<domain::item>{});
  domain::item_command insert;
  insert.command_id = "c-1";
  insert.item_id = "seat-1";
  insert.quantity = 2;
  self->send(item, atom::command_v, insert, uint64_t{3});
  self->send(item, atom::purchase_v, make_request("p-1", 2), uint64_t{3});
  run();
  self->receive([](command_reply& r) {
    CAF_CHECK(r.result.status == domain::command_status::applied);
    CAF_CHECK(r.exists);
    CAF_CHECK_EQUAL(r.state.version, 1);
    CAF_CHECK_EQUAL(r.tag, 3u);
  });
  self->receive([](purchase_reply& r) {
    CAF_CHECK(r.outcome.status == purchase_status::successful);
    CAF_CHECK_EQUAL(r.state.quantity, 0);
    CAF_CHECK_EQUAL(r.state.version, 2);
  });
}

CAF_TEST(an item actor reports its state and an unknown item as an error) {
  auto item = spawn_item(4);
  self->send(item, caf::get_atom_v);
  run();
  self->receive([](const domain::item& x) { CAF_CHECK_EQUAL(x.quantity, 4); });
  auto none = sys.spawn(item_actor_impl, std::optional<domain::item>{});
  auto answer = self->request(none, caf::infinite, caf::get_atom_v);
  run();
  answer.receive(
    [](const domain::item&) { CAF_FAIL("an unknown item has no state"); },
    [](const caf::error& err) { CAF_CHECK(bps::code_of(err) == bps::ec::invalid_argument); });
}

CAF_TEST_FIXTURE_SCOPE_END()
