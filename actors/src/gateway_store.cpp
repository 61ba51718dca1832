#include "bps/actors/gateway_store.hpp"

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "bps/actors/codec.hpp"
#include "bps/error.hpp"

namespace bps::gateway {

namespace {

// Key layout (docs/state.md, "The gateway's store"): one prefix a kind.
constexpr std::string_view purchase_prefix = "p/";
constexpr std::string_view command_prefix = "c/";
constexpr std::string_view claim_prefix = "k/";
/// t/<first seen, ms, 16 digits>/<p|c><id>: what to prune, oldest first.
constexpr std::string_view time_prefix = "t/";
constexpr std::string_view position_prefix = "m/pos/";
constexpr std::string_view origin_prefix = "m/origin/";
constexpr const char* format_key = "m/format";
constexpr const char* prefix_key = "m/prefix";
// 2: with the origin of every partition read (a store of format 1 cannot say which
// logs it was built from: it starts empty).
constexpr const char* format_version = "2";
constexpr const char* oldest_claim_key = "m/oldest-claim";

rocksdb::Options store_options() {
  // Small and bounded: the memtables (2 x 8 MiB) and one block cache (16 MiB) that
  // also holds the index and filter blocks, so that memory does not grow with the
  // number of claims kept forever.
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.write_buffer_size = size_t{8} << 20;
  opts.max_write_buffer_number = 2;
  opts.max_open_files = 128;
  opts.keep_log_file_num = 2;
  opts.max_background_jobs = 2;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(size_t{16} << 20);
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  // Most lookups are of ids that are not there (every new request).
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return opts;
}

caf::error from_status(const std::string& what, const rocksdb::Status& st) {
  if (st.ok())
    return {};
  return make_error(ec::malformed, fmt::format("gateway store {}: {}", what, st.ToString()));
}

std::string key(std::string_view prefix, std::string_view id) {
  std::string k;
  k.reserve(prefix.size() + id.size());
  k.append(prefix).append(id);
  return k;
}

std::string time_key(int64_t ms, char kind, std::string_view id) {
  return fmt::format("{}{:016d}/{}{}", time_prefix, std::max<int64_t>(ms, 0), kind, id);
}

std::string partition_key(std::string_view prefix, const kafka::topic_partition& tp) {
  return fmt::format("{}{}/{}", prefix, tp.topic, tp.partition);
}

} // namespace

// -- batch ---------------------------------------------------------------------

struct view_store::batch::impl {
  rocksdb::WriteBatch wb;
};

view_store::batch::batch() : impl_(std::make_unique<impl>()) {}

view_store::batch::~batch() = default;

void view_store::batch::put(const domain::purchase& p, std::optional<int64_t> first_seen_ms) {
  impl_->wb.Put(key(purchase_prefix, p.purchase_id), domain::encode(p));
  if (first_seen_ms)
    impl_->wb.Put(time_key(*first_seen_ms, 'p', p.purchase_id), "");
}

void view_store::batch::put(const domain::item_command& c, std::optional<int64_t> first_seen_ms) {
  impl_->wb.Put(key(command_prefix, c.command_id), domain::encode(c));
  if (first_seen_ms)
    impl_->wb.Put(time_key(*first_seen_ms, 'c', c.command_id), "");
}

void view_store::batch::put(const domain::claim& c) {
  impl_->wb.Put(key(claim_prefix, c.id), domain::encode(c));
}

void view_store::batch::position(const kafka::topic_partition& tp, int64_t next_offset) {
  impl_->wb.Put(partition_key(position_prefix, tp), std::to_string(next_offset));
}

void view_store::batch::origin(const kafka::topic_partition& tp, const std::string& fingerprint) {
  impl_->wb.Put(partition_key(origin_prefix, tp), fingerprint);
}

void view_store::batch::oldest_claim(int64_t claimed_at_ms) {
  impl_->wb.Put(oldest_claim_key, std::to_string(claimed_at_ms));
}

bool view_store::batch::empty() const noexcept {
  return impl_->wb.Count() == 0;
}

// -- the store -----------------------------------------------------------------

struct view_store::impl {
  std::string dir;
  std::unique_ptr<rocksdb::DB> db;

  /// The value under `k`; nothing if there is none; an error if RocksDB fails.
  caf::expected<std::optional<std::string>> read(const std::string& k) {
    std::string value;
    auto st = db->Get({}, k, &value);
    if (st.IsNotFound())
      return std::optional<std::string>{};
    if (!st.ok())
      return from_status("read " + k, st);
    return std::optional<std::string>{std::move(value)};
  }

  template <class T, class Decode>
  caf::expected<std::optional<T>> decoded(const std::string& k, Decode decode) {
    auto v = read(k);
    if (!v)
      return std::move(v.error());
    if (!*v)
      return std::optional<T>{};
    auto d = decode(**v);
    if (!d)
      return make_error(ec::malformed, "gateway store: " + k + " is unreadable: " + d.error);
    return std::optional<T>{std::move(*d.value)};
  }

  /// Every value under `prefix`<topic>/<partition>.
  caf::expected<std::map<kafka::topic_partition, std::string>>
  per_partition(std::string_view prefix);
};

view_store::view_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

view_store::~view_store() = default;

namespace {

caf::expected<std::unique_ptr<rocksdb::DB>> open_db(const std::string& dir) {
  std::error_code ec_fs;
  std::filesystem::create_directories(dir, ec_fs);
  if (ec_fs)
    return make_error(ec::invalid_argument,
                      fmt::format("gateway store directory {}: {}", dir, ec_fs.message()));
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(store_options(), dir, &raw);
  if (!st.ok())
    return from_status("open " + dir, st);
  return std::unique_ptr<rocksdb::DB>{raw};
}

} // namespace

caf::expected<std::unique_ptr<view_store>> view_store::open(const std::string& dir,
                                                            const std::string& prefix) {
  auto p = std::make_unique<impl>();
  p->dir = dir;
  auto db = open_db(dir);
  if (db) {
    p->db = std::move(*db);
    auto format = p->read(format_key);
    auto owner = p->read(prefix_key);
    if (!format)
      return std::move(format.error());
    if (!owner)
      return std::move(owner.error());
    if (*format == std::optional<std::string>{format_version}
        && *owner == std::optional<std::string>{prefix})
      return std::unique_ptr<view_store>(new view_store(std::move(p)));
    if (!*format && !*owner) { // new
      rocksdb::WriteBatch wb;
      wb.Put(format_key, format_version);
      wb.Put(prefix_key, prefix);
      if (auto err = from_status("write", p->db->Write({}, &wb)))
        return err;
      return std::unique_ptr<view_store>(new view_store(std::move(p)));
    }
    p->db.reset(); // another format or prefix: rebuilt below
  }
  std::error_code ec_fs;
  std::filesystem::remove_all(dir, ec_fs);
  if (ec_fs)
    return make_error(ec::invalid_argument,
                      fmt::format("cannot empty gateway store {}: {}", dir, ec_fs.message()));
  auto fresh = open_db(dir);
  if (!fresh)
    return std::move(fresh.error());
  p->db = std::move(*fresh);
  rocksdb::WriteBatch wb;
  wb.Put(format_key, format_version);
  wb.Put(prefix_key, prefix);
  if (auto err = from_status("write", p->db->Write({}, &wb)))
    return err;
  return std::unique_ptr<view_store>(new view_store(std::move(p)));
}

caf::expected<std::optional<domain::purchase>> view_store::purchase(const std::string& id) {
  return impl_->decoded<domain::purchase>(
    key(purchase_prefix, id), [](std::string_view v) { return domain::decode_purchase(v); });
}

caf::expected<std::optional<domain::item_command>> view_store::command(const std::string& id) {
  return impl_->decoded<domain::item_command>(
    key(command_prefix, id), [](std::string_view v) { return domain::decode_command(v); });
}

caf::expected<std::optional<domain::claim>> view_store::claim(const std::string& id) {
  return impl_->decoded<domain::claim>(key(claim_prefix, id),
                                       [](std::string_view v) { return domain::decode_claim(v); });
}

caf::expected<std::map<kafka::topic_partition, std::string>>
view_store::impl::per_partition(std::string_view prefix) {
  std::map<kafka::topic_partition, std::string> out;
  std::unique_ptr<rocksdb::Iterator> it{db->NewIterator({})};
  for (it->Seek(std::string{prefix}); it->Valid() && it->key().starts_with(std::string{prefix});
       it->Next()) {
    auto k = it->key().ToStringView().substr(prefix.size());
    auto slash = k.rfind('/');
    int32_t partition = -1;
    bool ok = slash != std::string_view::npos;
    if (ok) {
      auto [end, err] = std::from_chars(k.data() + slash + 1, k.data() + k.size(), partition);
      ok = err == std::errc{} && end == k.data() + k.size();
    }
    if (!ok)
      return make_error(ec::malformed,
                        fmt::format("gateway store: key {} is unreadable", it->key().ToString()));
    out[{std::string{k.substr(0, slash)}, partition}] = it->value().ToString();
  }
  if (auto err = from_status(fmt::format("read {}", prefix), it->status()))
    return err;
  return out;
}

caf::expected<std::map<kafka::topic_partition, int64_t>> view_store::positions() {
  auto values = impl_->per_partition(position_prefix);
  if (!values)
    return std::move(values.error());
  std::map<kafka::topic_partition, int64_t> out;
  for (const auto& [tp, v] : *values) {
    int64_t offset = -1;
    auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), offset);
    if (err != std::errc{} || end != v.data() + v.size())
      return make_error(ec::malformed,
                        fmt::format("gateway store: position {} = \"{}\" is unreadable",
                                    partition_key(position_prefix, tp), v));
    out[tp] = offset;
  }
  return out;
}

caf::expected<std::map<kafka::topic_partition, std::string>> view_store::origins() {
  return impl_->per_partition(origin_prefix);
}

caf::expected<std::optional<int64_t>> view_store::oldest_claim() {
  auto v = impl_->read(oldest_claim_key);
  if (!v)
    return std::move(v.error());
  if (!*v)
    return std::optional<int64_t>{};
  int64_t ms = 0;
  auto [end, err] = std::from_chars((*v)->data(), (*v)->data() + (*v)->size(), ms);
  if (err != std::errc{} || end != (*v)->data() + (*v)->size())
    return make_error(ec::malformed,
                      "gateway store: the oldest claim's time \"" + **v + "\" is unreadable");
  return std::optional<int64_t>{ms};
}

caf::error view_store::write(batch& b) {
  return from_status("write", impl_->db->Write({}, &b.impl_->wb));
}

caf::expected<size_t> view_store::prune(int64_t horizon_ms, size_t limit) {
  auto upper = fmt::format("{}{:016d}", time_prefix, std::max<int64_t>(horizon_ms, 0));
  rocksdb::Slice upper_slice{upper};
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it{impl_->db->NewIterator(ro)};
  rocksdb::WriteBatch wb;
  size_t seen = 0;
  for (it->Seek(std::string{time_prefix}); it->Valid() && seen < limit; it->Next()) {
    ++seen;
    auto k = it->key().ToStringView();
    // t/<16 digits>/<kind><id>
    constexpr size_t head = time_prefix.size() + 16 + 1;
    if (k.size() > head + 1) {
      auto kind = k[head];
      auto id = k.substr(head + 1);
      auto claimed = impl_->read(key(claim_prefix, id));
      if (!claimed)
        return std::move(claimed.error());
      // A claimed id's request and outcome are kept: its retries are answered forever.
      if (!*claimed)
        wb.Delete(key(kind == 'p' ? purchase_prefix : command_prefix, id));
    }
    wb.Delete(it->key());
  }
  if (auto err = from_status("prune (iterate)", it->status()))
    return err;
  if (wb.Count() > 0)
    if (auto err = from_status("prune", impl_->db->Write({}, &wb)))
      return err;
  return seen;
}

caf::expected<uint64_t> view_store::memory_bytes() {
  uint64_t total = 0;
  for (const auto* name : {"rocksdb.cur-size-all-mem-tables", "rocksdb.block-cache-usage",
                           "rocksdb.estimate-table-readers-mem"}) {
    uint64_t v = 0;
    if (!impl_->db->GetIntProperty(name, &v))
      return make_error(ec::malformed, fmt::format("gateway store: no property {}", name));
    total += v;
  }
  return total;
}

caf::error view_store::clear() {
  rocksdb::WriteBatch wb;
  std::unique_ptr<rocksdb::Iterator> it{impl_->db->NewIterator({})};
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto k = it->key().ToStringView();
    if (k != format_key && k != prefix_key)
      wb.Delete(it->key());
  }
  if (auto err = from_status("clear (iterate)", it->status()))
    return err;
  return from_status("clear", impl_->db->Write({}, &wb));
}

const std::string& view_store::dir() const noexcept {
  return impl_->dir;
}

origin_checks check_origins(const std::map<kafka::topic_partition, int64_t>& positions,
                            const std::map<kafka::topic_partition, std::string>& origins) {
  origin_checks out;
  for (const auto& [tp, text] : origins) {
    auto origin = kafka::log_origin::parse(text);
    if (origin.offset < 0) {
      out.inconsistent
        = fmt::format("its origin of {}/{} (\"{}\") is unreadable", tp.topic, tp.partition, text);
      return out;
    }
    if (auto at = positions.find(tp); at != positions.end() && origin.offset >= at->second) {
      out.inconsistent = fmt::format("its origin of {}/{} is at offset {}, not below its "
                                     "position {}",
                                     tp.topic, tp.partition, origin.offset, at->second);
      return out;
    }
    out.verify.emplace(tp, origin);
  }
  for (const auto& [tp, at] : positions)
    if (at > 0 && origins.count(tp) == 0)
      out.unproven.push_back(tp);
  return out;
}

} // namespace bps::gateway
