#!/usr/bin/env bash
# fs.sh -- filesystem benchmark: cis's VFS backends against the native
# program on the host filesystem.
#
# This file implements the driver of the filesystem benchmark (docs/bench.md,
# "Filesystem"). It builds bench/fs/fsbench.c natively (gcc -O2) and for
# wasm32-wasi (clang against wasi-libc), and bench/fs/fs_host.c (the CMake
# target bench_fs_host, linked against libcis) in a release build folder. Then, N times round, it runs
# the native program on a fresh directory of the host filesystem and the
# wasm program under fs_host on each backend (mem, host, sqlite, postgres),
# checks that every run printed native's checksum, and prints the median
# time of each phase: native in ms, each backend as a ratio to native (its
# ms in brackets). Then bench/fs/fs_ops.c, linked with libcis.a, makes the
# small-file operations straight through the VFS API on mem and each
# database and prints per operation its time and the statements and
# commits it ran (a figure the machine's load does not move); on the
# databases also inside call scopes (fs_ops -c), as a skill call makes them. The program times its phases itself (CLOCK_MONOTONIC),
# so process and engine start-up are not counted. The table is also written
# as markdown to bench/out/fs.md.
#
#   bench/fs.sh [-n RUNS] [-w WARMUP] [-B BACKENDS] [-b BUILD_DIR] [-c CHUNK_KIB] [-S SYNC] [-D MS]
#
#   -n RUNS       repetitions of every backend (default 3), interleaved:
#                 native, mem, host, ... then again
#   -w WARMUP     rounds run first and not counted (default 1): a new
#                 PostgreSQL server is several times slower on its first
#                 run. Their checksums are checked all the same.
#   -B BACKENDS   comma-separated subset of mem,host,sqlite,postgres,
#                 sqlite-call,postgres-call (default: mem,host,sqlite,postgres;
#                 native always runs, as the baseline). sqlite and postgres
#                 commit each VFS call's changes (a file's create + write +
#                 close as one commit), as `cis run` does by default;
#                 sqlite-call and postgres-call run each phase as one call
#                 scope (fs_host -C call), as a skill call runs, its commit
#                 counted in the phase
#   -b BUILD_DIR  optimised build folder for libcis (default build-bench,
#                 shared with bench/skill.sh); configured with
#                 CMAKE_BUILD_TYPE=RelWithDebInfo (-O2 -g, the project's
#                 default and the native program's -O2) and without tests
#                 when it does not exist yet. Only the libraries fs_host
#                 needs are built. A Debug folder or one built with
#                 CIS_SANITIZE=ON is refused.
#   -c CHUNK_KIB  chunk of the 64 MiB file's writes and reads (default 1024)
#   -D MS         every fsync/fdatasync of the programs run sleeps MS ms
#                 first (bench/fs/slow_sync.c, LD_PRELOAD), a slow disk on
#                 any machine; the fdatasync line above the table shows it
#                 (PostgreSQL's server is not slowed)
#   -S SYNC       durability of the database backends' commits: normal (the
#                 default: SQLite WAL synchronous=NORMAL, PostgreSQL
#                 synchronous_commit=off) or full (every commit waits for
#                 the disk's flush, so the figures follow its fdatasync)
#
# postgres runs on a private server on 127.0.0.1 started with
# tests/support/pg.sh and stopped at the end; without PostgreSQL's server
# binaries it is skipped (n/a). Each run gets a fresh directory, SQLite
# file or PostgreSQL tenant.
#
# Environment:
#   FSBENCH_TMP      where the native and host directories and the SQLite
#                    files go (default $TMPDIR or /tmp): keep it on one
#                    filesystem, it is what native is measured on
#   FSBENCH_TIMEOUT  seconds before one run is killed (default 600)
#   CC_NATIVE CC_WASM WASI_SYSROOT
#                    compilers and wasi-libc sysroot (gcc, clang, /usr)
#   PG_BINDIR        PostgreSQL server binaries (see tests/support/pg.sh)
#
# Exit status: 0 when every run that finished printed native's checksum;
# 1 on a checksum disagreement (or a failed native run); 2 on a usage or
# build error. A backend that fails is reported, not fatal.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$here/out
build=$root/build-bench
runs=3
warm=1
backends_arg=mem,host,sqlite,postgres
chunk=
sync=normal
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
slow_ms=
while getopts "n:w:B:b:c:S:D:h" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    w) warm=$OPTARG ;;
    B) backends_arg=$OPTARG ;;
    b) build=$OPTARG ;;
    c) chunk=$OPTARG ;;
    S) sync=$OPTARG ;;
    D) slow_ms=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
case $runs in '' | *[!0-9]* | 0) echo "fs.sh: -n wants a positive number" >&2; exit 2 ;; esac
case $warm in '' | *[!0-9]*) echo "fs.sh: -w wants a number" >&2; exit 2 ;; esac
case $chunk in *[!0-9]*) echo "fs.sh: -c wants a number of KiB" >&2; exit 2 ;; esac
case $sync in normal | full) ;; *) echo "fs.sh: -S wants normal or full" >&2; exit 2 ;; esac
case $build in /*) ;; *) build=$(pwd)/$build ;; esac

# Backends, in table order; native first because it is the baseline.
backends=(native)
IFS=, read -r -a wanted <<<"$backends_arg"
for w in "${wanted[@]}"; do
  case $w in mem | host | sqlite | postgres | sqlite-call | postgres-call) ;;
    *) echo "fs.sh: unknown backend '$w' (mem, host, sqlite, postgres, sqlite-call, postgres-call)" >&2; exit 2 ;;
  esac
done
for b in mem host sqlite postgres sqlite-call postgres-call; do
  for w in "${wanted[@]}"; do [ "$w" = "$b" ] && { backends+=("$b"); break; }; done
done

# ------------------------------------------------------------------ build
cc_native=${CC_NATIVE:-gcc}
cc_wasm=${CC_WASM:-clang}
sysroot=${WASI_SYSROOT:-/usr}
mkdir -p "$out"
fail_build() { # what, log
  echo "fs.sh: building $1 failed (see $2):" >&2
  tail -n 20 "$2" >&2
  exit 2
}
. "$here/serve/lib.sh"
bench_build_folder fs.sh "$root" "$build"
bflags=$(sed -n "s/^CMAKE_C_FLAGS_${btype^^}:STRING=//p" "$build/CMakeCache.txt")
# fs_host is a CMake target (bench/CMakeLists.txt) linked against libcis,
# so it follows the library's own split into parts.
cmake --build "$build" -j2 --target bench_fs_host >"$out/fs-build.log" 2>&1 ||
  fail_build fs_host "$out/fs-build.log"
cp "$build/bench/bench_fs_host" "$out/fs_host" || exit 2
"$cc_native" -O2 -Wall -Wextra -Werror -o "$out/fsbench" "$here/fs/fsbench.c" \
  2>"$out/fsbench.log" || fail_build "fsbench (native)" "$out/fsbench.log"
"$cc_wasm" --target=wasm32-wasi --sysroot="$sysroot" -O2 -Wall -Wextra -Werror \
  -o "$out/fsbench.wasm" "$here/fs/fsbench.c" 2>"$out/fsbench.wasm.log" ||
  fail_build "fsbench.wasm" "$out/fsbench.wasm.log"
# fs_ops reads the database backend's statement counters, which only
# libcis.a carries (fs_host's build made it), and times PostgreSQL's
# smallest write transaction with libcis's own client (src/common).
# shellcheck disable=SC2046 # pkg-config's words are meant to split
"$cc_native" -O2 -Wall -Wextra -Werror -I"$root/include" -I"$root/src" $(pkg-config --cflags libpq) \
  -o "$out/fs_ops" "$here/fs/fs_ops.c" \
  "$build/libcis.a" $(pkg-config --libs sqlite3 libcjson) -pthread -lm -ldl \
  2>"$out/fs_ops.log" || fail_build fs_ops "$out/fs_ops.log"

# ------------------------------------------------------------------ setup
if [ -n "$slow_ms" ]; then
  case $slow_ms in *[!0-9]*) echo "fs.sh: -D takes milliseconds" >&2; exit 2 ;; esac
  "$cc_native" -O2 -Wall -Wextra -Werror -shared -fPIC -o "$out/slow_sync.so" \
    "$here/fs/slow_sync.c" -ldl 2>"$out/slow_sync.log" || fail_build slow_sync "$out/slow_sync.log"
  export LD_PRELOAD="$out/slow_sync.so" FSBENCH_SYNC_DELAY_MS="$slow_ms"
fi
timeout=${FSBENCH_TIMEOUT:-600}
tmpbase=${FSBENCH_TMP:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$tmpbase/cis-fsbench.XXXXXX") || exit 2
# On ext4 without a journal (as on the machine of docs/bench.md), a new
# file's inode skips every free inode of its block group that was deleted
# less than a minute ago (six when its inode table block is still dirty),
# with a buffer-cache lookup for each: 1000 creates took 10 ms in a quiet
# group and up to 350 ms in the group of /tmp, where tests and builds keep
# deleting files, or in a group where the last run deleted its 1000.
# Marked as a top directory (chattr +T), $work has each run directory made
# under it placed by Orlov's allocator, which starts from a hash of the
# directory's name: random names (mktemp) give each run a group of its
# own, where fixed ones would land every run of every invocation in the
# same groups. So native is measured on the filesystem, not on its
# neighbours or its own past.
chattr +T "$work" 2>/dev/null || true
pgdir=
child= # the run going on, if any
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  [ -n "$pgdir" ] && { "$root/tests/support/pg.sh" stop "$pgdir" >/dev/null 2>&1; rm -rf "$pgdir"; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A state note times # key "backend" / "backend phase"
for b in "${backends[@]}"; do state[$b]=ok; done

if [[ " ${backends[*]} " == *" postgres "* || " ${backends[*]} " == *" postgres-call "* ]]; then
  # Its own folder: pg.sh hands it to the postgres user, which $work is not.
  pgdir=$(mktemp -d "${TMPDIR:-/tmp}/cis-fsbench-pg.XXXXXX") || exit 2
  pgrc=0
  "$root/tests/support/pg.sh" start "$pgdir" >"$work/pg.log" 2>&1 || pgrc=$?
  for b in postgres postgres-call; do
    [ -n "${state[$b]:-}" ] || continue
    if [ $pgrc -eq 77 ]; then
      state[$b]=na
      note[$b]=$(sed -n 's/^pg\.sh: SKIPPED: //p' "$work/pg.log" | head -n 1)
    elif [ $pgrc -ne 0 ]; then
      state[$b]=fail
      note[$b]="the PostgreSQL server did not start: $(grep -m1 . "$work/pg.log")"
    fi
  done
  if [ $pgrc -eq 0 ]; then
    connstr=$(cat "$pgdir/connstr")
  fi
fi

# Sets cmd to the command line of run i of backend b, and place to the
# directory it works in (removed after the run), if any.
set_cmd() { # backend run
  local b=$1 i=$2 c=()
  place=
  [ -n "$chunk" ] && c=(-c "$chunk")
  case $b in
    native) place=$(mktemp -d "$work/native.XXXXXX") || return 1; cmd=("$out/fsbench" "$place" ${chunk:+"$chunk"}) ;;
    mem) cmd=("$out/fs_host" "${c[@]}" "$out/fsbench.wasm" mem) ;;
    host) place=$(mktemp -d "$work/host.XXXXXX") || return 1; cmd=("$out/fs_host" "${c[@]}" "$out/fsbench.wasm" host "$place") ;;
    sqlite) place=$(mktemp -d "$work/sqlite.XXXXXX") || return 1; cmd=("$out/fs_host" "${c[@]}" -s "$sync" "$out/fsbench.wasm" "db:sqlite:$place/fs.db") ;;
    postgres) cmd=("$out/fs_host" "${c[@]}" -s "$sync" -t "fsbench-$$-$i" "$out/fsbench.wasm" "db:postgres:$connstr") ;;
    sqlite-call) place=$(mktemp -d "$work/sqlite.XXXXXX") || return 1; cmd=("$out/fs_host" "${c[@]}" -s "$sync" -C call "$out/fsbench.wasm" "db:sqlite:$place/fs.db") ;;
    postgres-call) cmd=("$out/fs_host" "${c[@]}" -s "$sync" -C call -t "fsbench-call-$$-$i" "$out/fsbench.wasm" "db:postgres:$connstr") ;;
  esac
}

phases=(small-write small-read big-write big-read delete)

# What the machine was doing: the database backends wait for a disk flush
# on every commit, so their figures follow its latency, and everything
# follows the load of a shared machine. Measured before and after.
conditions() {
  local s
  s=$("$out/fsbench" -s "$work" 2>/dev/null | sed -n 's/^fdatasync-ms \([0-9.]*\) \([0-9.]*\)$/\1 ms (p90 \2)/p')
  printf 'load %s, 4 KiB write+fdatasync %s' "$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)" "${s:-?}"
}
before=$(conditions)

# ------------------------------------------------------------------- runs
rc=0
ref=
for ((i = 1 - warm; i <= runs; i++)); do
  if [ $i -le 0 ]; then tag="warm-up"; else tag="run $i/$runs"; fi
  for b in "${backends[@]}"; do
    [ "${state[$b]}" = ok ] || continue
    set_cmd "$b" "$i" || { echo "fs.sh: cannot make a directory in $work" >&2; exit 2; }
    # The kernel writes data back late: let what the build and the last
    # run left be written now, not during this run.
    sync -f "$work" 2>/dev/null || sync
    status=0
    # In the background, so that an INT or TERM ends the script at once
    # (bash runs a trap only once its foreground command has finished).
    timeout "$timeout" "${cmd[@]}" >"$work/out" 2>"$work/err" &
    child=$!
    wait "$child" || status=$?
    child=
    [ -n "$place" ] && rm -rf "$place"
    got=$(sed -n 's/^checksum \([0-9a-f]\{16\}\)$/\1/p' "$work/out")
    line=()
    lacks=
    for p in "${phases[@]}"; do
      ms=$(sed -n "s/^phase $p \([0-9.][0-9.]*\)$/\1/p" "$work/out")
      [ -n "$ms" ] || { lacks="printed no time for $p"; break; }
      # A phase run as one call (-C call) counts its commit too.
      commit=$(sed -n "s/^phase commit-$p \([0-9.][0-9.]*\)$/\1/p" "$work/out")
      [ -n "$commit" ] && ms=$(awk -v a="$ms" -v b="$commit" 'BEGIN { print a + b }')
      line+=("$ms")
    done
    [ -z "$got" ] && [ -z "$lacks" ] && lacks="printed no checksum"
    if [ "$status" != 0 ] || [ -n "$lacks" ]; then
      why=$(grep -v '^fs_host: .*: load ' "$work/err" | grep -m1 . || true)
      [ "$status" = 124 ] && why="killed after ${timeout}s"
      [ "$status" = 0 ] && why=$lacks
      state[$b]=fail
      note[$b]="$tag: exit $status${why:+: $why}"
      [ "$b" = native ] && rc=1
      printf '%-9s %-8s failed: %s\n' "$tag" "$b" "${note[$b]}" >&2
      continue
    fi
    [ "$b" = native ] && [ -z "$ref" ] && ref=$got
    if [ -n "$ref" ] && [ "$got" != "$ref" ]; then
      state[$b]=wrong
      note[$b]="$tag: checksum $got, native $ref"
      echo "!!! CHECKSUM MISMATCH: $b printed $got, native printed $ref" >&2
      rc=1
      continue
    fi
    if [ $i -gt 0 ]; then
      for k in "${!phases[@]}"; do times["$b ${phases[$k]}"]+="${line[$k]} "; done
    fi
    printf '%-9s %-8s %s  checksum %s\n' "$tag" "$b" \
      "$(for k in "${!phases[@]}"; do printf '%s %s ms  ' "${phases[$k]}" "${line[$k]}"; done)" "$got" >&2
  done
done

after=$(conditions)

# ------------------------------------------------------------------ table
median() { # numbers... -> median
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# Rows of the table: a label and the phases whose per-run sum it shows.
row_labels=("1000 x 4 KiB write" "1000 x 4 KiB read" "1000 x 4 KiB write+read"
  "64 MiB write" "64 MiB read" "64 MiB write+read" "delete all")
row_phases=("small-write" "small-read" "small-write small-read"
  "big-write" "big-read" "big-write big-read" "delete")
declare -A med range # "backend row" -> median ms; "min-max" ms
for b in "${backends[@]}"; do
  [ "${state[$b]}" = ok ] || continue
  for r in "${!row_labels[@]}"; do
    read -r -a ps <<<"${row_phases[$r]}"
    sums=()
    for ((j = 0; j < runs; j++)); do
      s=0
      for p in "${ps[@]}"; do
        read -r -a v <<<"${times["$b $p"]}"
        s=$(awk -v a="$s" -v b="${v[$j]}" 'BEGIN { print a + b }')
      done
      sums+=("$s")
    done
    med["$b $r"]=$(median "${sums[@]}")
    range["$b $r"]=$(printf '%s\n' "${sums[@]}" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
      END { printf (hi < 100 ? "%.1f-%.1f" : "%.0f-%.0f"), lo, hi }')
  done
done

cell() { # backend row -> table cell
  local b=$1 r=$2
  case ${state[$b]} in
    ok)
      if [ "$b" = native ]; then
        printf '%.1f' "${med["$b $r"]}"
      elif [ "${state[native]}" = ok ]; then
        awk -v a="${med["$b $r"]}" -v n="${med["native $r"]}" 'BEGIN { printf "%.2fx (%.0f)", a / n, a }'
      else
        printf '%.1f ms' "${med["$b $r"]}"
      fi ;;
    na) printf 'n/a' ;;
    fail) printf 'failed' ;;
    wrong) printf 'WRONG' ;;
  esac
}
header=("phase" "native (ms)")
for b in "${backends[@]:1}"; do header+=("$b"); done
rows=()
spread=()
for r in "${!row_labels[@]}"; do
  row=("${row_labels[$r]}")
  for b in "${backends[@]}"; do row+=("$(cell "$b" "$r")"); done
  rows+=("$(IFS=$'\t'; echo "${row[*]}")")
  row=("${row_labels[$r]}")
  for b in "${backends[@]}"; do
    if [ "${state[$b]}" = ok ]; then row+=("${range["$b $r"]}"); else row+=("$(cell "$b" "$r")"); fi
  done
  spread+=("$(IFS=$'\t'; echo "${row[*]}")")
done
header2=("phase" "native")
for b in "${backends[@]:1}"; do header2+=("$b"); done
spread_caption="Fastest and slowest of the $runs runs, in ms:"

# Prints tab-separated rows, the first a header, as an aligned text table.
text_table() {
  awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > wd[i]) wd[i] = length($i) }
                if (NF > nf) nf = NF }
    END { for (r = 1; r <= NR; r++) { line = ""
            for (i = 1; i <= nf; i++)
              line = line (i == 1 ? sprintf("%-" wd[i] "s", c[r, i]) : sprintf("  %" wd[i] "s", c[r, i]))
            print line
            if (r == 1) { line = ""; for (i = 1; i <= nf; i++) { d = sprintf("%" wd[i] "s", ""); gsub(/ /, "-", d); line = line (i == 1 ? d : "  " d) }
                          print line } } }'
}
# The same as a markdown table.
md_table() {
  awk -F'\t' '{ line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
                if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line "---|"; print line } }'
}
caption="Median time of each phase over $runs runs (after $warm warm-up), measured inside the program:
native in ms on $(df -T "$tmpbase" 2>/dev/null | awk 'NR == 2 { print $2 }') ($tmpbase), each cis backend as a ratio to native
(lower is better) with its median ms in brackets. wasm on cis's interpreter; database commits sync=$sync.
Before: $before; after: $after."

{
  echo
  echo "$caption"
  echo
  printf '%s\n' "$(IFS=$'\t'; echo "${header[*]}")" "${rows[@]}" | text_table
  echo
  echo "$spread_caption"
  echo
  printf '%s\n' "$(IFS=$'\t'; echo "${header2[*]}")" "${spread[@]}" | text_table
}

notes=()
for b in "${backends[@]}"; do
  case ${state[$b]} in
    na) notes+=("$b: n/a: ${note[$b]:-skipped}") ;;
    fail | wrong) notes+=("$b: ${state[$b]}: ${note[$b]}") ;;
  esac
done
if [ ${#notes[@]} -gt 0 ]; then
  echo
  printf '%s\n' "${notes[@]}"
fi
if [ $rc -ne 0 ] && [ "${state[native]}" = ok ]; then
  echo
  echo "!!! CHECKSUM MISMATCH: some backend read back different data (see above)."
fi

# ---------------------------------------------------------- per operation
# The small-file operations straight through the VFS API (bench/fs/fs_ops.c),
# once per backend: mean µs of one operation, and on the databases the
# statements and commits per operation, which do not depend on the load.
# The databases run a second time with -c, each kind of operation inside
# one call scope as a skill call's mounts are ("sqlite (call)",
# "postgres (call)"), the scope's end (its commit) a row of its own
# (NAME.end, spread over the files).
ops_rows=()
ops_cols=()
declare -A opsv
for b in "${backends[@]}"; do
  for col in "$b" "$b (call)"; do
    c=()
    [ "$col" = "$b" ] || c=(-c)
    case $b in
      mem) [ "$col" = "$b" ] || continue; oc=("$out/fs_ops" mem) ;;
      sqlite) place=$(mktemp -d "$work/ops.XXXXXX") || exit 2; oc=("$out/fs_ops" "${c[@]}" -s "$sync" "db:sqlite:$place/fs.db") ;;
      postgres) [ "${state[postgres]}" = ok ] || continue; oc=("$out/fs_ops" "${c[@]}" -s "$sync" "db:postgres:$connstr" "fsops-$$-${#c[@]}") ;;
      *) continue ;;
    esac
    ops_cols+=("$col")
    if timeout "$timeout" "${oc[@]}" >"$work/ops" 2>"$work/ops.err"; then
      while read -r _ op _ us _ st _ cm _ tr; do
        case $b in
          mem) opsv["$col $op"]="$us" ;;
          postgres) opsv["$col $op"]="$us ($st, $cm, $tr)" ;;
          *) opsv["$col $op"]="$us ($st, $cm)" ;;
        esac
        [[ " ${ops_rows[*]} " == *" $op "* ]] || ops_rows+=("$op")
      done <"$work/ops"
    else
      echo "fs.sh: fs_ops ${c[*]} on $b failed: $(head -n 1 "$work/ops.err")" >&2
      for op in "${ops_rows[@]}"; do opsv["$col $op"]=failed; done
    fi
  done
done
ops_header=("operation" "${ops_cols[@]}")
ops_lines=("$(IFS=$'\t'; echo "${ops_header[*]}")")
for op in "${ops_rows[@]}"; do
  row=("$op")
  # A scope's end has no figure outside a scope.
  for col in "${ops_cols[@]}"; do row+=("${opsv["$col $op"]:--}"); done
  ops_lines+=("$(IFS=$'\t'; echo "${row[*]}")")
done
ops_caption="Per operation through the VFS API (bench/fs/fs_ops.c, 1000 files): mean µs, and (statements, commits) per operation; on PostgreSQL (statements, commits, round trips). (call): fs_ops -c, each kind in one call scope, NAME.end its commit. commit-floor: PostgreSQL's smallest write transaction (BEGIN, a one-row INSERT, COMMIT in one round trip through libcis's client), the floor of a create committed at its close:"
if [ ${#ops_rows[@]} -gt 0 ]; then
  echo
  echo "$ops_caption"
  echo
  printf '%s\n' "${ops_lines[@]}" | text_table
fi

# ------------------------------------------------------------- markdown
{
  echo "# cis filesystem benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'),"
  echo "$(nproc 2>/dev/null) cores; $("$cc_native" --version | head -n1); $("$cc_wasm" --version | head -n1);"
  rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
  git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && rev="$rev + local changes"
  echo "cis $rev ($btype build${bflags:+, $bflags}, in ${build#"$root"/});"
  echo "chunk ${chunk:-1024} KiB. $(echo "$caption" | tr '\n' ' ' | sed 's/ $//')"
  echo
  printf '%s\n' "$(IFS=$'\t'; echo "${header[*]}")" "${rows[@]}" | md_table
  echo
  echo "$spread_caption"
  echo
  printf '%s\n' "$(IFS=$'\t'; echo "${header2[*]}")" "${spread[@]}" | md_table
  if [ ${#ops_rows[@]} -gt 0 ]; then
    echo
    echo "$ops_caption"
    echo
    printf '%s\n' "${ops_lines[@]}" | md_table
  fi
  if [ ${#notes[@]} -gt 0 ]; then
    echo
    printf -- '- %s\n' "${notes[@]}"
  fi
} >"$out/fs.md"
echo
echo "(written to ${out#"$root"/}/fs.md)"
exit $rc
