#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "bps/actors/codec.hpp"
#include "bps/clock.hpp"
#include "bps/error.hpp"
#include "bps/ids.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"
#include "commands.hpp"

namespace bps::cli {

namespace {

struct claim_verdict {
  /// The first claim of the id in its partition.
  domain::claim first;
  /// True if it is the claim just written.
  bool ours = false;
};

/// Writes `mine` to the claims topic and reads the claim's partition from its
/// beginning (a CLI can afford that; a gateway keeps an index instead) past it: the
/// first claim of the id decides.
caf::expected<claim_verdict> claim_id(const kafka_options& k, const std::string& claims_topic,
                                      const domain::claim& mine, kafka::producer& producer) {
  auto timeout = std::chrono::milliseconds{k.timeout_ms};
  if (auto err = producer.produce(claims_topic, mine.id, domain::encode(mine), -1,
                                  domain::headers_of(mine).view()))
    return err;
  if (auto err = producer.flush(timeout + std::chrono::milliseconds{2000}))
    return make_error(ec::kafka_error, "the claim of the id was not written: " + describe(err)
                                         + " (does topic " + claims_topic
                                         + " exist? bps topics ensure creates it)");
  auto delivered = producer.take_delivered();
  if (delivered.size() != 1 || delivered.begin()->second.size() != 1)
    return make_error(ec::kafka_error, "the claim's offset was not reported");
  auto [tp, offsets] = *delivered.begin();
  auto offset = offsets.front();
  std::optional<claim_verdict> verdict;
  auto err = kafka::read_to_end(
    k.bootstrap, {tp},
    [&](const kafka::record& rec) {
      if (verdict || rec.offset > offset || !rec.value || rec.key != mine.id)
        return;
      if (auto d = domain::decode_claim(*rec.value); d && d.value->id == mine.id)
        verdict = claim_verdict{*d.value, rec.offset == offset};
    },
    timeout, k.extra);
  if (err)
    return err;
  if (!verdict)
    return make_error(ec::kafka_error, fmt::format("the claim written at {}/{}@{} was not read "
                                                   "back",
                                                   tp.topic, tp.partition, offset));
  return *verdict;
}

/// A field the HTTP API would refuse, named as the option that gave it: the CLI
/// writes nothing that a gateway would not.
std::string refusal(const domain::field_problem& problem) {
  std::string option = "--";
  for (char ch : problem.field) {
    if (ch >= 'A' && ch <= 'Z') {
      option += '-';
      option += static_cast<char>(ch - 'A' + 'a');
    } else {
      option += ch;
    }
  }
  return fmt::format("option {}: {}; nothing was written", option, problem.message);
}

/// exit_ok for SUCCESSFUL / APPLIED, exit_refused for FAILED / REJECTED.
int exit_for_outcome(const std::string& record) {
  if (auto p = domain::decode_purchase(record))
    return p.value->status == domain::purchase_status::successful ? exit_ok : exit_refused;
  if (auto c = domain::decode_command(record))
    return c.value->status == domain::command_status::applied ? exit_ok : exit_refused;
  return exit_failed;
}

struct found_request {
  std::optional<std::string> request;
  std::optional<std::string> outcome;
};

/// The request with this id and its outcome, if they are in the partition.
/// Looks for request `id` in its request topic's partition and for its outcome in the
/// output topic's (only nodes' outcomes count: a request topic holds requests).
caf::expected<found_request> find_request(const kafka_options& k,
                                          const kafka::topic_partition& request_tp,
                                          const kafka::topic_partition& output_tp,
                                          const std::string& id) {
  found_request out;
  auto err = kafka::read_to_end(
    k.bootstrap, {request_tp, output_tp},
    [&](const kafka::record& rec) {
      if (!rec.value)
        return;
      std::optional<bool> decided;
      if (auto p = domain::decode_purchase(*rec.value); p && p.value->purchase_id == id)
        decided = p.value->status != domain::purchase_status::created;
      else if (auto c = domain::decode_command(*rec.value); c && c.value->command_id == id)
        decided = c.value->status != domain::command_status::requested;
      if (!decided || (*decided && rec.topic != output_tp.topic))
        return;
      auto& slot = *decided ? out.outcome : out.request;
      if (!slot)
        slot = *rec.value;
    },
    std::chrono::milliseconds{k.timeout_ms} * 6, k.extra);
  if (err)
    return err;
  return out;
}

} // namespace

int run_write(const kafka_options& k, const std::string& kind, const write_options& w) {
  if (auto err = kafka::validate_topic_prefix(k.topic_prefix))
    return fail("option --topic-prefix: " + describe(err), exit_usage);
  if (auto problem = domain::check_id("itemId", w.item_id))
    return fail("option --item-id: " + *problem, exit_usage);
  auto id = w.id.empty() ? random_id(kind == "purchase" ? "p" : "c") : w.id;
  if (auto problem = domain::check_id(kind == "purchase" ? "purchaseId" : "commandId", id))
    return fail("option --id: " + *problem, exit_usage);
  auto topics = kafka::topic_names::with_prefix(k.topic_prefix);

  std::string topic;
  std::string output_topic;
  std::string value;
  domain::headers headers; // static text only: the CLI is no node
  domain::claim claim;
  if (kind == "purchase") {
    topic = topics.purchase_requests;
    output_topic = topics.purchases;
    domain::purchase p{id, w.item_id, w.quantity, w.purchased_by};
    if (auto problem = domain::check_fields(p))
      return fail(refusal(*problem), exit_usage);
    value = domain::encode(p);
    headers = domain::headers_of(p, "");
    claim = domain::claim_of(p, "cli", wall_ms());
  } else {
    domain::item_command c;
    c.command_id = id;
    c.item_id = w.item_id;
    c.description = w.description;
    c.quantity = w.quantity;
    c.amount = w.amount;
    c.expected_version = w.expected_version;
    if (kind == "insert")
      c.type = domain::command_type::insert_item;
    else if (kind == "set-quantity")
      c.type = domain::command_type::set_quantity;
    else if (kind == "restock")
      c.type = domain::command_type::restock;
    else
      c.type = domain::command_type::set_description;
    if (auto problem = domain::check_fields(c))
      return fail(refusal(*problem), exit_usage);
    topic = topics.item_command_requests;
    output_topic = topics.item_commands;
    value = domain::encode(c);
    headers = domain::headers_of(c, "");
    claim = domain::claim_of(c, "cli", wall_ms());
  }

  auto timeout = std::chrono::milliseconds{k.timeout_ms};
  auto admin = kafka::admin::make(k.bootstrap, k.extra);
  if (!admin)
    return fail(describe(admin.error()), exit_usage);
  auto d = (*admin)->describe_topic(topic, timeout);
  if (!d)
    return fail(kafka_failure(d.error(), k), exit_failed);
  if (!*d)
    return fail("topic " + topic + " does not exist (bps topics ensure creates it)", exit_failed);
  kafka::topic_partition tp{topic, kafka::partition_for(w.item_id, (*d)->partitions)};
  kafka::topic_partition out_tp{output_topic, tp.partition};

  // To wait for the outcome, start reading the output partition at its current end
  // before writing: the outcome comes after the request.
  std::unique_ptr<kafka::consumer> watcher;
  if (w.wait_ms > 0) {
    kafka::consumer_options copts;
    copts.bootstrap = k.bootstrap;
    copts.group_id = "bps.cli"; // assign only: never joins, never commits
    copts.assign_only = true;
    copts.extra = k.extra;
    auto c = kafka::consumer::make(copts);
    if (!c)
      return fail(describe(c.error()), exit_usage);
    auto marks = (*c)->watermarks(out_tp, timeout);
    if (!marks)
      return fail(describe(marks.error()), exit_failed);
    if (auto err = (*c)->assign({{out_tp.topic, out_tp.partition, marks->second}}))
      return fail(describe(err), exit_failed);
    watcher = std::move(*c);
  }

  kafka::producer_options opts;
  opts.bootstrap = k.bootstrap;
  opts.extra = k.extra;
  opts.extra.try_emplace("message.timeout.ms", std::to_string(k.timeout_ms));
  auto producer = kafka::producer::make(opts);
  if (!producer)
    return fail(describe(producer.error()), exit_usage);

  // An id the user chose is claimed first (a random one needs no claim): the first
  // claim of the id names the one request it stands for, whoever wrote it.
  std::optional<std::string> earlier_record;
  if (!w.id.empty()) {
    auto verdict = claim_id(k, topics.idempotency_keys, claim, **producer);
    if (!verdict)
      return fail(describe(verdict.error()), exit_failed);
    if (!verdict->ours) {
      if (!domain::same_request(verdict->first, claim))
        return fail(fmt::format("--id {} was claimed first for another request ({}, by {}); "
                                "nothing was written: choose another id",
                                id, domain::describe_request(verdict->first), verdict->first.node),
                    exit_failed);
      // The same request was claimed before: a retry. It is written again only if
      // its request is not in the log (its first writer may have died in between).
      auto found = find_request(k, tp, out_tp, id);
      if (!found)
        return fail(describe(found.error()), exit_failed);
      if (found->request) {
        std::cerr << fmt::format("bps: {} was claimed and written before (by {}): not written "
                                 "again\n",
                                 id, verdict->first.node);
        std::cout << *found->request << "\n";
        if (found->outcome) {
          std::cout << *found->outcome << "\n";
          return exit_for_outcome(*found->outcome);
        }
        earlier_record = *found->request;
      }
    }
  }

  if (!earlier_record) {
    if (auto err = (*producer)->produce(topic, w.item_id, value, -1, headers.view()))
      return fail(describe(err), exit_failed);
    if (auto err = (*producer)->flush(std::chrono::milliseconds{k.timeout_ms + 2000}))
      return fail(describe(err) + "\n  Is Kafka running at " + k.bootstrap
                    + " and do the topics exist (bps topics ensure)?",
                  exit_failed);
    std::cout << value << "\n" << std::flush;
  }
  if (!watcher)
    return exit_ok;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{w.wait_ms};
  while (std::chrono::steady_clock::now() < deadline) {
    auto ev = watcher->poll(std::chrono::milliseconds{100});
    if (!ev || ev->what != kafka::poll_event::kind::message || !ev->rec.value)
      continue;
    if (kind == "purchase") {
      auto d = domain::decode_purchase(*ev->rec.value);
      if (d && d.value->purchase_id == id && d.value->status != domain::purchase_status::created) {
        std::cout << *ev->rec.value << "\n";
        return exit_for_outcome(*ev->rec.value);
      }
    } else {
      auto d = domain::decode_command(*ev->rec.value);
      if (d && d.value->command_id == id && d.value->status != domain::command_status::requested) {
        std::cout << *ev->rec.value << "\n";
        return exit_for_outcome(*ev->rec.value);
      }
    }
  }
  // A chosen id is claimed, so the same command again finds the request instead of
  // writing it twice; a random one is not.
  std::cerr << fmt::format(
    "bps: {} {} is written; no outcome within {} ms (exit code {}). A running node decides it "
    "(bps node); {}\n",
    kind == "purchase" ? "purchase" : "command", id, w.wait_ms, exit_undecided,
    w.id.empty() ? "see its outcome with bps replay or kcat (give --id to make the command "
                   "safe to repeat)"
                 : "the same command again prints its outcome without writing it twice");
  return exit_undecided;
}

} // namespace bps::cli
