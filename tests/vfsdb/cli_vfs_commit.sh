#!/usr/bin/env bash
# This file implements the test of `cis run --vfs-commit call|sync` on a
# database filesystem (docs/dbfs.md, "cis run"): what a run's files
# hold after it exits 0, exits 1, or is killed (SIGKILL) after an fsync,
# with each mode. The guest (commit_guest.wat) writes "one" to a and
# fsyncs it, writes "two" to b, prints "ready", then spins or exits as its
# argument count says. On SQLite the files are read from the database
# with sqlite3; on PostgreSQL (a connection string file given) with `cis
# fs cat`, a tenant per case, and there a sync run holds a lease on its
# tree (docs/dbfs.md, "PostgreSQL: the lease"): a run killed while it
# holds one must leave it to the next run.
#
#   cli_vfs_commit.sh CIS WORKDIR [CONNSTR_FILE]
#
# The PostgreSQL run is skipped (77) without the shared server, unless
# CI=true.
set -u
cis=$1
work=$2
connfile=${3:-}
if [ -n "$connfile" ]; then
  if [ ! -s "$connfile" ]; then
    [ "${CI:-}" = true ] && { echo "no PostgreSQL connection string at $connfile (CI=true)"; exit 1; }
    echo "SKIPPED: no PostgreSQL connection string at $connfile"; exit 77
  fi
  spec="db:postgres:$(head -n1 "$connfile")"
  run_id="clicommit-$$-$RANDOM"
fi
here=$(cd "$(dirname "$0")" && pwd)
guest=$here/commit_guest.wat
rm -rf "$work" && mkdir -p "$work" || exit 1
fails=0
child=
trap '[ -n "$child" ] && kill -9 "$child" 2>/dev/null' EXIT

bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# vfs_of DB, tenant_of DB: --vfs and --tenant of the case whose SQLite
# file is DB (on PostgreSQL its tenant is named after it).
vfs_of() { if [ -n "$connfile" ]; then echo "$spec"; else echo "db:sqlite:$1"; fi; }
tenant_of() { if [ -n "$connfile" ]; then echo "$run_id-$(basename "$1" .db)"; else echo t; fi; }

# content DB NAME: what file NAME at the root holds ("-" when it is absent).
content() {
  if [ -n "$connfile" ]; then
    "$cis" fs cat --vfs "$spec" --tenant "$(tenant_of "$1")" "$2" 2>/dev/null || printf -- -
    return
  fi
  sqlite3 "$1" "SELECT coalesce((SELECT CAST(b.data AS TEXT) FROM cis_vfs_entries e
    JOIN cis_vfs_blocks b ON b.tenant_id=e.tenant_id AND b.ino=e.ino
    WHERE e.parent_ino=1 AND e.name=CAST('$2' AS BLOB) AND e.type=1
    ORDER BY e.layer_id DESC, b.layer_id DESC LIMIT 1), '-')"
}

# expect CASE DB A B: the files a and b hold A and B.
expect() {
  local a b
  a=$(content "$2" a) b=$(content "$2" b)
  [ "$a" = "$3" ] && [ "$b" = "$4" ] || bad "$1: a='$a' b='$b', want a='$3' b='$4'"
}

# run MODE DB ARGS...: one run to its end; prints its exit code.
run() {
  local mode=$1 db=$2
  shift 2
  "$cis" run --timeout 120s --vfs "$(vfs_of "$db")" --tenant "$(tenant_of "$db")" \
    --vfs-commit "$mode" --dir x::/d "$guest" "$@" >"$work/out" 2>"$work/err"
  echo $?
}

# killed MODE DB: a run killed once it printed "ready" (after a's fsync
# and b's write).
killed() {
  # Gone first: the background run truncates it only once it starts, and
  # the poll below must not find the last run's "ready".
  rm -f "$work/out"
  "$cis" run --timeout 120s --vfs "$(vfs_of "$2")" --tenant "$(tenant_of "$2")" \
    --vfs-commit "$1" --dir x::/d "$guest" >"$work/out" 2>"$work/err" &
  child=$!
  for _ in $(seq 600); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$work/out" || bad "killed $1: the guest never got ready: $(head -c 300 "$work/err")"
  kill -9 "$child"
  wait "$child" 2>/dev/null
  child=
}

# sync: every change commits as it is made.
killed sync "$work/sync-kill.db"
expect "sync, killed after fsync" "$work/sync-kill.db" one two
# The tree a killed run held (its lease on PostgreSQL) is the next run's.
code=$(run sync "$work/sync-kill.db" x)
[ "$code" = 0 ] || bad "sync, a run after the killed one: exit code $code: $(head -c 300 "$work/err")"
expect "sync, a run after the killed one" "$work/sync-kill.db" one two
code=$(run sync "$work/sync-exit1.db" x y)
[ "$code" = 1 ] || bad "sync, exit 1: exit code $code"
expect "sync, exit 1" "$work/sync-exit1.db" one two

# call: the run is one transaction, kept only when it exits 0.
killed call "$work/call-kill.db"
expect "call, killed after fsync" "$work/call-kill.db" - -
code=$(run call "$work/call-exit1.db" x y)
[ "$code" = 1 ] || bad "call, exit 1: exit code $code"
expect "call, exit 1" "$work/call-exit1.db" - -
code=$(run call "$work/call-exit0.db" x)
[ "$code" = 0 ] || bad "call, exit 0: exit code $code: $(head -c 300 "$work/err")"
expect "call, exit 0" "$work/call-exit0.db" one two

# The default is sync; the flag is checked.
code=$(run sync "$work/default.db" x)
"$cis" run --vfs-commit later --vfs "db:sqlite:$work/u.db" --tenant t "$guest" >/dev/null 2>"$work/err"
[ $? = 2 ] && grep -q "call or sync" "$work/err" || bad "--vfs-commit later was not refused"
"$cis" run --vfs-commit call --vfs mem --dir x::/d "$guest" >/dev/null 2>"$work/err"
[ $? = 2 ] && grep -q "with --vfs db" "$work/err" || bad "--vfs-commit with --vfs mem was not refused"

[ $fails = 0 ] && echo "cli_vfs_commit: all passed"
exit $((fails > 0))
