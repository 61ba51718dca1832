#include "bps/kafka/topics.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"

namespace bps::kafka {

topic_names topic_names::with_prefix(std::string_view prefix) {
  std::string p{prefix};
  return {p + "items",
          p + "purchases",
          p + "item-commands",
          p + "dead-letters",
          p + "idempotency-keys",
          p + "purchase-requests",
          p + "item-command-requests"};
}

std::vector<std::string> topic_names::all() const {
  return {items,
          purchases,
          item_commands,
          dead_letters,
          idempotency_keys,
          purchase_requests,
          item_command_requests};
}

caf::error validate_topic_prefix(std::string_view prefix) {
  // Kafka allows [a-zA-Z0-9._-] and at most 249 characters per topic name; the
  // longest suffix is "item-command-requests" (21).
  constexpr size_t longest_suffix = 21;
  if (prefix.size() + longest_suffix > 249)
    return make_error(ec::invalid_argument,
                      fmt::format("topic prefix is {} characters long; at most {} are allowed",
                                  prefix.size(), 249 - longest_suffix));
  for (char c : prefix) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
              || c == '_' || c == '-';
    if (!ok)
      return make_error(ec::invalid_argument,
                        fmt::format("topic prefix \"{}\" contains '{}'; Kafka topic names "
                                    "allow only letters, digits, '.', '_' and '-'",
                                    prefix, c));
  }
  return {};
}

std::vector<topic_spec> bps_topic_specs(std::string_view prefix, int32_t partitions,
                                        int16_t replication_factor) {
  auto names = topic_names::with_prefix(prefix);
  const std::map<std::string, std::string> forever_log{
    {"cleanup.policy", "delete"}, {"retention.ms", "-1"}, {"retention.bytes", "-1"}};
  const std::map<std::string, std::string> compacted{
    {"cleanup.policy", "compact"}, {"retention.ms", "-1"}, {"retention.bytes", "-1"}};
  return {
    {names.items, partitions, replication_factor, compacted},
    {names.purchases, partitions, replication_factor, forever_log},
    {names.item_commands, partitions, replication_factor, forever_log},
    {names.dead_letters, partitions, replication_factor, forever_log},
    {names.idempotency_keys, partitions, replication_factor, forever_log},
    {names.purchase_requests, partitions, replication_factor, forever_log},
    {names.item_command_requests, partitions, replication_factor, forever_log},
  };
}

std::vector<std::string> mismatches(const topic_spec& want, const topic_description& have) {
  std::vector<std::string> out;
  if (have.partitions != want.partitions)
    out.push_back(fmt::format("topic {}: has {} partitions, bps needs {} (every bps topic must "
                              "have the same count; pass --partitions {} to use the existing "
                              "topics, or recreate them)",
                              want.name, have.partitions, want.partitions, have.partitions));
  for (const auto& [key, value] : want.configs) {
    auto i = have.configs.find(key);
    if (i == have.configs.end())
      out.push_back(fmt::format("topic {}: setting {} is unknown to the broker, bps needs {}",
                                want.name, key, value));
    else if (i->second != value)
      out.push_back(fmt::format("topic {}: setting {} is \"{}\", bps needs \"{}\"", want.name, key,
                                i->second, value));
  }
  return out;
}

namespace {

/// Describes a topic, waiting until the cluster shows it: right after a creation
/// (ours or another node's) the metadata may lag for a moment.
caf::expected<std::optional<topic_description>>
describe_when_visible(admin& client, const topic_spec& spec, const std::vector<std::string>& names,
                      milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto have = client.describe_topic(spec.name, timeout, names);
    if (!have || *have || std::chrono::steady_clock::now() >= deadline)
      return have;
    std::this_thread::sleep_for(milliseconds{200});
  }
}

} // namespace

std::string upgrade_note(const topic_names& names, const ensure_report& report) {
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  if (!has(report.created, names.purchase_requests) || !has(report.verified, names.purchases))
    return {};
  return fmt::format(
    "upgrade: requests now go to {} and {}; {} and {} hold each decided request's "
    "CREATED/REQUESTED record with its outcome, written by nodes only. Point every client "
    "that wrote requests into {} or {} at the new topics (a request written there now "
    "is not decided). Stop every node of this prefix before starting upgraded ones: a node "
    "of the earlier version would decide requests from the old topics beside them.",
    names.purchase_requests, names.item_command_requests, names.purchases, names.item_commands,
    names.purchases, names.item_commands);
}

caf::expected<ensure_report> ensure_topics(admin& client, const std::vector<topic_spec>& specs,
                                           milliseconds timeout) {
  ensure_report report;
  std::vector<std::string> problems;
  auto config_names = [](const topic_spec& spec) {
    std::vector<std::string> names;
    for (const auto& [key, _] : spec.configs)
      names.push_back(key);
    return names;
  };
  // Verify what exists first: a topic bps added later (idempotency-keys) must not be
  // created beside existing topics that do not fit (e.g. another partition count).
  std::vector<const topic_spec*> missing;
  for (const auto& spec : specs) {
    auto have = client.describe_topic(spec.name, timeout, config_names(spec));
    if (!have)
      return std::move(have.error());
    if (!*have) {
      missing.push_back(&spec);
      continue;
    }
    auto diff = mismatches(spec, **have);
    if (diff.empty())
      report.verified.push_back(spec.name);
    problems.insert(problems.end(), diff.begin(), diff.end());
  }
  if (problems.empty()) {
    for (const auto* spec : missing) {
      auto names = config_names(*spec);
      // If creating fails, another node may have created it a moment ago ("already
      // exists"): then it shows up and is verified like any existing topic.
      auto create_err = client.create_topic(*spec, timeout);
      auto have = describe_when_visible(client, *spec, names, timeout);
      if (!have)
        return std::move(have.error());
      if (!*have)
        return create_err
                 ? create_err
                 : make_error(ec::timeout, fmt::format("topic {} was created but is not visible "
                                                       "after {} ms",
                                                       spec->name, timeout.count()));
      auto diff = mismatches(*spec, **have);
      if (!create_err)
        report.created.push_back(spec->name);
      else if (diff.empty())
        report.verified.push_back(spec->name);
      problems.insert(problems.end(), diff.begin(), diff.end());
    }
  } else if (!missing.empty()) {
    std::string names;
    for (const auto* spec : missing)
      names += (names.empty() ? "" : ", ") + spec->name;
    problems.push_back(fmt::format("not created while the topics above do not fit: {}", names));
  }
  if (!problems.empty()) {
    std::string text
      = fmt::format("{} topic setting(s) differ from what bps needs:", problems.size());
    for (const auto& p : problems)
      text += "\n  - " + p;
    return make_error(ec::topic_mismatch, std::move(text));
  }
  return report;
}

} // namespace bps::kafka
