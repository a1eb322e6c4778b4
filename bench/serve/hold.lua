-- The holding tenant's wrk script of bench/serve_tenants.sh: each
-- connection keeps one call of the hold skill running (a POST of {}),
-- and each call that ended at its deadline (answered 422) adds a byte to
-- WORK_FILE for the table's rate. One process for all the holders: a
-- curl started per call cost the quiet tenant more than the calls
-- themselves (bench/NOTES.md).
--
--   wrk -c4 -s hold.lua URL -- TOKEN WORK_FILE
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
local work

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  work = args[2]
end

function response(status)
  if status == 422 then
    local f = io.open(work, "a")
    if f then
      f:write("x")
      f:close()
    end
  end
end
