#include <chrono>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "bps/actors/codec.hpp"
#include "bps/actors/state_store.hpp"
#include "bps/error.hpp"

namespace bps {

namespace {

// Key layout (docs/state.md): one prefix a kind, so that kinds never collide.
constexpr const char* item_prefix = "i/";
constexpr const char* purchase_prefix = "p/";
constexpr const char* command_prefix = "c/";
constexpr const char* positions_key = "m/positions";
constexpr const char* identity_key = "m/identity";
constexpr const char* format_key = "m/format";
constexpr const char* meta_prefix = "m/meta/";
// 2: stores remember which log they were built from (meta "origin.*"); a store of
// format 1 cannot say, and is rebuilt.
constexpr const char* format_version = "2";

rocksdb::Options store_options() {
  // Many partitions share one process: small memtables and one block cache for all.
  static std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(size_t{64} << 20);
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.write_buffer_size = size_t{4} << 20;
  opts.max_write_buffer_number = 2;
  opts.max_open_files = 64;
  opts.keep_log_file_num = 2;
  // A clean close writes the memory tables out (batches are written without the
  // write-ahead log): the default, said here because the store relies on it.
  opts.avoid_flush_during_shutdown = false;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Most purchase lookups are of ids that are not there (every new purchase).
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return opts;
}

caf::error from_status(const std::string& what, const rocksdb::Status& st) {
  if (st.ok())
    return {};
  return make_error(ec::malformed, fmt::format("state store {}: {}", what, st.ToString()));
}

class rocksdb_store : public state_store {
public:
  explicit rocksdb_store(std::unique_ptr<rocksdb::DB> db,
                         std::chrono::milliseconds flush_every = store_flush_every)
    : db_(std::move(db)), flush_every_(flush_every), last_flush_(clock::now()) {}

  caf::expected<std::optional<domain::item>> item(const std::string& item_id) override {
    return decoded<domain::item>(item_prefix + item_id, "item " + item_id,
                                 [](std::string_view v) { return domain::decode_item(v); });
  }

  caf::expected<std::optional<domain::purchase>>
  purchase_outcome(const std::string& purchase_id) override {
    return decoded<domain::purchase>(purchase_prefix + purchase_id, "purchase " + purchase_id,
                                     [](std::string_view v) { return domain::decode_purchase(v); });
  }

  caf::expected<bool> command_decided(const std::string& command_id) override {
    auto v = read(command_prefix + command_id);
    if (!v)
      return std::move(v.error());
    return v->has_value();
  }

  caf::expected<store_positions> positions() override {
    auto v = read(positions_key);
    if (!v)
      return std::move(v.error());
    store_positions out;
    if (*v
        && std::sscanf((*v)->c_str(), "%ld %ld %ld", &out.items, &out.purchases, &out.commands)
             != 3)
      return make_error(ec::malformed, "state store: positions are unreadable: \"" + **v + "\"");
    return out;
  }

  caf::expected<std::optional<std::string>> meta(const std::string& key) override {
    return read(meta_prefix + key);
  }

  caf::error apply(const state_batch& batch) override {
    rocksdb::WriteBatch wb;
    // Never step back: the same log applied twice leaves the newest version, also when
    // one batch holds several versions of an item.
    std::map<std::string, int64_t> newest;
    for (const auto& x : batch.items) {
      auto seen = newest.find(x.item_id);
      if (seen == newest.end()) {
        auto have = item(x.item_id);
        if (!have)
          return std::move(have.error());
        seen = newest.emplace(x.item_id, *have ? (*have)->version : -1).first;
      }
      if (seen->second > x.version)
        continue;
      seen->second = x.version;
      wb.Put(item_prefix + x.item_id, domain::encode(x));
    }
    for (const auto& p : batch.purchases)
      wb.Put(purchase_prefix + p.purchase_id, domain::encode(p));
    for (const auto& c : batch.commands)
      wb.Put(command_prefix + c.command_id, domain::to_string(c.status));
    if (batch.positions)
      wb.Put(positions_key, fmt::format("{} {} {}", batch.positions->items,
                                        batch.positions->purchases, batch.positions->commands));
    for (const auto& [key, value] : batch.meta)
      wb.Put(meta_prefix + key, value);
    // No write-ahead log (store_flush_every): a batch is all in one memory table or
    // not at all, and the memory tables reach the disk in order.
    rocksdb::WriteOptions no_wal;
    no_wal.disableWAL = true;
    if (auto err = from_status("write", db_->Write(no_wal, &wb)))
      return err;
    if (auto now = clock::now(); now - last_flush_ >= flush_every_) {
      last_flush_ = now;
      rocksdb::FlushOptions flush;
      flush.wait = flush_every_.count() == 0;
      // Never wait here for a memory table already being written out (the default
      // would, to avoid a write stall): the loop that called goes on deciding.
      flush.allow_write_stall = true;
      return from_status("flush", db_->Flush(flush));
    }
    return {};
  }

  void for_each(const std::function<void(const domain::item&)>& on_item,
                const std::function<void(const domain::purchase&)>& on_purchase) override {
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator({})};
    for (it->Seek(item_prefix); it->Valid() && it->key().starts_with(item_prefix); it->Next())
      if (auto d = domain::decode_item(it->value().ToStringView()))
        on_item(*d.value);
    for (it->Seek(purchase_prefix); it->Valid() && it->key().starts_with(purchase_prefix);
         it->Next())
      if (auto d = domain::decode_purchase(it->value().ToStringView()))
        on_purchase(*d.value);
  }

  std::optional<std::string> get(const char* key) {
    auto v = read(key);
    return v ? *v : std::nullopt;
  }

  caf::error put(const char* key, const std::string& value) {
    return from_status("write", db_->Put({}, key, value));
  }

private:
  /// The value under `key`; nothing if there is none; an error if RocksDB fails.
  caf::expected<std::optional<std::string>> read(const std::string& key) {
    std::string value;
    auto st = db_->Get({}, key, &value);
    if (st.IsNotFound())
      return std::optional<std::string>{};
    if (!st.ok())
      return from_status("read " + key, st);
    return std::optional<std::string>{std::move(value)};
  }

  template <class T, class Decode>
  caf::expected<std::optional<T>> decoded(const std::string& key, const std::string& what,
                                          Decode decode) {
    auto v = read(key);
    if (!v)
      return std::move(v.error());
    if (!*v)
      return std::optional<T>{};
    auto d = decode(**v);
    if (!d)
      return make_error(ec::malformed, "state store: " + what + " is unreadable: " + d.error);
    return std::optional<T>{std::move(*d.value)};
  }

  using clock = std::chrono::steady_clock;
  std::unique_ptr<rocksdb::DB> db_;
  std::chrono::milliseconds flush_every_;
  clock::time_point last_flush_;
};

caf::expected<std::unique_ptr<rocksdb_store>>
open_raw(const std::string& dir, std::chrono::milliseconds flush_every = store_flush_every) {
  std::error_code ec_fs;
  std::filesystem::create_directories(dir, ec_fs);
  if (ec_fs)
    return make_error(ec::invalid_argument,
                      fmt::format("state directory {}: {}", dir, ec_fs.message()));
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(store_options(), dir, &raw);
  if (!st.ok())
    return from_status("open " + dir, st);
  return std::make_unique<rocksdb_store>(std::unique_ptr<rocksdb::DB>{raw}, flush_every);
}

} // namespace

caf::expected<std::unique_ptr<state_store>> open_rocksdb_store_read_only(const std::string& dir,
                                                                         std::string& identity) {
  if (!std::filesystem::exists(dir))
    return make_error(ec::invalid_argument, "no state store in " + dir);
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::OpenForReadOnly(store_options(), dir, &raw);
  if (!st.ok())
    return from_status("open " + dir + " read-only", st);
  auto store = std::make_unique<rocksdb_store>(std::unique_ptr<rocksdb::DB>{raw});
  identity = store->get(identity_key).value_or("");
  return std::unique_ptr<state_store>{std::move(store)};
}

std::string store_identity::to_string() const {
  return fmt::format("cluster={} prefix={} partition={}/{}", cluster_id, topic_prefix, partition,
                     partition_count);
}

caf::error destroy_rocksdb_store(const std::string& dir) {
  std::error_code ec_fs;
  std::filesystem::remove_all(dir, ec_fs);
  if (ec_fs)
    return make_error(ec::invalid_argument,
                      fmt::format("cannot delete state store {}: {}", dir, ec_fs.message()));
  return {};
}

caf::expected<std::unique_ptr<state_store>>
open_rocksdb_store(const std::string& dir, const store_identity& id, std::string& note,
                   std::chrono::milliseconds flush_every) {
  note.clear();
  auto wanted = id.to_string();
  auto store = open_raw(dir, flush_every);
  if (store) {
    auto format = (*store)->get(format_key);
    auto identity = (*store)->get(identity_key);
    if (!format && !identity)
      note = "new store";
    else if (format != std::optional<std::string>{format_version})
      note = "store has another format; rebuilt";
    else if (identity != std::optional<std::string>{wanted})
      note = fmt::format("store belongs to {}; rebuilt", identity.value_or("?"));
    else {
      note = "existing store";
      return std::unique_ptr<state_store>{std::move(*store)};
    }
    if (note == "new store") {
      if (auto err = (*store)->put(format_key, format_version))
        return err;
      if (auto err = (*store)->put(identity_key, wanted))
        return err;
      return std::unique_ptr<state_store>{std::move(*store)};
    }
    store->reset();
  } else {
    note = "store cannot be opened (" + describe(store.error()) + "); rebuilt";
  }
  if (auto err = destroy_rocksdb_store(dir))
    return err;
  auto fresh = open_raw(dir, flush_every);
  if (!fresh)
    return std::move(fresh.error());
  if (auto err = (*fresh)->put(format_key, format_version))
    return err;
  if (auto err = (*fresh)->put(identity_key, wanted))
    return err;
  return std::unique_ptr<state_store>{std::move(*fresh)};
}

} // namespace bps
