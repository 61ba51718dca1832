-- wrk script: POST /purchases?wait=... over N items, each connection pacing itself
-- to reach about RATE requests/s in all (wrk is closed-loop: a connection waits for
-- its answer, then for the pacing delay, so the rate reached is reported, not assumed).
-- Environment: BPS_ITEMS (items item-0..N-1), BPS_RATE (requests/s), BPS_CONNECTIONS,
-- BPS_WAIT_MS (?wait=), BPS_RESULT (where done() writes its JSON).
local items = tonumber(os.getenv("BPS_ITEMS") or "1000")
local rate = tonumber(os.getenv("BPS_RATE") or "1000")
local connections = tonumber(os.getenv("BPS_CONNECTIONS") or "100")
local wait_ms = os.getenv("BPS_WAIT_MS") or "5000"
local counter = 0
local statuses = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(id * 7919 + 17)
  n = 0
end

function request()
  n = n + 1
  local item = "item-" .. math.random(0, items - 1)
  local body = string.format('{"itemId":"%s","quantity":1,"purchasedBy":"wrk-%d-%d"}', item, id, n)
  return wrk.format("POST", "/purchases?wait=" .. wait_ms,
                    {["Content-Type"] = "application/json"}, body)
end

function delay()
  -- Each connection sends one request every connections/rate seconds at most.
  return math.floor(1000 * connections / rate)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local f = io.open(os.getenv("BPS_RESULT") or "/dev/stdout", "w")
  local seconds = summary.duration / 1e6
  f:write(string.format(
    '{"requests":%d,"seconds":%.3f,"rate":%.1f,"errors":%d,"non_2xx":%d,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, seconds, summary.requests / seconds,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
  f:close()
end
