-- The quiet tenant's wrk script of bench/serve_tenants.sh: a POST of
-- {"x":1} as JSON, like post.lua, but each connection waits PAUSE_MS
-- before each request, so that the tenant calls at a modest rate of its
-- own (about connections * 1000 / PAUSE_MS calls a second) rather than
-- as fast as the server answers. wrk times a request from its sending,
-- so the pause is not in the latency. With "fresh" each request's input
-- names one of 4,000 keys in turn ({"x":"k-N"}), where the default's
-- names one: a skill that writes keys named by its input (kvpair) then
-- inserts rows, then rewrites them, over a table of some 8,000 keys (two
-- a call), which stays under a namespace's default quota of 10,000 keys
-- however many runs write it.
--
--   wrk -s paced.lua URL -- TOKEN PAUSE_MS [fresh]
wrk.method = "POST"
wrk.body = '{"x":1}'
wrk.headers["Content-Type"] = "application/json"
local pause = 10
local fresh, n = false, 0
local keys = 4000

function init(args)
  if args[1] and args[1] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[1]
  end
  if args[2] then pause = tonumber(args[2]) or pause end
  fresh = args[3] == "fresh"
end

function request()
  if not fresh then return wrk.format() end
  n = n % keys + 1
  return wrk.format(nil, nil, nil, '{"x":"k-' .. n .. '"}')
end

function delay()
  return pause
end
