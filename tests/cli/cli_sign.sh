#!/usr/bin/env bash
# cli_sign.sh CIS SKILL_DIR -- signed skills through the `cis` program:
# cis key create / trust / untrust / list, cis skill sign, and the rule
# (--require-signature, CIS_REQUIRE_SIGNATURE, skills.require_signature in
# the configuration file) on install and on run, with exit code 8
# (denied) for a refusal. Everything under a temporary CIS_HOME.
set -u
cis=$1
skills=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CIS_HOME=$tmp/home
unset CIS_REQUIRE_SIGNATURE CIS_CONFIG
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

mkdir -p "$tmp/hello"
cp "$skills/hello.wasm" "$tmp/hello/"
sha=$(sha256sum "$tmp/hello/hello.wasm" | cut -c1-64)
printf '{"name":"hello","version":"1.0.0","abi":"cis_v1","wasm":{"path":"hello.wasm","sha256":"%s"},"permissions":{"log":true}}\n' \
  "$sha" >"$tmp/hello/skill.json"

check "key create" 0 "$cis" key create dev
pub=$(cat "$tmp/out")
[ ${#pub} = 64 ] || { echo "FAIL key create printed '$pub'"; fails=$((fails + 1)); }
check "key create twice" 1 "$cis" key create dev
check "key create bad name" 3 "$cis" key create ../x
check "unsigned, required" 8 "$cis" skill install --require-signature "$tmp/hello"
grep -q "not signed" "$tmp/err" || { echo "FAIL unsigned: message"; fails=$((fails + 1)); }
check "skill sign" 0 "$cis" skill sign "$tmp/hello" --key dev
[ -f "$tmp/hello/skill.sig" ] || { echo "FAIL no skill.sig"; fails=$((fails + 1)); }
check "signed, untrusted" 8 "$cis" skill install --require-signature "$tmp/hello"
grep -q "does not trust" "$tmp/err" || { echo "FAIL untrusted: message"; fails=$((fails + 1)); }
check "key trust (file)" 0 "$cis" key trust dev "$CIS_HOME/keys/dev.pub"
check "key list" 0 "$cis" key list --json
grep -q "$pub" "$tmp/out" || { echo "FAIL key list lacks the key"; fails=$((fails + 1)); }
check "signed, trusted" 0 "$cis" skill install --require-signature "$tmp/hello"
check "run, required by env" 0 env CIS_REQUIRE_SIGNATURE=true "$cis" skill run hello
check "bad env value" 3 env CIS_REQUIRE_SIGNATURE=maybe "$cis" skill run hello
# Changed after signing: refused whether required or not.
sed -i 's/"1.0.0"/"1.0.1"/' "$tmp/hello/skill.json"
check "tampered" 8 "$cis" skill install "$tmp/hello"
grep -q "does not match" "$tmp/err" || { echo "FAIL tampered: message"; fails=$((fails + 1)); }
# An unsigned skill installed while nothing was required: under the rule,
# `cis mcp` leaves it out of tools/list with a warning on stderr, and
# lists the signed one (the whole list used to fail with -32603); two
# lists in a minute say it once.
mkdir -p "$tmp/plain"
cp "$tmp/hello/hello.wasm" "$tmp/plain/"
printf '{"name":"plain","version":"1.0.0","abi":"cis_v1","wasm":{"path":"hello.wasm","sha256":"%s"}}\n' "$sha" \
  >"$tmp/plain/skill.json"
check "unsigned, not required" 0 "$cis" skill install "$tmp/plain"
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
list='{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "mcp, required" 0 sh -c "printf '%s\n%s\n%s\n' '$init' '$list' '$list' | \"$cis\" mcp --require-signature"
grep -q '"name":"hello"' "$tmp/out" && ! grep -q '"name":"plain"' "$tmp/out" ||
  { echo "FAIL mcp list: $(cat "$tmp/out")"; fails=$((fails + 1)); }
[ "$(grep -c "warn: tools/list leaves out plain: CIS_ESIGNATURE" "$tmp/err")" = 1 ] ||
  { echo "FAIL mcp warning (once for two lists): $(cat "$tmp/err")"; fails=$((fails + 1)); }
# skill list, show, config and remove take the flag too (docs/signing.md:
# every command that opens the skill host); list names what is refused.
check "list, required" 0 "$cis" skill list --require-signature
grep -q "^plain " "$tmp/out" && grep -q "warn: plain cannot be loaded: CIS_ESIGNATURE" "$tmp/err" ||
  { echo "FAIL list, required: $(cat "$tmp/out" "$tmp/err")"; fails=$((fails + 1)); }
grep -q "hello cannot" "$tmp/err" && { echo "FAIL list: hello refused"; fails=$((fails + 1)); }
check "list --json, required" 0 "$cis" skill list --json --require-signature
tr -d ' \t\n' <"$tmp/out" | grep -q '"refused":{"error":"CIS_ESIGNATURE"' ||
  { echo "FAIL list --json: $(cat "$tmp/out")"; fails=$((fails + 1)); }
check "list, not required" 0 "$cis" skill list
[ -s "$tmp/err" ] && { echo "FAIL list, not required: $(cat "$tmp/err")"; fails=$((fails + 1)); }
check "show unsigned, required" 8 "$cis" skill show plain --require-signature
check "show signed, required" 0 "$cis" skill show hello --require-signature
check "config, required" 0 "$cis" skill config show hello --require-signature
check "skill remove plain" 0 "$cis" skill remove --require-signature plain
# Trust withdrawn: the installed skill no longer runs where it is required
# (here by the configuration file), and still runs where it is not.
check "key untrust" 0 "$cis" key untrust dev
printf '{"skills":{"require_signature":true}}\n' >"$CIS_HOME/config.json"
check "run, required by the file" 8 "$cis" skill run hello
rm "$CIS_HOME/config.json"
check "run, not required" 0 "$cis" skill run hello
check "config show lists it" 0 "$cis" config show
grep -q "skills.require_signature" "$tmp/out" || { echo "FAIL config show"; fails=$((fails + 1)); }
check "key untrust unknown" 1 "$cis" key untrust dev
# Trust is kept in the configured registry (the setting `registry`, here
# another SQLite file through CIS_REGISTRY), where the skill commands and
# the servers read it, not always in the home's registry.db.
other=$tmp/other-registry.db
check "key trust, configured registry" 0 env CIS_REGISTRY="sqlite:$other" "$cis" key trust dev "$CIS_HOME/keys/dev.pub"
check "key list, configured registry" 0 env CIS_REGISTRY="sqlite:$other" "$cis" key list --json
grep -q "$pub" "$tmp/out" || { echo "FAIL key list of the configured registry lacks the key"; fails=$((fails + 1)); }
check "key list, home registry" 0 "$cis" key list --json
grep -q "$pub" "$tmp/out" && { echo "FAIL the home registry has the key"; fails=$((fails + 1)); }
check "sign again (the manifest changed above)" 0 "$cis" skill sign "$tmp/hello" --key dev
check "signed, trusted in the configured registry" 0 env CIS_REGISTRY="sqlite:$other" \
  "$cis" skill install --require-signature "$tmp/hello"
check "bad registry setting" 3 env CIS_REGISTRY="nosuch:x" "$cis" key list
echo "cli_sign: $fails failed"
[ "$fails" = 0 ]
