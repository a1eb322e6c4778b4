#!/usr/bin/env bash
# serve_load.sh -- `cis serve` under load: throughput, latency, memory.
#
# This file implements the load benchmark of `cis serve` (docs/serve.md,
# "Load"; docs/bench.md, "Serve under load"). It starts its own server on
# 127.0.0.1 with a temporary CIS_HOME, installs echo (answers its input)
# and spin (an infinite loop under a 100 ms deadline), warms up, then with
# wrk (Debian's; bench/serve/load.lua, one connection per wrk thread):
#
#   a. clean: CALLS calls of echo over CONNS keep-alive connections;
#   b. stuck: the same, with every 10th call of each connection to spin,
#      the healthy (echo) calls' latency kept apart from the stuck ones';
#      (a) and (b) alternate, ROUNDS times each, on the same server, so a
#      shared machine's load falls on both alike; the figure compared is
#      the median over the rounds of each run's healthy p99;
#   c. the server's resident memory (VmRSS) after the warm-up (CALLS clean
#      calls, then CALLS with stuck ones) and after the runs;
#   d. the reference: the same calls of echo through cis_skills_invoke in
#      process, on 2 threads (bench_serve loop), so the server's share of
#      the time shows.
#
# It prints a table (each round's figures and load average, then the
# medians), the line "healthy p99 ratio (stuck/clean, medians): X", writes
# bench/out/serve_load.md, and exits 1 when an acceptance bound fails: a
# call of (a) not 2xx, fewer than CALLS calls, a healthy call of (b) not
# 2xx or a stuck one not 422, the median healthy p99 of (b) above 2x that
# of (a), or the RSS after the runs above 1.10x that after the warm-up.
#
#   bench/serve_load.sh [-b BUILD_DIR] [-n CALLS] [-c CONNS] [-w WORKERS] [-r ROUNDS] [-k KIND] [-B]
#
#   -b BUILD_DIR  optimised build folder (default build-bench), configured
#                 RelWithDebInfo when missing; Debug or CIS_SANITIZE=ON
#                 folders are refused.
#   -n CALLS      calls of each run (default 10000)
#   -c CONNS      connections (default 64)
#   -w WORKERS    the server's --workers (default: the server's own, 4;
#                 stuck calls do not hold them: docs/serve.md, "Workers
#                 and long calls")
#   -r ROUNDS     clean and stuck runs, alternating, ROUNDS of each
#                 (default 3, at most 20)
#   -k KIND       what the stuck calls do until their 100 ms deadline:
#                 spin (default: an endless loop, the acceptance's case)
#                 or sleep (WASI poll_oneoff, no CPU: an experiment that
#                 tells CPU competition from the cost of long calls as such)
#   -B            do not build: use the programs already in BUILD_DIR
#
# Every wait is bounded: wrk runs at most 120 s a run (-d), the server's
# start 30 s; the server is killed on exit. Exit status: 0 when every
# bound holds, 1 when one fails or a run could not be made, 2 on a usage
# or build error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/serve/lib.sh"
out=$here/out
build=$root/build-bench
calls=10000
conns=64
workers=
rounds=3
kind=spin
nobuild=0
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "b:n:c:w:r:k:Bh" opt; do
  case $opt in
    b) build=$OPTARG ;;
    n) calls=$OPTARG ;;
    c) conns=$OPTARG ;;
    w) workers=$OPTARG ;;
    r) rounds=$OPTARG ;;
    k) kind=$OPTARG ;;
    B) nobuild=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
for v in "$calls" "$conns" "$rounds" ${workers:+"$workers"}; do
  case $v in '' | *[!0-9]* | 0) echo "serve_load.sh: -n, -c, -w and -r want positive numbers" >&2; exit 2 ;; esac
done
case $kind in spin | sleep) ;; *) echo "serve_load.sh: -k spin or sleep" >&2; exit 2 ;; esac
[ "$rounds" -le 20 ] || { echo "serve_load.sh: -r at most 20" >&2; exit 2; }
[ "$conns" -le 1000 ] || { echo "serve_load.sh: -c at most 1000" >&2; exit 2; }
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
bench_build_folder serve_load.sh "$root" "$build" wrk wat2wasm
[ $nobuild = 1 ] || cmake --build "$build" -j2 --target cis_cli bench_serve >"$build/bench-serve-load-build.log" 2>&1 || {
  echo "serve_load.sh: the build failed (see $build/bench-serve-load-build.log):" >&2
  tail -n 20 "$build/bench-serve-load-build.log" >&2
  exit 2
}
cis=$build/tools/cis/cis
bench=$build/bench/bench_serve

tmp=$(mktemp -d)
srv=
cleanup() {
  if [ -n "$srv" ] && kill -0 "$srv" 2>/dev/null; then
    kill -KILL "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

export CIS_HOME=$tmp/home
unset CIS_KV CIS_AI_BASE_URL CIS_REQUIRE_SIGNATURE
mkdir -p "$CIS_HOME" "$tmp/echo" "$tmp/spin" "$out"
wat2wasm -o "$tmp/echo/echo.wasm" "$root/tests/serve/echo.wat" || exit 2
echo '{"name":"echo","version":"1","abi":"cis_v1","wasm":{"path":"echo.wasm"}}' >"$tmp/echo/skill.json"
# The stuck skill is named spin whatever it does (-k).
if [ "$kind" = sleep ]; then
  wat2wasm -o "$tmp/spin/spin.wasm" "$root/tests/serve/sleep.wat" || exit 2
  abi=wasi
else
  wat2wasm -o "$tmp/spin/spin.wasm" "$root/tests/serve/spin.wat" || exit 2
  abi=cis_v1
fi
echo '{"name":"spin","version":"1","abi":"'$abi'","wasm":{"path":"spin.wasm"},"limits":{"timeout_ms":100}}' \
  >"$tmp/spin/skill.json"
"$cis" skill install "$tmp/echo" >/dev/null 2>&1 && "$cis" skill install "$tmp/spin" >/dev/null 2>&1 || {
  echo "serve_load.sh: installing the skills failed" >&2
  exit 1
}
token=$("$cis" token create --tenant default --name load 2>/dev/null | tail -n 1)
case $token in cis_*) ;; *) echo "serve_load.sh: no token made" >&2; exit 1 ;; esac

# ----------------------------------------------------------------- server
# A tenant may have every connection's call in flight (the default cap is
# --workers); the queue holds what the workers do not run.
serve_start "$cis" "$tmp" ${workers:+--workers "$workers"} --queue "$((conns * 2))" \
  --tenant-concurrency "$((conns * 2))" --max-connections "$((conns * 2 + 16))" ||
  { echo "serve_load.sh: see above" >&2; exit 1; }
url=http://127.0.0.1:$port
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$srv/status"; }

declare -A v # "run_key" -> value, from load.lua's "key value" lines
load() { # run-name total stuck-every duration-s
  local name=$1 threads=$conns
  [ "$2" -lt "$threads" ] && threads=$2
  : >"$tmp/$name.done"
  wrk -t "$threads" -c "$threads" -d "${4}s" --timeout 10s -s "$here/serve/load.lua" "$url" -- \
    "$token" "$2" "$3" echo spin "$threads" "$tmp/$name.done" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  local w=$!
  # wrk sleeps out its -d: once every thread made its share, SIGINT ends
  # it (bounded by -d itself, and by this loop).
  local i
  for ((i = 0; i < ${4} * 20; i++)); do
    kill -0 "$w" 2>/dev/null || break
    [ "$(wc -l <"$tmp/$name.done")" -ge "$threads" ] && { kill -INT "$w" 2>/dev/null; break; }
    sleep 0.05
  done
  wait "$w" || {
    echo "serve_load.sh: wrk failed ($name):" >&2
    cat "$tmp/$name.err" >&2
    return 1
  }
  local k val
  while read -r k val _; do v[${name}_$k]=$val; done <"$tmp/$name.out"
}
get() { echo "${v[$1]:-}"; }

fail=0
echo "warm-up ($btype build, ${workers:-default} workers, $conns connections)..." >&2
# Both kinds of call, so that what a run first touches (threads' stacks
# and malloc arenas, the module caches) is in place before the RSS is read.
# A whole stuck run: the long calls' threads at once peak with the run's
# length (each run of a stuck round may reach a new peak; with CALLS/5
# the RSS after 3 rounds was 1.06x to 1.14x that after the warm-up).
load warm "$conns" 0 30 && load warm "$calls" 0 120 && load warm "$calls" 10 120 || exit 1
rss_warm=$(rss_kb)
loadavg() { cut -d' ' -f1 /proc/loadavg; }
for ((r = 1; r <= rounds; r++)); do
  v[clean${r}_load]=$(loadavg)
  echo "round $r/$rounds, clean: $calls calls (load average ${v[clean${r}_load]})..." >&2
  load "clean$r" "$calls" 0 120 || exit 1
  v[stuck${r}_load]=$(loadavg)
  echo "round $r/$rounds, stuck: $calls calls, every 10th to spin ($kind, 100 ms deadline; load average ${v[stuck${r}_load]})..." >&2
  load "stuck$r" "$calls" 10 120 || exit 1
done
rss_after=$(rss_kb)
metrics=$(curl -s --max-time 10 "$url/metrics" 2>/dev/null || true)
echo "in process: $calls calls of cis_skills_invoke on 2 threads..." >&2
"$bench" loop 2 "$calls" >"$tmp/loop.out" || { echo "serve_load.sh: bench_serve loop failed" >&2; exit 1; }
while read -r k val _; do v[loop_$k]=$val; done <"$tmp/loop.out"
kill -TERM "$srv"
for _ in $(seq 300); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
load_avg=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf("%.2f", a / b); else print "n/a" }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "") print "n/a"; else printf("%.2f", u / 1000) }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ x[NR] = $1 } END { if (NR) print (NR % 2 ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2) }'; }
# Over the rounds: medians of each run's healthy p50 and p99 and of its
# throughput; every round's calls counted for the acceptance.
med() { # key of each run, kind (clean|stuck)
  local r vals=()
  for ((r = 1; r <= rounds; r++)); do vals+=("$(get "$2${r}_$1")"); done
  median "${vals[@]}"
}
sum() {
  local r t=0
  for ((r = 1; r <= rounds; r++)); do t=$((t + $(get "$2${r}_$1") + 0)); done
  echo $t
}
clean_p50=$(med h_p50_us clean) clean_p99=$(med h_p99_us clean)
stuck_p50=$(med h_p50_us stuck) stuck_p99=$(med h_p99_us stuck)
p99_ratio=$(ratio "$stuck_p99" "$clean_p99")
rss_ratio=$(ratio "$rss_after" "$rss_warm")
min_calls() { # kind: the fewest calls of a run
  local r m=
  for ((r = 1; r <= rounds; r++)); do
    local c=$(($(get "$1${r}_calls") + 0))
    [ -z "$m" ] || [ "$c" -lt "$m" ] && m=$c
  done
  echo "$m"
}

check() { # description, condition (awk expression over nothing)
  if awk "BEGIN { exit !($2) }"; then
    echo "| $1 | yes |"
  else
    echo "| $1 | **no** |"
    fail=1
  fi
}
{
  echo "## cis serve under load"
  echo
  echo "$(date -u +%Y-%m-%d) on $(nproc) cores, $btype build, load average at the end $load_avg;"
  echo "\`cis serve --workers ${workers:-(default)}\`, wrk with $conns connections (one a thread, keep-alive);"
  echo "$calls calls a run, $rounds rounds of a clean run then a stuck run (stuck calls: $kind). Latency is the client's,"
  echo "from request to response; the load average is the 1-minute one before the run."
  echo
  echo "| round | run | load avg | calls | non-2xx | throughput (calls/s) | healthy p50 (ms) | healthy p99 (ms) | healthy max (ms) | stuck p50 (ms) | stuck p99 (ms) | p99 / clean p99 of the round |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for ((r = 1; r <= rounds; r++)); do
    echo "| $r | clean | $(get clean${r}_load) | $(get clean${r}_calls) | $(get clean${r}_non2xx) | $(get clean${r}_throughput) |" \
      "$(ms "$(get clean${r}_h_p50_us)") | $(ms "$(get clean${r}_h_p99_us)") | $(ms "$(get clean${r}_h_max_us)") | | | |"
    echo "| $r | 10% stuck | $(get stuck${r}_load) | $(get stuck${r}_calls) | $(get stuck${r}_non2xx) | $(get stuck${r}_throughput) |" \
      "$(ms "$(get stuck${r}_h_p50_us)") | $(ms "$(get stuck${r}_h_p99_us)") | $(ms "$(get stuck${r}_h_max_us)") |" \
      "$(ms "$(get stuck${r}_s_p50_us)") | $(ms "$(get stuck${r}_s_p99_us)") | $(ratio "$(get stuck${r}_h_p99_us)" "$(get clean${r}_h_p99_us)") |"
  done
  echo
  echo "| medians over $rounds rounds | throughput (calls/s) | healthy p50 (ms) | healthy p99 (ms) |"
  echo "|---|---|---|---|"
  echo "| clean, echo | $(med throughput clean) | $(ms "$clean_p50") | $(ms "$clean_p99") |"
  echo "| 10% stuck: echo calls | $(med throughput stuck) | $(ms "$stuck_p50") | $(ms "$stuck_p99") |"
  echo "| in process, 2 threads (reference) | $(get loop_throughput) |" \
    "$(awk -v u="$(get loop_p50)" 'BEGIN { printf("%.3f", u / 1000) }') |" \
    "$(awk -v u="$(get loop_p99)" 'BEGIN { printf("%.3f", u / 1000) }') |"
  echo
  echo "healthy p99 ratio (stuck/clean, medians): $p99_ratio"
  echo
  echo "Throughput over HTTP (clean median) / in process: $(ratio "$(med throughput clean)" "$(get loop_throughput)")."
  echo "Server RSS: after warm-up $rss_warm kB, after the runs $rss_after kB ($rss_ratio x)."
  echo "Pool at the end: $(printf '%s\n' "$metrics" | grep -E '^cis_pool_(workers|threads|handoffs_total|demoted_total|throttled_total|trims_total) ' | tr '\n' ' ')"
  echo
  echo "| acceptance | holds |"
  echo "|---|---|"
  check "clean: $calls calls a run, 0 non-2xx, 0 socket errors" \
    "$(min_calls clean)+0 >= $calls && $(sum non2xx clean) == 0 && $(sum socket_errors clean) == 0"
  check "stuck: healthy calls 2xx, stuck ones 422, 0 socket errors" \
    "$(min_calls stuck)+0 >= $calls && $(sum non2xx stuck) == 0 && $(sum socket_errors stuck) == 0"
  check "healthy p99 under stuck load within 2x of clean ($p99_ratio x, medians of $rounds rounds)" \
    "\"$p99_ratio\"+0 > 0 && $p99_ratio <= 2"
  check "RSS after the runs within 1.10x of after warm-up ($rss_ratio x)" "\"$rss_ratio\"+0 > 0 && $rss_ratio <= 1.10"
} >"$tmp/table.md"
cat "$tmp/table.md"
cp "$tmp/table.md" "$out/serve_load.md"
if [ -n "$metrics" ]; then
  echo "server metrics at the end:" >&2
  printf '%s\n' "$metrics" | grep -E '^cis_(calls_total|call_errors_total|rejected_total)' >&2
fi
exit $fail
