// The raw limit: a minimal consume -> transactional produce pipe with no logic, the
// same clients, record sizes and commit interval as a bps node. It reads every
// request of <prefix>purchase-requests and writes, like a node writes into
// <prefix>purchases, two records to the same partition of <prefix>raw-out: the
// request as it was read (CREATED) and a stand-in for its outcome (the same record
// made SUCCESSFUL, with the item fields an outcome carries; no decision). It commits
// each interval with the input offsets, exactly once. What bps does beyond this is
// the cost of deciding.
//
//   bps-raw-pipe BOOTSTRAP PREFIX COMMIT_INTERVAL_MS EXPECTED_RECORDS
//
// Exits when EXPECTED_RECORDS requests were copied and committed; prints the rate.

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <string_view>

#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/producer.hpp"

using namespace bps;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// The outcome's stand-in for a request: `"CREATED"` becomes `"SUCCESSFUL"` and the
/// fields an outcome adds are appended, so that it has an outcome's size and reads as
/// one (bps-loadgen --outcomes raw-out). A record that is not a CREATED purchase is
/// copied as it is.
void outcome_of(std::string_view request, std::string& out) {
  constexpr std::string_view created = "\"CREATED\"";
  out.assign(request);
  auto at = out.find(created);
  if (at == std::string::npos || out.empty() || out.back() != '}')
    return;
  out.replace(at, created.size(), "\"SUCCESSFUL\"");
  out.pop_back();
  out += ",\"itemVersion\":1,\"itemQuantity\":1}";
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: bps-raw-pipe BOOTSTRAP PREFIX COMMIT_INTERVAL_MS EXPECTED_RECORDS\n";
    return 2;
  }
  std::string bootstrap = argv[1];
  std::string prefix = argv[2];
  auto interval = std::chrono::milliseconds{std::stoll(argv[3])};
  auto expected = std::stoull(argv[4]);
  auto in = prefix + "purchase-requests";
  auto out = prefix + "raw-out";

  // The output topic mirrors the input's partitions.
  if (auto admin = kafka::admin::make(bootstrap)) {
    auto d = (*admin)->describe_topic(in, 30s);
    if (!d || !*d) {
      std::cerr << "bps-raw-pipe: topic " << in << " is missing\n";
      return 1;
    }
    (*admin)->create_topic({out, (*d)->partitions, 1, {}}, 30s); // exists: fine
  }
  kafka::consumer_options copts;
  copts.bootstrap = bootstrap;
  copts.group_id = prefix + "raw-pipe";
  auto consumer = kafka::consumer::make(copts);
  auto producer = kafka::producer::make({bootstrap, prefix + "raw-pipe", 10000ms, {}});
  if (!consumer || !producer) {
    std::cerr << "bps-raw-pipe: cannot create the clients\n";
    return 1;
  }
  auto& c = **consumer;
  auto& p = **producer;
  if (auto err = c.subscribe({in}); err || (err = p.init_transactions(30s))) {
    std::cerr << "bps-raw-pipe: " << describe(err) << "\n";
    return 1;
  }
  uint64_t copied = 0;
  std::string outcome;
  bool open = false;
  auto deadline = clock_type::now();
  std::map<kafka::topic_partition, int64_t> offsets;
  clock_type::time_point first;
  auto commit = [&]() -> bool {
    std::vector<kafka::partition_offset> pos;
    for (const auto& [tp, next] : offsets)
      pos.push_back({tp.topic, tp.partition, next});
    if (auto err = p.send_offsets_to_transaction(pos, c, 30s)) {
      std::cerr << "bps-raw-pipe: " << describe(err) << "\n";
      return false;
    }
    if (auto err = p.commit_transaction(30s)) {
      std::cerr << "bps-raw-pipe: " << describe(err) << "\n";
      return false;
    }
    open = false;
    return true;
  };
  while (copied < expected) {
    auto ev = c.poll(open ? 5ms : 100ms);
    if (ev && ev->what == kafka::poll_event::kind::message) {
      if (copied == 0)
        first = clock_type::now();
      if (!open) {
        if (auto err = p.begin_transaction()) {
          std::cerr << "bps-raw-pipe: " << describe(err) << "\n";
          return 1;
        }
        open = true;
        deadline = clock_type::now() + interval;
      }
      // The same partition, records and sizes as a node's CREATED record and its
      // outcome, no decision.
      std::string_view key = ev->rec.key ? *ev->rec.key : std::string_view{};
      std::string_view value = ev->rec.value ? *ev->rec.value : std::string_view{};
      outcome_of(value, outcome);
      for (std::string_view v : {value, std::string_view{outcome}})
        if (auto err = p.produce(out, key, v, ev->rec.partition)) {
          std::cerr << "bps-raw-pipe: " << describe(err) << "\n";
          return 1;
        }
      offsets[{ev->rec.topic, ev->rec.partition}] = ev->rec.offset + 1;
      ++copied;
    }
    if (open && (clock_type::now() >= deadline || copied >= expected))
      if (!commit())
        return 1;
  }
  auto seconds = std::chrono::duration<double>(clock_type::now() - first).count();
  std::printf("raw-pipe: %llu records in %.2f s = %.0f/s\n",
              static_cast<unsigned long long>(copied), seconds, copied / seconds);
  c.close();
  return 0;
}
