-- This file implements the wrk script of bench/serve_load.sh: calls of a
-- healthy skill and, for a share of them, of a stuck one, with each
-- call's latency kept by kind, so that the healthy calls' percentiles are
-- not mixed with the stuck ones' (wrk's own histogram mixes them).
--
--   wrk -t N -c N -s load.lua URL -- TOKEN TOTAL STUCK_EVERY HEALTHY STUCK N DONE_FILE
--
-- TOKEN: the bearer token; TOTAL: calls in all, shared among the threads
-- (each stops at its share: wrk's -d bounds the time as well);
-- STUCK_EVERY: 0 for none, else every STUCK_EVERY-th call of a thread goes
-- to skill STUCK (10 = 10%); HEALTHY, STUCK: skill names; N: the threads.
--
-- wrk's main thread sleeps for all of -d whatever the threads do, so a
-- thread that has made its share appends a line to DONE_FILE (the 7th
-- argument); the driver sends wrk SIGINT once every thread has, which
-- ends the run. Throughput is taken from the threads' own first request
-- and last response, not from wrk's duration.
--
-- One connection per thread (-t equal to -c): a thread then has one call
-- in flight at a time, so request() and response() alternate and the time
-- between them is that call's latency (client side, as wrk measures it).
-- done() prints "key value" lines: calls, non2xx, by kind (h_, s_) the
-- count and p50/p99/max in microseconds, and the statuses seen.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } cis_timespec;
  int clock_gettime(int clk, cis_timespec *ts);
]]
local ts = ffi.new("cis_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local threads = {}
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("id", nthreads - 1)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  local total = tonumber(args[2])
  stuck_every = tonumber(args[3])
  local healthy, stuck = args[4], args[5]
  -- This thread's share of TOTAL (init does not know how many threads
  -- there are: the script is told).
  local n = tonumber(args[6])
  done_file = args[7]
  limit = math.floor(total / n) + ((id < total % n) and 1 or 0)
  local hdr = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  req_h = wrk.format("POST", "/v1/skills/" .. healthy .. "/invoke", hdr, '{"text":"hello"}')
  req_s = wrk.format("POST", "/v1/skills/" .. stuck .. "/invoke", hdr, '{}')
  sent, done_n, non2xx = 0, 0, 0
  lat_h, lat_s, statuses = {}, {}, {}
  kind, t0 = nil, 0
  first, last = 0, 0
end

function request()
  sent = sent + 1
  -- Offset by the thread's id, so the stuck calls of the threads do not
  -- all start at once.
  if stuck_every > 0 and (sent + id) % stuck_every == 0 then
    kind = "s"
  else
    kind = "h"
  end
  t0 = now_us()
  if first == 0 then first = t0 end
  if kind == "s" then return req_s end
  return req_h
end

function response(status, headers, body)
  last = now_us()
  local dt = last - t0
  done_n = done_n + 1
  if kind == "s" then
    lat_s[#lat_s + 1] = dt
    -- A stuck call is meant to end by its deadline: 422 CIS_ETIMEOUT.
    if status ~= 422 then non2xx = non2xx + 1 end
  else
    lat_h[#lat_h + 1] = dt
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
  end
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
  if done_n == limit then
    local f = io.open(done_file, "a")
    if f then
      f:write(id, "\n")
      f:close()
    end
    wrk.thread:stop()
  end
end

local function pct(v, p)
  if #v == 0 then return 0 end
  table.sort(v)
  local i = math.ceil(#v * p / 100)
  if i < 1 then i = 1 end
  return v[i]
end

function done(summary, latency, requests)
  local all_h, all_s, calls, bad, st = {}, {}, 0, 0, {}
  local t_first, t_last = nil, 0
  for _, t in ipairs(threads) do
    local f, l = t:get("first") or 0, t:get("last") or 0
    if f > 0 and (t_first == nil or f < t_first) then t_first = f end
    if l > t_last then t_last = l end
    for _, x in ipairs(t:get("lat_h") or {}) do all_h[#all_h + 1] = x end
    for _, x in ipairs(t:get("lat_s") or {}) do all_s[#all_s + 1] = x end
    calls = calls + (t:get("done_n") or 0)
    bad = bad + (t:get("non2xx") or 0)
    for k, n in pairs(t:get("statuses") or {}) do st[k] = (st[k] or 0) + n end
  end
  local e = summary.errors
  io.write(string.format("calls %d\nnon2xx %d\nsocket_errors %d\n", calls, bad,
    e.connect + e.read + e.write + e.timeout))
  local span = (t_first and t_last > t_first) and (t_last - t_first) or summary.duration
  io.write(string.format("duration_us %d\nthroughput %.1f\n", span, calls / (span / 1e6)))
  io.write(string.format("h_calls %d\nh_p50_us %.0f\nh_p99_us %.0f\nh_max_us %.0f\n", #all_h,
    pct(all_h, 50), pct(all_h, 99), pct(all_h, 100)))
  io.write(string.format("s_calls %d\ns_p50_us %.0f\ns_p99_us %.0f\ns_max_us %.0f\n", #all_s,
    pct(all_s, 50), pct(all_s, 99), pct(all_s, 100)))
  local keys = {}
  for k in pairs(st) do keys[#keys + 1] = k end
  table.sort(keys)
  local s = {}
  for _, k in ipairs(keys) do s[#s + 1] = k .. ":" .. st[k] end
  io.write("statuses " .. (#s > 0 and table.concat(s, ",") or "none") .. "\n")
end
