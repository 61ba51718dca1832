#include <chrono>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "bps/actors/codec.hpp"
#include "bps/error.hpp"
#include "bps/ids.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"
#include "commands.hpp"

namespace bps::cli {

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
  std::string value;
  if (kind == "purchase") {
    if (w.purchased_by.empty())
      return fail("option --purchased-by: who buys must be given", exit_usage);
    topic = topics.purchases;
    value = domain::encode(domain::purchase{id, w.item_id, w.quantity, w.purchased_by});
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
    topic = topics.item_commands;
    value = domain::encode(c);
  }

  // To wait for the outcome, start reading the request's partition at its current
  // end before writing: the outcome comes after the request.
  std::unique_ptr<kafka::consumer> watcher;
  if (w.wait_ms > 0) {
    auto admin = kafka::admin::make(k.bootstrap, k.extra);
    if (!admin)
      return fail(describe(admin.error()), exit_usage);
    auto d = (*admin)->describe_topic(topic, std::chrono::milliseconds{k.timeout_ms});
    if (!d)
      return fail(describe(d.error()), exit_failed);
    if (!*d)
      return fail("topic " + topic + " does not exist (bps topics ensure creates it)", exit_failed);
    kafka::topic_partition tp{topic, kafka::partition_for(w.item_id, (*d)->partitions)};
    kafka::consumer_options copts;
    copts.bootstrap = k.bootstrap;
    copts.group_id = "bps.cli"; // assign only: never joins, never commits
    copts.assign_only = true;
    copts.extra = k.extra;
    auto c = kafka::consumer::make(copts);
    if (!c)
      return fail(describe(c.error()), exit_usage);
    auto marks = (*c)->watermarks(tp, std::chrono::milliseconds{k.timeout_ms});
    if (!marks)
      return fail(describe(marks.error()), exit_failed);
    if (auto err = (*c)->assign({{tp.topic, tp.partition, marks->second}}))
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
  if (auto err = (*producer)->produce(topic, w.item_id, value))
    return fail(describe(err), exit_failed);
  if (auto err = (*producer)->flush(std::chrono::milliseconds{k.timeout_ms + 2000}))
    return fail(describe(err) + "\n  Is Kafka running at " + k.bootstrap
                  + " and do the topics exist (bps topics ensure)?",
                exit_failed);
  std::cout << value << "\n" << std::flush;
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
        return exit_ok;
      }
    } else {
      auto d = domain::decode_command(*ev->rec.value);
      if (d && d.value->command_id == id && d.value->status != domain::command_status::requested) {
        std::cout << *ev->rec.value << "\n";
        return exit_ok;
      }
    }
  }
  std::cerr << fmt::format("bps: {} {} is written; no outcome within {} ms. A running node "
                           "decides it (bps node); see it with bps replay or kcat.\n",
                           kind == "purchase" ? "purchase" : "command", id, w.wait_ms);
  return exit_ok;
}

} // namespace bps::cli
