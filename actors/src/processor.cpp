#include "bps/actors/processor.hpp"

#include <algorithm>
#include <csignal>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <pthread.h>
#include <set>
#include <thread>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "bps/actors/codec.hpp"
#include "bps/actors/item_actor.hpp"
#include "bps/actors/item_registry.hpp"
#include "bps/actors/own_outputs.hpp"
#include "bps/actors/state_store.hpp"
#include "bps/actors/transaction.hpp"
#include "bps/clock.hpp"
#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/classify.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/log_origin.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"
#include "catch_up.hpp"

namespace bps {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

/// One partition this node owns, and where it stands. A partition decides requests
/// only when `active`: its store holds every output committed before its input
/// offsets, whoever wrote them. Anything that leaves that in doubt (an abort, a
/// commit whose result is unknown, a failed store write, an outcome this node did
/// not expect) sends it back to `recovering`.
struct partition_task {
  enum class phase {
    /// Waiting to fetch its stable committed offsets, open its store and measure
    /// the ends of its logs (retried with a backoff until that works).
    recovering,
    /// Its store is being brought up to those ends (catch_up).
    reading,
    /// Caught up; the consumer is being positioned at the committed offsets (a seek
    /// right after an assignment may be refused for a moment: retried shortly).
    positioning,
    /// Deciding: the consumer is positioned at its committed offsets and resumed.
    active,
  };
  int32_t partition = 0;
  phase at = phase::recovering;
  /// Its committed state; null until opened (and after a failed write).
  std::unique_ptr<state_store> store;
  /// Where the inputs resume: the stable committed offsets fetched before catching up.
  std::vector<kafka::partition_offset> resume_at;
  /// The ends the last catch-up read to; committed outputs below them are in the store.
  catch_up_target target;
  /// Whether the store knows which output log it was built from (see
  /// kafka::log_origin), and the fingerprints to store with the next write when it
  /// does not.
  bool origin_purchases = false;
  /// Where this node's next record in each output log must land: right after the
  /// marker of its own last transaction there. Unknown after a catch-up.
  std::optional<int64_t> next_purchase_offset;
  std::optional<int64_t> next_command_offset;
  bool origin_commands = false;
  std::vector<std::pair<std::string, std::string>> origin_meta;
  // Recovery bookkeeping.
  clock_type::time_point retry_at;
  clock_type::time_point since;
  int failures = 0;
  /// Why it is catching up (assigned, an abort, ...), and the last step that failed.
  std::string why;
  std::string last_failure;
  size_t records_read = 0;
  clock_type::time_point positioning_since;
};

/// What differs between the two kinds of request.
struct purchase_kind {
  static constexpr auto kind = request_kind::purchase;
  static constexpr const char* name = "purchase";
  static constexpr const char* id_field = "purchaseId";
  static constexpr auto atom = atom::purchase_v;
  static auto decode(std::string_view bytes) {
    return domain::decode_purchase(bytes);
  }
  static bool is_request(const domain::purchase& x) {
    return x.status == domain::purchase_status::created;
  }
  static const std::string& id(const domain::purchase& x) {
    return x.purchase_id;
  }
  static caf::expected<bool> decided(state_store& st, const std::string& id) {
    auto o = st.purchase_outcome(id);
    if (!o)
      return std::move(o.error());
    return o->has_value();
  }
  static std::string_view status(const domain::purchase& x) {
    return domain::to_string(x.status);
  }
};

struct command_kind {
  static constexpr auto kind = request_kind::command;
  static constexpr const char* name = "item command";
  static constexpr const char* id_field = "commandId";
  static constexpr auto atom = atom::command_v;
  static auto decode(std::string_view bytes) {
    return domain::decode_command(bytes);
  }
  static bool is_request(const domain::item_command& x) {
    return x.status == domain::command_status::requested;
  }
  static const std::string& id(const domain::item_command& x) {
    return x.command_id;
  }
  static caf::expected<bool> decided(state_store& st, const std::string& id) {
    return st.command_decided(id);
  }
  static std::string_view status(const domain::item_command& x) {
    return domain::to_string(x.status);
  }
};

/// How one step of a transaction ended.
enum class step_end {
  done,
  /// Abort the transaction and recover (the transaction did not commit).
  abort,
  /// Make a new producer and recover: the transaction's fate is unknown to us; the
  /// new producer's init resolves it, and recovery reads what committed.
  recreate,
  /// Stopping: the call is not retried and the transaction is left to the
  /// coordinator (never aborted after a commit that may have succeeded).
  gave_up,
};

class processor {
public:
  /// `self` is the lane's consumer actor: the item actors answer to its mailbox.
  processor(caf::blocking_actor* self, const processor_config& cfg, const std::atomic<bool>& stop,
            processor_stats& stats)
    : sys_(self->system()), self_(self), cfg_(cfg), stop_(stop), stats_(stats),
      name_(cfg.lanes > 1 ? cfg.node_id + "/" + std::to_string(cfg.lane) : cfg.node_id),
      topics_(kafka::topic_names::with_prefix(cfg.topic_prefix)),
      catch_up_(cfg.bootstrap, topics_, cfg.extra) {
    catch_up_.slow_writes_by(milliseconds{cfg.faults.catch_up_slow});
  }

  /// Closes the consumer while everything its rebalance callback uses still exists
  /// (librdkafka revokes the partitions in close(); members are destroyed in reverse
  /// order of declaration, the consumer after the transaction and the tasks). run()
  /// closes it itself; this is for an exception out of the loop, after which nothing
  /// may commit (a record read may be without its outcome): the open transaction is
  /// forgotten, so the revoke commits nothing, and the coordinator aborts it (its
  /// timeout, or the next producer with this transactional id).
  ~processor() {
    txn_.clear();
    if (consumer_)
      consumer_->close();
  }

  processor(const processor&) = delete;
  processor& operator=(const processor&) = delete;

  caf::error run() {
    if (auto err = learn_partition_count())
      return err;
    auto ends = kafka::log_ends::make(cfg_.bootstrap, cfg_.extra);
    if (!ends)
      return std::move(ends.error());
    ends_ = std::move(*ends);
    if (auto err = make_producer())
      return err;
    if (auto err = make_consumer())
      return err;
    spdlog::info("processor {}: consuming {} and {} ({} partitions), commit interval {} ms", name_,
                 topics_.purchase_requests, topics_.item_command_requests, partition_count_,
                 cfg_.commit_interval.count());
    auto next_report = clock_type::now() + 10s;
    auto next_sweep = clock_type::now() + 1s;
    next_lag_ = clock_type::now() + 1s;
    while (!stop_ && !fatal_) {
      auto busy = txn_.open() || catch_up_.busy();
      auto ev = consumer_->poll(busy ? 5ms : recovering() ? 20ms : 100ms);
      if (!ev) {
        if (kafka::class_of(code_of(ev.error())) == kafka::error_class::fatal) {
          if (auto err = recreate_consumer(describe(ev.error()))) {
            fatal_ = std::move(err); // stops below, with what is open aborted
            break;
          }
          continue;
        }
        spdlog::warn("processor {}: {}", name_, describe(ev.error()));
        std::this_thread::sleep_for(100ms);
      } else if (ev->what == kafka::poll_event::kind::message) {
        handle(ev->rec);
      }
      if (txn_.open()) {
        // Take the answers in bulk: one blocking receive per record costs a thread
        // wake-up each (measured: ~4k records/s that way).
        if (txn_.outstanding() >= 512)
          drain(false);
        if (txn_.due(clock_type::now(), cfg_.max_in_flight))
          commit();
      }
      recover_step();
      if (!txn_.open() && clock_type::now() >= next_sweep) {
        next_sweep = clock_type::now() + 1s;
        passivate(true);
      }
      if (clock_type::now() >= next_lag_) {
        next_lag_ = clock_type::now() + 1s;
        auto lags = consumer_->lags(); // what the fetches saw: no request to the broker
        int64_t total = 0;
        for (const auto& l : lags)
          total += l.records;
        stats_.consumer_lag = total;
        stats_.set_lags(std::move(lags));
      }
      if (clock_type::now() >= next_report) {
        next_report = clock_type::now() + 10s;
        report();
      }
    }
    if (fatal_) {
      // Nothing uncommitted may stay behind: abort what is open, then stop.
      if (txn_.open())
        abort_and_recover("stopping: " + describe(fatal_));
      if (consumer_)
        consumer_->close();
      stop_actors(std::nullopt);
      return std::move(fatal_);
    }
    spdlog::info("processor {}: stopping", name_);
    commit();
    // A static member does not leave the group on close (KIP-345): its partitions stay
    // with it until the session timeout, or until it comes back with the same id.
    consumer_->close();
    stop_actors(std::nullopt);
    report();
    return {};
  }

private:
  // -- set-up -----------------------------------------------------------------

  caf::error learn_partition_count() {
    auto admin = kafka::admin::make(cfg_.bootstrap, cfg_.extra);
    if (!admin)
      return std::move(admin.error());
    auto d = (*admin)->describe_topic(topics_.purchase_requests, 30s);
    if (!d)
      return std::move(d.error());
    if (!*d)
      return make_error(ec::topic_mismatch, "topic " + topics_.purchase_requests
                                              + " does not exist: run bps topics ensure");
    partition_count_ = (*d)->partitions;
    auto id = (*admin)->cluster_id(30s);
    if (!id)
      return std::move(id.error());
    cluster_id_ = std::move(*id);
    return {};
  }

  caf::error make_producer() {
    kafka::producer_options opts;
    opts.bootstrap = cfg_.bootstrap;
    opts.transactional_id = processor_member_id(cfg_.topic_prefix, cfg_.node_id, cfg_.lane);
    opts.transaction_timeout = cfg_.transaction_timeout;
    opts.extra = cfg_.extra;
    auto p = kafka::producer::make(opts);
    if (!p)
      return std::move(p.error());
    producer_ = std::move(*p);
    // Its first records must not wait for librdkafka's topic scan (a second).
    if (auto err = producer_->warm(
          {topics_.purchases, topics_.item_commands, topics_.items, topics_.dead_letters}, 2s))
      spdlog::warn("processor {}: topic metadata not fetched early: {}", name_, describe(err));
    // Fences a predecessor with the same id, and ends its open transaction (a
    // prepared commit completes, anything else aborts).
    while (!stop_) {
      auto err = producer_->init_transactions(30s);
      if (!err)
        return {};
      auto action = kafka::next_action(kafka::txn_step::init, kafka::class_of(code_of(err)));
      if (action == kafka::txn_action::fail)
        return err;
      spdlog::warn("processor {}: init_transactions: {} (retrying)", name_, describe(err));
      std::this_thread::sleep_for(1s);
      if (action == kafka::txn_action::recreate_producer)
        return make_producer();
    }
    return make_error(ec::timeout, "stopped before the producer was ready");
  }

  caf::error make_consumer() {
    kafka::consumer_options opts;
    opts.bootstrap = cfg_.bootstrap;
    opts.group_id = cfg_.topic_prefix + "processor";
    opts.read_committed = true;
    opts.on_rebalance
      = [this](kafka::rebalance_kind kind, const std::vector<kafka::topic_partition>& tps) {
          on_rebalance(kind, tps);
        };
    // Static membership (KIP-345): a node restarted with the same id takes its
    // place back at once, without a rebalance. A dead node's partitions move to
    // the others after the session timeout: 10 s, not the default 45 s.
    //
    // fetch.wait.max.ms 10 (default 500): a fetch that finds nothing new should be
    // answered at once, not after 500 ms. (Measured when requests and outcomes shared
    // a topic, at 2,000 purchases/s: p50 95 -> 75 ms, p99 284 -> 204 ms.)
    // fetch.min.bytes 64 KiB (default 1): under a steady load a fetch that waits those
    // 10 ms for more records replaces many fetches of a few records each: the node's
    // CPU per purchase at 700/s fell by ~10 %, latency no worse
    // (bench/reports/2026-12-07-fetch-min-bytes).
    opts.extra
      = {{"session.timeout.ms", "10000"},
         {"fetch.wait.max.ms", "10"},
         {"fetch.min.bytes", "65536"},
         {"heartbeat.interval.ms", "2000"},
         {"group.instance.id", processor_member_id(cfg_.topic_prefix, cfg_.node_id, cfg_.lane)}};
    for (const auto& [k, v] : cfg_.extra)
      opts.extra[k] = v;
    auto c = kafka::consumer::make(opts);
    if (!c)
      return std::move(c.error());
    consumer_ = std::move(*c);
    return consumer_->subscribe({topics_.purchase_requests, topics_.item_command_requests});
  }

  /// The consumer became unusable: seen after a broker restart, when librdkafka
  /// 2.0.2's static member rejoins and the coordinator fences its own earlier join
  /// (FENCED_INSTANCE_ID). Everything open is aborted, every partition is given up,
  /// and a new consumer joins the group. Three times within two minutes is no broker
  /// hiccup but another node running with this node's id: then the node stops.
  caf::error recreate_consumer(const std::string& why) {
    auto now = clock_type::now();
    consumer_restarts_.push_back(now);
    while (!consumer_restarts_.empty() && consumer_restarts_.front() < now - 120s)
      consumer_restarts_.pop_front();
    if (consumer_restarts_.size() >= 3)
      return make_error(ec::kafka_fatal, "the consumer became unusable 3 times within two "
                                         "minutes (last: "
                                           + why + "); is another node running with --node-id "
                                           + cfg_.node_id + "?");
    spdlog::warn("processor {}: the consumer is unusable ({}); giving up its partitions and "
                 "joining the group again with a new consumer",
                 name_, why);
    if (txn_.open())
      abort_and_recover("the consumer is unusable");
    for (auto& [p, t] : tasks_) {
      stop_actors(p);
      catch_up_.remove(p);
      if (t.store)
        parked_[p] = std::move(t.store);
    }
    tasks_.clear();
    stats_.assigned_partitions = 0;
    consumer_.reset();
    while (!stop_) {
      auto err = make_consumer();
      if (!err)
        return {};
      spdlog::error("processor {}: cannot make a new consumer: {}", name_, describe(err));
      std::this_thread::sleep_for(1s);
    }
    return make_error(ec::timeout, "stopped while making a new consumer");
  }

  // -- rebalance --------------------------------------------------------------

  std::vector<kafka::topic_partition> inputs_of(int32_t p) const {
    return {{topics_.purchase_requests, p}, {topics_.item_command_requests, p}};
  }

  void on_rebalance(kafka::rebalance_kind kind, const std::vector<kafka::topic_partition>& tps) {
    std::vector<int32_t> numbers;
    for (const auto& tp : tps)
      if (tp.topic == topics_.purchase_requests)
        numbers.push_back(tp.partition);
    if (kind == kafka::rebalance_kind::revoked) {
      // Whatever is open belongs to the partitions that go: commit it now.
      commit();
      for (auto p : numbers) {
        stop_actors(p);
        catch_up_.remove(p);
        for (const auto& tp : inputs_of(p))
          txn_.unread(tp);
        if (auto it = tasks_.find(p); it != tasks_.end()) {
          // Kept: if the partition comes back, its store catches up from where it is.
          if (it->second.store)
            parked_[p] = std::move(it->second.store);
          tasks_.erase(it);
        }
      }
      stats_.assigned_partitions = tasks_.size();
      next_lag_ = clock_type::now();
      spdlog::info("processor {}: partitions revoked: {}", name_, fmt::join(numbers, ","));
      return;
    }
    check_co_partitioning(tps, numbers);
    // Nothing of these partitions is read until their state has caught up with the
    // log (recover_step, in the loop: never here, where a long log would exceed
    // max.poll.interval.ms and get this member evicted).
    if (auto err = consumer_->pause(tps))
      spdlog::error("processor {}: pausing new partitions: {}", name_, describe(err));
    auto now = clock_type::now();
    for (auto p : numbers) {
      auto& t = tasks_[p];
      t = partition_task{};
      t.partition = p;
      if (auto it = parked_.find(p); it != parked_.end()) {
        t.store = std::move(it->second);
        parked_.erase(it);
      }
      t.retry_at = now;
      t.since = now;
      t.why = "assigned";
    }
    stats_.assigned_partitions = tasks_.size();
    stats_.rehydrating = recovering();
    next_lag_ = clock_type::now(); // /metrics lists the new partitions at once
    spdlog::info("processor {}: partitions assigned: {}", name_, fmt::join(numbers, ","));
  }

  void check_co_partitioning(const std::vector<kafka::topic_partition>& tps,
                             const std::vector<int32_t>& numbers) {
    std::set<int32_t> purchases(numbers.begin(), numbers.end());
    std::set<int32_t> commands;
    for (const auto& tp : tps)
      if (tp.topic == topics_.item_command_requests)
        commands.insert(tp.partition);
    if (purchases != commands)
      spdlog::error("processor {}: the group assigned purchase-requests partitions {} but "
                    "item-command-requests "
                    "partitions {}; both topics must have the same partition count and the "
                    "range assignor",
                    name_, fmt::join(purchases, ","), fmt::join(commands, ","));
  }

  // -- recovery: bringing a partition's state up to the committed log ------------

  bool recovering() const {
    return std::any_of(tasks_.begin(), tasks_.end(), [](const auto& kv) {
      return kv.second.at != partition_task::phase::active;
    });
  }

  /// Sends partition `p` back to recovery: its actors stop (their state may be ahead
  /// of or behind the log), its inputs pause, and its store is read up to the end of
  /// the log again before it decides anything.
  void recover(partition_task& t, const std::string& why, bool reopen_store = false) {
    auto p = t.partition;
    stop_actors(p);
    catch_up_.remove(p);
    // Read again from the committed offsets. (Never called with decisions of this
    // partition in an open transaction: those abort first.)
    for (const auto& tp : inputs_of(p))
      txn_.unread(tp);
    if (reopen_store)
      t.store.reset();
    if (t.at == partition_task::phase::active) {
      t.since = clock_type::now();
      if (auto err = consumer_->pause(inputs_of(p)))
        spdlog::error("processor {}: pausing partition {}: {}", name_, p, describe(err));
    }
    t.at = partition_task::phase::recovering;
    t.why = why;
    stats_.rehydrating = true;
  }

  void recover_all(const std::string& why) {
    for (auto& [p, t] : tasks_)
      recover(t, why);
  }

  /// A recovery step failed: try again later (backing off), undecided meanwhile.
  void retry_later(partition_task& t, const std::string& why, bool reopen_store = false) {
    auto cause = t.why;
    recover(t, cause, reopen_store);
    t.last_failure = why;
    ++t.failures;
    auto backoff = std::min<int64_t>(2000, 100LL << std::min(t.failures, 5));
    t.retry_at = clock_type::now() + milliseconds{backoff};
    if (t.failures == 1 || t.failures % 10 == 0)
      spdlog::warn("processor {}: partition {} cannot catch up yet (attempt {}): {}; it decides "
                   "nothing until it can",
                   name_, t.partition, t.failures, why);
  }

  void recover_step() {
    auto now = clock_type::now();
    // Starting a catch-up makes blocking calls (offsets, log ends, a store's origin
    // check): only between transactions, so that they never hold an open one back.
    if (!txn_.open())
      for (auto& [p, t] : tasks_)
        if (t.at == partition_task::phase::recovering && now >= t.retry_at && !fatal_)
          start_catch_up(t);
    if (catch_up_.busy()) {
      auto r = catch_up_.step(txn_.open() ? 10ms : 50ms);
      for (auto& [p, f] : r.failed) {
        if (!f.store && code_of(f.error) == ec::invalid_argument) {
          // A setting the reader cannot work with: no retry will help.
          fatal_ = make_error(ec::invalid_argument, "catching up partitions: " + describe(f.error));
          continue;
        }
        if (auto it = tasks_.find(p); it != tasks_.end())
          retry_later(it->second, "catching up: " + describe(f.error), f.store);
      }
      for (auto [p, records] : r.done)
        if (auto it = tasks_.find(p); it != tasks_.end()) {
          it->second.records_read = records;
          it->second.at = partition_task::phase::positioning;
          it->second.positioning_since = now;
          activate(it->second);
        }
    }
    for (auto& [p, t] : tasks_)
      if (t.at == partition_task::phase::positioning && now >= t.retry_at)
        activate(t);
    stats_.rehydrating = recovering();
  }

  /// Fetches the stable committed offsets, opens the store, measures the ends of the
  /// logs and starts reading. The order matters: committed offsets first. With
  /// read_committed, fetching them waits while another member's transaction that
  /// holds offsets of this partition is open; once they are known, every output
  /// committed with them lies below the ends measured next.
  void start_catch_up(partition_task& t) {
    auto p = t.partition;
    auto committed = ++cfg_.faults.reached->offset_fetches == cfg_.faults.offsets_fail
                       ? caf::expected<std::vector<kafka::partition_offset>>{make_error(
                         ec::kafka_retriable, "fault: offsets-fail")}
                       : consumer_->committed(inputs_of(p), 1s);
    if (!committed)
      return retry_later(t, "fetching the committed offsets: " + describe(committed.error()));
    for (auto& po : *committed)
      if (po.offset < 0)
        po.offset = kafka::offset_beginning; // nothing committed yet
    if (!t.store) {
      auto store = open_store(p);
      if (!store && code_of(store.error()) == ec::invalid_argument) {
        // An unusable state directory does not get better by retrying.
        fatal_
          = make_error(ec::invalid_argument, "the state store of partition " + std::to_string(p)
                                               + ": " + describe(store.error()));
        return;
      }
      if (!store)
        return retry_later(t, "opening the state store: " + describe(store.error()));
      t.store = std::move(*store);
    }
    auto ends = log_ends(p);
    if (!ends)
      return retry_later(t, "reading the ends of the logs: " + describe(ends.error()));
    auto fits = store_fits(t, *ends);
    if (!fits)
      return retry_later(t, "checking the state store: " + describe(fits.error()));
    if (!*fits) {
      t.store.reset();
      if (auto err = destroy_rocksdb_store(store_dir(p)))
        return retry_later(t, describe(err));
      auto store = open_store(p);
      if (!store)
        return retry_later(t, "opening the state store: " + describe(store.error()));
      t.store = std::move(*store);
    }
    if (auto err = catch_up_.add(p, *t.store, *ends))
      return retry_later(t, "reading the state store: " + describe(err), true);
    auto from = t.store->positions();
    if (from && !cfg_.state_dir.empty())
      spdlog::info("processor {}: partition {} ({}): catching up from items@{} purchases@{} "
                   "item-commands@{} to {}/{}/{}",
                   name_, p, t.why, from->items, from->purchases, from->commands, ends->items,
                   ends->purchases, ends->commands);
    t.resume_at = std::move(*committed);
    t.target = *ends;
    t.next_purchase_offset.reset();
    t.next_command_offset.reset();
    t.at = partition_task::phase::reading;
  }

  caf::expected<catch_up_target> log_ends(int32_t p) {
    catch_up_target out;
    std::pair<const std::string*, int64_t*> logs[] = {{&topics_.items, &out.items},
                                                      {&topics_.purchases, &out.purchases},
                                                      {&topics_.item_commands, &out.commands}};
    for (auto [topic, end] : logs) {
      // The high watermark (ends_ reads read_uncommitted): the consumer's own
      // read_committed view would stop at the last stable offset, before a
      // transaction whose markers have not landed yet, and the catch-up would not wait
      // for it.
      auto at = ends_->end({*topic, p}, 5s);
      if (!at)
        return std::move(at.error());
      *end = *at;
    }
    return out;
  }

  /// False if the store cannot belong to these logs: its positions lie beyond their
  /// ends, or the first records it absorbed are not there (topics deleted and
  /// created anew, however far the new logs have grown).
  caf::expected<bool> store_fits(partition_task& t, const catch_up_target& ends) {
    auto pos = t.store->positions();
    if (!pos)
      return std::move(pos.error());
    if (pos->items > ends.items || pos->purchases > ends.purchases
        || pos->commands > ends.commands) {
      spdlog::warn("processor {}: partition {}: the store reaches beyond the end of the log "
                   "(topics created anew?); rebuilt",
                   name_, t.partition);
      return false;
    }
    std::pair<const std::string*, int64_t> logs[]
      = {{&topics_.purchases, pos->purchases}, {&topics_.item_commands, pos->commands}};
    for (auto [topic, at] : logs) {
      if (at == 0)
        continue; // nothing read from this log yet
      auto stored = t.store->meta("origin." + *topic);
      if (!stored)
        return std::move(stored.error());
      if (!*stored) {
        spdlog::warn("processor {}: partition {}: the store cannot say which {} log it was "
                     "built from; rebuilt",
                     name_, t.partition, *topic);
        return false;
      }
      auto same = kafka::same_origin(cfg_.bootstrap, {*topic, t.partition},
                                     kafka::log_origin::parse(**stored), cfg_.extra, 10s);
      if (!same)
        return std::move(same.error());
      if (!*same) {
        spdlog::warn("processor {}: partition {}: the store was built from another {} log "
                     "(topics deleted and created anew?); rebuilt",
                     name_, t.partition, *topic);
        return false;
      }
    }
    return true;
  }

  /// The store has caught up: resume the inputs at the committed offsets.
  void activate(partition_task& t) {
    auto p = t.partition;
    for (const auto& po : t.resume_at) {
      auto err = consumer_->seek(po, 5s);
      if (!err)
        continue;
      if (clock_type::now() - t.positioning_since < 10s) {
        // Right after an assignment librdkafka refuses a seek until the partition's
        // fetcher has started ("Erroneous state"): ask again shortly.
        t.retry_at = clock_type::now() + 100ms;
        t.last_failure = "positioning the consumer: " + describe(err);
        return;
      }
      return retry_later(t, "positioning the consumer: " + describe(err));
    }
    if (auto err = consumer_->resume(inputs_of(p)))
      return retry_later(t, "resuming the consumer: " + describe(err));
    auto purchases_origin = t.store->meta("origin." + topics_.purchases);
    auto commands_origin = t.store->meta("origin." + topics_.item_commands);
    if (!purchases_origin || !commands_origin)
      return retry_later(t, "reading the state store", true);
    t.origin_purchases = purchases_origin->has_value();
    t.origin_commands = commands_origin->has_value();
    t.origin_meta.clear();
    t.at = partition_task::phase::active;
    t.failures = 0;
    auto took = std::chrono::duration_cast<milliseconds>(clock_type::now() - t.since);
    // Every assignment, and every slow catch-up, is worth a line; the quick one after
    // each abort is not.
    auto level = t.why == "assigned" || took > 1s ? spdlog::level::info : spdlog::level::debug;
    spdlog::log(level,
                "processor {}: partition {} caught up ({}): {} records read in {} ms; deciding "
                "from purchase-requests@{} item-command-requests@{}",
                name_, p, t.why, t.records_read, took.count(), t.resume_at[0].offset,
                t.resume_at[1].offset);
  }

  /// Opens the state store of a partition: RocksDB under --state-dir, or memory.
  caf::expected<std::unique_ptr<state_store>> open_store(int32_t p) {
    if (cfg_.state_dir.empty())
      return make_memory_store();
    std::string note;
    auto s = open_rocksdb_store(store_dir(p), {cluster_id_, cfg_.topic_prefix, p, partition_count_},
                                note);
    if (s)
      spdlog::info("processor {}: partition {}: {}", name_, p, note);
    return s;
  }

  std::string store_dir(int32_t p) const {
    return processor_store_dir(cfg_.state_dir, cfg_.topic_prefix, cfg_.lane, p);
  }

  // -- records ----------------------------------------------------------------

  void handle(const kafka::record& rec) {
    auto it = tasks_.find(rec.partition);
    if (it == tasks_.end() || it->second.at != partition_task::phase::active)
      return; // read again once the partition has caught up
    auto& t = it->second;
    ++stats_.records;
    // Read: committed with the next transaction (every request has an output: its
    // outcome or a dead letter).
    txn_.read(rec.topic, rec.partition, rec.offset);
    if (rec.topic == topics_.purchase_requests)
      handle_record<purchase_kind>(t, rec);
    else if (rec.topic == topics_.item_command_requests)
      handle_record<command_kind>(t, rec);
  }

  /// Begins a transaction unless one is open; false if the producer had to be made
  /// anew (then everything is recovered, and the record is read again).
  bool ensure_txn() {
    if (txn_.open())
      return true;
    if (auto err = producer_->begin_transaction()) {
      recreate_producer("begin_transaction: " + describe(err));
      return false;
    }
    txn_.begin(clock_type::now(), cfg_.commit_interval);
    return true;
  }

  /// Checks what every request must satisfy; returns the reason it does not.
  std::optional<std::string> misplaced(const kafka::record& rec, const std::string& item_id) {
    if (!rec.key || *rec.key != item_id)
      return fmt::format("the record key is {} but the itemId is \"{}\"; records must be keyed "
                         "by itemId",
                         rec.key ? "\"" + *rec.key + "\"" : "null", item_id);
    auto owner = kafka::partition_for(item_id, partition_count_);
    if (owner != rec.partition)
      return fmt::format("itemId \"{}\" belongs to partition {} (murmur2, like Kafka's Java "
                         "client) but the record is in partition {}; produce with "
                         "partitioner=murmur2_random",
                         item_id, owner, rec.partition);
    return std::nullopt;
  }

  /// Validates a request, refuses an id decided before, and sends it to its item
  /// actor.
  template <class Kind>
  void handle_record(partition_task& t, const kafka::record& rec) {
    if (!rec.value)
      return dead_letter(rec, fmt::format("a {} record without a value", Kind::name));
    auto d = Kind::decode(*rec.value);
    if (!d)
      return dead_letter(rec, fmt::format("cannot decode the {}: {}", Kind::name, d.error));
    auto& request = *d.value;
    if (!Kind::is_request(request))
      return dead_letter(rec, fmt::format("a {} with status {} is not a request: only requests "
                                          "belong in {} (nodes write the outcomes)",
                                          Kind::name, Kind::status(request), rec.topic));
    if (auto why = misplaced(rec, request.item_id))
      return dead_letter(rec, *why);
    const auto& id = Kind::id(request);
    auto decided = read_fault() ? caf::expected<bool>{make_error(ec::malformed, "fault: read-fail")}
                                : Kind::decided(*t.store, id);
    if (!decided)
      return store_failed(t, decided.error());
    if (txn_.pending(Kind::kind, rec.partition, id) || *decided)
      return dead_letter(rec, fmt::format("{} \"{}\" was already decided; a {} is decided once",
                                          Kind::id_field, id, Kind::name));
    auto actor = actor_for(t, request.item_id);
    if (!actor)
      return store_failed(t, actor.error());
    if (!ensure_txn())
      return;
    txn_.sent(Kind::kind, rec.partition, id, rec.timestamp_ms);
    self_->send(*actor, Kind::atom, std::move(request), generation_);
  }

  /// Whether the read-fail fault fires at this read (counted while answers are owed).
  bool read_fault() {
    return cfg_.faults.read_fail > 0 && txn_.outstanding() > 0
           && ++cfg_.faults.reached->store_reads == cfg_.faults.read_fail;
  }

  /// A store read failed: nothing can be decided from it. The transaction aborts
  /// and the partition's store is opened and caught up again.
  void store_failed(partition_task& t, const caf::error& err) {
    auto p = t.partition;
    abort_and_recover("state store of partition " + std::to_string(p) + ": " + describe(err));
    if (auto it = tasks_.find(p); it != tasks_.end())
      recover(it->second, "its state store failed", true);
  }

  void dead_letter(const kafka::record& rec, std::string reason) {
    if (!ensure_txn())
      return;
    ++stats_.dead_letters;
    spdlog::debug("processor {}: dead letter {}/{}@{}: {}", name_, rec.topic, rec.partition,
                  rec.offset, reason);
    domain::dead_letter dl{std::move(reason), rec.topic, rec.partition,
                           rec.offset,        rec.key,   rec.value};
    produce(topics_.dead_letters, rec.partition, rec.key.value_or(""), domain::encode(dl),
            domain::headers_of(dl, cfg_.node_id));
  }

  void produce(const std::string& topic, int32_t partition, std::string_view key,
               const std::string& value, const domain::headers& headers) {
    if (!txn_.failure().empty())
      return;
    if (auto err = producer_->produce(topic, key, value, partition, headers.view()))
      txn_.fail(describe(err));
  }

  // -- item actors --------------------------------------------------------------

  caf::expected<item_actor> actor_for(partition_task& t, const std::string& item_id) {
    auto now = clock_type::now();
    if (const auto* live = actors_.use(item_id, now))
      return *live;
    auto initial = t.store->item(item_id);
    if (!initial)
      return std::move(initial.error());
    auto hdl = sys_.spawn(item_actor_impl, std::move(*initial));
    actors_.add(item_id, t.partition, hdl, now);
    stats_.live_actors = actors_.size();
    return hdl;
  }

  /// Stops item actors that were idle for the idle timeout (with `sweep_idle`: the
  /// sweep visits every actor, so once a second, not after every commit), and the
  /// least recently used ones while more than the bound are alive. Only between
  /// transactions: then every actor's state is committed, and the next request spawns
  /// it again from the state store.
  void passivate(bool sweep_idle) {
    if (txn_.open() || actors_.empty())
      return;
    auto gone
      = actors_.passivate(clock_type::now(), cfg_.idle_timeout, cfg_.max_live_items, sweep_idle);
    for (const auto& hdl : gone)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    stats_.passivated += gone.size();
    stats_.live_actors = actors_.size();
  }

  void stop_actors(std::optional<int32_t> partition) {
    for (const auto& hdl : actors_.remove(partition))
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    stats_.live_actors = actors_.size();
  }

  /// Takes the answers of the item actors; with `wait`, all of them. Answers of an
  /// earlier generation (of actors stopped since) are dropped.
  void drain(bool wait) {
    while (txn_.outstanding() > 0) {
      bool got = false;
      self_->receive(
        [&](purchase_reply& r) {
          got = true;
          take(r);
        },
        [&](command_reply& r) {
          got = true;
          take(r);
        },
        caf::after(wait ? cfg_.actor_timeout : milliseconds{0}) >> [] {});
      if (!got)
        return;
    }
  }

  /// An answer of this generation is decided on; an older one is dropped.
  template <class Reply>
  void take(Reply& r) {
    if (r.tag == generation_)
      on_reply(r);
    else
      ++stats_.late_replies;
  }

  int32_t partition_of(const std::string& item_id) {
    return kafka::partition_for(item_id, partition_count_);
  }

  void on_reply(purchase_reply& r) {
    ++stats_.purchases_decided;
    ++(r.outcome.status == domain::purchase_status::successful ? stats_.purchases_successful
                                                               : stats_.purchases_failed);
    auto p = partition_of(r.outcome.item_id);
    auto at = std::to_string(wall_ms());
    // The request and its outcome, together in one transaction.
    auto request = domain::request_of(r.outcome);
    produce(topics_.purchases, p, r.outcome.item_id, domain::encode(request),
            domain::headers_of(request, cfg_.node_id));
    produce(topics_.purchases, p, r.outcome.item_id, domain::encode(r.outcome),
            domain::headers_of(r.outcome, cfg_.node_id, at));
    txn_.decided(p, std::move(r.outcome),
                 r.exists ? std::optional{std::move(r.state)} : std::nullopt);
  }

  void on_reply(command_reply& r) {
    ++stats_.commands_decided;
    if (r.result.status == domain::command_status::rejected)
      ++stats_.commands_rejected;
    auto p = partition_of(r.result.item_id);
    auto at = std::to_string(wall_ms());
    auto request = domain::request_of(r.result);
    produce(topics_.item_commands, p, r.result.item_id, domain::encode(request),
            domain::headers_of(request, cfg_.node_id));
    produce(topics_.item_commands, p, r.result.item_id, domain::encode(r.result),
            domain::headers_of(r.result, cfg_.node_id, at));
    txn_.decided(p, std::move(r.result),
                 r.exists ? std::optional{std::move(r.state)} : std::nullopt);
  }

  // -- transactions -------------------------------------------------------------

  /// Runs one step of the transaction, retrying what is retriable (not while
  /// stopping), and says how it ended.
  template <class F>
  step_end step(kafka::txn_step which, F&& call) {
    for (int attempt = 1;; ++attempt) {
      auto err = call();
      if (!err)
        return step_end::done;
      step_error_ = describe(err);
      auto action = kafka::next_action(which, kafka::class_of(code_of(err)));
      if (action == kafka::txn_action::retry) {
        if (stop_)
          return step_end::gave_up;
        if (attempt < 20) {
          spdlog::warn("processor {}: {} (retry {})", name_, step_error_, attempt);
          std::this_thread::sleep_for(milliseconds{std::min(100 * attempt, 1000)});
          continue;
        }
        // Retries ran out: for a commit, its result is unknown.
        return step_end::recreate;
      }
      if (action == kafka::txn_action::abort_and_rewind && which != kafka::txn_step::abort)
        return step_end::abort;
      return step_end::recreate;
    }
  }

  /// How long one transaction call may block: short once stopping, so that a node
  /// whose broker is gone still stops within its bound.
  milliseconds call_timeout() const {
    // Short enough that a call in flight when the stop comes does not hold it long; a
    // timed-out call is retried (a commit that timed out is retried, never aborted).
    return stop_ ? milliseconds{3000} : milliseconds{5000};
  }

  /// Acts on a step that did not end in done; false if the transaction is over.
  void after_failed_step(step_end how, const char* what) {
    switch (how) {
      case step_end::done: return;
      case step_end::abort: return abort_and_recover(std::string{what} + ": " + step_error_);
      case step_end::recreate:
        return recreate_producer(std::string{what} + ": " + step_error_
                                 + " (its result is unknown)");
      case step_end::gave_up:
        if (std::string_view{what} != "commit_transaction") {
          // The commit was never attempted: abort, so that the open transaction does
          // not hold readers back until it times out.
          spdlog::warn("processor {}: stopping: {} failed ({}); aborting", name_, what,
                       step_error_);
          if (auto err = producer_->abort_transaction(5s))
            spdlog::warn("processor {}: abort_transaction: {}", name_, describe(err));
        } else {
          // Never abort after a commit that may have succeeded.
          spdlog::warn("processor {}: stopping with the transaction's commit unfinished ({}); "
                       "the coordinator ends it, and the next owner reads what committed",
                       name_, step_error_);
        }
        txn_.clear();
        return;
    }
  }

  /// The commit's duration, and for each request it decided the time from its record's
  /// timestamp to now.
  void observe_commit(clock_type::time_point began) {
    stats_.commit_seconds.observe(std::chrono::duration<double>(clock_type::now() - began).count());
    auto wall = wall_ms();
    for (auto t : txn_.request_times_ms())
      if (t > 0) // a record without a timestamp says -1
        stats_.decision_seconds.observe(static_cast<double>(wall - t) / 1000.0);
  }

  void commit() {
    if (!txn_.open())
      return;
    drain(true);
    if (txn_.outstanding() > 0)
      return abort_and_recover(fmt::format("{} item actors did not answer within {} ms",
                                           txn_.outstanding(), cfg_.actor_timeout.count()));
    for (const auto& [item_id, snap] : txn_.snapshots())
      produce(topics_.items, snap.first, item_id, domain::encode(snap.second),
              domain::headers_of(snap.second, cfg_.node_id));
    if (!txn_.failure().empty())
      return abort_and_recover(txn_.failure());
    if (cfg_.chaos_abort_every > 0 && ++chaos_counter_ % cfg_.chaos_abort_every == 0) {
      // Make the outputs reach the log first, so that the abort has something to hide.
      producer_->flush(30s);
      return abort_and_recover("chaos: --chaos-abort-every "
                               + std::to_string(cfg_.chaos_abort_every));
    }
    auto commit_began = clock_type::now();
    auto offsets = txn_.offsets();
    if (auto how
        = step(kafka::txn_step::send_offsets,
               [&] { return producer_->send_offsets_to_transaction(offsets, *consumer_, 30s); });
        how != step_end::done)
      return after_failed_step(how, "send_offsets_to_transaction");
    // Every output is in the log before the commit: where each landed says whether
    // another writer wrote into these partitions since this node caught them up.
    // (commit_transaction would wait for the same deliveries.)
    if (auto err = producer_->flush(30s))
      return abort_and_recover("flushing the transaction's records: " + describe(err));
    producer_->poll(milliseconds{0}); // serve the last delivery reports
    txn_.add_delivered(producer_->take_delivered());
    if (auto why = foreign_records()) {
      ++stats_.foreign_records;
      spdlog::error("processor {}: {}; aborting, and reading those partitions' logs again before "
                    "deciding on",
                    name_, *why);
      return abort_and_recover("records of another writer in its outputs");
    }
    auto commit_number = ++cfg_.faults.reached->commits; // of the node, all lanes
    if (commit_number == cfg_.faults.pause_before_commit) {
      spdlog::warn("processor {}: fault: pausing (SIGSTOP) before commit {}", name_, commit_number);
      spdlog::default_logger()->flush();
      std::raise(SIGSTOP);
    }
    if (auto how
        = step(kafka::txn_step::commit, [&] { return producer_->commit_transaction(30s); });
        how != step_end::done)
      return after_failed_step(how, "commit_transaction");
    if (commit_number == cfg_.faults.commit_unknown)
      return recreate_producer("fault: commit-unknown (the commit succeeded; the node is told "
                               "its result is unknown)");
    ++stats_.commits;
    observe_commit(commit_began);
    if (cfg_.chaos_crash_after_commit > 0 && stats_.commits == cfg_.chaos_crash_after_commit) {
      spdlog::warn("processor {}: chaos: killing this node between the commit and the state "
                   "store write",
                   name_);
      spdlog::default_logger()->flush();
      std::raise(SIGKILL);
    }
    remember_committed();
    txn_.clear();
    passivate(false);
  }

  /// Writes what the transaction committed into the state stores (after the
  /// commit: a store is never ahead of Kafka), with the positions our own outputs
  /// reached. A store that cannot take it is caught up from the log again.
  void remember_committed() {
    producer_->poll(milliseconds{0}); // nothing is left to deliver after the flush
    txn_.add_delivered(producer_->take_delivered());
    const auto& delivered = txn_.delivered();
    learn_origins(delivered);
    for (auto& [number, batch] : txn_.take_batches()) {
      auto p = number; // a plain variable: lambdas capture it on every compiler
      auto it = tasks_.find(p);
      if (it == tasks_.end() || !it->second.store)
        continue;
      auto& t = it->second;
      auto pos = t.store->positions();
      if (!pos) {
        recover(t, "its state store failed: " + describe(pos.error()), true);
        continue;
      }
      auto advance = [&](const std::string& topic, int64_t& at) {
        if (auto d = delivered.find({topic, p}); d != delivered.end() && !d->second.empty())
          at = std::max(at, *std::max_element(d->second.begin(), d->second.end()) + 1);
      };
      advance(topics_.items, pos->items);
      advance(topics_.purchases, pos->purchases);
      advance(topics_.item_commands, pos->commands);
      batch.positions = *pos;
      batch.meta = t.origin_meta;
      auto err = ++cfg_.faults.reached->store_writes == cfg_.faults.store_fail
                   ? make_error(ec::malformed, "fault: store-fail")
                   : t.store->apply(batch);
      if (err) {
        // The transaction is committed whatever happens here. A store that missed it
        // must not be used (its next write would move its positions past what it
        // missed): it is opened again and caught up from the log.
        spdlog::error("processor {}: state store of partition {}: {}; catching up from the log",
                      name_, p, describe(err));
        recover(t, "its state store missed a committed transaction: " + describe(err), true);
        continue;
      }
      t.origin_meta.clear();
      expect_next(t, delivered);
    }
  }

  /// Whether records of another writer lie before or among this transaction's records
  /// in its output logs (own_outputs::foreign_records, from the delivery reports). A
  /// store's positions never move past records it has not absorbed: found before the
  /// commit, the transaction aborts and the catch-up reads them.
  std::optional<std::string> foreign_records() const {
    for (const auto& [tp, offsets] : txn_.delivered()) {
      if (tp.topic != topics_.purchases && tp.topic != topics_.item_commands)
        continue;
      auto it = tasks_.find(tp.partition);
      if (it == tasks_.end())
        continue;
      const auto& t = it->second;
      bool purchases = tp.topic == topics_.purchases;
      own_outputs::expectation expected{purchases ? t.next_purchase_offset : t.next_command_offset,
                                        purchases ? t.target.purchases : t.target.commands};
      if (auto why = own_outputs::foreign_records(fmt::format("{}/{}", tp.topic, tp.partition),
                                                  offsets, expected))
        return why;
    }
    return std::nullopt;
  }

  /// After a commit: where this node's next record lands in each output log of `t` it
  /// wrote to.
  void expect_next(partition_task& t,
                   const std::map<kafka::topic_partition, std::vector<int64_t>>& delivered) const {
    std::pair<const std::string*, std::optional<int64_t>*> logs[]
      = {{&topics_.purchases, &t.next_purchase_offset},
         {&topics_.item_commands, &t.next_command_offset}};
    for (auto [topic, next] : logs)
      if (auto d = delivered.find({*topic, t.partition}); d != delivered.end())
        if (auto at = own_outputs::next_after_commit(d->second))
          *next = at;
  }

  /// A store that does not know which output log it was built from learns it from the
  /// first record this node committed there (see kafka::log_origin).
  void learn_origins(const std::map<kafka::topic_partition, std::vector<int64_t>>& delivered) {
    std::map<kafka::topic_partition, int64_t> wanted;
    for (const auto& [tp, offsets] : delivered) {
      auto it = tasks_.find(tp.partition);
      if (it == tasks_.end() || offsets.empty())
        continue;
      auto& t = it->second;
      bool known = tp.topic == topics_.purchases       ? t.origin_purchases
                   : tp.topic == topics_.item_commands ? t.origin_commands
                                                       : true;
      if (!known)
        wanted.emplace(tp, *std::min_element(offsets.begin(), offsets.end()));
    }
    if (wanted.empty())
      return;
    auto found = kafka::origins_at(cfg_.bootstrap, wanted, cfg_.extra, 5s);
    if (!found) {
      // Retried with the next commit; a store without a fingerprint is rebuilt if the
      // node restarts before.
      spdlog::warn("processor {}: reading the first records of the output logs: {}", name_,
                   describe(found.error()));
      return;
    }
    for (const auto& [tp, origin] : *found) {
      auto& t = tasks_.at(tp.partition);
      (tp.topic == topics_.purchases ? t.origin_purchases : t.origin_commands) = true;
      t.origin_meta.emplace_back("origin." + tp.topic, origin.to_string());
    }
  }

  void abort_and_recover(const std::string& why) {
    ++stats_.aborts;
    if (auto owed = txn_.outstanding(); owed > 0)
      spdlog::warn("processor {}: aborting the transaction: {} ({} decisions still owed by item "
                   "actors are dropped)",
                   name_, why, owed);
    else
      spdlog::warn("processor {}: aborting the transaction: {}", name_, why);
    if (txn_.open()) {
      auto how = step(kafka::txn_step::abort,
                      [&] { return producer_->abort_transaction(call_timeout()); });
      if (how == step_end::recreate)
        return recreate_producer("abort_transaction: " + step_error_);
    }
    forget_uncommitted();
    recover_all("an aborted transaction");
  }

  void recreate_producer(const std::string& why) {
    ++stats_.producer_restarts;
    spdlog::warn("processor {}: recreating the producer: {}", name_, why);
    producer_.reset();
    while (!stop_) {
      auto err = make_producer();
      if (!err)
        break;
      spdlog::error("processor {}: cannot recreate the producer: {}", name_, describe(err));
      std::this_thread::sleep_for(1s);
    }
    forget_uncommitted();
    if (!producer_)
      return; // stopping: nothing more is written
    // What committed is found in the log, whoever wrote it.
    recover_all("a new producer (" + why + ")");
  }

  /// Forgets everything uncommitted: actor state, replies in flight.
  void forget_uncommitted() {
    stop_actors(std::nullopt);
    txn_.clear(); // every partition is read again from its committed offsets
    if (producer_)
      producer_->take_delivered(); // offsets of aborted records mean nothing
    // Replies of stopped actors may still arrive: drain() drops them by their tag.
    ++generation_;
  }

  void report() {
    // One line per change, not per period: an idle node stays quiet.
    auto fingerprint = stats_.records.load() + stats_.commits.load() + stats_.aborts.load()
                       + stats_.assigned_partitions.load();
    if (fingerprint == last_report_)
      return;
    last_report_ = fingerprint;
    spdlog::info(
      "processor {}: {} records, {} purchases and {} commands decided, {} dead "
      "letters, {} commits, {} aborts ({} late answers dropped), {} live item actors ({} "
      "passivated), {} partitions",
      name_, stats_.records.load(), stats_.purchases_decided.load(), stats_.commands_decided.load(),
      stats_.dead_letters.load(), stats_.commits.load(), stats_.aborts.load(),
      stats_.late_replies.load(), stats_.live_actors.load(), stats_.passivated.load(),
      stats_.assigned_partitions.load());
  }

  caf::actor_system& sys_;
  caf::blocking_actor* self_;
  /// Tags the requests sent to item actors; moves on whenever the decisions not yet
  /// committed are forgotten, so that a late answer of a stopped actor is dropped.
  uint64_t generation_ = 0;
  processor_config cfg_;
  const std::atomic<bool>& stop_;
  processor_stats& stats_;
  /// In logs: the node id, and the lane's number when the node has several.
  std::string name_;
  kafka::topic_names topics_;
  int32_t partition_count_ = 0;
  std::unique_ptr<kafka::producer> producer_;
  std::unique_ptr<kafka::consumer> consumer_;
  std::unique_ptr<kafka::log_ends> ends_;
  std::map<int32_t, partition_task> tasks_;
  /// Stores of partitions this node was revoked, kept in case they come back.
  std::map<int32_t, std::unique_ptr<state_store>> parked_;
  catch_up catch_up_;
  std::string cluster_id_;
  /// The live item actors of this lane.
  item_registry<item_actor> actors_;
  /// The transaction being filled.
  transaction txn_;
  std::string step_error_;
  /// Set when something cannot work however often it is retried (a bad setting).
  caf::error fatal_;
  uint64_t chaos_counter_ = 0;
  uint64_t last_report_ = ~uint64_t{0};
  std::deque<clock_type::time_point> consumer_restarts_;
  /// When the partitions' lags are read next (at once after a rebalance).
  clock_type::time_point next_lag_;
};

} // namespace

std::string processor_member_id(const std::string& topic_prefix, const std::string& node_id,
                                size_t lane) {
  if (lane == 0)
    return topic_prefix + "processor." + node_id;
  return topic_prefix + "processor-lane" + std::to_string(lane) + "." + node_id;
}

std::string processor_store_dir(const std::string& state_dir, const std::string& topic_prefix,
                                size_t lane, int32_t p) {
  auto dir = state_dir + "/";
  if (lane > 0)
    dir += "lane-" + std::to_string(lane) + "/";
  return dir + topic_prefix + "p" + std::to_string(p);
}

void processor_stats::add(const processor_stats& o) {
  for (auto [to, from] : {std::pair{&records, &o.records},
                          {&purchases_decided, &o.purchases_decided},
                          {&purchases_successful, &o.purchases_successful},
                          {&purchases_failed, &o.purchases_failed},
                          {&commands_decided, &o.commands_decided},
                          {&commands_rejected, &o.commands_rejected},
                          {&foreign_records, &o.foreign_records},
                          {&dead_letters, &o.dead_letters},
                          {&commits, &o.commits},
                          {&aborts, &o.aborts},
                          {&producer_restarts, &o.producer_restarts},
                          {&live_actors, &o.live_actors},
                          {&passivated, &o.passivated},
                          {&late_replies, &o.late_replies},
                          {&assigned_partitions, &o.assigned_partitions}})
    *to += from->load();
  if (o.rehydrating)
    rehydrating = true;
  commit_seconds.add(o.commit_seconds);
  decision_seconds.add(o.decision_seconds);
  // A partition that just moved between lanes is in the old lane's lags until its next
  // refresh (at most a second): counted once, with the larger figure.
  auto more = o.lags();
  std::lock_guard<std::mutex> guard{lags_mutex_};
  for (auto& l : more) {
    auto same = std::find_if(lags_.begin(), lags_.end(), [&](const kafka::partition_lag& x) {
      return x.partition == l.partition && x.topic == l.topic;
    });
    if (same == lags_.end())
      lags_.push_back(std::move(l));
    else
      same->records = std::max(same->records, l.records);
  }
  int64_t total = 0;
  for (const auto& l : lags_)
    total += l.records;
  consumer_lag = total;
}

namespace {

/// A lane's Kafka consumer actor: it owns the lane's consumer and transactional
/// producer, routes each request to its item actor and commits their answers. It
/// blocks (in the consumer's poll, in transaction calls), so it is detached: a thread
/// of its own, named after the lane.
class consumer_actor : public caf::blocking_actor {
public:
  consumer_actor(caf::actor_config& ac, processor_config cfg, const std::atomic<bool>& stop,
                 processor_stats& stats, std::function<void(caf::error)> done)
    : caf::blocking_actor(ac), cfg_(std::move(cfg)), stop_(stop), stats_(stats),
      done_(std::move(done)) {}

  const char* name() const override {
    return "bps.consumer";
  }

  void act() override {
    // Shown by top -H and /proc/<pid>/task/*/comm (at most 15 characters).
    auto thread_name = "bps-lane" + std::to_string(cfg_.lane);
    pthread_setname_np(pthread_self(), thread_name.substr(0, 15).c_str());
    caf::error result;
    // CAF ends a detached actor whose act() throws without a word: report it as the
    // lane's failure instead, so that the node stops (a lane that only vanished would
    // leave its partitions undecided and the node waiting for it).
    try {
      processor p{this, cfg_, stop_, stats_};
      result = p.run();
    } catch (const std::exception& e) {
      result = make_error(ec::internal, std::string{"the processing loop threw: "} + e.what());
    } catch (...) {
      result = make_error(ec::internal, "the processing loop threw an unknown exception");
    }
    done_(std::move(result));
  }

private:
  processor_config cfg_;
  const std::atomic<bool>& stop_;
  processor_stats& stats_;
  std::function<void(caf::error)> done_;
};

} // namespace

caf::actor spawn_processor(caf::actor_system& sys, const processor_config& cfg,
                           const std::atomic<bool>& stop, processor_stats& stats,
                           std::function<void(caf::error)> done) {
  return sys.spawn<consumer_actor, caf::detached>(cfg, std::cref(stop), std::ref(stats),
                                                  std::move(done));
}

} // namespace bps
