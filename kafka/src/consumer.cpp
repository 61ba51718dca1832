#include "bps/kafka/consumer.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <librdkafka/rdkafkacpp.h>

#include "bps/error.hpp"
#include "detail.hpp"

namespace bps::kafka {

namespace {

/// Applies eager (range assignor) rebalances, telling the hook first.
class rebalance_relay : public RdKafka::RebalanceCb {
public:
  explicit rebalance_relay(rebalance_hook hook) : hook_(std::move(hook)) {}
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    std::vector<topic_partition> tps;
    tps.reserve(partitions.size());
    for (auto* tp : partitions)
      tps.push_back({tp->topic(), tp->partition()});
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      consumer->assign(partitions);
      hook_(rebalance_kind::assigned, tps);
    } else {
      hook_(rebalance_kind::revoked, tps);
      consumer->unassign();
    }
  }

private:
  rebalance_hook hook_;
};

} // namespace

struct consumer::impl {
  std::unique_ptr<rebalance_relay> relay;
  std::unique_ptr<RdKafka::KafkaConsumer> handle;
  bool closed = false;
};

consumer::consumer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

consumer::~consumer() {
  close();
}

caf::expected<std::unique_ptr<consumer>> consumer::make(const consumer_options& opts) {
  if (opts.bootstrap.empty())
    return make_error(ec::invalid_argument, "consumer: bootstrap servers are empty");
  if (opts.group_id.empty())
    return make_error(ec::invalid_argument, "consumer: group id is empty");
  if (opts.auto_offset_reset != "earliest" && opts.auto_offset_reset != "latest")
    return make_error(ec::invalid_argument,
                      "consumer: auto offset reset must be earliest or latest, not "
                        + opts.auto_offset_reset);
  properties defaults{
    {"bootstrap.servers", opts.bootstrap},
    {"group.id", opts.group_id},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"isolation.level", opts.read_committed ? "read_committed" : "read_uncommitted"},
    {"auto.offset.reset", opts.auto_offset_reset},
    {"enable.partition.eof", opts.report_partition_eof ? "true" : "false"},
    // Co-partitioning: the range assignor gives a member the same partition
    // numbers of every subscribed topic when the topics have equal counts.
    {"partition.assignment.strategy", "range"},
  };
  auto extra = opts.extra;
  if (opts.assign_only)
    for (const char* key :
         {"session.timeout.ms", "max.poll.interval.ms", "heartbeat.interval.ms",
          "group.instance.id", "partition.assignment.strategy", "group.protocol.type"})
      extra.erase(key);
  auto conf = detail::make_conf(defaults, extra);
  if (!conf)
    return std::move(conf.error());
  auto p = std::unique_ptr<impl>(new impl);
  std::string errstr;
  if (opts.on_rebalance) {
    p->relay = std::make_unique<rebalance_relay>(opts.on_rebalance);
    if ((*conf)->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(p->relay.get()), errstr)
        != RdKafka::Conf::CONF_OK)
      return make_error(ec::invalid_argument, "consumer rebalance_cb: " + errstr);
  }
  p->handle.reset(RdKafka::KafkaConsumer::create(conf->get(), errstr));
  if (!p->handle)
    return make_error(ec::invalid_argument, "cannot create Kafka consumer: " + errstr);
  return std::unique_ptr<consumer>(new consumer(std::move(p)));
}

caf::error consumer::subscribe(const std::vector<std::string>& topics) {
  return detail::from_code("subscribe", impl_->handle->subscribe(topics));
}

caf::error consumer::assign(const std::vector<partition_offset>& from) {
  auto list = detail::to_rd(from);
  detail::partition_list_guard guard{list};
  return detail::from_code("assign", impl_->handle->assign(list));
}

caf::expected<poll_event> consumer::poll(milliseconds timeout) {
  std::unique_ptr<RdKafka::Message> msg{impl_->handle->consume(static_cast<int>(timeout.count()))};
  poll_event ev;
  switch (msg->err()) {
    case RdKafka::ERR_NO_ERROR: {
      ev.what = poll_event::kind::message;
      auto& r = ev.rec;
      r.topic = msg->topic_name();
      r.partition = msg->partition();
      r.offset = msg->offset();
      if (msg->key() != nullptr)
        r.key = *msg->key();
      if (msg->payload() != nullptr)
        r.value.emplace(static_cast<const char*>(msg->payload()), msg->len());
      r.timestamp_ms = msg->timestamp().timestamp;
      return ev;
    }
    case RdKafka::ERR__TIMED_OUT: return ev;
    case RdKafka::ERR__PARTITION_EOF:
      ev.what = poll_event::kind::partition_eof;
      ev.rec.topic = msg->topic_name();
      ev.rec.partition = msg->partition();
      ev.rec.offset = msg->offset();
      return ev;
    default: return detail::from_code(fmt::format("consume ({})", msg->errstr()), msg->err());
  }
}

namespace {

std::vector<RdKafka::TopicPartition*> to_rd_list(const std::vector<topic_partition>& tps) {
  std::vector<RdKafka::TopicPartition*> list;
  list.reserve(tps.size());
  for (const auto& tp : tps)
    list.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition));
  return list;
}

} // namespace

caf::error consumer::pause(const std::vector<topic_partition>& tps) {
  auto list = to_rd_list(tps);
  detail::partition_list_guard guard{list};
  return detail::from_code("pause", impl_->handle->pause(list));
}

caf::error consumer::resume(const std::vector<topic_partition>& tps) {
  auto list = to_rd_list(tps);
  detail::partition_list_guard guard{list};
  return detail::from_code("resume", impl_->handle->resume(list));
}

caf::error consumer::seek(const partition_offset& to, milliseconds timeout) {
  std::unique_ptr<RdKafka::TopicPartition> tp{
    RdKafka::TopicPartition::create(to.topic, to.partition, to.offset)};
  return detail::from_code(fmt::format("seek {}/{} to {}", to.topic, to.partition, to.offset),
                           impl_->handle->seek(*tp, static_cast<int>(timeout.count())));
}

caf::error consumer::commit(const std::vector<partition_offset>& offsets) {
  auto list = detail::to_rd(offsets);
  detail::partition_list_guard guard{list};
  return detail::from_code("commit", impl_->handle->commitSync(list));
}

caf::expected<std::vector<partition_offset>>
consumer::committed(const std::vector<topic_partition>& tps, milliseconds timeout) {
  std::vector<RdKafka::TopicPartition*> list;
  detail::partition_list_guard guard{list};
  list.reserve(tps.size());
  for (const auto& tp : tps)
    list.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition));
  if (auto err = detail::from_code(
        "committed", impl_->handle->committed(list, static_cast<int>(timeout.count()))))
    return err;
  std::vector<partition_offset> out;
  out.reserve(list.size());
  for (auto* tp : list) {
    // librdkafka 2.0.2 returns success with a per-partition error (and offset -1001)
    // when offsets stayed unstable through its retries: that is not "nothing
    // committed", and must never be read as such.
    if (tp->err() != RdKafka::ERR_NO_ERROR)
      return detail::from_code(
        fmt::format("committed offset of {}/{}", tp->topic(), tp->partition()), tp->err());
    out.push_back({tp->topic(), tp->partition(), tp->offset()});
  }
  return out;
}

caf::expected<std::pair<int64_t, int64_t>> consumer::watermarks(const topic_partition& tp,
                                                                milliseconds timeout) {
  int64_t low = 0;
  int64_t high = 0;
  if (auto err = detail::from_code(
        fmt::format("watermarks of {}/{}", tp.topic, tp.partition),
        impl_->handle->query_watermark_offsets(tp.topic, tp.partition, &low, &high,
                                               static_cast<int>(timeout.count()))))
    return err;
  return std::make_pair(low, high);
}

caf::error consumer::probe(milliseconds timeout) {
  RdKafka::Metadata* md = nullptr;
  auto code = impl_->handle->metadata(false, nullptr, &md, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> owned{md};
  return detail::from_code("metadata", code);
}

caf::expected<std::vector<partition_offset>>
consumer::offsets_for_time(const std::vector<topic_partition>& tps, int64_t timestamp_ms,
                           milliseconds timeout) {
  std::vector<partition_offset> query;
  query.reserve(tps.size());
  for (const auto& tp : tps)
    query.push_back({tp.topic, tp.partition, timestamp_ms});
  auto list = detail::to_rd(query);
  detail::partition_list_guard guard{list};
  if (auto err = detail::from_code("offsets for time", impl_->handle->offsetsForTimes(
                                                         list, static_cast<int>(timeout.count()))))
    return err;
  std::vector<partition_offset> out;
  out.reserve(list.size());
  for (auto* tp : list) {
    auto offset = tp->offset();
    if (offset < 0) { // no record that late: start at the end
      int64_t low = 0;
      int64_t high = 0;
      if (auto err = detail::from_code("watermarks", impl_->handle->query_watermark_offsets(
                                                       tp->topic(), tp->partition(), &low, &high,
                                                       static_cast<int>(timeout.count()))))
        return err;
      offset = high;
    }
    out.push_back({tp->topic(), tp->partition(), offset});
  }
  return out;
}

int64_t consumer::lag() {
  int64_t total = 0;
  for (const auto& l : lags())
    total += l.records;
  return total;
}

std::vector<partition_lag> consumer::lags() {
  std::vector<RdKafka::TopicPartition*> list;
  detail::partition_list_guard guard{list};
  std::vector<partition_lag> out;
  if (impl_->handle->assignment(list) != RdKafka::ERR_NO_ERROR
      || impl_->handle->position(list) != RdKafka::ERR_NO_ERROR)
    return out;
  out.reserve(list.size());
  for (auto* tp : list) {
    int64_t low = 0;
    int64_t high = 0;
    int64_t behind = 0;
    if (tp->offset() >= 0
        && impl_->handle->get_watermark_offsets(tp->topic(), tp->partition(), &low, &high)
             == RdKafka::ERR_NO_ERROR
        && high >= 0)
      behind = std::max<int64_t>(0, high - tp->offset());
    out.push_back({tp->topic(), tp->partition(), behind});
  }
  return out;
}

caf::expected<std::vector<topic_partition>> consumer::assignment() {
  std::vector<RdKafka::TopicPartition*> list;
  detail::partition_list_guard guard{list};
  if (auto err = detail::from_code("assignment", impl_->handle->assignment(list)))
    return err;
  std::vector<topic_partition> out;
  out.reserve(list.size());
  for (auto* tp : list)
    out.push_back({tp->topic(), tp->partition()});
  return out;
}

void consumer::close() {
  if (impl_ && impl_->handle && !impl_->closed) {
    impl_->closed = true;
    impl_->handle->close();
  }
}

RdKafka::KafkaConsumer& consumer::handle() noexcept {
  return *impl_->handle;
}

} // namespace bps::kafka
