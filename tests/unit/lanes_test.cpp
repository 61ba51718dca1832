#define CAF_SUITE actors.lanes
#include <caf/test/unit_test.hpp>

#include <set>

#include "bps/actors/processor.hpp"

// A node's processing lanes: ids that never collide, store places, summed counters.

using namespace bps;

CAF_TEST(lane zero keeps the ids and store places of a one lane node) {
  CAF_CHECK_EQUAL(processor_member_id("bps.", "n1", 0), "bps.processor.n1");
  CAF_CHECK_EQUAL(processor_store_dir("/var/bps", "bps.", 0, 7), "/var/bps/bps.p7");
  CAF_CHECK_EQUAL(processor_member_id("bps.", "n1", 2), "bps.processor-lane2.n1");
  CAF_CHECK_EQUAL(processor_store_dir("/var/bps", "bps.", 2, 7), "/var/bps/lane-2/bps.p7");
}

CAF_TEST(no node id gives lane zero the id of another node s lane) {
  // Node ids may hold letters, digits, '-', '_' and '.': try the ones that come
  // closest to a lane's id.
  std::set<std::string> ids;
  size_t made = 0;
  for (std::string node :
       {"n1", "lane1.n1", "-lane1.n1", "1.n1", "processor-lane1.n1", "n1.lane1", "lane1", "x"}) {
    for (size_t lane = 0; lane < 4; ++lane) {
      ids.insert(processor_member_id("p.", node, lane));
      ++made;
    }
  }
  CAF_CHECK_EQUAL(ids.size(), made);
}

CAF_TEST(a node s counters are the sum of its lanes) {
  processor_stats a;
  processor_stats b;
  a.purchases_decided = 5;
  b.purchases_decided = 7;
  a.assigned_partitions = 3;
  b.assigned_partitions = 4;
  b.rehydrating = true;
  a.consumer_lag = 10;
  b.consumer_lag = 1;
  a.commit_seconds.observe(0.004);
  b.commit_seconds.observe(0.3);
  b.commit_seconds.observe(0.3);
  a.set_lags({{"t", 0, 10}});
  b.set_lags({{"t", 1, 1}});
  processor_stats total;
  total.add(a);
  total.add(b);
  CAF_CHECK_EQUAL(total.purchases_decided.load(), 12u);
  CAF_CHECK_EQUAL(total.assigned_partitions.load(), 7u);
  CAF_CHECK(total.rehydrating.load());
  CAF_CHECK_EQUAL(total.consumer_lag.load(), 11);
  auto f = total.commit_seconds.read();
  CAF_CHECK_EQUAL(f.count, 3u);
  CAF_CHECK_EQUAL(f.cumulative[2], 1u); // <= 5 ms: lane a's
  CAF_CHECK_EQUAL(f.cumulative[8], 3u); // <= 500 ms: all three
  CAF_CHECK(f.sum > 0.603 && f.sum < 0.605);
  CAF_CHECK_EQUAL(total.lags().size(), 2u);
  // Partition 1 just moved from b to c: counted once, with the larger figure.
  processor_stats c;
  c.set_lags({{"t", 1, 4}, {"t", 2, 3}});
  total.add(c);
  CAF_CHECK_EQUAL(total.lags().size(), 3u);
  CAF_CHECK_EQUAL(total.consumer_lag.load(), 17);
  processor_stats idle;
  idle.add(a);
  CAF_CHECK(!idle.rehydrating.load());
}
