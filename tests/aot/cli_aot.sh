#!/bin/sh
# cli_aot.sh CIS WASM_DIR: `cis compile`, `cis cache list|prune|clear`,
# `cis run --engine aot|auto`, and both without a compiler, through the
# program. Prints what failed and exits 1, else exits 0.
set -u
cis=$1
dir=$2
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export CIS_HOME=$home
unset CIS_CC
fail() { echo "cli_aot: $*" >&2; exit 1; }

out=$("$cis" compile "$dir/one.wasm" "$dir/limits.wasm") || fail "compile: $out"
echo "$out" | grep -q "one.wasm: compiled" || fail "compile said: $out"
out=$("$cis" compile "$dir/one.wasm") || fail "compile again: $out"
echo "$out" | grep -q "cached" || fail "second compile said: $out"
out=$("$cis" cache list) || fail "cache list: $out"
echo "$out" | grep -q "^2 entries" || fail "cache list said: $out"
[ "$(echo "$out" | grep -c ' ok$')" = 2 ] || fail "cache list said: $out"
out=$("$cis" run --engine aot --invoke div "$dir/limits.wasm" -7 2) || fail "run aot: $out"
[ "$out" = -3 ] || fail "run aot printed: $out"
"$cis" run --engine aot --invoke div "$dir/limits.wasm" 1 0 2>/dev/null
[ $? = 5 ] || fail "a trap on aot is not exit 5"
out=$("$cis" run --engine auto --fuel 1000 --invoke div "$dir/limits.wasm" 9 3) || fail "auto+fuel: $out"
[ "$out" = 3 ] || fail "auto with fuel printed: $out"
"$cis" run --engine nope --invoke div "$dir/limits.wasm" 9 3 2>/dev/null && fail "engine nope ran"

# Without a compiler: aot is a typed error naming gcc; auto runs on the
# interpreter and says so once.
err=$(CIS_CC=/nonexistent/cc "$cis" run --engine aot --invoke div "$dir/two.wasm" 2>&1)
echo "$err" | grep -q "CIS_EUNSUPPORTED" || fail "aot without compiler said: $err"
echo "$err" | grep -q "gcc" || fail "aot without compiler did not name gcc: $err"
out=$(CIS_CC=/nonexistent/cc "$cis" run --engine auto --invoke f "$dir/two.wasm" 2>"$home/err") ||
  fail "auto without compiler failed: $(cat "$home/err")"
[ "$out" = 2 ] || fail "auto without compiler printed: $out"
[ "$(grep -c 'runs on the interpreter' "$home/err")" = 1 ] || fail "auto said: $(cat "$home/err")"

out=$("$cis" cache clear) || fail "cache clear: $out"
echo "$out" | grep -q "removed 2 entries" || fail "cache clear said: $out"
out=$("$cis" cache prune) || fail "cache prune: $out"
exit 0
