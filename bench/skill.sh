#!/usr/bin/env bash
# skill.sh -- skill benchmarks: host-call overhead and cold start.
#
# This file implements the driver of the skill benchmarks (docs/bench.md,
# "Skills"). It builds what it needs in a release build folder, runs
# bench/skill/bench_skill (public C API only) and prints, then writes to
# bench/out/skill.md:
#
#   1. host-call overhead in ns per call, measured from a wasm loop that
#      calls the host N times minus the same loop without the call: `log`
#      to the null sink (written lines, and lines past the per-call cap)
#      and `kv_get` of a 64-byte value on a warm SQLite store;
#   2. in-process cold start of examples/hello (load + validate +
#      instantiate + run, on bytes the host has never seen; install
#      excluded), and the same call with the module cached;
#   3. process cold start to first output: `cis skill run hello` (installed
#      beforehand, not timed) and `cis skill run --wasm hello.wasm`, against
#      two references measured in the same run: node running the same
#      module with a minimal JavaScript host (bench/skill/node_host.mjs),
#      and a native program doing the same work (bench/skill/native_hello.c).
#
#   bench/skill.sh [-b BUILD_DIR] [-n RUNS]
#
#   -b BUILD_DIR  optimised build folder (default build-bench); configured
#                 with CMAKE_BUILD_TYPE=RelWithDebInfo (-O2 -g, the
#                 project's default) when it does not exist yet. A Debug
#                 folder, or one built with CIS_SANITIZE=ON, is refused:
#                 both distort every figure.
#   -n RUNS       repetitions of each process measurement (default 50);
#                 the in-process measurements repeat 31 (host calls) and
#                 201 (cold start) times.
#
# Environment: NODE (default node). Exit status: 0 on success, 1 when a
# measurement failed (a wrong output, a failed call), 2 on a usage or build
# error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$here/out
build=$root/build-bench
runs=50
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "b:n:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    n) runs=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
case $runs in '' | *[!0-9]* | 0) echo "skill.sh: -n wants a positive number" >&2; exit 2 ;; esac
case $build in /*) ;; *) build=$(pwd)/$build ;; esac

# ------------------------------------------------------------------ build
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
fi
if grep -q '^CIS_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "skill.sh: $build is built with CIS_SANITIZE=ON; use an optimised build folder (-b)" >&2
  exit 2
fi
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
case $btype in
  Release | RelWithDebInfo | MinSizeRel) ;;
  *) echo "skill.sh: $build is a '$btype' build; use an optimised one (-b)" >&2; exit 2 ;;
esac
cmake --build "$build" -j2 --target cis_cli bench_skill bench_skill_guest bench_skill_native example_hello \
  >"$build/bench-skill-build.log" 2>&1 || {
  echo "skill.sh: the build failed (see $build/bench-skill-build.log):" >&2
  tail -n 20 "$build/bench-skill-build.log" >&2
  exit 2
}
cis=$build/tools/cis/cis
bench=$build/bench/bench_skill
guest=$build/bench/bench_skill_guest.wasm
native=$build/bench/bench_skill_native
hello=$build/examples/hello/hello.wasm
want='{"result":2}'
node=${NODE:-node}

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A v # key -> value, from bench_skill's "key value unit" lines
collect() { # file
  local k val
  while read -r k val _; do v[$k]=$val; done <"$1"
}
fail=0

# ----------------------------------------------------------- host calls
echo "host calls (in-process, $btype build):" >&2
if "$bench" hostcall "$guest" 31 >"$tmp/hostcall"; then collect "$tmp/hostcall"; else fail=1; fi

# ------------------------------------------------ in-process cold start
echo "cold start, in process:" >&2
if "$bench" coldstart "$hello" "$want" 201 >"$tmp/cold"; then collect "$tmp/cold"; else fail=1; fi

# ----------------------------------------------------- process start-up
echo "cold start, whole processes ($runs runs each):" >&2
export CIS_HOME=$tmp/home
unset CIS_KV CIS_AI_BASE_URL
"$cis" skill install "$build/examples/hello" >/dev/null || { echo "skill.sh: install failed" >&2; exit 1; }
spawn() { # key, command...
  local key=$1
  shift
  if "$bench" spawn "$runs" "$want" "$@" >"$tmp/$key"; then
    while read -r k val _; do v[${key}_$k]=$val; done <"$tmp/$key"
  else
    fail=1
  fi
}
# The cis binary starting and exiting with no skill at all: what the
# process, the dynamic linker and libc cost before the skill layer.
want_version=$("$cis" --version)
want_saved=$want
want=$want_version
spawn cis_version "$cis" --version
want=$want_saved
spawn cis_run "$cis" skill run hello
spawn cis_wasm "$cis" skill run --wasm "$hello"
if command -v "$node" >/dev/null 2>&1; then
  spawn node "$node" "$here/skill/node_host.mjs" "$hello"
else
  echo "skill.sh: node not found: no node reference" >&2
fi
spawn native "$native"

# ------------------------------------------------------------------ table
get() { echo "${v[$1]:-}"; }
ratio() { # a b -> "a/b" (2 significant decimals below 10), or n/a
  if [ -n "$1" ] && [ -n "$2" ]; then
    awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; printf(r < 10 ? "%.2fx" : "%.1fx", r) }'
  else
    echo n/a
  fi
}
ms() { if [ -n "$1" ]; then printf '%.2f' "$1"; else echo n/a; fi; }
node_v=$("$node" --version 2>/dev/null || echo n/a)
{
  echo "# cis skill benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'),"
  echo "$(nproc 2>/dev/null) cores; cis $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "($btype build in $build); node $node_v."
  echo
  echo "## Host-call overhead (ns per call, median of 31 loops; p10-p90)"
  echo
  echo "| host call | ns/call | p10-p90 | calls per loop |"
  echo "|---|---:|---:|---:|"
  for k in log_written log_dropped kv_get; do
    case $k in
      log_written) label='`log`, null sink, line written (under the per-call cap)' ;;
      log_dropped) label='`log`, null sink, past the per-call cap (dropped, counted)' ;;
      kv_get) label='`kv_get`, 64-byte value, warm SQLite' ;;
    esac
    echo "| $label | $(get ${k}_ns) | $(get ${k}_p10_ns)-$(get ${k}_p90_ns) | $(get ${k}_calls) |"
  done
  echo
  echo "The empty loop itself costs $(get kv_get_empty_iter_ns) ns per iteration (subtracted)."
  echo
  echo "## Cold start of examples/hello ($(get module_bytes)-byte module)"
  echo
  echo "In process, through \`cis_skills_invoke_wasm\` on bytes the host has never seen (install"
  echo "excluded), median of 201 calls:"
  echo
  echo "| | µs |"
  echo "|---|---:|"
  echo "| cold: load + validate + instantiate + run, to output | $(get cold_us) (p10 $(get cold_p10_us), p90 $(get cold_p90_us)) |"
  echo "| of which instantiation | $(get instantiate_us) |"
  echo "| warm: the same call with the module cached | $(get warm_us) |"
  echo
  echo "Whole processes, from spawn to the first byte of output, median of $runs runs:"
  echo
  echo "| command | first output (ms) | exit (ms) | vs native | vs node |"
  echo "|---|---:|---:|---:|---:|"
  nf=$(get native_first_ms)
  jf=$(get node_first_ms)
  row() { # label key
    local f
    f=$(get "$2_first_ms")
    echo "| $1 | $(ms "$f") | $(ms "$(get "$2_exit_ms")") | $(ratio "$f" "$nf") | $(ratio "$f" "$jf") |"
  }
  row '`cis skill run hello` (installed)' cis_run
  row '`cis skill run --wasm hello.wasm`' cis_wasm
  row '`node node_host.mjs hello.wasm`' node
  row 'native `bench_skill_native`' native
  row '`cis --version` (no skill: the cis process alone)' cis_version
} >"$out/skill.md"
echo >&2
cat "$out/skill.md"
echo
echo "(written to ${out#"$root"/}/skill.md)"
if [ $fail -ne 0 ]; then
  echo "skill.sh: some measurements failed (see above)" >&2
  exit 1
fi
exit 0
