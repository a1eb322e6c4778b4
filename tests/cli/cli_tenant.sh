#!/usr/bin/env bash
# cli_tenant.sh CIS SKILL_DIR -- `cis tenant remove` through the program:
# tenants alice and alice2 each with a skill, KV keys, files in its
# skill's tree, a setting, a trusted key and (when the program has `cis
# token`) a bearer token. Without --yes nothing goes (exit 2); a name that
# is not a tenant's and the default tenant without --allow-default are
# usage errors; with --yes alice goes whole and alice2 keeps everything;
# run again, it is no error and says so; --json counts what went; a
# registry out of reach is a typed failure (exit 1). Everything under a
# temporary CIS_HOME.
set -u
cis=$1
skills=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CIS_HOME=$tmp/home
unset CIS_CONFIG CIS_REGISTRY CIS_KV CIS_FS_DB CIS_REQUIRE_SIGNATURE
fails=0
check() { # check NAME EXPECTED_STATUS COMMAND...
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"; sed 's/^/  | /' "$tmp/out" "$tmp/err"; fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}
has() { # has NAME FILE TEXT: FILE (out or err) holds TEXT
  grep -qF -- "$3" "$tmp/$2" || { echo "FAIL $1: no \"$3\" in:"; sed 's/^/  | /' "$tmp/$2"; fails=$((fails + 1)); }
}
lacks() { # lacks NAME FILE TEXT
  ! grep -qF -- "$3" "$tmp/$2" || { echo "FAIL $1: \"$3\" in:"; sed 's/^/  | /' "$tmp/$2"; fails=$((fails + 1)); }
}

mkdir -p "$tmp/notes"
cp "$skills/v1_kv.wasm" "$tmp/notes/"
sha=$(sha256sum "$tmp/notes/v1_kv.wasm" | cut -c1-64)
printf '{"name":"notes","version":"1.0.0","abi":"cis_v1","wasm":{"path":"v1_kv.wasm","sha256":"%s"},"permissions":{"kv":true}}\n' \
  "$sha" >"$tmp/notes/skill.json"
pub=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
tokens=no
"$cis" token --help >/dev/null 2>&1 && tokens=yes
echo data >"$tmp/data"

for t in alice alice2; do
  check "install $t" 0 "$cis" skill install --tenant "$t" "$tmp/notes"
  check "kv $t" 0 "$cis" skill run notes --tenant "$t" --quiet --input "{\"op\":\"set\",\"key\":\"k\",\"value\":\"$t\"}"
  check "setting $t" 0 "$cis" skill config set notes colour red --tenant "$t"
  check "trust $t" 0 "$cis" key trust dev "$pub" --tenant "$t"
  check "files $t" 0 "$cis" fs put --tenant "$t" --skill notes "$tmp/data" /f
  [ "$tokens" = yes ] && check "token $t" 0 "$cis" token create --tenant "$t" --name "tok-$t"
done

# Refused: nothing goes.
check "without --yes" 2 "$cis" tenant remove alice
has "without --yes" err "add --yes"
check "not a tenant's name" 2 "$cis" tenant remove 'alice/x' --yes
has "not a tenant's name" err "not a tenant's name"
check "default without --allow-default" 2 "$cis" tenant remove default --yes
has "default without --allow-default" err "--allow-default"
check "no name" 2 "$cis" tenant remove --yes
check "unknown subcommand" 2 "$cis" tenant drop alice
check "still there" 0 "$cis" skill list --tenant alice
has "still there" out notes
check "kv still there" 0 "$cis" skill run notes --tenant alice --quiet --input '{"op":"get","key":"k"}'
has "kv still there" out '"value":"alice"'

# A registry out of reach: a typed failure, and nothing of alice goes.
check "registry out of reach" 1 env CIS_REGISTRY='postgres:host=127.0.0.1 port=1 connect_timeout=2 dbname=none' \
  "$cis" tenant remove alice --yes
has "registry out of reach" err CIS_EREGISTRYDOWN
check "after the failure" 0 "$cis" skill list --tenant alice
has "after the failure" out notes

# Removed: alice goes whole, alice2 keeps everything.
check "remove" 0 "$cis" tenant remove alice --yes
has "remove" out "removed tenant alice: "
has "remove" out "1 skill, 1 KV namespace, 1 KV key, 1 file tree, 1 setting, 1 trusted key"
[ "$tokens" = yes ] && has "remove" out "1 token, "
check "alice's skills" 0 "$cis" skill list --tenant alice --json
lacks "alice's skills" out notes
check "alice's keys" 0 "$cis" key list --tenant alice --json
lacks "alice's keys" out "$pub"
check "alice's files" 1 "$cis" fs ls --tenant alice --skill notes
check "alice2's skills" 0 "$cis" skill list --tenant alice2
has "alice2's skills" out notes
check "alice2's kv" 0 "$cis" skill run notes --tenant alice2 --quiet --input '{"op":"get","key":"k"}'
has "alice2's kv" out '"value":"alice2"'
check "alice2's setting" 0 "$cis" skill config show notes --tenant alice2
has "alice2's setting" out colour=red
check "alice2's keys" 0 "$cis" key list --tenant alice2 --json
has "alice2's keys" out "$pub"
check "alice2's files" 0 "$cis" fs cat --tenant alice2 --skill notes /f
has "alice2's files" out data
if [ "$tokens" = yes ]; then
  check "tokens" 0 "$cis" token list
  lacks "tokens" out "tok-alice "
  has "tokens" out "tok-alice2"
fi
# Installed again, alice starts with nothing.
check "reinstall" 0 "$cis" skill install --tenant alice "$tmp/notes"
check "kv gone" 0 "$cis" skill run notes --tenant alice --quiet --input '{"op":"get","key":"k"}'
lacks "kv gone" out '"value":"alice"'

# Again: nothing left of what it had but the skill just installed.
check "again" 0 "$cis" tenant remove alice --yes --json
has "again" out '"status":'
has "again" out '"skills":	1'
check "nothing left" 0 "$cis" tenant remove alice --yes
has "nothing left" out "removed tenant alice: nothing"
check "default, allowed" 0 "$cis" tenant remove default --yes --allow-default
has "default, allowed" out "removed tenant default: nothing"

echo "cli_tenant: $fails failed"
[ "$fails" = 0 ]
