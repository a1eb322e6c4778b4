#!/usr/bin/env bash
# ab.sh -- two revisions of cis side by side on the service benchmarks.
#
# This file implements the A/B run that shows a change costs nothing
# (docs/bench.md, "Two revisions, A/B"): it checks out revisions A and B
# into worktrees of their own, configures an optimised build folder in
# each, then, ROUNDS times, runs every benchmark named on both in turns
# (A B, then B A the next round, so a trend in the machine's load falls on
# both alike). Each revision runs its own benchmark scripts and programs
# (they follow its API), in its own optimised build folder (-b). Each
# run's markdown table is kept; at the end every
# numeric cell of each table is compared: the median of A's rounds, of
# B's, and B / A.
#
#   bench/ab.sh [-r ROUNDS] [-d DIR] [-p PATCH] REV_A REV_B [BENCH...]
#
#   REV_A REV_B  any revisions git names (a commit, a tag, HEAD~3)
#   BENCH        warm   bench/warm.sh: warm call, calls/s, host call
#                skill  bench/skill.sh: host calls (log, kv_get on SQLite),
#                       cold and warm starts
#                fs     bench/fs.sh -n 1: the filesystem's phases on every
#                       backend, its small-file operations and their
#                       statements
#                serve  bench/serve_load.sh -r 1: calls/s and latency of
#                       `cis serve` under load, clean and with stuck calls,
#                       its memory, and the same calls in process
#                (default: all four)
#   -r ROUNDS    rounds (default 3, at most 20)
#   -d DIR       where the worktrees, builds and tables go (default
#                bench/out/ab); kept between runs, so a second run with
#                the same revisions and patches builds nothing. The two
#                worktrees stay registered: remove DIR, then
#                `git worktree prune`
#   -p PATCH     a patch (git diff) applied, before building, to each
#                checkout it applies to: a fix of a benchmark's own build
#                that came after the older revision (may be given more
#                than once; one per revision's text of the file)
#
# It prints one table per benchmark: cell (row / column of the
# benchmark's own table), A, B, B / A; and writes them to
# bench/out/ab.md. Cells that are not numbers are left out; a ratio's
# meaning (higher better or worse) is the cell's own.
#
# Exit status: 0 when every run finished; 1 when a benchmark run failed;
# 2 on a usage or build error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$here/out
rounds=3
dir=$out/ab
patches=()
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "r:d:p:h" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    d) dir=$OPTARG ;;
    p) [ -f "$OPTARG" ] || { echo "ab.sh: no patch $OPTARG" >&2; exit 2; }
       patches+=("$(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG")") ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
case $rounds in '' | *[!0-9]* | 0) echo "ab.sh: -r wants a number from 1 to 20" >&2; exit 2 ;; esac
[ "$rounds" -le 20 ] || { echo "ab.sh: -r wants a number from 1 to 20" >&2; exit 2; }
[ $# -ge 2 ] || { usage >&2; exit 2; }
rev_a=$1 rev_b=$2
shift 2
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(warm skill fs serve)
for b in "${benches[@]}"; do
  case $b in warm | skill | fs | serve) ;;
    *) echo "ab.sh: unknown benchmark '$b' (warm, skill, fs, serve)" >&2; exit 2 ;;
  esac
done
command -v python3 >/dev/null 2>&1 || { echo "ab.sh: python3 is needed for the tables" >&2; exit 2; }
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac
mkdir -p "$dir/runs" "$out"

# ------------------------------------------------------------- worktrees
commit_a=$(git -C "$root" rev-parse --verify -q "$rev_a^{commit}") ||
  { echo "ab.sh: '$rev_a' names no commit" >&2; exit 2; }
commit_b=$(git -C "$root" rev-parse --verify -q "$rev_b^{commit}") ||
  { echo "ab.sh: '$rev_b' names no commit" >&2; exit 2; }

# Checks out commit into DIR/label/src, applies the patches it lacks, and
# configures DIR/label/build from it; a build folder made from another
# commit or other patches is made again.
prepare() { # label commit
  local src=$dir/$1/src build=$dir/$1/build stamp
  stamp="$2 $(cat "${patches[@]}" /dev/null | cksum)"
  if [ "$(git -C "$src" rev-parse HEAD 2>/dev/null)" != "$2" ]; then
    git -C "$root" worktree remove --force "$src" >/dev/null 2>&1
    rm -rf "$src"
    git -C "$root" worktree prune >/dev/null 2>&1
    git -C "$root" worktree add --detach "$src" "$2" >/dev/null 2>&1 ||
      { echo "ab.sh: cannot check out $2 into $src" >&2; exit 2; }
  fi
  for p in "${patches[@]}"; do
    # Applied where it applies (once: then it no longer does): the same
    # fix may need one patch per revision's text of the file.
    if git -C "$src" apply --check "$p" 2>/dev/null; then
      git -C "$src" apply "$p" || exit 2
      echo "$1: applied $(basename "$p")"
    fi
  done
  if [ "$(cat "$dir/$1/stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$build"
    echo "$stamp" >"$dir/$1/stamp"
  fi
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$dir/$1.configure.log" 2>&1 ||
      { echo "ab.sh: configuring $1 failed (see $dir/$1.configure.log)" >&2; exit 2; }
  fi
}
prepare a "$commit_a"
prepare b "$commit_b"
echo "A = $(git -C "$root" log -1 --format='%h %s' "$commit_a")"
echo "B = $(git -C "$root" log -1 --format='%h %s' "$commit_b")"

# ------------------------------------------------------------------- runs
# One run of benchmark on label's build; its table goes to runs/.
status=0
run_one() { # bench label round
  local bench=$dir/$2/src/bench build=$dir/$2/build md log=$dir/runs/$1.$2.$3.log
  # Each revision its own compiled-code cache (its format may differ),
  # kept across rounds: the user's would serve one revision's entries
  # warm and the other's cold.
  export CIS_AOT_CACHE=$dir/$2/aot-cache
  local cmd
  case $1 in
    warm) md=warm.md cmd=("$bench/warm.sh" -b "$build") ;;
    skill) md=skill.md cmd=("$bench/skill.sh" -b "$build") ;;
    fs) md=fs.md cmd=("$bench/fs.sh" -n 1 -b "$build") ;;
    serve) md=serve_load.md cmd=("$bench/serve_load.sh" -r 1 -b "$build") ;;
  esac
  rm -f "$bench/out/$md" # a table left by an earlier run is not this run's
  "${cmd[@]}" >"$log" 2>&1
  local rc=$?
  # Exit 1 with a table: a bound the benchmark checks did not hold (its
  # table is still the run's figures). Otherwise no table is a failure.
  if [ ! -f "$bench/out/$md" ] || { [ $rc -ne 0 ] && [ $rc -ne 1 ]; }; then
    echo "  $1 on $2, round $3: failed (exit $rc, see $log)" >&2
    status=1
    return
  fi
  mv "$bench/out/$md" "$dir/runs/$1.$2.$3.md"
  if [ $rc -eq 0 ]; then
    echo "  $1 on $2, round $3: done" >&2
  else
    echo "  $1 on $2, round $3: done, a bound it checks did not hold (see $log)" >&2
  fi
}

for ((r = 1; r <= rounds; r++)); do
  order="a b"
  [ $((r % 2)) -eq 0 ] && order="b a"
  for b in "${benches[@]}"; do
    for l in $order; do run_one "$b" "$l" "$r"; done
  done
done

# ----------------------------------------------------------------- tables
python3 - "$dir/runs" "$rounds" "${benches[@]}" >"$out/ab.md" <<'PY' || status=1
import re, statistics, sys
runs, rounds, benches = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
num = re.compile(r'-?\d+(?:\.\d+)?')

def cells(path):
    """(row / column) -> first number of every cell of the file's tables."""
    found, header = {}, None
    try:
        lines = open(path, encoding='utf-8').read().splitlines()
    except OSError:
        return found
    for line in lines:
        if not line.startswith('|'):
            header = None
            continue
        parts = [p.strip() for p in line.strip().strip('|').split('|')]
        if header is None:
            header = parts
            continue
        if all(set(p) <= set('-: ') for p in parts):
            continue
        for i, p in enumerate(parts[1:], 1):
            m = num.search(p.replace(',', ''))
            if m and i < len(header):
                found.setdefault(f'{parts[0]} / {header[i]}', float(m.group()))
    return found

for b in benches:
    per = {'a': [], 'b': []}
    for l in per:
        for r in range(1, rounds + 1):
            per[l].append(cells(f'{runs}/{b}.{l}.{r}.md'))
    keys = [k for k in per['a'][0] if any(k in c for c in per['b'])] if per['a'] else []
    print(f'### {b}\n')
    print('| cell | A | B | B / A |')
    print('|---|---:|---:|---:|')
    for k in keys:
        va = [c[k] for c in per['a'] if k in c]
        vb = [c[k] for c in per['b'] if k in c]
        if not va or not vb:
            continue
        ma, mb = statistics.median(va), statistics.median(vb)
        ratio = f'{mb / ma:.2f}' if ma else 'n/a'
        print(f'| {k} | {ma:g} | {mb:g} | {ratio} |')
    print()
PY
{
  echo "A/B of $(git -C "$root" rev-parse --short "$commit_a") (A) and $(git -C "$root" rev-parse --short "$commit_b") (B), $rounds rounds, medians; $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
} | cat - "$out/ab.md" >"$out/ab.md.tmp" && mv "$out/ab.md.tmp" "$out/ab.md"
cat "$out/ab.md"
echo "(written to ${out#"$root"/}/ab.md)"
exit $status
