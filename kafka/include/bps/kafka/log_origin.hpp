#pragma once

// Which log a store was built from. A topic deleted and created anew under the same
// name starts again at offset 0, and once the new log has grown past a store's
// positions nothing in the offsets tells the two apart. A store therefore keeps a
// fingerprint of the first record it read of each log and, before it trusts its
// positions, asks whether the log still holds that record at that offset.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "bps/kafka/types.hpp"

namespace bps::kafka {

/// A fingerprint of one record: its offset, its timestamp and a digest of its key and
/// value. Stored as text ("<offset> <timestamp ms> <digest, 16 hex digits>").
struct log_origin {
  int64_t offset = -1;
  int64_t timestamp_ms = 0;
  uint64_t digest = 0;
  std::string to_string() const;
  /// The fingerprint written by to_string(); offset -1 if `text` is not one.
  static log_origin parse(const std::string& text);
  friend bool operator==(const log_origin&, const log_origin&) = default;
};

/// The fingerprint of one record.
log_origin origin_of(const record& rec);

/// Reads the record at `origin.offset` of `tp` and compares. True if it is the same
/// record; false if the log holds another record there or none at all (an origin with
/// offset -1 is never the same).
caf::expected<bool> same_origin(const std::string& bootstrap, const topic_partition& tp,
                                const log_origin& origin, const properties& extra,
                                std::chrono::milliseconds timeout);

/// The fingerprints of the records at the given offsets (read_uncommitted: the record
/// is there whoever wrote it); a partition whose log holds no record there is left out.
caf::expected<std::map<topic_partition, log_origin>>
origins_at(const std::string& bootstrap, const std::map<topic_partition, int64_t>& offsets,
           const properties& extra, std::chrono::milliseconds timeout);

/// The same for several partitions at once, with one client: the partitions whose
/// log does not hold their origin (empty if every one does).
caf::expected<std::vector<topic_partition>>
other_origins(const std::string& bootstrap, const std::map<topic_partition, log_origin>& origins,
              const properties& extra, std::chrono::milliseconds timeout);

} // namespace bps::kafka
