// The load generator: appends CREATED purchases to <prefix>purchase-requests (and
// some restocks to <prefix>item-command-requests) at a target rate or as fast as it
// can, over N items with a chosen skew, and measures the latency from each append to
// its committed outcome in <prefix>purchases (where a node writes the request's
// CREATED record and its outcome together), read with a read_committed consumer. It also checks
// what it can see: every purchase has exactly one outcome, and (for items it inserted itself,
// --insert) no item sold more than its stock and restocks. Prints a summary and, with --json,
// writes it as JSON.
//
//   bps-loadgen --bootstrap B --topic-prefix P [--items 1000] [--skew uniform|zipf|hot]
//               [--purchases 50000] [--rate 0] [--stock 1000000000] [--restock-every 0]
//               [--insert] [--outcomes purchases|raw-out] [--json FILE] [--label NAME]
//
// --insert first inserts the items (INSERT_ITEM commands) and waits until they are
// APPLIED. --outcomes raw-out measures the raw pipe, which writes each request and a
// stand-in for its outcome (SUCCESSFUL, no decision) to <prefix>raw-out.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bps/actors/codec.hpp"
#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/topics.hpp"

using namespace bps;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::string bootstrap = "127.0.0.1:9092";
  std::string prefix = "bps.";
  int items = 1000;
  std::string skew = "uniform";
  double zipf_s = 1.1;
  int64_t purchases = 50000;
  double rate = 0;
  int64_t stock = 1000000000;
  int64_t restock_every = 0;
  bool insert = false;
  std::string outcomes = "purchases";
  std::string json_path;
  std::string label;
  int timeout_s = 300;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
    .count();
}

/// Picks item indexes with the chosen skew.
class item_picker {
public:
  item_picker(const options& o) : rng_(42), uniform_(0, o.items - 1), hot_(o.skew == "hot") {
    if (o.skew == "zipf") {
      cdf_.resize(o.items);
      double sum = 0;
      for (int k = 0; k < o.items; ++k)
        cdf_[k] = (sum += 1.0 / std::pow(k + 1, o.zipf_s));
      for (auto& c : cdf_)
        c /= sum;
    }
  }
  int next() {
    if (hot_)
      return 0;
    if (cdf_.empty())
      return uniform_(rng_);
    auto u = std::uniform_real_distribution<double>(0, 1)(rng_);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

private:
  std::mt19937_64 rng_;
  std::uniform_int_distribution<int> uniform_;
  bool hot_;
  std::vector<double> cdf_;
};

std::unique_ptr<kafka::consumer> tail_of(const options& o, const std::string& topic,
                                         int32_t partitions) {
  kafka::consumer_options copts;
  copts.bootstrap = o.bootstrap;
  copts.group_id = o.prefix + "loadgen";
  copts.read_committed = true;
  copts.extra = {{"fetch.wait.max.ms", "5"}};
  auto c = kafka::consumer::make(copts);
  if (!c)
    throw std::runtime_error(describe(c.error()));
  std::vector<kafka::partition_offset> from;
  auto deadline = clock_type::now() + 60s;
  for (int32_t p = 0; p < partitions; ++p) {
    // A topic created a moment ago (the raw pipe's output) may not be ready yet.
    auto marks = (*c)->watermarks({topic, p}, 30s);
    while (!marks && clock_type::now() < deadline) {
      std::this_thread::sleep_for(200ms);
      marks = (*c)->watermarks({topic, p}, 30s);
    }
    if (!marks)
      throw std::runtime_error(describe(marks.error()));
    from.push_back({topic, p, marks->second});
  }
  if (auto err = (*c)->assign(from))
    throw std::runtime_error(describe(err));
  return std::move(*c);
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty())
    return 0;
  auto idx = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size()))) - 1;
  return sorted[std::min(idx, sorted.size() - 1)];
}

int run(const options& o) {
  auto topics = kafka::topic_names::with_prefix(o.prefix);
  auto admin = kafka::admin::make(o.bootstrap);
  if (!admin)
    throw std::runtime_error(describe(admin.error()));
  // Requests go to the request topics, outcomes come from purchases / item-commands
  // (co-partitioned: one partition count for all).
  int32_t partitions = 0;
  for (const auto* topic : {&topics.purchase_requests, &topics.item_command_requests,
                            &topics.purchases, &topics.item_commands}) {
    auto d = (*admin)->describe_topic(*topic, 30s);
    if (!d || !*d)
      throw std::runtime_error("topic " + *topic
                               + " does not exist (bps topics ensure --topic-prefix ...)");
    if (partitions == 0)
      partitions = (*d)->partitions;
  }
  auto outcome_topic = o.outcomes == "raw-out" ? o.prefix + "raw-out" : topics.purchases;

  kafka::producer_options popts;
  popts.bootstrap = o.bootstrap;
  popts.extra = {{"linger.ms", "2"}, {"batch.num.messages", "10000"}};
  auto producer = kafka::producer::make(popts);
  if (!producer)
    throw std::runtime_error(describe(producer.error()));
  auto& prod = **producer;
  auto run_id = fmt::format("{:08x}", std::random_device{}());
  auto item_name = [](int k) { return fmt::format("item-{}", k); };

  if (o.insert) {
    auto watch = tail_of(o, topics.item_commands, partitions);
    for (int k = 0; k < o.items; ++k) {
      domain::item_command c;
      c.command_id = fmt::format("lg-{}-ins-{}", run_id, k);
      c.item_id = item_name(k);
      c.description = "Item " + std::to_string(k);
      c.quantity = o.stock;
      if (auto err = prod.produce(topics.item_command_requests, c.item_id, domain::encode(c)))
        throw std::runtime_error(describe(err));
    }
    if (auto err = prod.flush(60s))
      throw std::runtime_error(describe(err));
    int applied = 0;
    auto deadline = clock_type::now() + std::chrono::seconds{o.timeout_s};
    while (applied < o.items && clock_type::now() < deadline) {
      auto ev = watch->poll(100ms);
      if (!ev || ev->what != kafka::poll_event::kind::message || !ev->rec.value)
        continue;
      auto dc = domain::decode_command(*ev->rec.value);
      if (dc && dc.value->status != domain::command_status::requested
          && dc.value->command_id.rfind("lg-" + run_id + "-ins-", 0) == 0)
        ++applied;
    }
    if (applied < o.items)
      throw std::runtime_error(fmt::format("only {} of {} items were inserted within {} s "
                                           "(is a node running?)",
                                           applied, o.items, o.timeout_s));
    std::cerr << fmt::format("loadgen: {} items inserted (stock {} each)\n", o.items, o.stock);
  }

  const auto n = static_cast<size_t>(o.purchases);
  std::unique_ptr<std::atomic<int64_t>[]> sent { new std::atomic<int64_t>[ n ] };
  std::vector<int> item_of(n);
  item_picker pick{o};
  for (size_t i = 0; i < n; ++i)
    item_of[i] = pick.next();

  // The reader of outcomes, started at the end of the topic before anything is sent.
  auto watch = tail_of(o, outcome_topic, partitions);
  std::vector<uint8_t> outcomes(n, 0);
  std::vector<double> latency_ms;
  latency_ms.reserve(n);
  std::vector<int64_t> sold(o.items, 0);
  int64_t successful = 0;
  int64_t failed = 0;
  int64_t duplicates = 0;
  std::atomic<int64_t> last_outcome_ns{0};
  std::atomic<bool> done{false};
  std::atomic<size_t> seen{0};
  const auto id_prefix = fmt::format("lg-{}-", run_id);
  {
    // Warm the whole path first (the reader's fetch, the contender's consumer): one
    // marker purchase of an item that does not exist, not counted. Its CREATED record
    // comes with its outcome (in purchases and in raw-out alike): wait for the outcome.
    domain::purchase marker{id_prefix + "marker", "lg-marker-item", 1, "loadgen"};
    if (auto err = prod.produce(topics.purchase_requests, marker.item_id, domain::encode(marker)))
      throw std::runtime_error(describe(err));
    if (auto err = prod.flush(30s))
      throw std::runtime_error(describe(err));
    auto deadline = clock_type::now() + std::chrono::seconds{o.timeout_s};
    bool seen_marker = false;
    while (!seen_marker && clock_type::now() < deadline) {
      auto ev = watch->poll(50ms);
      if (ev && ev->what == kafka::poll_event::kind::message && ev->rec.value)
        seen_marker = ev->rec.value->find(marker.purchase_id) != std::string::npos
                      && ev->rec.value->find("\"CREATED\"") == std::string::npos;
    }
    if (!seen_marker)
      throw std::runtime_error(fmt::format("no outcome for the marker purchase within {} s (is "
                                           "the contender running?)",
                                           o.timeout_s));
  }
  // Restocks are requests too: the run ends when each has its result.
  std::atomic<int64_t> restocks_sent{0};
  std::atomic<int64_t> restocks_decided{0};
  std::atomic<bool> sending_done{false};
  std::unique_ptr<kafka::consumer> command_watch;
  if (o.restock_every > 0 && o.outcomes != "raw-out")
    command_watch = tail_of(o, topics.item_commands, partitions);
  std::thread command_reader{[&] {
    if (!command_watch)
      return;
    auto deadline = clock_type::now() + std::chrono::seconds{o.timeout_s};
    const auto rs_prefix = id_prefix + "rs-";
    while ((!sending_done || restocks_decided < restocks_sent) && clock_type::now() < deadline) {
      auto ev = command_watch->poll(50ms);
      if (!ev || ev->what != kafka::poll_event::kind::message || !ev->rec.value)
        continue;
      auto dc = domain::decode_command(*ev->rec.value);
      if (dc && dc.value->status != domain::command_status::requested
          && dc.value->command_id.rfind(rs_prefix, 0) == 0)
        ++restocks_decided;
    }
  }};
  std::thread reader{[&] {
    auto deadline = clock_type::now() + std::chrono::seconds{o.timeout_s};
    while (seen < n && clock_type::now() < deadline) {
      auto ev = watch->poll(50ms);
      if (!ev || ev->what != kafka::poll_event::kind::message || !ev->rec.value)
        continue;
      auto t = now_ns();
      auto dp = domain::decode_purchase(*ev->rec.value);
      if (!dp || dp.value->purchase_id.rfind(id_prefix, 0) != 0)
        continue;
      // The CREATED record a node (or the raw pipe) writes with each outcome.
      if (dp.value->status == domain::purchase_status::created)
        continue;
      auto suffix = dp.value->purchase_id.substr(id_prefix.size());
      if (suffix.empty() || !std::isdigit(static_cast<unsigned char>(suffix[0])))
        continue; // the marker
      auto i = std::stoull(suffix);
      if (i >= n)
        continue;
      if (outcomes[i]++ > 0) {
        ++duplicates;
        continue;
      }
      latency_ms.push_back(static_cast<double>(t - sent[i].load()) / 1e6);
      if (dp.value->status == domain::purchase_status::successful) {
        ++successful;
        sold[item_of[i]] += dp.value->quantity;
      } else if (dp.value->status == domain::purchase_status::failed) {
        ++failed;
      }
      last_outcome_ns = t;
      ++seen;
    }
    done = true;
  }};

  // Send at the target rate (0: as fast as the producer takes them).
  int64_t restocks = 0;
  std::vector<int64_t> restocked(o.items, 0);
  auto start = now_ns();
  for (size_t i = 0; i < n; ++i) {
    if (o.rate > 0) {
      auto due = start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / o.rate);
      while (now_ns() < due)
        std::this_thread::sleep_for(
          std::chrono::nanoseconds{std::min<int64_t>(due - now_ns(), 1000000)});
    }
    auto item = item_name(item_of[i]);
    domain::purchase p{id_prefix + std::to_string(i), item, 1, "buyer-" + std::to_string(i % 100)};
    auto value = domain::encode(p);
    sent[i] = now_ns();
    if (auto err = prod.produce(topics.purchase_requests, item, value))
      throw std::runtime_error(describe(err));
    if (o.restock_every > 0 && (i + 1) % static_cast<size_t>(o.restock_every) == 0) {
      domain::item_command c;
      c.command_id = fmt::format("{}rs-{}", id_prefix, i);
      c.type = domain::command_type::restock;
      c.item_id = item;
      c.amount = 1;
      restocked[item_of[i]] += 1;
      ++restocks;
      ++restocks_sent;
      if (auto err = prod.produce(topics.item_command_requests, item, domain::encode(c)))
        throw std::runtime_error(describe(err));
    }
    prod.poll(0ms);
  }
  auto sent_done = now_ns();
  sending_done = true;
  if (auto err = prod.flush(60s))
    throw std::runtime_error(describe(err));
  reader.join();
  command_reader.join();
  int64_t restocks_missing = command_watch ? restocks_sent - restocks_decided : 0;

  std::sort(latency_ms.begin(), latency_ms.end());
  auto outcome_span_s = static_cast<double>(last_outcome_ns.load() - start) / 1e9;
  int64_t missing = static_cast<int64_t>(n - seen.load());
  int64_t oversold_items = 0;
  // The stock is known only for items this run inserted; for others `bps replay --verify`
  // checks that nothing was oversold.
  if (o.outcomes != "raw-out" && o.insert)
    for (int k = 0; k < o.items; ++k)
      if (sold[k] > o.stock + restocked[k])
        ++oversold_items;
  bool ok = missing == 0 && duplicates == 0 && oversold_items == 0 && restocks_missing <= 0;
  nlohmann::json result{
    {"label", o.label},
    {"items", o.items},
    {"skew", o.skew},
    {"purchases", o.purchases},
    {"target_rate", o.rate},
    {"offered_rate", static_cast<double>(n) / (static_cast<double>(sent_done - start) / 1e9)},
    {"throughput", outcome_span_s > 0 ? static_cast<double>(seen.load()) / outcome_span_s : 0.0},
    {"p50_ms", percentile(latency_ms, 50)},
    {"p99_ms", percentile(latency_ms, 99)},
    {"p999_ms", percentile(latency_ms, 99.9)},
    {"max_ms", latency_ms.empty() ? 0.0 : latency_ms.back()},
    {"successful", successful},
    {"failed", failed},
    {"restocks", restocks},
    {"restocks_without_result", restocks_missing},
    {"missing_outcomes", missing},
    {"duplicate_outcomes", duplicates},
    {"oversold_items", oversold_items},
    {"invariants_hold", ok},
  };
  std::cout << fmt::format(
    "loadgen {}: {} purchases over {} items ({}), offered {:.0f}/s: throughput {:.0f}/s, latency "
    "p50 {:.1f} ms, p99 {:.1f} ms, p99.9 {:.1f} ms; {} successful, {} failed; {}\n",
    o.label, n, o.items, o.skew, result["offered_rate"].get<double>(),
    result["throughput"].get<double>(), result["p50_ms"].get<double>(),
    result["p99_ms"].get<double>(), result["p999_ms"].get<double>(), successful, failed,
    ok ? "invariants hold"
       : fmt::format("INVARIANTS BROKEN: {} without outcome, {} decided twice, {} items "
                     "oversold, {} restocks without result",
                     missing, duplicates, oversold_items, restocks_missing));
  if (!o.json_path.empty())
    std::ofstream{o.json_path} << result.dump(2) << "\n";
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"bps-loadgen: purchases at a rate, latency to the committed outcome"};
  app.add_option("--bootstrap", o.bootstrap)->capture_default_str();
  app.add_option("--topic-prefix", o.prefix)->capture_default_str();
  app.add_option("--items", o.items)->check(CLI::Range(1, 10000000))->capture_default_str();
  app.add_option("--skew", o.skew)
    ->check(CLI::IsMember({"uniform", "zipf", "hot"}))
    ->capture_default_str();
  app.add_option("--zipf-s", o.zipf_s, "Zipf exponent")->capture_default_str();
  app.add_option("--purchases", o.purchases)
    ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
    ->capture_default_str();
  app.add_option("--rate", o.rate, "purchases per second (0: as fast as possible)")
    ->capture_default_str();
  app.add_option("--stock", o.stock, "initial stock of each item (with --insert)")
    ->capture_default_str();
  app.add_option("--restock-every", o.restock_every, "restock 1 unit every N purchases (0: never)")
    ->capture_default_str();
  app.add_flag("--insert", o.insert, "insert the items first and wait until they are applied");
  app.add_option("--outcomes", o.outcomes)
    ->check(CLI::IsMember({"purchases", "raw-out"}))
    ->capture_default_str();
  app.add_option("--json", o.json_path, "write the result here");
  app.add_option("--label", o.label);
  app.add_option("--timeout-s", o.timeout_s)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "bps-loadgen: error: " << e.what() << "\n";
    return 2;
  }
}
