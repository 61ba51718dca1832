#pragma once

// Support for integration tests: the broker address, unique names per test, and
// reading a partition to its end.

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/consumer.hpp"

namespace bps::it {

using namespace std::chrono_literals;

/// The broker the test command started (BPS_TEST_BOOTSTRAP). A test run without
/// one fails: integration tests never pass by skipping.
inline std::string bootstrap() {
  const char* b = std::getenv("BPS_TEST_BOOTSTRAP");
  if (b == nullptr || *b == '\0') {
    ADD_FAILURE() << "BPS_TEST_BOOTSTRAP is not set: run the tests with deploy/run-tests, "
                     "which starts a Kafka broker";
    return "127.0.0.1:1";
  }
  return b;
}

/// A topic prefix (and group id stem) no other test or run uses.
inline std::string unique_prefix() {
  static int counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return "it." + std::string{info->name()} + "." + std::to_string(now) + "."
         + std::to_string(++counter) + ".";
}

/// Unwraps an expected or fails the test with the error's description.
template <class T>
T must(caf::expected<T> x) {
  if (!x) {
    ADD_FAILURE() << describe(x.error());
    throw std::runtime_error(describe(x.error()));
  }
  return std::move(*x);
}

/// Reads partition `partition` of `topic` from offset 0 to its end (for a
/// read_committed consumer: to the last stable offset) and returns the values.
inline std::vector<std::string> read_partition(const std::string& topic, int32_t partition,
                                               bool read_committed) {
  kafka::consumer_options opts;
  opts.bootstrap = bootstrap();
  opts.group_id = "it.reader." + topic;
  opts.read_committed = read_committed;
  opts.report_partition_eof = true;
  auto c = must(kafka::consumer::make(opts));
  EXPECT_FALSE(c->assign({{topic, partition, 0}}));
  std::vector<std::string> values;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto ev = must(c->poll(500ms));
    if (ev.what == kafka::poll_event::kind::partition_eof)
      return values;
    if (ev.what == kafka::poll_event::kind::message)
      values.push_back(ev.rec.value.value_or("<null>"));
  }
  ADD_FAILURE() << "partition " << topic << "/" << partition << " has no end within 30 s";
  return values;
}

/// The end of a (node's) log, for a failure message.
inline std::string log_tail(const std::string& text) {
  return text.size() > 6000 ? text.substr(text.size() - 6000) : text;
}

struct command_result {
  int exit_code = -1;
  std::string output;
};

/// Runs a shell command, capturing stdout and stderr together.
inline command_result run(const std::string& command) {
  command_result r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
    r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

} // namespace bps::it
