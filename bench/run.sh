#!/usr/bin/env bash
# run.sh -- CPU benchmarks of cis against native code, wasm2c, V8, wabt and wasm3.
#
# This file implements the benchmark driver: it builds every workload in
# bench/workloads/ natively (gcc -O2) and for wasm32 (clang -O2, no libc)
# into bench/out/, translates the wasm with wabt's wasm2c and compiles that
# with gcc -O2, runs each on every engine N times, checks that all engines
# print the same checksum, and prints the median CPU time (user + sys) of
# each engine as a ratio to native's in the same run, with a geometric mean
# per engine. The table is also written as markdown to
# bench/out/results.md, with the median user and system seconds apart.
#
#   bench/run.sh [-n RUNS] [-e ENGINES] [-m cpu|wall] [WORKLOAD...]
#
#   -n RUNS      repetitions per engine and workload (default 5)
#   -e ENGINES   comma-separated subset of:
#                native,wasm2c,cis-aot,cis,wasm3,node,wasm-interp
#                (wasm2c: the module translated to C by wabt's wasm2c, built
#                with gcc -O2 and bench/wasm2c_main.c, linked with wabt's
#                libwasm-rt-impl; its translate and compile are not timed)
#                (cis-aot: `cis run --engine aot`, the compiled engine; its
#                compile time is measured apart, per workload, with an empty
#                cache, and left out of its column)
#                (cis: `cis run --engine interp`, the interpreter)
#                (wasm3: the wasm3 interpreter's command line,
#                `wasm3 --func run FILE`, which prints `Result: N`; not
#                packaged: the column is "not installed" unless a wasm3
#                binary is on PATH or given with WASM3=. When both cis and
#                wasm3 ran, the ratio of their times is printed per workload)
#                (default: all of them; native is always run, as baseline)
#   -m METRIC    what a cell compares: cpu, the user + system CPU time of
#                the process and the children it waited for (default), or
#                wall, the elapsed time on the monotonic clock
#   WORKLOAD     names from bench/workloads/*.c (default: all)
#
# Environment:
#   CIS                path of the cis binary (default build/tools/cis/cis)
#   CIS_FLAGS          extra options for `cis run` (the cis column runs
#                      --engine interp unless CIS_FLAGS names another)
#   NODE_FLAGS         options for node (default --no-liftoff, see docs)
#   WASM3              path of the wasm3 binary (default: wasm3 on PATH)
#   NATIVE_RUNS WASM2C_RUNS CIS_RUNS CIS_AOT_RUNS WASM3_RUNS NODE_RUNS
#   WASM_INTERP_RUNS   per-engine repetitions (default RUNS; wasm-interp 1)
#   BENCH_TIMEOUT      seconds before one run is killed (default 600)
#   CC_NATIVE CC_WASM  compilers (default gcc, clang); CC_NATIVE also
#                      compiles wasm2c's output
#   WASM2C_RT          folder of wabt's wasm-rt-impl.h (default
#                      /usr/share/wabt/wasm2c, Debian's wabt)
#
# Exit status: 0 when every engine that produced a checksum agreed with
# native; 1 on any checksum disagreement; 2 on a usage or build error.
# An engine that fails to run a workload is reported, not fatal.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/columns.sh"
root=$(cd "$here/.." && pwd)
out=$here/out

runs=5
engines_arg=native,wasm2c,cis-aot,cis,wasm3,node,wasm-interp
metric=cpu
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "n:e:m:h" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    e) engines_arg=$OPTARG ;;
    m) metric=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
case $runs in '' | *[!0-9]* | 0) echo "run.sh: -n wants a positive number" >&2; exit 2 ;; esac
case $metric in cpu | wall) ;; *) echo "run.sh: -m wants cpu or wall" >&2; exit 2 ;; esac

# Engines, in table order; native always first because it is the baseline.
engines=(native)
IFS=, read -r -a wanted <<<"$engines_arg"
for e in wasm2c cis-aot cis wasm3 node wasm-interp; do
  for w in "${wanted[@]}"; do [ "$w" = "$e" ] && engines+=("$e"); done
done
for w in "${wanted[@]}"; do
  case $w in native | wasm2c | cis | cis-aot | wasm3 | node | wasm-interp) ;;
    *) echo "run.sh: unknown engine '$w' (native, wasm2c, cis-aot, cis, wasm3, node, wasm-interp)" >&2; exit 2 ;;
  esac
done

if [ $# -gt 0 ]; then
  workloads=("$@")
else
  workloads=()
  for f in "$here"/workloads/*.c; do workloads+=("$(basename "$f" .c)"); done
fi
for w in "${workloads[@]}"; do
  [ -f "$here/workloads/$w.c" ] || { echo "run.sh: no workload bench/workloads/$w.c" >&2; exit 2; }
done

runs_for() { # engine -> repetitions
  local v
  case $1 in
    native) v=${NATIVE_RUNS:-$runs} ;;
    wasm2c) v=${WASM2C_RUNS:-$runs} ;;
    cis) v=${CIS_RUNS:-$runs} ;;
    cis-aot) v=${CIS_AOT_RUNS:-$runs} ;;
    wasm3) v=${WASM3_RUNS:-$runs} ;;
    node) v=${NODE_RUNS:-$runs} ;;
    wasm-interp) v=${WASM_INTERP_RUNS:-1} ;;
  esac
  echo "$v"
}

# ------------------------------------------------------------------ build
cc_native=${CC_NATIVE:-gcc}
cc_wasm=${CC_WASM:-clang}
native_flags=(-O2 -fno-math-errno -Wall -Wextra -Werror)
# No libc: the workloads use static arrays for memory and their own helpers;
# wasm_rt.c supplies the memset/memcpy a compiler may still call.
# shellcheck disable=SC2054 # the commas belong to -Wl options
wasm_flags=(--target=wasm32 -O2 -ffreestanding -fno-math-errno -nostdlib -Wall -Wextra -Werror
  -Wl,--no-entry -Wl,--export=run -Wl,--gc-sections -Wl,-z,stack-size=262144)

mkdir -p "$out"
stale() { # target sources... : true when target is missing or older
  local t=$1 s
  shift
  [ -e "$t" ] || return 0
  for s in "$@"; do [ "$s" -nt "$t" ] && return 0; done
  return 1
}
build() { # target, then the command that makes it
  local t=$1
  shift
  if ! "$@" 2>"$t.log"; then
    echo "run.sh: building $(basename "$t") failed:" >&2
    cat "$t.log" >&2
    exit 2
  fi
}

if stale "$out/timeit" "$here/timeit.c"; then
  build "$out/timeit" "$cc_native" -O2 -Wall -Wextra -Werror -o "$out/timeit" "$here/timeit.c"
fi
for w in "${workloads[@]}"; do
  src=$here/workloads/$w.c
  deps=("$src" "$here/workloads/bench.h" "$0")
  if stale "$out/$w" "${deps[@]}" "$here/native_main.c"; then
    build "$out/$w" "$cc_native" "${native_flags[@]}" -o "$out/$w" "$src" "$here/native_main.c"
  fi
  # The simd_* workloads are vectorised for wasm: v128 and the 0xFD
  # instructions (natively gcc -O2 vectorises them with SSE2 as it is).
  simd=()
  case $w in simd*) simd=(-msimd128) ;; esac
  if stale "$out/$w.wasm" "${deps[@]}" "$here/wasm_rt.c"; then
    build "$out/$w.wasm" "$cc_wasm" "${wasm_flags[@]}" "${simd[@]}" -o "$out/$w.wasm" "$src" "$here/wasm_rt.c"
  fi
done

declare -A missing  # engine -> why it cannot run at all
declare -A w2c_fail # workload -> why wasm2c's build of it failed
# wasm2c: each module translated into $out/wasm2c/NAME/module.{c,h} under
# the one module name "bench" (so that one harness fits all), compiled with
# the native compiler at -O2 and linked with wasm2c_main.c and wabt's
# runtime. The runtime library was built for guard pages (wasm2c's default
# on 64-bit Linux: memory accesses are not checked, a stray one faults),
# so module.c is compiled with the same defaults. A module that wasm2c
# cannot translate (Debian 12's wabt 1.0.32 has no v128: it aborts on the
# simd_* workloads) fails its own cell, not the run.
w2c_rt=${WASM2C_RT:-/usr/share/wabt/wasm2c}
if [[ " ${engines[*]} " == *" wasm2c "* ]]; then
  if ! command -v wasm2c >/dev/null 2>&1; then
    missing[wasm2c]="wasm2c (wabt) not installed"
  elif [ ! -f "$w2c_rt/wasm-rt-impl.h" ]; then
    missing[wasm2c]="no wasm-rt-impl.h in $w2c_rt (set WASM2C_RT)"
  else
    for w in "${workloads[@]}"; do
      d=$out/wasm2c/$w
      stale "$d/$w" "$out/$w.wasm" "$here/wasm2c_main.c" "$0" || continue
      mkdir -p "$d"
      rm -f "$d/$w"
      # In a subshell that waits for it, so that the shell's report of a
      # crash goes to the log too (1.0.32 aborts on v128 without a word).
      (wasm2c -n bench -o "$d/module.c" "$out/$w.wasm"; exit $?) >"$d/build.log" 2>&1
      st=$?
      if [ $st -ne 0 ]; then
        why=$(grep -m1 -v -e Aborted -e 'core dumped' "$d/build.log" || true)
        [ $st -eq 134 ] && [ -z "$why" ] && why="aborted, no message"
        w2c_fail[$w]="wasm2c exit $st: $why"
      elif ! {
        "$cc_native" -O2 -fno-math-errno -I"$w2c_rt" -c -o "$d/module.o" "$d/module.c" &&
          "$cc_native" -O2 -Wall -Wextra -Werror -I"$d" -I"$w2c_rt" -o "$d/$w" \
            "$d/module.o" "$here/wasm2c_main.c" -lwasm-rt-impl -lm
      } >"$d/build.log" 2>&1; then
        w2c_fail[$w]="build: $(grep -m1 . "$d/build.log" || echo 'no message') ($d/build.log)"
      fi
    done
  fi
fi

# ---------------------------------------------------------------- engines
cis_bin=${CIS:-$root/build/tools/cis/cis}
node_flags=${NODE_FLAGS---no-liftoff}
[ -x "$cis_bin" ] || missing[cis]="no cis binary at $cis_bin (set CIS)"
[ -x "$cis_bin" ] || missing[cis-aot]="no cis binary at $cis_bin (set CIS)"
command -v "${CIS_CC:-cc}" >/dev/null 2>&1 || missing[cis-aot]="no C compiler (install gcc)"
command -v node >/dev/null 2>&1 || missing[node]="node not installed"
command -v wasm-interp >/dev/null 2>&1 || missing[wasm-interp]="wasm-interp (wabt) not installed"
wasm3_bin=${WASM3:-wasm3}
command -v "$wasm3_bin" >/dev/null 2>&1 || missing[wasm3]="wasm3 not installed (not packaged: give a binary with WASM3=)"

# Sets cmd to the command line of one run: engine workload. The *_FLAGS
# variables are option strings and are split on blanks on purpose.
# shellcheck disable=SC2206
set_cmd() {
  case $1 in
    native) cmd=("$out/$2") ;;
    wasm2c) cmd=("$out/wasm2c/$2/$2") ;;
    # The interpreter named: the default engine (auto) would run the code
    # the cis-aot column compiled into the cache.
    cis) cmd=("$cis_bin" run --engine interp ${CIS_FLAGS:-} --invoke run "$out/$2.wasm") ;;
    cis-aot) cmd=(env CIS_HOME="$tmp/aot-home" "$cis_bin" run --engine aot ${CIS_FLAGS:-}
                  --invoke run "$out/$2.wasm") ;;
    compile) cmd=(env CIS_HOME="$tmp/aot-home" "$cis_bin" compile "$out/$2.wasm") ;;
    node) cmd=(node $node_flags "$here/run_node.mjs" "$out/$2.wasm") ;;
    wasm-interp) cmd=(wasm-interp "$out/$2.wasm" --run-all-exports) ;;
    wasm3) cmd=("$wasm3_bin" --func run "$out/$2.wasm") ;;
  esac
}

# The checksum an engine printed, or nothing. wasm-interp prints
# "run() => i64:N"; wasm3 "Result: N" (on stdout or stderr, by version);
# the others print the number on a line of its own.
checksum_of() { # engine, stdout file, stderr file
  if [ "$1" = wasm-interp ]; then
    sed -n 's/^run() => i64:\(-\{0,1\}[0-9][0-9]*\)$/\1/p' "$2" | tail -n 1
  elif [ "$1" = wasm3 ]; then
    cat "$2" "$3" | sed -n 's/^Result: \(-\{0,1\}[0-9][0-9]*\)$/\1/p' | tail -n 1
  else
    grep -E '^-?[0-9]+$' "$2" | tail -n 1
  fi
}

median() { # numbers... -> median
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ------------------------------------------------------------------- runs
timeout=${BENCH_TIMEOUT:-600}
declare -A med sum state note # key "workload engine"; med: median of the metric
declare -A med_user med_sys     # key "workload engine": median CPU seconds
declare -A compile_s            # workload -> seconds of `cis compile`, empty cache
# Reads timeit's "WALL STATUS USER SYS" into secs (the metric), status,
# user and sys.
timed() { # command...
  local wall
  read -r wall status user sys < <("$out/timeit" "$timeout" "$tmp/out" "$tmp/err" "$@")
  if [ "$metric" = wall ]; then
    secs=$wall
  else
    secs=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.6f", u + s }')
  fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0

for w in "${workloads[@]}"; do
  for e in "${engines[@]}"; do
    k="$w $e"
    if [ -n "${missing[$e]:-}" ]; then
      state[$k]=na
      continue
    fi
    n=$(runs_for "$e")
    case $n in
      '' | *[!0-9]* | 0)
        state[$k]=na
        missing[$e]="skipped (runs: '$n')"
        continue ;;
    esac
    if [ "$e" = wasm2c ] && [ -n "${w2c_fail[$w]:-}" ]; then
      state[$k]=fail
      note[$k]=${w2c_fail[$w]}
      printf '%-10s %-12s %s: %s\n' "$w" "$e" "${state[$k]}" "${note[$k]}" >&2
      continue
    fi
    times=() users=() syss=()
    state[$k]=ok
    if [ "$e" = cis-aot ]; then
      # Compile into an empty cache first, timed on its own: the runs below
      # start from the cached object, as a deployed skill does.
      rm -rf "$tmp/aot-home"
      set_cmd compile "$w"
      timed "${cmd[@]}"
      if [ "$status" = 0 ]; then
        compile_s[$w]=$secs
      else
        state[$k]=fail
        note[$k]="cis compile: exit $status: $(grep -m1 . "$tmp/err" || true)"
        printf '%-10s %-12s %s: %s\n' "$w" "$e" "${state[$k]}" "${note[$k]}" >&2
        continue
      fi
    fi
    set_cmd "$e" "$w"
    for ((i = 1; i <= n; i++)); do
      timed "${cmd[@]}"
      got=$(checksum_of "$e" "$tmp/out" "$tmp/err")
      if [ "$status" != 0 ] || [ -z "$got" ]; then
        why=$(grep -m1 . "$tmp/err" || true)
        [ -z "$why" ] && why=$(grep -m1 . "$tmp/out" || true)
        case $status in
          142) why="killed after ${timeout}s" ;;
          127) why="could not start ${cmd[0]}" ;;
        esac
        state[$k]=fail
        note[$k]="exit $status${why:+: $why}"
        break
      fi
      if [ -n "${sum[$k]:-}" ] && [ "${sum[$k]}" != "$got" ]; then
        state[$k]=unstable
        note[$k]="printed ${sum[$k]}, then $got"
        break
      fi
      sum[$k]=$got
      times+=("$secs") users+=("$user") syss+=("$sys")
    done
    if [ "${state[$k]}" = ok ]; then
      med[$k]=$(median "${times[@]}")
      med_user[$k]=$(median "${users[@]}")
      med_sys[$k]=$(median "${syss[@]}")
      printf '%-10s %-12s %8.3f s  (%d runs)  %s\n' "$w" "$e" "${med[$k]}" "$n" "${sum[$k]}" >&2
    else
      printf '%-10s %-12s %s: %s\n' "$w" "$e" "${state[$k]}" "${note[$k]}" >&2
    fi
  done

  # Every checksum must equal native's. A wrong answer is never a result.
  ref=${sum["$w native"]:-}
  for e in "${engines[@]}"; do
    k="$w $e"
    [ "${state[$k]}" = unstable ] && rc=1
    [ "${state[$k]}" = ok ] || continue
    if [ -n "$ref" ] && [ "${sum[$k]}" != "$ref" ]; then
      state[$k]=wrong
      note[$k]="checksum ${sum[$k]}, native ${ref}"
      echo "!!! CHECKSUM MISMATCH: $w on $e printed ${sum[$k]}, native printed $ref" >&2
      rc=1
    fi
  done
done

# ------------------------------------------------------------------ table
label() { # engine -> column heading
  case $1 in
    native) echo "native (s)" ;;
    cis-aot) echo "cis (compiled)" ;;
    cis) echo "cis (interp)" ;;
    *) echo "$1" ;;
  esac
}
cell() { # workload engine -> table cell
  local k="$1 $2"
  case ${state[$k]} in
    ok)
      if [ "$2" = native ]; then
        printf '%.3f' "${med[$k]}"
      elif [ "${state["$1 native"]}" = ok ]; then
        awk -v a="${med[$k]}" -v b="${med["$1 native"]}" 'BEGIN { printf "%.2fx", a / b }'
      else
        printf '%.3fs' "${med[$k]}"
      fi ;;
    na) printf 'n/a' ;;
    fail) printf 'failed' ;;
    wrong) printf 'WRONG' ;;
    unstable) printf 'UNSTABLE' ;;
  esac
}
geomean() { # engine -> "G.GGx" or "G.GGx (k/n)" over the workloads it ran
  local e=$1 w logs=() total=0
  for w in "${workloads[@]}"; do
    total=$((total + 1))
    if [ "${state["$w $e"]}" != ok ] || [ "${state["$w native"]}" != ok ]; then continue; fi
    logs+=("${med["$w $e"]} ${med["$w native"]}")
  done
  if [ ${#logs[@]} -eq 0 ]; then printf -- '-'; return; fi
  printf '%s\n' "${logs[@]}" | awk -v total="$total" -v native="$([ "$e" = native ] && echo 1)" '
    { s += log($1 / $2); n++ }
    END {
      if (native) printf "1.00x"; else printf "%.2fx", exp(s / n)
      if (n < total) printf " (%d/%d)", n, total
    }'
}

rows=()
header=("workload")
for e in "${engines[@]}"; do header+=("$(label "$e")"); done
for w in "${workloads[@]}"; do
  row=("$w")
  for e in "${engines[@]}"; do row+=("$(cell "$w" "$e")"); done
  rows+=("$(IFS=$'\t'; echo "${row[*]}")")
done
row=("geomean")
for e in "${engines[@]}"; do row+=("$(geomean "$e")"); done
rows+=("$(IFS=$'\t'; echo "${row[*]}")")

runs_line="runs: native $(runs_for native)"
for e in "${engines[@]}"; do [ "$e" = native ] || runs_line+=", $e $(runs_for "$e")"; done
if [ "$metric" = cpu ]; then
  what="CPU time (user + sys)"
else
  what="wall time"
fi
caption="Median $what per workload: native in seconds, other engines as a
ratio to native (lower is better). Times are whole processes, so the ratios
include process start-up (node's is tens of milliseconds). $runs_line."

{
  echo
  echo "$caption"
  echo
  printf '%s\n' "$(IFS=$'\t'; echo "${header[*]}")" "${rows[@]}" |
    columns
} | tee "$tmp/table"

notes=()
for w in "${workloads[@]}"; do
  for e in "${engines[@]}"; do
    k="$w $e"
    case ${state[$k]} in fail | wrong | unstable) notes+=("$w on $e: ${state[$k]}: ${note[$k]}") ;; esac
  done
done
for e in "${engines[@]}"; do
  [ -n "${missing[$e]:-}" ] && notes+=("$e: n/a: ${missing[$e]}")
done
if [ ${#notes[@]} -gt 0 ]; then
  echo
  printf '%s\n' "${notes[@]}"
fi
# Compile time of the compiled engine, apart from its column.
compile_lines=()
for w in "${workloads[@]}"; do
  [ -n "${compile_s[$w]:-}" ] || continue
  kb=$(awk -v b="$(stat -c %s "$out/$w.wasm")" 'BEGIN { printf "%.1f", b / 1024 }')
  compile_lines+=("$(awk -v w="$w" -v s="${compile_s[$w]}" -v kb="$kb" -v m="$metric" \
    'BEGIN { printf "%s: %.2f s%s for %s KB of wasm (%.3f s/KB)", w, s, m == "cpu" ? " of CPU" : "", kb, s / kb }')")
done
if [ ${#compile_lines[@]} -gt 0 ]; then
  echo
  echo "cis compile (generate C, cc, store; empty cache), not in the cis (compiled) column:"
  printf '  %s\n' "${compile_lines[@]}"
fi
# The interpreter against wasm3, workload by workload, when both ran.
w3_lines=()
w3_logs=()
for w in "${workloads[@]}"; do
  if [ "${state["$w cis"]:-}" != ok ] || [ "${state["$w wasm3"]:-}" != ok ]; then continue; fi
  w3_lines+=("$(awk -v w="$w" -v a="${med["$w cis"]}" -v b="${med["$w wasm3"]}" 'BEGIN { printf "%s: %.2fx", w, a / b }')")
  w3_logs+=("${med["$w cis"]} ${med["$w wasm3"]}")
done
if [ ${#w3_lines[@]} -gt 0 ]; then
  w3_lines+=("geomean: $(printf '%s\n' "${w3_logs[@]}" | awk '{ s += log($1 / $2); n++ } END { printf "%.2fx (%d workloads)", exp(s / n), n }')")
  echo
  echo "cis (interp) / wasm3, $what (lower is better):"
  printf '  %s\n' "${w3_lines[@]}"
fi
if [ $rc -ne 0 ]; then
  echo
  echo "!!! CHECKSUM MISMATCH: some engine computed a different result (see above)."
  echo "!!! Its times are not shown: a wrong answer is not a benchmark result."
fi

# ------------------------------------------------------------- markdown
{
  echo "# cis benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'),"
  echo "$(nproc 2>/dev/null) cores; $("$cc_native" --version | head -n1); $("$cc_wasm" --version | head -n1);"
  echo "node $(node --version 2>/dev/null || echo n/a); wasm-interp and wasm2c $(wasm-interp --version 2>/dev/null || echo n/a);"
  echo "wasm3 $("$wasm3_bin" --version 2>/dev/null | head -n1 || echo n/a);"
  echo "cis $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') ($cis_bin)."
  echo
  echo "$caption" | tr '\n' ' ' | sed 's/ $//'
  echo
  echo
  hdr=$(IFS=$'\t'; echo "${header[*]}")
  printf '| %s |\n' "${hdr//$'\t'/ | }"
  printf '|%s\n' "$(for _ in "${header[@]}"; do printf -- '---|'; done)"
  for r in "${rows[@]}"; do printf '| %s |\n' "${r//$'\t'/ | }"; done
  echo
  echo "Median seconds per engine ($what):"
  echo
  printf '| workload |%s\n' "$(for e in "${engines[@]}"; do printf ' %s |' "$e"; done)"
  printf '|---|%s\n' "$(for _ in "${engines[@]}"; do printf -- '---|'; done)"
  for w in "${workloads[@]}"; do
    printf '| %s |' "$w"
    for e in "${engines[@]}"; do
      if [ "${state["$w $e"]}" = ok ]; then printf ' %.3f |' "${med["$w $e"]}"; else printf ' %s |' "$(cell "$w" "$e")"; fi
    done
    echo
  done
  echo
  echo "Median user / system CPU seconds per engine (each the median of its own runs):"
  echo
  printf '| workload |%s\n' "$(for e in "${engines[@]}"; do printf ' %s |' "$e"; done)"
  printf '|---|%s\n' "$(for _ in "${engines[@]}"; do printf -- '---|'; done)"
  for w in "${workloads[@]}"; do
    printf '| %s |' "$w"
    for e in "${engines[@]}"; do
      if [ "${state["$w $e"]}" = ok ]; then
        printf ' %.3f / %.3f |' "${med_user["$w $e"]}" "${med_sys["$w $e"]}"
      else
        printf ' %s |' "$(cell "$w" "$e")"
      fi
    done
    echo
  done
  if [ ${#notes[@]} -gt 0 ]; then
    echo
    printf -- '- %s\n' "${notes[@]}"
  fi
  if [ ${#compile_lines[@]} -gt 0 ]; then
    echo
    echo "cis compile (generate C, cc, store; empty cache), not in the cis (compiled) column:"
    echo
    printf -- '- %s\n' "${compile_lines[@]}"
  fi
  if [ ${#w3_lines[@]} -gt 0 ]; then
    echo
    echo "cis (interp) / wasm3, $what (lower is better):"
    echo
    printf -- '- %s\n' "${w3_lines[@]}"
  fi
  [ $rc -ne 0 ] && printf '\n**Checksum mismatch**: see the notes above.\n'
} >"$out/results.md"
echo
echo "(written to ${out#"$root"/}/results.md)"
exit $rc
