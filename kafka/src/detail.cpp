#include "detail.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bps/error.hpp"
#include "bps/kafka/classify.hpp"

namespace bps::kafka::detail {

void log_events::event_cb(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      // Most client errors are transient and retried by librdkafka itself; the
      // calls that fail because of them report it to their callers.
      spdlog::warn("kafka: {} ({}){}", event.str(), RdKafka::err2str(event.err()),
                   event.fatal() ? " [fatal]" : "");
      break;
    case RdKafka::Event::EVENT_LOG:
      // librdkafka logs every failed connection attempt as an error; the call
      // that cannot complete reports the failure to its caller, so these are warnings.
      if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING)
        spdlog::warn("kafka: {} {}", event.fac(), event.str());
      else
        spdlog::debug("kafka: {} {}", event.fac(), event.str());
      break;
    default: break;
  }
}

log_events& event_logger() {
  static log_events instance;
  return instance;
}

caf::expected<std::unique_ptr<RdKafka::Conf>> make_conf(const properties& defaults,
                                                        const properties& extra) {
  std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  std::string errstr;
  auto set = [&](const std::string& key, const std::string& value) -> caf::error {
    if (conf->set(key, value, errstr) != RdKafka::Conf::CONF_OK)
      return make_error(ec::invalid_argument,
                        fmt::format("Kafka client property {}={}: {}", key, value, errstr));
    return {};
  };
  // librdkafka 2.0.2 leaves Nagle on (2.10 turned it off): a transaction's outcomes,
  // produced together at commit time, would wait for the ACKs of the ones before.
  // Every client of ours turns it off (a caller may still set it back).
  if (auto err = set("socket.nagle.disable", "true"))
    return err;
  for (const auto& [key, value] : defaults)
    if (auto err = set(key, value))
      return err;
  for (const auto& [key, value] : extra)
    if (auto err = set(key, value))
      return err;
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&event_logger()), errstr)
      != RdKafka::Conf::CONF_OK)
    return make_error(ec::invalid_argument, "Kafka client event_cb: " + errstr);
  return conf;
}

caf::error from_code(std::string_view what, RdKafka::ErrorCode code) {
  if (code == RdKafka::ERR_NO_ERROR)
    return {};
  auto cls = classify(error_facts{static_cast<int>(code)});
  return make_error(to_ec(cls),
                    fmt::format("{}: {} [{}]", what, RdKafka::err2str(code), to_string(cls)));
}

caf::error from_error(std::string_view what, RdKafka::Error* err) {
  if (err == nullptr)
    return {};
  std::unique_ptr<RdKafka::Error> owned{err};
  auto cls = classify(error_facts{static_cast<int>(err->code()), err->is_fatal(),
                                  err->is_retriable(), err->txn_requires_abort()});
  return make_error(to_ec(cls),
                    fmt::format("{}: {} [{}, {}]", what, err->str(), err->name(), to_string(cls)));
}

std::vector<RdKafka::TopicPartition*> to_rd(const std::vector<partition_offset>& offsets) {
  std::vector<RdKafka::TopicPartition*> out;
  out.reserve(offsets.size());
  for (const auto& o : offsets)
    out.push_back(RdKafka::TopicPartition::create(o.topic, o.partition, o.offset));
  return out;
}

} // namespace bps::kafka::detail
