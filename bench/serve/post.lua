-- The wrk script of bench/serve_http.sh: every request a POST of
-- {"x":1} as JSON, with the bearer token given after "--" (none for the
-- anchor, which answers whatever it is sent).
--
--   wrk -s post.lua URL -- [TOKEN]
wrk.method = "POST"
wrk.body = '{"x":1}'
wrk.headers["Content-Type"] = "application/json"

function init(args)
  if args[1] and args[1] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[1]
  end
end
