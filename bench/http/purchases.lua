-- wrk script: POST /purchases?wait=... over N items, each connection pacing itself
-- to reach about RATE requests/s in all (wrk is closed-loop: a connection waits for
-- its answer, then for the pacing delay, so the rate reached is reported, not assumed).
-- Environment: BPS_ITEMS (items item-0..N-1), BPS_RATE (requests/s), BPS_CONNECTIONS,
-- BPS_WAIT_MS (?wait=), BPS_RESULT (where done() writes its JSON), BPS_ANSWERS (a
-- directory: each thread writes every answer to answers-<thread>.tsv: status,
-- Retry-After, purchaseId, purchaseStatus, itemId, quantity, purchasedBy), BPS_KEYED (the
-- share of requests, 0 to 1, sent with an Idempotency-Key of their own; default 0).
local items = tonumber(os.getenv("BPS_ITEMS") or "1000")
local rate = tonumber(os.getenv("BPS_RATE") or "1000")
local connections = tonumber(os.getenv("BPS_CONNECTIONS") or "100")
local wait_ms = os.getenv("BPS_WAIT_MS") or "5000"
local answers_dir = os.getenv("BPS_ANSWERS")
local keyed = tonumber(os.getenv("BPS_KEYED") or "0")
-- The pause after each answer; default connections/rate seconds. A runner that knows the
-- answer time sets it lower, so that the rate is reached with fewer connections.
local delay_ms = tonumber(os.getenv("BPS_DELAY_MS") or "-1")
local run = os.time()
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  math.randomseed(id * 7919 + 17)
  n = 0
  statuses = {}
  if answers_dir then
    answers = io.open(string.format("%s/answers-%d.tsv", answers_dir, id), "w")
    answers:setvbuf("line")
  end
end

function request()
  n = n + 1
  local item = "item-" .. math.random(0, items - 1)
  local body = string.format('{"itemId":"%s","quantity":1,"purchasedBy":"wrk-%d-%d"}', item, id, n)
  local headers = {["Content-Type"] = "application/json"}
  if keyed > 0 and math.random() < keyed then
    headers["Idempotency-Key"] = string.format("wrk-%d-%d-%d", run, id, n)
  end
  return wrk.format("POST", "/purchases?wait=" .. wait_ms, headers, body)
end

function delay()
  -- Each connection sends one request every connections/rate seconds at most.
  if delay_ms >= 0 then
    return delay_ms
  end
  return math.floor(1000 * connections / rate)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if answers then
    local function field(name)
      return body:match('"' .. name .. '":"?([^",}]*)') or ""
    end
    answers:write(string.format("%d\t%s\t%s\t%s\t%s\t%s\t%s\n", status,
                                headers["Retry-After"] or "", field("purchaseId"),
                                field("purchaseStatus"), field("itemId"), field("quantity"),
                                field("purchasedBy")))
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses") or {}) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local by_status = {}
  for status, count in pairs(counts) do
    table.insert(by_status, string.format('"%s":%d', status, count))
  end
  local f = io.open(os.getenv("BPS_RESULT") or "/dev/stdout", "w")
  local seconds = summary.duration / 1e6
  f:write(string.format(
    '{"requests":%d,"seconds":%.3f,"rate":%.1f,"errors":%d,"non_2xx":%d,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"max_ms":%.3f,"statuses":{%s}}\n',
    summary.requests, seconds, summary.requests / seconds,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, table.concat(by_status, ",")))
  f:close()
end
