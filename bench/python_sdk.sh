#!/usr/bin/env bash
# python_sdk.sh -- warm-call overhead of the Python SDK against C.
#
# This file implements the driver of the Python SDK benchmark. In one run
# it times the same warm calls from C (bench/python_sdk/bench_c.c, public
# C API) and from Python (bench/python_sdk/bench_py.py, the cis package
# over the same libcis.so), and prints both with the overhead in µs and
# the ratio, then writes them to bench/out/python_sdk.md:
#
#   1. a warm skill invoke of bench/warm/trivial.wat (writes {}), median
#      of CALLS single calls; from Python both with a dict (invoke) and
#      with JSON text (invoke_json);
#   2. a bare call of an exported i32 add on one instance, per call.
#
#   bench/python_sdk.sh [-b BUILD_DIR] [-n CALLS]
#
#   -b BUILD_DIR  optimised build folder (default build-bench); configured
#                 with CMAKE_BUILD_TYPE=RelWithDebInfo when missing. Debug
#                 and sanitizer builds are refused.
#   -n CALLS      single calls timed per measurement (default 20000)
#
# Exit status: 0 on success, 1 when a measurement failed, 2 on a usage or
# build error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$root/build-bench
calls=20000
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "b:n:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    n) calls=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
case $calls in '' | *[!0-9]* | 0) echo "python_sdk.sh: -n wants a positive number" >&2; exit 2 ;; esac
case $build in /*) ;; *) build=$(pwd)/$build ;; esac

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
fi
if grep -q '^CIS_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "python_sdk.sh: $build is built with CIS_SANITIZE=ON; use an optimised build folder (-b)" >&2
  exit 2
fi
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
case $btype in
  Release | RelWithDebInfo | MinSizeRel) ;;
  *) echo "python_sdk.sh: $build is a '$btype' build; use an optimised one (-b)" >&2; exit 2 ;;
esac
nice cmake --build "$build" -j2 --target cis_shared >"$build/bench-python-build.log" 2>&1 || {
  echo "python_sdk.sh: the build failed (see $build/bench-python-build.log)" >&2
  exit 2
}
work=$build/bench-python
rm -rf "$work" && mkdir -p "$work" || exit 2
cc -O2 -std=c17 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -I"$root/include" "$here/python_sdk/bench_c.c" \
  -L"$build" -lcis -Wl,-rpath,"$build" -o "$work/bench_c" || exit 2
wat2wasm "$here/warm/trivial.wat" -o "$work/trivial.wasm" || exit 2

echo "python SDK warm calls ($btype build in $build, $calls calls):" >&2
c=$("$work/bench_c" "$work/trivial.wasm" "$work/home-c" "$calls") || exit 1
py=$(CIS_LIBRARY="$build/libcis.so" /usr/bin/python3 "$here/python_sdk/bench_py.py" \
       "$work/trivial.wasm" "$work/home-py" "$calls") || exit 1
get() { printf '%s\n' "$1" | sed -n "s/^$2 \([^ ]*\) .*/\1/p"; }
us() { awk -v n="$1" 'BEGIN { printf "%.2f", n / 1000 }'; }
row() { # label, C ns, Python ns
  awk -v l="$1" -v c="$2" -v p="$3" \
    'BEGIN { printf "| %s | %.2f µs | %.2f µs | +%.2f µs | %.2fx |\n", l, c/1000, p/1000, (p-c)/1000, p/c }'
}
ci=$(get "$c" invoke_median_ns); cc_=$(get "$c" call_ns)
pi=$(get "$py" invoke_median_ns); pj=$(get "$py" invoke_json_median_ns); pc=$(get "$py" call_ns)
mkdir -p "$here/out"
{
  echo "| warm call | C | Python | overhead | ratio |"
  echo "|---|---|---|---|---|"
  row "skill invoke, dict in and out (Skills.invoke)" "$ci" "$pi"
  row "skill invoke, JSON text (Skills.invoke_json)" "$ci" "$pj"
  row "bare call of add(i32, i32) (Instance.call)" "$cc_" "$pc"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $btype build of $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), interp engine, $calls calls, $(/usr/bin/python3 --version)."
} | tee "$here/out/python_sdk.md"
