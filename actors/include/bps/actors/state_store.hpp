#pragma once

// The committed state of one partition that a node keeps beside Kafka: items, the
// decided purchases and commands, and how far into the log that state reaches. A
// cache of Kafka, never ahead of it: written only after a transaction committed,
// and brought up to date from its positions when a partition is assigned. No
// RocksDB include here (rocksdb_store.cpp holds it).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "bps/actors/domain.hpp"

namespace bps {

/// The next offsets of a partition's three logs that a store has absorbed:
/// every output before them is reflected in the store.
struct store_positions {
  int64_t items = 0;
  int64_t purchases = 0;
  int64_t commands = 0;
  friend bool operator==(const store_positions&, const store_positions&) = default;
};

/// What one committed transaction, or one chunk of catch-up, changes.
struct state_batch {
  std::vector<domain::item> items;
  std::vector<domain::purchase> purchases;
  std::vector<domain::item_command> commands;
  std::optional<store_positions> positions;
  /// Facts about the store itself (e.g. which log it was built from), by name.
  std::vector<std::pair<std::string, std::string>> meta;
  bool empty() const noexcept {
    return items.empty() && purchases.empty() && commands.empty() && !positions && meta.empty();
  }
};

/// One partition's committed state. Every read says whether it could read: a store
/// that fails is never taken for one that has nothing (a missing item would be
/// decided as UNKNOWN_ITEM).
class state_store {
public:
  virtual ~state_store() = default;
  virtual caf::expected<std::optional<domain::item>> item(const std::string& item_id) = 0;
  virtual caf::expected<std::optional<domain::purchase>>
  purchase_outcome(const std::string& purchase_id) = 0;
  virtual caf::expected<bool> command_decided(const std::string& command_id) = 0;
  virtual caf::expected<store_positions> positions() = 0;
  /// A fact stored with state_batch::meta; nothing if it was never stored.
  virtual caf::expected<std::optional<std::string>> meta(const std::string& key) = 0;
  /// Applies a batch atomically (all or nothing). An item older than the stored one
  /// (lower version) is ignored, so applying the same log twice changes nothing.
  virtual caf::error apply(const state_batch& batch) = 0;
  /// Visits every item, then every purchase outcome (for checks, not the hot path).
  virtual void for_each(const std::function<void(const domain::item&)>& on_item,
                        const std::function<void(const domain::purchase&)>& on_purchase)
    = 0;
};

/// A store in memory: starts empty at positions 0 (so it is rebuilt from the whole
/// log on every assignment).
std::unique_ptr<state_store> make_memory_store();

/// Who a RocksDB store belongs to: a store made for another cluster, topic prefix,
/// partition or partition count is never used.
struct store_identity {
  std::string cluster_id;
  std::string topic_prefix;
  int32_t partition = 0;
  int32_t partition_count = 0;
  std::string to_string() const;
};

/// How long after its last flush a RocksDB store's next batch starts another.
/// Batches are written without RocksDB's write-ahead log (the store is a cache
/// of Kafka, and each batch carries its positions), so a crash loses what was
/// applied since the last flush, whole batches only: the store is then behind,
/// never inconsistent, and catching up reads those records from the log again.
/// Memory tables are also written out when one fills (4 MiB) and when the store
/// closes; there is no timer, so a store that stops getting batches keeps its
/// last ones in memory until then.
inline constexpr std::chrono::milliseconds store_flush_every{10'000};

/// Opens the RocksDB store in `dir`, creating it if missing. A store that cannot
/// be opened (corrupt) or was made for another identity is deleted and created
/// empty; `note` then says why (for the log). `flush_every`: see store_flush_every
/// (zero: every batch is on disk when apply returns).
caf::expected<std::unique_ptr<state_store>>
open_rocksdb_store(const std::string& dir, const store_identity& id, std::string& note,
                   std::chrono::milliseconds flush_every = store_flush_every);

/// Opens an existing RocksDB store read-only (a running node may hold it open);
/// nothing is created, changed or deleted. `identity` receives the stored identity.
caf::expected<std::unique_ptr<state_store>> open_rocksdb_store_read_only(const std::string& dir,
                                                                         std::string& identity);

/// Deletes the store in `dir` (nothing if there is none).
caf::error destroy_rocksdb_store(const std::string& dir);

} // namespace bps
