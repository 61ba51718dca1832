#pragma once

// Where a node's own records land in an output partition (purchases, item-commands),
// and what that says about other writers there: pure rules over offsets, no Kafka.
// The processor applies them to each transaction's delivery reports before it commits
// (docs/state.md, "Catching up").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bps::own_outputs {

/// Where this node's next record in one output partition may land first.
struct expectation {
  /// Right after the marker of this node's previous committed transaction there, when
  /// it has committed one since the partition was last caught up.
  std::optional<int64_t> after_own_marker;
  /// Otherwise: the end the last catch-up read to (the offset of the next record).
  /// One offset more is allowed: the marker of the previous owner's last transaction,
  /// whose commit the catch-up waited for, may lie there.
  int64_t caught_up_end = 0;

  /// The highest offset this node's first record may take.
  int64_t first_allowed() const {
    return after_own_marker ? *after_own_marker : caught_up_end + 1;
  }
};

/// Why the offsets that one transaction's records took in one output partition show
/// records of another writer before or among them (one producer's records of one
/// transaction in one partition are contiguous), or nothing. `where` names the
/// partition in the answer (e.g. "bps.purchases/3").
///
/// Not seen: a single record another writer adds between a catch-up and this node's
/// first write there, which takes the offset a marker may take.
std::optional<std::string> foreign_records(std::string_view where,
                                           const std::vector<int64_t>& offsets,
                                           const expectation& expected);

/// After a commit: where this node's next record in the partition lands (after the
/// commit marker that follows its last record), or nothing if it wrote none there.
std::optional<int64_t> next_after_commit(const std::vector<int64_t>& offsets);

} // namespace bps::own_outputs
