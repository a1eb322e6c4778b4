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
# on_tty CMD ARG...: runs CMD on a pseudo-terminal (Python's pty) and
# prints what it wrote there, for at most 60 s.
on_tty() {
  python3 - "$@" <<'PY'
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, t0 = b"", time.time()
while time.time() - t0 < 60:
    if select.select([fd], [], [], 0.5)[0]:
        try:
            d = os.read(fd, 1024)
        except OSError:
            break
        if not d:
            break
        out += d
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
PY
}

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

# A compile in progress: `cis cache list` shows it, by the process
# compiling; `cis compile` on a terminal (a pseudo-terminal made by
# Python's pty) shows its state and time so far once a second.
printf '#!/bin/sh\nsleep 3\nexec gcc "$@"\n' >"$home/slowcc"
chmod +x "$home/slowcc"
CIS_CC=$home/slowcc "$cis" compile "$dir/one.wasm" >/dev/null 2>&1 &
slow=$!
i=0
while ! "$cis" cache list | grep -q "compiling   process $slow," && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$cis" cache list | grep -q "compiling   process $slow," || fail "cache list showed no compile: $("$cis" cache list)"
wait $slow || fail "the slow compile failed"
"$cis" cache clear >/dev/null
out=$(CIS_CC=$home/slowcc on_tty "$cis" compile "$dir/one.wasm") || fail "compile on a terminal: $out"
echo "$out" | grep -q "one.wasm: compiling unit 1/1, [12]\.[0-9] s" || fail "compile on a terminal showed: $out"
echo "$out" | grep -q "one.wasm: compiled in" || fail "compile on a terminal said: $out"
"$cis" cache clear >/dev/null

# A compile in units (here of a few bytes each): `cis cache list` shows the
# unit it compiles, and --json the counts; once its process is killed, the
# compile is no longer listed, though its lock file stays.
printf '#!/bin/sh\nsleep 1\nexec gcc "$@"\n' >"$home/slowcc1"
chmod +x "$home/slowcc1"
CIS_AOT_COMPILE_SLOTS=1 CIS_AOT_UNIT_SIZE=16 CIS_CC=$home/slowcc1 "$cis" compile "$dir/calls.wasm" >/dev/null 2>&1 &
slow=$!
i=0
while ! "$cis" cache list | grep -q "compiling   process $slow, for [0-9]* s, unit 2/" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
"$cis" cache list | grep -q "compiling   process $slow, for [0-9]* s, unit 2/[3-9]$" ||
  fail "cache list showed no unit: $("$cis" cache list)"
out=$("$cis" cache list --json)
echo "$out" | grep -Eq '"units_done":[[:space:]]*[1-9]' || fail "cache list --json showed no units: $out"
echo "$out" | grep -Eq '"units":[[:space:]]*[3-9]' || fail "cache list --json showed no units: $out"
kill -KILL $slow
wait $slow 2>/dev/null
ls "$home/cache/"*.lock >/dev/null || fail "the killed compile left no lock file"
# A compiler child forked but not yet exec'd holds the lock's descriptor
# (closed on exec) for a moment after its parent died: the listing
# follows the lock, so it may show the compile that long.
i=0
while out=$("$cis" cache list) && echo "$out" | grep -q "process $slow" && [ $i -lt 40 ]; do
  sleep 0.05
  i=$((i + 1))
done
echo "$out" | grep -q "process $slow" && fail "a killed compile is still listed after 2 s: $out"
sleep 2 # the compiler it started ends on its own
"$cis" cache clear >/dev/null
# The same compile to its end, on a terminal: each unit in turn, then the link.
out=$(CIS_AOT_COMPILE_SLOTS=1 CIS_AOT_UNIT_SIZE=16 CIS_CC=$home/slowcc1 on_tty "$cis" compile "$dir/calls.wasm") ||
  fail "compile in units on a terminal: $out"
echo "$out" | grep -q "calls.wasm: compiling unit 2/[3-9], " || fail "compile in units showed: $out"
echo "$out" | grep -q "calls.wasm: linking [3-9] units, " || fail "compile in units showed: $out"
[ "$("$cis" cache list | grep -c ' ok$')" = 1 ] || fail "the units' object is no sound entry: $("$cis" cache list)"
"$cis" cache clear >/dev/null
out=$("$cis" cache prune) || fail "cache prune: $out"

# Tiering from the command line: the first run of a module not in the cache
# runs on the interpreter and exits; the compile it leaves behind stores
# the object (waited for here, at most 300 s); the next run finds it.
out=$("$cis" run --engine auto --invoke f "$dir/one.wasm") || fail "auto first run: $out"
[ "$out" = 1 ] || fail "auto first run printed: $out"
i=0
while [ "$("$cis" cache list | grep -c ' ok$')" != 1 ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i + 1)); done
[ "$("$cis" cache list | grep -c ' ok$')" = 1 ] || fail "auto left no entry: $("$cis" cache list)"
out=$("$cis" run --engine auto --invoke f "$dir/one.wasm") || fail "auto second run: $out"
"$cis" cache clear >/dev/null

# Looking at a module compiles nothing, whatever the default engine.
env -u CIS_ENGINE "$cis" validate "$dir/two.wasm" >/dev/null || fail "validate failed"
env -u CIS_ENGINE "$cis" inspect "$dir/two.wasm" >/dev/null || fail "inspect failed"
CIS_ENGINE=aot "$cis" validate "$dir/two.wasm" >/dev/null || fail "validate on aot failed"
sleep 0.3
[ "$("$cis" cache list | grep -c .)" = 1 ] || fail "looking at a module compiled: $("$cis" cache list)"

# auto is the default (no --engine, no CIS_ENGINE): the run prints at once
# and leaves the compile behind; without a compiler it runs on the
# interpreter and says so once.
out=$(env -u CIS_ENGINE "$cis" run --invoke f "$dir/two.wasm" 2>"$home/err") || fail "default run: $(cat "$home/err")"
[ "$out" = 2 ] || fail "default run printed: $out"
i=0
while [ "$("$cis" cache list | grep -c ' ok$')" != 1 ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i + 1)); done
[ "$("$cis" cache list | grep -c ' ok$')" = 1 ] || fail "the default engine compiled nothing: $("$cis" cache list)"
"$cis" cache clear >/dev/null
out=$(CIS_CC=/nonexistent/cc env -u CIS_ENGINE "$cis" run --invoke f "$dir/two.wasm" 2>"$home/err") ||
  fail "default run without compiler: $(cat "$home/err")"
[ "$out" = 2 ] || fail "default run without compiler printed: $out"
[ "$(grep -c 'runs on the interpreter' "$home/err")" = 1 ] || fail "default without compiler said: $(cat "$home/err")"

# Skills: the engine from the configuration file, CIS_ENGINE and --engine,
# in that order; install under auto returns at once and leaves the compile
# behind. A missing compiler shows which engine was chosen: aot fails with
# CIS_EUNSUPPORTED, the others run.
sk=$home/skill
mkdir -p "$sk"
cp "$dir/skill_ok.wasm" "$sk/ok.wasm"
sha=$(sha256sum "$sk/ok.wasm" | cut -c1-64)
printf '{"name":"ok","version":"1.0.0","abi":"cis_v1","wasm":{"path":"ok.wasm","sha256":"%s"}}\n' "$sha" >"$sk/skill.json"
unset CIS_ENGINE CIS_CONFIG
CIS_ENGINE=interp "$cis" skill install "$sk" >/dev/null 2>"$home/err" || fail "install (interp): $(cat "$home/err")"
[ "$("$cis" cache list | grep -c ' ok$')" = 0 ] || fail "install on interp compiled"
"$cis" skill install "$sk" >/dev/null 2>"$home/err" || fail "install (default, auto): $(cat "$home/err")"
i=0
while [ "$("$cis" cache list | grep -c ' ok$')" != 1 ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i + 1)); done
[ "$("$cis" cache list | grep -c ' ok$')" = 1 ] || fail "install on the default left no compile: $("$cis" cache list)"
out=$(CIS_CC=/nonexistent/cc CIS_ENGINE=auto "$cis" skill install "$sk" 2>"$home/err") ||
  fail "install (auto, no compiler) failed: $(cat "$home/err")"
grep -q "runs on the interpreter" "$home/err" || fail "install without compiler said: $(cat "$home/err")"
"$cis" cache clear >/dev/null
out=$(CIS_ENGINE=aot CIS_CC=$home/slowcc on_tty "$cis" skill install "$sk") || fail "install (aot) on a terminal: $out"
echo "$out" | grep -q "skill: compiling unit 1/1, [12]\.[0-9] s" || fail "install (aot) on a terminal showed: $out"
echo "$out" | grep -q "installed ok" || fail "install (aot) on a terminal said: $out"
out=$("$cis" skill run ok --engine aot) || fail "skill run --engine aot: $out"
echo "$out" | grep -q '"ok"' || fail "skill run --engine aot printed: $out"
"$cis" cache clear >/dev/null
export CIS_CC=/nonexistent/cc
"$cis" skill run ok --engine aot >/dev/null 2>"$home/err" && fail "skill run --engine aot ran without a compiler"
grep -q "CIS_EUNSUPPORTED" "$home/err" || fail "skill run aot without compiler said: $(cat "$home/err")"
"$cis" skill run ok --engine auto >/dev/null 2>"$home/err" || fail "skill run auto without compiler: $(cat "$home/err")"
[ "$(grep -c 'runs on the interpreter' "$home/err")" = 1 ] || fail "auto said: $(cat "$home/err")"
printf '{"engine":"aot"}\n' >"$home/config.json"
"$cis" skill run ok >/dev/null 2>&1 && fail "engine aot from the file did not apply"
out=$("$cis" config show) || fail "config show: $out"
echo "$out" | grep -q '^engine  *aot  *file' || fail "config show said: $out"
CIS_ENGINE=interp "$cis" skill run ok >/dev/null 2>"$home/err" || fail "CIS_ENGINE over the file: $(cat "$home/err")"
CIS_ENGINE=interp "$cis" skill run ok --engine aot >/dev/null 2>&1 && fail "--engine did not go over CIS_ENGINE"
CIS_ENGINE=fast "$cis" skill run ok >/dev/null 2>"$home/err"
[ $? = 3 ] || fail "a bad CIS_ENGINE is not a usage error: $(cat "$home/err")"
out=$(CIS_ENGINE=interp "$cis" mcp --help 2>&1); echo "$out" | grep -q -- "--engine" || fail "mcp has no --engine"
out=$("$cis" serve --help 2>&1); echo "$out" | grep -q -- "--engine" || fail "serve has no --engine"
rm -f "$home/config.json"
unset CIS_CC
exit 0
