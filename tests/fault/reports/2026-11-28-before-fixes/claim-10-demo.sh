#!/usr/bin/env bash
# Claim 10 on the code before the fix (5f12664), shown once by hand: a node whose
# rehydration runs inside the rebalance callback and lasts longer than its
# max.poll.interval.ms is evicted from its group, again and again.
#
#   OLD=path/to/old/bps NEW=build/app/bps LOADGEN=build/bench/bps-loadgen claim-10-demo.sh
#   NEW=build/app/bps LOADGEN=build/bench/bps-loadgen claim-10-demo.sh     (main only)
#
# The old binary was built from 5f12664 with two demonstration-only lines (not on
# main): BPS_DEMO_CATCH_UP_SLOW_MS makes each rehydration batch write that much slower
# (what --fault catch-up-slow does on main), BPS_DEMO_MAX_POLL_INTERVAL_MS sets the group
# consumer's max.poll.interval.ms (what --kafka-property does on main). The same run on
# main is the fault-suite scenario slow-takeover.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
export BPS_KAFKA_PORT=19795 BPS_KAFKA_DATA=$(mktemp -d /tmp/bps-demo10.XXXXXX)
B=127.0.0.1:$BPS_KAFKA_PORT
"$root/deploy/local/kafka" start >/dev/null
trap '"$root/deploy/local/kafka" stop >/dev/null; rm -rf "$BPS_KAFKA_DATA"' EXIT
"$NEW" topics ensure --bootstrap $B --topic-prefix demo10. --partitions 6 >/dev/null
"$NEW" node --bootstrap $B --topic-prefix demo10. --partitions 6 --node-id a --http off >/tmp/demo10-a.log 2>&1 &
a=$!
"$LOADGEN" --bootstrap $B --topic-prefix demo10. --items 8 --stock 30 --purchases 25000 --rate 0 --restock-every 6 --insert
if [ -n "${OLD:-}" ]; then
  BPS_DEMO_CATCH_UP_SLOW_MS=2500 BPS_DEMO_MAX_POLL_INTERVAL_MS=10000 \
    "$OLD" node --bootstrap $B --topic-prefix demo10. --partitions 6 --node-id b --http off >/tmp/demo10-b.log 2>&1 &
else # the same on main, with its options
  "$NEW" node --bootstrap $B --topic-prefix demo10. --partitions 6 --node-id b --http off \
    --kafka-property max.poll.interval.ms=10000 --fault catch-up-slow=2500 >/tmp/demo10-b.log 2>&1 &
fi
b=$!
sleep 5
kill -TERM $a; wait $a || true
echo "node a stopped; node b (old code) takes over; node c joins while b rehydrates"
# b gets every partition once a's session ends (10 s), then rehydrates for ~16 s.
until grep -q "partitions revoked" /tmp/demo10-b.log; do sleep 0.2; done
sleep 2
if [ -n "${OLD:-}" ]; then
  BPS_DEMO_MAX_POLL_INTERVAL_MS=10000 "$OLD" node --bootstrap $B --topic-prefix demo10. --partitions 6 --node-id c --http off >/tmp/demo10-c.log 2>&1 &
else
  "$NEW" node --bootstrap $B --topic-prefix demo10. --partitions 6 --node-id c --http off --kafka-property max.poll.interval.ms=10000 >/tmp/demo10-c.log 2>&1 &
fi
c=$!
sleep 90
kill -TERM $b $c; wait $b || true; wait $c || true
grep -cE "maximum poll interval" /tmp/demo10-b.log | sed 's/^/times node b exceeded max.poll.interval.ms: /' || true
grep -cE "aborting the transaction" /tmp/demo10-b.log | sed 's/^/transactions node b aborted: /' || true
grep -E "partitions assigned|maximum poll interval|revoked|UNKNOWN_MEMBER|fenced|rebalance" /tmp/demo10-b.log | cut -c1-220 | head -20
echo "--- node c"
grep -E "partitions assigned|revoked" /tmp/demo10-c.log | cut -c1-220 | head -10
