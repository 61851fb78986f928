-- wrk script for the cart benchmarks. Arguments (after `--`):
--   1 method      GET | POST | MIX (every 5th request a POST, the others GET)
--   2 path        /items | /reserve
--   3 names       how many item names requests cycle through (POST bodies: {"name":"P<i>"})
--   4 cartPrefix  X-Cart-Id prefix, or "-" for no header
--   5 carts       how many carts requests cycle through (ignored when rotate > 0)
--   6 rotate      > 0: stay on one cart for this many requests, then move to the next
-- done() prints one line `WRKJSON {...}` with the totals and latency percentiles.
local method, path, names, cartPrefix, carts, rotate
local n = 0

function init(args)
  method = args[1] or "GET"
  path = args[2] or "/items"
  names = tonumber(args[3] or "1")
  cartPrefix = args[4] or "-"
  carts = tonumber(args[5] or "1")
  rotate = tonumber(args[6] or "0")
end

function request()
  local headers = {}
  if cartPrefix ~= "-" then
    local cart
    if rotate > 0 then cart = math.floor(n / rotate) else cart = n % carts end
    headers["X-Cart-Id"] = cartPrefix .. cart
  end
  -- Across carts first, then names: every cart sees every name.
  local perName = 1
  if rotate == 0 then perName = carts end
  local name = "P" .. (math.floor(n / perName) % names)
  n = n + 1
  if method == "GET" or (method == "MIX" and n % 5 ~= 0) then
    return wrk.format("GET", path, headers)
  end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", path, headers, '{"name":"' .. name .. '"}')
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
