#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "bps/kafka/types.hpp"

namespace RdKafka {
class Producer;
} // namespace RdKafka

namespace bps::kafka {

class consumer;

/// Settings of a producer. Every producer is idempotent; with a transactional id
/// it is transactional too.
struct producer_options {
  std::string bootstrap;
  /// Empty: not transactional. Must be stable per node so that a restarted node
  /// fences its predecessor's open transaction.
  std::string transactional_id;
  milliseconds transaction_timeout{10000};
  properties extra;
};

/// RAII owner of a librdkafka producer. Produce only enqueues: call poll() or
/// flush() to serve delivery reports. Not thread-safe; use from one thread.
/// Errors are bps errors whose code tells the class (see classify.hpp).
class producer {
public:
  static caf::expected<std::unique_ptr<producer>> make(const producer_options& opts);
  /// Closes (see close()) with a bound of 5 s unless closed already.
  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  /// Fetches these topics' metadata now (each within `timeout`; stops at the first
  /// failure, which it returns: the first record to a topic then fetches it). Without
  /// it, the first record to a topic waits for librdkafka's topic scan: up to a second
  /// in a transactional producer (measured 2026-12-06: a fresh node's first decisions
  /// took 1.8 and 2.0 s, later ones 35 ms; bench/first-decision).
  caf::error warm(const std::vector<std::string>& topics, milliseconds timeout);

  /// Enqueues a record; partition -1 picks the partition by key (murmur2, like
  /// the Java client). A full local queue is back-pressure: polls and retries up
  /// to `queue_wait`, then fails as retriable. `headers` go with the record.
  caf::error produce(const std::string& topic, std::string_view key, std::string_view value,
                     int32_t partition = -1, record_headers headers = {},
                     milliseconds queue_wait = milliseconds{10000});

  /// Called once per record produced with produce_notify, from the thread that
  /// polls: no error and the record's partition and offset, or the error.
  using delivery_callback
    = std::function<void(const caf::error&, int32_t partition, int64_t offset)>;

  /// Like produce, but tells `done` the record's fate (and does not record it for
  /// take_delivered). Never polls: a full local queue fails at once as retriable,
  /// so another thread may poll this producer meanwhile.
  caf::error produce_notify(const std::string& topic, std::string_view key, std::string_view value,
                            delivery_callback done, record_headers headers = {});

  /// Serves delivery reports for up to `timeout`; returns the number served.
  int poll(milliseconds timeout);

  /// Waits until everything enqueued is delivered, and reports the first delivery
  /// failure since the last flush (and resets it).
  caf::error flush(milliseconds timeout);

  /// Delivers what it holds for up to `timeout`, then drops the rest (their
  /// delivery callbacks hear of it), so that a producer that cannot reach Kafka
  /// never holds up a stop. Nothing may be produced afterwards.
  void close(milliseconds timeout);

  caf::error init_transactions(milliseconds timeout);
  caf::error begin_transaction();
  /// Adds the consumer's positions to the open transaction (KIP-447: with the
  /// consumer's group metadata, so a fenced group member cannot commit).
  caf::error send_offsets_to_transaction(const std::vector<partition_offset>& offsets,
                                         consumer& source, milliseconds timeout);
  caf::error commit_transaction(milliseconds timeout);
  caf::error abort_transaction(milliseconds timeout);

  /// The offsets delivered per partition since the last call (served by
  /// poll/flush/commit), in delivery order, and forgets them.
  std::map<topic_partition, std::vector<int64_t>> take_delivered();

  /// Delivery failures seen so far (all time).
  uint64_t delivery_failures() const noexcept;

  struct impl;

private:
  explicit producer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace bps::kafka
