#!/bin/sh
# The README's demo: installs the `notes` example skill into a fresh
# registry and runs it twice. The skill stores notes in its KV memory and
# logs each step; the second run reads back what the first one stored.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CIS="$BUILD/tools/cis/cis"
[ -x "$CIS" ] || { echo "demo: $CIS not built; run: cmake -S . -B $BUILD && cmake --build $BUILD -j2" >&2; exit 1; }
CIS_HOME=$(mktemp -d)
export CIS_HOME
trap 'rm -rf "$CIS_HOME"' EXIT
echo "== cis skill install $BUILD/examples/notes"
"$CIS" skill install "$BUILD/examples/notes"
echo "== cis skill show notes"
"$CIS" skill show notes
echo "== cis skill run notes --input '{\"op\":\"add\",\"note\":\"buy milk\"}'"
"$CIS" skill run notes --input '{"op":"add","note":"buy milk"}'
echo "== cis skill run notes --input '{\"op\":\"list\"}'"
"$CIS" skill run notes --input '{"op":"list"}'
