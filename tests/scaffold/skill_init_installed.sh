#!/bin/sh
# `cis skill init` from an installed cis finds the installed SDK beside the
# program (BIN/../share/cis/sdk), also after the whole prefix is moved:
# `cmake --install BUILD --prefix` into a temporary folder, then the prefix
# renamed, then the scaffolds' build files checked to name the SDK there.
# With clang (not "-"), the C scaffold is built against that SDK, installed
# and run. Without clang that part is skipped, and fails under CI=true.
#
#   skill_init_installed.sh CMAKE BUILD_DIR SOURCE_DIR CLANG
set -eu
CMAKE=$1 BUILD=$2 SRC=$3 CLANG=$4
TMP=$(mktemp -d /tmp/cis-installed-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
TMP=$(cd -P "$TMP" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

"$CMAKE" --install "$BUILD" --prefix "$TMP/first" >"$TMP/install.log" || {
  cat "$TMP/install.log" >&2; fail "cmake --install"; }
mv "$TMP/first" "$TMP/prefix"
SDK=$TMP/prefix/share/cis/sdk
CIS=$TMP/prefix/bin/cis

# The SDKs, without what builds leave in the source tree.
for f in c/cis_skill.h rust/Cargo.toml rust/src/lib.rs assemblyscript/package.json \
         assemblyscript/package-lock.json assemblyscript/assembly/index.ts \
         python/pyproject.toml python/cis/__init__.py; do
  [ -f "$SDK/$f" ] || fail "$SDK/$f is not installed"
done
for f in assemblyscript/node_modules rust/target python/tests rust/.gitignore rust/CisRust.cmake; do
  [ ! -e "$SDK/$f" ] || fail "$SDK/$f is installed"
done

unset CIS_SDK_DIR
export CIS_HOME="$TMP/home"
cd "$TMP"
"$CIS" skill init hello-c --lang c >/dev/null
grep -q "SDK=\"\${CIS_SDK_DIR:-$SDK}\"" hello-c/build.sh || {
  cat hello-c/build.sh >&2; fail "the C scaffold does not name $SDK"; }
"$CIS" skill init hello-rs --lang rust >/dev/null
grep -q "path = \"$SDK/rust\"" hello-rs/Cargo.toml || {
  cat hello-rs/Cargo.toml >&2; fail "the Rust scaffold does not name $SDK/rust"; }
"$CIS" skill init hello-as --lang as >/dev/null
grep -q "prefix/share/cis/sdk/assemblyscript/assembly/index" hello-as/skill.ts || {
  cat hello-as/skill.ts >&2; fail "the AssemblyScript scaffold does not name $SDK"; }

# --sdk and CIS_SDK_DIR come first.
CIS_SDK_DIR=$SRC/sdk "$CIS" skill init by-env --lang c >/dev/null
grep -q "$SRC/sdk" by-env/build.sh || fail "CIS_SDK_DIR was not used"
"$CIS" skill init by-opt --lang c --sdk "$SRC/sdk" >/dev/null
grep -q "$SRC/sdk" by-opt/build.sh || fail "--sdk was not used"

# Without the installed SDK, the source tree's (the path built in) is next.
mv "$SDK" "$TMP/sdk-away"
"$CIS" skill init fallback --lang c >/dev/null
grep -q "$SRC/sdk" fallback/build.sh || { cat fallback/build.sh >&2; fail "no fallback to $SRC/sdk"; }
mv "$TMP/sdk-away" "$SDK"

if [ "$CLANG" = - ]; then
  [ "${CI:-}" != true ] || fail "clang is missing (scripts/install-deps.sh)"
  echo "skipped: building the C scaffold (no clang)"
  exit 0
fi
CC=$CLANG hello-c/build.sh
"$CIS" skill install hello-c >/dev/null
"$CIS" skill run hello-c --input '{"name":"Ada"}' >"$TMP/run.out" 2>/dev/null
grep -q '"hello":"Ada"' "$TMP/run.out" || { cat "$TMP/run.out" >&2; fail "the skill's output"; }
echo "ok: installed cis at $TMP/prefix found its SDK and built a C skill with it"
