#!/usr/bin/env bash
# cli_fs.sh CIS sqlite WORKDIR | CIS postgres CONNSTR_FILE -- `cis fs`, the
# operator's tools for a tenant's database filesystem, end to end through
# the program: put, ls, cat, get, snapshot, layers, diff, rollback,
# compact and delete-tenant on one database (with a 3 MB file of large
# blocks, on SQLite in its extent file), each hostile input with its
# exit code (docs/cli.md): ".." and absolute escapes (8), a file over
# --max-size (7, nothing written), a tenant that is not there (1, nothing
# made), a refused put into a new tenant (no tenant left behind), a dead
# database (1), bad arguments (2), a rollback past the tenant's file
# limits (7, nothing changed; --force overrides). On SQLite it also checks where the
# database comes from by default (the configuration's fs_db), and that a
# first put makes a $CIS_HOME that is not there (one level, mode 0700).
# The PostgreSQL run is skipped (77) without the shared server, unless
# CI=true.
set -u
cis=$1
mode=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CIS_HOME=$tmp/home
unset CIS_FS_DB CIS_CONFIG
mkdir -p "$CIS_HOME"
if [ "$mode" = postgres ]; then
  if [ ! -s "$3" ]; then
    [ "${CI:-}" = true ] && { echo "no PostgreSQL connection string at $3 (CI=true)"; exit 1; }
    echo "SKIPPED: no PostgreSQL connection string at $3"; exit 77
  fi
  db="db:postgres:$(head -n1 "$3")"
  dead="db:postgres:host=127.0.0.1 port=1 connect_timeout=2"
else
  db="db:sqlite:$tmp/fs.db"
  dead="db:sqlite:$tmp/no/such/dir/fs.db"
fi
t="clifs-$$-$RANDOM"
fails=0
check() { # check NAME EXPECTED_STATUS COMMAND...
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"; sed 's/^/  | /' "$tmp/err"; fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}
expect_out() { # expect_out NAME TEXT: the last command's stdout is TEXT
  if [ "$(cat "$tmp/out")" != "$2" ]; then
    echo "FAIL $1: stdout was:"; sed 's/^/  | /' "$tmp/out"; echo "  expected: $2"; fails=$((fails + 1))
  fi
}
expect_grep() { # expect_grep NAME FILE PATTERN
  grep -q -- "$3" "$tmp/$2" || { echo "FAIL $1: no \"$3\" in $2:"; sed 's/^/  | /' "$tmp/$2"; fails=$((fails + 1)); }
}
fs() { "$cis" fs "$@" --vfs "$db" --tenant "$t"; }

# put -> ls -> cat -> snapshot -> put -> diff -> rollback -> cat -> compact -> delete
printf 'first version\n' >"$tmp/a"
check "ls of a tenant not there" 1 fs ls
expect_grep "ls of a tenant not there: message" err "no tenant"
check "put" 0 fs put --parents "$tmp/a" /docs/readme.txt
check "ls" 0 fs ls docs
expect_grep "ls: the file" out "file  *14 readme.txt"
check "ls --json" 0 fs ls --json
expect_grep "ls --json: status" out '"status":[[:space:]]*"ok"'
expect_grep "ls --json: entry" out '"name":[[:space:]]*"docs"'
check "cat" 0 fs cat docs/readme.txt
expect_out "cat: content" "first version"
check "snapshot" 0 fs snapshot v1
snap=$(cat "$tmp/out")
printf 'second version\n' >"$tmp/b"
check "put again" 0 fs put "$tmp/b" docs/readme.txt
printf 'new\n' | "$cis" fs put --vfs "$db" --tenant "$t" - docs/new.txt >/dev/null 2>&1 || {
  echo "FAIL put from stdin"; fails=$((fails + 1)); }
check "layers" 0 fs layers
expect_grep "layers: the snapshot" out "^$snap .* frozen .* v1$"
expect_grep "layers: the top" out " top "
check "layers --json" 0 fs layers --json
expect_grep "layers --json" out '"name":[[:space:]]*"v1"'
check "diff" 0 fs diff "$snap"
expect_out "diff: changes" "A docs/new.txt
M docs/readme.txt"
check "diff --json" 0 fs diff "$snap" --json
expect_grep "diff --json: kind" out '"change":[[:space:]]*"added"'
check "get" 0 fs get docs/readme.txt "$tmp/got"
[ "$(cat "$tmp/got")" = "second version" ] || { echo "FAIL get: content"; fails=$((fails + 1)); }
# A file of large blocks (on SQLite in the extent file beside the
# database) goes in and comes back whole.
head -c 3000000 /dev/urandom >"$tmp/large"
check "put of 3 MB" 0 fs put "$tmp/large" docs/large.bin
check "get of 3 MB" 0 fs get docs/large.bin "$tmp/large.back"
cmp -s "$tmp/large" "$tmp/large.back" || { echo "FAIL get of 3 MB: content"; fails=$((fails + 1)); }
if [ "$mode" = sqlite ] && [ ! -s "$tmp/fs.db-ext" ]; then
  echo "FAIL put of 3 MB: no extent file beside the database"; fails=$((fails + 1))
fi
check "rollback" 0 fs rollback "$snap"
check "cat after rollback" 0 fs cat docs/readme.txt
expect_out "cat after rollback: the old content" "first version"
check "cat of a file the rollback removed" 1 fs cat docs/new.txt
check "compact" 0 fs compact
expect_grep "compact: report" out "^freed [0-9]* rows"
check "compact --keep-from the snapshot --json" 0 fs compact --keep-from "$snap" --json
expect_grep "compact --json: layers" out '"layers":[[:space:]]*1'
check "cat after compact" 0 fs cat docs/readme.txt
expect_out "cat after compact: the content" "first version"
check "delete-tenant without --yes" 2 fs delete-tenant
check "cat still there" 0 fs cat docs/readme.txt
check "delete-tenant" 0 fs delete-tenant --yes
check "ls after delete-tenant" 1 fs ls
check "delete-tenant twice" 1 fs delete-tenant --yes
expect_grep "delete-tenant twice: message" err "no tenant"

# Hostile input.
check "put with .." 8 fs put "$tmp/a" ../escape
check "put with an absolute escape" 8 fs put "$tmp/a" /../../etc/escape
check "put with .. inside" 8 fs put --parents "$tmp/a" d/../../escape
head -c 5000 /dev/zero >"$tmp/big"
check "put over --max-size" 7 fs put --max-size 4KiB "$tmp/big" big
check "put over --max-size from stdin" 7 sh -c "cat '$tmp/big' | '$cis' fs put --vfs '$db' --tenant '$t' --max-size 4KiB - big"
check "nothing written" 1 fs cat big
check "put under --max-size" 0 fs put --max-size 5000 "$tmp/big" big
check "cat with .." 8 fs cat ../../etc/passwd
# A refused put into a tenant that is not there leaves no tenant behind.
fresh() { "$cis" fs "$@" --vfs "$db" --tenant "$t-fresh"; }
check "refused put (over --max-size) into a new tenant" 7 fresh put --max-size 4KiB "$tmp/big" big
check "refused put (an escape) into a new tenant" 8 fresh put "$tmp/a" ../escape
check "refused put (no local file) into a new tenant" 1 fresh put "$tmp/no-such-file" x
check "no tenant made by the refused puts" 1 fresh ls
expect_grep "no tenant made by the refused puts: message" err "no tenant"

# Tenant names follow one rule (cis_tenant_name_valid): a skill's tree key
# or a path is not a tenant.
check "--tenant that is a skill's tree key" 2 "$cis" fs ls --vfs "$db" --tenant "$t/skill:notes"
expect_grep "--tenant that is a skill's tree key: message" err "A-Z a-z 0-9"
check "--tenant with a space" 2 "$cis" fs ls --vfs "$db" --tenant "x y"
check "--tenant .." 2 "$cis" fs ls --vfs "$db" --tenant ".."
check "cis run --tenant with a quote" 2 "$cis" run --vfs "$db" --tenant "a'b" /dev/null

check "a name with control bytes" 0 fs put "$tmp/a" "$(printf 'x\ty')"
check "ls escapes it" 0 fs ls
expect_grep "ls escapes it: name" out 'x\\09y'
check "a name that is not UTF-8" 0 fs put "$tmp/a" "$(printf 'bad\377name')"
check "ls --json escapes it" 0 fs ls --json
expect_grep "ls --json escapes it: name" out '"bad\\\\ffname"'
if command -v node >/dev/null; then
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$tmp/out" ||
    { echo "FAIL ls --json: not JSON"; fails=$((fails + 1)); }
fi
check "rollback to no layer" 1 fs rollback 9999
check "rollback to the top" 3 fs rollback "$( "$cis" fs layers --vfs "$db" --tenant "$t" | awk '/ top /{print $1}')"
check "diff of no layer" 1 fs diff 9999
check "snapshot name too long" 3 fs snapshot "$(head -c 64 /dev/zero | tr '\0' n)"
check "dead database" 1 "$cis" fs ls --vfs "$dead" --tenant "$t"
expect_grep "dead database: typed" err "CIS_EVFSDOWN"
check "dead database, put" 1 "$cis" fs put --vfs "$dead" --tenant "$t" "$tmp/a" x
check "no --tenant" 2 "$cis" fs ls --vfs "$db"
check "--vfs not db" 2 "$cis" fs ls --vfs mem --tenant "$t"
check "unknown subcommand" 2 fs frobnicate
check "too many arguments" 2 fs cat a b
check "layer id not a number" 2 fs rollback abc
check "--help" 0 "$cis" fs --help
expect_grep "--help: subcommands" out "delete-tenant"
check "a skill's tree" 0 "$cis" fs put --vfs "$db" --tenant "$t" --skill notes "$tmp/a" n.txt
check "the tenant's own tree is another" 1 fs cat n.txt
check "delete the skill's tree" 0 "$cis" fs delete-tenant --vfs "$db" --tenant "$t" --skill notes --yes
check "clean up" 0 fs delete-tenant --yes

# A rollback of a skill's tree is held to the tenant's file limits
# (serve.tenant_max_fs_*, here from the environment), as a call's commit
# is: past them it is refused (7) and changes nothing, unless --force.
lim() { "$cis" fs "$@" --vfs "$db" --tenant "$t-lim"; }
head -c 100 /dev/zero | tr '\0' a >"$tmp/a100"
printf 'bbbbbbbbbb' >"$tmp/b10"
head -c 60 /dev/zero | tr '\0' c >"$tmp/c60"
check "limits: a skill's file" 0 lim put --skill one "$tmp/a100" f
check "limits: its snapshot" 0 lim snapshot --skill one
lsnap=$(cat "$tmp/out")
check "limits: the file made smaller" 0 lim put --skill one "$tmp/b10" f
check "limits: another skill's file" 0 lim put --skill two "$tmp/c60" g
check "limits: the tenant's own tree" 0 lim put "$tmp/a100" f
check "limits: its snapshot" 0 lim snapshot
osnap=$(cat "$tmp/out")
check "limits: its file made smaller" 0 lim put "$tmp/b10" f
export CIS_SERVE_TENANT_MAX_FS_BYTES=100
check "rollback past the tenant's bytes" 7 lim rollback --skill one "$lsnap"
expect_grep "rollback past the tenant's bytes: the limit" err "above their limit of 100"
expect_grep "rollback past the tenant's bytes: the override" err "force"
check "the refused rollback changed nothing" 0 lim cat --skill one f
expect_out "the refused rollback changed nothing: content" "bbbbbbbbbb"
check "rollback past the tenant's bytes, --json" 7 lim rollback --skill one "$lsnap" --json
expect_grep "rollback --json: typed" out '"CIS_EQUOTA"'
check "--force on another subcommand" 2 lim cat --skill one f --force
check "--force with a value" 2 lim rollback --skill one "$lsnap" --force=yes
check "a limit that is not a size" 3 env CIS_SERVE_TENANT_MAX_FS_BYTES=lots "$cis" fs rollback \
  --vfs "$db" --tenant "$t-lim" --skill one "$lsnap"
check "a limit that is not a number" 3 env CIS_SERVE_TENANT_MAX_FS_FILES=-1 "$cis" fs rollback \
  --vfs "$db" --tenant "$t-lim" --skill one "$lsnap"
check "the tenant's own tree is not held" 0 lim rollback "$osnap"
check "dead database, rollback" 1 "$cis" fs rollback --vfs "$dead" --tenant "$t-lim" --skill one "$lsnap"
check "rollback --force past the tenant's bytes" 0 lim rollback --skill one "$lsnap" --force
check "cat after rollback --force" 0 lim cat --skill one f
expect_out "cat after rollback --force: the old content" "$(cat "$tmp/a100")"
unset CIS_SERVE_TENANT_MAX_FS_BYTES
for tree in "--skill one" "--skill two" ""; do
  # shellcheck disable=SC2086
  check "limits: clean up $tree" 0 lim delete-tenant --yes $tree
done

if [ "$mode" = sqlite ]; then
  # Without --vfs: the configuration's fs_db, as every command reads it.
  check "default database: \$CIS_HOME/fs.db" 0 "$cis" fs put --tenant d "$tmp/a" f
  [ -f "$CIS_HOME/fs.db" ] || { echo "FAIL default database: no $CIS_HOME/fs.db"; fails=$((fails + 1)); }
  check "CIS_FS_DB" 0 env CIS_FS_DB="sqlite:$tmp/env.db" "$cis" fs put --tenant d "$tmp/a" f
  [ -f "$tmp/env.db" ] || { echo "FAIL CIS_FS_DB: no $tmp/env.db"; fails=$((fails + 1)); }
  printf '{"fs_db": "sqlite:%s/file.db"}\n' "$tmp" >"$CIS_HOME/config.json"
  check "fs_db in the configuration file" 0 "$cis" fs put --tenant d "$tmp/a" f
  [ -f "$tmp/file.db" ] || { echo "FAIL config fs_db: no $tmp/file.db"; fails=$((fails + 1)); }
  # A first put makes $CIS_HOME, where the default database lives (the
  # library makes an SQLite file's missing folder, one level, private).
  check "default database in a \$CIS_HOME not made yet" 0 env CIS_HOME="$tmp/newhome" "$cis" fs put --tenant d "$tmp/a" f
  [ -f "$tmp/newhome/fs.db" ] || { echo "FAIL new CIS_HOME: no $tmp/newhome/fs.db"; fails=$((fails + 1)); }
  [ "$(stat -c %a "$tmp/newhome")" = 700 ] || { echo "FAIL new CIS_HOME: mode $(stat -c %a "$tmp/newhome")"; fails=$((fails + 1)); }
  # Two folders into nothing: not made, the open fails (exit 1).
  check "default database two folders into nothing" 1 env CIS_HOME="$tmp/no/home" "$cis" fs put --tenant d "$tmp/a" f
  [ ! -e "$tmp/no" ] || { echo "FAIL $tmp/no was made"; fails=$((fails + 1)); }
  check "--vfs over the configuration" 1 "$cis" fs cat --vfs "db:sqlite:$tmp/other.db" --tenant d f
fi

echo "$fails failure(s)"
[ "$fails" = 0 ]
