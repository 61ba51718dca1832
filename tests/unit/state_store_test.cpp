#define CAF_SUITE actors.state_store
#include <caf/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <rocksdb/db.h>

#include "bps/actors/state_store.hpp"
#include "bps/error.hpp"

using namespace bps;
using domain::item;

namespace {

/// The value of a store read that must succeed.
template <class T>
T got(caf::expected<T> x) {
  CAF_REQUIRE(x);
  return std::move(*x);
}

struct fixture {
  std::string dir;
  store_identity id{"cluster-1", "bps.", 3, 12};
  std::string note;

  fixture() {
    dir = (std::filesystem::temp_directory_path()
           / ("bps-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand())))
            .string();
  }
  ~fixture() {
    std::filesystem::remove_all(dir);
  }

  std::unique_ptr<state_store> open(const store_identity& who,
                                    std::chrono::milliseconds flush_every = store_flush_every) {
    return open_at(dir, who, flush_every);
  }

  std::unique_ptr<state_store> open_at(const std::string& where, const store_identity& who,
                                       std::chrono::milliseconds flush_every = store_flush_every) {
    auto s = open_rocksdb_store(where, who, note, flush_every);
    CAF_REQUIRE(s);
    return std::move(*s);
  }

  /// What a kill -9 would leave on disk now: a copy of the store's files while it
  /// is open (the kernel keeps what was written; only the process's memory is lost).
  std::string crash_copy(const std::string& name) {
    auto copy = dir + "-" + name;
    std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive);
    return copy;
  }

  static state_batch sample() {
    state_batch b;
    b.items.push_back(item{"lamp", "Lamp", 4, 2});
    domain::purchase p{"p-1", "lamp", 1, "alice"};
    p.status = domain::purchase_status::successful;
    p.item_version = 2;
    p.item_quantity = 4;
    b.purchases.push_back(p);
    domain::item_command c;
    c.command_id = "c-1";
    c.item_id = "lamp";
    c.status = domain::command_status::applied;
    b.commands.push_back(c);
    b.positions = store_positions{10, 20, 30};
    return b;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(state_store_tests, fixture)

CAF_TEST(a memory store starts empty at position zero and keeps what it is given) {
  auto s = make_memory_store();
  CAF_CHECK(got(s->positions()) == store_positions{});
  CAF_CHECK(!got(s->item("lamp")));
  CAF_REQUIRE(!s->apply(sample()));
  CAF_CHECK(got(s->item("lamp")) == (item{"lamp", "Lamp", 4, 2}));
  CAF_CHECK(got(s->purchase_outcome("p-1")).has_value());
  CAF_CHECK(got(s->command_decided("c-1")));
  CAF_CHECK(!got(s->command_decided("c-2")));
  CAF_CHECK(got(s->positions()) == (store_positions{10, 20, 30}));
}

CAF_TEST(an older snapshot never replaces a newer one) {
  for (int kind = 0; kind < 2; ++kind) {
    auto s = kind == 0 ? make_memory_store() : open(id);
    state_batch newer;
    newer.items.push_back(item{"lamp", "Lamp", 1, 5});
    CAF_REQUIRE(!s->apply(newer));
    state_batch older;
    older.items.push_back(item{"lamp", "Lamp", 4, 2});
    CAF_REQUIRE(!s->apply(older));
    auto kept = got(s->item("lamp"));
    CAF_REQUIRE(kept);
    CAF_CHECK_EQUAL(kept->version, 5);
  }
}

CAF_TEST(a rocksdb store keeps everything across a reopen) {
  {
    auto s = open(id);
    CAF_CHECK_EQUAL(note, "new store");
    CAF_REQUIRE(!s->apply(sample()));
  }
  auto s = open(id);
  CAF_CHECK_EQUAL(note, "existing store");
  CAF_CHECK(got(s->item("lamp")) == (item{"lamp", "Lamp", 4, 2}));
  auto outcome = got(s->purchase_outcome("p-1"));
  CAF_REQUIRE(outcome);
  CAF_CHECK_EQUAL(outcome->purchased_by, "alice");
  CAF_CHECK(got(s->command_decided("c-1")));
  CAF_CHECK(got(s->positions()) == (store_positions{10, 20, 30}));
}

CAF_TEST(a store made for another partition count or cluster is rebuilt empty) {
  {
    auto s = open(id);
    CAF_REQUIRE(!s->apply(sample()));
  }
  auto other = id;
  other.partition_count = 6;
  auto s = open(other);
  CAF_CHECK(note.find("rebuilt") != std::string::npos);
  CAF_CHECK(!got(s->item("lamp")));
  CAF_CHECK(got(s->positions()) == store_positions{});
}

CAF_TEST(a corrupt store is rebuilt empty instead of failing) {
  {
    auto s = open(id);
    CAF_REQUIRE(!s->apply(sample()));
  }
  // Scribble over every file RocksDB keeps.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ofstream out{entry.path(), std::ios::trunc};
    out << "not a rocksdb file";
  }
  auto s = open(id);
  CAF_CHECK(note.find("cannot be opened") != std::string::npos);
  CAF_CHECK(!got(s->item("lamp")));
  CAF_CHECK(got(s->positions()) == store_positions{});
}

CAF_TEST(
  a store of the previous layout is rebuilt because it cannot say which log it was built from) {
  {
    auto s = open(id);
    CAF_REQUIRE(!s->apply(sample()));
  }
  {
    rocksdb::DB* raw = nullptr;
    CAF_REQUIRE(rocksdb::DB::Open(rocksdb::Options{}, dir, &raw).ok());
    std::unique_ptr<rocksdb::DB> db{raw};
    CAF_REQUIRE(db->Put({}, "m/format", "1").ok());
  }
  auto s = open(id);
  CAF_CHECK_EQUAL(note, "store has another format; rebuilt");
  CAF_CHECK(!got(s->item("lamp")));
  CAF_CHECK(got(s->positions()) == store_positions{});
}

CAF_TEST(facts about the store are kept with a write and read back by name) {
  for (int kind = 0; kind < 2; ++kind) {
    auto s = kind == 0 ? make_memory_store() : open(id);
    CAF_CHECK(!got(s->meta("origin.bps.purchases")));
    auto b = sample();
    b.meta.emplace_back("origin.bps.purchases", "0 1700000000000 00000000deadbeef");
    CAF_REQUIRE(!s->apply(b));
    CAF_CHECK_EQUAL(got(s->meta("origin.bps.purchases")),
                    std::optional<std::string>{"0 1700000000000 00000000deadbeef"});
    CAF_CHECK(!got(s->meta("origin.bps.item-commands")));
  }
}

CAF_TEST(a store that cannot be read says so instead of answering that nothing is there) {
  // A stored value that does not decode is a failure, not an absent item: deciding
  // from "absent" would commit UNKNOWN_ITEM for an item that exists.
  {
    auto s = open(id);
    CAF_REQUIRE(!s->apply(sample()));
  }
  {
    rocksdb::DB* raw = nullptr;
    CAF_REQUIRE(rocksdb::DB::Open(rocksdb::Options{}, dir, &raw).ok());
    std::unique_ptr<rocksdb::DB> db{raw};
    CAF_REQUIRE(db->Put({}, "i/lamp", "not an item").ok());
    CAF_REQUIRE(db->Put({}, "m/positions", "ten twenty").ok());
  }
  auto s = open(id);
  CAF_CHECK_EQUAL(note, "existing store");
  auto lamp = s->item("lamp");
  CAF_REQUIRE(!lamp);
  CAF_CHECK(describe(lamp.error()).find("item lamp is unreadable") != std::string::npos);
  CAF_CHECK(!s->positions());
  CAF_CHECK(!got(s->item("desk"))); // what is not there is still simply absent
}

CAF_TEST(a crash loses the batches since the last flush whole and a clean close keeps them) {
  // Batches are written without RocksDB's write-ahead log (the store is a cache of
  // Kafka): a crash before the flush leaves the store behind, never half a batch.
  auto s = open(id, std::chrono::hours{1});
  CAF_REQUIRE(!s->apply(sample()));
  CAF_CHECK(got(s->positions()) == (store_positions{10, 20, 30}));
  auto crashed = crash_copy("crashed");
  {
    auto c = open_at(crashed, id);
    CAF_CHECK_EQUAL(note, "existing store");
    CAF_CHECK(got(c->positions()) == store_positions{});
    CAF_CHECK(!got(c->item("lamp")));
    CAF_CHECK(!got(c->purchase_outcome("p-1")));
  }
  std::filesystem::remove_all(crashed);
  s.reset();
  s = open(id);
  CAF_CHECK_EQUAL(note, "existing store");
  CAF_CHECK(got(s->positions()) == (store_positions{10, 20, 30}));
  CAF_CHECK(got(s->item("lamp")) == (item{"lamp", "Lamp", 4, 2}));
}

CAF_TEST(a store flushed after every batch loses nothing in a crash) {
  auto s = open(id, std::chrono::milliseconds{0});
  for (int64_t n = 1; n <= 3; ++n) {
    state_batch b;
    b.items.push_back(item{"lamp", "Lamp", 10 - n, n});
    b.positions = store_positions{n, 2 * n, 3 * n};
    CAF_REQUIRE(!s->apply(b));
    auto crashed = crash_copy("crashed-" + std::to_string(n));
    {
      auto c = open_at(crashed, id);
      CAF_CHECK_EQUAL(note, "existing store");
      CAF_CHECK(got(c->positions()) == (store_positions{n, 2 * n, 3 * n}));
      auto lamp = got(c->item("lamp"));
      CAF_REQUIRE(lamp);
      CAF_CHECK_EQUAL(lamp->version, n);
    }
    std::filesystem::remove_all(crashed);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
