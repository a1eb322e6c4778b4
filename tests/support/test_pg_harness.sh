#!/bin/sh
# This file implements the self-test of the PostgreSQL harness (pg.sh):
# argument errors, missing server binaries (skip, or fail under CI=true),
# start / kill / restart / stop keeping data, and a new start over a server
# left running by an aborted run. Usage: test_pg_harness.sh DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
pg=$here/pg.sh
dir=${1:?usage: test_pg_harness.sh DIR}

fail() {
  echo "FAIL: $*" >&2
  "$pg" stop "$dir" >/dev/null 2>&1
  exit 1
}

expect_rc() { # expected, command...
  want=$1; shift
  "$@" >/dev/null 2>&1
  got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
}

expect_rc 2 "$pg"
expect_rc 2 "$pg" bogus "$dir"
expect_rc 77 env PG_BINDIR=/nonexistent CI= "$pg" start "$dir"
expect_rc 1 env PG_BINDIR=/nonexistent CI=true "$pg" start "$dir"
expect_rc 77 env PG_BINDIR=/nonexistent CI= "$pg" restart "$dir"
expect_rc 0 env PG_BINDIR=/nonexistent "$pg" stop "$dir"

"$pg" start "$dir" >/dev/null
rc=$?
if [ $rc -eq 77 ]; then echo "SKIPPED: no PostgreSQL server binaries"; exit 77; fi
[ $rc -eq 0 ] || fail "start exited $rc"
[ -s "$dir/connstr" ] || fail "no connection string"
grep -q "host=127.0.0.1 " "$dir/connstr" || fail "the server must listen on 127.0.0.1"

psql=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -n 1)
[ -n "$psql" ] || fail "no psql"
q() { "$psql" "$(cat "$dir/connstr")" -v ON_ERROR_STOP=1 -Atqc "$1"; }

q "CREATE TABLE harness (v int); INSERT INTO harness VALUES (42)" || fail "cannot write"
old_pid=$(head -n 1 "$dir/data/postmaster.pid")

# An aborted earlier run leaves its server running: start wipes it.
"$pg" start "$dir" >/dev/null || fail "start over a running server"
state=$(sed 's/^.*) //' "/proc/$old_pid/stat" 2>/dev/null | cut -c1)
[ -n "$state" ] && [ "$state" != Z ] && fail "the leftover server $old_pid still runs"
[ "$(q "SELECT count(*) FROM pg_tables WHERE tablename = 'harness'")" = 0 ] ||
  fail "start did not begin with a fresh cluster"

q "CREATE TABLE harness (v int); INSERT INTO harness VALUES (7)" || fail "cannot write"
"$pg" kill "$dir" || fail "kill"
q "SELECT 1" 2>/dev/null && fail "the server still answers after kill"
"$pg" restart "$dir" || fail "restart after kill"
[ "$(q "SELECT v FROM harness")" = 7 ] || fail "data lost across kill + restart"
"$pg" stop "$dir" || fail "stop"
"$pg" stop "$dir" || fail "a second stop must succeed"
"$pg" restart "$dir" || fail "restart after stop"
[ "$(q "SELECT v FROM harness")" = 7 ] || fail "data lost across stop + restart"
"$pg" stop "$dir" || fail "final stop"
echo "pg.sh self-test passed"
