#include "bps/kafka/log_origin.hpp"

#include <cinttypes>
#include <cstdio>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "bps/error.hpp"
#include "bps/kafka/consumer.hpp"

namespace bps::kafka {

namespace {

using clock_type = std::chrono::steady_clock;

uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

} // namespace

std::string log_origin::to_string() const {
  return fmt::format("{} {} {:016x}", offset, timestamp_ms, digest);
}

log_origin log_origin::parse(const std::string& text) {
  log_origin o;
  if (std::sscanf(text.c_str(), "%" SCNd64 " %" SCNd64 " %" SCNx64, &o.offset, &o.timestamp_ms,
                  &o.digest)
      != 3)
    return log_origin{};
  return o;
}

log_origin origin_of(const record& rec) {
  uint64_t h = 14695981039346656037ULL;
  h = fnv1a(h, rec.key.value_or(""));
  h = fnv1a(h, "\x1f");
  h = fnv1a(h, rec.value.value_or(""));
  return {rec.offset, rec.timestamp_ms, h};
}

caf::expected<bool> same_origin(const std::string& bootstrap, const topic_partition& tp,
                                const log_origin& origin, const properties& extra,
                                std::chrono::milliseconds timeout) {
  auto other = other_origins(bootstrap, {{tp, origin}}, extra, timeout);
  if (!other)
    return std::move(other.error());
  return other->empty();
}

caf::expected<std::map<topic_partition, log_origin>>
origins_at(const std::string& bootstrap, const std::map<topic_partition, int64_t>& offsets,
           const properties& extra, std::chrono::milliseconds timeout) {
  std::map<topic_partition, log_origin> found;
  std::vector<partition_offset> from;
  for (const auto& [tp, offset] : offsets)
    if (offset >= 0)
      from.push_back({tp.topic, tp.partition, offset});
  if (from.empty())
    return found;
  consumer_options opts;
  opts.bootstrap = bootstrap;
  // Assign only: never joins the group, never commits; the id is a formality.
  opts.group_id = "bps.origin-check";
  opts.read_committed = false; // the record is there whoever wrote it
  opts.report_partition_eof = true;
  opts.assign_only = true;
  // The broker should answer a fetch at the end of a log at once.
  opts.extra = {{"fetch.wait.max.ms", "10"}};
  for (const auto& [k, v] : extra)
    opts.extra[k] = v;
  auto c = consumer::make(opts);
  if (!c)
    return std::move(c.error());
  if (auto err = (*c)->assign(from))
    return err;
  std::set<topic_partition> open;
  for (const auto& po : from)
    open.insert({po.topic, po.partition});
  auto deadline = clock_type::now() + timeout;
  while (!open.empty() && clock_type::now() < deadline) {
    auto ev = (*c)->poll(std::chrono::milliseconds{100});
    if (!ev)
      return std::move(ev.error());
    if (ev->what == poll_event::kind::timeout)
      continue;
    topic_partition tp{ev->rec.topic, ev->rec.partition};
    if (open.erase(tp) == 0)
      continue; // answered already
    // The log ends before the offset, or holds a record there: the first one read
    // decides.
    if (ev->what != poll_event::kind::partition_eof && ev->rec.offset == offsets.at(tp))
      found.emplace(tp, origin_of(ev->rec));
    // Nothing more of it is needed.
    static_cast<void>((*c)->pause({tp}));
  }
  if (!open.empty()) {
    const auto& first = *open.begin();
    return make_error(ec::timeout,
                      fmt::format("reading {}/{} at offset {} ({} partition(s) unanswered) took "
                                  "longer than {} ms",
                                  first.topic, first.partition, offsets.at(first), open.size(),
                                  timeout.count()));
  }
  return found;
}

caf::expected<std::vector<topic_partition>>
other_origins(const std::string& bootstrap, const std::map<topic_partition, log_origin>& origins,
              const properties& extra, std::chrono::milliseconds timeout) {
  std::vector<topic_partition> other;
  std::map<topic_partition, int64_t> at;
  for (const auto& [tp, origin] : origins) {
    if (origin.offset < 0)
      other.push_back(tp);
    else
      at.emplace(tp, origin.offset);
  }
  auto found = origins_at(bootstrap, at, extra, timeout);
  if (!found)
    return std::move(found.error());
  for (const auto& [tp, offset] : at)
    if (auto it = found->find(tp); it == found->end() || !(it->second == origins.at(tp)))
      other.push_back(tp);
  return other;
}

} // namespace bps::kafka
