#include "bps/kafka/reader.hpp"

#include <chrono>
#include <map>

#include <fmt/format.h>

#include "bps/error.hpp"
#include "bps/kafka/consumer.hpp"

namespace bps::kafka {

caf::error read_to_end(const std::string& bootstrap, const std::vector<topic_partition>& partitions,
                       const std::function<void(const record&)>& on_record, milliseconds timeout,
                       const properties& extra) {
  std::vector<partition_offset> from;
  from.reserve(partitions.size());
  for (const auto& tp : partitions)
    from.push_back({tp.topic, tp.partition, -2}); // -2: the beginning
  return read_to_end(
    bootstrap, from, on_record, [](const partition_offset&) {}, timeout, extra);
}

caf::error read_to_end(const std::string& bootstrap, const std::vector<partition_offset>& from,
                       const std::function<void(const record&)>& on_record,
                       const std::function<void(const partition_offset&)>& on_end,
                       milliseconds timeout, const properties& extra) {
  if (from.empty())
    return {};
  consumer_options opts;
  opts.bootstrap = bootstrap;
  // Never joins the group (assign only) and never commits: the id is a formality.
  opts.group_id = "bps.reader";
  opts.read_committed = true;
  opts.report_partition_eof = true;
  opts.assign_only = true;
  // Ends are found by fetching: do not let the broker hold an empty fetch for
  // the default 500 ms.
  opts.extra = {{"fetch.wait.max.ms", "10"}};
  for (const auto& [k, v] : extra)
    opts.extra[k] = v;
  auto c = consumer::make(opts);
  if (!c)
    return std::move(c.error());
  if (auto err = (*c)->assign(from))
    return err;
  std::map<topic_partition, bool> open;
  for (const auto& po : from)
    open[{po.topic, po.partition}] = true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t remaining = open.size();
  while (remaining > 0) {
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(ec::timeout, fmt::format("reading {} partitions to their end took longer "
                                                 "than {} ms ({} not finished)",
                                                 from.size(), timeout.count(), remaining));
    auto ev = (*c)->poll(milliseconds{200});
    if (!ev)
      return std::move(ev.error());
    if (ev->what == poll_event::kind::message) {
      on_record(ev->rec);
    } else if (ev->what == poll_event::kind::partition_eof) {
      auto it = open.find({ev->rec.topic, ev->rec.partition});
      if (it != open.end() && it->second) {
        it->second = false;
        --remaining;
        on_end({ev->rec.topic, ev->rec.partition, ev->rec.offset});
      }
    }
  }
  return {};
}

log_ends::log_ends(std::unique_ptr<consumer> c) : c_(std::move(c)) {}

log_ends::~log_ends() = default;

caf::expected<std::unique_ptr<log_ends>> log_ends::make(const std::string& bootstrap,
                                                        const properties& extra) {
  consumer_options opts;
  opts.bootstrap = bootstrap;
  opts.group_id = "bps.log-ends"; // never joins, never commits
  opts.read_committed = false;    // the broker's high watermark, not the last stable offset
  opts.assign_only = true;
  opts.extra = extra;
  auto c = consumer::make(opts);
  if (!c)
    return std::move(c.error());
  return std::unique_ptr<log_ends>(new log_ends(std::move(*c)));
}

caf::expected<int64_t> log_ends::end(const topic_partition& tp, milliseconds timeout) {
  auto marks = c_->watermarks(tp, timeout);
  if (!marks)
    return std::move(marks.error());
  return marks->second;
}

caf::expected<std::pair<int64_t, int64_t>> log_ends::range(const topic_partition& tp,
                                                           milliseconds timeout) {
  return c_->watermarks(tp, timeout);
}

caf::expected<int64_t> log_end(const std::string& bootstrap, const topic_partition& tp,
                               milliseconds timeout, const properties& extra) {
  auto ends = log_ends::make(bootstrap, extra);
  if (!ends)
    return std::move(ends.error());
  return (*ends)->end(tp, timeout);
}

int32_t partition_for(std::string_view key, int32_t partitions) noexcept {
  return static_cast<int32_t>((murmur2(key) & 0x7fffffff) % static_cast<uint32_t>(partitions));
}

uint32_t murmur2(std::string_view key) noexcept {
  // Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747b28c.
  constexpr uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  auto length = static_cast<uint32_t>(key.size());
  uint32_t h = 0x9747b28c ^ length;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  size_t i = 0;
  for (; i + 4 <= key.size(); i += 4) {
    uint32_t k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16)
                 | (static_cast<uint32_t>(data[i + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (key.size() % 4) {
    case 3: h ^= static_cast<uint32_t>(data[i + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint32_t>(data[i + 1]) << 8; [[fallthrough]];
    case 1: h ^= data[i]; h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

} // namespace bps::kafka
