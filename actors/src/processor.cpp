#include "bps/actors/processor.hpp"

#include <algorithm>
#include <csignal>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bps/actors/codec.hpp"
#include "bps/actors/item_actor.hpp"
#include "bps/actors/state_store.hpp"
#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/classify.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"

namespace bps {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

/// The transaction being filled.
struct open_txn {
  bool open = false;
  clock_type::time_point deadline;
  /// The next offset to read, per input partition: committed with the outputs.
  std::map<kafka::topic_partition, int64_t> offsets;
  /// Ids decided in this transaction, per partition number.
  std::map<int32_t, std::unordered_set<std::string>> purchases;
  std::map<int32_t, std::unordered_set<std::string>> commands;
  /// The last snapshot of each changed item (coalesced: the outcomes carry the chain).
  std::map<std::string, std::pair<int32_t, domain::item>> snapshots;
  /// The outcomes per partition number, for the state stores after the commit.
  std::map<int32_t, state_batch> outputs;
  size_t outstanding = 0;
  /// Set when an output could not be produced: the transaction must abort.
  std::string failure;
};

/// What differs between the two kinds of request.
struct purchase_kind {
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
  static bool decided(state_store& st, const std::string& id) {
    return st.purchase_outcome(id).has_value();
  }
  static auto& pending(open_txn& txn) {
    return txn.purchases;
  }
};

struct command_kind {
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
  static bool decided(state_store& st, const std::string& id) {
    return st.command_decided(id);
  }
  static auto& pending(open_txn& txn) {
    return txn.commands;
  }
};

class processor {
public:
  processor(caf::actor_system& sys, const processor_config& cfg, const std::atomic<bool>& stop,
            processor_stats& stats)
    : sys_(sys), cfg_(cfg), stop_(stop), stats_(stats),
      topics_(kafka::topic_names::with_prefix(cfg.topic_prefix)) {}

  caf::error run() {
    if (auto err = learn_partition_count())
      return err;
    if (auto err = make_producer())
      return err;
    if (auto err = make_consumer())
      return err;
    spdlog::info("processor {}: consuming {} and {} ({} partitions), commit interval {} ms",
                 cfg_.node_id, topics_.purchases, topics_.item_commands, partition_count_,
                 cfg_.commit_interval.count());
    auto next_report = clock_type::now() + 10s;
    auto next_sweep = clock_type::now() + 1s;
    while (!stop_) {
      auto ev = consumer_->poll(txn_.open ? 5ms : 100ms);
      if (!ev) {
        if (kafka::class_of(code_of(ev.error())) == kafka::error_class::fatal)
          return make_error(ec::kafka_fatal, "the consumer is unusable (" + describe(ev.error())
                                               + "); is another node running with --node-id "
                                               + cfg_.node_id + "?");
        spdlog::warn("processor {}: {}", cfg_.node_id, describe(ev.error()));
        std::this_thread::sleep_for(100ms);
      } else if (ev->what == kafka::poll_event::kind::message) {
        handle(ev->rec);
      }
      if (txn_.open) {
        // Take the answers in bulk: one blocking receive per record costs a thread
        // wake-up each (measured: ~4k records/s that way).
        if (txn_.outstanding >= 512)
          drain(false);
        if (clock_type::now() >= txn_.deadline || txn_.outstanding >= cfg_.max_in_flight)
          commit();
      }
      if (!txn_.open && clock_type::now() >= next_sweep) {
        next_sweep = clock_type::now() + 1s;
        passivate(true);
        stats_.consumer_lag = consumer_->lag();
      }
      if (clock_type::now() >= next_report) {
        next_report = clock_type::now() + 10s;
        report();
      }
    }
    spdlog::info("processor {}: stopping", cfg_.node_id);
    commit();
    consumer_->close(); // leaves the group; the revoke hook finds nothing open
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
    auto d = (*admin)->describe_topic(topics_.purchases, 30s);
    if (!d)
      return std::move(d.error());
    if (!*d)
      return make_error(ec::topic_mismatch,
                        "topic " + topics_.purchases + " does not exist: run bps topics ensure");
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
    opts.transactional_id = cfg_.topic_prefix + "processor." + cfg_.node_id;
    opts.transaction_timeout = cfg_.transaction_timeout;
    opts.extra = cfg_.extra;
    auto p = kafka::producer::make(opts);
    if (!p)
      return std::move(p.error());
    producer_ = std::move(*p);
    // Fences a predecessor with the same id and aborts its open transaction.
    while (!stop_) {
      auto err = producer_->init_transactions(30s);
      if (!err)
        return {};
      auto action = kafka::next_action(kafka::txn_step::init, kafka::class_of(code_of(err)));
      if (action == kafka::txn_action::fail)
        return err;
      spdlog::warn("processor {}: init_transactions: {} (retrying)", cfg_.node_id, describe(err));
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
    // fetch.wait.max.ms 10 (default 500): our own open transaction holds the
    // purchases' last stable offset back, so a fetch often finds nothing to read
    // until we commit; then the broker should answer at once, not after 500 ms.
    // Measured at 2,000 purchases/s: p50 95 -> 75 ms, p99 284 -> 204 ms.
    opts.extra = {{"session.timeout.ms", "10000"},
                  {"fetch.wait.max.ms", "10"},
                  {"heartbeat.interval.ms", "2000"},
                  {"group.instance.id", cfg_.topic_prefix + "processor." + cfg_.node_id}};
    for (const auto& [k, v] : cfg_.extra)
      opts.extra[k] = v;
    auto c = kafka::consumer::make(opts);
    if (!c)
      return std::move(c.error());
    consumer_ = std::move(*c);
    return consumer_->subscribe({topics_.purchases, topics_.item_commands});
  }

  // -- rebalance --------------------------------------------------------------

  void on_rebalance(kafka::rebalance_kind kind, const std::vector<kafka::topic_partition>& tps) {
    std::vector<int32_t> numbers;
    for (const auto& tp : tps)
      if (tp.topic == topics_.purchases)
        numbers.push_back(tp.partition);
    if (kind == kafka::rebalance_kind::revoked) {
      // Whatever is open belongs to the partitions that go: commit it now.
      commit();
      for (auto p : numbers) {
        stop_actors(p);
        partitions_.erase(p);
        own_purchases_.erase(p);
        own_commands_.erase(p);
      }
      stats_.assigned_partitions = partitions_.size();
      spdlog::info("processor {}: partitions revoked: {}", cfg_.node_id, fmt::join(numbers, ","));
      return;
    }
    check_co_partitioning(tps, numbers);
    // Rehydrate before any record of these partitions is processed.
    stats_.rehydrating = true;
    while (!stop_) {
      auto err = rehydrate(numbers);
      if (!err)
        break;
      spdlog::error("processor {}: rehydrating partitions {} failed: {} (retrying)", cfg_.node_id,
                    fmt::join(numbers, ","), describe(err));
      std::this_thread::sleep_for(1s);
    }
    stats_.assigned_partitions = partitions_.size();
    stats_.rehydrating = false;
  }

  void check_co_partitioning(const std::vector<kafka::topic_partition>& tps,
                             const std::vector<int32_t>& numbers) {
    std::set<int32_t> purchases(numbers.begin(), numbers.end());
    std::set<int32_t> commands;
    for (const auto& tp : tps)
      if (tp.topic == topics_.item_commands)
        commands.insert(tp.partition);
    if (purchases != commands)
      spdlog::error("processor {}: the group assigned purchases partitions {} but item-commands "
                    "partitions {}; both topics must have the same partition count and the "
                    "range assignor",
                    cfg_.node_id, fmt::join(purchases, ","), fmt::join(commands, ","));
  }

  /// Opens the state store of a partition: RocksDB under --state-dir, or memory.
  caf::expected<std::unique_ptr<state_store>> open_store(int32_t p, std::string& note) {
    if (cfg_.state_dir.empty()) {
      note = "in memory";
      return make_memory_store();
    }
    return open_rocksdb_store(store_dir(p), {cluster_id_, cfg_.topic_prefix, p, partition_count_},
                              note);
  }

  std::string store_dir(int32_t p) const {
    return cfg_.state_dir + "/" + cfg_.topic_prefix + "p" + std::to_string(p);
  }

  /// A store whose positions lie beyond the end of its logs belongs to topics that
  /// were deleted and created again: it cannot be trusted.
  caf::expected<bool> beyond_the_logs(int32_t p, const store_positions& pos) {
    std::pair<const std::string*, int64_t> checks[] = {{&topics_.items, pos.items},
                                                       {&topics_.purchases, pos.purchases},
                                                       {&topics_.item_commands, pos.commands}};
    for (auto [topic, at] : checks) {
      auto marks = consumer_->watermarks({*topic, p}, 30s);
      if (!marks)
        return std::move(marks.error());
      if (at > marks->second)
        return true;
    }
    return false;
  }

  /// Brings the stores of newly assigned partitions up to date with the log: open
  /// (or create, or rebuild), then read every partition's logs from the store's
  /// positions to their ends and apply the committed outputs found there.
  caf::error rehydrate(const std::vector<int32_t>& numbers) {
    auto started = clock_type::now();
    std::map<int32_t, std::unique_ptr<state_store>> fresh;
    std::vector<kafka::partition_offset> from;
    for (auto p : numbers) {
      std::string note;
      auto store = open_store(p, note);
      if (!store)
        return std::move(store.error());
      auto pos = (*store)->positions();
      auto beyond = beyond_the_logs(p, pos);
      if (!beyond)
        return std::move(beyond.error());
      if (*beyond) {
        store->reset();
        if (auto err = destroy_rocksdb_store(store_dir(p)))
          return err;
        store = open_store(p, note);
        if (!store)
          return std::move(store.error());
        note = "store reaches beyond the end of the log (topics created anew?); rebuilt";
        pos = (*store)->positions();
      }
      if (note != "in memory")
        spdlog::info("processor {}: partition {}: {}; catching up from items@{} purchases@{} "
                     "item-commands@{}",
                     cfg_.node_id, p, note, pos.items, pos.purchases, pos.commands);
      from.push_back({topics_.items, p, pos.items > 0 ? pos.items : -2});
      from.push_back({topics_.purchases, p, pos.purchases > 0 ? pos.purchases : -2});
      from.push_back({topics_.item_commands, p, pos.commands > 0 ? pos.commands : -2});
      fresh[p] = std::move(*store);
    }
    std::map<int32_t, state_batch> pending;
    std::map<int32_t, store_positions> ends;
    for (auto& [p, st] : fresh)
      ends[p] = st->positions();
    size_t records = 0;
    caf::error apply_err;
    auto flush = [&](int32_t p) {
      auto& batch = pending[p];
      if (batch.empty())
        return;
      if (auto err = fresh[p]->apply(batch); err && !apply_err)
        apply_err = err;
      batch = state_batch{};
    };
    auto err = kafka::read_to_end(
      cfg_.bootstrap, from,
      [&](const kafka::record& r) {
        ++records;
        if (!r.value)
          return;
        auto& batch = pending[r.partition];
        if (r.topic == topics_.items) {
          if (auto d = domain::decode_item(*r.value))
            batch.items.push_back(std::move(*d.value));
        } else if (r.topic == topics_.purchases) {
          if (auto d = domain::decode_purchase(*r.value);
              d && d.value->status != domain::purchase_status::created)
            batch.purchases.push_back(std::move(*d.value));
        } else if (auto d = domain::decode_command(*r.value);
                   d && d.value->status != domain::command_status::requested) {
          batch.commands.push_back(std::move(*d.value));
        }
        if (batch.items.size() + batch.purchases.size() + batch.commands.size() >= 10000)
          flush(r.partition);
      },
      [&](const kafka::partition_offset& end) {
        auto& pos = ends[end.partition];
        if (end.topic == topics_.items)
          pos.items = end.offset;
        else if (end.topic == topics_.purchases)
          pos.purchases = end.offset;
        else
          pos.commands = end.offset;
      },
      milliseconds{600000}, cfg_.extra);
    if (err)
      return err;
    for (auto& [p, st] : fresh) {
      pending[p].positions = ends[p];
      flush(p);
    }
    if (apply_err)
      return apply_err;
    for (auto& [p, st] : fresh) {
      stop_actors(p);
      partitions_[p] = std::move(st);
    }
    spdlog::info("processor {}: partitions assigned: {}; caught up from {} records in {} ms",
                 cfg_.node_id, fmt::join(numbers, ","), records,
                 std::chrono::duration_cast<milliseconds>(clock_type::now() - started).count());
    return {};
  }

  // -- records ----------------------------------------------------------------

  void handle(const kafka::record& rec) {
    ++stats_.records;
    if (!txn_.open) {
      if (auto err = producer_->begin_transaction()) {
        recreate_producer("begin_transaction: " + describe(err));
        return; // the record is read again after the rewind
      }
      txn_.open = true;
      txn_.deadline = clock_type::now() + cfg_.commit_interval;
    }
    txn_.offsets[{rec.topic, rec.partition}] = rec.offset + 1;
    if (rec.topic == topics_.purchases) {
      if (!is_own_output(own_purchases_, rec))
        handle_request<purchase_kind>(rec);
    } else if (rec.topic == topics_.item_commands) {
      if (!is_own_output(own_commands_, rec))
        handle_request<command_kind>(rec);
    }
  }

  /// True for an outcome this node committed (known by its offset): nothing to decide.
  bool is_own_output(std::map<int32_t, std::unordered_set<int64_t>>& own,
                     const kafka::record& rec) {
    auto it = own.find(rec.partition);
    if (it == own.end() || it->second.erase(rec.offset) == 0)
      return false;
    ++stats_.outcomes_skipped;
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
  /// actor. `Kind` is purchase_kind or command_kind (below).
  template <class Kind>
  void handle_request(const kafka::record& rec) {
    if (!rec.value)
      return dead_letter(rec, fmt::format("a {} record without a value", Kind::name));
    auto d = Kind::decode(*rec.value);
    if (!d)
      return dead_letter(rec, fmt::format("cannot decode the {}: {}", Kind::name, d.error));
    auto& request = *d.value;
    if (!Kind::is_request(request)) {
      ++stats_.outcomes_skipped;
      return;
    }
    if (auto why = misplaced(rec, request.item_id))
      return dead_letter(rec, *why);
    const auto& id = Kind::id(request);
    auto& pending = Kind::pending(txn_)[rec.partition];
    if (pending.count(id) > 0 || Kind::decided(store_of(rec.partition), id))
      return dead_letter(rec, fmt::format("{} \"{}\" was already decided; a {} is decided once",
                                          Kind::id_field, id, Kind::name));
    pending.insert(id);
    (*self_)->send(actor_for(request.item_id, rec.partition), Kind::atom, std::move(request));
    ++txn_.outstanding;
  }

  void dead_letter(const kafka::record& rec, std::string reason) {
    ++stats_.dead_letters;
    spdlog::debug("processor {}: dead letter {}/{}@{}: {}", cfg_.node_id, rec.topic, rec.partition,
                  rec.offset, reason);
    domain::dead_letter dl{std::move(reason), rec.topic, rec.partition,
                           rec.offset,        rec.key,   rec.value};
    produce(topics_.dead_letters, rec.partition, rec.key.value_or(""), domain::encode(dl));
  }

  void produce(const std::string& topic, int32_t partition, std::string_view key,
               const std::string& value) {
    if (!txn_.failure.empty())
      return;
    if (auto err = producer_->produce(topic, key, value, partition))
      txn_.failure = describe(err);
  }

  state_store& store_of(int32_t partition) {
    auto& st = partitions_[partition];
    if (!st) // a record of a partition we do not own cannot come; stay safe anyway
      st = make_memory_store();
    return *st;
  }

  // -- item actors --------------------------------------------------------------

  item_actor actor_for(const std::string& item_id, int32_t partition) {
    auto now = clock_type::now();
    if (auto it = actors_.find(item_id); it != actors_.end()) {
      it->second.last_used = now;
      return it->second.handle;
    }
    auto hdl = sys_.spawn(item_actor_impl, store_of(partition).item(item_id));
    actors_.emplace(item_id, live_actor{partition, hdl, now});
    stats_.live_actors = actors_.size();
    return hdl;
  }

  /// Stops item actors that were idle for the idle timeout, and the least recently
  /// used ones while more than the bound are alive. Only between transactions:
  /// then every actor's state is committed, and the next request spawns it again
  /// from the state store.
  void passivate(bool sweep_idle) {
    if (txn_.open || actors_.empty())
      return;
    auto idle_since = clock_type::now() - cfg_.idle_timeout;
    // The idle sweep visits every actor: once a second, not after every commit.
    for (auto it = actors_.begin(); sweep_idle && it != actors_.end();) {
      if (it->second.last_used < idle_since) {
        caf::anon_send_exit(it->second.handle, caf::exit_reason::user_shutdown);
        it = actors_.erase(it);
        ++stats_.passivated;
      } else {
        ++it;
      }
    }
    if (actors_.size() > cfg_.max_live_items) {
      // Down to 90% of the bound, so that this does not run on every commit.
      auto target = cfg_.max_live_items - cfg_.max_live_items / 10;
      std::vector<std::pair<clock_type::time_point, std::string>> by_age;
      by_age.reserve(actors_.size());
      for (const auto& [id, a] : actors_)
        by_age.emplace_back(a.last_used, id);
      auto excess = actors_.size() - target;
      std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(excess),
                       by_age.end());
      for (size_t i = 0; i < excess; ++i) {
        auto it = actors_.find(by_age[i].second);
        caf::anon_send_exit(it->second.handle, caf::exit_reason::user_shutdown);
        actors_.erase(it);
        ++stats_.passivated;
      }
    }
    stats_.live_actors = actors_.size();
  }

  void stop_actors(std::optional<int32_t> partition) {
    for (auto it = actors_.begin(); it != actors_.end();) {
      if (!partition || it->second.partition == *partition) {
        caf::anon_send_exit(it->second.handle, caf::exit_reason::user_shutdown);
        it = actors_.erase(it);
      } else {
        ++it;
      }
    }
    stats_.live_actors = actors_.size();
  }

  /// Takes the answers of the item actors; with `wait`, all of them.
  void drain(bool wait) {
    while (txn_.outstanding > 0) {
      bool got = false;
      (*self_)->receive(
        [&](purchase_reply& r) {
          got = true;
          on_reply(r);
        },
        [&](command_reply& r) {
          got = true;
          on_reply(r);
        },
        caf::after(wait ? cfg_.actor_timeout : milliseconds{0}) >> [] {});
      if (!got)
        return;
    }
  }

  int32_t partition_of(const std::string& item_id) {
    return kafka::partition_for(item_id, partition_count_);
  }

  void on_reply(purchase_reply& r) {
    --txn_.outstanding;
    ++stats_.purchases_decided;
    ++(r.outcome.status == domain::purchase_status::successful ? stats_.purchases_successful
                                                               : stats_.purchases_failed);
    auto p = partition_of(r.outcome.item_id);
    produce(topics_.purchases, p, r.outcome.item_id, domain::encode(r.outcome));
    txn_.outputs[p].purchases.push_back(r.outcome);
    if (r.exists && r.outcome.status == domain::purchase_status::successful)
      txn_.snapshots[r.outcome.item_id] = {p, std::move(r.state)};
  }

  void on_reply(command_reply& r) {
    --txn_.outstanding;
    ++stats_.commands_decided;
    if (r.result.status == domain::command_status::rejected)
      ++stats_.commands_rejected;
    auto p = partition_of(r.result.item_id);
    produce(topics_.item_commands, p, r.result.item_id, domain::encode(r.result));
    txn_.outputs[p].commands.push_back(r.result);
    if (r.exists && r.result.status == domain::command_status::applied)
      txn_.snapshots[r.result.item_id] = {p, std::move(r.state)};
  }

  // -- transactions -------------------------------------------------------------

  /// Runs one step of the transaction, retrying what is retriable. On any other
  /// failure it aborts and rewinds (or recreates the producer) and returns false.
  template <class F>
  bool step(kafka::txn_step which, F&& call) {
    for (int attempt = 1;; ++attempt) {
      auto err = call();
      if (!err)
        return true;
      auto action = kafka::next_action(which, kafka::class_of(code_of(err)));
      if (action == kafka::txn_action::retry && attempt < 20 && !stop_) {
        spdlog::warn("processor {}: {} (retry {})", cfg_.node_id, describe(err), attempt);
        std::this_thread::sleep_for(milliseconds{100 * attempt});
        continue;
      }
      if (action == kafka::txn_action::abort_and_rewind && which != kafka::txn_step::abort)
        abort_and_rewind(describe(err));
      else
        recreate_producer(describe(err));
      return false;
    }
  }

  void commit() {
    if (!txn_.open)
      return;
    drain(true);
    if (txn_.outstanding > 0)
      return abort_and_rewind(fmt::format("{} item actors did not answer within {} ms",
                                          txn_.outstanding, cfg_.actor_timeout.count()));
    for (const auto& [item_id, snap] : txn_.snapshots)
      produce(topics_.items, snap.first, item_id, domain::encode(snap.second));
    if (!txn_.failure.empty())
      return abort_and_rewind(txn_.failure);
    if (cfg_.chaos_abort_every > 0 && ++chaos_counter_ % cfg_.chaos_abort_every == 0) {
      // Make the outputs reach the log first, so that the abort has something to hide.
      producer_->flush(30s);
      return abort_and_rewind("chaos: --chaos-abort-every "
                              + std::to_string(cfg_.chaos_abort_every));
    }
    std::vector<kafka::partition_offset> offsets;
    offsets.reserve(txn_.offsets.size());
    for (const auto& [tp, next] : txn_.offsets)
      offsets.push_back({tp.topic, tp.partition, next});
    if (!step(kafka::txn_step::send_offsets,
              [&] { return producer_->send_offsets_to_transaction(offsets, *consumer_, 30s); }))
      return;
    if (!step(kafka::txn_step::commit, [&] { return producer_->commit_transaction(30s); }))
      return;
    ++stats_.commits;
    if (cfg_.chaos_crash_after_commit > 0 && stats_.commits == cfg_.chaos_crash_after_commit) {
      spdlog::warn("processor {}: chaos: killing this node between the commit and the state "
                   "store write",
                   cfg_.node_id);
      spdlog::default_logger()->flush();
      std::raise(SIGKILL);
    }
    remember_committed();
    txn_ = open_txn{};
    passivate(false);
  }

  /// Writes what the transaction committed into the state stores (after the
  /// commit: a store is never ahead of Kafka), with the positions our own outputs
  /// reached.
  void remember_committed() {
    producer_->poll(milliseconds{0}); // serve the last delivery reports
    auto delivered = producer_->take_delivered();
    // Our committed outcomes come back to us in the input topics: remember where,
    // so that they are skipped without being decoded.
    for (const auto& [tp, offsets] : delivered) {
      auto* own = tp.topic == topics_.purchases       ? &own_purchases_
                  : tp.topic == topics_.item_commands ? &own_commands_
                                                      : nullptr;
      if (own != nullptr && partitions_.count(tp.partition) > 0)
        (*own)[tp.partition].insert(offsets.begin(), offsets.end());
    }
    for (auto& [item_id, snap] : txn_.snapshots)
      txn_.outputs[snap.first].items.push_back(std::move(snap.second));
    for (auto& [number, batch] : txn_.outputs) {
      auto p = number; // a plain variable: lambdas capture it on every compiler
      auto it = partitions_.find(p);
      if (it == partitions_.end())
        continue;
      auto pos = it->second->positions();
      auto advance = [&](const std::string& topic, int64_t& at) {
        if (auto d = delivered.find({topic, p}); d != delivered.end() && !d->second.empty())
          at = std::max(at, *std::max_element(d->second.begin(), d->second.end()) + 1);
      };
      advance(topics_.items, pos.items);
      advance(topics_.purchases, pos.purchases);
      advance(topics_.item_commands, pos.commands);
      batch.positions = pos;
      // The transaction is committed whatever happens here: a store that misses
      // it is behind, and catches up from its positions on the next assignment.
      if (auto err = it->second->apply(batch))
        spdlog::error("processor {}: state store of partition {}: {}", cfg_.node_id, p,
                      describe(err));
    }
  }

  void abort_and_rewind(const std::string& why) {
    ++stats_.aborts;
    spdlog::warn("processor {}: aborting the transaction: {}", cfg_.node_id, why);
    if (!step(kafka::txn_step::abort, [&] { return producer_->abort_transaction(30s); }))
      return; // step() recreated the producer, which rewinds
    rewind();
  }

  void recreate_producer(const std::string& why) {
    ++stats_.producer_restarts;
    spdlog::warn("processor {}: recreating the producer: {}", cfg_.node_id, why);
    producer_.reset();
    while (!stop_) {
      auto err = make_producer();
      if (!err)
        break;
      spdlog::error("processor {}: cannot recreate the producer: {}", cfg_.node_id, describe(err));
      std::this_thread::sleep_for(1s);
    }
    rewind();
  }

  /// Forgets everything uncommitted: actor state, replies in flight, read
  /// positions. The next records are the first uncommitted ones.
  void rewind() {
    stop_actors(std::nullopt);
    txn_ = open_txn{};
    if (producer_)
      producer_->take_delivered(); // offsets of aborted records mean nothing
    // Replies of stopped actors may still arrive: a new mailbox never sees them.
    self_ = std::make_unique<caf::scoped_actor>(sys_);
    auto assignment = consumer_->assignment();
    if (!assignment) {
      spdlog::error("processor {}: cannot rewind: {}", cfg_.node_id, describe(assignment.error()));
      return;
    }
    auto committed = consumer_->committed(*assignment, 30s);
    if (!committed) {
      spdlog::error("processor {}: cannot read committed offsets: {}", cfg_.node_id,
                    describe(committed.error()));
      return;
    }
    for (auto& po : *committed) {
      if (po.offset < 0)
        po.offset = -2; // nothing committed yet: from the beginning
      if (auto err = consumer_->seek(po, 10s))
        spdlog::error("processor {}: {}", cfg_.node_id, describe(err));
    }
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
      "letters, {} commits, {} aborts, {} live item actors ({} passivated), {} partitions",
      cfg_.node_id, stats_.records.load(), stats_.purchases_decided.load(),
      stats_.commands_decided.load(), stats_.dead_letters.load(), stats_.commits.load(),
      stats_.aborts.load(), stats_.live_actors.load(), stats_.passivated.load(),
      stats_.assigned_partitions.load());
  }

  caf::actor_system& sys_;
  processor_config cfg_;
  const std::atomic<bool>& stop_;
  processor_stats& stats_;
  kafka::topic_names topics_;
  int32_t partition_count_ = 0;
  std::unique_ptr<caf::scoped_actor> self_ = std::make_unique<caf::scoped_actor>(sys_);
  std::unique_ptr<kafka::producer> producer_;
  std::unique_ptr<kafka::consumer> consumer_;
  std::map<int32_t, std::unique_ptr<state_store>> partitions_;
  std::string cluster_id_;
  /// Offsets of this node's committed outputs in the input topics, not yet read back.
  std::map<int32_t, std::unordered_set<int64_t>> own_purchases_;
  std::map<int32_t, std::unordered_set<int64_t>> own_commands_;
  /// A running item actor.
  struct live_actor {
    int32_t partition = 0;
    item_actor handle;
    clock_type::time_point last_used;
  };
  std::unordered_map<std::string, live_actor> actors_;
  open_txn txn_;
  uint64_t chaos_counter_ = 0;
  uint64_t last_report_ = ~uint64_t{0};
};

} // namespace

caf::error run_processor(caf::actor_system& sys, const processor_config& cfg,
                         const std::atomic<bool>& stop, processor_stats& stats) {
  processor p{sys, cfg, stop, stats};
  return p.run();
}

} // namespace bps
