#!/usr/bin/env bash
# kv.sh -- the KV store's transactions: what one skill call's KV work
# costs on SQLite and on PostgreSQL.
#
# This file implements the driver of the KV benchmark (docs/bench.md, "KV
# store"). It builds bench/kv/kv_ops.c (the CMake target bench_kv_ops,
# linked against libcis) in an optimised build folder, starts a private
# PostgreSQL server on loopback (tests/support/pg.sh, stopped at the end),
# and runs the program on a fresh SQLite file and on the server: N
# transactions of each kind (begin, one set, increment or get, commit),
# best of R rounds, in microseconds per transaction. On PostgreSQL each
# figure is also divided by libpq's round trip alone (`SELECT 1`, timed in
# the same run): the transaction's cost in round trips, which carries over
# between machines where microseconds do not.
#
#   bench/kv.sh [-n N] [-r R] [-b BUILD_DIR] [-B BACKENDS]
#
#   -n N          transactions per round (default 500)
#   -r R          rounds; the best is printed (default 5)
#   -b BUILD_DIR  optimised build folder (default build-bench, as
#                 bench/skill.sh and bench/fs.sh); configured with
#                 CMAKE_BUILD_TYPE=RelWithDebInfo and without tests when
#                 it does not exist yet. A Debug or CIS_SANITIZE=ON folder
#                 is refused.
#   -B BACKENDS   comma-separated subset of sqlite,postgres (default both)
#
# Environment: PG_BINDIR (PostgreSQL's server binaries, tests/support/pg.sh).
# Exit status: 0 when every backend ran; 1 when one failed; 2 on a usage
# or build error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$here/out
n=500
rounds=5
build=$root/build-bench
backends_arg=sqlite,postgres
while getopts "n:r:b:B:" opt; do
  case $opt in
    n) n=$OPTARG ;;
    r) rounds=$OPTARG ;;
    b) build=$OPTARG ;;
    B) backends_arg=$OPTARG ;;
    *) exit 2 ;;
  esac
done
case $n$rounds in *[!0-9]* | '') echo "kv.sh: -n and -r want numbers" >&2; exit 2 ;; esac
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
IFS=, read -r -a backends <<<"$backends_arg"
for b in "${backends[@]}"; do
  case $b in sqlite | postgres) ;; *) echo "kv.sh: unknown backend '$b' (sqlite, postgres)" >&2; exit 2 ;; esac
done

mkdir -p "$out"
. "$here/serve/lib.sh"
bench_build_folder kv.sh "$root" "$build"
if ! cmake --build "$build" -j2 --target bench_kv_ops >"$out/kv-build.log" 2>&1; then
  echo "kv.sh: building bench_kv_ops failed (see $out/kv-build.log):" >&2
  tail -n 20 "$out/kv-build.log" >&2
  exit 2
fi
prog=$build/bench/bench_kv_ops

work=$(mktemp -d "${TMPDIR:-/tmp}/cis-kvbench.XXXXXX") || exit 2
pgdir=
cleanup() {
  [ -n "$pgdir" ] && { "$root/tests/support/pg.sh" stop "$pgdir" >/dev/null 2>&1; rm -rf "$pgdir"; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

st=0
for b in "${backends[@]}"; do
  echo "== $b ($n transactions a round, best of $rounds)"
  case $b in
    sqlite) spec="sqlite:$work/kv.db" ;;
    postgres)
      # Its own folder: pg.sh hands it to the postgres user.
      pgdir=$(mktemp -d "${TMPDIR:-/tmp}/cis-kvbench-pg.XXXXXX") || exit 2
      if ! "$root/tests/support/pg.sh" start "$pgdir" >"$work/pg.log" 2>&1; then
        echo "kv.sh: no PostgreSQL server (see below); postgres not run" >&2
        tail -n 5 "$work/pg.log" >&2
        st=1
        continue
      fi
      spec="postgres:$(cat "$pgdir/connstr")" ;;
  esac
  timeout 600 "$prog" "$spec" "$n" "$rounds" || { echo "kv.sh: $b failed" >&2; st=1; }
done
exit $st
