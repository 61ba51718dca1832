#pragma once

// Catching up: bringing the state stores of partitions a node takes over (or must
// rebuild) up to date with the committed log, a little at a time. The processing loop
// calls step() between polls, so that it keeps serving its other partitions and
// stays in its consumer group however long the log is (it never runs inside the
// rebalance callback). Internal to the actors library; no CAF here.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "bps/actors/state_store.hpp"
#include "bps/kafka/topics.hpp"
#include "bps/kafka/types.hpp"

namespace bps::kafka {
class consumer;
} // namespace bps::kafka

namespace bps {

/// Where a partition's catch-up stops: the end of each of its logs, measured after
/// the partition's committed input offsets were known to be stable. Every output a
/// previous owner committed together with those offsets lies below these ends.
using catch_up_target = store_positions;

/// Reads the committed outputs (items, purchase and command outcomes) of several
/// partitions from their stores' positions to their targets, with read_committed, and
/// applies them to the stores. Reading to a target waits for every transaction below
/// it to end, so nothing a zombie commits late is missed.
class catch_up {
public:
  catch_up(std::string bootstrap, kafka::topic_names topics, kafka::properties extra);
  ~catch_up();
  catch_up(const catch_up&) = delete;
  catch_up& operator=(const catch_up&) = delete;

  /// Starts reading partition `p` into `store` (which must outlive the reading, or be
  /// removed first) from the store's positions to `target`.
  caf::error add(int32_t p, state_store& store, const catch_up_target& target);
  /// Stops reading `p` (revoked, or to be started again).
  void remove(int32_t p);
  bool busy() const noexcept {
    return !parts_.empty();
  }
  /// Reads for about `budget` and applies what it read. Returns the partitions whose
  /// stores reached their targets (they are no longer read). An error names a
  /// partition whose store could not be written, or a reader that failed: the caller
  /// removes the partitions concerned and starts them again.
  struct failure {
    caf::error error;
    /// The store could not be written (else the reader failed).
    bool store = false;
  };
  struct step_result {
    /// Partitions whose stores reached their targets, with the records read for each.
    std::vector<std::pair<int32_t, size_t>> done;
    /// Partitions that failed, with the reason.
    std::map<int32_t, failure> failed;
    /// Records read in this step.
    size_t records = 0;
  };
  step_result step(std::chrono::milliseconds budget);

  /// Testing only (--fault catch-up-slow): every batch write takes this much longer.
  void slow_writes_by(std::chrono::milliseconds extra) {
    slow_ = extra;
  }

private:
  struct part;
  caf::error reassign();
  caf::error flush(int32_t p, part& x, bool final);

  std::string bootstrap_;
  kafka::topic_names topics_;
  kafka::properties extra_;
  std::unique_ptr<kafka::consumer> reader_;
  std::map<int32_t, std::unique_ptr<part>> parts_;
  bool assignment_changed_ = false;
  std::chrono::milliseconds slow_{0};
};

} // namespace bps
