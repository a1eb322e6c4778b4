#!/bin/sh
# fuzz.sh -- builds and runs one of cis's libFuzzer targets for a while.
#
# This file implements the fuzzing entry point: it configures and builds a
# clang build with -DCIS_FUZZ=ON in build-fuzz/, seeds a corpus from the
# WebAssembly spec suite, runs the target for SECONDS, and prints a summary
# line with the number of executions and crashes.
#
#   scripts/fuzz.sh TARGET SECONDS [LIBFUZZER-OPTION...]
#
#   TARGET   decode, run, manifest, wasi_fs, mcp, signature, wat, wast,
#            http, aot_elf, aot_entry, aot_image, aot_state, vfs_ext, vfs_db,
#            db_spec or diff
#            (fuzz_decode ... are accepted too)
#
# The corpus lives in fuzz/corpus-TARGET/ and grows from run to run; it is
# seeded from ../shared/wasm-testsuite/{core,simd}/*/*.wasm (or $CIS_TESTSUITE);
# manifest's from fuzz/manifests/*.json and examples/*/skill.json.in;
# wasi_fs's (byte-coded WASI calls, not modules) from the saved findings in
# fuzz/findings/wasi_fs/ and two sequences written below; mcp's (JSON-RPC
# sessions, one message a line) from fuzz/mcp/*.jsonl; wat's (module text)
# from fuzz/wat/*.wat and the suite's *.wat files; wast's (whole scripts)
# from fuzz/wast/*.wast and the 2.0 and 3.0 suites' scripts; http's (requests, see
# fuzz/fuzz_http.c) from fuzz/http/*; aot_elf's (compiled objects) from
# fuzz/aot_entry/, the compile caches found (CIS_AOT_CACHE, $CIS_HOME/cache,
# ~/.local/share/cis/cache) and a few of the system's shared libraries;
# aot_entry's (whole cache entries) from fuzz/aot_entry/ and those caches'
# entries; aot_image's (an image of memory 0 with its trailer) from
# fuzz/aot_image/; vfs_ext's
# (an extent reference, a newline, the extent file) from fuzz/vfs_ext/*;
# vfs_db's (byte-coded VFS calls, not files) from fuzz/findings/vfs_db/;
# db_spec's (database specs) from fuzz/db_spec/*; aot_state's (a compile
# lock's line and a refusal record) from fuzz/aot_state/*; diff's (the
# choices of a module generator and of calls, not modules) from its
# committed corpus only.
# Every target's corpus also gets the findings kept in fuzz/findings/TARGET/.
# Findings are written as fuzz/crash-TARGET-<kind>-<sha1>, where kind is
# libFuzzer's: crash, leak, timeout, oom (slow-unit files are not counted).
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz), JOBS (default 2),
# FUZZ_FORK=1 to keep going after a finding (libFuzzer's -fork=1 mode),
# FUZZ_VERBOSE=1 to show libFuzzer's whole output, FUZZ_NO_BUILD=1 to use
# the fuzz_TARGET already built in FUZZ_BUILD_DIR. FUZZ_GATE=1 is the
# short run ctest's fuzz_gate_TARGET makes: a fresh corpus of the seeds
# in FUZZ_BUILD_DIR/gate-corpus-TARGET/, findings written there as
# gate-finding-TARGET-<kind>-<sha1>, the source tree left as it is. Under
# CI=true, targets seeded from the spec suite fail when it is missing.
# Exit status: 0 no findings, 1 findings, 2 usage or build error.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"; }
[ $# -ge 2 ] || { usage >&2; exit 2; }
target=${1#fuzz_}
secs=$2
shift 2
case $target in
  decode | run | manifest | wasi_fs | mcp | signature | wat | wast | http | aot_elf | aot_entry | aot_image | aot_state | vfs_ext | \
    vfs_db | db_spec | diff) ;;
  *) echo "fuzz.sh: unknown target '$target' (decode, run, manifest, wasi_fs, mcp, signature, wat, wast, http, aot_elf," \
    "aot_entry, aot_image, aot_state, vfs_ext, vfs_db, db_spec, diff)" >&2; exit 2 ;;
esac
case $secs in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number" >&2; exit 2 ;; esac

build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-2}
bin=$build/fuzz/fuzz_$target
log=$build/fuzz-$target.log
mkdir -p "$build"

# Copies each file given (those that exist) into the corpus as a seed.
seed_files() {
  for f in "$@"; do
    [ -f "$f" ] || continue
    dest=$corpus/seed-$(basename "$f")
    [ -e "$dest" ] || cp "$f" "$dest"
  done
}

if [ "${FUZZ_NO_BUILD:-0}" = 1 ]; then
  [ -x "$bin" ] || { echo "fuzz.sh: $bin is not built" >&2; exit 2; }
else
  # Configure every time: cheap, and it picks up subsystems added since.
  if ! CC=${CC_FUZZ:-clang} cmake -S "$root" -B "$build" -DCIS_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1; then
    cat "$build/configure.log" >&2
    echo "fuzz.sh: configuring $build failed" >&2
    exit 2
  fi
  if ! cmake --build "$build" --target "fuzz_$target" -j"$jobs" >"$build/build.log" 2>&1; then
    tail -n 60 "$build/build.log" >&2
    grep -h '^CMake Warning' -A2 "$build/configure.log" >&2 || true
    echo "fuzz.sh: building fuzz_$target failed (log: $build/build.log)" >&2
    exit 2
  fi
fi
gate=${FUZZ_GATE:-0}

# Seed corpus: the spec suite's modules, valid and invalid alike. Copied,
# never linked, because libFuzzer adds and removes files in this folder.
corpus=$root/fuzz/corpus-$target
if [ "$gate" = 1 ]; then
  corpus=$build/gate-corpus-$target
  rm -rf "$corpus"
fi
mkdir -p "$corpus"
suite=${CIS_TESTSUITE:-$root/../shared/wasm-testsuite}
# Every run starts from the target's committed corpus (fuzz/corpus/TARGET/,
# a libFuzzer merge of earlier runs: small, and fast to load) and its kept
# findings. The gate stops there; a long run adds the seeds below (the
# spec suite's thousands of modules among them).
seed_files "$root"/fuzz/corpus/"$target"/* "$root"/fuzz/findings/"$target"/*
case $target in decode | run | wat)
  if [ "$gate" != 1 ] && [ ! -d "$suite/core" ] && [ "${CI:-}" = true ]; then
    echo "fuzz.sh: no spec suite at $suite, and CI=true: fuzz_$target's seeds are missing" >&2
    exit 2
  fi ;;
esac
dict=$root/fuzz/wasm.dict
if [ "$gate" = 1 ]; then
  dict=
  case $target in decode | run) dict=$root/fuzz/wasm.dict ;; manifest | mcp | wat | wast) dict=$root/fuzz/$target.dict ;; esac
elif [ "$target" = manifest ]; then
  # Manifests: ours, and the examples' with their placeholders filled.
  dict=$root/fuzz/manifest.dict
  for f in "$root"/fuzz/manifests/*.json "$root"/examples/*/skill.json.in; do
    [ -e "$f" ] || continue
    dest=$corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f" .in)
    [ -e "$dest" ] || sed 's/@SHA256@/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/;
      s|@ALLOW@|https://api.example.com|' "$f" >"$dest"
  done
elif [ "$target" = mcp ]; then
  # MCP sessions over stdio: one JSON-RPC message a line.
  dict=$root/fuzz/mcp.dict
  seed_files "$root"/fuzz/mcp/*.jsonl
elif [ "$target" = wat ]; then
  # Module text: ours, and the text modules the spec suite's .wast files
  # carry (extracted beside them as *.wat).
  dict=$root/fuzz/wat.dict
  for f in "$root"/fuzz/wat/*.wat "$suite"/core/*/*.wat "$suite"/simd/*/*.wat; do
    [ -e "$f" ] || continue
    dest=$corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f")
    [ -e "$dest" ] || cp "$f" "$dest"
  done
elif [ "$target" = wast ]; then
  # Whole scripts: ours, and the 2.0 and 3.0 suites' .wast files.
  dict=$root/fuzz/wast.dict
  for f in "$root"/fuzz/wast/*.wast "$suite"/core/*/*.wast "$suite"/simd/*/*.wast "$suite"-3.0/*.wast; do
    [ -e "$f" ] || continue
    dest=$corpus/seed-$(basename "$f")
    [ -e "$dest" ] || cp "$f" "$dest"
  done
elif [ "$target" = http ]; then
  # HTTP requests as fuzz/fuzz_http.c reads them.
  dict=
  seed_files "$root"/fuzz/http/*
elif [ "$target" = vfs_ext ]; then
  # An extent reference, a newline, the extent file (fuzz/fuzz_vfs_ext.c).
  dict=
  seed_files "$root"/fuzz/vfs_ext/*
elif [ "$target" = aot_state ]; then
  # A compile lock's line and a refusal record (fuzz/fuzz_aot_state.c).
  dict=
  seed_files "$root"/fuzz/aot_state/*
elif [ "$target" = aot_image ]; then
  # An image of memory 0 and its trailer (fuzz/fuzz_aot_image.c).
  dict=
  seed_files "$root"/fuzz/aot_image/*
elif [ "$target" = db_spec ]; then
  # Database specs (fuzz/fuzz_db_spec.c).
  dict=
  seed_files "$root"/fuzz/db_spec/*
elif [ "$target" = diff ]; then
  # A module generator's choices and calls (fuzz/fuzz_diff.c): any bytes
  # make a module; the committed corpus and the findings are the seeds.
  dict=
elif [ "$target" = vfs_db ]; then
  # VFS calls (fuzz/fuzz_vfs_db.c): the findings kept; any bytes are calls.
  dict=
elif [ "$target" = aot_elf ]; then
  # Compiled objects: cache entries (each starts with its object, so the
  # whole entry is a seed) and ELF shared libraries of the system.
  dict=
  seed_files "$root"/fuzz/aot_entry/* "${CIS_AOT_CACHE:-/nonexistent}"/* "${CIS_HOME:-/nonexistent}"/cache/* \
    "${HOME:-/nonexistent}"/.local/share/cis/cache/* /lib/x86_64-linux-gnu/libm.so.6 \
    /lib/x86_64-linux-gnu/libdl.so.2 /lib/x86_64-linux-gnu/libpthread.so.0
elif [ "$target" = aot_entry ]; then
  # Whole cache entries (KEY.cso): this machine's key text, so a seed
  # reaches the compiler's line and the checksum.
  dict=
  seed_files "$root"/fuzz/aot_entry/* "${CIS_AOT_CACHE:-/nonexistent}"/*.cso "${CIS_HOME:-/nonexistent}"/cache/*.cso \
    "${HOME:-/nonexistent}"/.local/share/cis/cache/*.cso
elif [ "$target" = signature ]; then
  # Signature files, then NUL and the manifest they sign (fuzz/fuzz_signature.c).
  dict=
  seed_files "$root"/fuzz/signature/*
elif [ "$target" = wasi_fs ]; then
  # Its inputs are operations (fuzz/fuzz_wasi_fs.c): the saved findings, a
  # sequence that takes every operation once, and a deep walk under a
  # small depth limit. No dictionary: the wasm one means nothing here.
  dict=
  [ -e "$corpus/seed-every-op" ] || printf '%b' \
    '\0\0\0\0\0\001\0\001\001\0\001\0\012\0\0\012\001\005hello\015\001\0\0\0\013\001\020\0' \
    '\011\0\0\020\0\005\0\0\012\0\002\007\0\0\020\0\002\010\0\0\0\0\006\0\0\0\001\0\012\0\001' \
    '\002\0\0\0\001\0\003\021\001\016\001\007\002\022\0\002\001\001\002\001\023\001\017\001\001' \
    '\014\001\003\0\0\003\024\0\005' >"$corpus/seed-every-op"
  [ -e "$corpus/seed-deep" ] || printf '%b' '\010\003\024\0\037\024\001\037\004\0\0\0' \
    >"$corpus/seed-deep"
elif [ -d "$suite/core" ]; then
  # simd/ too: modules with v128 values and every 0xFD instruction.
  for f in "$suite"/core/*/*.wasm "$suite"/simd/*/*.wasm; do
    [ -e "$f" ] || continue
    dest=$corpus/spec-$(basename "$(dirname "$f")")-$(basename "$f")
    [ -e "$dest" ] || cp "$f" "$dest"
  done
else
  echo "fuzz.sh: no spec suite at $suite; starting from the current corpus only" >&2
fi

prefix=$root/fuzz/crash-$target-
[ "$gate" = 1 ] && prefix=$build/gate-finding-$target-
list_findings() {
  for f in "$prefix"*; do
    case $f in *"*" | *-slow-unit-*) ;; *) echo "$f" ;; esac
  done
}
corpus_size() { find "$corpus" -type f | wc -l; }
before=$(list_findings)

set -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$prefix" "$@"
[ -z "$dict" ] || set -- -dict="$dict" "$@"
# A wasi_fs input needs a few hundred bytes for its 64 operations.
[ "$target" != wasi_fs ] || set -- -max_len=2048 "$@"
# A diff input compiles a module with the C compiler, which a loaded
# machine can hold for seconds; its inputs are a few KB.
[ "$target" != diff ] || set -- -max_len=4096 "$@" -timeout=60
if [ "${FUZZ_FORK:-0}" = 1 ]; then
  set -- -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 "$@"
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

echo "fuzz.sh: fuzz_$target for ${secs}s on $(corpus_size) corpus files (log: ${log#"$root"/})"
status=0
start=$(date +%s)
if [ "${FUZZ_VERBOSE:-0}" = 1 ]; then
  "$bin" "$@" "$corpus" 2>&1 | tee "$log" || true
else
  "$bin" "$@" "$corpus" >"$log" 2>&1 || status=$?
fi

took=$(($(date +%s) - start))

# Executions: libFuzzer's final stats, or in fork mode its last status line.
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
[ -z "$execs" ] && execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
[ -z "$execs" ] && execs=0

# Findings. A single run stops at the first and names its file (which may
# be one found before: the name is the input's hash). Fork mode counts
# them on its status lines, where a leak counts as a crash.
if [ "${FUZZ_FORK:-0}" = 1 ]; then
  counts=$(sed -n 's|^#.*oom/timeout/crash: *\([0-9]*\)/\([0-9]*\)/\([0-9]*\).*|\1 \2 \3|p' "$log" | tail -n 1)
  # shellcheck disable=SC2086 # three numbers, split on purpose
  set -- ${counts:-0 0 0}
  n_oom=$1 n_timeout=$2 n_crash=$3 n_leak=0
  found=$(list_findings | grep -vxF -e "$before" -e '' || true)
else
  found=$(sed -n 's/.*Test unit written to //p' "$log" | grep -v -- '-slow-unit-' || true)
  kind() { printf '%s\n' "$found" | grep -c -- "^$prefix$1-" || true; }
  n_crash=$(kind crash) n_leak=$(kind leak) n_timeout=$(kind timeout) n_oom=$(kind oom)
fi
n_total=$((n_crash + n_timeout + n_oom + n_leak))

if [ "$n_total" -gt 0 ] && [ "${FUZZ_VERBOSE:-0}" != 1 ] && [ "${FUZZ_FORK:-0}" != 1 ]; then
  # The sanitizer's report, without the shadow-memory dump.
  sed -n '/^==[0-9]*== \{0,1\}ERROR\|runtime error:\|ALARM: working on the last Unit\|out-of-memory (/,/^SUMMARY:/p' "$log" |
    head -n 60
  echo
fi
if [ "$n_total" -eq 0 ] && [ "$status" -ne 0 ]; then
  tail -n 30 "$log"
  echo "fuzz.sh: fuzz_$target exited with status $status without a finding" >&2
fi
printf '%s\n' "$found" | sed '/^$/d; s|^'"$root"'/|finding: |' | sed '10{s/.*/.../;q}'
echo "fuzz_$target: $execs executions in ${took}s, $n_total crashes" \
  "(crash $n_crash, leak $n_leak, timeout $n_timeout, oom $n_oom);" \
  "corpus $(corpus_size) files"
[ "$n_total" -eq 0 ] || exit 1
exit 0
