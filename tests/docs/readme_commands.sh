#!/bin/sh
# readme_commands.sh CIS SOURCE_DIR [CLANG] -- runs the skill author's
# quick path of README.md (the sh block after <!-- quick-path -->) against
# the cis just built, in a home of its own, then starts `cis mcp` as the
# MCP client configuration of README.md (<!-- mcp-config -->) says and
# checks that it answers initialize and lists the installed skill. Also
# checks that docs/README.md lists every document of docs/ and that the
# README's layout names every folder of src/. The two set-up commands at
# the top of README.md (install-deps, build, demo; scripts/test.sh) are
# what CI itself runs, so they are not run here.
# A documented command that fails, or prints other than documented, fails
# the test. Without clang (the C skill's build line) it skips (exit 77),
# except under CI=true, where it fails.
set -u
cis=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$2
clang=${3:--}
readme=$src/README.md
index=$src/docs/README.md
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

tmp=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# The documents: every page of docs/ in the index, every link of the
# index a page; every folder of src/ in the README's layout.
for f in "$src"/docs/*.md; do
  b=$(basename "$f")
  [ "$b" = README.md ] && continue
  grep -q "^- \[$b\]($b): " "$index" || fail "docs/README.md does not list $b"
done
for l in $(sed -n 's/^- \[[^]]*\](\([^)]*\)).*/\1/p' "$index"); do
  [ -f "$src/docs/$l" ] || fail "docs/README.md links $l, which is not in docs/"
done
for d in "$src"/src/*/; do
  n=src/$(basename "$d")/
  sed -n '/^## Layout/,$p' "$readme" | grep -q "^$n\|^src/.* $n" || fail "README.md's layout leaves out $n"
done

# A cis on PATH, a home of its own, none of the caller's settings.
mkdir -p "$tmp/bin" "$tmp/home" "$tmp/work"
ln -s "$cis" "$tmp/bin/cis"
PATH=$tmp/bin:$PATH
HOME=$tmp/home
export PATH HOME
unset CIS_HOME CIS_CONFIG CIS_KV CIS_FS_DB CIS_ENGINE CIS_AOT_CACHE CIS_AI_BASE_URL CIS_AI_MODEL CIS_AI_KEY_ENV
if [ "$clang" != - ]; then
  CC=$clang
  export CC
elif ! command -v clang >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL no clang to build the README's skill (CI=true)"
    exit 1
  fi
  echo "SKIP no clang to build the README's skill"
  exit 77
fi

# The quick path, line for line, with a free port for 8080 and `set -e`.
sed -n '/^<!-- quick-path -->$/,/^```$/p' "$readme" | sed '1,2d;$d' >"$tmp/quick.txt"
[ -s "$tmp/quick.txt" ] || fail "README.md has no quick-path block"
for c in 'cis skill init' 'build.sh' 'cis skill install' 'cis skill run' 'cis serve'; do
  grep -q "$c" "$tmp/quick.txt" || fail "README.md's quick path has no $c"
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
  echo 'set -eu'
  sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" "$tmp/quick.txt"
} >"$tmp/quick.sh"
echo "--- the quick path (port $port):"
cat "$tmp/quick.sh"
echo "---"
(cd "$tmp/work" && timeout 300 sh "$tmp/quick.sh") >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out"
sed 's/^/stderr: /' "$tmp/err"
[ "$rc" = 0 ] || fail "the quick path exited $rc"
n=$(grep -c '"hello": *"Ada"' "$tmp/out")
[ "$n" -ge 2 ] || fail "the quick path printed {\"hello\":\"Ada\"} $n times, not twice (cis skill run and the HTTP invoke)"
grep -q '"status": *"ok"' "$tmp/out" || fail "cis serve's /v1/health did not answer ok"
[ -f "$HOME/.local/share/cis/registry.db" ] || fail "no registry in the default CIS_HOME ($HOME/.local/share/cis)"

# The MCP client configuration: its command and args, its env with the
# sample home (/home/me) read as this test's, one initialize and one
# tools/list over stdin.
sed -n '/^<!-- mcp-config -->$/,/^```$/p' "$readme" | sed '1,2d;$d' >"$tmp/mcp.json"
python3 - "$tmp/mcp.json" "$HOME" <<'PY' || fails=$((fails + 1))
import json, os, subprocess, sys
conf = json.load(open(sys.argv[1]))
srv = conf["mcpServers"]["cis"]
env = dict(os.environ)
for k, v in srv.get("env", {}).items():
    env[k] = v.replace("/home/me", sys.argv[2])
cmd = [srv["command"]] + srv.get("args", [])
print("--- the MCP configuration starts:", " ".join(cmd))
msgs = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize",
     "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "readme_commands", "version": "0"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]
inp = "".join(json.dumps(m) + "\n" for m in msgs)
p = subprocess.run(cmd, input=inp, capture_output=True, text=True, env=env, timeout=120)
print(p.stdout, end="")
replies = {}
for line in p.stdout.splitlines():
    m = json.loads(line)
    if "id" in m:
        replies[m["id"]] = m
ok = True
if p.returncode != 0:
    print("FAIL cis mcp exited", p.returncode, p.stderr); ok = False
init = replies.get(1, {}).get("result", {})
if init.get("protocolVersion") != "2025-06-18" or "serverInfo" not in init:
    print("FAIL cis mcp's answer to initialize:", replies.get(1)); ok = False
tools = [t["name"] for t in replies.get(2, {}).get("result", {}).get("tools", [])]
if "hello" not in tools:
    print("FAIL cis mcp does not list the skill hello:", replies.get(2), p.stderr); ok = False
sys.exit(0 if ok else 1)
PY

echo "readme_commands: $fails failed"
[ "$fails" = 0 ]
