#pragma once

// The commands of the bps executable, one function each. main.cpp parses and
// validates options into these structs; each function returns the exit code.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "usage.hpp"

namespace bps::cli {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
/// `bps node` did not stop within its deadline, or got a second signal.
constexpr int exit_forced = 3;
/// `bps purchase` / `bps item ...`: the request was decided and refused (FAILED or
/// REJECTED; the outcome, printed, says why).
constexpr int exit_refused = 4;
/// `bps purchase` / `bps item ...`: the request is written but no outcome came within
/// --wait-ms (a node decides it later).
constexpr int exit_undecided = 5;

/// Options of every command that talks to Kafka.
struct kafka_options {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic_prefix = "bps.";
  int64_t timeout_ms = 10000;
  /// --kafka-property KEY=VALUE as given (checked into `extra` before use).
  std::vector<std::string> properties;
  /// librdkafka properties for every client of the command (security, tuning).
  std::map<std::string, std::string> extra;
  /// False if --bootstrap came from nowhere (the default above is used).
  bool bootstrap_given = false;
};

/// The text of a Kafka error for the user (see usage.hpp).
inline std::string kafka_failure(const caf::error& err, const kafka_options& k) {
  return kafka_failure(err, k.bootstrap, k.bootstrap_given);
}

/// Prints "bps: error: ..." and returns `code`.
int fail(const std::string& text, int code);

struct node_options {
  std::string node_id;
  int64_t commit_interval_ms = 20;
  int64_t max_in_flight = 10000;
  int64_t transaction_timeout_ms = 10000;
  int32_t partitions = 12;
  uint32_t chaos_abort_every = 0;
  std::string state_dir;
  int64_t idle_timeout_ms = 60000;
  int64_t max_live_items = 100000;
  /// CAF worker threads for the item actors; 0: one less than the cores (at least 1).
  int64_t worker_threads = 0;
  /// Processing lanes: consumer group members with their own transactional
  /// producer, each deciding its share of the partitions while another commits.
  int64_t lanes = 2;
  uint32_t chaos_crash_after_commit = 0;
  /// Testing only: NAME=N faults (see bps/actors/faults.hpp).
  std::vector<std::string> faults;
  /// HTTP gateway: ADDR:PORT, or "off".
  std::string http = "127.0.0.1:8080";
  int64_t http_threads = 2;
  /// "on": API keys required; "off": every route open (a local demo).
  std::string http_auth = "on";
  /// NAME:ROLE:TOKEN[,NAME:ROLE:TOKEN...]
  std::string http_api_keys;
  int64_t http_max_wait_ms = 30000;
  int64_t http_command_wait_ms = 10000;
  int64_t http_max_body_bytes = 65536;
  int64_t http_max_header_bytes = 8192;
  int64_t http_read_timeout_ms = 10000;
  int64_t http_max_in_flight = 10000;
  int64_t http_max_streams = 100;
  int64_t http_idempotency_window_ms = 24LL * 3600 * 1000;
  /// Shed writes for a partition whose oldest undecided write (of this node) is
  /// older than this; 0: never.
  int64_t http_max_decision_lag_ms = 1000;
  /// Refuse writes at once while the gateway's queue delay is above this; 0: never.
  int64_t http_max_queue_delay_ms = 200;
  /// On SIGTERM/SIGINT: how long waiting clients may wait for their outcome
  /// before they get 202 (the processor keeps running meanwhile).
  int64_t http_drain_ms = 3000;
  /// The watchdog: the whole stop's deadline from the signal; 0: the HTTP drain
  /// + the transaction timeout + 5 s.
  int64_t stop_timeout_ms = 0;
};
int run_node(const kafka_options& k, const node_options& n);

/// What `bps item ...` and `bps purchase` write.
struct write_options {
  std::string item_id;
  std::string id; ///< purchaseId or commandId; generated when empty
  std::string description;
  int64_t quantity = 0;
  int64_t amount = 0;
  std::string purchased_by;
  std::optional<int64_t> expected_version;
  /// How long to wait for the committed outcome (0: do not wait).
  int64_t wait_ms = 10000;
};
/// kind: "purchase", "insert", "set-quantity", "restock", "set-description".
int run_write(const kafka_options& k, const std::string& kind, const write_options& w);

struct replay_options {
  bool verify = false;
  bool allow_undecided = false;
  std::string state_dir;
};
int run_replay(const kafka_options& k, const replay_options& r);

} // namespace bps::cli
