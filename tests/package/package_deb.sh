#!/bin/sh
# The Debian package: `cpack -G DEB` of the build folder into a temporary
# folder, its control fields checked (dpkg-deb -f), its files unpacked
# (dpkg-deb -x) into a temporary root, and the unpacked usr/bin/cis run
# there: `cis run` of the hello example, the README demo (install the notes
# example, run it twice), and `cis skill init` finding usr/share/cis/sdk
# beside it. Fails when cpack or dpkg-deb fails.
#
#   package_deb.sh CPACK BUILD_DIR VERSION EXAMPLES_DIR
set -eu
CPACK=$1 BUILD=$2 VERSION=$3 EXAMPLES=$4
TMP=$(mktemp -d /tmp/cis-deb-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
TMP=$(cd -P "$TMP" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

"$CPACK" -G DEB --config "$BUILD/CPackConfig.cmake" -B "$TMP/out" >"$TMP/cpack.log" 2>&1 || {
  cat "$TMP/cpack.log" >&2; fail "cpack -G DEB"; }
set -- "$TMP"/out/cis_"$VERSION"_*.deb
[ -f "$1" ] || { ls -l "$TMP/out" >&2; fail "no cis_${VERSION}_ARCH.deb"; }
DEB=$1
echo "package: $(basename "$DEB"), $(wc -c <"$DEB") bytes"

[ "$(dpkg-deb -f "$DEB" Package)" = cis ] || fail "Package"
[ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] || fail "Version is not $VERSION"
[ -n "$(dpkg-deb -f "$DEB" Maintainer)" ] || fail "no Maintainer"
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $DEPENDS"
for lib in libc6 libsqlite3 libcjson libssl libsodium libcurl libpq libmicrohttpd; do
  case "$DEPENDS" in *"$lib"*) ;; *) fail "Depends lacks $lib";; esac
done
echo "Recommends: $(dpkg-deb -f "$DEB" Recommends)"

ROOT=$TMP/root
dpkg-deb -x "$DEB" "$ROOT" || fail "dpkg-deb -x"
for f in usr/bin/cis usr/include/cis/cis.h usr/share/cis/sdk/c/cis_skill.h \
         usr/share/cis/sdk/rust/Cargo.toml usr/share/cis/sdk/assemblyscript/package.json \
         usr/share/cis/sdk/python/cis/__init__.py; do
  [ -e "$ROOT/$f" ] || fail "$f is not in the package"
done
find "$ROOT/usr" -name 'libcis.so.*' | grep -q . || fail "no libcis.so in the package"
if find "$ROOT" -name node_modules -o -name __pycache__ -o -name target | grep -q .; then
  fail "build leftovers in the package"
fi

CIS=$ROOT/usr/bin/cis
export CIS_HOME="$TMP/home"
unset CIS_SDK_DIR
cd "$TMP"
"$CIS" --version | grep -q "$VERSION" || fail "the unpacked cis --version does not say $VERSION"
"$CIS" run --skill-host --invoke cis_main "$EXAMPLES/hello/hello.wasm" >"$TMP/run.out" 2>"$TMP/run.err" || {
  cat "$TMP/run.err" >&2; fail "cis run hello.wasm"; }
grep -q "computed 1+1" "$TMP/run.err" || { cat "$TMP/run.err" >&2; fail "hello's log line"; }
"$CIS" skill install "$EXAMPLES/notes" >/dev/null || fail "cis skill install notes"
"$CIS" skill run notes --input '{"op":"add","note":"buy milk"}' >/dev/null 2>&1 || fail "notes add"
"$CIS" skill run notes --input '{"op":"list"}' >"$TMP/notes.out" 2>/dev/null || fail "notes list"
grep -q "buy milk" "$TMP/notes.out" || { cat "$TMP/notes.out" >&2; fail "notes did not keep the note"; }
"$CIS" skill init hello --lang c >/dev/null || fail "cis skill init"
grep -q "$ROOT/usr/share/cis/sdk" hello/build.sh || {
  cat hello/build.sh >&2; fail "the scaffold does not name the unpacked SDK"; }
echo "ok: $(basename "$DEB") unpacks, runs the demo and finds its SDK"
