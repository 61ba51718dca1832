#pragma once

// Checks a whole recorded history against the invariants of ARCHITECTURE.md. Pure:
// `bps replay` feeds it the records it reads; tests feed it broken histories.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bps/actors/codec.hpp"
#include "bps/actors/domain.hpp"
#include "bps/actors/state_store.hpp"

namespace bps::domain {

/// Collects records in log order, then rebuilds and checks.
/// Where a record is in the log.
struct log_position {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;
  friend auto operator<=>(const log_position&, const log_position&) = default;
};

class history {
public:
  using position = log_position;

  /// A record of the purchases topic (CREATED or an outcome).
  void add(const purchase& p, const position& at = {});
  /// A record of the item-commands topic (REQUESTED or a result).
  void add(const item_command& c, const position& at = {});
  /// A request read from a request topic (purchase-requests, item-command-requests),
  /// status CREATED / REQUESTED: it needs an outcome in the output topic, or a dead
  /// letter naming its position.
  void add_request(const purchase& p, const position& at);
  void add_request(const item_command& c, const position& at);
  /// A record of the items topic (later records of an item replace earlier ones,
  /// like compaction does).
  void add_snapshot(const item& x);
  /// A record of the dead-letters topic. A request it names was rejected as bad
  /// input (e.g. a purchaseId given twice) and needs no outcome.
  void add_dead_letter(const dead_letter& d);
  /// A record of the idempotency-keys topic, in its partition's order (the caller
  /// leaves out claims in another partition than their id's: they are never first).
  void add_claim(const claim& c, const position& at = {});

  struct summary {
    size_t items = 0;
    size_t purchases_created = 0;
    size_t purchases_successful = 0;
    size_t purchases_failed = 0;
    size_t commands_requested = 0;
    size_t commands_applied = 0;
    size_t commands_rejected = 0;
    size_t dead_letters = 0;
    /// Requests that went to dead letters instead of getting an outcome.
    size_t rejected_requests = 0;
    /// Purchases or commands with no outcome yet (still in flight when read).
    size_t undecided = 0;
    /// Claim records, and the ids they claim.
    size_t claims = 0;
    size_t claimed_ids = 0;
    /// Every invariant broken, one sentence each, naming the item or id.
    std::vector<std::string> violations;
    /// The state rebuilt from the chains of outcomes, per item.
    std::map<std::string, item> rebuilt;
    /// The one outcome of each decided purchase.
    std::map<std::string, purchase> outcomes;
  };

  /// Rebuilds each item from its chain of outcomes and checks: every CREATED
  /// purchase and REQUESTED command has exactly one outcome (none without a
  /// request); each item's versions form a chain 1..N with no gap and no step twice;
  /// every step is a valid transition; no oversell; the last snapshot in `items`
  /// equals the rebuilt item; no CREATED purchase or REQUESTED command has an id
  /// whose first claim is for another request. With `allow_undecided`, requests
  /// without an outcome are counted, not reported.
  summary check(bool allow_undecided = false) const;

private:
  std::vector<std::pair<purchase, position>> purchases_;
  std::vector<std::pair<item_command, position>> commands_;
  std::vector<std::pair<purchase, position>> purchase_requests_;
  std::vector<std::pair<item_command, position>> command_requests_;
  std::map<std::string, item> snapshots_;
  std::set<position> dead_lettered_;
  size_t dead_letters_ = 0;
  /// The first claim of each id (the lowest position) and how many claims there were.
  std::map<std::string, std::pair<claim, position>> first_claims_;
  size_t claims_ = 0;
};

/// How a node's state store compares with the replayed log.
struct store_check {
  size_t items = 0;
  /// Items at an older version than the log: the store catches up on assignment.
  size_t behind = 0;
  size_t purchases = 0;
  std::vector<std::string> violations;
};

/// Compares a store with a replay: no item is ahead of the log, an item at the
/// log's version equals the rebuilt one, and every stored purchase outcome is the
/// log's outcome.
store_check check_store(bps::state_store& store, const history::summary& replay,
                        const std::string& name);

} // namespace bps::domain
