#pragma once

// The processing loop of a node: consume requests, route each by key to its item
// actor, produce the outcomes and snapshots, and commit them together with the
// input offsets in one Kafka transaction. No CAF types in this header.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "bps/actors/faults.hpp"
#include "bps/histogram.hpp"
#include "bps/kafka/types.hpp"

namespace caf {
class actor;
class actor_system;
} // namespace caf

namespace bps {

/// Settings of a node's processor, validated by the caller.
struct processor_config {
  std::string bootstrap;
  std::string topic_prefix;
  /// Stable per node: the transactional id derives from it, so that a restarted
  /// node fences its predecessor's open transaction at once.
  std::string node_id;
  /// This loop's number among the node's processing lanes (0-based) and how many
  /// there are. Each lane is a member of the consumer group with its own
  /// transactional producer, item actors and share of the partitions, so that one
  /// lane decides while another commits. Lane 0 keeps the ids of a one-lane node.
  size_t lane = 0;
  size_t lanes = 1;
  /// How long a transaction collects decisions before it commits.
  std::chrono::milliseconds commit_interval{20};
  /// Bound on requests sent to item actors and not yet answered; reaching it
  /// commits (and so waits for the actors) before reading more.
  size_t max_in_flight = 10000;
  /// Transaction timeout: a dead node's open transaction blocks readers at most this long.
  std::chrono::milliseconds transaction_timeout{10000};
  /// How long the item actors may take to answer everything of one transaction.
  std::chrono::milliseconds actor_timeout{30000};
  /// Where the RocksDB state stores live (one per partition); empty: in memory,
  /// rebuilt from the whole log on every assignment.
  std::string state_dir;
  /// An item actor idle this long is stopped; its state stays in the store.
  std::chrono::milliseconds idle_timeout{60000};
  /// At most this many item actors are alive in this lane; the least recently used
  /// go first.
  size_t max_live_items = 100000;
  /// Testing only: abort every Nth transaction after its outputs were produced, to
  /// exercise abort and rewind against a real broker. 0: never.
  uint32_t chaos_abort_every = 0;
  /// Testing only: SIGKILL this process right after the Nth commit, before its
  /// state reaches the state store. 0: never.
  uint32_t chaos_crash_after_commit = 0;
  /// Testing only: faults injected at chosen moments (tests/fault).
  fault_plan faults;
  /// Extra librdkafka properties for every client.
  kafka::properties extra;
};

/// Counters of a processor, readable from any thread.
struct processor_stats {
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> purchases_decided{0};
  std::atomic<uint64_t> purchases_successful{0};
  std::atomic<uint64_t> purchases_failed{0};
  std::atomic<uint64_t> commands_decided{0};
  std::atomic<uint64_t> commands_rejected{0};
  /// Times another writer's records were found in a partition's outputs after this
  /// node caught it up (each made it rebuild the partition's state from the log; a
  /// zombie's late commit, or outcomes written by a client).
  std::atomic<uint64_t> foreign_records{0};
  std::atomic<uint64_t> dead_letters{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> aborts{0};
  std::atomic<uint64_t> producer_restarts{0};
  std::atomic<uint64_t> live_actors{0};
  std::atomic<uint64_t> passivated{0};
  /// Answers of item actors that arrived after their decisions were forgotten (an
  /// abort, a new producer): dropped.
  std::atomic<uint64_t> late_replies{0};
  std::atomic<uint64_t> assigned_partitions{0};
  /// True while some partition is catching up with the log (newly assigned, or after
  /// an abort or a failure): it decides nothing until it has.
  std::atomic<bool> rehydrating{false};
  /// Records not yet read in the assigned partitions (refreshed once a second).
  std::atomic<int64_t> consumer_lag{0};
  /// How long each transaction took to commit (send_offsets_to_transaction and
  /// commit_transaction), committed ones only.
  latency_histogram commit_seconds;
  /// For each request decided: from its record's timestamp (when its writer produced
  /// it) to the commit of its outcome; what a waiting client sees, less the write.
  latency_histogram decision_seconds;

  /// The same as consumer_lag, per assigned partition.
  void set_lags(std::vector<kafka::partition_lag> lags) {
    std::lock_guard<std::mutex> guard{lags_mutex_};
    lags_ = std::move(lags);
  }
  std::vector<kafka::partition_lag> lags() const {
    std::lock_guard<std::mutex> guard{lags_mutex_};
    return lags_;
  }

  /// Adds another lane's counters, histograms and lags to these (for a node-wide
  /// view; `other` may be written meanwhile). A partition in the lags of two lanes
  /// (it just moved) counts once; consumer_lag becomes the sum of the lags.
  void add(const processor_stats& other);

private:
  mutable std::mutex lags_mutex_;
  std::vector<kafka::partition_lag> lags_;
};

/// The transactional id and consumer group instance id of a node's lane: lane 0 has
/// the one-lane node's id, `<prefix>processor.<node>`; lane k > 0 has
/// `<prefix>processor-lane<k>.<node>`, which no node id can give lane 0 (a node id
/// cannot make "processor." become "processor-").
std::string processor_member_id(const std::string& topic_prefix, const std::string& node_id,
                                size_t lane);

/// Where a lane keeps partition `p`'s state store under `state_dir`: lane 0 where a
/// one-lane node does, lane k > 0 under `lane-<k>/` (a partition that moves between
/// lanes catches up from the log, as between nodes).
std::string processor_store_dir(const std::string& state_dir, const std::string& topic_prefix,
                                size_t lane, int32_t p);

/// Starts a lane as its Kafka consumer actor (detached: a thread of its own, named
/// bps-lane<k>), which runs the loop until `stop` becomes true, then commits what is
/// open and leaves the group. Its last act is to call `done` (on its thread) with its
/// result: an error only for what it cannot recover from (bad settings, topics that
/// do not fit); Kafka outages are retried. `stop` and `stats` must outlive it.
caf::actor spawn_processor(caf::actor_system& sys, const processor_config& cfg,
                           const std::atomic<bool>& stop, processor_stats& stats,
                           std::function<void(caf::error)> done);

} // namespace bps
