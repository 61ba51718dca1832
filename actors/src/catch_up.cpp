#include "catch_up.hpp"

#include <algorithm>
#include <thread>

#include "bps/actors/codec.hpp"
#include "bps/error.hpp"
#include "bps/kafka/classify.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/log_origin.hpp"

namespace bps {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Records applied to a store in one write batch at most.
constexpr size_t flush_every = 5000;

kafka::consumer_options reader_options(const std::string& bootstrap,
                                       const kafka::properties& extra) {
  kafka::consumer_options opts;
  opts.bootstrap = bootstrap;
  // Assign only: never joins the group, never commits; the id is a formality.
  opts.group_id = "bps.catch-up";
  opts.read_committed = true;
  opts.report_partition_eof = true;
  opts.assign_only = true;
  // Ends are found by fetching: the broker should answer an empty fetch at once.
  opts.extra = {{"fetch.wait.max.ms", "10"}};
  for (const auto& [k, v] : extra)
    opts.extra[k] = v;
  return opts;
}

} // namespace

struct catch_up::part {
  state_store* store = nullptr;
  catch_up_target target;
  /// The next offset to read in each log.
  store_positions at;
  /// Read but not yet applied.
  state_batch pending;
  size_t pending_records = 0;
  size_t records = 0;
  /// The store starts from the beginning of a log: remember that log's first record.
  bool need_origin_purchases = false;
  bool need_origin_commands = false;

  int64_t& position_of(const kafka::topic_names& t, const std::string& topic) {
    return topic == t.items ? at.items : topic == t.purchases ? at.purchases : at.commands;
  }
  bool reached() const {
    return at.items >= target.items && at.purchases >= target.purchases
           && at.commands >= target.commands;
  }
};

catch_up::catch_up(std::string bootstrap, kafka::topic_names topics, kafka::properties extra)
  : bootstrap_(std::move(bootstrap)), topics_(std::move(topics)), extra_(std::move(extra)) {}

catch_up::~catch_up() = default;

caf::error catch_up::add(int32_t p, state_store& store, const catch_up_target& target) {
  auto from = store.positions();
  if (!from)
    return std::move(from.error());
  auto x = std::make_unique<part>();
  x->store = &store;
  x->target = target;
  x->at = *from;
  x->need_origin_purchases = from->purchases == 0;
  x->need_origin_commands = from->commands == 0;
  parts_[p] = std::move(x);
  assignment_changed_ = true;
  return {};
}

void catch_up::remove(int32_t p) {
  if (parts_.erase(p) > 0)
    assignment_changed_ = true;
}

caf::error catch_up::reassign() {
  assignment_changed_ = false;
  std::vector<kafka::partition_offset> from;
  for (const auto& kv : parts_) {
    auto p = kv.first; // a plain variable: lambdas capture it on every compiler
    const auto& x = kv.second;
    auto add = [&](const std::string& topic, int64_t at, int64_t target) {
      if (at < target)
        from.push_back({topic, p, at > 0 ? at : kafka::offset_beginning});
    };
    add(topics_.items, x->at.items, x->target.items);
    add(topics_.purchases, x->at.purchases, x->target.purchases);
    add(topics_.item_commands, x->at.commands, x->target.commands);
  }
  if (!reader_) {
    auto c = kafka::consumer::make(reader_options(bootstrap_, extra_));
    if (!c)
      return std::move(c.error());
    reader_ = std::move(*c);
  }
  return reader_->assign(from);
}

caf::error catch_up::flush(int32_t, part& x, bool final) {
  if (x.pending_records == 0 && !final)
    return {};
  x.pending.positions = x.at;
  if (final) {
    // Everything below the target is read, whatever the last records were (control
    // records of transactions, aborted records): the store is at the target.
    x.pending.positions->items = std::max(x.at.items, x.target.items);
    x.pending.positions->purchases = std::max(x.at.purchases, x.target.purchases);
    x.pending.positions->commands = std::max(x.at.commands, x.target.commands);
  }
  // A log read from its beginning without one committed record (it holds only aborted
  // transactions) stays at 0: the store has no fingerprint of it, and its node learns
  // one from the first record it commits there (a store at a position past 0 without
  // a fingerprint would be rebuilt at every recovery).
  if (x.need_origin_purchases)
    x.pending.positions->purchases = 0;
  if (x.need_origin_commands)
    x.pending.positions->commands = 0;
  if (slow_.count() > 0)
    std::this_thread::sleep_for(slow_);
  auto err = x.store->apply(x.pending);
  x.pending = state_batch{};
  x.pending_records = 0;
  return err;
}

catch_up::step_result catch_up::step(milliseconds budget) {
  step_result out;
  // Partitions whose logs are already at their targets need no reading.
  for (auto it = parts_.begin(); it != parts_.end();) {
    if (it->second->reached()) {
      if (auto err = flush(it->first, *it->second, true))
        out.failed.emplace(it->first, failure{std::move(err), true});
      else
        out.done.emplace_back(it->first, it->second->records);
      it = parts_.erase(it);
      assignment_changed_ = true;
    } else {
      ++it;
    }
  }
  if (parts_.empty()) {
    if (reader_ && assignment_changed_) {
      reader_->assign({});
      assignment_changed_ = false;
    }
    return out;
  }
  if (assignment_changed_) {
    if (auto err = reassign()) {
      for (const auto& [p, x] : parts_)
        out.failed.emplace(p, failure{err, false});
      parts_.clear();
      reader_.reset();
      return out;
    }
  }
  auto deadline = clock_type::now() + budget;
  while (clock_type::now() < deadline && !parts_.empty()) {
    auto ev = reader_->poll(milliseconds{5});
    if (!ev) {
      // A broker that is away for a moment changes nothing that was read: go on.
      if (kafka::class_of(code_of(ev.error())) == kafka::error_class::retriable)
        break;
      for (const auto& [p, x] : parts_)
        out.failed.emplace(p, failure{ev.error(), false});
      parts_.clear();
      reader_.reset();
      return out;
    }
    if (ev->what == kafka::poll_event::kind::timeout)
      continue;
    const auto& r = ev->rec;
    auto it = parts_.find(r.partition);
    if (it == parts_.end())
      continue;
    auto& x = *it->second;
    auto& at = x.position_of(topics_, r.topic);
    if (ev->what == kafka::poll_event::kind::partition_eof) {
      // With read_committed the end is the last stable offset: reaching the target
      // may mean waiting for an open transaction to end.
      at = std::max(at, r.offset);
    } else {
      ++out.records;
      ++x.records;
      at = std::max(at, r.offset + 1);
      if (r.topic == topics_.purchases && x.need_origin_purchases) {
        x.pending.meta.emplace_back("origin." + topics_.purchases, kafka::origin_of(r).to_string());
        x.need_origin_purchases = false;
      } else if (r.topic == topics_.item_commands && x.need_origin_commands) {
        x.pending.meta.emplace_back("origin." + topics_.item_commands,
                                    kafka::origin_of(r).to_string());
        x.need_origin_commands = false;
      }
      if (r.value) {
        if (r.topic == topics_.items) {
          if (auto d = domain::decode_item(*r.value))
            x.pending.items.push_back(std::move(*d.value));
        } else if (r.topic == topics_.purchases) {
          if (auto d = domain::decode_purchase(*r.value);
              d && d.value->status != domain::purchase_status::created)
            x.pending.purchases.push_back(std::move(*d.value));
        } else if (auto d = domain::decode_command(*r.value);
                   d && d.value->status != domain::command_status::requested) {
          x.pending.commands.push_back(std::move(*d.value));
        }
      }
      if (++x.pending_records >= flush_every)
        if (auto err = flush(r.partition, x, false)) {
          out.failed.emplace(r.partition, failure{std::move(err), true});
          parts_.erase(it);
          assignment_changed_ = true;
          continue;
        }
    }
    if (x.reached()) {
      auto p = r.partition;
      if (auto err = flush(p, x, true))
        out.failed.emplace(p, failure{std::move(err), true});
      else
        out.done.emplace_back(p, x.records);
      parts_.erase(p);
      assignment_changed_ = true;
      // A new assignment before reading on: the finished partition's records must
      // not be fetched any more.
      break;
    }
  }
  return out;
}

} // namespace bps
