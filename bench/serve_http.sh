#!/usr/bin/env bash
# serve_http.sh -- a skill call over HTTP against the HTTP library alone.
#
# This file implements the throughput benchmark of `cis serve` (docs/serve.md,
# "Throughput against libmicrohttpd alone"). In one run, with the same wrk
# settings (wrk -t2, POST of {"x":1}, keep-alive), it measures:
#
#   anchor  libmicrohttpd answering a fixed body with no work
#           (bench/serve/mhd_anchor.c, built here; epoll, as many
#           polling threads as `cis serve` runs);
#   cis     `cis serve` calling echo (tests/serve/echo.wat: returns its
#           input) for one tenant, with the server's defaults;
#
# at 8 and at 64 connections, and then both again with IDLE idle keep-alive
# connections held open beside the load (bench/serve/idle.py). Runs
# alternate (anchor, cis, anchor, cis, ...), ROUNDS of each, so a shared
# machine's load falls on both alike; the figures are the medians.
#
# It prints a table (requests/s, p99, non-2xx; cis's ratio to the anchor)
# and writes bench/out/serve_http.md. Exit status: 0 when every run could
# be made (the goals are reported, not enforced: the machine is shared),
# 1 when a run failed, 2 on a usage or build error.
#
#   bench/serve_http.sh [-b BUILD_DIR] [-d SECONDS] [-r ROUNDS] [-i IDLE] [-B]
#
#   -b BUILD_DIR  optimised build folder (default build-bench), configured
#                 RelWithDebInfo when missing; Debug or CIS_SANITIZE=ON
#                 folders are refused.
#   -d SECONDS    each wrk run (default 10)
#   -r ROUNDS     runs of each (default 3, at most 20)
#   -i IDLE       idle connections for the second half (default 10000; 0
#                 leaves it out)
#   -B            do not build: use the programs already in BUILD_DIR
#
# Every wait is bounded; the servers and the idle holder are killed on exit.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/serve/lib.sh"
out=$here/out
build=$root/build-bench
secs=10
rounds=3
idle=10000
nobuild=0
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "b:d:r:i:Bh" opt; do
  case $opt in
    b) build=$OPTARG ;;
    d) secs=$OPTARG ;;
    r) rounds=$OPTARG ;;
    i) idle=$OPTARG ;;
    B) nobuild=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
for v in "$secs" "$rounds"; do
  case $v in '' | *[!0-9]* | 0) echo "serve_http.sh: -d and -r want positive numbers" >&2; exit 2 ;; esac
done
case $idle in '' | *[!0-9]*) echo "serve_http.sh: -i wants a number" >&2; exit 2 ;; esac
[ "$rounds" -le 20 ] || { echo "serve_http.sh: -r at most 20" >&2; exit 2; }
[ "$secs" -le 120 ] || { echo "serve_http.sh: -d at most 120" >&2; exit 2; }
[ "$idle" -le 30000 ] || { echo "serve_http.sh: -i at most 30000" >&2; exit 2; }
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
bench_build_folder serve_http.sh "$root" "$build" wrk wat2wasm python3 cc pkg-config curl
mkdir -p "$out"
bench_build_cis serve_http.sh "$build" $nobuild
anchor_build serve_http.sh "$out" $nobuild

tmp=$(mktemp -d)
srv= apid= hold=
stop_pid() { # pid: killed and reaped
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
  fi
}
cleanup() {
  for h in $hold; do stop_pid "$h"; done
  stop_pid "$srv"
  stop_pid "$apid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# The idle connections need descriptors on both sides.
ulimit -n $((idle + 4096)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export CIS_HOME=$tmp/home
unset CIS_KV CIS_AI_BASE_URL CIS_REQUIRE_SIGNATURE
mkdir -p "$CIS_HOME" "$tmp/echo"
wat2wasm -o "$tmp/echo/echo.wasm" "$root/tests/serve/echo.wat" || exit 2
echo '{"name":"echo","version":"1","abi":"cis_v1","wasm":{"path":"echo.wasm"}}' >"$tmp/echo/skill.json"
"$cis" skill install "$tmp/echo" >/dev/null 2>&1 || { echo "serve_http.sh: installing echo failed" >&2; exit 1; }
token=$("$cis" token create --tenant default --name bench 2>/dev/null | tail -n 1)
case $token in cis_*) ;; *) echo "serve_http.sh: no token made" >&2; exit 1 ;; esac

# ---------------------------------------------------------------- servers
# Room for the idle connections and the load; the head deadline past the
# run, so that idle connections stay (libmicrohttpd's own inactivity
# timeout, 30 s, is longer than a run).
serve_start "$cis" "$tmp" --max-connections $((idle + 1024)) --max-connections-per-address $((idle + 1024)) \
  --head-timeout 600s || { echo "serve_http.sh: see above" >&2; exit 1; }
cport=$port
# The anchor polls with as many threads as the server does.
athreads=$(curl -s -m 5 "http://127.0.0.1:$cport/metrics" | sed -n 's/^cis_http_threads \([0-9]*\)$/\1/p')
[ -n "$athreads" ] || { echo "serve_http.sh: the server's /metrics has no cis_http_threads" >&2; exit 1; }
anchor_start "$anchor" "$tmp" $((cport + 1)) "$athreads" || { echo "serve_http.sh: the anchor did not start" >&2; exit 1; }

# One wrk run: name conns port path token. Sets rps, p99 (ms) and bad.
run() {
  local name=$1 conns=$2 p=$3 path=$4 tok=$5
  wrk -t2 -c "$conns" -d "${secs}s" --timeout 5s --latency -s "$here/serve/post.lua" \
    "http://127.0.0.1:$p$path" -- "$tok" >"$tmp/$name.out" 2>&1 || {
    echo "serve_http.sh: wrk failed ($name):" >&2
    cat "$tmp/$name.out" >&2
    return 1
  }
  rps=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' "$tmp/$name.out")
  p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
    else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; print v }' \
    "$tmp/$name.out")
  bad=$(sed -n 's/^[[:space:]]*Non-2xx or 3xx responses:[[:space:]]*\([0-9]*\).*/\1/p' "$tmp/$name.out")
  bad=${bad:-0}
  [ -n "$rps" ] && [ -n "$p99" ]
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

declare -A res # "who_conns_idle_field" -> values, one a line
measure() { # idle-count
  local n=$1 c r who
  for c in 8 64; do
    for ((r = 1; r <= rounds; r++)); do
      for who in anchor cis; do
        if [ $who = anchor ]; then run "$who-$c-$n-$r" "$c" "$aport" / "" || return 1
        else run "$who-$c-$n-$r" "$c" "$cport" /v1/skills/echo/invoke "$token" || return 1; fi
        res[${who}_${c}_${n}_rps]+="$rps"$'\n'
        res[${who}_${c}_${n}_p99]+="$p99"$'\n'
        res[${who}_${c}_${n}_bad]+="$bad"$'\n'
        printf '  %-6s c=%-3s idle=%-6s round %d: %9.0f req/s  p99 %7.2f ms  non-2xx %s\n' \
          "$who" "$c" "$n" "$r" "$rps" "$p99" "$bad"
      done
    done
  done
}

# Holds n idle connections to each server while the runs go on.
hold_idle() { # n
  mkfifo "$tmp/hold.in"
  python3 "$here/serve/idle.py" "$cport" "$1" <"$tmp/hold.in" >"$tmp/hold.out" 2>&1 &
  hold=$!
  exec 9>"$tmp/hold.in"
  python3 "$here/serve/idle.py" "$aport" "$1" <"$tmp/hold.in" >"$tmp/hold2.out" 2>&1 9>&- &
  local hold2=$!
  for _ in $(seq 600); do
    [ "$(grep -c '^open ' "$tmp/hold.out" "$tmp/hold2.out" | awk -F: '{ s += $2 } END { print s }')" -ge 2 ] && break
    sleep 0.1
  done
  echo "  idle: cis $(cat "$tmp/hold.out"), anchor $(cat "$tmp/hold2.out")"
  hold="$hold $hold2"
}

echo "serve_http.sh: wrk -t2 -d${secs}s, POST {\"x\":1}; $rounds rounds, anchor and cis alternating"
measure 0 || exit 1
if [ "$idle" -gt 0 ]; then
  hold_idle "$idle"
  measure "$idle" || exit 1
  exec 9>&- # the holders end
  for h in $hold; do wait "$h" 2>/dev/null; done
  hold=
fi

# ------------------------------------------------------------------ table
{
  echo "| connections | idle | anchor req/s | cis req/s | cis / anchor | anchor p99 ms | cis p99 ms | cis non-2xx |"
  echo "|---|---|---|---|---|---|---|---|"
  for n in 0 ${idle/#0/}; do
    [ "$n" = "" ] && continue
    for c in 8 64; do
      ar=$(printf '%s' "${res[anchor_${c}_${n}_rps]}" | median)
      cr=$(printf '%s' "${res[cis_${c}_${n}_rps]}" | median)
      ap=$(printf '%s' "${res[anchor_${c}_${n}_p99]}" | median)
      cp=$(printf '%s' "${res[cis_${c}_${n}_p99]}" | median)
      cb=$(printf '%s' "${res[cis_${c}_${n}_bad]}" | awk '{ s += $1 } END { print s + 0 }')
      printf '| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %s |\n' "$c" "$n" "$ar" "$cr" \
        "$(awk -v a="$ar" -v b="$cr" 'BEGIN { print (a > 0 ? b / a : 0) }')" "$ap" "$cp" "$cb"
    done
  done
} | tee "$out/serve_http.md"
echo "(medians of $rounds runs of ${secs}s; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))" |
  tee -a "$out/serve_http.md"
