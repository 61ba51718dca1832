// The raw limit: a minimal consume -> transactional produce pipe with no logic, the
// same clients, record sizes and commit interval as a bps node. It copies every
// CREATED purchase of <prefix>purchases to <prefix>raw-out and commits each
// interval with the input offsets, exactly once. What bps does beyond this is the
// cost of deciding.
//
//   bps-raw-pipe BOOTSTRAP PREFIX COMMIT_INTERVAL_MS EXPECTED_RECORDS
//
// Exits when EXPECTED_RECORDS were copied and committed; prints the rate.

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "bps/error.hpp"
#include "bps/kafka/admin.hpp"
#include "bps/kafka/consumer.hpp"
#include "bps/kafka/producer.hpp"

using namespace bps;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: bps-raw-pipe BOOTSTRAP PREFIX COMMIT_INTERVAL_MS EXPECTED_RECORDS\n";
    return 2;
  }
  std::string bootstrap = argv[1];
  std::string prefix = argv[2];
  auto interval = std::chrono::milliseconds{std::stoll(argv[3])};
  auto expected = std::stoull(argv[4]);
  auto in = prefix + "purchases";
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
      // The same partition and size as a bps outcome, no decision.
      if (auto err = p.produce(out, ev->rec.key.value_or(""), ev->rec.value.value_or(""),
                               ev->rec.partition)) {
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
