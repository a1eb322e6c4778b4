-- The noisy tenant's wrk script of bench/serve_tenants.sh -s absent: every
-- request a call of a skill the tenant does not have, a new name each
-- time (POST /v1/skills/absent-N/invoke, N drawn at random), as a client
-- probing for names would send: each is answered 404 once the registry
-- has been asked.
--
--   wrk -s absent.lua BASE_URL -- TOKEN
local headers = {["Content-Type"] = "application/json"}

function init(args)
  headers["Authorization"] = "Bearer " .. args[1]
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  return wrk.format("POST", "/v1/skills/absent-" .. math.random(1, 1000000000) .. "/invoke", headers, '{"x":1}')
end
