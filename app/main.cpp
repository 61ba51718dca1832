// bps: the command line. Thin: parses and validates options, then calls one
// command function (commands.hpp). Exit codes: 0 done, 1 the operation failed,
// 2 bad usage or settings, 3 a node's stop was forced, 4 a request was decided and
// refused (FAILED / REJECTED), 5 a request is written but undecided within --wait-ms.

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/config.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "allocator.hpp"
#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/topics.hpp"
#include "bps/logging.hpp"
#include "commands.hpp"
#include "settings.hpp"
#include "usage.hpp"

namespace bps::cli {

int fail(const std::string& text, int code) {
  std::cerr << "bps: error: " << text << "\n";
  return code;
}

namespace {

/// Options every command has.
struct global_options {
  std::string config;
  std::string log_format = "text";
  std::string log_level = "info";
};

void add_kafka_options(CLI::App* cmd, kafka_options& k) {
  cmd->add_option("--bootstrap", k.bootstrap, "Kafka bootstrap servers, HOST:PORT[,HOST:PORT]")
    ->capture_default_str();
  cmd->add_option("--topic-prefix", k.topic_prefix, "prefix of every bps topic")
    ->capture_default_str();
  cmd->add_option("--timeout-ms", k.timeout_ms, "time limit of each Kafka request")
    ->check(CLI::Range(int64_t{100}, int64_t{600000}))
    ->capture_default_str();
  cmd
    ->add_option("--kafka-property", k.properties,
                 "KEY=VALUE: a librdkafka property for every Kafka client of the command, e.g. "
                 "security.protocol=SASL_SSL (repeatable; commas separate several, and a piece "
                 "without = continues the value before it: debug=eos,protocol)")
    ->delimiter(',');
}

int run_topics_ensure(const kafka_options& k, int32_t partitions, int16_t replication) {
  if (auto err = kafka::validate_topic_prefix(k.topic_prefix))
    return fail("option --topic-prefix: " + describe(err), exit_usage);
  auto client = kafka::admin::make(k.bootstrap, k.extra);
  if (!client)
    return fail(describe(client.error()), exit_usage);
  auto specs = kafka::bps_topic_specs(k.topic_prefix, partitions, replication);
  auto report = kafka::ensure_topics(**client, specs, std::chrono::milliseconds{k.timeout_ms});
  if (!report)
    return fail(kafka_failure(report.error(), k), exit_failed);
  for (const auto& spec : specs) {
    bool created = std::find(report->created.begin(), report->created.end(), spec.name)
                   != report->created.end();
    std::string configs;
    for (const auto& [key, value] : spec.configs)
      configs += fmt::format(" {}={}", key, value);
    std::cout << fmt::format("{} {} ({} partitions,{})\n", created ? "created " : "verified",
                             spec.name, spec.partitions, configs);
  }
  if (auto note = kafka::upgrade_note(kafka::topic_names::with_prefix(k.topic_prefix), *report);
      !note.empty())
    std::cout << note << "\n";
  return exit_ok;
}

int run_topics_delete(const kafka_options& k, bool yes) {
  if (auto err = kafka::validate_topic_prefix(k.topic_prefix))
    return fail("option --topic-prefix: " + describe(err), exit_usage);
  auto names = kafka::topic_names::with_prefix(k.topic_prefix).all();
  if (!yes)
    return fail(fmt::format("this deletes {} and every record in them; stop every node of "
                            "this prefix first, then add --yes",
                            fmt::join(names, ", ")),
                exit_usage);
  auto client = kafka::admin::make(k.bootstrap, k.extra);
  if (!client)
    return fail(describe(client.error()), exit_usage);
  auto timeout = std::chrono::milliseconds{k.timeout_ms};
  std::vector<std::string> present;
  for (const auto& name : names) {
    auto d = (*client)->describe_topic(name, timeout);
    if (!d)
      return fail(kafka_failure(d.error(), k), exit_failed);
    if (*d)
      present.push_back(name);
    else
      std::cout << fmt::format("absent   {}\n", name);
  }
  if (present.empty())
    return exit_ok;
  if (auto err = (*client)->delete_topics(present, timeout))
    return fail(kafka_failure(err, k), exit_failed);
  // Deletion completes in the background: return once the topics are gone, so that
  // an ensure that follows creates them anew.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& name : present) {
    for (;;) {
      auto listed = (*client)->topic_listed(name, timeout);
      if (listed && !*listed)
        break;
      if (std::chrono::steady_clock::now() >= deadline)
        return fail(fmt::format("topic {} was not gone within {} ms", name, k.timeout_ms),
                    exit_failed);
      std::this_thread::sleep_for(std::chrono::milliseconds{200});
    }
    std::cout << fmt::format("deleted  {}\n", name);
  }
  return exit_ok;
}

int run_main(int argc, char** argv) {
  CLI::App app{"bps (Book-Purchase-Streams): sells a limited stock to many concurrent buyers "
               "without overselling, on Kafka.\nEvery option can also be set as a BPS_ "
               "environment variable (--topic-prefix: BPS_TOPIC_PREFIX) or in a config file "
               "(topic-prefix = x); the command line wins, then the environment, then the file.",
               "bps"};
  app.require_subcommand(1);
  app.fallthrough(); // global options may follow the command too
  global_options g;
  app.add_option("--config", g.config, "config file of name = value lines (also BPS_CONFIG)");
  app.add_option("--log-format", g.log_format, "text or json")
    ->check(CLI::IsMember({"text", "json"}))
    ->capture_default_str();
  app.add_option("--log-level", g.log_level, "trace, debug, info, warn (or warning), error or off")
    ->check(
      CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}))
    ->capture_default_str();
  kafka_options k;

  // bps topics ensure
  auto* topics = app.add_subcommand("topics", "manage bps' Kafka topics");
  topics->require_subcommand(1);
  topics->fallthrough();
  int32_t partitions = kafka::default_partitions;
  int16_t replication = 1;
  auto* ensure = topics->add_subcommand(
    "ensure", "create bps' topics, or verify that existing ones have the right settings "
              "(exits 1 naming every difference)");
  add_kafka_options(ensure, k);
  ensure->add_option("--partitions", partitions, "partitions of every topic")
    ->check(CLI::Range(1, 10000))
    ->capture_default_str();
  ensure->add_option("--replication-factor", replication, "replicas of every new topic")
    ->check(CLI::Range(1, 32))
    ->capture_default_str();

  bool delete_yes = false;
  auto* del = topics->add_subcommand(
    "delete", "delete bps' topics of a prefix and every record in them (stop its nodes first)");
  add_kafka_options(del, k);
  del->add_flag("--yes", delete_yes, "yes, delete them");

  // bps node
  node_options n;
  auto* node = app.add_subcommand(
    "node", "run a processing node: decides purchases and item commands, exactly once, until "
            "SIGINT or SIGTERM");
  add_kafka_options(node, k);
  node->add_option("--node-id", n.node_id,
                   "stable id of this node (default: the host name); the transactional id "
                   "derives from it");
  node
    ->add_option("--commit-interval-ms", n.commit_interval_ms,
                 "how long a transaction collects decisions")
    ->check(CLI::Range(int64_t{1}, int64_t{60000}))
    ->capture_default_str();
  node
    ->add_option("--max-in-flight", n.max_in_flight,
                 "requests sent to item actors and not yet answered before the node stops "
                 "reading and commits")
    ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
    ->capture_default_str();
  node
    ->add_option("--transaction-timeout-ms", n.transaction_timeout_ms,
                 "Kafka transaction timeout: how long a dead node's transaction can block "
                 "readers")
    ->check(CLI::Range(int64_t{1000}, int64_t{900000}))
    ->capture_default_str();
  node
    ->add_option("--partitions", n.partitions,
                 "partitions of every topic (created if missing, verified if present)")
    ->check(CLI::Range(1, 10000))
    ->capture_default_str();

  // Options a command cannot do without. Checked after the environment and the
  // config file had their say (CLI11's required() would only look at the command line).
  std::vector<std::pair<CLI::App*, CLI::Option*>> required;
  CLI::App* current = nullptr;
  auto need = [&](CLI::Option* opt) { required.emplace_back(current, opt); };

  node
    ->add_option("--idle-timeout-ms", n.idle_timeout_ms,
                 "an item actor idle this long is stopped (passivated); its state stays in "
                 "the state store")
    ->check(CLI::Range(int64_t{100}, int64_t{86400000}))
    ->capture_default_str();
  node
    ->add_option("--max-live-items", n.max_live_items,
                 "at most this many item actors are alive; the least recently used are "
                 "passivated first")
    ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
    ->capture_default_str();
  node
    ->add_option("--worker-threads", n.worker_threads,
                 "threads that run the item actors (0: one less than the cores, at least 1)")
    ->check(CLI::Range(int64_t{0}, int64_t{256}))
    ->capture_default_str();
  node
    ->add_option("--lanes", n.lanes,
                 "processing lanes: each is a consumer group member with its own transactional "
                 "producer and share of the partitions, deciding while another commits "
                 "(lanes > 1 keep their state stores under <state-dir>/lane-<k>/)")
    ->check(CLI::Range(int64_t{1}, int64_t{64}))
    ->capture_default_str();
  node->add_option("--state-dir", n.state_dir,
                   "keep each partition's state in a RocksDB store here, for fast restarts "
                   "(default: in memory, rebuilt from Kafka on every start)");
  node
    ->add_option("--chaos-crash-after-commit", n.chaos_crash_after_commit,
                 "testing only: SIGKILL the node right after its Nth commit, before the state "
                 "store write (0: never)")
    ->check(CLI::Range(0u, 1000000u));
  node->add_option("--fault", n.faults,
                   "testing only (tests/fault): inject a fault at a chosen moment, NAME=N: "
                   "pause-before-commit, store-fail, read-fail, offsets-fail or commit-unknown at "
                   "the Nth "
                   "occurrence, catch-up-slow: N ms more per catch-up write; repeatable");
  node
    ->add_option("--chaos-abort-every", n.chaos_abort_every,
                 "testing only: abort every Nth transaction after producing its outputs, to "
                 "exercise recovery (0: never)")
    ->check(CLI::Range(0u, 1000000u))
    ->capture_default_str();

  node
    ->add_option("--http", n.http,
                 "serve the HTTP API and web page on ADDR:PORT (port 0: any free port), or "
                 "\"off\"")
    ->capture_default_str();
  node->add_option("--http-threads", n.http_threads, "HTTP I/O threads")
    ->check(CLI::Range(int64_t{1}, int64_t{64}))
    ->capture_default_str();
  node
    ->add_option("--http-auth", n.http_auth,
                 "\"on\": every route but /, /healthz, /readyz and /openapi.json needs an API "
                 "key; \"off\": open to anyone who can connect (a local demo only)")
    ->check(CLI::IsMember({"on", "off"}))
    ->capture_default_str();
  node->add_option("--http-api-keys", n.http_api_keys,
                   "API keys, NAME:ROLE:TOKEN[,...] with ROLE admin or client and a TOKEN of at "
                   "least 16 characters; better given as BPS_HTTP_API_KEYS or in the config "
                   "file than on the command line");
  node
    ->add_option("--http-max-wait-ms", n.http_max_wait_ms,
                 "the largest ?wait= a client may ask for")
    ->check(CLI::Range(int64_t{0}, int64_t{600000}))
    ->capture_default_str();
  node
    ->add_option("--http-command-wait-ms", n.http_command_wait_ms,
                 "how long an item change waits for its result before answering 202")
    ->check(CLI::Range(int64_t{0}, int64_t{600000}))
    ->capture_default_str();
  node->add_option("--http-max-body-bytes", n.http_max_body_bytes, "larger bodies get 413")
    ->check(CLI::Range(int64_t{256}, int64_t{16777216}))
    ->capture_default_str();
  node->add_option("--http-max-header-bytes", n.http_max_header_bytes, "larger headers get 431")
    ->check(CLI::Range(int64_t{1024}, int64_t{1048576}))
    ->capture_default_str();
  node
    ->add_option("--http-read-timeout-ms", n.http_read_timeout_ms,
                 "a request must arrive whole within this time, else 408")
    ->check(CLI::Range(int64_t{100}, int64_t{600000}))
    ->capture_default_str();
  node
    ->add_option("--http-max-in-flight", n.http_max_in_flight,
                 "requests handled at once; beyond it, 503 at once")
    ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
    ->capture_default_str();
  node
    ->add_option("--http-max-streams", n.http_max_streams,
                 "GET /events streams open at once; beyond it, 503")
    ->check(CLI::Range(int64_t{0}, int64_t{100000}))
    ->capture_default_str();
  node
    ->add_option("--http-idempotency-window-ms", n.http_idempotency_window_ms,
                 "how long the gateway keeps purchases and item changes made without an "
                 "Idempotency-Key (keyed ones, and the keys' claims, are kept forever)")
    ->check(CLI::Range(int64_t{1000}, int64_t{365LL * 24 * 3600 * 1000}))
    ->capture_default_str();
  node
    ->add_option("--http-max-decision-lag-ms", n.http_max_decision_lag_ms,
                 "a new purchase or item change for a partition where a request this node wrote "
                 "has been undecided longer than this gets 503 overloaded at once (0: never)")
    ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
    ->capture_default_str();
  node
    ->add_option("--http-max-queue-delay-ms", n.http_max_queue_delay_ms,
                 "while requests wait longer than this in the gateway's queue, new purchases "
                 "and item changes get 503 overloaded at once (0: never)")
    ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
    ->capture_default_str();
  node
    ->add_option("--http-drain-ms", n.http_drain_ms,
                 "on SIGTERM/SIGINT, how long clients waiting for an outcome may still get it "
                 "(then 202) while the processor goes on; new requests get 503")
    ->check(CLI::Range(int64_t{0}, int64_t{600000}))
    ->capture_default_str();
  node
    ->add_option("--stop-timeout-ms", n.stop_timeout_ms,
                 "after SIGTERM/SIGINT, exit with code 3 if the node has not stopped within "
                 "this time (0: --http-drain-ms + --transaction-timeout-ms + 5000)")
    ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
    ->capture_default_str();

  // bps item ... / bps purchase
  write_options w;
  auto add_item_id = [&](CLI::App* cmd) {
    current = cmd;
    add_kafka_options(cmd, k);
    need(cmd->add_option("--item-id", w.item_id, "the item (letters, digits, . _ : -)"));
    cmd->add_option("--id", w.id, "id of this request (default: a random one)");
    cmd
      ->add_option("--wait-ms", w.wait_ms,
                   "wait this long for the committed outcome and print it (0: do not wait)")
      ->check(CLI::Range(int64_t{0}, int64_t{600000}))
      ->capture_default_str();
  };
  auto add_expected = [&](CLI::App* cmd) {
    cmd->add_option_function<int64_t>(
      "--expected-version", [&](const int64_t& v) { w.expected_version = v; },
      "apply only if the item is at this version");
  };
  auto* item
    = app.add_subcommand("item", "append an item command to the item-command-requests topic");
  item->require_subcommand(1);
  item->fallthrough();
  auto* insert = item->add_subcommand("insert", "insert a new item");
  add_item_id(insert);
  need(insert->add_option("--description", w.description, "what it is"));
  need(insert->add_option("--quantity", w.quantity, "initial stock"));
  auto* set_quantity = item->add_subcommand("set-quantity", "set the stock to a value");
  add_item_id(set_quantity);
  need(set_quantity->add_option("--quantity", w.quantity, "the new stock"));
  add_expected(set_quantity);
  auto* restock = item->add_subcommand("restock", "add units to the stock");
  add_item_id(restock);
  need(restock->add_option("--amount", w.amount, "units that arrive"));
  add_expected(restock);
  auto* set_description = item->add_subcommand("set-description", "change the description");
  add_item_id(set_description);
  need(set_description->add_option("--description", w.description, "the new description"));
  add_expected(set_description);
  auto* purchase
    = app.add_subcommand("purchase", "append a CREATED purchase to the purchase-requests topic");
  add_item_id(purchase);
  need(purchase->add_option("--quantity", w.quantity, "units to buy"));
  need(purchase->add_option("--purchased-by", w.purchased_by, "who buys"));

  // bps replay
  replay_options r;
  auto* replay = app.add_subcommand(
    "replay", "read every topic from the beginning, rebuild each item from its outcomes and "
              "print a summary");
  add_kafka_options(replay, k);
  replay->add_flag("--verify", r.verify, "check every invariant; exit 1 naming each violation");
  replay->add_option("--state-dir", r.state_dir,
                     "with --verify: also compare the state stores a node keeps here");
  replay->add_flag("--allow-undecided", r.allow_undecided,
                   "requests still waiting for their outcome are not violations (a live system)");

  auto* version = app.add_subcommand("version", "print the versions of bps and its libraries");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A misspelled command or option is named with the closest known one; other
    // errors are CLI11's. Its own exit codes (105 for a validation error, ...) become
    // the documented one: 2 for any bad usage, 0 for --help.
    if (e.get_exit_code() != 0)
      if (auto why = explain_unknown(app, std::vector<std::string>(argv + 1, argv + argc)))
        return fail(*why, exit_usage);
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }
  if (g.config.empty())
    if (const char* c = std::getenv("BPS_CONFIG"); c != nullptr)
      g.config = c;
  config_file file;
  if (!g.config.empty()) {
    auto parsed = parse_config_file(g.config);
    if (!parsed)
      return fail(describe(parsed.error()), exit_usage);
    file = std::move(*parsed);
  }
  if (auto err
      = apply_layers(app, file, [](const std::string& name) { return std::getenv(name.c_str()); }))
    return fail(describe(err), exit_usage);

  for (auto [cmd, opt] : required)
    if (cmd->parsed() && opt->count() == 0)
      return fail(fmt::format("option {} is required (on the command line, as {} or in the config "
                              "file)",
                              opt->get_name(), env_name(opt->get_lnames().front())),
                  exit_usage);

  if (auto why = parse_kafka_properties(k.properties, k.extra))
    return fail(*why, exit_usage);
  for (auto* cmd :
       {ensure, del, node, insert, set_quantity, restock, set_description, purchase, replay})
    if (const auto* opt = cmd->get_option_no_throw("--bootstrap");
        cmd->parsed() && opt != nullptr && opt->count() > 0)
      k.bootstrap_given = true;

  log_format format{};
  parse_log_format(g.log_format, format);
  setup_logging(format, g.log_level);
  if (!*version && !k.topic_prefix.empty()
      && std::string_view{".-_"}.find(k.topic_prefix.back()) == std::string_view::npos)
    spdlog::warn("--topic-prefix \"{0}\" does not end in a separator: the topics are named "
                 "{0}purchases, {0}items, ...; \"{0}.\" is probably what you meant",
                 k.topic_prefix);

  if (*version) {
    std::cout << fmt::format("bps {} (commit {})\nCAF {}.{}.{}\nlibrdkafka {}\nallocator {}\n",
                             BPS_VERSION, BPS_COMMIT, CAF_MAJOR_VERSION, CAF_MINOR_VERSION,
                             CAF_PATCH_VERSION, RdKafka::version_str(), allocator_in_use());
    return exit_ok;
  }
  if (*ensure)
    return run_topics_ensure(k, partitions, replication);
  if (*del)
    return run_topics_delete(k, delete_yes);
  if (*node)
    return run_node(k, n);
  if (*purchase)
    return run_write(k, "purchase", w);
  for (auto* cmd : {insert, set_quantity, restock, set_description})
    if (*cmd)
      return run_write(k, cmd->get_name(), w);
  if (*replay)
    return run_replay(k, r);
  return fail("no command given (see bps --help)", exit_usage);
}

} // namespace

} // namespace bps::cli

int main(int argc, char** argv) {
  // Errors travel as values; an exception reaching here is a bug, reported as one.
  try {
    return bps::cli::run_main(argc, argv);
  } catch (const std::exception& e) {
    return bps::cli::fail(std::string{"internal error (please report it): "} + e.what(),
                          bps::cli::exit_failed);
  }
}
