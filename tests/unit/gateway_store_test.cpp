#define CAF_SUITE actors.gateway_store
#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>

#include <rocksdb/db.h>

#include "bps/actors/gateway_store.hpp"
#include "bps/error.hpp"

using namespace bps;
using gateway::view_store;

namespace {

template <class T>
T got(caf::expected<T> x) {
  if (!x)
    CAF_FAIL("store call failed: " << describe(x.error()));
  return std::move(*x);
}

struct fixture {
  std::string dir;

  fixture() {
    dir = (std::filesystem::temp_directory_path()
           / ("bps-view-store-test-" + std::to_string(::getpid()) + "-"
              + std::to_string(std::rand())))
            .string();
  }
  ~fixture() {
    std::filesystem::remove_all(dir);
  }

  std::unique_ptr<view_store> open(const std::string& prefix = "bps.") {
    return got(view_store::open(dir, prefix));
  }

  static domain::purchase decided(domain::purchase p) {
    p.status = domain::purchase_status::successful;
    p.item_version = 2;
    p.item_quantity = 1;
    return p;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(gateway_store_tests, fixture)

CAF_TEST(records claims and positions survive a reopen) {
  {
    auto s = open();
    view_store::batch b;
    domain::purchase p{"p-1", "book", 1, "alice"};
    b.put(p, 1000);
    b.put(decided(p), std::nullopt);
    domain::item_command c{"c-1", domain::command_type::restock, "book", "", 0, 5, 3};
    b.put(c, 1000);
    b.put(domain::claim_of(p, "n1", 900));
    b.position({"bps.purchases", 3}, 17);
    b.position({"bps.idempotency-keys", 0}, 4);
    b.oldest_claim(900);
    CAF_REQUIRE(!s->write(b));
  }
  auto s = open();
  auto p = got(s->purchase("p-1"));
  CAF_REQUIRE(p);
  CAF_CHECK(*p == decided(domain::purchase{"p-1", "book", 1, "alice"}));
  CAF_CHECK(got(s->command("c-1")));
  CAF_CHECK(!got(s->command("c-2")));
  auto c = got(s->claim("p-1"));
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->node, "n1");
  auto pos = got(s->positions());
  CAF_CHECK_EQUAL(pos.size(), 2u);
  CAF_CHECK_EQUAL((pos[{"bps.purchases", 3}]), 17);
  CAF_CHECK_EQUAL((pos[{"bps.idempotency-keys", 0}]), 4);
  CAF_CHECK_EQUAL(got(s->oldest_claim()).value_or(-1), 900);
}

CAF_TEST(pruning drops what is older than the horizon unless its id is claimed) {
  auto s = open();
  view_store::batch b;
  domain::purchase old{"p-old", "book", 1, "a"};
  domain::purchase keyed{"k-old", "book", 1, "b"};
  domain::purchase fresh{"p-new", "book", 1, "c"};
  domain::item_command old_command{"c-old", domain::command_type::restock, "book", "", 0, 1, {}};
  b.put(old, 1000);
  b.put(keyed, 1500);
  b.put(domain::claim_of(keyed, "n1", 1400));
  b.put(old_command, 1200);
  b.put(fresh, 5000);
  CAF_REQUIRE(!s->write(b));
  CAF_CHECK_EQUAL(got(s->prune(3000, 100)), 3u); // three index entries older than 3000
  CAF_CHECK(!got(s->purchase("p-old")));
  CAF_CHECK(!got(s->command("c-old")));
  CAF_CHECK(got(s->purchase("k-old"))); // claimed: kept forever
  CAF_CHECK(got(s->claim("k-old")));
  CAF_CHECK(got(s->purchase("p-new")));
  // The index entries are gone: nothing is left to prune until later.
  CAF_CHECK_EQUAL(got(s->prune(3000, 100)), 0u);
  CAF_CHECK_EQUAL(got(s->prune(6000, 100)), 1u);
  CAF_CHECK(!got(s->purchase("p-new")));
}

CAF_TEST(pruning stops at its limit and goes on from there) {
  auto s = open();
  view_store::batch b;
  for (int i = 0; i < 10; ++i)
    b.put(domain::purchase{"p-" + std::to_string(i), "book", 1, "x"}, 100 + i);
  CAF_REQUIRE(!s->write(b));
  CAF_CHECK_EQUAL(got(s->prune(1000, 4)), 4u);
  CAF_CHECK_EQUAL(got(s->prune(1000, 4)), 4u);
  CAF_CHECK_EQUAL(got(s->prune(1000, 4)), 2u);
  for (int i = 0; i < 10; ++i)
    CAF_CHECK(!got(s->purchase("p-" + std::to_string(i))));
}

CAF_TEST(a store of another topic prefix starts empty) {
  {
    auto s = open("shop.");
    view_store::batch b;
    b.put(domain::purchase{"p-1", "book", 1, "x"}, 1);
    b.position({"shop.purchases", 0}, 9);
    CAF_REQUIRE(!s->write(b));
  }
  auto s = open("bps.");
  CAF_CHECK(!got(s->purchase("p-1")));
  CAF_CHECK(got(s->positions()).empty());
}

CAF_TEST(clear forgets records and positions) {
  auto s = open();
  view_store::batch b;
  b.put(domain::purchase{"p-1", "book", 1, "x"}, 1);
  b.position({"bps.purchases", 0}, 9);
  CAF_REQUIRE(!s->write(b));
  CAF_REQUIRE(!s->clear());
  CAF_CHECK(!got(s->purchase("p-1")));
  CAF_CHECK(got(s->positions()).empty());
}

CAF_TEST(origins are written with the positions survive a reopen and are cleared) {
  {
    auto s = open();
    view_store::batch b;
    b.origin({"bps.idempotency-keys", 2}, "0 1000 00000000000000ff");
    b.position({"bps.idempotency-keys", 2}, 1);
    CAF_REQUIRE(!s->write(b));
  }
  auto s = open();
  auto origins = got(s->origins());
  CAF_REQUIRE_EQUAL(origins.size(), 1u);
  kafka::topic_partition tp{"bps.idempotency-keys", 2};
  CAF_CHECK_EQUAL(origins[tp], "0 1000 00000000000000ff");
  CAF_REQUIRE(!s->clear());
  CAF_CHECK(got(s->origins()).empty());
}

CAF_TEST(a store of format 1 which cannot say which logs it was built from starts empty) {
  {
    rocksdb::Options opts;
    opts.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    CAF_REQUIRE(rocksdb::DB::Open(opts, dir, &raw).ok());
    std::unique_ptr<rocksdb::DB> db{raw};
    CAF_REQUIRE(db->Put({}, "m/format", "1").ok());
    CAF_REQUIRE(db->Put({}, "m/prefix", "bps.").ok());
    CAF_REQUIRE(db->Put({}, "k/k-1", "{}").ok());
    CAF_REQUIRE(db->Put({}, "m/pos/bps.idempotency-keys/0", "7").ok());
  }
  auto s = open();
  CAF_CHECK(got(s->positions()).empty());
  CAF_CHECK(!got(s->claim("k-1")));
}

CAF_TEST(origins are verified and positions without one are read again) {
  using gateway::check_origins;
  kafka::topic_partition claims{"bps.idempotency-keys", 0};
  kafka::topic_partition purchases{"bps.purchases", 1};
  kafka::topic_partition quiet{"bps.item-commands", 2};
  kafka::topic_partition empty{"bps.item-commands", 3};
  std::map<kafka::topic_partition, int64_t> positions{
    {claims, 5}, {purchases, 40}, {quiet, 17}, {empty, 0}};
  std::map<kafka::topic_partition, std::string> origins{{claims, "0 1000 00000000000000ff"},
                                                        {purchases, "12 2000 0000000000000abc"}};
  auto c = check_origins(positions, origins);
  CAF_CHECK(c.inconsistent.empty());
  CAF_REQUIRE_EQUAL(c.verify.size(), 2u);
  CAF_CHECK_EQUAL(c.verify[claims].offset, 0);
  CAF_CHECK_EQUAL(c.verify[purchases].offset, 12);
  CAF_CHECK_EQUAL(c.verify[purchases].digest, 0xabcu);
  // Started at its end and never read a record since: its position proves nothing.
  CAF_REQUIRE_EQUAL(c.unproven.size(), 1u);
  CAF_CHECK(c.unproven[0] == quiet);
  // Nothing stored: nothing to check.
  auto none = check_origins({}, {});
  CAF_CHECK(none.verify.empty() && none.unproven.empty() && none.inconsistent.empty());
}

CAF_TEST(an origin that cannot be read or is not below its position empties the store) {
  using gateway::check_origins;
  kafka::topic_partition tp{"bps.purchases", 0};
  auto garbled = check_origins({{tp, 5}}, {{tp, "garbage"}});
  CAF_CHECK(garbled.inconsistent.find("unreadable") != std::string::npos);
  auto ahead = check_origins({{tp, 5}}, {{tp, "5 1000 00000000000000ff"}});
  CAF_CHECK(ahead.inconsistent.find("not below its position 5") != std::string::npos);
}

CAF_TEST(an unreadable record or position is an error and never taken for nothing there) {
  open(); // creates it
  {
    // Break values behind the store's back, the way a bug or a bad disk would.
    rocksdb::DB* raw = nullptr;
    CAF_REQUIRE(rocksdb::DB::Open(rocksdb::Options{}, dir, &raw).ok());
    std::unique_ptr<rocksdb::DB> db{raw};
    CAF_REQUIRE(db->Put({}, "p/p-1", "garbage{").ok());
    CAF_REQUIRE(db->Put({}, "k/p-1", "[1]").ok());
    CAF_REQUIRE(db->Put({}, "m/pos/bps.purchases/0", "twelve").ok());
  }
  auto s = open();
  auto p = s->purchase("p-1");
  CAF_REQUIRE(!p);
  CAF_CHECK(describe(p.error()).find("unreadable") != std::string::npos);
  CAF_CHECK(!s->claim("p-1"));
  CAF_CHECK(!s->positions());
  // A store that cannot be opened is an error, not an empty store.
  std::ofstream{dir + "-not-a-dir"} << "a file";
  CAF_CHECK(!view_store::open(dir + "-not-a-dir/store", "bps."));
  std::filesystem::remove(dir + "-not-a-dir");
}

CAF_TEST_FIXTURE_SCOPE_END()
