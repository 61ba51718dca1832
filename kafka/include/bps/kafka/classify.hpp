#pragma once

// Pure decisions about librdkafka errors: no librdkafka include, tested by tables
// (tests/unit/classify_test.cpp). Codes are rd_kafka_resp_err_t values as ints.

#include <cstdint>

#include "bps/error.hpp"

namespace bps::kafka {

/// What kind of failure a librdkafka error is, following librdkafka's
/// examples/transactions.c.
enum class error_class : uint8_t {
  ok,        ///< no error
  retriable, ///< the same call succeeds if retried
  abortable, ///< the transaction must be aborted and the input re-read
  fatal,     ///< the client instance is unusable: recreate it
  permanent, ///< this call fails for good (bad topic, bad config, ...)
};

/// What librdkafka told us about an error: its code and, for rd_kafka_error_t
/// results (transaction API), its flags.
struct error_facts {
  int code = 0;
  bool is_fatal = false;
  bool is_retriable = false;
  bool txn_requires_abort = false;
};

/// Classifies an error. The flags win over the code (fatal, then requires-abort,
/// then retriable); without flags, the code alone decides.
error_class classify(const error_facts& facts) noexcept;

/// The step of the transaction loop that failed.
enum class txn_step : uint8_t { init, begin, produce, send_offsets, commit, abort };

/// What the processing loop does next.
enum class txn_action : uint8_t {
  proceed,           ///< no error
  retry,             ///< call the same step again
  abort_and_rewind,  ///< abort, seek the consumer to the committed offsets, roll state back
  recreate_producer, ///< drop the producer, make a new one, re-init, rewind
  fail,              ///< give up: a bug or a configuration error, reported to the operator
};

/// The next action after `step` failed with an error of class `cls`. A commit
/// that timed out is retried, never aborted: it may have succeeded.
txn_action next_action(txn_step step, error_class cls) noexcept;

/// The bps error code that carries an error class.
ec to_ec(error_class cls) noexcept;

/// The error class carried by a bps error code (permanent for non-Kafka codes).
error_class class_of(ec code) noexcept;

const char* to_string(error_class cls) noexcept;
const char* to_string(txn_action action) noexcept;
const char* to_string(txn_step step) noexcept;

} // namespace bps::kafka
