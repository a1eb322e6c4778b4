#!/usr/bin/env bash
# startup.sh -- start-up cost of `cis run` on a trivial module.
#
# This file implements the start-up benchmark (docs/bench.md, "Start-up"):
# `cis run trivial.wasm` (bench/startup/trivial.wat: a WASI command whose
# _start returns at once) beside a native program that does nothing
# (bench/startup/native_trivial.c, gcc -O2) and, when `command -v wasm3`
# finds one, wasm3 running the same module. For each it measures
#
#   1. instructions: callgrind's total with --collect-atstart=yes, which
#      counts everything from the first instruction of the dynamic loader
#      to exit (repeatable on a noisy machine, unlike time);
#   2. shared objects opened, from the loader's LD_DEBUG=files trace;
#   3. wall time: the median of RUNS runs, timed by bench/timeit.c; the
#      programs take turns run by run, so that a machine that slows down
#      or speeds up meanwhile weighs on each alike.
#
# and prints a table (also written to bench/out/startup.md) with ratios
# against the native program measured in the same run. A second table
# says what each shared library `cis` still links costs just by being
# loaded: the instructions of the native program linked with that one
# library (-Wl,--no-as-needed -l:SONAME), less the native program's.
#
#   bench/startup.sh [-b BUILD_DIR] [-r REF_CIS[=LABEL]] [-n RUNS]
#
#   -b BUILD_DIR  optimised build folder (default build-bench); configured
#                 with CMAKE_BUILD_TYPE=RelWithDebInfo when it does not exist
#                 yet. A Debug or CIS_SANITIZE=ON folder is refused.
#   -r REF_CIS[=LABEL]  another `cis` program to measure beside this one,
#                 e.g. one built from an earlier commit in a worktree of its
#                 own (the "before" of a change); LABEL names its row.
#   -n RUNS       wall-time runs of each program (default 200).
#
# Needs valgrind for the instruction counts (without it that column is
# left out, with a message). Exit status: 0 on success, 1 when a program
# failed, 2 on a usage or build error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$here/out
build=$root/build-bench
ref=""
runs=200
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "b:r:n:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    r) ref=$OPTARG ;;
    n) runs=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
case $runs in '' | *[!0-9]* | 0) echo "startup.sh: -n wants a positive number" >&2; exit 2 ;; esac
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
ref_label="cis run (reference)"
case $ref in *=*) ref_label="cis run (${ref#*=})"; ref=${ref%%=*} ;; esac
if [ -n "$ref" ] && [ ! -x "$ref" ]; then
  echo "startup.sh: -r $ref is not a program" >&2
  exit 2
fi

# ------------------------------------------------------------------ build
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
fi
if grep -q '^CIS_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "startup.sh: $build is built with CIS_SANITIZE=ON; use an optimised build folder (-b)" >&2
  exit 2
fi
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
case $btype in
  Release | RelWithDebInfo | MinSizeRel) ;;
  *) echo "startup.sh: $build is a '$btype' build; use an optimised one (-b)" >&2; exit 2 ;;
esac
cmake --build "$build" -j2 --target cis_cli >"$build/bench-startup-build.log" 2>&1 || {
  echo "startup.sh: the build failed (see $build/bench-startup-build.log):" >&2
  tail -n 20 "$build/bench-startup-build.log" >&2
  exit 2
}
cis=$build/tools/cis/cis

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
"$cc" -O2 -o "$tmp/timeit" "$here/timeit.c" || exit 2
"$cc" -O2 -o "$tmp/native_trivial" "$here/startup/native_trivial.c" || exit 2
wat2wasm "$here/startup/trivial.wat" -o "$tmp/trivial.wasm" || exit 2
wasm=$tmp/trivial.wasm

# The programs: name, then the command.
names=() cmds=()
add() { names+=("$1"); shift; cmds+=("$*"); }
add native "$tmp/native_trivial"
add "cis run" "$cis run $wasm"
[ -n "$ref" ] && add "$ref_label" "$ref run $wasm"
if command -v wasm3 >/dev/null 2>&1; then
  add wasm3 "$(command -v wasm3) $wasm"
else
  echo "startup.sh: wasm3 not found (not packaged in Debian 12): no wasm3 column" >&2
fi
have_vg=1
command -v valgrind >/dev/null 2>&1 || {
  have_vg=0
  echo "startup.sh: valgrind not found: no instruction counts" >&2
}

fail=0
declare -A ir objs wall ok
for i in "${!names[@]}"; do
  n=${names[$i]}
  read -r -a cmd <<<"${cmds[$i]}"
  # Exit status 0 and nothing on stdout: the module does nothing.
  if ! "${cmd[@]}" >"$tmp/out" 2>"$tmp/err" || [ -s "$tmp/out" ]; then
    echo "startup.sh: $n failed:" >&2
    cat "$tmp/err" >&2
    fail=1
    continue
  fi
  ok[$i]=1
  if [ "$have_vg" = 1 ]; then
    valgrind --tool=callgrind --collect-atstart=yes --callgrind-out-file=/dev/null \
      --log-file="$tmp/vg" "${cmd[@]}" >/dev/null 2>&1
    ir[$n]=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/vg")
  fi
  LD_DEBUG=files "${cmd[@]}" >/dev/null 2>"$tmp/trace"
  objs[$n]=$(grep -o 'file=[^ ;]*' "$tmp/trace" | sort -u | wc -l)
  : >"$tmp/times.$i"
done
for ((r = 0; r < runs; r++)); do
  for i in "${!ok[@]}"; do
    read -r -a cmd <<<"${cmds[$i]}"
    "$tmp/timeit" 10 /dev/null /dev/null "${cmd[@]}" >>"$tmp/times.$i"
  done
done
for i in "${!ok[@]}"; do
  n=${names[$i]}
  if awk '$2 != 0 { bad = 1 } END { exit !bad }' "$tmp/times.$i"; then
    echo "startup.sh: $n exited non-zero in a timed run" >&2
    fail=1
  fi
  wall[$n]=$(awk '{ print $1 }' "$tmp/times.$i" | sort -g | awk '{ a[NR] = $1 }
    END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf("%.1f", m * 1e6) }')
  echo "  $n: ${ir[$n]:-?} instructions, ${objs[$n]} shared objects, ${wall[$n]} us" >&2
done

ratio() { # a b -> "a/b", or n/a
  if [ -n "$1" ] && [ -n "$2" ]; then
    awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; printf(r < 10 ? "%.2fx" : "%.1fx", r) }'
  else
    echo n/a
  fi
}
mkdir -p "$out"
{
  echo "Start-up of a trivial module, $(date -u +%Y-%m-%d), $btype build, $runs timed runs each"
  echo
  echo "| program | instructions | vs native | shared objects | median wall time | vs native |"
  echo "|---|---:|---:|---:|---:|---:|"
  for n in "${names[@]}"; do
    [ -n "${wall[$n]:-}" ] || continue
    printf '| %s | %s | %s | %s | %s us | %s |\n' "$n" "${ir[$n]:-n/a}" \
      "$(ratio "${ir[$n]:-}" "${ir[native]:-}")" "${objs[$n]}" "${wall[$n]}" \
      "$(ratio "${wall[$n]}" "${wall[native]:-}")"
  done
  if [ "$have_vg" = 1 ]; then
    echo
    echo "| library linked by cis | instructions to load it |"
    echo "|---|---:|"
    for so in $(readelf -d "$cis" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      case $so in libc.so.* | libm.so.* | ld-linux*) continue ;; esac
      "$cc" -O2 -o "$tmp/native_lib" "$here/startup/native_trivial.c" -Wl,--no-as-needed "-l:$so" ||
        continue
      valgrind --tool=callgrind --collect-atstart=yes --callgrind-out-file=/dev/null \
        --log-file="$tmp/vg" "$tmp/native_lib" >/dev/null 2>&1
      n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/vg")
      [ -n "$n" ] && [ -n "${ir[native]:-}" ] && printf '| %s | %s |\n' "$so" "$((n - ${ir[native]}))"
    done
  fi
} | tee "$out/startup.md"
exit $fail
