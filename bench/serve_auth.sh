#!/usr/bin/env bash
# serve_auth.sh -- requests/s of an authenticated small call, two builds A/B.
#
# This file implements the A/B benchmark of the server's token check
# (docs/serve.md, "The token cache's gain"): for each of two `cis`
# programs, alternating ROUNDS times, it makes a fresh CIS_HOME, installs
# echo (tests/serve/echo.wat), makes a token of the default tenant, starts
# `cis serve` on 127.0.0.1 (4 workers, queue and tenant cap 64, so no
# 429), warms up 2 s, then runs wrk (Debian's) for SECONDS: 2 threads,
# 8 keep-alive connections, POST /v1/skills/echo/invoke with {"x":1} and
# the bearer token. It prints one line a run: label, requests/s, non-2xx
# answers, the load average.
#
#   bench/serve_auth.sh CIS_A CIS_B [-r ROUNDS] [-d SECONDS] [-R REGISTRY]
#
#   CIS_A, CIS_B  the two programs (e.g. RelWithDebInfo builds of two
#                 commits), labelled A and B
#   -r ROUNDS     A then B, this many times (default 3)
#   -d SECONDS    each wrk run (default 8)
#   -R REGISTRY   the registry setting (e.g. postgres:CONNSTR; default the
#                 home's SQLite registry.db)
#
# Every wait is bounded: the server's start 30 s, wrk its -d (plus its
# 10 s timeout); the server is killed after its run and on exit.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/serve/lib.sh"
[ $# -ge 2 ] || { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }
A=$1 B=$2
shift 2
rounds=3 secs=8 reg=
while getopts "r:d:R:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    d) secs=$OPTARG ;;
    R) reg=$OPTARG ;;
    *) exit 2 ;;
  esac
done
for tool in wrk wat2wasm; do
  command -v $tool >/dev/null 2>&1 || { echo "serve_auth.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/cis-serve-auth.XXXXXX)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/echo"
wat2wasm -o "$tmp/echo/echo.wasm" "$root/tests/serve/echo.wat" || exit 2
echo '{"name":"echo","version":"1","abi":"cis_v1","wasm":{"path":"echo.wasm"}}' >"$tmp/echo/skill.json"
cat >"$tmp/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"x":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CIS_BENCH_TOKEN")
EOF

# run LABEL PROGRAM: one server, one measured wrk run.
run() {
  export CIS_HOME=$tmp/home-$1
  rm -rf "$CIS_HOME"
  mkdir -p "$CIS_HOME"
  [ -n "$reg" ] && export CIS_REGISTRY=$reg
  "$2" skill install "$tmp/echo" >/dev/null 2>&1 || { echo "serve_auth.sh: $1: install failed" >&2; return 1; }
  CIS_BENCH_TOKEN=$("$2" token create --tenant default 2>/dev/null | tail -n 1)
  export CIS_BENCH_TOKEN
  serve_start "$2" "$tmp" --workers 4 --queue 64 --tenant-concurrency 64 ||
    { echo "serve_auth.sh: $1: see above" >&2; return 1; }
  local url=http://127.0.0.1:$port/v1/skills/echo/invoke
  wrk -t2 -c8 -d2s --timeout 10s -s "$tmp/post.lua" "$url" >/dev/null 2>&1
  wrk -t2 -c8 -d"${secs}s" --timeout 10s -s "$tmp/post.lua" "$url" >"$tmp/wrk.out" 2>&1
  kill "$srv"
  wait "$srv" 2>/dev/null
  srv=
  local rps non2xx
  rps=$(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk.out")
  non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *//p' "$tmp/wrk.out")
  echo "$1 requests/s ${rps:-?} non-2xx ${non2xx:-0} load $(cut -d' ' -f1 /proc/loadavg)"
}

for _ in $(seq "$rounds"); do
  run A "$A" || exit 1
  run B "$B" || exit 1
done
