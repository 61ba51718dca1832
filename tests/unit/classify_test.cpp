#define CAF_SUITE kafka.classify
#include <caf/test/unit_test.hpp>

#include <librdkafka/rdkafka.h>

#include "bps/kafka/classify.hpp"

using namespace bps::kafka;

namespace {

struct code_row {
  rd_kafka_resp_err_t code;
  error_class expected;
};

struct step_row {
  txn_step step;
  error_class cls;
  txn_action expected;
};

} // namespace

CAF_TEST(an error code alone is classified by the table of librdkafka codes) {
  const code_row rows[] = {
    {RD_KAFKA_RESP_ERR_NO_ERROR, error_class::ok},
    {RD_KAFKA_RESP_ERR__FENCED, error_class::fatal},
    {RD_KAFKA_RESP_ERR_PRODUCER_FENCED, error_class::fatal},
    {RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, error_class::fatal},
    {RD_KAFKA_RESP_ERR__FATAL, error_class::fatal},
    {RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, error_class::fatal},
    {RD_KAFKA_RESP_ERR__TRANSPORT, error_class::retriable},
    {RD_KAFKA_RESP_ERR__TIMED_OUT, error_class::retriable},
    {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, error_class::retriable},
    {RD_KAFKA_RESP_ERR__QUEUE_FULL, error_class::retriable},
    {RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, error_class::retriable},
    {RD_KAFKA_RESP_ERR_NOT_COORDINATOR, error_class::retriable},
    {RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, error_class::retriable},
    {RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, error_class::retriable},
    {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, error_class::retriable},
    {RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT, error_class::retriable},
    {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, error_class::abortable},
    {RD_KAFKA_RESP_ERR__PURGE_QUEUE, error_class::abortable},
    {RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, error_class::abortable},
    {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, error_class::permanent},
    {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, error_class::permanent},
    {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, error_class::permanent},
    {RD_KAFKA_RESP_ERR__INVALID_ARG, error_class::permanent},
  };
  for (const auto& row : rows) {
    CAF_MESSAGE("code " << rd_kafka_err2name(row.code));
    CAF_CHECK_EQUAL(to_string(classify(error_facts{row.code})), to_string(row.expected));
  }
}

CAF_TEST(the flags of a transaction error win over its code and fatal wins first) {
  // A retriable code flagged fatal is fatal: the flags come from librdkafka's own
  // knowledge of the transaction state.
  auto timed_out = static_cast<int>(RD_KAFKA_RESP_ERR__TIMED_OUT);
  CAF_CHECK(classify({timed_out, true, true, true}) == error_class::fatal);
  CAF_CHECK(classify({timed_out, false, true, true}) == error_class::abortable);
  CAF_CHECK(classify({timed_out, false, true, false}) == error_class::retriable);
  auto state = static_cast<int>(RD_KAFKA_RESP_ERR__STATE);
  CAF_CHECK(classify({state, false, false, false}) == error_class::permanent);
  CAF_CHECK(classify({state, false, true, false}) == error_class::retriable);
  CAF_CHECK(classify({state, false, false, true}) == error_class::abortable);
}

CAF_TEST(each failed transaction step leads to the action of librdkafka examples) {
  const step_row rows[] = {
    {txn_step::commit, error_class::ok, txn_action::proceed},
    // A commit that timed out may have succeeded: retry it, never abort it.
    {txn_step::commit, error_class::retriable, txn_action::retry},
    {txn_step::commit, error_class::abortable, txn_action::abort_and_rewind},
    {txn_step::commit, error_class::fatal, txn_action::recreate_producer},
    {txn_step::commit, error_class::permanent, txn_action::recreate_producer},
    {txn_step::produce, error_class::abortable, txn_action::abort_and_rewind},
    {txn_step::produce, error_class::permanent, txn_action::abort_and_rewind},
    {txn_step::produce, error_class::retriable, txn_action::retry},
    {txn_step::send_offsets, error_class::abortable, txn_action::abort_and_rewind},
    {txn_step::send_offsets, error_class::fatal, txn_action::recreate_producer},
    {txn_step::abort, error_class::retriable, txn_action::retry},
    {txn_step::abort, error_class::abortable, txn_action::recreate_producer},
    {txn_step::abort, error_class::permanent, txn_action::recreate_producer},
    {txn_step::init, error_class::retriable, txn_action::retry},
    {txn_step::init, error_class::fatal, txn_action::recreate_producer},
    {txn_step::init, error_class::permanent, txn_action::fail},
    {txn_step::begin, error_class::permanent, txn_action::fail},
  };
  for (const auto& row : rows) {
    CAF_MESSAGE(to_string(row.step) << " failing " << to_string(row.cls));
    CAF_CHECK_EQUAL(to_string(next_action(row.step, row.cls)), to_string(row.expected));
  }
}

CAF_TEST(an error class survives the trip through a bps error code) {
  for (auto cls : {error_class::ok, error_class::retriable, error_class::abortable,
                   error_class::fatal, error_class::permanent})
    CAF_CHECK_EQUAL(to_string(class_of(to_ec(cls))), to_string(cls));
  CAF_CHECK(class_of(bps::ec::invalid_argument) == error_class::permanent);
  CAF_CHECK(class_of(bps::ec::timeout) == error_class::retriable);
}
