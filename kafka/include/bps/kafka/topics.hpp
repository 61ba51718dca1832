#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "bps/kafka/types.hpp"

namespace bps::kafka {

class admin;

/// The names of bps' topics under one prefix (ARCHITECTURE.md, "Kafka is the
/// source of truth").
struct topic_names {
  std::string items;
  /// Written by nodes only, in transactions: each decided purchase's CREATED record
  /// and its outcome, together.
  std::string purchases;
  /// The same for item commands: REQUESTED and APPLIED/REJECTED together.
  std::string item_commands;
  std::string dead_letters;
  /// Claims of request ids (Idempotency-Keys, explicit ids): the first claim of an
  /// id in its partition names the one request the id stands for.
  std::string idempotency_keys;
  /// Where clients submit requests (any Kafka client may write here; nodes only read).
  std::string purchase_requests;
  std::string item_command_requests;

  static topic_names with_prefix(std::string_view prefix);
  std::vector<std::string> all() const;
};

/// The default topic prefix and partition count.
inline constexpr std::string_view default_topic_prefix = "bps.";
inline constexpr int32_t default_partitions = 12;

/// Checks a topic prefix: Kafka's legal characters, and short enough for every
/// topic name. An invalid_argument error names what is wrong.
caf::error validate_topic_prefix(std::string_view prefix);

/// The seven topics with their required configs: items compacted and kept forever;
/// the others (purchases, item-commands, dead-letters, idempotency-keys,
/// purchase-requests, item-command-requests) not compacted,
/// retention.ms=-1 and retention.bytes=-1. All have the same partition count
/// (co-partitioning by itemId; claims by their id with the same partitioner).
std::vector<topic_spec> bps_topic_specs(std::string_view prefix, int32_t partitions,
                                        int16_t replication_factor = 1);

/// What differs between the topic bps needs and the one the cluster has, one
/// sentence per difference, each naming the topic and the setting. Empty: it fits.
std::vector<std::string> mismatches(const topic_spec& want, const topic_description& have);

/// What `ensure_topics` did.
struct ensure_report {
  std::vector<std::string> created;
  std::vector<std::string> verified;
};

/// When `report` created the request topics beside an existing purchases topic (a
/// deployment of the first layout, where requests went into purchases and
/// item-commands): what changes for its clients and operators. Empty otherwise.
std::string upgrade_note(const topic_names& names, const ensure_report& report);

/// Creates the topics that are missing and verifies those that exist. Any
/// mismatch is a topic_mismatch error listing every difference; nothing is
/// changed on an existing topic, and nothing is created while an existing one does
/// not fit (so that a topic added to bps later is never created with another
/// partition count than the deployment's).
caf::expected<ensure_report> ensure_topics(admin& client, const std::vector<topic_spec>& specs,
                                           milliseconds timeout);

} // namespace bps::kafka
