#pragma once

// Faults a node injects into itself on purpose, for the fault-injection suite
// (tests/fault). Each names one moment of the processing loop that random timing
// rarely hits, and the Nth time it is reached in the node (all its lanes together).
// No CAF.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bps {

/// Which faults to inject, by occurrence (0: never).
struct fault_plan {
  /// Stop this process with SIGSTOP right before the Nth commit_transaction, after
  /// the offsets were sent to the transaction: a zombie holding a transaction that
  /// can still commit. Whoever sends SIGCONT decides when it resumes.
  uint32_t pause_before_commit = 0;
  /// The Nth state-store write after a commit fails (as a full disk would).
  uint32_t store_fail = 0;
  /// The Nth read of a request's id from a state store, counting only reads made while
  /// item actors owe the open transaction answers, fails (as a failing disk would): the
  /// transaction aborts with decisions in flight, whose answers come late.
  uint32_t read_fail = 0;
  /// The Nth fetch of committed offsets, when the node rewinds or takes over
  /// partitions, fails (as a restarting group coordinator would make it).
  uint32_t offsets_fail = 0;
  /// The Nth commit succeeds, but the node is told its result is unknown (as when
  /// retries run out): it must find out from Kafka what happened.
  uint32_t commit_unknown = 0;
  /// Every write of a catch-up batch (up to 5,000 records) takes N ms longer (as a
  /// slow disk would): a long catch-up, which must not cost the node its group.
  uint32_t catch_up_slow = 0;

  /// How often each moment was reached, shared by the copies of the plan (one per
  /// lane), so that a fault fires once per node.
  struct counts {
    std::atomic<uint32_t> commits{0};
    std::atomic<uint32_t> store_writes{0};
    std::atomic<uint32_t> store_reads{0};
    std::atomic<uint32_t> offset_fetches{0};
  };
  std::shared_ptr<counts> reached = std::make_shared<counts>();

  bool any() const noexcept {
    return pause_before_commit + store_fail + read_fail + offsets_fail + commit_unknown
             + catch_up_slow
           > 0;
  }
};

/// Adds one fault given as NAME=N (pause-before-commit, store-fail, read-fail,
/// offsets-fail, commit-unknown, catch-up-slow; N >= 1) to `plan`. Returns what is wrong with
/// `spec`, if anything.
std::optional<std::string> add_fault(fault_plan& plan, std::string_view spec);

/// The plan as NAME=N words, for the log.
std::string to_string(const fault_plan& plan);

} // namespace bps
