#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "bps/kafka/types.hpp"

namespace bps::kafka {

/// RAII owner of a librdkafka handle used for admin requests.
class admin {
public:
  static caf::expected<std::unique_ptr<admin>> make(const std::string& bootstrap,
                                                    const properties& extra = {});
  ~admin();
  admin(const admin&) = delete;
  admin& operator=(const admin&) = delete;

  /// Creates one topic with its partitions and configs.
  caf::error create_topic(const topic_spec& spec, milliseconds timeout);
  /// Describes a topic: partition count and the configs named in `config_names`
  /// (all configs if empty). nullopt if the topic does not exist.
  caf::expected<std::optional<topic_description>>
  describe_topic(const std::string& name, milliseconds timeout,
                 const std::vector<std::string>& config_names = {});
  /// The id of the cluster (changes when the cluster is created anew).
  caf::expected<std::string> cluster_id(milliseconds timeout);
  /// Deletes topics (missing ones are not an error).
  caf::error delete_topics(const std::vector<std::string>& names, milliseconds timeout);
  /// Whether the cluster's metadata lists the topic. (After a deletion, KRaft may
  /// still describe a topic's configs for a while; its metadata is the truth.)
  caf::expected<bool> topic_listed(const std::string& name, milliseconds timeout);

private:
  struct impl;
  explicit admin(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace bps::kafka
