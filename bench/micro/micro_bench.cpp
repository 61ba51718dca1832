// Microbenchmarks of the decision path (Google Benchmark): the pure decision, the
// whole per-record pure work (decode, decide, encode), and one item actor answering
// requests sent in bulk the way the processor sends them.
//
//   build/bench/micro/bps-micro-bench                      full run
//   build/bench/micro/bps-micro-bench --benchmark_min_time=0.01   smoke (CTest)

#include <optional>

#include <benchmark/benchmark.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "bps/actors/codec.hpp"
#include "bps/actors/domain.hpp"
#include "bps/actors/item_actor.hpp"

using namespace bps;

namespace {

constexpr int64_t plenty = 1'000'000'000'000;

void decide_purchase(benchmark::State& state) {
  std::optional<domain::item> item = domain::item{"book-1", "A book", plenty, 1};
  domain::purchase request{"p-1", "book-1", 1, "alice"};
  for (auto _ : state) {
    auto d = domain::decide_purchase(item, request);
    benchmark::DoNotOptimize(d.outcome.status);
    item = std::move(d.state);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(decide_purchase);

void decode_decide_encode(benchmark::State& state) {
  std::optional<domain::item> item = domain::item{"book-1", "A book", plenty, 1};
  auto record = domain::encode(domain::purchase{"p-1", "book-1", 1, "alice"});
  for (auto _ : state) {
    auto request = domain::decode_purchase(record);
    auto d = domain::decide_purchase(item, *request.value);
    auto outcome = domain::encode(d.outcome);
    auto snapshot = domain::encode(*d.state);
    benchmark::DoNotOptimize(outcome.data());
    benchmark::DoNotOptimize(snapshot.data());
    item = std::move(d.state);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(decode_decide_encode);

/// Writing one decided purchase and its item: the hand-written encoders (Arg 1)
/// against nlohmann-json's DOM (Arg 0), which they match byte for byte.
void encode_outcome_and_item(benchmark::State& state) {
  domain::purchase outcome{"p-0b7e3c1a9f", "book-1", 1, "buyer-42"};
  outcome.status = domain::purchase_status::successful;
  outcome.item_version = 17;
  outcome.item_quantity = 982;
  domain::item item{"book-1", "A book about \"things\"", 982, 17};
  bool fast = state.range(0) == 1;
  for (auto _ : state) {
    auto a = fast ? domain::encode(outcome) : domain::reference_encode(outcome);
    auto b = fast ? domain::encode(item) : domain::reference_encode(item);
    benchmark::DoNotOptimize(a.data());
    benchmark::DoNotOptimize(b.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(encode_outcome_and_item)->Arg(0)->Arg(1);

/// Reading one purchase request: the flat reader (Arg 1) against nlohmann-json's DOM
/// (Arg 0), which it matches value for value and error for error.
void decode_request(benchmark::State& state) {
  auto record = domain::encode(domain::purchase{"p-0b7e3c1a9f", "book-1", 1, "buyer-42"});
  bool fast = state.range(0) == 1;
  for (auto _ : state) {
    auto d = fast ? domain::decode_purchase(record) : domain::reference_decode_purchase(record);
    benchmark::DoNotOptimize(d.value->quantity);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(decode_request)->Arg(0)->Arg(1);

struct config : caf::actor_system_config {
  config() {
    add_message_types<caf::id_block::bps>();
    set("scheduler.policy", caf::atom("sharing"));
    set("scheduler.max-throughput", size_t{64});
  }
};

void item_actor_bulk(benchmark::State& state) {
  config cfg;
  caf::actor_system sys{cfg};
  auto batch = state.range(0);
  {
    auto actor = sys.spawn(item_actor_impl,
                           std::optional<domain::item>{domain::item{"book-1", "B", plenty, 1}});
    caf::scoped_actor self{sys};
    domain::purchase request{"p-1", "book-1", 1, "alice"};
    for (auto _ : state) {
      for (int64_t i = 0; i < batch; ++i)
        self->send(actor, atom::purchase_v, request, uint64_t{0});
      for (int64_t i = 0; i < batch; ++i)
        self->receive([](purchase_reply& r) { benchmark::DoNotOptimize(r.outcome.status); });
    }
    state.SetItemsProcessed(state.iterations() * batch);
    self->send_exit(actor, caf::exit_reason::user_shutdown);
  }
}
BENCHMARK(item_actor_bulk)->Arg(1)->Arg(64)->Arg(512)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
