#include "bps/actors/gateway.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include <sys/types.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/type_id.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bps/actors/codec.hpp"
#include "bps/actors/gateway_store.hpp"
#include "bps/actors/messages.hpp"
#include "bps/clock.hpp"
#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/classify.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/log_origin.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"

namespace bps::gateway {

// -- messages to the gateway actor ---------------------------------------------
// Each carries the caller's callback; only the data fields are inspected (the
// messages never leave the process).

struct purchase_submit {
  domain::purchase request;
  bool keyed = false;
  int64_t wait_ms = 0;
  callback<purchase_answer> done;
};

struct purchase_query {
  std::string purchase_id;
  int64_t wait_ms = 0;
  callback<purchase_answer> done;
};

struct command_submit {
  domain::item_command request;
  bool keyed = false;
  int64_t wait_ms = 0;
  callback<command_answer> done;
};

struct item_query {
  std::string item_id;
  callback<item_answer> done;
};

struct page_query {
  std::string after;
  std::string before;
  std::string prefix;
  uint64_t limit = 0;
  callback<page_answer> done;
};

/// Committed records read by the view reader, in log order per partition, and the
/// next offset of each partition they took the reader to.
struct view_batch {
  std::vector<domain::item> items;
  std::vector<domain::purchase> purchases;
  /// The record timestamp (ms) of each purchase, and of each command.
  std::vector<int64_t> purchase_times;
  std::vector<domain::item_command> commands;
  std::vector<int64_t> command_times;
  /// Claims in their id's partition, under their id (others are never first).
  std::vector<domain::claim> claims;
  std::vector<kafka::partition_offset> positions;
  /// The first record read of a partition the store has no origin of yet, as
  /// kafka::log_origin text: written with the positions.
  std::vector<std::pair<kafka::topic_partition, std::string>> origins;
};

/// The fate of one write of a request: empty error if durable.
struct write_done {
  std::string id;
  bool is_purchase = true;
  std::string error;
};

/// The fate of one claim: empty error if durable (then where it is).
struct claim_done {
  std::string id;
  std::string error;
  int32_t partition = 0;
  int64_t offset = -1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_submit& x) {
  return f(caf::meta::type_name("purchase_submit"), x.request, x.keyed, x.wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_query& x) {
  return f(caf::meta::type_name("purchase_query"), x.purchase_id, x.wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_submit& x) {
  return f(caf::meta::type_name("command_submit"), x.request, x.keyed, x.wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_query& x) {
  return f(caf::meta::type_name("item_query"), x.item_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, page_query& x) {
  return f(caf::meta::type_name("page_query"), x.after, x.before, x.prefix, x.limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, view_batch& x) {
  return f(caf::meta::type_name("view_batch"), x.items, x.purchases, x.purchase_times, x.commands,
           x.command_times);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_done& x) {
  return f(caf::meta::type_name("write_done"), x.id, x.is_purchase, x.error);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_done& x) {
  return f(caf::meta::type_name("claim_done"), x.id, x.error, x.partition, x.offset);
}

std::optional<domain::item> view_after(const std::optional<domain::item>& current,
                                       const domain::item_command& applied) {
  if (!current) {
    if (applied.type != domain::command_type::insert_item)
      return std::nullopt; // the snapshot will come
    return domain::item{applied.item_id, applied.description, applied.item_quantity,
                        applied.item_version};
  }
  if (applied.item_version <= current->version)
    return std::nullopt;
  auto next = *current;
  if (applied.type == domain::command_type::insert_item
      || applied.type == domain::command_type::set_description)
    next.description = applied.description;
  next.quantity = applied.item_quantity;
  next.version = applied.item_version;
  return next;
}

std::optional<domain::item> view_after(const std::optional<domain::item>& current,
                                       const domain::purchase& sold) {
  if (!current || sold.status != domain::purchase_status::successful
      || sold.item_version <= current->version)
    return std::nullopt;
  auto next = *current;
  next.quantity = sold.item_quantity;
  next.version = sold.item_version;
  return next;
}

std::optional<domain::item> item_left_by(const std::optional<domain::item>& current,
                                         const domain::item_command& applied) {
  if (applied.status != domain::command_status::applied)
    return std::nullopt;
  bool describes = applied.type == domain::command_type::insert_item
                   || applied.type == domain::command_type::set_description;
  if (!current && !describes)
    return std::nullopt;
  return domain::item{applied.item_id, describes ? applied.description : current->description,
                      applied.item_quantity, applied.item_version};
}

std::optional<domain::item> item_left_by(const std::optional<domain::item>& current,
                                         const domain::purchase& sold) {
  if (!current || sold.status != domain::purchase_status::successful)
    return std::nullopt;
  return domain::item{sold.item_id, current->description, sold.item_quantity, sold.item_version};
}

} // namespace bps::gateway

// clang-format off
CAF_BEGIN_TYPE_ID_BLOCK(bps_gateway, caf::id_block::bps::end)

  CAF_ADD_TYPE_ID(bps_gateway, (bps::gateway::purchase_submit))
  CAF_ADD_TYPE_ID(bps_gateway, (bps::gateway::purchase_query))
  CAF_ADD_TYPE_ID(bps_gateway, (bps::gateway::command_submit))
  CAF_ADD_TYPE_ID(bps_gateway, (bps::gateway::item_query))
  CAF_ADD_TYPE_ID(bps_gateway, (bps::gateway::page_query))
  CAF_ADD_TYPE_ID(bps_gateway, (bps::gateway::view_batch))
  CAF_ADD_TYPE_ID(bps_gateway, (bps::gateway::write_done))
  CAF_ADD_TYPE_ID(bps_gateway, (bps::gateway::claim_done))

  /// A deadline passed (a waiter's, or a claim's): (gw_expire, token).
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_expire, "gw_expire")
  /// Drop what the view no longer has to remember.
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_prune, "gw_prune")
  /// The node stops: nobody waits past the bound: (gw_drain, bound_ms).
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_drain, "gw_drain")
  /// Answer everyone left and quit.
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_stop, "gw_stop")
  /// The mailbox heartbeat: (gw_tick, due in steady-clock ns).
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_tick, "gw_tick")

CAF_END_TYPE_ID_BLOCK(bps_gateway)
// clang-format on

namespace bps::gateway {

namespace {

using clock_type = std::chrono::steady_clock;

std::string utc(int64_t ms) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(static_cast<std::time_t>(ms / 1000)));
}

/// A request a client sent, not answered yet.
template <class Record, class Answer>
struct call {
  Record request;
  int64_t wait_ms = 0;
  callback<Answer> done;
};

/// Someone waiting for a write to be confirmed: a client that sent the request
/// (`asked`), or a read of its id (no `asked`).
template <class Record, class Answer>
struct caller {
  std::optional<Record> asked;
  int64_t wait_ms = 0;
  callback<Answer> done;
};

/// A client waiting for a decision.
template <class Record, class Answer>
struct waiter {
  uint64_t token = 0;
  std::optional<Record> asked;
  /// The record when the wait began (the answer if nothing newer comes).
  Record last;
  callback<Answer> done;
};

/// A request being written to Kafka, with everyone who asked for it meanwhile.
template <class Record, class Answer>
struct in_flight {
  Record request;
  std::vector<caller<Record, Answer>> callers;
};

/// What the gateway keeps in memory about one kind of request (purchases or item
/// commands): what is being written and who waits. What is known is in the store.
template <class Record, class Answer>
struct ledger {
  using record_type = Record;
  using answer_type = Answer;
  bool is_purchase = true;
  std::unordered_map<std::string, in_flight<Record, Answer>> writing;
  std::unordered_map<std::string, std::vector<waiter<Record, Answer>>> waiters;
};

using purchase_ledger = ledger<domain::purchase, purchase_answer>;
using command_ledger = ledger<domain::item_command, command_answer>;

/// Keyed requests whose claim is written and not yet read back: whoever asks for
/// the id meanwhile waits for the first claim too.
struct pending_claim {
  uint64_t token = 0;
  std::vector<call<domain::purchase, purchase_answer>> purchases;
  std::vector<call<domain::item_command, command_answer>> commands;
};

/// The requests this gateway wrote that are not decided yet, per partition in the
/// order written: how far behind each partition's deciding node is. An entry is
/// forgotten after a minute (a request that went to dead letters never gets an
/// outcome).
class undecided_writes {
public:
  explicit undecided_writes(int32_t partitions) : fifo_(static_cast<size_t>(partitions)) {}

  void add(int32_t p, const std::string& id, clock_type::time_point at) {
    fifo_[static_cast<size_t>(p)].emplace_back(at, id);
    open_[id] = p;
  }

  void done(const std::string& id) {
    open_.erase(id);
  }

  /// How long the oldest undecided write of partition `p` has waited.
  milliseconds lag(int32_t p, clock_type::time_point now) {
    auto& q = fifo_[static_cast<size_t>(p)];
    while (!q.empty()) {
      auto it = open_.find(q.front().second);
      if (it == open_.end()) {
        q.pop_front();
      } else if (now - q.front().first > forget) {
        open_.erase(it);
        q.pop_front();
      } else {
        return std::chrono::duration_cast<milliseconds>(now - q.front().first);
      }
    }
    return milliseconds{0};
  }

  void sweep(clock_type::time_point now) {
    for (int32_t p = 0; p < static_cast<int32_t>(fifo_.size()); ++p)
      lag(p, now);
  }

  size_t size() const noexcept {
    return open_.size();
  }

private:
  static constexpr std::chrono::seconds forget{60};
  std::vector<std::deque<std::pair<clock_type::time_point, std::string>>> fifo_;
  std::unordered_map<std::string, int32_t> open_;
};

/// What the actor is given at spawn.
struct settings {
  kafka::producer* producer = nullptr;
  view_store* store = nullptr;
  stats* counters = nullptr;
  kafka::topic_names topics;
  std::string node_id;
  int32_t partitions = 1;
  milliseconds remember{0};
  milliseconds write_timeout{0};
  milliseconds max_decision_lag{0};
  std::optional<int64_t> oldest_claim;
  std::function<void(const outcome_event&)> on_outcome;
};

struct gateway_state {
  settings cfg;
  /// The committed view of every item (bounded by the number of items).
  std::map<std::string, domain::item> items;
  purchase_ledger purchases{true, {}, {}};
  command_ledger commands{false, {}, {}};
  std::unordered_map<std::string, pending_claim> claiming;
  /// What each armed token is the deadline of.
  struct deadline {
    enum class kind { purchase_waiter, command_waiter, claim } what = kind::claim;
    std::string id;
  };
  std::unordered_map<uint64_t, deadline> deadlines;
  uint64_t next_token = 1;
  /// Set once the node stops: no wait lasts beyond it.
  std::optional<clock_type::time_point> drain_until;
  std::unique_ptr<undecided_writes> undecided;
  /// The time of the oldest claim stored (kept in the store for the next start).
  std::optional<int64_t> oldest_claim;
  /// Set once the store failed: nothing is answered from it any more.
  std::string store_failure;

  static inline const char* name = "bps.gateway";
};

using gateway_actor = caf::stateful_actor<gateway_state>;

bool decided(const domain::purchase& p) {
  return p.status != domain::purchase_status::created;
}

bool decided(const domain::item_command& c) {
  return c.status != domain::command_status::requested;
}

const std::string& id_of(const domain::purchase& p) {
  return p.purchase_id;
}

const std::string& id_of(const domain::item_command& c) {
  return c.command_id;
}

class actor_logic {
public:
  explicit actor_logic(gateway_actor* self) : self_(self), st_(self->state) {}

  // -- requests ----------------------------------------------------------------

  /// A request from a client. A keyed one is decided by the first claim of its id:
  /// known already (a retry, or another request: refused), or claimed now.
  template <class L>
  void submit(L& l, typename L::record_type request, bool keyed, int64_t wait_ms,
              callback<typename L::answer_type> done) {
    if (!st_.store_failure.empty())
      return done(result_of(request, answer::unavailable, store_problem()));
    if (!keyed)
      return proceed(l, std::move(request), wait_ms, std::move(done));
    auto id = id_of(request);
    auto first = st_.cfg.store->claim(id);
    if (!first) {
      store_failed(describe(first.error()));
      return done(result_of(request, answer::unavailable, store_problem()));
    }
    if (*first) {
      if (!domain::claims(**first, request)) {
        ++st_.cfg.counters->claim_conflicts;
        return done(conflict_answer(**first, request));
      }
      return proceed(l, std::move(request), wait_ms, std::move(done));
    }
    if (auto it = st_.claiming.find(id); it != st_.claiming.end()) {
      calls_of(it->second, l).push_back({std::move(request), wait_ms, std::move(done)});
      return;
    }
    if (auto why = shed(request.item_id))
      return done(result_of(request, answer::overloaded, *why));
    auto c = domain::claim_of(request, st_.cfg.node_id, wall_ms());
    auto err = st_.cfg.producer->produce_notify(
      st_.cfg.topics.idempotency_keys, id, domain::encode(c),
      [hdl = caf::actor{self_}, id](const caf::error& e, int32_t partition, int64_t offset) {
        caf::anon_send(hdl, claim_done{id, e ? describe(e) : std::string{}, partition, offset});
      },
      domain::headers_of(c).view());
    if (err) {
      ++st_.cfg.counters->write_failures;
      return done(
        result_of(request, answer::unavailable,
                  "the claim of its Idempotency-Key could not be written: " + describe(err)));
    }
    ++st_.cfg.counters->claims_written;
    auto& pending = st_.claiming[id];
    pending.token = arm(gateway_state::deadline::kind::claim, id, st_.cfg.write_timeout.count());
    calls_of(pending, l).push_back({std::move(request), wait_ms, std::move(done)});
  }

  /// A request whose id is its own (random, or claimed first for it): answered from
  /// what is known of the id, or written.
  template <class L>
  void proceed(L& l, typename L::record_type request, int64_t wait_ms,
               callback<typename L::answer_type> done) {
    auto id = id_of(request);
    if (auto it = l.writing.find(id); it != l.writing.end()) {
      if (!domain::same_request(it->second.request, request))
        return done(conflict_answer(it->second.request, request));
      it->second.callers.push_back({std::move(request), wait_ms, std::move(done)});
      return;
    }
    auto known = lookup(l, id);
    if (!known) {
      store_failed(describe(known.error()));
      return done(result_of(request, answer::unavailable, store_problem()));
    }
    if (*known) {
      if (!domain::same_request(**known, request))
        return done(conflict_answer(**known, request));
      return answer_or_wait(l, **known, std::move(request), wait_ms, std::move(done));
    }
    // Nothing known of the id: write it (also for a claimed id whose first writer
    // died before its request was written; a second copy of a request that was
    // written after all goes to dead letters, never decided twice).
    if (auto why = shed(request.item_id))
      return done(result_of(request, answer::overloaded, *why));
    const auto& topic
      = l.is_purchase ? st_.cfg.topics.purchase_requests : st_.cfg.topics.item_command_requests;
    auto err = st_.cfg.producer->produce_notify(
      topic, request.item_id, domain::encode(request),
      [hdl = caf::actor{self_}, id, is_purchase = l.is_purchase](const caf::error& e, int32_t,
                                                                 int64_t) {
        caf::anon_send(hdl, write_done{id, is_purchase, e ? describe(e) : std::string{}});
      },
      domain::headers_of(request, st_.cfg.node_id).view());
    ++st_.cfg.counters->writes;
    if (err) {
      ++st_.cfg.counters->write_failures;
      return done(result_of(request, answer::unavailable, describe(err)));
    }
    st_.undecided->add(partition_of(request.item_id), id, clock_type::now());
    st_.cfg.counters->undecided = st_.undecided->size();
    auto& entry = l.writing[id];
    entry.request = request;
    entry.callers.push_back({std::move(request), wait_ms, std::move(done)});
  }

  template <class L>
  void query(L& l, const std::string& id, int64_t wait_ms, callback<typename L::answer_type> done) {
    typename L::record_type none;
    set_id(none, id);
    if (auto it = l.writing.find(id); it != l.writing.end()) {
      it->second.callers.push_back({std::nullopt, wait_ms, std::move(done)});
      return;
    }
    if (!st_.store_failure.empty())
      return done(result_of(none, answer::unavailable, store_problem()));
    auto known = lookup(l, id);
    if (!known) {
      store_failed(describe(known.error()));
      return done(result_of(none, answer::unavailable, store_problem()));
    }
    if (!*known)
      return done(result_of(none, answer::not_found, {}));
    answer_or_wait(l, **known, std::nullopt, wait_ms, std::move(done));
  }

  template <class L>
  void answer_or_wait(L& l, const typename L::record_type& record,
                      std::optional<typename L::record_type> asked, int64_t wait_ms,
                      callback<typename L::answer_type> done) {
    wait_ms = capped(wait_ms);
    if (decided(record) || wait_ms <= 0)
      return deliver(done, asked, record, decided(record) ? answer::done : answer::pending);
    auto kind = l.is_purchase ? gateway_state::deadline::kind::purchase_waiter
                              : gateway_state::deadline::kind::command_waiter;
    auto token = arm(kind, id_of(record), wait_ms);
    ++st_.cfg.counters->waiting;
    l.waiters[id_of(record)].push_back({token, std::move(asked), record, std::move(done)});
  }

  /// The last check before an answer leaves: a client is never answered with
  /// another request than the one it sent.
  template <class Record, class Answer>
  void deliver(const callback<Answer>& done, const std::optional<Record>& asked,
               const Record& record, answer status) {
    if (asked && !domain::same_request(*asked, record)) {
      spdlog::error("gateway: {} {} holds another request than a client sent; refused",
                    kind_name(record), id_of(record));
      return done(conflict_answer(record, *asked));
    }
    done(result_of(record, status, {}));
  }

  /// The fate of a write: failed (everyone who asked hears so), or durable (the
  /// view has it from now on, even before the reader sees it).
  template <class L>
  void written(L& l, const std::string& id, const std::string& error) {
    auto node = l.writing.extract(id);
    if (node.empty())
      return;
    auto& entry = node.mapped();
    if (!error.empty()) {
      ++st_.cfg.counters->write_failures;
      st_.undecided->done(id);
      st_.cfg.counters->undecided = st_.undecided->size();
      for (auto& c : entry.callers)
        c.done(result_of(entry.request, answer::unavailable, error));
      return;
    }
    auto record = entry.request;
    if (st_.store_failure.empty()) {
      auto known = lookup(l, id);
      if (!known) {
        store_failed(describe(known.error()));
      } else if (*known) {
        record = **known; // the reader was faster
      } else {
        view_store::batch b;
        b.put(entry.request, wall_ms());
        if (auto err = st_.cfg.store->write(b))
          store_failed(describe(err));
      }
    }
    for (auto& c : entry.callers)
      answer_or_wait(l, record, std::move(c.asked), c.wait_ms, std::move(c.done));
  }

  /// The fate of a claim: a claim Kafka did not take fails its requests now.
  void claimed(const claim_done& m) {
    if (m.error.empty())
      return; // decided once the reader reads the id's first claim
    auto node = st_.claiming.extract(m.id);
    if (node.empty())
      return;
    ++st_.cfg.counters->write_failures;
    st_.deadlines.erase(node.mapped().token);
    fail_claim(node.mapped(),
               "the claim of its Idempotency-Key could not be written to Kafka: " + m.error);
  }

  /// The first claim of `id` is known: every request waiting for it is decided.
  void resolve_claim(const domain::claim& first) {
    auto node = st_.claiming.extract(first.id);
    if (node.empty())
      return;
    auto& pending = node.mapped();
    st_.deadlines.erase(pending.token);
    for (auto& c : pending.purchases)
      decide_by_claim(st_.purchases, first, std::move(c));
    for (auto& c : pending.commands)
      decide_by_claim(st_.commands, first, std::move(c));
  }

  // -- deadlines ---------------------------------------------------------------

  uint64_t arm(gateway_state::deadline::kind what, const std::string& id, int64_t wait_ms) {
    auto token = st_.next_token++;
    st_.deadlines.emplace(token, gateway_state::deadline{what, id});
    self_->delayed_send(self_, milliseconds{wait_ms}, atom::gw_expire_v, token);
    return token;
  }

  void expire(uint64_t token) {
    auto it = st_.deadlines.find(token);
    if (it == st_.deadlines.end())
      return; // answered already
    auto d = std::move(it->second);
    st_.deadlines.erase(it);
    switch (d.what) {
      case gateway_state::deadline::kind::claim: {
        auto node = st_.claiming.extract(d.id);
        if (!node.empty())
          fail_claim(node.mapped(),
                     st_.drain_until
                       ? std::string{"the node stopped before the claim of its Idempotency-Key "
                                     "was read back; retry with the same key"}
                       : fmt::format("the claim of its Idempotency-Key is written, but this node "
                                     "has not read it back within {} ms; retry with the same key",
                                     st_.cfg.write_timeout.count()));
        return;
      }
      case gateway_state::deadline::kind::purchase_waiter:
        --st_.cfg.counters->waiting;
        return take_waiter(st_.purchases, d.id, token);
      case gateway_state::deadline::kind::command_waiter:
        --st_.cfg.counters->waiting;
        return take_waiter(st_.commands, d.id, token);
    }
  }

  template <class L>
  void take_waiter(L& l, const std::string& id, uint64_t token) {
    auto it = l.waiters.find(id);
    if (it == l.waiters.end())
      return;
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end(); ++w) {
      if (w->token == token) {
        auto taken = std::move(*w);
        list.erase(w);
        if (list.empty())
          l.waiters.erase(it);
        deliver(taken.done, taken.asked, taken.last, answer::pending);
        return;
      }
    }
  }

  // -- stopping ----------------------------------------------------------------

  /// From now on nobody waits past `bound_ms`: each deadline gets a second one at
  /// the bound (the first of its two to fire answers it).
  void drain(int64_t bound_ms) {
    st_.drain_until = clock_type::now() + milliseconds{bound_ms};
    for (const auto& entry : st_.deadlines)
      self_->delayed_send(self_, milliseconds{bound_ms}, atom::gw_expire_v, entry.first);
  }

  /// What is left of `wait_ms` once the node drains.
  int64_t capped(int64_t wait_ms) const {
    if (!st_.drain_until)
      return wait_ms;
    auto left
      = std::chrono::duration_cast<milliseconds>(*st_.drain_until - clock_type::now()).count();
    return std::min(wait_ms, std::max<int64_t>(left, 0));
  }

  /// Before the actor quits: whoever waits hears what the view knows (pending),
  /// and the callers of a write or claim Kafka has not confirmed hear that its fate
  /// is unknown. Nobody is dropped without an answer.
  void answer_everyone() {
    answer_all(st_.purchases);
    answer_all(st_.commands);
    for (auto& [id, pending] : st_.claiming)
      fail_claim(pending, "the node stopped before the claim of its Idempotency-Key was read "
                          "back; retry with the same key");
    st_.claiming.clear();
    st_.deadlines.clear();
    st_.cfg.counters->waiting = 0;
  }

  template <class L>
  void answer_all(L& l) {
    for (auto& [id, list] : l.waiters)
      for (auto& w : list)
        deliver(w.done, w.asked, w.last, answer::pending);
    l.waiters.clear();
    for (auto& [id, entry] : l.writing)
      for (auto& c : entry.callers)
        c.done(result_of(entry.request, answer::unavailable,
                         "the node stopped before Kafka confirmed the write, which may or may "
                         "not have been written"));
    l.writing.clear();
  }

  // -- the view ----------------------------------------------------------------

  void apply(view_batch& b) {
    auto& counters = *st_.cfg.counters;
    counters.view_items += b.items.size();
    counters.view_purchases += b.purchases.size();
    counters.view_commands += b.commands.size();
    counters.view_claims += b.claims.size();
    for (auto& it : b.items)
      put_item(std::move(it));
    counters.items = st_.items.size();
    std::vector<domain::purchase> decided_purchases;
    std::vector<domain::item_command> decided_commands;
    if (st_.store_failure.empty()) {
      if (auto err = absorb(b, decided_purchases, decided_commands)) {
        store_failed(describe(err));
        decided_purchases.clear();
        decided_commands.clear();
      }
    }
    if (!st_.store_failure.empty()) {
      // Without a store the waiters still hear the outcomes they wait for.
      for (const auto& p : b.purchases)
        if (decided(p))
          decided_purchases.push_back(p);
      for (const auto& c : b.commands)
        if (decided(c))
          decided_commands.push_back(c);
    }
    for (const auto& p : decided_purchases) {
      on_purchase_decided(p);
      st_.undecided->done(p.purchase_id);
      resolve(st_.purchases, p);
      announce(p);
    }
    for (const auto& c : decided_commands) {
      if (c.status == domain::command_status::applied)
        apply_to_view(c);
      st_.undecided->done(c.command_id);
      resolve(st_.commands, c);
      announce(c);
    }
    counters.undecided = st_.undecided->size();
    if (auto now = clock_type::now(); now >= next_memory_check_) {
      next_memory_check_ = now + std::chrono::seconds{5};
      measure_store();
    }
  }

  void measure_store() {
    if (!st_.store_failure.empty())
      return;
    auto bytes = st_.cfg.store->memory_bytes();
    if (!bytes)
      return store_failed(describe(bytes.error()));
    st_.cfg.counters->store_memory_bytes = *bytes;
  }

  void prune() {
    st_.undecided->sweep(clock_type::now());
    st_.cfg.counters->undecided = st_.undecided->size();
    if (!st_.store_failure.empty())
      return;
    auto horizon = wall_ms() - st_.cfg.remember.count();
    constexpr size_t chunk = 20000;
    for (int rounds = 0; rounds < 50; ++rounds) {
      auto n = st_.cfg.store->prune(horizon, chunk);
      if (!n)
        return store_failed(describe(n.error()));
      st_.cfg.counters->pruned += *n;
      if (*n < chunk)
        break;
    }
    measure_store();
  }

  void get(item_query& m) {
    auto it = st_.items.find(m.item_id);
    if (it == st_.items.end())
      return m.done({answer::not_found, domain::item{m.item_id, {}, 0, 0}});
    m.done({answer::done, it->second});
  }

  void page(page_query& m) {
    m.done(page_of(st_.items, {m.after, m.before, m.prefix, static_cast<size_t>(m.limit)}));
  }

private:
  /// Takes a batch into the store (one write, positions included); collects the
  /// outcomes seen for the first time. The first claim of each id enters the index,
  /// and the requests waiting for it are decided once the write is done.
  caf::error absorb(const view_batch& b, std::vector<domain::purchase>& decided_purchases,
                    std::vector<domain::item_command>& decided_commands) {
    auto& store = *st_.cfg.store;
    view_store::batch wb;
    std::unordered_map<std::string, const domain::claim*> new_claims;
    std::vector<const domain::claim*> claim_order;
    auto oldest = st_.oldest_claim;
    for (const auto& c : b.claims) {
      if (new_claims.count(c.id) > 0)
        continue;
      auto have = store.claim(c.id);
      if (!have)
        return std::move(have.error());
      if (*have)
        continue; // not the first claim of its id
      wb.put(c);
      new_claims.emplace(c.id, &c);
      claim_order.push_back(&c);
      if (!oldest || c.claimed_at_ms < *oldest)
        oldest = c.claimed_at_ms;
    }
    if (oldest != st_.oldest_claim)
      wb.oldest_claim(*oldest);
    auto claimed = [&](const std::string& id) -> caf::expected<bool> {
      if (new_claims.count(id) > 0)
        return true;
      auto have = store.claim(id);
      if (!have)
        return std::move(have.error());
      return have->has_value();
    };
    auto horizon = wall_ms() - st_.cfg.remember.count();
    std::unordered_map<std::string, domain::purchase> seen_purchases;
    for (size_t i = 0; i < b.purchases.size(); ++i)
      if (auto err = absorb_record(st_.purchases, b.purchases[i], b.purchase_times[i], horizon,
                                   claimed, seen_purchases, decided_purchases, wb))
        return err;
    std::unordered_map<std::string, domain::item_command> seen_commands;
    for (size_t i = 0; i < b.commands.size(); ++i)
      if (auto err = absorb_record(st_.commands, b.commands[i], b.command_times[i], horizon,
                                   claimed, seen_commands, decided_commands, wb))
        return err;
    for (const auto& [tp, fingerprint] : b.origins)
      wb.origin(tp, fingerprint);
    for (const auto& po : b.positions)
      wb.position({po.topic, po.partition}, po.offset);
    if (!wb.empty())
      if (auto err = store.write(wb))
        return err;
    st_.oldest_claim = oldest;
    for (const auto* c : claim_order)
      resolve_claim(*c);
    return {};
  }

  template <class L, class Claimed>
  caf::error
  absorb_record(L& l, const typename L::record_type& x, int64_t at_ms, int64_t horizon,
                Claimed& claimed, std::unordered_map<std::string, typename L::record_type>& seen,
                std::vector<typename L::record_type>& decided_now, view_store::batch& wb) {
    const auto& id = id_of(x);
    std::optional<typename L::record_type> existing;
    if (auto it = seen.find(id); it != seen.end()) {
      existing = it->second;
    } else {
      auto got = lookup(l, id);
      if (!got)
        return std::move(got.error());
      existing = std::move(*got);
    }
    if (!existing && at_ms < horizon) {
      // Older than the window: kept only for a claimed id (its retries are answered
      // at any time).
      auto c = claimed(id);
      if (!c)
        return std::move(c.error());
      if (!*c)
        return {};
    }
    if (!decided(x)) {
      if (!existing) {
        wb.put(x, at_ms);
        seen[id] = x;
      }
      return {};
    }
    if (existing && decided(*existing))
      return {}; // the first outcome counts (a second one cannot be committed)
    wb.put(x, existing ? std::nullopt : std::optional<int64_t>{at_ms});
    seen[id] = x;
    decided_now.push_back(x);
    return {};
  }

  /// Answers everyone waiting for this record's id; it is decided.
  template <class L>
  void resolve(L& l, const typename L::record_type& x) {
    auto w = l.waiters.extract(id_of(x));
    if (w.empty())
      return;
    for (auto& waiting : w.mapped()) {
      st_.deadlines.erase(waiting.token);
      --st_.cfg.counters->waiting;
      deliver(waiting.done, waiting.asked, x, answer::done);
    }
  }

  template <class L>
  void decide_by_claim(L& l, const domain::claim& first,
                       call<typename L::record_type, typename L::answer_type> c) {
    if (!domain::claims(first, c.request)) {
      ++st_.cfg.counters->claim_conflicts;
      return c.done(conflict_answer(first, c.request));
    }
    proceed(l, std::move(c.request), c.wait_ms, std::move(c.done));
  }

  void fail_claim(pending_claim& pending, const std::string& why) {
    for (auto& c : pending.purchases)
      c.done(result_of(c.request, answer::unavailable, why));
    for (auto& c : pending.commands)
      c.done(result_of(c.request, answer::unavailable, why));
  }

  /// The store failed: the view's state is unknown from now on. What needs it is
  /// answered `unavailable` (503), never "not found", until the node restarts.
  void store_failed(const std::string& why) {
    if (!st_.store_failure.empty())
      return;
    st_.store_failure = why;
    st_.cfg.counters->store_failed = true;
    spdlog::error("gateway: the view's store failed: {}; from now on this node answers 503 to "
                  "every request that needs it (restart the node)",
                  why);
    for (auto& [id, pending] : st_.claiming) {
      st_.deadlines.erase(pending.token);
      fail_claim(pending, store_problem());
    }
    st_.claiming.clear();
  }

  std::string store_problem() const {
    return "this node's view store failed (" + st_.store_failure
           + "); send the request to another node";
  }

  /// Why a write for this item is not taken now, if it is not.
  std::optional<std::string> shed(const std::string& item_id) {
    constexpr size_t most_undecided = 100000;
    auto p = partition_of(item_id);
    auto lag = st_.undecided->lag(p, clock_type::now());
    std::optional<std::string> why;
    if (st_.cfg.max_decision_lag.count() > 0 && lag > st_.cfg.max_decision_lag)
      why = fmt::format("item {}'s partition {} has a request this node wrote {} ms ago and "
                        "that is not decided yet (the limit is {} ms): the node deciding it is "
                        "behind or away; retry in a moment",
                        item_id, p, lag.count(), st_.cfg.max_decision_lag.count());
    else if (st_.undecided->size() >= most_undecided)
      why = fmt::format("{} requests this node wrote are not decided yet; retry in a moment",
                        st_.undecided->size());
    if (why)
      ++st_.cfg.counters->shed;
    return why;
  }

  int32_t partition_of(const std::string& item_id) const {
    return kafka::partition_for(item_id, st_.cfg.partitions);
  }

  caf::expected<std::optional<domain::purchase>> lookup(purchase_ledger&, const std::string& id) {
    return st_.cfg.store->purchase(id);
  }

  caf::expected<std::optional<domain::item_command>> lookup(command_ledger&,
                                                            const std::string& id) {
    return st_.cfg.store->command(id);
  }

  static std::vector<call<domain::purchase, purchase_answer>>& calls_of(pending_claim& p,
                                                                        purchase_ledger&) {
    return p.purchases;
  }

  static std::vector<call<domain::item_command, command_answer>>& calls_of(pending_claim& p,
                                                                           command_ledger&) {
    return p.commands;
  }

  void put_item(domain::item x) {
    auto [it, added] = st_.items.try_emplace(x.item_id, x);
    if (!added && x.version > it->second.version)
      it->second = std::move(x);
  }

  /// Tells whoever listens (the HTTP event streams) of an outcome and the item after it.
  template <class Outcome>
  void announce(const Outcome& x) {
    // Without a store every outcome read is "new" again: none is announced twice.
    if (!st_.cfg.on_outcome || !st_.store_failure.empty())
      return;
    auto it = st_.items.find(x.item_id);
    auto current = it == st_.items.end() ? std::nullopt : std::optional<domain::item>{it->second};
    st_.cfg.on_outcome(outcome_event{x, item_left_by(current, x)});
  }

  void on_purchase_decided(const domain::purchase& p) {
    if (p.status != domain::purchase_status::successful) {
      ++st_.cfg.counters->purchases_failed;
      return;
    }
    ++st_.cfg.counters->purchases_successful;
    apply_to_view(p);
  }

  /// Outcomes carry the item's version and quantity after them: the view takes
  /// them at once, so that a client answered 200/201 reads its write even before
  /// the item's snapshot is read.
  template <class Outcome>
  void apply_to_view(const Outcome& x) {
    auto it = st_.items.find(x.item_id);
    auto current = it == st_.items.end() ? std::nullopt : std::optional<domain::item>{it->second};
    if (auto next = view_after(current, x))
      st_.items.insert_or_assign(x.item_id, std::move(*next));
  }

  static void set_id(domain::purchase& p, const std::string& id) {
    p.purchase_id = id;
  }

  static void set_id(domain::item_command& c, const std::string& id) {
    c.command_id = id;
  }

  static const char* kind_name(const domain::purchase&) {
    return "purchase";
  }

  static const char* kind_name(const domain::item_command&) {
    return "command";
  }

  static purchase_answer result_of(const domain::purchase& p, answer status, std::string message) {
    return {status, p, std::move(message)};
  }

  /// A command's answer carries the item as the view knows it.
  command_answer result_of(const domain::item_command& c, answer status, std::string message) {
    command_answer a{status, c, std::nullopt, std::move(message)};
    if (auto it = st_.items.find(c.item_id); it != st_.items.end())
      a.item = it->second;
    return a;
  }

  template <class Record>
  auto conflict_answer(const domain::claim& first, const Record& asked) {
    return result_of(asked, answer::conflict,
                     fmt::format("this Idempotency-Key was used first for another request ({}, "
                                 "claimed by {} at {}); use a new key for a new request",
                                 domain::describe_request(first), first.node,
                                 utc(first.claimed_at_ms)));
  }

  template <class Record>
  auto conflict_answer(const Record& existing, const Record& asked) {
    return conflict_answer(domain::claim_of(existing, "?", 0), asked);
  }

  gateway_actor* self_;
  gateway_state& st_;
  clock_type::time_point next_memory_check_{};
};

caf::behavior gateway_impl(gateway_actor* self, settings cfg) {
  auto prune_every = std::clamp(cfg.remember / 4, milliseconds{1000}, milliseconds{60000});
  self->state.undecided = std::make_unique<undecided_writes>(cfg.partitions);
  self->state.oldest_claim = cfg.oldest_claim;
  self->state.cfg = std::move(cfg);
  auto logic = std::make_shared<actor_logic>(self);
  self->delayed_send(self, prune_every, atom::gw_prune_v);
  // The heartbeat: how long a message sent now waits in the mailbox before it is
  // handled, what every new request would wait (admit() reads it).
  constexpr milliseconds beat{100};
  auto due = [beat] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             (clock_type::now() + beat).time_since_epoch())
      .count();
  };
  self->delayed_send(self, beat, atom::gw_tick_v, due());
  auto& st = self->state;
  return {
    [logic, &st](purchase_submit& m) {
      logic->submit(st.purchases, std::move(m.request), m.keyed, m.wait_ms, std::move(m.done));
    },
    [logic, &st](purchase_query& m) {
      logic->query(st.purchases, m.purchase_id, m.wait_ms, std::move(m.done));
    },
    [logic, &st](command_submit& m) {
      logic->submit(st.commands, std::move(m.request), m.keyed, m.wait_ms, std::move(m.done));
    },
    [logic](item_query& m) { logic->get(m); },
    [logic](page_query& m) { logic->page(m); },
    [logic](view_batch& m) { logic->apply(m); },
    [logic, &st](write_done& m) {
      if (m.is_purchase)
        logic->written(st.purchases, m.id, m.error);
      else
        logic->written(st.commands, m.id, m.error);
    },
    [logic](claim_done& m) { logic->claimed(m); },
    [logic](atom::gw_expire, uint64_t token) { logic->expire(token); },
    [logic](atom::gw_drain, int64_t bound_ms) { logic->drain(bound_ms); },
    [self, logic](atom::gw_stop) {
      logic->answer_everyone();
      self->quit();
    },
    [self, &st, beat, due](atom::gw_tick, int64_t due_ns) {
      auto now
        = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
            .count();
      st.cfg.counters->queue_delay_ms = std::max<int64_t>(0, (now - due_ns) / 1000000);
      self->delayed_send(self, beat, atom::gw_tick_v, due());
    },
    [self, logic, prune_every](atom::gw_prune) {
      logic->prune();
      self->delayed_send(self, prune_every, atom::gw_prune_v);
    },
  };
}

} // namespace

// -- the facade: threads around the actor -------------------------------------

struct gateway::impl {
  caf::actor_system* sys = nullptr;
  caf::actor actor;
  std::unique_ptr<kafka::producer> producer;
  std::unique_ptr<kafka::consumer> reader;
  std::unique_ptr<view_store> store;
  /// A private store directory (no --state-dir), removed at stop.
  std::string temp_dir;
  /// Where the store has read each partition to (none: not read yet).
  std::map<kafka::topic_partition, int64_t> stored_positions;
  /// The partitions whose first record read the store knows (kafka::log_origin).
  std::set<kafka::topic_partition> stored_origins;
  std::optional<int64_t> oldest_claim;
  int32_t partitions = 1;
  milliseconds remember{0};
  milliseconds max_queue_delay{0};
  mutable stats counters;
  /// Set once the actor is gone: the threads close their Kafka clients and end.
  std::atomic<bool> stop{false};
  /// How long the delivery thread may flush the producer once stopped.
  std::atomic<int64_t> flush_ms{5000};
  std::thread delivery_thread;
  std::thread view_thread;
  std::future<void> delivery_ended;
  std::future<void> view_ended;
  kafka::topic_names topics;
  bool stop_called = false;
  bool stopped = false;

  /// Serves the producer's delivery reports; once stopped, flushes it (bounded)
  /// and closes it, here, so that the bounded wait for this thread bounds that too.
  void serve_deliveries() {
    while (!stop)
      producer->poll(milliseconds{100});
    producer->close(milliseconds{flush_ms.load()});
    producer.reset();
  }

  /// Reads the view in two steps: first the claims, to their end (so that the
  /// purchases and commands older than the window are kept exactly for the ids
  /// claimed), then everything, from the store's positions (or, for partitions
  /// the store has not read: items from the beginning, purchases and commands from
  /// the window's start or the oldest claim's, whichever is earlier).
  void read_view() {
    std::map<kafka::topic_partition, int64_t> next = stored_positions;
    std::set<kafka::topic_partition> have_origin = stored_origins;
    std::set<kafka::topic_partition> dirty;
    std::set<kafka::topic_partition> not_at_end;
    std::vector<kafka::partition_offset> claims_from;
    for (int32_t p = 0; p < partitions; ++p) {
      kafka::topic_partition tp{topics.idempotency_keys, p};
      auto it = next.find(tp);
      claims_from.push_back({tp.topic, p, it == next.end() ? kafka::offset_beginning : it->second});
      not_at_end.insert(tp);
    }
    if (auto err = reader->assign(claims_from)) {
      spdlog::error("gateway: view reader: cannot read the claims: {}", describe(err));
      return;
    }
    bool reading_claims = true;
    auto oldest = oldest_claim;
    view_batch batch;
    size_t batched = 0;
    auto flush = [&] {
      for (const auto& tp : dirty)
        batch.positions.push_back({tp.topic, tp.partition, next[tp]});
      dirty.clear();
      if (batched == 0 && batch.positions.empty())
        return;
      caf::anon_send(actor, std::move(batch));
      batch = view_batch{};
      batched = 0;
    };
    auto next_check = clock_type::now();
    while (!stop) {
      if (clock_type::now() >= next_check) {
        next_check = clock_type::now() + std::chrono::seconds{2};
        // A metadata request: its timeout holds while Kafka is down (watermarks'
        // does not), so that this thread sees `stop` within ~2 s.
        counters.kafka_reachable = !reader->probe(milliseconds{2000});
      }
      if (reading_claims && not_at_end.empty()) {
        flush();
        if (!start_everything(next, oldest, not_at_end))
          continue; // retried (Kafka away), or stopping
        reading_claims = false;
      }
      auto ev = reader->poll(milliseconds{batched > 0 ? 0 : 50});
      if (!ev) {
        spdlog::warn("gateway: view reader: {}", describe(ev.error()));
        continue;
      }
      if (ev->what == kafka::poll_event::kind::timeout) {
        flush();
        continue;
      }
      kafka::topic_partition tp{ev->rec.topic, ev->rec.partition};
      if (ev->what == kafka::poll_event::kind::partition_eof) {
        if (auto it = next.find(tp);
            tp.topic != topics.items && (it == next.end() || it->second != ev->rec.offset)) {
          next[tp] = ev->rec.offset;
          dirty.insert(tp);
        }
        flush();
        if (!not_at_end.empty() && not_at_end.erase(tp) > 0 && not_at_end.empty()
            && !reading_claims) {
          counters.view_ready = true;
          spdlog::info("gateway: view caught up");
        }
        continue;
      }
      const auto& rec = ev->rec;
      if (tp.topic != topics.items) {
        next[tp] = rec.offset + 1;
        dirty.insert(tp);
        // The first record the store reads of a log says which log it was built from.
        if (have_origin.insert(tp).second)
          batch.origins.emplace_back(tp, kafka::origin_of(rec).to_string());
      }
      if (!rec.value)
        continue;
      if (rec.topic == topics.items) {
        if (auto d = domain::decode_item(*rec.value))
          batch.items.push_back(std::move(*d.value));
      } else if (rec.topic == topics.purchases || rec.topic == topics.purchase_requests) {
        // A request topic gives the requests (they answer "CREATED" until decided; a
        // node dead-letters anything else there), an output topic only the outcomes:
        // the CREATED record a node writes beside each outcome repeats the request, and
        // absorbing it again would cost a store lookup per purchase for nothing.
        if (auto d = domain::decode_purchase(*rec.value);
            d
            && (rec.topic == topics.purchases)
                 != (d.value->status == domain::purchase_status::created)) {
          batch.purchases.push_back(std::move(*d.value));
          batch.purchase_times.push_back(rec.timestamp_ms);
        }
      } else if (rec.topic == topics.item_commands || rec.topic == topics.item_command_requests) {
        if (auto d = domain::decode_command(*rec.value);
            d
            && (rec.topic == topics.item_commands)
                 != (d.value->status == domain::command_status::requested)) {
          batch.commands.push_back(std::move(*d.value));
          batch.command_times.push_back(rec.timestamp_ms);
        }
      } else if (auto d = domain::decode_claim(*rec.value)) {
        // Only a claim in its id's partition, under its id, can be first: claims of
        // one id are ordered only within one partition.
        if (rec.key == d.value->id
            && rec.partition == kafka::partition_for(d.value->id, partitions)) {
          if (!oldest || d.value->claimed_at_ms < *oldest)
            oldest = d.value->claimed_at_ms;
          batch.claims.push_back(std::move(*d.value));
        }
      }
      if (++batched >= 512)
        flush();
    }
    flush();
    // Closed here, so that the bounded wait for this thread bounds the close too.
    reader->close();
    reader.reset();
  }

  /// The second step of read_view(): every topic. False if it could not start yet.
  bool start_everything(const std::map<kafka::topic_partition, int64_t>& next,
                        std::optional<int64_t> oldest,
                        std::set<kafka::topic_partition>& not_at_end) {
    // Records of claimed ids are kept whatever their age: read from the oldest
    // claim on (less a margin for clocks that differ between nodes).
    auto since = wall_ms() - remember.count();
    if (oldest)
      since = std::min(since, *oldest - int64_t{10} * 60 * 1000);
    std::vector<kafka::partition_offset> from;
    std::vector<kafka::topic_partition> unread;
    for (int32_t p = 0; p < partitions; ++p) {
      from.push_back({topics.items, p, kafka::offset_beginning});
      not_at_end.insert({topics.items, p});
      for (const auto* topic : {&topics.purchases, &topics.item_commands, &topics.purchase_requests,
                                &topics.item_command_requests}) {
        kafka::topic_partition tp{*topic, p};
        not_at_end.insert(tp);
        if (auto it = next.find(tp); it != next.end())
          from.push_back({tp.topic, p, it->second});
        else
          unread.push_back(tp);
      }
      auto claims = next.find({topics.idempotency_keys, p});
      from.push_back({topics.idempotency_keys, p,
                      claims == next.end() ? kafka::offset_beginning : claims->second});
    }
    if (!unread.empty()) {
      auto times
        = reader->offsets_for_time(unread, std::max<int64_t>(since, 0), milliseconds{5000});
      if (!times) {
        spdlog::warn("gateway: view reader: cannot find where to start reading: {}; retrying",
                     describe(times.error()));
        std::this_thread::sleep_for(milliseconds{200});
        return false;
      }
      from.insert(from.end(), times->begin(), times->end());
    }
    if (auto err = reader->assign(from)) {
      spdlog::warn("gateway: view reader: cannot assign: {}; retrying", describe(err));
      std::this_thread::sleep_for(milliseconds{200});
      return false;
    }
    spdlog::info("gateway: claims read; reading the view{}",
                 unread.empty() ? std::string{" from the store's positions"}
                                : fmt::format(" (purchases and commands the store has not read: "
                                              "since {})",
                                              utc(std::max<int64_t>(since, 0))));
    return true;
  }

  /// Empties the store if it was built from topics that were deleted and created
  /// anew (its positions reach past the end of a log, or a log no longer holds the
  /// first record the store read of it: however far the new log has grown), and
  /// sets stored_positions and stored_origins to what can be trusted.
  caf::error check_store(const config& cfg, const std::string& dir) {
    auto positions = store->positions();
    if (!positions)
      return std::move(positions.error());
    auto origins = store->origins();
    if (!origins)
      return std::move(origins.error());
    auto deadline = clock_type::now() + std::max(cfg.write_timeout, milliseconds{30000});
    auto retriable = [&](const caf::error& err) {
      return kafka::class_of(code_of(err)) == kafka::error_class::retriable
             && clock_type::now() < deadline;
    };
    std::string why;
    for (const auto& [tp, offset] : *positions) {
      auto marks = reader->watermarks(tp, cfg.write_timeout);
      while (!marks && retriable(marks.error())) {
        std::this_thread::sleep_for(milliseconds{200});
        marks = reader->watermarks(tp, cfg.write_timeout);
      }
      if (!marks)
        return std::move(marks.error());
      if (offset > marks->second) {
        why = fmt::format("has read {}/{} to {}, beyond its end {}", tp.topic, tp.partition, offset,
                          marks->second);
        break;
      }
    }
    auto checks = check_origins(*positions, *origins);
    if (why.empty() && !checks.inconsistent.empty())
      why = checks.inconsistent;
    if (why.empty() && !checks.verify.empty()) {
      auto other = kafka::other_origins(cfg.bootstrap, checks.verify, cfg.extra, cfg.write_timeout);
      while (!other && retriable(other.error())) {
        std::this_thread::sleep_for(milliseconds{200});
        other = kafka::other_origins(cfg.bootstrap, checks.verify, cfg.extra, cfg.write_timeout);
      }
      if (!other)
        return std::move(other.error());
      if (!other->empty())
        why = fmt::format("was built from another {}/{} log", other->front().topic,
                          other->front().partition);
    }
    if (!why.empty()) {
      spdlog::warn("gateway: the view's store {} {} (topics deleted and created anew?); it is "
                   "emptied and read again",
                   dir, why);
      if (auto err = store->clear())
        return err;
      stored_positions.clear();
      stored_origins.clear();
      return {};
    }
    // A partition the store started at its end and has read no record of since: its
    // position proves nothing, it is read again from where a new store would start.
    for (const auto& tp : checks.unproven)
      positions->erase(tp);
    stored_positions = std::move(*positions);
    stored_origins.clear();
    for (const auto& kv : *origins)
      stored_origins.insert(kv.first);
    return {};
  }

  void remove_temp_dir() {
    if (temp_dir.empty())
      return;
    std::error_code ec_fs;
    std::filesystem::remove_all(temp_dir, ec_fs);
    if (ec_fs)
      spdlog::warn("gateway: cannot remove the view's temporary store {}: {}", temp_dir,
                   ec_fs.message());
    temp_dir.clear();
  }
};

gateway::gateway(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

gateway::~gateway() {
  if (!stop(milliseconds{5000})) {
    // The actor or a thread still runs and uses the producer, the reader, the
    // store, the counters: leaving them allocated is the only safe choice (the
    // node exits next).
    static_cast<void>(impl_.release());
  }
}

void gateway::drain(milliseconds bound) {
  caf::anon_send(impl_->actor, atom::gw_drain_v, static_cast<int64_t>(bound.count()));
}

namespace {

/// Waits until `ended` is ready or `deadline`; joins the thread if it ended.
bool join_by(std::thread& t, std::future<void>& ended, clock_type::time_point deadline,
             const char* what) {
  if (!t.joinable())
    return true;
  if (ended.wait_until(deadline) != std::future_status::ready) {
    spdlog::error("gateway: the {} did not end in time (blocked in librdkafka?); leaving it", what);
    t.detach();
    return false;
  }
  t.join();
  return true;
}

} // namespace

bool gateway::stop(milliseconds bound) {
  auto& p = *impl_;
  if (p.stop_called)
    return p.stopped;
  p.stop_called = true;
  auto deadline = clock_type::now() + bound;
  auto left = [&] {
    return std::max(milliseconds{0},
                    std::chrono::duration_cast<milliseconds>(deadline - clock_type::now()));
  };
  // The actor first: it answers whoever is left and quits. Nothing it uses (the
  // producer, the store, the counters, the callers' callbacks) may go before it is
  // gone.
  bool actor_gone = false;
  {
    caf::scoped_actor self{*p.sys};
    self->monitor(p.actor);
    self->send(p.actor, atom::gw_stop_v);
    self->receive([&](const caf::down_msg&) { actor_gone = true; }, caf::after(left()) >> [] {});
  }
  if (!actor_gone) {
    spdlog::error("gateway: the actor did not stop within {} ms", bound.count());
    caf::anon_send_exit(p.actor, caf::exit_reason::kill);
    return false;
  }
  // Then the threads, which close the reader and the producer themselves; the
  // producer gets what is left of the bound to flush, less a margin for the close.
  p.flush_ms = std::max<int64_t>(0, left().count() - 500);
  p.stop = true;
  bool view_ok = join_by(p.view_thread, p.view_ended, deadline, "view reader");
  bool delivery_ok = join_by(p.delivery_thread, p.delivery_ended, deadline,
                             "producer's delivery thread (or its flush)");
  p.stopped = view_ok && delivery_ok;
  if (p.stopped) {
    p.store.reset();
    p.remove_temp_dir();
  }
  return p.stopped;
}

void gateway::add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::bps_gateway>();
}

namespace {

/// Removes the temporary view stores of bps processes that are gone (killed before
/// they could remove their own): each names its owner in owner.pid.
void remove_orphaned_stores(const std::filesystem::path& base) {
  std::error_code ec_fs;
  for (const auto& entry : std::filesystem::directory_iterator{base, ec_fs}) {
    auto name = entry.path().filename().string();
    if (name.rfind("bps-gateway.", 0) != 0)
      continue;
    std::ifstream in{entry.path() / "owner.pid"};
    pid_t owner = 0;
    if (!(in >> owner) || owner <= 0)
      continue; // not ours to judge
    if (::kill(owner, 0) == 0 || errno != ESRCH)
      continue; // alive (or not ours to signal)
    std::error_code removed;
    std::filesystem::remove_all(entry.path(), removed);
    if (!removed)
      spdlog::info("gateway: removed {}, the view store of process {}, which is gone",
                   entry.path().string(), owner);
  }
}

/// Describes a topic, retrying what is retriable (topics created a moment ago may
/// not have leaders yet).
caf::expected<int32_t> partitions_of(kafka::admin& admin, const std::string& topic,
                                     milliseconds timeout) {
  auto d = admin.describe_topic(topic, timeout);
  if (!d)
    return std::move(d.error());
  if (!*d)
    return make_error(ec::kafka_error,
                      "gateway: topic " + topic + " does not exist (bps topics ensure)");
  return (*d)->partitions;
}

} // namespace

caf::expected<std::unique_ptr<gateway>> gateway::start(caf::actor_system& sys, const config& cfg) {
  auto p = std::make_unique<impl>();
  p->topics = kafka::topic_names::with_prefix(cfg.topic_prefix);
  p->remember = cfg.remember;
  p->max_queue_delay = cfg.max_queue_delay;
  auto admin = kafka::admin::make(cfg.bootstrap, cfg.extra);
  if (!admin)
    return std::move(admin.error());
  auto partitions = partitions_of(**admin, p->topics.purchase_requests, cfg.write_timeout);
  if (!partitions)
    return std::move(partitions.error());
  auto claim_partitions = partitions_of(**admin, p->topics.idempotency_keys, cfg.write_timeout);
  if (!claim_partitions)
    return std::move(claim_partitions.error());
  if (*claim_partitions != *partitions)
    return make_error(ec::topic_mismatch,
                      fmt::format("gateway: topic {} has {} partitions, {} has {}; every bps "
                                  "topic must have the same count",
                                  p->topics.idempotency_keys, *claim_partitions,
                                  p->topics.purchase_requests, *partitions));
  p->partitions = *partitions;

  // The view's store: under the state directory, or private and temporary.
  std::string dir;
  if (cfg.state_dir.empty()) {
    std::error_code ec_fs;
    auto base = std::filesystem::temp_directory_path(ec_fs);
    if (ec_fs)
      base = "/tmp";
    remove_orphaned_stores(base);
    auto pattern = base / "bps-gateway.XXXXXX";
    std::string buf = pattern.string();
    if (::mkdtemp(buf.data()) == nullptr)
      return make_error(ec::invalid_argument,
                        "gateway: cannot create a temporary directory for the view's store ("
                          + pattern.string() + ")");
    p->temp_dir = buf;
    dir = buf;
    std::ofstream{std::filesystem::path{buf} / "owner.pid"} << ::getpid() << "\n";
  } else {
    dir = (std::filesystem::path{cfg.state_dir} / (cfg.topic_prefix + "gateway")).string();
  }
  auto store = view_store::open(dir, cfg.topic_prefix);
  if (!store) {
    p->remove_temp_dir();
    return std::move(store.error());
  }
  p->store = std::move(*store);

  kafka::producer_options popts;
  popts.bootstrap = cfg.bootstrap;
  popts.extra = cfg.extra;
  popts.extra.try_emplace("linger.ms", "1");
  popts.extra.try_emplace("message.timeout.ms", std::to_string(cfg.write_timeout.count()));
  auto producer = kafka::producer::make(popts);
  if (!producer)
    return std::move(producer.error());
  p->producer = std::move(*producer);
  // Its first writes must not wait for librdkafka's topic scan (a second).
  if (auto err = p->producer->warm(
        {p->topics.purchase_requests, p->topics.item_command_requests, p->topics.idempotency_keys},
        std::chrono::milliseconds{2000}))
    spdlog::warn("gateway: topic metadata not fetched early: {}", describe(err));

  kafka::consumer_options copts;
  copts.bootstrap = cfg.bootstrap;
  copts.group_id = cfg.topic_prefix + "gateway"; // assign only: never joins, never commits
  copts.read_committed = true;
  copts.report_partition_eof = true;
  copts.assign_only = true;
  copts.extra = cfg.extra;
  // fetch.min.bytes stays at 1 here (unlike the processor's consumer): a fetch that
  // waited for more would delay every `?wait` answer (measured: +8-12 ms p50 over HTTP,
  // for 1-5 % less CPU; bench/reports/2026-12-07-fetch-min-bytes).
  copts.extra.try_emplace("fetch.wait.max.ms", "10");
  auto reader = kafka::consumer::make(copts);
  if (!reader)
    return std::move(reader.error());
  p->reader = std::move(*reader);

  if (auto err = p->check_store(cfg, dir))
    return err;
  auto oldest = p->store->oldest_claim();
  if (!oldest)
    return std::move(oldest.error());
  p->oldest_claim = *oldest;

  settings s;
  s.producer = p->producer.get();
  s.store = p->store.get();
  s.counters = &p->counters;
  s.topics = p->topics;
  s.node_id = cfg.node_id;
  s.partitions = p->partitions;
  s.remember = cfg.remember;
  s.write_timeout = cfg.write_timeout;
  s.max_decision_lag = cfg.max_decision_lag;
  s.oldest_claim = p->oldest_claim;
  s.on_outcome = cfg.on_outcome;
  p->sys = &sys;
  p->actor = sys.spawn<caf::detached>(gateway_impl, std::move(s));
  auto* raw = p.get();
  std::promise<void> delivery_ended;
  std::promise<void> view_ended;
  p->delivery_ended = delivery_ended.get_future();
  p->view_ended = view_ended.get_future();
  p->delivery_thread = std::thread{[raw, ended = std::move(delivery_ended)]() mutable {
    raw->serve_deliveries();
    ended.set_value();
  }};
  p->view_thread = std::thread{[raw, ended = std::move(view_ended)]() mutable {
    raw->read_view();
    ended.set_value();
  }};
  spdlog::info("gateway: view of {} partitions, store {} ({}), purchases and commands kept {} s, "
               "claims forever",
               p->partitions, dir,
               p->stored_positions.empty() ? "new" : "resuming from its positions",
               cfg.remember.count() / 1000);
  return std::unique_ptr<gateway>(new gateway(std::move(p)));
}

void gateway::submit_purchase(domain::purchase p, bool keyed, milliseconds wait,
                              callback<purchase_answer> done) {
  caf::anon_send(impl_->actor, purchase_submit{std::move(p), keyed, wait.count(), std::move(done)});
}

void gateway::get_purchase(std::string purchase_id, milliseconds wait,
                           callback<purchase_answer> done) {
  caf::anon_send(impl_->actor,
                 purchase_query{std::move(purchase_id), wait.count(), std::move(done)});
}

void gateway::submit_command(domain::item_command c, bool keyed, milliseconds wait,
                             callback<command_answer> done) {
  caf::anon_send(impl_->actor, command_submit{std::move(c), keyed, wait.count(), std::move(done)});
}

void gateway::get_item(std::string item_id, callback<item_answer> done) {
  caf::anon_send(impl_->actor, item_query{std::move(item_id), std::move(done)});
}

void gateway::list_items(page_request page, callback<page_answer> done) {
  caf::anon_send(impl_->actor, page_query{std::move(page.after), std::move(page.before),
                                          std::move(page.prefix), page.limit, std::move(done)});
}

page_answer page_of(const std::map<std::string, domain::item>& items, const page_request& r) {
  using iter = std::map<std::string, domain::item>::const_iterator;
  // The items with the prefix are one run of the map: [run_begin, run_end).
  auto matches
    = [&](const std::string& id) { return id.compare(0, r.prefix.size(), r.prefix) == 0; };
  auto run_begin = items.lower_bound(r.prefix);
  auto run_end = run_begin;
  while (run_end != items.end() && matches(run_end->first))
    ++run_end;
  // Whether position a comes before position b (end() is last).
  auto earlier
    = [&](iter a, iter b) { return a != items.end() && (b == items.end() || a->first < b->first); };
  // Both cursors: the items between them, from the first.
  auto bound = r.before.empty() ? run_end : items.lower_bound(r.before);
  if (earlier(run_end, bound))
    bound = run_end;
  iter from;
  iter to;
  if (r.before.empty() || !r.after.empty()) {
    from = r.after.empty() ? run_begin : items.upper_bound(r.after);
    if (earlier(from, run_begin))
      from = run_begin;
    to = from;
    for (size_t n = 0; n < r.limit && earlier(to, bound); ++n)
      ++to;
  } else {
    to = bound;
    from = to;
    for (size_t n = 0; n < r.limit && earlier(run_begin, from); ++n)
      --from;
  }
  page_answer out;
  for (auto it = from; earlier(it, to); ++it)
    out.items.push_back(it->second);
  if (out.items.empty())
    return out;
  if (earlier(to, run_end))
    out.next = out.items.back().item_id;
  if (earlier(run_begin, from))
    out.prev = out.items.front().item_id;
  return out;
}

const stats& gateway::counters() const noexcept {
  return impl_->counters;
}

std::optional<std::string> gateway::admit() const {
  auto delay = impl_->counters.queue_delay_ms.load();
  if (impl_->max_queue_delay.count() <= 0 || delay <= impl_->max_queue_delay.count())
    return std::nullopt;
  ++impl_->counters.shed;
  return fmt::format("this node's gateway is behind: requests wait {} ms in its queue (the "
                     "limit is {} ms); retry in a moment or send it to another node",
                     delay, impl_->max_queue_delay.count());
}

} // namespace bps::gateway
