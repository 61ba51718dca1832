#pragma once

// What one transaction of a processing lane gathers between its begin and its commit,
// and the rules of gathering it. Pure: no Kafka client, no actors, no store; the time
// is given. The lane produces the records; this says what it decided, what is awaited
// and what the state stores take once the transaction committed.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "bps/actors/domain.hpp"
#include "bps/actors/state_store.hpp"
#include "bps/kafka/types.hpp"

namespace bps {

/// The two kinds of request a lane decides.
enum class request_kind { purchase, command };

class transaction {
public:
  using clock = std::chrono::steady_clock;

  bool open() const noexcept {
    return open_;
  }

  /// Opens it at `now`; it is due for its commit `interval` later.
  void begin(clock::time_point now, clock::duration interval);

  /// Whether it should commit now: its interval is over, or `max_in_flight` requests
  /// wait for their item actors. A closed transaction is never due.
  bool due(clock::time_point now, size_t max_in_flight) const;

  /// The record at `offset` of an input partition was read: the transaction commits
  /// the input's position past it.
  void read(const std::string& topic, int32_t partition, int64_t offset);

  /// Forgets what was read of an input partition: it is read again from its committed
  /// offset, and this transaction does not move that (the partition went away, or it
  /// is caught up again).
  void unread(const kafka::topic_partition& input) {
    read_to_.erase(input);
  }

  /// The input positions to commit with the outputs: the offset after the last record
  /// read from each input partition.
  std::vector<kafka::partition_offset> offsets() const;

  /// Whether request `id` of this kind was already sent for decision in this
  /// transaction (the store knows it only after the commit).
  bool pending(request_kind kind, int32_t partition, const std::string& id) const;

  /// Request `id` went to its item actor; `timestamp_ms` is its record's timestamp
  /// (negative: none).
  void sent(request_kind kind, int32_t partition, const std::string& id, int64_t timestamp_ms);

  /// An item actor decided: the outcome goes to partition `partition`'s store after the
  /// commit, and `state` (the item after it; none if it does not exist) becomes the
  /// item's snapshot when the decision changed it. Of several decisions on one item,
  /// the last snapshot is produced.
  void decided(int32_t partition, domain::purchase outcome, std::optional<domain::item> state);
  void decided(int32_t partition, domain::item_command result, std::optional<domain::item> state);

  /// Requests sent and not yet decided.
  size_t outstanding() const noexcept {
    return outstanding_;
  }

  /// The items to produce snapshots of, with their partitions.
  const std::map<std::string, std::pair<int32_t, domain::item>>& snapshots() const noexcept {
    return snapshots_;
  }

  /// The record timestamps (ms since the epoch) of the requests sent, when they had one.
  const std::vector<int64_t>& request_times_ms() const noexcept {
    return request_times_ms_;
  }

  /// An output could not be produced: the transaction must abort. The first reason
  /// is kept.
  void fail(std::string why);
  const std::string& failure() const noexcept {
    return failure_;
  }

  /// Where its records landed (delivery reports), gathered before and after the commit.
  std::map<kafka::topic_partition, std::vector<int64_t>>& delivered() noexcept {
    return delivered_;
  }
  const std::map<kafka::topic_partition, std::vector<int64_t>>& delivered() const noexcept {
    return delivered_;
  }
  void add_delivered(std::map<kafka::topic_partition, std::vector<int64_t>> more);

  /// Once committed: per partition, the outcomes and the snapshots its store takes
  /// (without positions and meta: the lane adds what it knows of the logs).
  std::map<int32_t, state_batch> take_batches();

  /// Forgets everything: closed and empty, as if never begun.
  void clear() {
    *this = transaction{};
  }

private:
  /// One answer less owed; `state` becomes the item's snapshot if the decision `changed` it.
  void answered(int32_t partition, const std::string& item_id, std::optional<domain::item> state,
                bool changed);

  bool open_ = false;
  clock::time_point deadline_;
  std::map<kafka::topic_partition, int64_t> read_to_;
  std::map<int32_t, std::unordered_set<std::string>> pending_purchases_;
  std::map<int32_t, std::unordered_set<std::string>> pending_commands_;
  std::map<std::string, std::pair<int32_t, domain::item>> snapshots_;
  std::map<int32_t, state_batch> outputs_;
  size_t outstanding_ = 0;
  std::vector<int64_t> request_times_ms_;
  std::string failure_;
  std::map<kafka::topic_partition, std::vector<int64_t>> delivered_;
};

} // namespace bps
