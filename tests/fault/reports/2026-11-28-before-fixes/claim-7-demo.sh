#!/usr/bin/env bash
# Claim 7 of issue 10 (use-after-free at shutdown with clients waiting), shown on a build
# of the code before the fix, with AddressSanitizer: the same steps as
# ShutdownIT.ClientsWaitingAtSigtermLeaveNoUseAfterFreeOrLeak, by hand.
#
#   claim-7-demo.sh BPS_EXE [KAFKA_PORT]
#
# BPS_EXE: a bps built with -DBPS_SANITIZE=ON (ASan + UBSan). Starts its own broker
# (deploy/local/kafka of this checkout) on KAFKA_PORT (default 19692) and stops it at the end.
# Prints the node's exit code, how many of the 32 clients got an answer, and the
# sanitizer report of the node, if any.
set -uo pipefail
exe=${1:?usage: claim-7-demo.sh BPS_EXE [KAFKA_PORT]}
port=${2:-19692}
root=$(cd "$(dirname "$0")/../../../.." && pwd)
work=$(mktemp -d)
export BPS_KAFKA_PORT=$port BPS_KAFKA_DATA=$work/kafka
trap '"$root/deploy/local/kafka" stop >/dev/null 2>&1; rm -rf "$work"' EXIT
"$root/deploy/local/kafka" start >/dev/null
bootstrap=127.0.0.1:$port
prefix="claim7.$$."
http_port=$((port + 100))
"$exe" topics ensure --bootstrap "$bootstrap" --topic-prefix "$prefix" --partitions 4 >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 "$exe" node --bootstrap "$bootstrap" \
  --topic-prefix "$prefix" --node-id n1 --partitions 4 --http "127.0.0.1:$http_port" \
  --http-auth off >"$work/node.log" 2>&1 &
node=$!
url=http://127.0.0.1:$http_port
for _ in $(seq 300); do
  curl -fs "$url/readyz" >/dev/null && break
  sleep 0.2
done
# A CREATED whose key is not its itemId: the node sends it to dead letters, so it is
# never decided and a client waiting for it keeps waiting.
echo 'wrong-key|{"schemaVersion":1,"purchaseId":"p-stuck","itemId":"stuck","quantity":1,"purchasedBy":"x","purchaseStatus":"CREATED"}' \
  | kcat -b "$bootstrap" -P -t "${prefix}purchases" -K '|'
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/purchases/p-stuck")" = 200 ] && break
  sleep 0.1
done
curl -s -o /dev/null -X POST "$url/items" -H 'Content-Type: application/json' \
  -d '{"itemId":"asan-1","description":"d","quantity":5}'
for i in $(seq 16); do
  curl -s -o "$work/get-$i" -w '%{http_code}' "$url/purchases/p-stuck?wait=10000" >"$work/code-get-$i" &
  curl -s -o "$work/post-$i" -w '%{http_code}' -X POST "$url/purchases?wait=10000" \
    -H 'Content-Type: application/json' \
    -d '{"itemId":"asan-1","quantity":1,"purchasedBy":"z"}' >"$work/code-post-$i" &
done
sleep 2
kill -TERM "$node"
wait "$node"
code=$?
wait
answered=$(cat "$work"/code-* | grep -vc '^000$')
echo "node exit code $code; $answered of 32 clients answered"
if grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' "$work/node.log"; then
  echo "sanitizer report (its errors, its summary, and the first frames in bps code):"
  grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|^SUMMARY' "$work/node.log" | sort | uniq -c
  grep -oE 'in bps::[A-Za-z_:]+[^ ]* [^ ]*(app|actors|http)/[a-z_/]+\.(cpp|hpp):[0-9]+' "$work/node.log" \
    | sed 's/ .*\// /' | sort | uniq -c | sort -rn | head -12
  cp "$work/node.log" "${BPS_DEMO_KEEP_LOG:-/dev/null}" 2>/dev/null || true
else
  echo "no sanitizer report"
fi
