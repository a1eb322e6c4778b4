#!/usr/bin/env bash
# serve_locks.sh -- which mutexes a skill call over HTTP takes, and whether
# any is global.
#
# This file implements the lock census of `cis serve` (docs/serve.md,
# "Throughput against libmicrohttpd alone"): the server runs with a
# preload library (bench/serve/locks.c, built here) that counts every
# pthread_mutex_lock by call site, while wrk sends calls of echo
# (tests/serve/echo.wat) for TENANTS tenants at once, each its own token
# and connections. It prints, per call site taken at least once per 20
# requests: locks per request, the distinct mutexes it took (per tenant,
# per thread or per object shows as several), how many of them more than
# one thread took, and where it is. A site that takes one shared mutex for
# every tenant's requests is marked GLOBAL. Exit status: 0 when the census
# was made and shows no GLOBAL site, 3 when it shows one, 1 when a run
# failed, 2 on a usage or build error.
#
#   bench/serve_locks.sh [-b BUILD_DIR] [-d SECONDS] [-t TENANTS] [-B]
#
#   -b BUILD_DIR  optimised build folder (default build-bench), configured
#                 RelWithDebInfo when missing
#   -d SECONDS    the wrk run (default 5)
#   -t TENANTS    tenants calling at once (default 3, 2 to 8)
#   -B            do not build: use the programs already in BUILD_DIR
#
# Every wait is bounded; the server and wrk are killed on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/serve/lib.sh"
out=$here/out
build=$root/build-bench
secs=5
tenants=3
nobuild=0
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "b:d:t:Bh" opt; do
  case $opt in
    b) build=$OPTARG ;;
    d) secs=$OPTARG ;;
    t) tenants=$OPTARG ;;
    B) nobuild=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
case $secs in '' | *[!0-9]* | 0) echo "serve_locks.sh: -d wants a positive number" >&2; exit 2 ;; esac
case $tenants in [2-8]) ;; *) echo "serve_locks.sh: -t wants 2 to 8" >&2; exit 2 ;; esac
[ "$secs" -le 120 ] || { echo "serve_locks.sh: -d at most 120" >&2; exit 2; }
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
bench_build_folder serve_locks.sh "$root" "$build" wrk wat2wasm cc addr2line
mkdir -p "$out"
shim=$out/locks.so
bench_build_cis serve_locks.sh "$build" $nobuild
[ $nobuild = 1 ] || cc -O2 -Wall -Wextra -shared -fPIC -o "$shim" "$here/serve/locks.c" -ldl || exit 2
[ -f "$shim" ] || { echo "serve_locks.sh: build first (no -B)" >&2; exit 2; }
tmp=$(mktemp -d)
srv= wrks=
cleanup() {
  for p in $wrks $srv; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

export CIS_HOME=$tmp/home
unset CIS_KV CIS_AI_BASE_URL CIS_REQUIRE_SIGNATURE
mkdir -p "$CIS_HOME" "$tmp/echo"
wat2wasm -o "$tmp/echo/echo.wasm" "$root/tests/serve/echo.wat" || exit 2
echo '{"name":"echo","version":"1","abi":"cis_v1","wasm":{"path":"echo.wasm"}}' >"$tmp/echo/skill.json"
tokens=()
for i in $(seq "$tenants"); do
  "$cis" skill install --tenant "t$i" "$tmp/echo" >/dev/null 2>&1 || { echo "serve_locks.sh: install failed" >&2; exit 1; }
  tok=$("$cis" token create --tenant "t$i" --name "bench$i" 2>/dev/null | tail -n 1)
  case $tok in cis_*) tokens+=("$tok") ;; *) echo "serve_locks.sh: no token made" >&2; exit 1 ;; esac
done

LOCKS_OUT=$tmp/locks.txt LD_PRELOAD=$shim serve_start "$cis" "$tmp" || exit 1
for i in $(seq "$tenants"); do
  wrk -t1 -c4 -d "${secs}s" --timeout 5s -s "$here/serve/post.lua" \
    "http://127.0.0.1:$port/v1/skills/echo/invoke" -- "${tokens[$((i - 1))]}" >"$tmp/wrk$i.out" 2>&1 &
  wrks="$wrks $!"
done
for p in $wrks; do wait "$p" || { echo "serve_locks.sh: wrk failed" >&2; cat "$tmp"/wrk*.out >&2; exit 1; }; done
wrks=
requests=0
for i in $(seq "$tenants"); do
  n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$tmp/wrk$i.out")
  bad=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$tmp/wrk$i.out")
  [ -n "$n" ] && [ -z "$bad" ] || { echo "serve_locks.sh: tenant t$i: no count, or non-2xx" >&2; cat "$tmp/wrk$i.out" >&2; exit 1; }
  requests=$((requests + n))
done
# The census is written when the server exits (SIGTERM: it drains).
kill -TERM "$srv"
for _ in $(seq 300); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
kill -0 "$srv" 2>/dev/null && { echo "serve_locks.sh: the server did not stop" >&2; exit 1; }
wait "$srv" 2>/dev/null
srv=
[ -s "$tmp/locks.txt" ] || { echo "serve_locks.sh: no census written" >&2; exit 1; }

report=$out/serve_locks.md
global=0
{
  echo "serve_locks.sh: $tenants tenants, wrk -t1 -c4 -d${secs}s each, $requests calls"
  echo
  echo "| locks/request | mutexes | shared | where |"
  echo "|---|---|---|---|"
  sort -rn "$tmp/locks.txt" | while read -r n mx sh obj off; do
    [ $((n * 20)) -ge "$requests" ] || continue
    where="$(basename "$obj") $off"
    if [ "$obj" = "$cis" ]; then
      where=$(addr2line -f -e "$obj" "$off" | paste -sd' ' | sed 's| [^ ]*/| |')
    fi
    mark=
    if [ "$mx" = 1 ] && [ "$sh" = 1 ]; then mark=" GLOBAL"; fi
    printf '| %s | %s | %s | %s%s |\n' "$(awk -v n="$n" -v r="$requests" 'BEGIN{printf "%.2f", n/r}')" \
      "$([ "$mx" -gt 8 ] && echo many || echo "$mx")" "$sh" "$where" "$mark"
  done
} >"$report"
cat "$report"
grep -q GLOBAL "$report" && exit 3
exit 0
