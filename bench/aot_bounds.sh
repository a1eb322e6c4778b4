#!/usr/bin/env bash
# aot_bounds.sh -- what the compiled engine's explicit memory bounds checks
# cost, against the same code without them.
#
# This file implements the measurement behind the compiled tier's choice
# of explicit bounds checks over guard pages (docs/aot.md, "Limits"). With
# guard pages (a reserved 8 GiB region per memory and a SIGSEGV handler)
# an access needs no check at all, so code without the checks is the
# fastest that guard pages could give. The script copies the source tree,
# removes the one check of every load and store (aot_ea in
# src/aot/aot_prelude.h) in the copy, builds that cis beside the checked
# one, and runs bench/run.sh's workloads on both in turns, round by round,
# from their own compiled caches. The unchecked binary is a measuring
# tool only: it is built in a temporary folder and deleted at exit.
#
#   bench/aot_bounds.sh [-b BUILD_DIR] [-n ROUNDS] [WORKLOAD...]
#
#   -b BUILD_DIR  the checked build (default build-bench; configured as
#                 RelWithDebInfo without tests when missing)
#   -n ROUNDS     rounds; each runs every workload once on each binary,
#                 in turns (default 5)
#   WORKLOAD      names from bench/workloads/*.c (default: all)
#
# Prints per workload the median wall time of each binary and the ratio
# checked / unchecked, then the geometric mean of the ratios, and writes
# the table to bench/out/aot_bounds.md. Exit 2 on a usage or build error,
# 1 when the two binaries print different checksums.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$here/out
build=$root/build-bench
rounds=5
while getopts b:n:h opt; do
  case $opt in
    b) build=$(realpath -m "$OPTARG") ;;
    n) rounds=$OPTARG ;;
    *) sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
case $rounds in '' | *[!0-9]* | 0) echo "aot_bounds.sh: -n needs a count" >&2; exit 2 ;; esac
if [ $# -gt 0 ]; then
  workloads=("$@")
else
  workloads=()
  for f in "$here"/workloads/*.c; do workloads+=("$(basename "$f" .c)"); done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The workloads and the timer, built as bench/run.sh builds them (one run
# of native each, which also checks they build).
"$here/run.sh" -n 1 -e native "${workloads[@]}" >/dev/null 2>"$tmp/run.log" || {
  echo "aot_bounds.sh: bench/run.sh could not build the workloads:" >&2
  cat "$tmp/run.log" >&2
  exit 2
}

configure() { # source dir, build dir
  [ -f "$2/CMakeCache.txt" ] && return 0
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >"$tmp/cmake.log" 2>&1 || {
    cat "$tmp/cmake.log" >&2
    return 1
  }
}
configure "$root" "$build" && cmake --build "$build" -j2 --target cis_cli >"$tmp/build.log" 2>&1 || {
  echo "aot_bounds.sh: building $build failed:" >&2
  tail -n 30 "$tmp/build.log" >&2
  exit 2
}

# The copy without checks: the same tree, one line of the prelude changed.
mkdir -p "$tmp/src"
tar -C "$root" --exclude='./build*' --exclude='./bench/out' --exclude='./.git' -cf - . | tar -C "$tmp/src" -xf -
prelude=$tmp/src/src/aot/aot_prelude.h
check='  if (AOT_UNLIKELY(e + n > ms)) aot_trap(c, AOT_T_MEM_OOB, fi);'
if [ "$(grep -cxF "$check" "$prelude")" != 1 ]; then
  echo "aot_bounds.sh: aot_ea's check is not the one line this script removes; update the script" >&2
  exit 2
fi
grep -vxF "$check" "$prelude" | sed 's/^  uint64_t e = (uint64_t)a + off;$/  (void)c; (void)fi; (void)ms; (void)n;\n&/' >"$tmp/prelude.h"
mv "$tmp/prelude.h" "$prelude"
configure "$tmp/src" "$tmp/build" && cmake --build "$tmp/build" -j2 --target cis_cli >"$tmp/build2.log" 2>&1 || {
  echo "aot_bounds.sh: building the unchecked copy failed:" >&2
  tail -n 30 "$tmp/build2.log" >&2
  exit 2
}
checked=$build/tools/cis/cis
unchecked=$tmp/build/tools/cis/cis

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
run() { # binary, home, workload -> "SECONDS CHECKSUM" (exit 1 on failure)
  local secs status
  read -r secs status _ < <(env CIS_HOME="$2" "$out/timeit" 600 "$tmp/out" "$tmp/err" \
    "$1" run --engine aot --invoke run "$out/$3.wasm")
  if [ "$status" != 0 ]; then
    echo "aot_bounds.sh: $3 on $1: exit $status: $(head -c 300 "$tmp/err")" >&2
    return 1
  fi
  echo "$secs $(grep -E '^-?[0-9]+$' "$tmp/out" | tail -n 1)"
}

declare -A times_c times_u
for w in "${workloads[@]}"; do # compile both into their caches first
  run "$checked" "$tmp/home-c" "$w" >/dev/null || exit 2
  run "$unchecked" "$tmp/home-u" "$w" >/dev/null || exit 2
done
load_before=$(cut -d' ' -f1 /proc/loadavg)
for ((r = 1; r <= rounds; r++)); do
  for w in "${workloads[@]}"; do
    read -r tc sc < <(run "$checked" "$tmp/home-c" "$w") || exit 2
    read -r tu su < <(run "$unchecked" "$tmp/home-u" "$w") || exit 2
    if [ "$sc" != "$su" ]; then
      echo "aot_bounds.sh: $w: checksum $sc checked, $su unchecked" >&2
      exit 1
    fi
    times_c[$w]="${times_c[$w]:-} $tc"
    times_u[$w]="${times_u[$w]:-} $tu"
  done
done
load_after=$(cut -d' ' -f1 /proc/loadavg)

mkdir -p "$out"
{
  echo "Compiled engine, explicit bounds checks against none (the hot path of guard pages):"
  echo "$rounds rounds, load average $load_before before and $load_after after; medians in seconds."
  echo
  echo "| workload | checked | unchecked | checked / unchecked |"
  echo "|---|---|---|---|"
  logsum=0
  for w in "${workloads[@]}"; do
    # shellcheck disable=SC2086 # the lists are numbers split on blanks
    mc=$(median ${times_c[$w]})
    # shellcheck disable=SC2086
    mu=$(median ${times_u[$w]})
    ratio=$(awk -v a="$mc" -v b="$mu" 'BEGIN { printf "%.3f", a / b }')
    logsum=$(awk -v s="$logsum" -v q="$ratio" 'BEGIN { printf "%.6f", s + log(q) }')
    echo "| $w | $mc | $mu | ${ratio}x |"
  done
  awk -v s="$logsum" -v n="${#workloads[@]}" 'BEGIN { printf "| **geometric mean** | | | **%.3fx** |\n", exp(s / n) }'
} | tee "$out/aot_bounds.md"
