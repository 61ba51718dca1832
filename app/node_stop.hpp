#pragma once

// How `bps node` stops. SIGINT and SIGTERM are blocked in every thread and taken
// by one supervisor thread (sigtimedwait), which runs the stop in order:
//
//   1. first signal: the HTTP drain begins (no new connections, 503 on open ones,
//      waiting clients answered by the drain's bound) while the processor goes on
//      deciding, so that what clients wait for can still be committed;
//   2. drain over (nothing in flight, or its bound passed): the HTTP side stops
//      on a thread of its own, and the processor's stop flag is set;
//   3. the main thread returns from the processor and tears down the rest.
//
// The supervisor is also the watchdog: if the node has not finished within its
// deadline after the stop began, or a second signal comes, it logs what is still
// running and ends the process at once with exit_forced (no destructor runs: one
// of them may be what hangs).

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace bps::cli {

class node_stop {
public:
  using milliseconds = std::chrono::milliseconds;

  /// What the supervisor does to the HTTP side (all of it optional).
  struct http_hooks {
    /// Begins the drain; must not block.
    std::function<void()> drain;
    /// True once no request is in flight.
    std::function<bool()> drained;
    /// Stops the HTTP server and the gateway (bounded); false if something is
    /// still running. Runs on a thread of its own.
    std::function<bool()> stop;
  };

  /// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread it
  /// starts from now on) and starts the supervisor. `drain` bounds step 1,
  /// `deadline` the whole stop, from the first signal.
  node_stop(std::string node_id, milliseconds drain, milliseconds deadline);
  /// Ends the supervisor (the node finished: the watchdog stands down).
  ~node_stop();
  node_stop(const node_stop&) = delete;
  node_stop& operator=(const node_stop&) = delete;

  /// Hands the HTTP side to the supervisor once it serves.
  void attach_http(http_hooks hooks);

  /// The flag for run_processor: set once the drain is over.
  const std::atomic<bool>& processor_stop() const noexcept {
    return processor_stop_;
  }

  /// Called when the processor returned: starts the stop if no signal did (the
  /// processor ended by itself), waits for the HTTP side to be stopped (stopping
  /// it here if no drain ran) and returns whether it stopped cleanly.
  bool processor_returned();

  /// Called when one processing lane failed while the others may still run: the stop
  /// begins at once, as when the processor returns by itself (no HTTP drain: the node
  /// cannot decide everything any more), so that the other lanes stop too and the
  /// watchdog bounds it.
  void processor_failed();

  /// What the main thread does now, for the watchdog's message.
  void step(const char* what) {
    step_ = what;
  }

  /// Logs `why` and what is still running, and ends the process with exit_forced
  /// at once (no destructor runs).
  [[noreturn]] void force(const std::string& why);

private:
  void supervise();
  void begin(const char* why);
  void end_drain(const char* why);
  void start_http_stop();
  long long since_begin_ms() const;

  std::string node_id_;
  milliseconds drain_;
  milliseconds deadline_;
  sigset_t signals_{};

  std::mutex mutex_; // guards hooks_ and the phases below
  http_hooks hooks_;
  bool begun_ = false;
  bool drain_over_ = false;
  std::chrono::steady_clock::time_point began_at_;

  std::atomic<bool> processor_stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<const char*> step_{"starting"};
  /// What the HTTP side is doing while the node stops; null when done (or none).
  std::atomic<const char*> http_step_{nullptr};
  std::atomic<bool> http_clean_{true};
  std::thread http_stopper_;
  std::thread supervisor_;
};

} // namespace bps::cli
