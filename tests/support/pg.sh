#!/bin/sh
# This file implements the PostgreSQL test harness: it runs a private,
# throw-away PostgreSQL server for test suites that need a real database.
#
# Usage: pg.sh start|stop|restart|kill DIR
#   start    stops any server left in DIR by an aborted run, wipes DIR,
#            runs initdb, starts a server on 127.0.0.1 on a free port and
#            writes the libpq connection string to DIR/connstr.
#   stop     stops the server in DIR (fast shutdown); the data stays, so
#            `restart` can bring it back. Succeeds when nothing runs.
#   restart  starts the server in DIR again on the same port, keeping its
#            data (stopping it first when it runs). Runs `start` when DIR
#            holds no cluster yet.
#   kill     stops the server in DIR the way a crash would (immediate
#            shutdown, no checkpoint); `restart` then replays the WAL.
#
# Layout of DIR: data/ (the cluster), log (server log), port, connstr, and
# the unix socket (.s.PGSQL.PORT) when DIR's path is short enough for one.
#
# The server binaries come from $PG_BINDIR or the newest
# /usr/lib/postgresql/*/bin. When they are missing, start exits 77 (the
# CTest skip code) with a message, or 1 when CI=true: CI must not skip.
# PostgreSQL refuses to run as root, so as root every server command runs
# as the `postgres` system user. The server listens on 127.0.0.1 only and
# asks for a password (random per cluster, kept in DIR/connstr).
set -eu

SKIP=77

die() { echo "pg.sh: $*" >&2; exit 1; }

usage() { echo "usage: pg.sh start|stop|restart|kill DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
cmd=$1
case $2 in
  /*) dir=$2 ;;
  *) dir=$(pwd)/$2 ;;
esac
data=$dir/data

# Missing server binaries: a skip on a developer machine, a failure in CI.
missing() {
  if [ "${CI:-}" = true ]; then
    die "$* (CI=true, so this is a failure; run scripts/install-deps.sh)"
  fi
  echo "pg.sh: SKIPPED: $* (install Debian's postgresql package to run database tests)" >&2
  exit $SKIP
}

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    bindir=$PG_BINDIR
  else
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
    bindir=
    return 1
  fi
  return 0
}

# Runs a command as the user that owns the cluster.
if [ "$(id -u)" = 0 ]; then
  as_pg() {
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c '"$0" "$@"' -- "$@"
    fi
  }
else
  as_pg() { "$@"; }
fi

check_user() {
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    missing "running as root but there is no 'postgres' system user"
  fi
}

# True when process $1 exists and is not a zombie (a daemonised postmaster
# that exited may wait a while for its reaper).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [ "$state" != Z ]
}

# True when the server of DIR runs (its pid file names a live postmaster).
running() {
  [ -f "$data/postmaster.pid" ] || return 1
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
  [ -n "$pid" ] && alive "$pid"
}

# Stops the server of DIR with the given shutdown mode. When pg_ctl cannot
# (a broken cluster left by an aborted run), the postmaster named in the
# pid file is killed, but only when it really is a postgres process.
stop_server() {
  mode=$1
  running || return 0
  as_pg "$bindir/pg_ctl" -D "$data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
  running || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q postgres; then
    kill -KILL "$pid" 2>/dev/null || true
    i=0
    while alive "$pid" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  ! running || die "cannot stop the server in $dir (pid $pid)"
}

# A random integer in [lo, lo+span).
random_in() {
  n=$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')
  echo $(($1 + n % $2))
}

# Starts the server of an existing cluster on port $1. Returns 0 when it
# runs, 3 when the port was taken, 1 on any other failure.
launch() {
  port=$1
  printf "port = %s\n" "$port" | as_pg tee "$data/cis_port.conf" >/dev/null
  : >"$dir/log"
  chown_pg "$dir/log"
  if as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/log" -w -t 60 start >/dev/null 2>&1; then
    echo "$port" >"$dir/port"
    return 0
  fi
  if grep -q -e "could not bind" -e "already in use" "$dir/log" 2>/dev/null; then
    return 3
  fi
  return 1
}

chown_pg() {
  if [ "$(id -u)" = 0 ]; then chown postgres: "$@"; fi
}

write_connstr() {
  port=$(cat "$dir/port")
  pw=$(cat "$dir/password")
  printf "host=127.0.0.1 port=%s user=postgres password=%s dbname=postgres\n" \
    "$port" "$pw" >"$dir/connstr.tmp"
  mv "$dir/connstr.tmp" "$dir/connstr"
}

do_start() {
  check_user
  stop_server immediate
  rm -rf "$data" "$dir/connstr" "$dir/port" "$dir/password" "$dir/log"
  mkdir -p "$dir"
  chmod 755 "$dir"
  chown_pg "$dir"
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$dir/password"
  chmod 600 "$dir/password"
  pwfile=$dir/pwfile
  cp "$dir/password" "$pwfile"
  chown_pg "$pwfile"
  if ! as_pg "$bindir/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
      -A scram-sha-256 -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    rm -f "$pwfile"
    cat "$dir/initdb.log" >&2
    die "initdb failed in $data"
  fi
  rm -f "$pwfile"
  # A unix socket path is limited to 107 bytes; without room, TCP only.
  sockdir=$dir
  if [ ${#dir} -gt 90 ]; then sockdir=; fi
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$sockdir'"
    echo "max_connections = 50"
    echo "shared_buffers = 16MB"
    echo "dynamic_shared_memory_type = posix"
    echo "include_if_exists = 'cis_port.conf'"
  } | as_pg tee -a "$data/postgresql.conf" >/dev/null
  tries=0
  while :; do
    tries=$((tries + 1))
    rc=0
    launch "$(random_in 20000 40000)" || rc=$?
    [ $rc -eq 0 ] && break
    if [ $rc -ne 3 ] || [ $tries -ge 20 ]; then
      tail -n 20 "$dir/log" >&2 2>/dev/null || true
      die "cannot start PostgreSQL in $dir"
    fi
  done
  write_connstr
  echo "pg.sh: PostgreSQL running in $dir on 127.0.0.1:$(cat "$dir/port")"
}

do_restart() {
  check_user
  if [ ! -f "$data/PG_VERSION" ] || [ ! -f "$dir/port" ]; then
    do_start
    return
  fi
  stop_server fast
  rc=0
  launch "$(cat "$dir/port")" || rc=$?
  if [ $rc -ne 0 ]; then
    tail -n 20 "$dir/log" >&2 2>/dev/null || true
    die "cannot restart PostgreSQL in $dir"
  fi
  write_connstr
}

case $cmd in
  start)
    find_bindir || missing "no PostgreSQL server binaries (looked for /usr/lib/postgresql/*/bin/initdb)"
    do_start ;;
  restart)
    find_bindir || missing "no PostgreSQL server binaries (looked for /usr/lib/postgresql/*/bin/initdb)"
    do_restart ;;
  stop|kill)
    # Nothing can run without binaries, so there is nothing to stop.
    find_bindir || exit 0
    if [ "$cmd" = stop ]; then stop_server fast; else stop_server immediate; fi ;;
  *) usage ;;
esac
