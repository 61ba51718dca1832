#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include "bps/actors/messages.hpp"
#include "bps/actors/processor.hpp"
#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/topics.hpp"
#include "commands.hpp"

namespace bps::cli {

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) {
  stop_requested = true;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
    return "node";
  return buf;
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

  // The topics must exist and fit before the node joins the group.
  auto admin = kafka::admin::make(k.bootstrap);
  if (!admin)
    return fail("option --bootstrap: " + describe(admin.error()), exit_usage);
  auto ensured = kafka::ensure_topics(**admin, kafka::bps_topic_specs(k.topic_prefix, n.partitions),
                                      std::chrono::milliseconds{k.timeout_ms});
  if (!ensured)
    return fail(describe(ensured.error()), exit_failed);
  admin->reset();

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::bps>();
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

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  processor_config pc;
  pc.bootstrap = k.bootstrap;
  pc.topic_prefix = k.topic_prefix;
  pc.node_id = node_id;
  pc.commit_interval = std::chrono::milliseconds{n.commit_interval_ms};
  pc.max_in_flight = static_cast<size_t>(n.max_in_flight);
  pc.transaction_timeout = std::chrono::milliseconds{n.transaction_timeout_ms};
  pc.chaos_abort_every = n.chaos_abort_every;
  pc.state_dir = n.state_dir;
  pc.idle_timeout = std::chrono::milliseconds{n.idle_timeout_ms};
  pc.max_live_items = static_cast<size_t>(n.max_live_items);
  pc.chaos_crash_after_commit = n.chaos_crash_after_commit;
  if (n.chaos_abort_every > 0)
    spdlog::warn("node {}: --chaos-abort-every {}: aborting transactions on purpose (testing only)",
                 node_id, n.chaos_abort_every);
  spdlog::info("node {} starting: Kafka {}, topic prefix {}, {} actor worker thread(s)", node_id,
               k.bootstrap, k.topic_prefix, workers);
  processor_stats stats;
  auto err = run_processor(sys, pc, stop_requested, stats);
  if (err)
    return fail(describe(err), exit_failed);
  spdlog::info("node {} stopped cleanly", node_id);
  return exit_ok;
}

} // namespace bps::cli
