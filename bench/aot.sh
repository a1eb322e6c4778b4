#!/usr/bin/env bash
# aot.sh -- the compiled tier's start-up and compile cost.
#
# This file implements the compiled engine's benchmark (docs/aot.md,
# "Measurements"):
#
#   1. cached start: `cis run --engine aot` of a trivial module whose
#      compiled object is in the cache (load the entry, instantiate, call
#      _start), against `cis run --engine interp` of the same module, both
#      measured in the same run, ROUNDS rounds that take turns, each the
#      mean CPU time (task-clock, perf stat -r RUNS) of RUNS runs; prints
#      the median of the rounds and the ratio aot / interp (target: <= 1);
#      then, with valgrind, the instructions of each whole process
#      (callgrind: user space, the dynamic loader included; deterministic,
#      so the figure to compare when the machine is loaded) and their ratio;
#   2. compile time per KB of wasm: `cis compile` into an empty cache, CPU
#      time including the C compiler's, for a small module (the sha256
#      workload, a few KB) and a large one (bench/bigmodule's generator with
#      NFUNCS functions: a few MB with the default 4,000).
#
#   bench/aot.sh [-n RUNS] [-r ROUNDS] [-f NFUNCS] [-s]
#
#   -s  skip the large module (its compile takes minutes)
#
# Environment: CIS (default build/tools/cis/cis), OUT (default
# bench/out/aot), CC_WASM and WASI_SYSROOT (clang, /usr).
# Needs perf (linux-perf), wat2wasm and clang for wasm32-wasi; valgrind for
# the instruction counts (skipped without it).
# Exit status: 0, or 1 when a build or a run fails.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=20
rounds=3
nfuncs=4000
large=1
while getopts "n:r:f:sh" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    r) rounds=$OPTARG ;;
    f) nfuncs=$OPTARG ;;
    s) large=0 ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) exit 1 ;;
  esac
done
cis=${CIS:-$root/build/tools/cis/cis}
out=${OUT:-$here/out/aot}
cc_wasm=${CC_WASM:-clang}
sysroot=${WASI_SYSROOT:-/usr}
command -v perf >/dev/null || { echo "aot.sh: needs perf" >&2; exit 1; }
mkdir -p "$out"

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

# cpu_ms CMD...: mean task-clock (ms, children included) of RUNS runs.
cpu_ms() {
  perf stat -x, -e task-clock -r "$runs" "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1; exit}'
}

# ------------------------------------------------------------ cached start
wat2wasm "$here/startup/trivial.wat" -o "$out/trivial.wasm"
export CIS_HOME=$out/home
rm -rf "$CIS_HOME"
"$cis" compile "$out/trivial.wasm" >/dev/null
"$cis" run --engine aot "$out/trivial.wasm" || { echo "aot.sh: cis run --engine aot failed" >&2; exit 1; }
a=() i=()
for ((k = 0; k < rounds; k++)); do
  a+=("$(cpu_ms "$cis" run --engine aot "$out/trivial.wasm")")
  i+=("$(cpu_ms "$cis" run --engine interp "$out/trivial.wasm")")
done
am=$(printf '%s\n' "${a[@]}" | median)
im=$(printf '%s\n' "${i[@]}" | median)
echo "cached start, trivial module, CPU ms (median of $rounds rounds of $runs runs):"
printf "  %-22s %8.2f ms\n" "cis run --engine aot" "$am" "cis run --engine interp" "$im"
printf "  %-22s %8.2f\n" "aot / interp" "$(awk -v a="$am" -v b="$im" 'BEGIN {print a / b}')"
# irefs ENGINE: instructions of one whole `cis run` (callgrind).
irefs() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$cis" run --engine "$1" \
    "$out/trivial.wasm" 2>&1 >/dev/null | awk '/Collected/ {print $NF; exit}'
}
if command -v valgrind >/dev/null; then
  ai=$(irefs aot) ii=$(irefs interp)
  echo "cached start, trivial module, instructions of the whole process (callgrind):"
  printf "  %-22s %8.3f M\n" "cis run --engine aot" "$(awk -v n="$ai" 'BEGIN {print n / 1e6}')" \
    "cis run --engine interp" "$(awk -v n="$ii" 'BEGIN {print n / 1e6}')"
  printf "  %-22s %8.3f\n" "aot / interp" "$(awk -v a="$ai" -v b="$ii" 'BEGIN {print a / b}')"
fi

# ------------------------------------------------------ compile time per KB
compile_row() { # LABEL FILE
  local label=$1 f=$2 kb ms
  kb=$(awk -v n="$(stat -c %s "$f")" 'BEGIN {printf "%.1f", n / 1024}')
  rm -rf "$CIS_HOME"
  ms=$(runs=1 cpu_ms "$cis" compile "$f")
  printf "  %-22s %10s KB %10.0f ms %8.2f ms/KB\n" "$label" "$kb" "$ms" "$(awk -v m="$ms" -v k="$kb" 'BEGIN {print m / k}')"
}
# As bench/run.sh builds it: no libc, wasm_rt.c for memset/memcpy.
"$cc_wasm" --target=wasm32 -O2 -ffreestanding -fno-math-errno -nostdlib -Wl,--no-entry -Wl,--export=run \
  -Wl,--gc-sections -Wl,-z,stack-size=262144 -I"$here/workloads" -o "$out/sha256.wasm" \
  "$here/workloads/sha256.c" "$here/wasm_rt.c"
echo "compile time (cis compile into an empty cache, CPU including the C compiler):"
compile_row "small: sha256" "$out/sha256.wasm"
if [ "$large" = 1 ]; then
  big=$out/big
  stamp="$nfuncs $(cksum <"$here/bigmodule/gen.py")"
  if [ ! -f "$big/big.wasm" ] || [ "$(cat "$big/stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$big" && mkdir -p "$big/src"
    python3 "$here/bigmodule/gen.py" "$big/src" "$nfuncs" 16
    (cd "$big/src" && ls part*.c main.c | xargs -P 2 -I{} "$cc_wasm" --target=wasm32-wasi \
      --sysroot="$sysroot" -O2 -c {} -o {}.o)
    "$cc_wasm" --target=wasm32-wasi --sysroot="$sysroot" -O2 -o "$big/big.wasm" "$big"/src/*.o
    echo "$stamp" >"$big/stamp"
  fi
  compile_row "large: $nfuncs functions" "$big/big.wasm"
fi
rm -rf "$CIS_HOME"
