#include <algorithm>
#include <atomic>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "allocator.hpp"
#include "bps/actors/gateway.hpp"
#include "bps/actors/messages.hpp"
#include "bps/actors/processor.hpp"
#include "bps/error.hpp"
#include "bps/http/events.hpp"
#include "bps/http/metrics.hpp"
#include "bps/http/service.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/topics.hpp"
#include "commands.hpp"
#include "node_stop.hpp"

namespace bps::cli {

namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
    return "node";
  return buf;
}

/// HTTP settings checked before anything starts.
struct http_plan {
  bool enabled = false;
  http::server_options server;
  http::service_config service;
};

caf::expected<http_plan> plan_http(const node_options& n) {
  http_plan plan;
  if (n.http == "off")
    return plan;
  plan.enabled = true;
  auto colon = n.http.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    const char* first = n.http.data() + colon + 1;
    const char* last = n.http.data() + n.http.size();
    if (auto [end, err] = std::from_chars(first, last, port); err != std::errc{} || end != last)
      port = -1;
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535)
    return make_error(ec::invalid_argument, "option --http: \"" + n.http
                                              + "\" is not ADDR:PORT (e.g. 127.0.0.1:8080) or off");
  plan.server.address = n.http.substr(0, colon);
  if (plan.server.address.size() > 2 && plan.server.address.front() == '[')
    plan.server.address = plan.server.address.substr(1, plan.server.address.size() - 2);
  plan.server.port = static_cast<uint16_t>(port);
  plan.server.io_threads = static_cast<int>(n.http_threads);
  plan.server.max_body_bytes = static_cast<size_t>(n.http_max_body_bytes);
  plan.server.max_header_bytes = static_cast<size_t>(n.http_max_header_bytes);
  plan.server.read_timeout = std::chrono::milliseconds{n.http_read_timeout_ms};
  plan.server.max_in_flight = static_cast<size_t>(n.http_max_in_flight);
  plan.server.max_streams = static_cast<size_t>(n.http_max_streams);
  // A handler answers within its wait (or the command wait) plus Kafka's write
  // timeout; beyond that something is stuck, and the client hears so.
  plan.server.handler_timeout
    = std::chrono::milliseconds{std::max(n.http_max_wait_ms, n.http_command_wait_ms) + 20000};
  plan.service.auth = n.http_auth == "on";
  plan.service.max_wait = std::chrono::milliseconds{n.http_max_wait_ms};
  plan.service.command_wait = std::chrono::milliseconds{n.http_command_wait_ms};
  plan.service.idempotency_window = std::chrono::milliseconds{n.http_idempotency_window_ms};
  if (plan.service.auth) {
    if (n.http_api_keys.empty())
      return make_error(ec::invalid_argument,
                        "option --http-auth is on but no API keys are given: set "
                        "BPS_HTTP_API_KEYS=NAME:ROLE:TOKEN[,...] (or --http-api-keys), or run "
                        "with --http-auth off for a local demo");
    auto keys = http::parse_api_keys(n.http_api_keys);
    if (!keys)
      return make_error(ec::invalid_argument, "option --http-api-keys: " + keys.error.message);
    plan.service.keys = std::move(*keys.value);
  }
  return plan;
}

/// Lets the HTTP server hold as many connections as the hard limit allows.
void raise_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

/// Runs the node's processing lanes, each as its Kafka consumer actor, until `stop`;
/// the first lane that fails calls `failed` (which must make `stop` true: the others
/// stop too) and its error is returned.
caf::error run_lanes(caf::actor_system& sys, const processor_config& pc,
                     const std::atomic<bool>& stop, const std::function<void()>& failed,
                     const std::vector<std::unique_ptr<processor_stats>>& stats) {
  std::atomic<bool> lanes_stop{false};
  std::atomic<size_t> running{pc.lanes};
  std::atomic<int> first_failed{-1};
  std::vector<caf::error> errors(pc.lanes);
  std::vector<caf::actor> lanes;
  for (size_t i = 0; i < pc.lanes; ++i) {
    auto cfg = pc;
    cfg.lane = i;
    lanes.push_back(spawn_processor(sys, cfg, lanes_stop, *stats[i], [&, i](caf::error err) {
      errors[i] = std::move(err);
      int none = -1;
      if (errors[i] && first_failed.compare_exchange_strong(none, static_cast<int>(i))) {
        if (pc.lanes > 1)
          spdlog::error("lane {} of {} failed ({}): stopping the node", i, pc.lanes,
                        describe(errors[i]));
        lanes_stop = true;
        failed();
      }
      --running;
    }));
  }
  // The stop flag is the node's; the lanes watch one of their own, so that a failed
  // lane stops the others at once.
  while (running > 0) {
    if (stop)
      lanes_stop = true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  // Their last act was to report; wait until they are gone (they use lanes_stop).
  caf::scoped_actor {
    sys
    } -> wait_for(lanes);
  if (auto i = first_failed.load(); i >= 0)
    return std::move(errors[static_cast<size_t>(i)]);
  return {};
}

std::string node_metrics(const processor_stats& s, const gateway::stats& g, const http::server& srv,
                         const http::event_hub& hub, const std::string& node_id) {
  auto by_outcome
    = [](std::string_view name, std::string_view help, uint64_t successful, uint64_t failed) {
        return fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0}{{outcome=\"SUCCESSFUL\"}} {2}\n"
                           "{0}{{outcome=\"FAILED\"}} {3}\n",
                           name, help, successful, failed);
      };
  // Which build answers, as Prometheus' *_build_info convention has it: a gauge of
  // 1 whose labels say what runs (node ids hold only letters, digits, '-', '_', '.').
  static const std::string allocator = allocator_in_use();
  std::string out = fmt::format(
    "# HELP bps_build_info The bps build this node runs: version, git commit, node id, "
    "libraries.\n"
    "# TYPE bps_build_info gauge\n"
    "bps_build_info{{version=\"{}\",commit=\"{}\",node=\"{}\",librdkafka=\"{}\","
    "allocator=\"{}\"}} 1\n",
    BPS_VERSION, BPS_COMMIT, node_id, RdKafka::version_str(), allocator);
  out += http::process_metrics();
  out += by_outcome("bps_purchases_decided_total",
                    "Purchases this node decided, by outcome (an aborted "
                    "transaction's are decided again).",
                    s.purchases_successful, s.purchases_failed);
  {
    auto rejected = s.commands_rejected.load();
    auto decided = std::max(s.commands_decided.load(), rejected);
    out += fmt::format("# HELP bps_commands_decided_total Item commands this node decided, by "
                       "outcome.\n# TYPE bps_commands_decided_total counter\n"
                       "bps_commands_decided_total{{outcome=\"APPLIED\"}} {}\n"
                       "bps_commands_decided_total{{outcome=\"REJECTED\"}} {}\n",
                       decided - rejected, rejected);
  }
  out += fmt::format("# HELP bps_gateway_view_records_total Records the gateway's view took in, "
                     "by kind (purchases and commands: each request once from its request "
                     "topic, each outcome once).\n# TYPE bps_gateway_view_records_total counter\n"
                     "bps_gateway_view_records_total{{kind=\"items\"}} {}\n"
                     "bps_gateway_view_records_total{{kind=\"purchases\"}} {}\n"
                     "bps_gateway_view_records_total{{kind=\"commands\"}} {}\n"
                     "bps_gateway_view_records_total{{kind=\"claims\"}} {}\n",
                     g.view_items.load(), g.view_purchases.load(), g.view_commands.load(),
                     g.view_claims.load());
  out += by_outcome("bps_purchases_committed_total",
                    "Committed purchase outcomes seen by this node's view (all nodes), by outcome.",
                    g.purchases_successful, g.purchases_failed);
  struct metric {
    const char* name;
    const char* kind;
    const char* help;
    double value;
  };
  auto d = [](auto x) { return static_cast<double>(x); };
  const metric plain[] = {
    {"bps_transaction_commits_total", "counter", "Kafka transactions committed.",
     d(s.commits.load())},
    {"bps_transaction_aborts_total", "counter", "Kafka transactions aborted.", d(s.aborts.load())},
    {"bps_item_actor_late_replies_total", "counter",
     "Answers of item actors dropped because their decisions were forgotten first (an abort).",
     d(s.late_replies.load())},
    {"bps_dead_letters_total", "counter", "Records sent to dead letters.",
     d(s.dead_letters.load())},
    {"bps_consumer_lag_records", "gauge", "Requests not yet read in this node's partitions.",
     d(s.consumer_lag.load())},
    {"bps_live_item_actors", "gauge", "Item actors alive now.", d(s.live_actors.load())},
    {"bps_assigned_partitions", "gauge", "Partitions this node owns.",
     d(s.assigned_partitions.load())},
    {"bps_gateway_writes_total", "counter", "Requests the gateway wrote to Kafka.",
     d(g.writes.load())},
    {"bps_gateway_write_failures_total", "counter", "Gateway writes Kafka did not take.",
     d(g.write_failures.load())},
    {"bps_gateway_waiting", "gauge", "Clients waiting for an outcome.", d(g.waiting.load())},
    {"bps_gateway_claims_written_total", "counter",
     "Claims of Idempotency-Keys this gateway wrote.", d(g.claims_written.load())},
    {"bps_gateway_claim_conflicts_total", "counter",
     "Keyed requests refused (422) because their key was used first for another request.",
     d(g.claim_conflicts.load())},
    {"bps_gateway_shed_total", "counter",
     "Writes refused (503 overloaded) because their partition's decisions lag.", d(g.shed.load())},
    {"bps_gateway_undecided", "gauge", "Requests this gateway wrote that are not decided yet.",
     d(g.undecided.load())},
    {"bps_gateway_pruned_total", "counter",
     "Purchases and commands dropped from the view's store (older than the window, no key).",
     d(g.pruned.load())},
    {"bps_gateway_store_failed", "gauge", "1 once the view's store failed (restart the node).",
     d(g.store_failed.load() ? 1 : 0)},
    {"bps_gateway_queue_delay_ms", "gauge",
     "How long the last heartbeat waited in the gateway's queue.", d(g.queue_delay_ms.load())},
    {"bps_gateway_store_memory_bytes", "gauge",
     "What the view's RocksDB store holds in memory (memtables, cache, table readers).",
     d(g.store_memory_bytes.load())},
    {"bps_gateway_view_items", "gauge", "Items in the committed view.", d(g.items.load())},
    {"bps_http_in_flight", "gauge", "HTTP requests being handled.", d(srv.in_flight())},
    {"bps_http_connections", "gauge", "Open HTTP connections.", d(srv.connections())},
    {"bps_http_event_streams", "gauge", "GET /events streams open.", d(srv.streams())},
    {"bps_http_events_sent_total", "counter", "Events sent to GET /events streams.", d(hub.sent())},
  };
  for (const auto& m : plain)
    out += http::metric_line(m.name, m.kind, m.help, m.value);
  out += "# HELP bps_partition_lag_records Records not yet read, per partition this node "
         "owns (from what its fetches saw).\n# TYPE bps_partition_lag_records gauge\n";
  for (const auto& l : s.lags())
    out += fmt::format("bps_partition_lag_records{{topic=\"{}\",partition=\"{}\"}} {}\n", l.topic,
                       l.partition, l.records);
  out += http::histogram_header("bps_transaction_commit_seconds",
                                "How long committing a transaction took "
                                "(send_offsets_to_transaction and commit_transaction).");
  out += http::histogram_series("bps_transaction_commit_seconds", "", s.commit_seconds.read());
  out += http::histogram_header("bps_decision_seconds",
                                "Per request decided: from its Kafka record's timestamp to the "
                                "commit of its outcome.");
  out += http::histogram_series("bps_decision_seconds", "", s.decision_seconds.read());
  return out;
}

} // namespace

int run_node(const kafka_options& k, const node_options& n) {
  if (auto err = kafka::validate_topic_prefix(k.topic_prefix))
    return fail("option --topic-prefix: " + describe(err), exit_usage);
  auto node_id = n.node_id.empty() ? host_name() : n.node_id;
  for (char c : node_id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return fail("option --node-id: \"" + node_id
                    + "\" may hold only letters, digits, '-', '_' and '.'",
                  exit_usage);

  if (!n.state_dir.empty()) {
    // Fail now, not on the first assignment: an unusable state directory would
    // otherwise make the node retry rehydration forever.
    std::error_code ec_fs;
    std::filesystem::create_directories(n.state_dir, ec_fs);
    auto probe = std::filesystem::path{n.state_dir} / ".bps-write-test";
    if (!ec_fs) {
      std::ofstream out{probe};
      if (!(out << "ok"))
        ec_fs = std::make_error_code(std::errc::permission_denied);
    }
    std::error_code ignored;
    std::filesystem::remove(probe, ignored);
    if (!std::filesystem::is_directory(n.state_dir) || ec_fs)
      return fail("option --state-dir: \"" + n.state_dir
                    + "\" cannot be created or written; give a writable directory",
                  exit_usage);
  }

  auto http_settings = plan_http(n);
  if (!http_settings)
    return fail(describe(http_settings.error()), exit_usage);

  // From here on SIGINT/SIGTERM start the stop (node_stop.hpp), whose watchdog
  // bounds it. Declared before everything it may have to outlive.
  auto drain = std::chrono::milliseconds{http_settings->enabled ? n.http_drain_ms : 0};
  auto deadline = std::chrono::milliseconds{
    n.stop_timeout_ms > 0 ? n.stop_timeout_ms : drain.count() + n.transaction_timeout_ms + 5000};
  node_stop stopper{node_id, drain, deadline};
  stopper.step("the start (topics, gateway)");

  // The topics must exist and fit before the node joins the group.
  auto admin = kafka::admin::make(k.bootstrap, k.extra);
  if (!admin)
    return fail(describe(admin.error()), exit_usage);
  auto ensured = kafka::ensure_topics(**admin, kafka::bps_topic_specs(k.topic_prefix, n.partitions),
                                      std::chrono::milliseconds{k.timeout_ms});
  if (!ensured)
    return fail(kafka_failure(ensured.error(), k), exit_failed);
  if (auto note = kafka::upgrade_note(kafka::topic_names::with_prefix(k.topic_prefix), *ensured);
      !note.empty())
    spdlog::warn("node {}: {}", node_id, note);
  admin->reset();

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::bps>();
  gateway::gateway::add_message_types(cfg);
  // The sharing scheduler does not burn CPU when idle (PLATFORM-NOTES); a bounded
  // throughput keeps one busy item actor from holding a worker thread.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-throughput", size_t{64});
  // The processor thread and librdkafka's threads need a core too: by default the
  // item actors get the others (measured on 2 cores: 1 worker decides ~20% more
  // purchases per second than 2).
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  auto workers = n.worker_threads > 0 ? static_cast<size_t>(n.worker_threads)
                                      : static_cast<size_t>(std::max(1u, cores - 1));
  cfg.set("scheduler.max-threads", workers);
  caf::actor_system sys{cfg};

  processor_config pc;
  pc.bootstrap = k.bootstrap;
  pc.extra = k.extra;
  pc.topic_prefix = k.topic_prefix;
  pc.node_id = node_id;
  pc.commit_interval = std::chrono::milliseconds{n.commit_interval_ms};
  pc.max_in_flight = static_cast<size_t>(n.max_in_flight);
  pc.transaction_timeout = std::chrono::milliseconds{n.transaction_timeout_ms};
  pc.chaos_abort_every = n.chaos_abort_every;
  pc.state_dir = n.state_dir;
  pc.idle_timeout = std::chrono::milliseconds{n.idle_timeout_ms};
  pc.lanes = static_cast<size_t>(n.lanes);
  // The bound on live item actors is the node's: each lane gets its share.
  pc.max_live_items = std::max<size_t>(1, static_cast<size_t>(n.max_live_items) / pc.lanes);
  pc.chaos_crash_after_commit = n.chaos_crash_after_commit;
  for (const auto& spec : n.faults)
    if (auto why = add_fault(pc.faults, spec))
      return fail("option --fault: " + *why, exit_usage);
  if (pc.faults.any())
    spdlog::warn("node {}: --fault {}: injecting faults on purpose (testing only)", node_id,
                 to_string(pc.faults));
  if (n.chaos_abort_every > 0)
    spdlog::warn("node {}: --chaos-abort-every {}: aborting transactions on purpose (testing only)",
                 node_id, n.chaos_abort_every);
  spdlog::info("node {} starting: Kafka {}, topic prefix {}, {} processing lane(s), {} actor "
               "worker thread(s), {}",
               node_id, k.bootstrap, k.topic_prefix, pc.lanes, workers, allocator_in_use());
  // One set of counters per lane (each written by its lane only); the node's figures
  // are their sum.
  std::vector<std::unique_ptr<processor_stats>> lane_stats;
  for (size_t i = 0; i < pc.lanes; ++i)
    lane_stats.push_back(std::make_unique<processor_stats>());
  auto node_stats = [&lane_stats] {
    auto total = std::make_unique<processor_stats>();
    for (const auto& s : lane_stats)
      total->add(*s);
    return total;
  };

  // The HTTP gateway: its own producer and committed view, then the server. They
  // are freed in the opposite order of their use: the gateway's actor calls into
  // the service, which answers through the server; each goes only once nothing
  // can call it (node_stop's HTTP stop ends the server and awaits the actor).
  http::event_hub hub; // GET /events: outlives the gateway that publishes to it
  std::unique_ptr<gateway::gateway> gw;
  std::unique_ptr<http::service> api;
  std::unique_ptr<http::server> web;
  std::atomic<http::server*> web_ptr{nullptr}; // for /metrics, cleared before the server stops
  if (http_settings->enabled) {
    raise_file_limit();
    gateway::config gc;
    gc.bootstrap = k.bootstrap;
    gc.extra = k.extra;
    gc.topic_prefix = k.topic_prefix;
    gc.node_id = node_id;
    gc.state_dir = n.state_dir;
    gc.max_decision_lag = std::chrono::milliseconds{n.http_max_decision_lag_ms};
    gc.max_queue_delay = std::chrono::milliseconds{n.http_max_queue_delay_ms};
    gc.remember = std::chrono::milliseconds{n.http_idempotency_window_ms};
    gc.write_timeout = std::chrono::milliseconds{k.timeout_ms};
    gc.on_outcome = [&hub](const gateway::outcome_event& e) { hub.publish(e); };
    auto started = gateway::gateway::start(sys, gc);
    if (!started)
      return fail("HTTP gateway: " + describe(started.error()), exit_failed);
    gw = std::move(*started);
    auto* g = gw.get();
    auto ready = [node_stats, g] {
      const auto& gs = g->counters();
      auto stats = node_stats();
      http::readiness r;
      r.ready = gs.kafka_reachable && gs.view_ready && !gs.store_failed
                && stats->assigned_partitions > 0 && !stats->rehydrating;
      r.checks_json
        = fmt::format(R"({{"kafka":{},"view":{},"viewStore":{},"partitions":{},"rehydrating":{}}})",
                      gs.kafka_reachable.load(), gs.view_ready.load(), !gs.store_failed.load(),
                      stats->assigned_partitions.load(), stats->rehydrating.load());
      return r;
    };
    auto service_cfg = http_settings->service;
    service_cfg.events = &hub;
    api = std::make_unique<http::service>(
      *gw, service_cfg, ready, [node_stats, g, &web_ptr, &hub, node_id] {
        auto* srv = web_ptr.load();
        return srv ? node_metrics(*node_stats(), g->counters(), *srv, hub, node_id) : std::string{};
      });
    auto* svc = api.get();
    auto server = http::server::start(
      http_settings->server,
      [svc](http::request&& req, http::responder reply) {
        svc->handle(std::move(req), std::move(reply));
      },
      [svc](int status, std::string_view why) { svc->count_refusal(status, why); });
    if (!server)
      return fail(describe(server.error()), exit_usage);
    web = std::move(*server);
    web_ptr = web.get();
    spdlog::info("node {}: HTTP on http://{}:{}/ ({} I/O threads), auth {}", node_id,
                 http_settings->server.address, web->port(), http_settings->server.io_threads,
                 http_settings->service.auth
                   ? fmt::format("on ({} API keys)", http_settings->service.keys.size())
                   : std::string{"OFF: anyone who can connect may change items"});
  }

  if (web) {
    auto* server = web.get();
    auto* g = gw.get();
    stopper.attach_http({
      [server, g, drain] {
        server->drain();
        g->drain(drain);
      },
      [server] { return server->in_flight() == 0; },
      [server, g, &web_ptr] {
        // What is still in flight gets 503 and every connection closes; then the
        // gateway's actor answers whoever is left, quits and is awaited, and its
        // Kafka clients close. Bounded: 2 s, then 5 s.
        server->stop(std::chrono::seconds{2});
        web_ptr = nullptr;
        return g->stop(std::chrono::seconds{5});
      },
    });
  }

  stopper.step("the processor (deciding, or committing and leaving the group)");
  auto err = run_lanes(
    sys, pc, stopper.processor_stop(), [&stopper] { stopper.processor_failed(); }, lane_stats);
  if (!stopper.processor_returned())
    stopper.force("the gateway did not stop (see above)");
  stopper.step("freeing the HTTP server, gateway and service");
  web.reset();
  gw.reset();
  api.reset();
  if (err)
    return fail(describe(err), exit_failed);
  stopper.step("the actor system's shutdown (waiting for every actor)");
  spdlog::info("node {} stopped cleanly", node_id);
  return exit_ok;
}

} // namespace bps::cli
