#pragma once

// Internals shared by the kafka/ wrappers: configuration building, logging of
// librdkafka events, and turning librdkafka errors into bps errors.

#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <librdkafka/rdkafkacpp.h>

#include "bps/kafka/types.hpp"

namespace bps::kafka::detail {

/// Routes librdkafka's log and error events to the process logger.
class log_events : public RdKafka::EventCb {
public:
  void event_cb(RdKafka::Event& event) override;
};

/// The shared event callback (stateless, lives for the whole process).
log_events& event_logger();

/// Builds a global configuration from bps' defaults, then the user's extras.
/// A property librdkafka rejects is an invalid_argument error naming it.
caf::expected<std::unique_ptr<RdKafka::Conf>> make_conf(const properties& defaults,
                                                        const properties& extra);

/// An error from an ErrorCode; no error for ERR_NO_ERROR.
caf::error from_code(std::string_view what, RdKafka::ErrorCode code);

/// An error from an RdKafka::Error (transaction API); takes ownership of `err`.
caf::error from_error(std::string_view what, RdKafka::Error* err);

/// Converts to librdkafka's partition list; free it with RdKafka::TopicPartition::destroy.
std::vector<RdKafka::TopicPartition*> to_rd(const std::vector<partition_offset>& offsets);

/// Frees a partition list when it goes out of scope.
struct partition_list_guard {
  std::vector<RdKafka::TopicPartition*>& list;
  ~partition_list_guard() {
    RdKafka::TopicPartition::destroy(list);
  }
};

} // namespace bps::kafka::detail
