#include "bps/kafka/admin.hpp"

#include <thread>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include "bps/error.hpp"
#include "detail.hpp"

namespace bps::kafka {

namespace {

/// Owns the objects of one admin request and waits for its result event.
struct admin_request {
  rd_kafka_t* rk;
  rd_kafka_queue_t* queue;
  rd_kafka_AdminOptions_t* options;
  rd_kafka_event_t* event = nullptr;

  admin_request(rd_kafka_t* handle, rd_kafka_admin_op_t op, milliseconds timeout)
    : rk(handle), queue(rd_kafka_queue_new(handle)),
      options(rd_kafka_AdminOptions_new(handle, op)) {
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), errstr,
                                              sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
      rd_kafka_AdminOptions_set_operation_timeout(options, static_cast<int>(timeout.count()),
                                                  errstr, sizeof errstr);
  }
  ~admin_request() {
    if (event != nullptr)
      rd_kafka_event_destroy(event);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
  }
  admin_request(const admin_request&) = delete;
  admin_request& operator=(const admin_request&) = delete;

  /// Waits for the result; an error if none came or the request as a whole failed.
  caf::error wait(std::string_view what, milliseconds timeout) {
    event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 2000);
    if (event == nullptr)
      return make_error(ec::timeout,
                        fmt::format("{}: no answer within {} ms", what, timeout.count()));
    if (auto code = rd_kafka_event_error(event); code != RD_KAFKA_RESP_ERR_NO_ERROR)
      return detail::from_code(fmt::format("{} ({})", what, rd_kafka_event_error_string(event)),
                               static_cast<RdKafka::ErrorCode>(code));
    return {};
  }
};

} // namespace

struct admin::impl {
  std::unique_ptr<RdKafka::Producer> handle;
  rd_kafka_t* rk() {
    return handle->c_ptr();
  }
};

admin::admin(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

admin::~admin() = default;

caf::expected<std::unique_ptr<admin>> admin::make(const std::string& bootstrap,
                                                  const properties& extra) {
  if (bootstrap.empty())
    return make_error(ec::invalid_argument, "admin: bootstrap servers are empty");
  auto conf = detail::make_conf({{"bootstrap.servers", bootstrap}}, extra);
  if (!conf)
    return std::move(conf.error());
  auto p = std::unique_ptr<impl>(new impl);
  std::string errstr;
  p->handle.reset(RdKafka::Producer::create(conf->get(), errstr));
  if (!p->handle)
    return make_error(ec::invalid_argument, "cannot create Kafka admin client: " + errstr);
  return std::unique_ptr<admin>(new admin(std::move(p)));
}

caf::error admin::create_topic(const topic_spec& spec, milliseconds timeout) {
  char errstr[512];
  rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(
    spec.name.c_str(), spec.partitions, spec.replication_factor, errstr, sizeof errstr);
  if (topic == nullptr)
    return make_error(ec::invalid_argument,
                      fmt::format("topic {}: {}", spec.name, static_cast<const char*>(errstr)));
  for (const auto& [key, value] : spec.configs)
    rd_kafka_NewTopic_set_config(topic, key.c_str(), value.c_str());
  admin_request req{impl_->rk(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout};
  rd_kafka_CreateTopics(impl_->rk(), &topic, 1, req.options, req.queue);
  rd_kafka_NewTopic_destroy(topic);
  auto what = fmt::format("create topic {}", spec.name);
  if (auto err = req.wait(what, timeout))
    return err;
  size_t count = 0;
  const auto* result = rd_kafka_event_CreateTopics_result(req.event);
  const auto** topics = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    auto code = rd_kafka_topic_result_error(topics[i]);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* msg = rd_kafka_topic_result_error_string(topics[i]);
      return detail::from_code(fmt::format("{} ({})", what, msg ? msg : ""),
                               static_cast<RdKafka::ErrorCode>(code));
    }
  }
  return {};
}

caf::expected<std::optional<topic_description>>
admin::describe_topic(const std::string& name, milliseconds timeout,
                      const std::vector<std::string>& config_names) {
  topic_description out;
  out.name = name;
  // Configs first: an unknown topic answers UNKNOWN_TOPIC_OR_PART here.
  {
    auto* resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
    admin_request req{impl_->rk(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout};
    rd_kafka_DescribeConfigs(impl_->rk(), &resource, 1, req.options, req.queue);
    rd_kafka_ConfigResource_destroy(resource);
    auto what = fmt::format("describe configs of topic {}", name);
    if (auto err = req.wait(what, timeout))
      return err;
    size_t count = 0;
    const auto* result = rd_kafka_event_DescribeConfigs_result(req.event);
    const auto** resources = rd_kafka_DescribeConfigs_result_resources(result, &count);
    for (size_t i = 0; i < count; ++i) {
      auto code = rd_kafka_ConfigResource_error(resources[i]);
      if (code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        return std::optional<topic_description>{};
      if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
        return detail::from_code(what, static_cast<RdKafka::ErrorCode>(code));
      size_t n = 0;
      const auto** entries = rd_kafka_ConfigResource_configs(resources[i], &n);
      for (size_t j = 0; j < n; ++j) {
        std::string key = rd_kafka_ConfigEntry_name(entries[j]);
        const char* value = rd_kafka_ConfigEntry_value(entries[j]);
        bool wanted = config_names.empty();
        for (const auto& c : config_names)
          wanted = wanted || c == key;
        if (wanted)
          out.configs[key] = value ? value : "";
      }
    }
  }
  // Partition count from metadata; right after creation it may lag for a moment.
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(impl_->rk(), name.c_str(), nullptr);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  caf::error last;
  for (;;) {
    const rd_kafka_metadata_t* md = nullptr;
    auto code = rd_kafka_metadata(impl_->rk(), 0, rkt, &md, static_cast<int>(timeout.count()));
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1
        && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0) {
      out.partitions = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
      break;
    }
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
      code = md->topics[0].err;
    if (md != nullptr)
      rd_kafka_metadata_destroy(md);
    last = detail::from_code(fmt::format("metadata of topic {}", name),
                             static_cast<RdKafka::ErrorCode>(code));
    if (std::chrono::steady_clock::now() >= deadline) {
      rd_kafka_topic_destroy(rkt);
      return last ? last : make_error(ec::timeout, "metadata of topic " + name + ": no partitions");
    }
    std::this_thread::sleep_for(milliseconds{100});
  }
  rd_kafka_topic_destroy(rkt);
  return std::optional<topic_description>{std::move(out)};
}

caf::expected<bool> admin::topic_listed(const std::string& name, milliseconds timeout) {
  auto* rkt = rd_kafka_topic_new(impl_->rk(), name.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  auto code = rd_kafka_metadata(impl_->rk(), 0, rkt, &md, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(rkt);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
    return detail::from_code(fmt::format("metadata of topic {}", name),
                             static_cast<RdKafka::ErrorCode>(code));
  bool listed = md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  rd_kafka_metadata_destroy(md);
  return listed;
}

caf::expected<std::string> admin::cluster_id(milliseconds timeout) {
  char* id = rd_kafka_clusterid(impl_->rk(), static_cast<int>(timeout.count()));
  if (id == nullptr)
    return make_error(ec::timeout,
                      fmt::format("the cluster id was not known within {} ms", timeout.count()));
  std::string out{id};
  rd_kafka_mem_free(impl_->rk(), id);
  return out;
}

caf::error admin::delete_topics(const std::vector<std::string>& names, milliseconds timeout) {
  if (names.empty())
    return {};
  std::vector<rd_kafka_DeleteTopic_t*> topics;
  topics.reserve(names.size());
  for (const auto& n : names)
    topics.push_back(rd_kafka_DeleteTopic_new(n.c_str()));
  admin_request req{impl_->rk(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout};
  rd_kafka_DeleteTopics(impl_->rk(), topics.data(), topics.size(), req.options, req.queue);
  rd_kafka_DeleteTopic_destroy_array(topics.data(), topics.size());
  if (auto err = req.wait("delete topics", timeout))
    return err;
  size_t count = 0;
  const auto* result = rd_kafka_event_DeleteTopics_result(req.event);
  const auto** results = rd_kafka_DeleteTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    auto code = rd_kafka_topic_result_error(results[i]);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      return detail::from_code(
        fmt::format("delete topic {}", rd_kafka_topic_result_name(results[i])),
        static_cast<RdKafka::ErrorCode>(code));
  }
  return {};
}

} // namespace bps::kafka
