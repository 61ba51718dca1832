#pragma once

// The gateway view's store (RocksDB): the purchases and item commands of the
// idempotency window, the first claim of every id (forever) and, with it, the
// request and outcome of every claimed id (forever: a retry of a keyed request is
// answered at any time), and the positions the view has read each partition to.
// Private to the gateway; the layout is in docs/state.md.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "bps/actors/domain.hpp"
#include "bps/kafka/log_origin.hpp"
#include "bps/kafka/types.hpp"

namespace bps::gateway {

class view_store {
public:
  /// Changes that are written together (one RocksDB write batch).
  class batch {
  public:
    batch();
    ~batch();
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    /// Stores the record as the id's latest; `first_seen_ms`: also enters it in the
    /// time index (the first time an id is stored), from which it is pruned.
    void put(const domain::purchase& p, std::optional<int64_t> first_seen_ms);
    void put(const domain::item_command& c, std::optional<int64_t> first_seen_ms);
    void put(const domain::claim& c);
    void position(const kafka::topic_partition& tp, int64_t next_offset);
    /// The first record the view read of the partition (kafka::log_origin, as text):
    /// written with the position past that record.
    void origin(const kafka::topic_partition& tp, const std::string& fingerprint);
    /// The time of the oldest claim stored (ms since the epoch).
    void oldest_claim(int64_t claimed_at_ms);
    bool empty() const noexcept;

  private:
    friend class view_store;
    struct impl;
    std::unique_ptr<impl> impl_;
  };

  /// Opens the store in `dir`, creating it if needed. A store made for another topic
  /// prefix or in another format is emptied first (it is a cache of Kafka).
  static caf::expected<std::unique_ptr<view_store>> open(const std::string& dir,
                                                         const std::string& prefix);
  ~view_store();
  view_store(const view_store&) = delete;
  view_store& operator=(const view_store&) = delete;

  caf::expected<std::optional<domain::purchase>> purchase(const std::string& id);
  caf::expected<std::optional<domain::item_command>> command(const std::string& id);
  /// The first claim of the id, if the view has read one.
  caf::expected<std::optional<domain::claim>> claim(const std::string& id);
  /// The next offset to read of every partition the store holds records of.
  caf::expected<std::map<kafka::topic_partition, int64_t>> positions();
  /// The fingerprint of the first record read of every partition the store has read
  /// a record of (kafka::log_origin, as text).
  caf::expected<std::map<kafka::topic_partition, std::string>> origins();
  /// The time of the oldest claim stored, if any (a view starting without positions
  /// for the purchases reads them from then on, for the outcomes of claimed ids).
  caf::expected<std::optional<int64_t>> oldest_claim();

  caf::error write(batch& b);

  /// Removes the purchases and commands first seen before `horizon_ms` whose id has
  /// no claim, at most `limit` of them; returns how many index entries it went through
  /// (fewer than `limit`: nothing older is left).
  caf::expected<size_t> prune(int64_t horizon_ms, size_t limit);

  /// What RocksDB holds in memory for the store now: memtables, block cache (index and
  /// filter blocks included) and table readers, in bytes.
  caf::expected<uint64_t> memory_bytes();

  /// Removes every record, position and origin (the topics were recreated).
  caf::error clear();

  const std::string& dir() const noexcept;

  struct impl;

private:
  explicit view_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// What a view store's positions and origins say before they are trusted (pure).
struct origin_checks {
  /// The stored origins, to be compared with the logs (kafka::other_origins): a log
  /// that does not hold its origin was deleted and created anew.
  std::map<kafka::topic_partition, kafka::log_origin> verify;
  /// Partitions read past offset 0 without a record read (the view started them at
  /// their end): their positions prove nothing; they are read again like partitions
  /// the store has not read.
  std::vector<kafka::topic_partition> unproven;
  /// Not empty: the store is inconsistent (an origin that cannot be read, or not
  /// below its position) and must be emptied; says why.
  std::string inconsistent;
};
origin_checks check_origins(const std::map<kafka::topic_partition, int64_t>& positions,
                            const std::map<kafka::topic_partition, std::string>& origins);

} // namespace bps::gateway
