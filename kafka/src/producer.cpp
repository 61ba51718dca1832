#include "bps/kafka/producer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bps/error.hpp"
#include "bps/kafka/classify.hpp"
#include "bps/kafka/consumer.hpp"
#include "detail.hpp"

namespace bps::kafka {

namespace {

/// Remembers the first delivery failure since the last flush.
class delivery_reports : public RdKafka::DeliveryReportCb {
public:
  void dr_cb(RdKafka::Message& msg) override {
    if (auto* cb = static_cast<producer::delivery_callback*>(msg.msg_opaque())) {
      std::unique_ptr<producer::delivery_callback> owned{cb};
      auto err = detail::from_code(fmt::format("delivery to {}", msg.topic_name()), msg.err());
      (*owned)(err, msg.partition(), msg.offset());
      if (err)
        ++failures;
      return;
    }
    if (msg.err() == RdKafka::ERR_NO_ERROR) {
      delivered[{msg.topic_name(), msg.partition()}].push_back(msg.offset());
      return;
    }
    ++failures;
    if (first_code == RdKafka::ERR_NO_ERROR) {
      first_code = msg.err();
      first_topic = msg.topic_name();
    }
  }
  RdKafka::ErrorCode first_code = RdKafka::ERR_NO_ERROR;
  std::string first_topic;
  std::atomic<uint64_t> failures{0};
  std::map<topic_partition, std::vector<int64_t>> delivered;
};

} // namespace

struct producer::impl {
  delivery_reports reports;
  std::unique_ptr<RdKafka::Producer> handle;
  /// Topic handles made to fetch metadata early (kept: the producer's local topics).
  std::vector<std::unique_ptr<RdKafka::Topic>> warm;
  bool transactional = false;
  bool closed = false;
};

producer::producer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

producer::~producer() {
  close(milliseconds{5000});
}

void producer::close(milliseconds timeout) {
  if (!impl_ || !impl_->handle || impl_->closed)
    return;
  impl_->closed = true;
  // Bounded: a producer that cannot reach the broker must not hang shutdown.
  if (impl_->handle->flush(static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR)
    return;
  auto left = impl_->handle->outq_len();
  // Dropped records fail with a purge error; serving their reports runs (and
  // frees) every delivery callback still owed.
  impl_->handle->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  impl_->handle->poll(0);
  spdlog::warn("kafka: producer closed with {} records undelivered within {} ms (dropped)", left,
               timeout.count());
}

caf::expected<std::unique_ptr<producer>> producer::make(const producer_options& opts) {
  if (opts.bootstrap.empty())
    return make_error(ec::invalid_argument, "producer: bootstrap servers are empty");
  properties defaults{
    {"bootstrap.servers", opts.bootstrap},
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"linger.ms", "5"},
    {"compression.type", "lz4"},
    // The Java client's partitioner, so that every producer agrees where an itemId lives.
    {"partitioner", "murmur2_random"},
  };
  if (!opts.transactional_id.empty()) {
    defaults["transactional.id"] = opts.transactional_id;
    defaults["transaction.timeout.ms"] = std::to_string(opts.transaction_timeout.count());
    // A record must time out before its transaction does (PLATFORM-NOTES).
    defaults["message.timeout.ms"] = std::to_string(opts.transaction_timeout.count() * 9 / 10);
    // A transaction begun while the coordinator still completes the previous one
    // gets CONCURRENT_TRANSACTIONS and is retried after retry.backoff.ms (100 by
    // default): 20, as the Java client retries AddPartitionsToTxn. debug=eos at
    // 2,000/s (2 runs each, ~310 commits): the slowest send_offsets 109-116 ms
    // before, 41-46 ms after; purchase latency p99.9 189-194 ms before, 122-133 after.
    defaults["retry.backoff.ms"] = "20";
  }
  auto conf = detail::make_conf(defaults, opts.extra);
  if (!conf)
    return std::move(conf.error());
  auto p = std::unique_ptr<impl>(new impl);
  std::string errstr;
  if ((*conf)->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&p->reports), errstr)
      != RdKafka::Conf::CONF_OK)
    return make_error(ec::invalid_argument, "producer dr_cb: " + errstr);
  p->handle.reset(RdKafka::Producer::create(conf->get(), errstr));
  if (!p->handle)
    return make_error(ec::invalid_argument, "cannot create Kafka producer: " + errstr);
  p->transactional = !opts.transactional_id.empty();
  return std::unique_ptr<producer>(new producer(std::move(p)));
}

caf::error producer::warm(const std::vector<std::string>& topics, milliseconds timeout) {
  for (const auto& name : topics) {
    std::string errstr;
    std::unique_ptr<RdKafka::Topic> topic{
      RdKafka::Topic::create(impl_->handle.get(), name, nullptr, errstr)};
    if (!topic)
      return make_error(ec::invalid_argument, fmt::format("topic handle for {}: {}", name, errstr));
    RdKafka::Metadata* md = nullptr;
    auto code = impl_->handle->metadata(false, topic.get(), &md, static_cast<int>(timeout.count()));
    std::unique_ptr<RdKafka::Metadata> owned{md};
    impl_->warm.push_back(std::move(topic));
    if (auto err = detail::from_code(fmt::format("metadata of {}", name), code))
      return err;
    // The request may succeed and still say the topic does not exist.
    for (const auto* t : *owned->topics())
      if (t->topic() == name)
        if (auto err = detail::from_code(fmt::format("metadata of {}", name), t->err()))
          return err;
  }
  return {};
}

namespace {

/// librdkafka's headers of a record (null for none: no allocation); the producer takes
/// them over when produce succeeds.
std::unique_ptr<RdKafka::Headers> headers_of(record_headers headers) {
  if (headers.empty())
    return nullptr;
  std::unique_ptr<RdKafka::Headers> out{RdKafka::Headers::create()};
  for (const auto& h : headers)
    out->add(std::string{h.name}, h.value.data(), h.value.size());
  return out;
}

} // namespace

caf::error producer::produce(const std::string& topic, std::string_view key, std::string_view value,
                             int32_t partition, record_headers headers, milliseconds queue_wait) {
  auto deadline = std::chrono::steady_clock::now() + queue_wait;
  for (;;) {
    auto hdrs = headers_of(headers);
    auto code
      = impl_->handle->produce(topic, partition < 0 ? RdKafka::Topic::PARTITION_UA : partition,
                               RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                               value.size(), key.data(), key.size(), 0, hdrs.get(), nullptr);
    if (code == RdKafka::ERR_NO_ERROR)
      static_cast<void>(hdrs.release()); // the record owns them now
    if (code != RdKafka::ERR__QUEUE_FULL)
      return detail::from_code(fmt::format("produce to {}", topic), code);
    // Back-pressure: serve delivery reports to make room, within the bound.
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(ec::kafka_retriable,
                        fmt::format("produce to {}: local queue still full after {} ms", topic,
                                    queue_wait.count()));
    impl_->handle->poll(50);
  }
}

caf::error producer::produce_notify(const std::string& topic, std::string_view key,
                                    std::string_view value, delivery_callback done,
                                    record_headers headers) {
  auto cb = std::make_unique<delivery_callback>(std::move(done));
  auto hdrs = headers_of(headers);
  auto code = impl_->handle->produce(
    topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
    const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0, hdrs.get(), cb.get());
  if (code == RdKafka::ERR__QUEUE_FULL)
    return make_error(ec::kafka_retriable, fmt::format("produce to {}: local queue full", topic));
  if (auto err = detail::from_code(fmt::format("produce to {}", topic), code))
    return err;
  static_cast<void>(hdrs.release()); // owned by the record now
  static_cast<void>(cb.release());   // owned by the delivery report now
  return {};
}

int producer::poll(milliseconds timeout) {
  return impl_->handle->poll(static_cast<int>(timeout.count()));
}

caf::error producer::flush(milliseconds timeout) {
  auto code = impl_->handle->flush(static_cast<int>(timeout.count()));
  if (code == RdKafka::ERR__TIMED_OUT)
    return make_error(ec::timeout, fmt::format("flush: {} records not delivered within {} ms",
                                               impl_->handle->outq_len(), timeout.count()));
  if (auto err = detail::from_code("flush", code))
    return err;
  auto& r = impl_->reports;
  if (r.first_code != RdKafka::ERR_NO_ERROR) {
    auto err = detail::from_code(fmt::format("delivery to {}", r.first_topic), r.first_code);
    r.first_code = RdKafka::ERR_NO_ERROR;
    return err;
  }
  return {};
}

caf::error producer::init_transactions(milliseconds timeout) {
  return detail::from_error("init_transactions",
                            impl_->handle->init_transactions(static_cast<int>(timeout.count())));
}

caf::error producer::begin_transaction() {
  return detail::from_error("begin_transaction", impl_->handle->begin_transaction());
}

caf::error producer::send_offsets_to_transaction(const std::vector<partition_offset>& offsets,
                                                 consumer& source, milliseconds timeout) {
  auto list = detail::to_rd(offsets);
  detail::partition_list_guard guard{list};
  std::unique_ptr<RdKafka::ConsumerGroupMetadata> meta{source.handle().groupMetadata()};
  return detail::from_error("send_offsets_to_transaction",
                            impl_->handle->send_offsets_to_transaction(
                              list, meta.get(), static_cast<int>(timeout.count())));
}

caf::error producer::commit_transaction(milliseconds timeout) {
  return detail::from_error("commit_transaction",
                            impl_->handle->commit_transaction(static_cast<int>(timeout.count())));
}

caf::error producer::abort_transaction(milliseconds timeout) {
  return detail::from_error("abort_transaction",
                            impl_->handle->abort_transaction(static_cast<int>(timeout.count())));
}

std::map<topic_partition, std::vector<int64_t>> producer::take_delivered() {
  return std::exchange(impl_->reports.delivered, {});
}

uint64_t producer::delivery_failures() const noexcept {
  return impl_->reports.failures.load();
}

} // namespace bps::kafka
