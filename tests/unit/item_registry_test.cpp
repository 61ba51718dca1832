#define CAF_SUITE actors.item_registry
#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "bps/actors/item_registry.hpp"

// Which item actors a lane keeps alive and which it passivates: plain handles (ints)
// and given times, no actor system.

using namespace std::chrono_literals;

namespace {

using registry = bps::item_registry<int>;
using clock_type = std::chrono::steady_clock;

const clock_type::time_point t0{};

std::vector<int> sorted(std::vector<int> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

} // namespace

CAF_TEST(an item has one live handle and using it marks it used) {
  registry r;
  CAF_CHECK(r.use("a", t0) == nullptr);
  r.add("a", 0, 1, t0);
  auto* h = r.use("a", t0 + 5s);
  CAF_REQUIRE(h != nullptr);
  CAF_CHECK_EQUAL(*h, 1);
  CAF_CHECK_EQUAL(r.size(), 1u);
  // used at 5 s: not idle for 10 s at 14 s, idle at 16 s
  CAF_CHECK(r.passivate(t0 + 14s, 10s, 100, true).empty());
  CAF_CHECK_EQUAL(r.passivate(t0 + 16s, 10s, 100, true), std::vector<int>{1});
  CAF_CHECK(r.use("a", t0 + 16s) == nullptr);
}

CAF_TEST(idle handles go only when the sweep is asked for) {
  registry r;
  r.add("a", 0, 1, t0);
  r.add("b", 0, 2, t0 + 8s);
  CAF_CHECK(r.passivate(t0 + 60s, 10s, 100, false).empty());
  CAF_CHECK_EQUAL(sorted(r.passivate(t0 + 60s, 10s, 100, true)), (std::vector<int>{1, 2}));
  CAF_CHECK(r.empty());
}

CAF_TEST(beyond the bound the least recently used go down to ninety percent of it) {
  registry r;
  for (int i = 0; i < 25; ++i)
    r.add("item-" + std::to_string(i), 0, i, t0 + std::chrono::seconds{i});
  // At the bound nothing goes; one above it, 20 -> 18 remain (90 % of 20).
  CAF_CHECK(r.passivate(t0 + 30s, 1h, 25, true).empty());
  auto gone = r.passivate(t0 + 30s, 1h, 20, true);
  CAF_CHECK_EQUAL(sorted(gone), (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  CAF_CHECK_EQUAL(r.size(), 18u);
  // A handle used again is young again.
  r.use("item-7", t0 + 40s);
  r.add("new", 0, 100, t0 + 41s);
  r.add("new2", 0, 101, t0 + 42s);
  r.add("new3", 0, 102, t0 + 43s);
  gone = r.passivate(t0 + 44s, 1h, 20, false);
  CAF_CHECK_EQUAL(sorted(gone), (std::vector<int>{8, 9, 10}));
  CAF_CHECK(r.use("item-7", t0 + 44s) != nullptr);
}

CAF_TEST(a bound of one keeps one) {
  registry r;
  r.add("a", 0, 1, t0);
  r.add("b", 0, 2, t0 + 1s);
  CAF_CHECK_EQUAL(r.passivate(t0 + 2s, 1h, 1, false), std::vector<int>{1});
  CAF_CHECK_EQUAL(r.size(), 1u);
}

CAF_TEST(a revoked partition takes its items handles out and leaves the others) {
  registry r;
  r.add("a", 0, 1, t0);
  r.add("b", 1, 2, t0);
  r.add("c", 0, 3, t0);
  CAF_CHECK_EQUAL(sorted(r.remove(0)), (std::vector<int>{1, 3}));
  CAF_CHECK_EQUAL(r.size(), 1u);
  CAF_CHECK(r.use("b", t0) != nullptr);
  CAF_CHECK_EQUAL(r.remove(std::nullopt), std::vector<int>{2});
  CAF_CHECK(r.empty());
}
