#include "bps/actors/transaction.hpp"

namespace bps {

void transaction::begin(clock::time_point now, clock::duration interval) {
  open_ = true;
  deadline_ = now + interval;
}

bool transaction::due(clock::time_point now, size_t max_in_flight) const {
  return open_ && (now >= deadline_ || outstanding_ >= max_in_flight);
}

void transaction::read(const std::string& topic, int32_t partition, int64_t offset) {
  read_to_[{topic, partition}] = offset + 1;
}

std::vector<kafka::partition_offset> transaction::offsets() const {
  std::vector<kafka::partition_offset> out;
  out.reserve(read_to_.size());
  for (const auto& [tp, next] : read_to_)
    out.push_back({tp.topic, tp.partition, next});
  return out;
}

bool transaction::pending(request_kind kind, int32_t partition, const std::string& id) const {
  const auto& by_partition
    = kind == request_kind::purchase ? pending_purchases_ : pending_commands_;
  auto it = by_partition.find(partition);
  return it != by_partition.end() && it->second.count(id) > 0;
}

void transaction::sent(request_kind kind, int32_t partition, const std::string& id,
                       int64_t timestamp_ms) {
  auto& by_partition = kind == request_kind::purchase ? pending_purchases_ : pending_commands_;
  by_partition[partition].insert(id);
  ++outstanding_;
  if (timestamp_ms >= 0)
    request_times_ms_.push_back(timestamp_ms);
}

void transaction::answered(int32_t partition, const std::string& item_id,
                           std::optional<domain::item> state, bool changed) {
  if (outstanding_ > 0)
    --outstanding_;
  if (state && changed)
    snapshots_.insert_or_assign(item_id, std::pair{partition, std::move(*state)});
}

void transaction::decided(int32_t partition, domain::purchase outcome,
                          std::optional<domain::item> state) {
  // Only a sale changes the item (a failed purchase leaves it as it was).
  answered(partition, outcome.item_id, std::move(state),
           outcome.status == domain::purchase_status::successful);
  outputs_[partition].purchases.push_back(std::move(outcome));
}

void transaction::decided(int32_t partition, domain::item_command result,
                          std::optional<domain::item> state) {
  answered(partition, result.item_id, std::move(state),
           result.status == domain::command_status::applied);
  outputs_[partition].commands.push_back(std::move(result));
}

void transaction::fail(std::string why) {
  if (failure_.empty())
    failure_ = std::move(why);
}

void transaction::add_delivered(std::map<kafka::topic_partition, std::vector<int64_t>> more) {
  for (auto& [tp, offsets] : more) {
    auto& to = delivered_[tp];
    to.insert(to.end(), offsets.begin(), offsets.end());
  }
}

std::map<int32_t, state_batch> transaction::take_batches() {
  auto out = std::move(outputs_);
  outputs_.clear();
  for (auto& [item_id, snap] : snapshots_)
    out[snap.first].items.push_back(std::move(snap.second));
  snapshots_.clear();
  return out;
}

} // namespace bps
