#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace bps {

/// The error codes of bps. Errors travel as `caf::error` (category "bps") with a
/// human-readable message as context; `describe()` renders one for a person.
enum class ec : uint8_t {
  /// Not an error (never used in a caf::error; present so that 0 stays free).
  none = 0,
  /// A value given by a user (CLI, config, request) is invalid.
  invalid_argument,
  /// A Kafka operation failed in a way that succeeds when the same call is retried.
  kafka_retriable,
  /// A Kafka transaction failed and must be aborted; the input is re-read from the
  /// committed offsets.
  kafka_abortable,
  /// The Kafka client is unusable (e.g. fenced by a newer producer); recreate it.
  kafka_fatal,
  /// A Kafka operation failed permanently for this call (e.g. unknown topic).
  kafka_error,
  /// An existing topic does not have the partitions or configuration bps needs.
  topic_mismatch,
  /// An operation did not finish within its time limit.
  timeout,
  /// A record or file could not be decoded.
  malformed,
  /// Something that must not happen did (a bug: e.g. an exception out of a loop).
  internal,
};

/// The name of an error code, e.g. "kafka_fatal".
const char* to_string(ec code) noexcept;

/// Makes an error in the bps category with a message a person can act on.
caf::error make_error(ec code, std::string message);

/// Renders any caf::error for a log line or a terminal: "kafka_fatal: <message>".
std::string describe(const caf::error& err);

/// The bps code of an error, or ec::none if it is not a bps error.
ec code_of(const caf::error& err) noexcept;

} // namespace bps

CAF_ERROR_CODE_ENUM(bps::ec, "bps")
