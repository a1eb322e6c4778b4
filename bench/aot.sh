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
#      means of RUNS runs from the kernel's accounting of each child
#      (bench/startup/rusage.c: wait4): CPU time (user + sys), minor page
#      faults; prints the median of the rounds per engine and the ratios
#      aot / interp (target: <= 1), and the median of the per-round ratios;
#      then, with valgrind, the instructions of each whole process
#      (callgrind: user space, the dynamic loader included; deterministic,
#      so the figure to compare when the machine is loaded) and their ratio;
#      the same rounds (no callgrind) for a C program built against
#      wasi-libc (bench/bigmodule's generator with 3 functions, some
#      140 KB: printf and its kin), run with -V, which prints a line and
#      returns: a skill's size, with a trivial call;
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
# Needs a C compiler (cc, for the meter), wat2wasm and clang for
# wasm32-wasi; valgrind for the instruction counts (skipped without it).
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
mkdir -p "$out"
meter=$out/rusage
cc -O2 -o "$meter" "$here/startup/rusage.c" || { echo "aot.sh: cannot build the meter" >&2; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

# cpu_ms CMD...: mean CPU time (ms, user + sys, children included) of RUNS runs.
cpu_ms() {
  "$meter" "$runs" "$@" | awk '{print $1 + $2}'
}

# ------------------------------------------------------------ cached start
wat2wasm "$here/startup/trivial.wat" -o "$out/trivial.wasm"
export CIS_HOME=$out/home
rm -rf "$CIS_HOME"
# start_rounds LABEL FILE ARGS...: the cached start of FILE (run with
# ARGS), both engines, RUNS runs each, in turns, ROUNDS rounds; one line
# per round (aot user, sys, faults, then interp's) into $out/rounds; then
# the medians and ratios.
start_rounds() {
  local label=$1 f=$2
  shift 2
  "$cis" compile "$f" >/dev/null
  "$cis" run --engine aot "$f" "$@" >/dev/null || { echo "aot.sh: cis run --engine aot $f failed" >&2; exit 1; }
  : >"$out/rounds"
  for ((k = 0; k < rounds; k++)); do
    ra=$("$meter" "$runs" "$cis" run --engine aot "$f" "$@")
    ri=$("$meter" "$runs" "$cis" run --engine interp "$f" "$@")
    echo "$ra $ri" >>"$out/rounds"
  done
  col() { awk "{print $1}" "$out/rounds" | median; } # col AWK-EXPR: its median over the rounds
  am=$(col '$1 + $2') im=$(col '$5 + $6') au=$(col '$1') iu=$(col '$5') as=$(col '$2') is=$(col '$6')
  af=$(col '$3') if_=$(col '$7') rr=$(col '($1 + $2) / ($5 + $6)')
  echo "cached start, $label (median of $rounds rounds of $runs runs each, engines in turns; load $(cut -d' ' -f1-3 /proc/loadavg)):"
  printf "  %-24s %10s %10s %10s %12s\n" "" "CPU ms" "user ms" "sys ms" "page faults"
  printf "  %-24s %10.3f %10.3f %10.3f %12.1f\n" "cis run --engine aot" "$am" "$au" "$as" "$af" \
    "cis run --engine interp" "$im" "$iu" "$is" "$if_"
  printf "  %-24s %10.3f %10s %10s %12.3f\n" "aot / interp" "$(awk -v a="$am" -v b="$im" 'BEGIN {print a / b}')" \
    "" "" "$(awk -v a="$af" -v b="$if_" 'BEGIN {print a / b}')"
  printf "  %-24s %10.3f\n" "median per-round ratio" "$rr"
}
start_rounds "trivial module" "$out/trivial.wasm"
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
# A C program against wasi-libc, of a skill's size, with a trivial call.
prog=$out/prog
pstamp="3 $(cksum <"$here/bigmodule/gen.py")"
if [ ! -f "$prog/prog.wasm" ] || [ "$(cat "$prog/stamp" 2>/dev/null)" != "$pstamp" ]; then
  rm -rf "$prog" && mkdir -p "$prog/src"
  python3 "$here/bigmodule/gen.py" "$prog/src" 3 1 >/dev/null
  "$cc_wasm" --target=wasm32-wasi --sysroot="$sysroot" -O2 -o "$prog/prog.wasm" "$prog"/src/*.c
  echo "$pstamp" >"$prog/stamp"
fi
start_rounds "a C program of $(awk -v n="$(stat -c %s "$prog/prog.wasm")" 'BEGIN {printf "%.0f", n / 1024}') KB (wasi-libc), -V" \
  "$prog/prog.wasm" -V

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
