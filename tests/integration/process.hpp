#pragma once

// Starting and stopping bps processes from integration tests.

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bps::it {

/// A child process whose stdout and stderr go to a log file.
class child_process {
public:
  child_process() = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    stop(SIGKILL, std::chrono::seconds{5});
  }

  /// Starts `args[0]` with `args`; returns false if it could not be started or
  /// is still running.
  bool start(const std::vector<std::string>& args, const std::string& log_path) {
    if (pid_ > 0)
      return false; // still running: a second start would leak the first process
    log_ = log_path;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
      pid_ = -1;
    return pid_ > 0;
  }

  bool running() const {
    return pid_ > 0;
  }

  /// Sends `sig` without waiting (SIGSTOP, SIGCONT, a first SIGTERM); false if not running.
  bool signal(int sig) const {
    return pid_ > 0 && ::kill(pid_, sig) == 0;
  }

  /// Sends `sig` and waits up to `timeout` for the exit (then SIGKILL). Returns
  /// the exit code, 128 + signal if killed by one, or -1 if it was not running.
  int stop(int sig, std::chrono::milliseconds timeout) {
    if (pid_ <= 0)
      return -1;
    ::kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_)
        break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    pid_ = -1;
    if (WIFEXITED(status))
      return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }

  /// Waits up to `timeout` for the process to exit by itself; returns like stop(),
  /// or -1 if it is still running.
  int wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0)
      return -1;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return -1;
  }

  /// The log written so far.
  std::string log() const {
    std::ifstream in{log_};
    std::stringstream buf;
    buf << in.rdbuf();
    return buf.str();
  }

private:
  pid_t pid_ = -1;
  std::string log_;
};

} // namespace bps::it
