#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>

#include "bps/kafka/types.hpp"

namespace bps::kafka {

class consumer;

/// Reads partitions from their beginning to their current end (read_committed: to
/// the last stable offset), without joining a group, calling `on_record` for each
/// record in partition order. For rehydration and replay.
caf::error read_to_end(const std::string& bootstrap, const std::vector<topic_partition>& partitions,
                       const std::function<void(const record&)>& on_record, milliseconds timeout,
                       const properties& extra = {});

/// The same from given offsets (-2: the beginning); `on_end` is told the offset
/// where each partition ended (the next offset to read later).
caf::error read_to_end(const std::string& bootstrap, const std::vector<partition_offset>& from,
                       const std::function<void(const record&)>& on_record,
                       const std::function<void(const partition_offset&)>& on_end,
                       milliseconds timeout, const properties& extra = {});

/// The ends of logs as the broker has them: high watermarks, which count the records
/// of transactions that have not ended yet. (A read_committed client asking for
/// watermarks is told the last stable offset instead, which stops before them.)
class log_ends {
public:
  static caf::expected<std::unique_ptr<log_ends>> make(const std::string& bootstrap,
                                                       const properties& extra = {});
  ~log_ends();
  log_ends(const log_ends&) = delete;
  log_ends& operator=(const log_ends&) = delete;
  caf::expected<int64_t> end(const topic_partition& tp, milliseconds timeout);
  /// The low and high watermarks: the first offset still in the log and the end.
  caf::expected<std::pair<int64_t, int64_t>> range(const topic_partition& tp, milliseconds timeout);

private:
  explicit log_ends(std::unique_ptr<consumer> c);
  std::unique_ptr<consumer> c_;
};

/// One log's end, with a client made for the purpose.
caf::expected<int64_t> log_end(const std::string& bootstrap, const topic_partition& tp,
                               milliseconds timeout, const properties& extra = {});

/// The partition Kafka's Java client picks for a key: murmur2 of the key bytes,
/// positive, modulo the partition count. bps produces with the same partitioner
/// (librdkafka's murmur2_random) and checks records against it.
int32_t partition_for(std::string_view key, int32_t partitions) noexcept;

/// Kafka's murmur2 hash of the key bytes (org.apache.kafka.common.utils.Utils.murmur2).
uint32_t murmur2(std::string_view key) noexcept;

} // namespace bps::kafka
