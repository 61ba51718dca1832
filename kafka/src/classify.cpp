#include "bps/kafka/classify.hpp"

#include <librdkafka/rdkafka.h>

namespace bps::kafka {

namespace {

error_class classify_code(int code) noexcept {
  switch (static_cast<rd_kafka_resp_err_t>(code)) {
    case RD_KAFKA_RESP_ERR_NO_ERROR: return error_class::ok;
    // The producer was fenced or lost its identity: only a new instance helps.
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID: return error_class::fatal;
    // Transient: the broker or the network will be back.
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    // Offsets held by a transaction that has not ended yet (KIP-447): ask again later.
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT: return error_class::retriable;
    // A message of the open transaction was lost: the transaction cannot commit.
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER: return error_class::abortable;
    default: return error_class::permanent;
  }
}

} // namespace

error_class classify(const error_facts& facts) noexcept {
  if (facts.is_fatal)
    return error_class::fatal;
  if (facts.txn_requires_abort)
    return error_class::abortable;
  if (facts.is_retriable)
    return error_class::retriable;
  return classify_code(facts.code);
}

txn_action next_action(txn_step step, error_class cls) noexcept {
  switch (cls) {
    case error_class::ok: return txn_action::proceed;
    case error_class::fatal: return txn_action::recreate_producer;
    case error_class::retriable: return txn_action::retry;
    case error_class::abortable:
      // Aborting an abort cannot help; neither can aborting before a transaction exists.
      if (step == txn_step::abort || step == txn_step::init)
        return txn_action::recreate_producer;
      return txn_action::abort_and_rewind;
    case error_class::permanent:
      switch (step) {
        case txn_step::produce:
        case txn_step::send_offsets: return txn_action::abort_and_rewind;
        case txn_step::commit:
        case txn_step::abort:
          // The transaction's fate is unknown to us: a new producer with the same
          // transactional id resolves it (the coordinator aborts or completes it).
          return txn_action::recreate_producer;
        case txn_step::init:
        case txn_step::begin: return txn_action::fail;
      }
  }
  return txn_action::fail;
}

ec to_ec(error_class cls) noexcept {
  switch (cls) {
    case error_class::ok: return ec::none;
    case error_class::retriable: return ec::kafka_retriable;
    case error_class::abortable: return ec::kafka_abortable;
    case error_class::fatal: return ec::kafka_fatal;
    case error_class::permanent: return ec::kafka_error;
  }
  return ec::kafka_error;
}

error_class class_of(ec code) noexcept {
  switch (code) {
    case ec::none: return error_class::ok;
    case ec::kafka_retriable:
    case ec::timeout: return error_class::retriable;
    case ec::kafka_abortable: return error_class::abortable;
    case ec::kafka_fatal: return error_class::fatal;
    default: return error_class::permanent;
  }
}

const char* to_string(error_class cls) noexcept {
  switch (cls) {
    case error_class::ok: return "ok";
    case error_class::retriable: return "retriable";
    case error_class::abortable: return "abortable";
    case error_class::fatal: return "fatal";
    case error_class::permanent: return "permanent";
  }
  return "?";
}

const char* to_string(txn_action action) noexcept {
  switch (action) {
    case txn_action::proceed: return "proceed";
    case txn_action::retry: return "retry";
    case txn_action::abort_and_rewind: return "abort_and_rewind";
    case txn_action::recreate_producer: return "recreate_producer";
    case txn_action::fail: return "fail";
  }
  return "?";
}

const char* to_string(txn_step step) noexcept {
  switch (step) {
    case txn_step::init: return "init";
    case txn_step::begin: return "begin";
    case txn_step::produce: return "produce";
    case txn_step::send_offsets: return "send_offsets";
    case txn_step::commit: return "commit";
    case txn_step::abort: return "abort";
  }
  return "?";
}

} // namespace bps::kafka
