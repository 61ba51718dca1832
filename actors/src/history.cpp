#include "bps/actors/history.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <variant>

#include <fmt/format.h>

namespace bps::domain {

void history::add(const purchase& p, const position& at) {
  purchases_.emplace_back(p, at);
}

void history::add(const item_command& c, const position& at) {
  commands_.emplace_back(c, at);
}

void history::add_request(const purchase& p, const position& at) {
  purchase_requests_.emplace_back(p, at);
}

void history::add_request(const item_command& c, const position& at) {
  command_requests_.emplace_back(c, at);
}

void history::add_snapshot(const item& x) {
  snapshots_[x.item_id] = x;
}

void history::add_dead_letter(const dead_letter& d) {
  ++dead_letters_;
  dead_lettered_.insert({d.source_topic, d.source_partition, d.source_offset});
}

void history::add_claim(const claim& c, const position& at) {
  ++claims_;
  auto [it, added] = first_claims_.try_emplace(c.id, c, at);
  if (!added && at < it->second.second)
    it->second = {c, at};
}

namespace {

/// One link of an item's chain: an outcome that changed the item.
struct link {
  int64_t version = 0;
  int64_t quantity_after = 0;
  std::variant<const purchase*, const item_command*> cause;
};

std::string describe_cause(const link& l) {
  if (auto p = std::get_if<const purchase*>(&l.cause))
    return "purchase " + (*p)->purchase_id;
  return "command " + std::get<const item_command*>(l.cause)->command_id;
}

const std::string& request_id(const purchase& p) {
  return p.purchase_id;
}

const std::string& request_id(const item_command& c) {
  return c.command_id;
}

} // namespace

history::summary history::check(bool allow_undecided) const {
  summary s;
  s.dead_letters = dead_letters_;
  s.claims = claims_;
  s.claimed_ids = first_claims_.size();
  auto& v = s.violations;

  // A request written under an id claimed first for another request: two clients
  // asked with one Idempotency-Key (or --id), and the second one was not refused.
  std::set<std::string> reported; // a request and its CREATED copy: one sentence
  auto against_claim = [&](const std::string& what, const std::string& id, const auto& request) {
    auto it = first_claims_.find(id);
    if (it != first_claims_.end() && !claims(it->second.first, request)
        && reported.insert(what + " " + id).second)
      v.push_back(what + " " + id
                  + " was written for another request than the first claim of "
                    "its id ("
                  + describe_request(it->second.first) + ")");
  };
  for (const auto& [p, at] : purchases_)
    if (p.status == purchase_status::created)
      against_claim("purchase", p.purchase_id, p);
  for (const auto& [c, at] : commands_)
    if (c.status == command_status::requested)
      against_claim("command", c.command_id, c);
  for (const auto& [p, at] : purchase_requests_)
    against_claim("purchase", p.purchase_id, p);
  for (const auto& [c, at] : command_requests_)
    against_claim("command", c.command_id, c);
  // Exactly one outcome per request.
  std::unordered_map<std::string, int> created;
  std::unordered_map<std::string, int> outcomes;
  std::map<std::string, std::vector<link>> chains;
  std::map<std::string, std::vector<const purchase*>> failed_purchases;
  std::map<std::string, int64_t> sold;
  for (const auto& [p, at] : purchases_) {
    if (p.status == purchase_status::created && dead_lettered_.count(at) > 0) {
      ++s.rejected_requests;
      continue;
    }
    if (p.status == purchase_status::created) {
      ++s.purchases_created;
      if (++created[p.purchase_id] > 1)
        v.push_back("purchase " + p.purchase_id + " was CREATED more than once");
      continue;
    }
    if (++outcomes[p.purchase_id] > 1)
      v.push_back("purchase " + p.purchase_id + " has more than one outcome");
    s.outcomes.emplace(p.purchase_id, p);
    if (p.status == purchase_status::successful) {
      ++s.purchases_successful;
      // Clamped: a record's quantity is any int64, and the sum must not overflow (found
      // by tests/fuzz); a quantity out of range is reported by the chain check below.
      sold[p.item_id] += std::clamp<int64_t>(p.quantity, 0, max_quantity);
      chains[p.item_id].push_back({p.item_version, p.item_quantity, &p});
    } else {
      ++s.purchases_failed;
      failed_purchases[p.item_id].push_back(&p);
    }
  }
  for (const auto& [id, n] : outcomes)
    if (created.count(id) == 0)
      v.push_back("purchase " + id + " has an outcome but was never CREATED");
  for (const auto& [id, n] : created)
    if (outcomes.count(id) == 0) {
      ++s.undecided;
      if (!allow_undecided)
        v.push_back("purchase " + id + " was CREATED but has no outcome");
    }
  // Requests in the request topics: the first copy of each id needs the outcome of
  // exactly that request (or a dead letter); a node dead-letters every later copy.
  auto check_requests = [&](const char* what, const auto& requests, const auto& counted_in_log,
                            const auto& outcome_of, size_t& count) {
    std::unordered_map<std::string, int> submitted;
    for (const auto& [r, at] : requests) {
      if (dead_lettered_.count(at) > 0) {
        ++s.rejected_requests;
        continue;
      }
      const auto& id = request_id(r);
      auto where = fmt::format("{}/{}@{}", at.topic, at.partition, at.offset);
      if (++submitted[id] > 1) {
        ++s.undecided;
        if (!allow_undecided)
          v.push_back(fmt::format("{} {} was requested again at {}, and that copy was neither "
                                  "decided nor dead-lettered",
                                  what, id, where));
        continue;
      }
      if (counted_in_log.count(id) == 0)
        ++count;
      const auto* outcome = outcome_of(id);
      if (outcome == nullptr) {
        if (counted_in_log.count(id) > 0)
          continue; // its CREATED / REQUESTED record is counted above
        ++s.undecided;
        if (!allow_undecided)
          v.push_back(fmt::format("{} {} was requested ({}) but has no outcome", what, id, where));
        continue;
      }
      if (!(request_of(*outcome) == r))
        v.push_back(
          fmt::format("{} {} was decided for another request than the one at {}", what, id, where));
    }
  };
  check_requests(
    "purchase", purchase_requests_, created,
    [&](const std::string& id) -> const purchase* {
      auto it = s.outcomes.find(id);
      return it == s.outcomes.end() ? nullptr : &it->second;
    },
    s.purchases_created);

  std::unordered_map<std::string, int> requested;
  std::unordered_map<std::string, int> results;
  std::unordered_map<std::string, const item_command*> command_outcomes;
  for (const auto& [c, at] : commands_) {
    if (c.status == command_status::requested && dead_lettered_.count(at) > 0) {
      ++s.rejected_requests;
      continue;
    }
    if (c.status == command_status::requested) {
      ++s.commands_requested;
      if (++requested[c.command_id] > 1)
        v.push_back("command " + c.command_id + " was REQUESTED more than once");
      continue;
    }
    if (++results[c.command_id] > 1)
      v.push_back("command " + c.command_id + " has more than one result");
    command_outcomes.emplace(c.command_id, &c);
    if (c.status == command_status::applied) {
      ++s.commands_applied;
      chains[c.item_id].push_back({c.item_version, c.item_quantity, &c});
    } else {
      ++s.commands_rejected;
    }
  }
  for (const auto& [id, n] : results)
    if (requested.count(id) == 0)
      v.push_back("command " + id + " has a result but was never REQUESTED");
  for (const auto& [id, n] : requested)
    if (results.count(id) == 0) {
      ++s.undecided;
      if (!allow_undecided)
        v.push_back("command " + id + " was REQUESTED but has no result");
    }
  check_requests(
    "command", command_requests_, requested,
    [&](const std::string& id) -> const item_command* {
      auto it = command_outcomes.find(id);
      return it == command_outcomes.end() ? nullptr : it->second;
    },
    s.commands_requested);

  // Each item's chain: versions 1..N, every step a valid transition.
  for (auto& [item_id, chain] : chains) {
    std::sort(chain.begin(), chain.end(),
              [](const link& a, const link& b) { return a.version < b.version; });
    std::optional<item> state;
    int64_t supplied = 0;
    for (size_t i = 0; i < chain.size(); ++i) {
      const auto& l = chain[i];
      auto expected_version = static_cast<int64_t>(i) + 1;
      if (l.version != expected_version) {
        v.push_back("item " + item_id + ": " + describe_cause(l) + " is at version "
                    + std::to_string(l.version) + ", the chain expects "
                    + std::to_string(expected_version) + " (a gap or a step applied twice)");
        break;
      }
      std::optional<item> next;
      if (auto p = std::get_if<const purchase*>(&l.cause)) {
        if (state && (*p)->quantity > 0 && (*p)->quantity <= state->quantity) {
          next = *state;
          next->quantity -= (*p)->quantity;
          next->version += 1;
        }
      } else {
        const auto* c = std::get<const item_command*>(l.cause);
        auto request = *c;
        request.status = command_status::requested;
        auto d = apply_command(state, request);
        if (d.result.status == command_status::applied) {
          next = d.state;
          if (c->type == command_type::insert_item)
            supplied += c->quantity;
          else if (c->type == command_type::restock)
            supplied += c->amount;
          else if (c->type == command_type::set_quantity && state)
            supplied += std::max<int64_t>(0, c->quantity - state->quantity);
        }
      }
      if (!next || next->quantity != l.quantity_after || next->quantity < 0) {
        v.push_back("item " + item_id + ": " + describe_cause(l) + " at version "
                    + std::to_string(l.version) + " is not a valid step from "
                    + (state ? "quantity " + std::to_string(state->quantity) : "no item")
                    + " to quantity " + std::to_string(l.quantity_after));
        break;
      }
      state = std::move(next);
    }
    if (sold[item_id] > supplied)
      v.push_back("item " + item_id + ": oversold, " + std::to_string(sold[item_id])
                  + " units sold but only " + std::to_string(supplied) + " supplied");
    if (state)
      s.rebuilt[item_id] = *state;
  }

  // A failure must have been right when it was decided.
  for (const auto& [item_id, failures] : failed_purchases) {
    auto chain_it = chains.find(item_id);
    for (const auto* p : failures) {
      if (p->reason != failure_reason::insufficient_stock)
        continue;
      int64_t qty = 0;
      bool found = false;
      if (chain_it != chains.end())
        for (const auto& l : chain_it->second)
          if (l.version == p->item_version) {
            qty = l.quantity_after;
            found = true;
          }
      if (!found || qty != p->item_quantity || p->quantity <= qty)
        v.push_back("purchase " + p->purchase_id + " FAILED for insufficient stock at version "
                    + std::to_string(p->item_version) + ", which does not match the chain");
    }
  }

  // The snapshots in `items` equal the rebuilt state.
  for (const auto& [item_id, rebuilt] : s.rebuilt) {
    auto it = snapshots_.find(item_id);
    if (it == snapshots_.end())
      v.push_back("item " + item_id + " has outcomes but no snapshot in the items topic");
    else if (!(it->second == rebuilt))
      v.push_back(
        "item " + item_id + ": the items topic has version " + std::to_string(it->second.version)
        + " quantity " + std::to_string(it->second.quantity) + ", the replay gives version "
        + std::to_string(rebuilt.version) + " quantity " + std::to_string(rebuilt.quantity));
  }
  for (const auto& [item_id, snap] : snapshots_)
    if (s.rebuilt.count(item_id) == 0)
      v.push_back("item " + item_id + " is in the items topic but no outcome created it");
  s.items = s.rebuilt.size();
  return s;
}

store_check check_store(bps::state_store& store, const history::summary& replay,
                        const std::string& name) {
  store_check out;
  store.for_each(
    [&](const item& x) {
      ++out.items;
      auto it = replay.rebuilt.find(x.item_id);
      auto log_version = it == replay.rebuilt.end() ? 0 : it->second.version;
      if (x.version > log_version)
        out.violations.push_back(name + ": item " + x.item_id + " is at version "
                                 + std::to_string(x.version) + ", ahead of the log ("
                                 + std::to_string(log_version) + ")");
      else if (x.version < log_version)
        ++out.behind;
      else if (!(x == it->second))
        out.violations.push_back(name + ": item " + x.item_id + " at version "
                                 + std::to_string(x.version) + " differs from the replay");
    },
    [&](const purchase& p) {
      ++out.purchases;
      auto it = replay.outcomes.find(p.purchase_id);
      if (it == replay.outcomes.end())
        out.violations.push_back(name + ": purchase " + p.purchase_id
                                 + " is decided in the store but not in the log");
      else if (!(it->second == p))
        out.violations.push_back(name + ": purchase " + p.purchase_id
                                 + " has another outcome in the store than in the log");
    });
  return out;
}

} // namespace bps::domain
