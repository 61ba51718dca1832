#include "bps/actors/gateway.hpp"

#include <deque>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/type_id.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bps/actors/codec.hpp"
#include "bps/actors/messages.hpp"
#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/classify.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/topics.hpp"

namespace bps::gateway {

bool same_request(const domain::purchase& a, const domain::purchase& b) noexcept {
  return a.purchase_id == b.purchase_id && a.item_id == b.item_id && a.quantity == b.quantity
         && a.purchased_by == b.purchased_by;
}

bool same_request(const domain::item_command& a, const domain::item_command& b) noexcept {
  return a.command_id == b.command_id && a.type == b.type && a.item_id == b.item_id
         && a.description == b.description && a.quantity == b.quantity && a.amount == b.amount
         && a.expected_version == b.expected_version;
}

// -- messages to the gateway actor ---------------------------------------------
// Each carries the caller's callback; only the data fields are inspected (the
// messages never leave the process).

struct purchase_submit {
  domain::purchase request;
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
  int64_t wait_ms = 0;
  callback<command_answer> done;
};

struct item_query {
  std::string item_id;
  callback<item_answer> done;
};

struct page_query {
  std::string after;
  uint64_t limit = 0;
  callback<page_answer> done;
};

/// Committed records read by the view reader, in log order per partition.
struct view_batch {
  std::vector<domain::item> items;
  std::vector<domain::purchase> purchases;
  std::vector<domain::item_command> commands;
};

/// The fate of one write: empty error if durable.
struct write_done {
  std::string id;
  bool is_purchase = true;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_submit& x) {
  return f(caf::meta::type_name("purchase_submit"), x.request, x.wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_query& x) {
  return f(caf::meta::type_name("purchase_query"), x.purchase_id, x.wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_submit& x) {
  return f(caf::meta::type_name("command_submit"), x.request, x.wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_query& x) {
  return f(caf::meta::type_name("item_query"), x.item_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, page_query& x) {
  return f(caf::meta::type_name("page_query"), x.after, x.limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, view_batch& x) {
  return f(caf::meta::type_name("view_batch"), x.items, x.purchases, x.commands);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_done& x) {
  return f(caf::meta::type_name("write_done"), x.id, x.is_purchase, x.error);
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

  /// A waiter's deadline passed: (gw_expire, token).
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_expire, "gw_expire")
  /// Drop what the view no longer has to remember.
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_prune, "gw_prune")
  /// The node stops: nobody waits past the bound: (gw_drain, bound_ms).
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_drain, "gw_drain")
  /// Answer everyone left and quit.
  CAF_ADD_ATOM(bps_gateway, bps::atom, gw_stop, "gw_stop")

CAF_END_TYPE_ID_BLOCK(bps_gateway)
// clang-format on

namespace bps::gateway {

namespace {

using clock_type = std::chrono::steady_clock;

/// A client waiting for a decision.
template <class Answer>
struct waiter {
  uint64_t token = 0;
  callback<Answer> done;
};

/// A request being written to Kafka, with everyone who asked for it meanwhile.
template <class Record, class Answer>
struct in_flight {
  Record request;
  std::vector<std::pair<int64_t, callback<Answer>>> callers; // (wait_ms, done)
};

/// Everything the gateway keeps about one kind of request (purchases or item
/// commands): what the view knows, what is being written, who waits.
template <class Record, class Answer>
struct ledger {
  using record_type = Record;
  using answer_type = Answer;
  bool is_purchase = true;
  std::unordered_map<std::string, Record> known;
  std::unordered_map<std::string, in_flight<Record, Answer>> writing;
  std::unordered_map<std::string, std::vector<waiter<Answer>>> waiters;
};

using purchase_ledger = ledger<domain::purchase, purchase_answer>;
using command_ledger = ledger<domain::item_command, command_answer>;

struct gateway_state {
  // The committed view.
  std::map<std::string, domain::item> items;
  purchase_ledger purchases{true, {}, {}, {}};
  command_ledger commands{false, {}, {}, {}};
  /// When each purchase or command was first seen, oldest first, for pruning.
  std::deque<std::pair<clock_type::time_point, std::pair<bool, std::string>>> seen;
  /// token -> (is_purchase, id)
  std::unordered_map<uint64_t, std::pair<bool, std::string>> deadlines;
  uint64_t next_token = 1;
  /// Set once the node stops: no wait lasts beyond it.
  std::optional<clock_type::time_point> drain_until;

  // Set at spawn.
  kafka::producer* producer = nullptr;
  kafka::topic_names topics;
  stats* counters = nullptr;
  milliseconds remember{0};

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

  /// Writes a request unless one with its id is known or being written: then the
  /// caller gets that one (or a conflict, if it is another request).
  template <class L>
  void submit(L& l, typename L::record_type request, int64_t wait_ms,
              callback<typename L::answer_type> done) {
    auto id = id_of(request);
    if (auto it = l.writing.find(id); it != l.writing.end()) {
      if (!same_request(it->second.request, request))
        return done(conflict_answer(it->second.request));
      it->second.callers.emplace_back(wait_ms, std::move(done));
      return;
    }
    if (auto it = l.known.find(id); it != l.known.end()) {
      if (!same_request(it->second, request))
        return done(conflict_answer(it->second));
      return answer_or_wait(l, id, wait_ms, std::move(done));
    }
    const auto& topic = l.is_purchase ? st_.topics.purchases : st_.topics.item_commands;
    auto err = st_.producer->produce_notify(
      topic, request.item_id, domain::encode(request),
      [hdl = caf::actor{self_}, id, is_purchase = l.is_purchase](const caf::error& e, int32_t,
                                                                 int64_t) {
        caf::anon_send(hdl, write_done{id, is_purchase, e ? describe(e) : std::string{}});
      });
    ++st_.counters->writes;
    if (err) {
      ++st_.counters->write_failures;
      return done(result_of(request, answer::unavailable, describe(err)));
    }
    auto& entry = l.writing[id];
    entry.request = std::move(request);
    entry.callers.emplace_back(wait_ms, std::move(done));
  }

  template <class L>
  void query(L& l, const std::string& id, int64_t wait_ms, callback<typename L::answer_type> done) {
    if (l.writing.count(id) > 0 || l.known.count(id) > 0)
      return answer_or_wait(l, id, wait_ms, std::move(done));
    typename L::record_type none;
    set_id(none, id);
    done(result_of(none, answer::not_found, {}));
  }

  template <class L>
  void answer_or_wait(L& l, const std::string& id, int64_t wait_ms,
                      callback<typename L::answer_type> done) {
    auto it = l.known.find(id);
    if (it == l.known.end()) { // still being written: wait for that first
      l.writing.find(id)->second.callers.emplace_back(wait_ms, std::move(done));
      return;
    }
    wait_ms = capped(wait_ms);
    if (decided(it->second) || wait_ms <= 0)
      return done(result_of(it->second, decided(it->second) ? answer::done : answer::pending, {}));
    auto token = arm(l.is_purchase, id, wait_ms);
    l.waiters[id].push_back({token, std::move(done)});
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
      ++st_.counters->write_failures;
      for (auto& [wait, done] : entry.callers)
        done(result_of(entry.request, answer::unavailable, error));
      return;
    }
    remember(l, entry.request);
    for (auto& [wait, done] : entry.callers)
      answer_or_wait(l, id, wait, std::move(done));
  }

  // -- deadlines ---------------------------------------------------------------

  uint64_t arm(bool is_purchase, const std::string& id, int64_t wait_ms) {
    auto token = st_.next_token++;
    st_.deadlines.emplace(token, std::make_pair(is_purchase, id));
    ++st_.counters->waiting;
    self_->delayed_send(self_, milliseconds{wait_ms}, atom::gw_expire_v, token);
    return token;
  }

  void expire(uint64_t token) {
    auto it = st_.deadlines.find(token);
    if (it == st_.deadlines.end())
      return; // answered already
    bool is_purchase = it->second.first;
    std::string id = std::move(it->second.second);
    st_.deadlines.erase(it);
    --st_.counters->waiting;
    if (is_purchase)
      take_waiter(st_.purchases, id, token);
    else
      take_waiter(st_.commands, id, token);
  }

  template <class L>
  void take_waiter(L& l, const std::string& id, uint64_t token) {
    auto it = l.waiters.find(id);
    if (it == l.waiters.end())
      return;
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end(); ++w) {
      if (w->token == token) {
        auto done = std::move(w->done);
        list.erase(w);
        if (list.empty())
          l.waiters.erase(it);
        done(result_of(l.known[id], answer::pending, {}));
        return;
      }
    }
  }

  // -- stopping ----------------------------------------------------------------

  /// From now on nobody waits past `bound_ms`: each waiter gets a second
  /// deadline at the bound (the first of its two to fire answers it).
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
  /// and the callers of a write Kafka has not confirmed hear that its fate is
  /// unknown. Nobody is dropped without an answer.
  void answer_everyone() {
    answer_all(st_.purchases);
    answer_all(st_.commands);
    st_.deadlines.clear();
    st_.counters->waiting = 0;
  }

  template <class L>
  void answer_all(L& l) {
    for (auto& [id, list] : l.waiters)
      for (auto& w : list)
        w.done(result_of(l.known[id], answer::pending, {}));
    l.waiters.clear();
    for (auto& [id, entry] : l.writing)
      for (auto& caller : entry.callers)
        caller.second(result_of(entry.request, answer::unavailable,
                                "the node stopped before Kafka confirmed the write, which may or "
                                "may not have been written"));
    l.writing.clear();
  }

  // -- the view ----------------------------------------------------------------

  void apply(view_batch& b) {
    st_.counters->view_records += b.items.size() + b.purchases.size() + b.commands.size();
    for (auto& it : b.items)
      put_item(std::move(it));
    for (auto& p : b.purchases)
      if (on_record(st_.purchases, p))
        on_purchase_decided(p);
    for (auto& c : b.commands)
      if (on_record(st_.commands, c) && c.status == domain::command_status::applied)
        apply_to_view(c);
    for (auto& p : b.purchases)
      resolve(st_.purchases, p);
    for (auto& c : b.commands)
      resolve(st_.commands, c);
    st_.counters->items = st_.items.size();
  }

  void put_item(domain::item x) {
    auto [it, added] = st_.items.try_emplace(x.item_id, x);
    if (!added && x.version > it->second.version)
      it->second = std::move(x);
  }

  template <class L>
  void remember(L& l, const typename L::record_type& x) {
    if (l.known.try_emplace(id_of(x), x).second)
      st_.seen.emplace_back(clock_type::now(), std::make_pair(l.is_purchase, id_of(x)));
  }

  /// Takes a record read from the log; true if it is an outcome seen for the first time.
  template <class L>
  bool on_record(L& l, const typename L::record_type& x) {
    if (!decided(x)) {
      remember(l, x);
      return false;
    }
    auto [it, added] = l.known.try_emplace(id_of(x), x);
    if (added) {
      st_.seen.emplace_back(clock_type::now(), std::make_pair(l.is_purchase, id_of(x)));
      return true;
    }
    if (decided(it->second))
      return false; // the first outcome counts (a second one cannot be committed)
    it->second = x;
    return true;
  }

  /// Answers everyone waiting for this record's id, if it is decided.
  template <class L>
  void resolve(L& l, const typename L::record_type& x) {
    if (!decided(x))
      return;
    auto w = l.waiters.extract(id_of(x));
    if (w.empty())
      return;
    auto current = l.known[id_of(x)];
    for (auto& waiting : w.mapped()) {
      st_.deadlines.erase(waiting.token);
      --st_.counters->waiting;
      waiting.done(result_of(current, answer::done, {}));
    }
  }

  void on_purchase_decided(const domain::purchase& p) {
    if (p.status != domain::purchase_status::successful) {
      ++st_.counters->purchases_failed;
      return;
    }
    ++st_.counters->purchases_successful;
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

  void prune() {
    auto horizon = clock_type::now() - st_.remember;
    while (!st_.seen.empty() && st_.seen.front().first < horizon) {
      const auto& [is_purchase, id] = st_.seen.front().second;
      // Never forget what someone still waits for.
      if (is_purchase && st_.purchases.waiters.count(id) == 0)
        st_.purchases.known.erase(id);
      else if (!is_purchase && st_.commands.waiters.count(id) == 0)
        st_.commands.known.erase(id);
      st_.seen.pop_front();
    }
  }

  void get(item_query& m) {
    auto it = st_.items.find(m.item_id);
    if (it == st_.items.end())
      return m.done({answer::not_found, domain::item{m.item_id, {}, 0, 0}});
    m.done({answer::done, it->second});
  }

  void page(page_query& m) {
    page_answer out;
    auto it = m.after.empty() ? st_.items.begin() : st_.items.upper_bound(m.after);
    for (; it != st_.items.end() && out.items.size() < m.limit; ++it)
      out.items.push_back(it->second);
    if (it != st_.items.end() && !out.items.empty())
      out.next = out.items.back().item_id;
    m.done(std::move(out));
  }

private:
  static void set_id(domain::purchase& p, const std::string& id) {
    p.purchase_id = id;
  }

  static void set_id(domain::item_command& c, const std::string& id) {
    c.command_id = id;
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

  static purchase_answer conflict_answer(const domain::purchase& existing) {
    return {answer::conflict, existing,
            fmt::format("this Idempotency-Key was used for another request (purchase {} of {} "
                        "x {} by {}); use a new key for a new request",
                        existing.purchase_id, existing.quantity, existing.item_id,
                        existing.purchased_by)};
  }

  static command_answer conflict_answer(const domain::item_command& existing) {
    return {answer::conflict, existing, std::nullopt,
            fmt::format("this Idempotency-Key was used for another request (command {} on "
                        "item {}); use a new key for a new request",
                        existing.command_id, existing.item_id)};
  }

  gateway_actor* self_;
  gateway_state& st_;
};

caf::behavior gateway_impl(gateway_actor* self, kafka::producer* producer,
                           kafka::topic_names topics, stats* counters, milliseconds remember) {
  self->state.producer = producer;
  self->state.topics = std::move(topics);
  self->state.counters = counters;
  self->state.remember = remember;
  auto logic = std::make_shared<actor_logic>(self);
  self->delayed_send(self, std::chrono::seconds{60}, atom::gw_prune_v);
  auto& st = self->state;
  return {
    [logic, &st](purchase_submit& m) {
      logic->submit(st.purchases, std::move(m.request), m.wait_ms, std::move(m.done));
    },
    [logic, &st](purchase_query& m) {
      logic->query(st.purchases, m.purchase_id, m.wait_ms, std::move(m.done));
    },
    [logic, &st](command_submit& m) {
      logic->submit(st.commands, std::move(m.request), m.wait_ms, std::move(m.done));
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
    [logic](atom::gw_expire, uint64_t token) { logic->expire(token); },
    [logic](atom::gw_drain, int64_t bound_ms) { logic->drain(bound_ms); },
    [self, logic](atom::gw_stop) {
      logic->answer_everyone();
      self->quit();
    },
    [self, logic](atom::gw_prune) {
      logic->prune();
      self->delayed_send(self, std::chrono::seconds{60}, atom::gw_prune_v);
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
  std::vector<kafka::partition_offset> start_positions;
  stats counters;
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

  void read_view() {
    std::set<kafka::topic_partition> not_at_end;
    for (const auto& po : start_positions)
      not_at_end.insert({po.topic, po.partition});
    view_batch batch;
    size_t batched = 0;
    auto flush = [&] {
      if (batched == 0)
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
      auto ev = reader->poll(milliseconds{batched > 0 ? 0 : 50});
      if (!ev) {
        spdlog::warn("gateway: view reader: {}", describe(ev.error()));
        continue;
      }
      if (ev->what == kafka::poll_event::kind::timeout) {
        flush();
        continue;
      }
      if (ev->what == kafka::poll_event::kind::partition_eof) {
        flush();
        if (!not_at_end.empty()) {
          not_at_end.erase({ev->rec.topic, ev->rec.partition});
          if (not_at_end.empty()) {
            counters.view_ready = true;
            spdlog::info("gateway: view caught up");
          }
        }
        continue;
      }
      const auto& rec = ev->rec;
      if (!rec.value)
        continue;
      if (rec.topic == topics.items) {
        if (auto d = domain::decode_item(*rec.value))
          batch.items.push_back(std::move(*d.value));
      } else if (rec.topic == topics.purchases) {
        if (auto d = domain::decode_purchase(*rec.value))
          batch.purchases.push_back(std::move(*d.value));
      } else if (auto d = domain::decode_command(*rec.value)) {
        batch.commands.push_back(std::move(*d.value));
      }
      if (++batched >= 512)
        flush();
    }
    flush();
    // Closed here, so that the bounded wait for this thread bounds the close too.
    reader->close();
    reader.reset();
  }
};

gateway::gateway(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

gateway::~gateway() {
  if (!stop(milliseconds{5000})) {
    // The actor or a thread still runs and uses the producer, the reader, the
    // counters: leaving them allocated is the only safe choice (the node exits
    // next).
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
  // producer, the counters, the callers' callbacks) may go before it is gone.
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
  return p.stopped;
}

void gateway::add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::bps_gateway>();
}

caf::expected<std::unique_ptr<gateway>> gateway::start(caf::actor_system& sys, const config& cfg) {
  auto p = std::make_unique<impl>();
  p->topics = kafka::topic_names::with_prefix(cfg.topic_prefix);
  auto admin = kafka::admin::make(cfg.bootstrap, cfg.extra);
  if (!admin)
    return std::move(admin.error());
  auto d = (*admin)->describe_topic(p->topics.purchases, cfg.write_timeout);
  if (!d)
    return std::move(d.error());
  if (!*d)
    return make_error(ec::kafka_error, "gateway: topic " + p->topics.purchases
                                         + " does not exist (bps topics ensure)");
  auto partitions = (*d)->partitions;

  kafka::producer_options popts;
  popts.bootstrap = cfg.bootstrap;
  popts.extra = cfg.extra;
  popts.extra.try_emplace("linger.ms", "1");
  popts.extra.try_emplace("message.timeout.ms", std::to_string(cfg.write_timeout.count()));
  auto producer = kafka::producer::make(popts);
  if (!producer)
    return std::move(producer.error());
  p->producer = std::move(*producer);

  kafka::consumer_options copts;
  copts.bootstrap = cfg.bootstrap;
  copts.group_id = cfg.topic_prefix + "gateway"; // assign only: never joins, never commits
  copts.read_committed = true;
  copts.report_partition_eof = true;
  copts.assign_only = true;
  copts.extra = cfg.extra;
  copts.extra.try_emplace("fetch.wait.max.ms", "10");
  auto reader = kafka::consumer::make(copts);
  if (!reader)
    return std::move(reader.error());
  p->reader = std::move(*reader);

  // Items from the beginning (compacted: one record per item); purchases and
  // commands from `remember` ago.
  auto since = std::chrono::duration_cast<milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch() - cfg.remember)
                 .count();
  std::vector<kafka::topic_partition> recent;
  for (int32_t i = 0; i < partitions; ++i) {
    p->start_positions.push_back({p->topics.items, i, -2});
    recent.push_back({p->topics.purchases, i});
    recent.push_back({p->topics.item_commands, i});
  }
  // Topics created a moment ago may not have leaders yet: retry what is retriable.
  auto deadline = clock_type::now() + std::max(cfg.write_timeout, milliseconds{30000});
  auto from = p->reader->offsets_for_time(recent, since, cfg.write_timeout);
  while (!from && kafka::class_of(code_of(from.error())) == kafka::error_class::retriable
         && clock_type::now() < deadline) {
    std::this_thread::sleep_for(milliseconds{200});
    from = p->reader->offsets_for_time(recent, since, cfg.write_timeout);
  }
  if (!from)
    return std::move(from.error());
  p->start_positions.insert(p->start_positions.end(), from->begin(), from->end());
  if (auto err = p->reader->assign(p->start_positions))
    return err;

  p->sys = &sys;
  p->actor = sys.spawn<caf::detached>(gateway_impl, p->producer.get(), p->topics, &p->counters,
                                      cfg.remember);
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
  spdlog::info("gateway: reading the view of {} partitions (purchases and commands of the last "
               "{} s)",
               partitions, cfg.remember.count() / 1000);
  return std::unique_ptr<gateway>(new gateway(std::move(p)));
}

void gateway::submit_purchase(domain::purchase p, milliseconds wait,
                              callback<purchase_answer> done) {
  caf::anon_send(impl_->actor, purchase_submit{std::move(p), wait.count(), std::move(done)});
}

void gateway::get_purchase(std::string purchase_id, milliseconds wait,
                           callback<purchase_answer> done) {
  caf::anon_send(impl_->actor,
                 purchase_query{std::move(purchase_id), wait.count(), std::move(done)});
}

void gateway::submit_command(domain::item_command c, milliseconds wait,
                             callback<command_answer> done) {
  caf::anon_send(impl_->actor, command_submit{std::move(c), wait.count(), std::move(done)});
}

void gateway::get_item(std::string item_id, callback<item_answer> done) {
  caf::anon_send(impl_->actor, item_query{std::move(item_id), std::move(done)});
}

void gateway::list_items(std::string after, size_t limit, callback<page_answer> done) {
  caf::anon_send(impl_->actor, page_query{std::move(after), limit, std::move(done)});
}

const stats& gateway::counters() const noexcept {
  return impl_->counters;
}

} // namespace bps::gateway
