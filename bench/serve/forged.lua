-- The forging client's wrk script of bench/serve_tenants.sh: every
-- request a POST of {"x":1} with a bearer token of the right shape that
-- no one was given ("cis_" ID "_" 64 hex digits, the ID and digits drawn
-- at random), as a client guessing tokens would send: each is refused
-- (401) after the server has looked it up.
--
--   wrk -s forged.lua URL
wrk.method = "POST"
wrk.body = '{"x":1}'
local hex = "0123456789abcdef"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local d = {}
  for i = 1, 64 do
    local k = math.random(16)
    d[i] = hex:sub(k, k)
  end
  local headers = {["Content-Type"] = "application/json",
                   ["Authorization"] = "Bearer cis_" .. math.random(1, 1000000) .. "_" .. table.concat(d)}
  return wrk.format(nil, nil, headers, nil)
end
