-- The churning tenant's wrk script of bench/serve_tenants.sh: on one
-- connection, as fast as the server answers, installs a skill (a POST of
-- the bundle in BUNDLE_FILE to /v1/skills) and removes it (DELETE
-- /v1/skills/NAME), in turns. One process for the whole churn: a curl
-- started per request cost the quiet tenant as much as the installs
-- themselves (bench/NOTES.md).
--
--   wrk -c1 -s churn.lua BASE_URL -- TOKEN BUNDLE_FILE NAME
local body, name, n = "", "churn", 0
local headers = {["Content-Type"] = "application/json"}

function init(args)
  headers["Authorization"] = "Bearer " .. args[1]
  local f = assert(io.open(args[2], "rb"))
  body = f:read("*a")
  f:close()
  name = args[3] or name
end

function request()
  n = n + 1
  if n % 2 == 1 then return wrk.format("POST", "/v1/skills", headers, body) end
  return wrk.format("DELETE", "/v1/skills/" .. name, headers, nil)
end
