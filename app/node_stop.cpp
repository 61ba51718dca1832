#include "node_stop.hpp"

#include <cstdio>
#include <ctime>
#include <pthread.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"

namespace bps::cli {

namespace {

using clock_type = std::chrono::steady_clock;

/// After the drain's bound, this long for the last answers to leave.
constexpr std::chrono::milliseconds drain_grace{1000};

const char* signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

} // namespace

node_stop::node_stop(std::string node_id, milliseconds drain, milliseconds deadline)
  : node_id_(std::move(node_id)), drain_(drain), deadline_(deadline) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  // Every thread started from here on inherits the mask (librdkafka blocks all
  // signals in its own threads anyway): only the supervisor takes them.
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  supervisor_ = std::thread{[this] { supervise(); }};
}

node_stop::~node_stop() {
  finished_ = true;
  if (supervisor_.joinable())
    supervisor_.join();
  if (http_stopper_.joinable())
    http_stopper_.join();
}

void node_stop::attach_http(http_hooks hooks) {
  std::lock_guard<std::mutex> lock{mutex_};
  hooks_ = std::move(hooks);
  if (!begun_)
    return;
  // A signal came while the node was starting: catch up.
  if (hooks_.drain)
    hooks_.drain();
  if (drain_over_)
    start_http_stop();
}

long long node_stop::since_begin_ms() const {
  return std::chrono::duration_cast<milliseconds>(clock_type::now() - began_at_).count();
}

void node_stop::supervise() {
  bool signalled = false;
  while (!finished_) {
    // 20 ms: how soon the end of the drain and the deadline are seen.
    timespec tick{0, 20'000'000};
    siginfo_t info{};
    int sig = sigtimedwait(&signals_, &info, &tick);
    std::unique_lock<std::mutex> lock{mutex_};
    if (sig > 0) {
      if (signalled)
        force(fmt::format("a second {}", signal_name(sig)));
      signalled = true;
      if (!begun_)
        begin(signal_name(sig));
      else
        spdlog::warn("node {}: {} while stopping; a second one forces the exit", node_id_,
                     signal_name(sig));
    }
    if (!begun_)
      continue;
    if (!drain_over_) {
      if (!hooks_.drained || hooks_.drained())
        end_drain("nothing in flight");
      else if (clock_type::now() >= began_at_ + drain_ + drain_grace)
        end_drain("its bound passed");
    }
    if (clock_type::now() >= began_at_ + deadline_)
      force(fmt::format("the stop took longer than {} ms (--stop-timeout-ms)", deadline_.count()));
  }
}

void node_stop::begin(const char* why) {
  begun_ = true;
  began_at_ = clock_type::now();
  if (hooks_.drain) {
    // Logged once the drain has begun (the listening socket is closed by then).
    http_step_ = "the HTTP drain (clients waiting for their answers)";
    hooks_.drain();
    spdlog::info("node {}: {}: stopping: draining HTTP for up to {} ms while the processor goes "
                 "on, then the processor; a forced exit (code {}) after {} ms or on a second "
                 "signal",
                 node_id_, why, drain_.count(), exit_forced, deadline_.count());
  } else {
    spdlog::info("node {}: {}: stopping the processor; a forced exit (code {}) after {} ms or on "
                 "a second signal",
                 node_id_, why, exit_forced, deadline_.count());
  }
}

void node_stop::end_drain(const char* why) {
  drain_over_ = true;
  if (hooks_.drain)
    spdlog::info("node {}: HTTP drained in {} ms ({}); stopping the processor", node_id_,
                 since_begin_ms(), why);
  start_http_stop();
  processor_stop_ = true;
}

void node_stop::start_http_stop() {
  if (!hooks_.stop || http_stopper_.joinable())
    return;
  http_step_ = "the HTTP server and the gateway (answering, closing, Kafka clients)";
  http_stopper_ = std::thread{[this, stop = hooks_.stop] {
    http_clean_ = stop();
    http_step_ = nullptr;
  }};
}

void node_stop::processor_failed() {
  std::lock_guard<std::mutex> lock{mutex_};
  if (!begun_)
    begin("a processing lane failed");
  if (!drain_over_)
    end_drain("a processing lane failed");
}

bool node_stop::processor_returned() {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    if (!begun_) // the processor ended by itself: the watchdog covers the rest too
      begin("the processor ended");
    if (!drain_over_)
      end_drain("the processor ended");
  }
  step("waiting for the HTTP server and the gateway to stop");
  if (http_stopper_.joinable())
    http_stopper_.join();
  return http_clean_;
}

void node_stop::force(const std::string& why) {
  const char* http = http_step_.load();
  spdlog::error("node {}: {}: exiting now with code {} without finishing the stop; still running "
                "{} ms after it began: {}{}{}",
                node_id_, why, exit_forced, since_begin_ms(), step_.load(),
                http != nullptr ? ", and " : "", http != nullptr ? http : "");
  spdlog::default_logger()->flush();
  std::fflush(stderr);
  // No destructor, no atexit handler: one of them may be what hangs.
  ::_exit(exit_forced);
}

} // namespace bps::cli
