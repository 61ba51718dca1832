#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "bps/kafka/types.hpp"

namespace RdKafka {
class KafkaConsumer;
} // namespace RdKafka

namespace bps::kafka {

/// What a rebalance did to this group member.
enum class rebalance_kind { assigned, revoked };

/// Called inside poll() when the group assigns or revokes partitions: right after an
/// assignment took effect (so that the hook can pause the new partitions before any
/// of their records is delivered), and before a revocation takes effect (so that an
/// open transaction can be committed first).
using rebalance_hook = std::function<void(rebalance_kind, const std::vector<topic_partition>&)>;

/// Settings of a consumer. Offsets are only ever committed explicitly.
struct consumer_options {
  std::string bootstrap;
  std::string group_id;
  /// read_committed hides aborted transactions and waits for open ones.
  bool read_committed = true;
  /// Where to start without a committed offset: "earliest" or "latest".
  std::string auto_offset_reset = "earliest";
  /// Report partition ends as poll events (poll_event::kind::partition_eof).
  bool report_partition_eof = false;
  /// Never joins the group (assign() only): group-membership properties in `extra`
  /// (session and poll-interval timeouts, instance id, assignor) mean nothing here and
  /// are left out, so that settings meant for the processing consumer (e.g.
  /// max.poll.interval.ms) cannot make this one invalid.
  bool assign_only = false;
  /// Optional: told about every rebalance (see rebalance_hook).
  rebalance_hook on_rebalance;
  properties extra;
};

/// RAII owner of a librdkafka consumer, a group member with manual commits. Uses
/// the range assignor so that equal partition numbers of co-partitioned topics
/// go to the same member. Not thread-safe; use from one thread.
class consumer {
public:
  static caf::expected<std::unique_ptr<consumer>> make(const consumer_options& opts);
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Joins the group for these topics (assignment comes with later polls).
  caf::error subscribe(const std::vector<std::string>& topics);
  /// Reads the given partitions from the given offsets, without group membership.
  caf::error assign(const std::vector<partition_offset>& from);
  /// Waits up to `timeout` for one record (librdkafka 2.0.2's batch API can lose
  /// records in a rebalance, so records come one at a time).
  caf::expected<poll_event> poll(milliseconds timeout);
  /// Stops delivering records of these assigned partitions (records already fetched
  /// are dropped) until resume().
  caf::error pause(const std::vector<topic_partition>& tps);
  caf::error resume(const std::vector<topic_partition>& tps);
  /// Moves the read position of an assigned partition (offset -2: the beginning).
  caf::error seek(const partition_offset& to, milliseconds timeout);
  /// Commits these positions synchronously.
  caf::error commit(const std::vector<partition_offset>& offsets);
  /// The committed positions of these partitions (-1001 where none is committed). With
  /// read_committed, offsets held by a transaction that has not ended are "unstable":
  /// then this fails with a retriable error, never answers -1001.
  caf::expected<std::vector<partition_offset>> committed(const std::vector<topic_partition>& tps,
                                                         milliseconds timeout);
  /// The low and high watermark offsets of a partition, asked of the broker.
  /// Beware: librdkafka 2.0.2 may wait far longer than `timeout` (up to its
  /// socket timeout, and more) while no broker is up.
  caf::expected<std::pair<int64_t, int64_t>> watermarks(const topic_partition& tp,
                                                        milliseconds timeout);
  /// Whether a broker answers a metadata request within `timeout` (which, unlike
  /// watermarks(), holds while no broker is up).
  caf::error probe(milliseconds timeout);
  /// For each partition, the offset of the first record at or after `timestamp_ms`
  /// (the partition's end where there is none), asked of the broker.
  caf::expected<std::vector<partition_offset>>
  offsets_for_time(const std::vector<topic_partition>& tps, int64_t timestamp_ms,
                   milliseconds timeout);
  /// Records between the read position and the last known end of each assigned
  /// partition, from what the fetches saw (no request to the broker). Partitions
  /// without a known position or end count 0.
  int64_t lag();
  /// The same per assigned partition (each listed, 0 where not known).
  std::vector<partition_lag> lags();
  /// The partitions currently assigned to this member.
  caf::expected<std::vector<topic_partition>> assignment();
  /// Leaves the group. Also done by the destructor.
  void close();

  /// The underlying handle, for the producer's send_offsets_to_transaction.
  RdKafka::KafkaConsumer& handle() noexcept;

private:
  struct impl;
  explicit consumer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace bps::kafka
