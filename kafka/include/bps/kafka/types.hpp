#pragma once

// Plain value types that cross the kafka/ boundary. No librdkafka include.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bps::kafka {

using std::chrono::milliseconds;

/// librdkafka properties (e.g. {"linger.ms", "5"}), applied after bps' defaults.
using properties = std::map<std::string, std::string>;

/// One partition of one topic.
struct topic_partition {
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const topic_partition&, const topic_partition&) = default;
  friend auto operator<=>(const topic_partition&, const topic_partition&) = default;
};

/// A header of a record to produce: its name and value (copied when produced).
struct record_header {
  std::string_view name;
  std::string_view value;
};
using record_headers = std::span<const record_header>;

/// How many records of a partition are not read yet.
struct partition_lag {
  std::string topic;
  int32_t partition = 0;
  int64_t records = 0;
};

/// The offset that means "the first record there is" (librdkafka's
/// RD_KAFKA_OFFSET_BEGINNING), for assign and seek.
inline constexpr int64_t offset_beginning = -2;

/// A position in a partition: the offset of the next record to read.
struct partition_offset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  friend bool operator==(const partition_offset&, const partition_offset&) = default;
};

/// One consumed record. Key and value are absent for null (not for empty).
struct record {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp_ms = 0;
};

/// What one consumer poll yielded.
struct poll_event {
  enum class kind { message, partition_eof, timeout };
  kind what = kind::timeout;
  /// The record (kind::message), or topic/partition/offset of the end (partition_eof).
  record rec;
};

/// A topic as bps wants it.
struct topic_spec {
  std::string name;
  int32_t partitions = 1;
  int16_t replication_factor = 1;
  /// Topic configs that must hold, e.g. {"cleanup.policy", "compact"}.
  std::map<std::string, std::string> configs;
};

/// A topic as the cluster has it.
struct topic_description {
  std::string name;
  int32_t partitions = 0;
  std::map<std::string, std::string> configs;
};

} // namespace bps::kafka
