#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>

#include <unistd.h>

#include <fmt/format.h>

#include "bps/actors/codec.hpp"
#include "bps/actors/history.hpp"
#include "bps/actors/processor.hpp"
#include "bps/actors/state_store.hpp"
#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/log_origin.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"
#include "commands.hpp"
#include "progress.hpp"

namespace bps::cli {

int run_replay(const kafka_options& k, const replay_options& r) {
  if (auto err = kafka::validate_topic_prefix(k.topic_prefix))
    return fail("option --topic-prefix: " + describe(err), exit_usage);
  // A mistyped state directory must not pass as "nothing to compare".
  if (!r.state_dir.empty() && !std::filesystem::is_directory(r.state_dir))
    return fail("option --state-dir: \"" + r.state_dir + "\" is not a directory", exit_usage);
  auto topics = kafka::topic_names::with_prefix(k.topic_prefix);
  auto admin = kafka::admin::make(k.bootstrap, k.extra);
  if (!admin)
    return fail(describe(admin.error()), exit_usage);
  std::vector<kafka::topic_partition> tps;
  int32_t claim_partitions = 0;
  for (const auto& name : topics.all()) {
    auto d = (*admin)->describe_topic(name, std::chrono::milliseconds{k.timeout_ms});
    if (!d)
      return fail(kafka_failure(d.error(), k), exit_failed);
    if (!*d && name == topics.idempotency_keys) {
      // A deployment from before claims: nothing was claimed.
      std::cerr << "replay: topic " << name << " does not exist: no claims to check\n";
      continue;
    }
    if (!*d && (name == topics.purchase_requests || name == topics.item_command_requests)) {
      // A deployment of the first layout: requests are in purchases and item-commands.
      std::cerr << "replay: topic " << name << " does not exist: no requests to check there\n";
      continue;
    }
    if (!*d)
      return fail("topic " + name + " does not exist (bps topics ensure creates it)", exit_failed);
    for (int32_t p = 0; p < (*d)->partitions; ++p)
      tps.push_back({name, p});
    if (name == topics.idempotency_keys)
      claim_partitions = (*d)->partitions;
  }

  // What there is to read, taken before reading: the progress counts offsets (control
  // records and aborted transactions take offsets too), partition by partition.
  auto ends = kafka::log_ends::make(k.bootstrap, k.extra);
  if (!ends)
    return fail(kafka_failure(ends.error(), k), exit_failed);
  struct span {
    int64_t high = 0;
    int64_t next = 0; // the offset after the last one read
  };
  std::map<kafka::topic_partition, span> spans;
  read_progress progress;
  for (const auto& tp : tps) {
    auto range = (*ends)->range(tp, std::chrono::milliseconds{k.timeout_ms});
    if (!range)
      return fail(kafka_failure(range.error(), k), exit_failed);
    spans[tp] = {range->second, range->first};
    progress.total += static_cast<uint64_t>(std::max<int64_t>(0, range->second - range->first));
  }
  ends->reset();
  auto advance = [&](const kafka::topic_partition& tp, int64_t next) {
    auto it = spans.find(tp);
    if (it == spans.end() || next <= it->second.next)
      return;
    auto& sp = it->second;
    auto before = std::min(sp.next, sp.high);
    sp.next = next;
    progress.done
      += static_cast<uint64_t>(std::max<int64_t>(0, std::min(sp.next, sp.high) - before));
  };
  // A terminal gets a bar redrawn in place; a log or a pipe a line every few seconds.
  const bool terminal = isatty(STDERR_FILENO) == 1;
  const auto every = terminal ? std::chrono::milliseconds{250} : std::chrono::milliseconds{5000};
  std::cerr << fmt::format("replay: reading {} partitions of {}*, {} offsets\n", tps.size(),
                           k.topic_prefix, progress.total);

  domain::history h;
  size_t records = 0;
  size_t undecodable = 0;
  size_t misplaced_claims = 0;
  auto started = std::chrono::steady_clock::now();
  auto next_progress = started + every;
  auto report = [&](std::chrono::steady_clock::time_point now) {
    progress.seconds = std::chrono::duration<double>(now - started).count();
    if (terminal)
      std::cerr << "\r" << progress_bar(progress, 30) << "\x1b[K" << std::flush;
    else
      std::cerr << progress_line(progress) << "\n";
  };
  auto err = kafka::read_to_end(
    k.bootstrap,
    [&] {
      std::vector<kafka::partition_offset> from;
      from.reserve(tps.size());
      for (const auto& tp : tps)
        from.push_back({tp.topic, tp.partition, -2}); // -2: the beginning
      return from;
    }(),
    [&](const kafka::record& rec) {
      ++records;
      advance({rec.topic, rec.partition}, rec.offset + 1);
      if (auto now = std::chrono::steady_clock::now(); now >= next_progress) {
        next_progress = now + every;
        report(now);
      }
      if (!rec.value)
        return;
      if (rec.topic == topics.purchases) {
        if (auto d = domain::decode_purchase(*rec.value))
          h.add(*d.value, {rec.topic, rec.partition, rec.offset});
        else
          ++undecodable;
      } else if (rec.topic == topics.item_commands) {
        if (auto d = domain::decode_command(*rec.value))
          h.add(*d.value, {rec.topic, rec.partition, rec.offset});
        else
          ++undecodable;
      } else if (rec.topic == topics.purchase_requests) {
        // Anything but a request is dead-lettered by the node that reads it.
        if (auto d = domain::decode_purchase(*rec.value);
            d && d.value->status == domain::purchase_status::created)
          h.add_request(*d.value, {rec.topic, rec.partition, rec.offset});
        else if (!d)
          ++undecodable;
      } else if (rec.topic == topics.item_command_requests) {
        if (auto d = domain::decode_command(*rec.value);
            d && d.value->status == domain::command_status::requested)
          h.add_request(*d.value, {rec.topic, rec.partition, rec.offset});
        else if (!d)
          ++undecodable;
      } else if (rec.topic == topics.items) {
        if (auto d = domain::decode_item(*rec.value))
          h.add_snapshot(*d.value);
        else
          ++undecodable;
      } else if (rec.topic == topics.idempotency_keys) {
        // A claim counts only in its id's partition, under its id: elsewhere it is
        // never the first claim a gateway or the CLI reads.
        auto d = domain::decode_claim(*rec.value);
        if (!d)
          ++undecodable;
        else if (rec.key != d.value->id
                 || rec.partition != kafka::partition_for(d.value->id, claim_partitions))
          ++misplaced_claims;
        else
          h.add_claim(*d.value, {rec.topic, rec.partition, rec.offset});
      } else if (auto d = domain::decode_dead_letter(*rec.value)) {
        h.add_dead_letter(*d.value);
      } else {
        ++undecodable;
      }
    },
    [&](const kafka::partition_offset& end) {
      advance({end.topic, end.partition}, end.offset);
    },
    std::chrono::hours{1}, k.extra);
  if (err) {
    if (terminal)
      std::cerr << "\n"; // the message below the bar, not over it
    return fail(describe(err), exit_failed);
  }
  // Read to the end: offsets past a partition's last stable offset belong to
  // transactions still open, which a committed read does not see.
  progress.done = progress.total;
  report(std::chrono::steady_clock::now());
  if (terminal)
    std::cerr << "\n";
  auto s = h.check(r.allow_undecided);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                                  - started)
              .count();
  std::cout << fmt::format(
    "replay of {}* ({} partitions, {} records in {} ms)\n"
    "  items:      {}\n"
    "  purchases:  {} created, {} successful, {} failed\n"
    "  commands:   {} requested, {} applied, {} rejected\n"
    "  undecided:  {}\n"
    "  dead letters: {} ({} of them requests rejected as bad input)\n"
    "  claims:     {} for {} ids ({} outside their id's partition or key, ignored)\n"
    "  undecodable records: {} (a node sends each to dead letters with the reason; a claim is "
    "ignored)\n",
    k.topic_prefix, tps.size(), records, ms, s.items, s.purchases_created, s.purchases_successful,
    s.purchases_failed, s.commands_requested, s.commands_applied, s.commands_rejected, s.undecided,
    s.dead_letters, s.rejected_requests, s.claims, s.claimed_ids, misplaced_claims, undecodable);
  if (!r.verify)
    return exit_ok;
  if (!r.state_dir.empty()) {
    int32_t partitions = 0;
    for (const auto& tp : tps)
      if (tp.topic == topics.purchases)
        ++partitions;
    domain::store_check total;
    int32_t found = 0;
    // Lane 0's stores, then those of every lane-<k> directory there is.
    std::vector<size_t> lanes{0};
    std::error_code ec_fs;
    for (const auto& entry : std::filesystem::directory_iterator(r.state_dir, ec_fs)) {
      auto name = entry.path().filename().string();
      if (entry.is_directory() && name.size() > 5 && name.compare(0, 5, "lane-") == 0
          && name.find_first_not_of("0123456789", 5) == std::string::npos && name.size() < 9)
        lanes.push_back(std::stoul(name.substr(5)));
    }
    std::sort(lanes.begin(), lanes.end());
    int32_t of_other_logs = 0;
    for (auto lane : lanes)
      for (int32_t p = 0; p < partitions; ++p) {
        auto dir = processor_store_dir(r.state_dir, k.topic_prefix, lane, p);
        std::string identity;
        auto store = open_rocksdb_store_read_only(dir, identity);
        if (!store)
          continue; // this node (lane) does not own the partition
        // A store built from logs that are gone (topics deleted and created anew) is
        // not compared: a node that opens it finds that out and rebuilds it.
        std::map<kafka::topic_partition, kafka::log_origin> origins;
        for (const auto& topic : {topics.purchases, topics.item_commands}) {
          auto stored = (*store)->meta("origin." + topic);
          if (stored && *stored)
            origins[{topic, p}] = kafka::log_origin::parse(**stored);
        }
        if (!origins.empty()) {
          auto other
            = kafka::other_origins(k.bootstrap, origins, k.extra, std::chrono::seconds{10});
          if (!other) {
            s.violations.push_back("state store " + dir
                                   + ": cannot check which log it was built from: "
                                   + describe(other.error()));
            continue;
          }
          if (!other->empty()) {
            ++of_other_logs;
            continue;
          }
        }
        ++found;
        auto c = domain::check_store(**store, s, "state store " + dir);
        total.items += c.items;
        total.behind += c.behind;
        total.purchases += c.purchases;
        s.violations.insert(s.violations.end(), c.violations.begin(), c.violations.end());
      }
    if (of_other_logs > 0)
      std::cout << fmt::format("  state stores of earlier logs (topics deleted and created anew), "
                               "not compared: {}\n",
                               of_other_logs);
    std::cout << fmt::format("  state stores: {} (of {} partitions) in {}, {} items ({} behind the "
                             "log, caught up on assignment), {} purchase outcomes compared\n",
                             found, partitions, r.state_dir, total.items, total.behind,
                             total.purchases);
  }
  if (s.violations.empty()) {
    std::cout << "verify: every invariant holds\n";
    return exit_ok;
  }
  std::cout << fmt::format("verify: {} violation(s)\n", s.violations.size());
  size_t shown = 0;
  for (const auto& v : s.violations) {
    if (++shown > 50) {
      std::cout << fmt::format("  ... and {} more\n", s.violations.size() - 50);
      break;
    }
    std::cout << "  - " << v << "\n";
  }
  return exit_failed;
}

} // namespace bps::cli
