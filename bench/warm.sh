#!/usr/bin/env bash
# warm.sh -- warm-call benchmark: a trivial skill called in process.
#
# This file implements the driver of the warm-call benchmark (docs/bench.md,
# "Warm calls"). It builds libcis in a release build folder, compiles
# bench/warm/bench_warm.c (public C API only) against it, assembles the two
# guests of bench/warm/ with wat2wasm, runs the benchmark and prints, then
# writes to bench/out/warm.md:
#
#   1. the reference: a bare cis_func_call of the trivial skill's entry;
#   2. a warm cis_skills_invoke of the same module installed as a skill:
#      median and 99th percentile latency;
#   3. calls per second on 1 and on 2 threads sharing one handle, and the
#      ratio, with the CPU the process obtained and calls per CPU-second
#      (a shared machine may not give two threads two cores);
#   4. the host-call cost: a guest loop of no-op host calls minus the same
#      loop without them, per call, beside the same pair of loops in C.
#
#   bench/warm.sh [-b BUILD_DIR] [-s SOURCE_DIR] [-n CALLS]
#
#   -b BUILD_DIR   optimised build folder (default build-bench), configured
#                  RelWithDebInfo when it does not exist yet; a Debug or
#                  CIS_SANITIZE=ON folder is refused.
#   -s SOURCE_DIR  the checkout BUILD_DIR was configured from, whose headers
#                  the benchmark compiles with (default: this checkout). For
#                  a before/after comparison, point -b and -s at an older
#                  checkout's build (a git worktree): the benchmark itself
#                  is always this checkout's.
#   -n CALLS       warm calls timed one by one, and per thread for calls/s
#                  (default 20000).
#
# Exit status: 0 on success, 1 when a measurement failed, 2 on a usage or
# build error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$root/build-bench
src=$root
calls=20000
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "b:s:n:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    s) src=$OPTARG ;;
    n) calls=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
src=$(cd "$src" && pwd) || exit 2

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
fi
if grep -q '^CIS_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "warm.sh: $build is built with CIS_SANITIZE=ON; use an optimised build folder (-b)" >&2
  exit 2
fi
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
case $btype in
  Release | RelWithDebInfo | MinSizeRel) ;;
  *) echo "warm.sh: $build is a '$btype' build; use an optimised one (-b)" >&2; exit 2 ;;
esac
cmake --build "$build" -j2 --target cis_shared >"$build/bench-warm-build.log" 2>&1 || {
  echo "warm.sh: the build failed (see $build/bench-warm-build.log):" >&2
  tail -n 20 "$build/bench-warm-build.log" >&2
  exit 2
}
work=$build/bench-warm
mkdir -p "$work" || exit 2
cc -O2 -std=c17 -D_DEFAULT_SOURCE -pthread -I"$src/include" "$here/warm/bench_warm.c" -L"$build" -lcis \
  -Wl,-rpath,"$build" -o "$work/bench_warm" || exit 2
wat2wasm "$here/warm/trivial.wat" -o "$work/trivial.wasm" || exit 2
wat2wasm "$here/warm/hostloop.wat" -o "$work/hostloop.wasm" || exit 2

echo "warm calls ($btype build in $build, sources $src):" >&2
res=$("$work/bench_warm" "$work/trivial.wasm" "$work/hostloop.wasm" "$calls") || exit 1
get() { printf '%s\n' "$res" | sed -n "s/^$1 \([^ ]*\) .*/\1/p"; }

mkdir -p "$here/out"
{
  echo "| measure | value |"
  echo "|---|---|"
  echo "| bare cis_func_call of the entry (reference) | $(get bare_call_ns) ns |"
  echo "| warm call, median | $(get warm_call_median_ns) ns |"
  echo "| warm call, p99 | $(get warm_call_p99_ns) ns |"
  echo "| calls/s, 1 thread | $(get calls_per_s_1) |"
  echo "| calls/s, 2 threads | $(get calls_per_s_2) |"
  echo "| 2 threads / 1 thread | $(get threads_2_over_1)x |"
  echo "| CPU obtained, 1 thread / 2 threads | $(get cores_1) / $(get cores_2) cores |"
  echo "| calls per CPU-second, 1 thread / 2 threads | $(get calls_per_cpu_s_1) / $(get calls_per_cpu_s_2) |"
  echo "| host call (no-op) | $(get hostcall_ns) ns |"
  echo "| native call through a pointer (reference) | $(get hostcall_native_ns) ns |"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $btype build of $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?'), $calls calls."
} | tee "$here/out/warm.md"
