#!/usr/bin/env bash
# bigmodule.sh -- start-up cost of a large module: CPU time and peak memory.
#
# This file implements the large-module benchmark: it generates a C program
# of thousands of varied functions (bench/bigmodule/gen.py), compiles it
# for wasm32-wasi (clang against wasi-libc, -O2; about 30 MB of code with
# the default 25,000 functions) and natively (gcc -O2), then measures, RUNS
# times each, the CPU time (user + sys) and peak RSS of:
#   - `cis validate big.wasm`            (decode + validation only)
#   - `cis run big.wasm -V`              (load, instantiate, print a version)
#   - the same two with $CIS_REF, a reference cis build, when set
#   - `big.native -V`                    (the native floor)
#   - node (WASI) `big.wasm -V`          (V8, when node is installed)
# and prints the median of each. Nothing is committed: the program and
# its builds go to OUT (default bench/out/bigmodule).
#
#   bench/bigmodule.sh [-n RUNS] [-f NFUNCS]
#
# Environment:
#   CIS       cis binary (default build/tools/cis/cis)
#   CIS_REF   a second cis binary measured in the same run (e.g. an older build)
#   OUT       output directory (default bench/out/bigmodule)
#   CC_NATIVE CC_WASM WASI_SYSROOT   compilers and sysroot (gcc, clang, /usr)
#
# Exit status: 0, or 1 when a build or a run fails.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=5
nfuncs=25000
while getopts "n:f:h" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    f) nfuncs=$OPTARG ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) exit 1 ;;
  esac
done
out=${OUT:-$here/out/bigmodule}
cis=${CIS:-$root/build/tools/cis/cis}
cc_native=${CC_NATIVE:-gcc}
cc_wasm=${CC_WASM:-clang}
sysroot=${WASI_SYSROOT:-/usr}
nfiles=16

mkdir -p "$out/src"
# Regenerate (and rebuild) only when the generator or the size changed.
stamp="$nfuncs $(cksum <"$here/bigmodule/gen.py")"
if [ ! -f "$out/stamp" ] || [ "$(cat "$out/stamp")" != "$stamp" ] || [ ! -f "$out/big.wasm" ] ||
   [ ! -f "$out/big.native" ]; then
  rm -f "$out"/src/*.c "$out"/src/*.o "$out/big.wasm" "$out/big.native" "$out/stamp"
  python3 "$here/bigmodule/gen.py" "$out/src" "$nfuncs" "$nfiles"
  echo "compiling $nfuncs functions for wasm32-wasi and natively (a few minutes)..." >&2
  # Two jobs: each file once for wasm, once natively.
  (cd "$out/src" && ls part*.c main.c | xargs -P 2 -I{} sh -c \
    "$cc_wasm --target=wasm32-wasi --sysroot=$sysroot -O2 -c {} -o {}.wasm.o && $cc_native -O2 -c {} -o {}.native.o")
  "$cc_wasm" --target=wasm32-wasi --sysroot="$sysroot" -O2 -o "$out/big.wasm" "$out"/src/*.wasm.o
  "$cc_native" -O2 -o "$out/big.native" "$out"/src/*.native.o -lm
  echo "$stamp" >"$out/stamp"
fi

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

# measure LABEL CMD...: RUNS runs; prints LABEL, median CPU s and peak RSS MB.
measure() {
  local label=$1; shift
  local cpus=() rss=() i t
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -o "$out/time.txt" -f "%U %S %M" "$@" >/dev/null 2>&1 || {
      echo "$label: failed: $*" >&2; return 1; }
    t=$(tail -n1 "$out/time.txt")
    cpus+=("$(echo "$t" | awk '{printf "%.3f", $1 + $2}')")
    rss+=("$(echo "$t" | awk '{printf "%.1f", $3 / 1024}')")
  done
  printf "%-34s %8.3f s %9.1f MB\n" "$label" \
    "$(printf '%s\n' "${cpus[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | median)"
}

wasm=$out/big.wasm
code=$(stat -c %s "$wasm")
echo "big.wasm: $code bytes, $nfuncs generated functions; median of $runs runs (CPU = user + sys)"
"$out/big.native" -V
"$cis" run "$wasm" -V >/dev/null || { echo "cis run $wasm -V failed" >&2; exit 1; }
printf "%-34s %10s %12s\n" "command" "CPU" "peak RSS"
measure "native -V" "$out/big.native" -V
measure "cis validate" "$cis" validate "$wasm"
measure "cis run -V" "$cis" run "$wasm" -V
if [ -n "${CIS_REF:-}" ]; then
  measure "reference cis validate" "$CIS_REF" validate "$wasm"
  measure "reference cis run -V" "$CIS_REF" run "$wasm" -V
fi
if command -v node >/dev/null 2>&1; then
  measure "node (WASI) -V" node --no-warnings "$here/bigmodule/run_node_wasi.mjs" "$wasm" -V
fi
