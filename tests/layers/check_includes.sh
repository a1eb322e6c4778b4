#!/bin/sh
# check_includes.sh ROOT [ALLOWED]
# check_includes.sh --self-test
#
# The layering rule (docs/layers.md), checked on the sources: a file of
# one service does not include another service's internal header. The services are the areas above
# the engine: db vfs wasi kv log ai http host skill serve. A file of
# src/A may include, from another area:
#   - common/*: the base every area builds on;
#   - an area's interface to those above it: db/db.h, db/db_conn.h,
#     db/db_conn_pg.h, db/db_sqlite.h, db/db_pg.h and db/db_txn.h (the
#     database layer), host/host.h (the host
#     core the invocation fills), kv/kv_call.h and vfs/vfs_call.h (what a
#     skill call asks of KV and of a mount);
#   - what ALLOWED (default: allowed_includes.txt beside this script)
#     lists as "src/A/FILE B/HEADER  # why": exceptions, each a to-do
#     (none today).
# tools/cis uses the public headers only (include/cis/): nothing of src/.
# The engine stack (wasm runtime interp core wat aot) has rules of its
# own; checked here: interp/ and aot/ never include each other.
#
# Fails (exit 1) on an include the rule does not allow, and on an entry of
# ALLOWED that no longer matches an include (the list stays the truth).
set -eu

services="db vfs wasi kv log ai http host skill serve"
interfaces="db/db.h db/db_conn.h db/db_conn_pg.h db/db_sqlite.h db/db_pg.h db/db_txn.h host/host.h kv/kv_call.h vfs/vfs_call.h"

if [ "${1:-}" = "--self-test" ]; then
  # A tree with one allowed exception, then a violation, then a stale
  # entry: the check passes, fails, fails.
  t=$(mktemp -d)
  trap 'rm -rf "$t"' EXIT
  mkdir -p "$t/src/kv" "$t/src/vfs" "$t/src/skill" "$t/src/common" "$t/src/db" "$t/tools/cis"
  : > "$t/src/vfs/vfs_internal.h"
  : > "$t/src/vfs/vfs_db_fs.h"
  printf '#include "common/internal.h"\n#include "db/db.h"\n#include "kv/kv.h"\n' > "$t/src/kv/kv.c"
  printf '#include "vfs/vfs_db_fs.h"\n#include "vfs/vfs_call.h"\n' > "$t/src/skill/join.c"
  printf '#include "cis/cis.h"\n#include "cli.h"\n' > "$t/tools/cis/main.c"
  printf '# comment\nsrc/skill/join.c vfs/vfs_db_fs.h  # the exception\n' > "$t/allowed"
  sh "$0" "$t" "$t/allowed" > /dev/null || { echo "self-test: a clean tree failed"; exit 1; }
  printf '#include "vfs/vfs_internal.h"\n' >> "$t/src/kv/kv.c"
  if sh "$0" "$t" "$t/allowed" > /dev/null; then echo "self-test: a violation passed"; exit 1; fi
  printf '#include "kv/kv.h"\n' > "$t/src/kv/kv.c"
  printf '#include "common/internal.h"\n' > "$t/src/skill/join.c"
  if sh "$0" "$t" "$t/allowed" > /dev/null; then echo "self-test: a stale entry passed"; exit 1; fi
  printf '#include "common/internal.h"\n' > "$t/tools/cis/main.c"
  printf '' > "$t/allowed"
  if sh "$0" "$t" "$t/allowed" > /dev/null; then echo "self-test: tools including src/ passed"; exit 1; fi
  echo "check_includes: self-test passed"
  exit 0
fi

root=${1:?usage: check_includes.sh ROOT [ALLOWED] | --self-test}
allowed=${2:-$(dirname "$0")/allowed_includes.txt}
[ -f "$allowed" ] || { echo "check_includes: no $allowed"; exit 2; }
cd "$root"

has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# Every include of a quoted header with a folder: "FILE HEADER" lines.
found=$(mktemp)
trap 'rm -f "$found"' EXIT
for f in $(find src tools/cis -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \) 2>/dev/null | sort); do
  sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\/[^"]*\)".*/\1/p' "$f" |
    while read -r h; do echo "$f $h"; done
done > "$found"

bad=0
while read -r f h; do
  a=$(echo "$f" | cut -d/ -f2)
  top=$(echo "$f" | cut -d/ -f1)
  b=${h%%/*}
  [ "$b" = cis ] && continue # the public headers
  if [ "$top" = tools ]; then
    echo "$f includes $h: tools/cis uses only include/cis/*.h"
    bad=1
    continue
  fi
  if [ "$b" = "$a" ] || [ ! -d "src/$b" ]; then continue; fi
  if ! has "$services" "$a"; then
    if { [ "$a" = interp ] && [ "$b" = aot ]; } || { [ "$a" = aot ] && [ "$b" = interp ]; }; then
      echo "$f includes $h: the engines know nothing of each other"
      bad=1
    fi
    continue
  fi
  [ "$b" = common ] && continue
  has "$interfaces" "$h" && continue
  awk -v f="$f" -v h="$h" '$1 == f && $2 == h { ok = 1 } END { exit !ok }' "$allowed" && continue
  echo "$f includes $h: another service's internal header (not in $allowed)"
  bad=1
done < "$found"

# Entries that match nothing any more: remove them.
stale=$(awk '!/^[[:space:]]*(#|$)/ { print $1, $2 }' "$allowed" | while read -r f h; do
  awk -v f="$f" -v h="$h" '$1 == f && $2 == h { ok = 1 } END { exit !ok }' "$found" ||
    echo "$allowed: \"$f $h\" matches no include: remove it"
done)
if [ -n "$stale" ]; then
  echo "$stale"
  bad=1
fi

if [ "$bad" = 0 ]; then echo "check_includes: every cross-service include is allowed"; fi
exit "$bad"
