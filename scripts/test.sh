#!/bin/sh
# Runs the whole cis test suite: first the fuzz gate (every libFuzzer
# target for a short budget, in a clang build with -DCIS_FUZZ=ON; see
# fuzz/README.md, "The gate"), then the suite under AddressSanitizer +
# UndefinedBehaviorSanitizer (LeakSanitizer on) and in a plain optimised
# build (a Release build of the library and program is only compiled);
# then, in the optimised build, the skill, WASI and host-API tests once
# more on the compiled engine.
# Exits non-zero if anything fails; the last line printed is ctest's summary.
set -u
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then ./scripts/install-deps.sh || exit 1; fi
JOBS=${JOBS:-2}
rc=0

build() { # dir, extra cmake args...
  dir=$1; shift
  cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1 || { tail -80 "$dir.build.log"; return 1; }
}

echo "== build (fuzz targets: clang, libFuzzer, address, undefined) =="
build build-fuzz -DCMAKE_C_COMPILER=clang -DCIS_FUZZ=ON -DCIS_BUILD_TESTS=OFF -DCIS_BUILD_EXAMPLES=OFF \
  -DCIS_BUILD_BENCH=OFF -DCIS_BUILD_CLI=OFF -DCIS_INSTALL=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo || rc=1
# The spec suites on the compiled engine compile some 3,000 modules with
# gcc, the same C in both builds: one cache for both, so the second
# build's runs load what the first compiled (tests/aot/CMakeLists.txt).
spec_aot_home=$PWD/build-spec-aot
mkdir -p "$spec_aot_home"
echo "== build (sanitizers: address, undefined) =="
build build-asan -DCIS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCIS_SPEC_AOT_HOME="$spec_aot_home" || rc=1
echo "== build (release) =="
build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCIS_SPEC_AOT_HOME="$spec_aot_home" || rc=1
# Release (-O3 -DNDEBUG) sees more of the code and warns where the other
# types do not: it is compiled, library and program only (no tests run).
echo "== build (Release, library and program only) =="
build build-release -DCMAKE_BUILD_TYPE=Release -DCIS_WERROR=ON -DCIS_BUILD_TESTS=OFF \
  -DCIS_BUILD_EXAMPLES=OFF -DCIS_BUILD_BENCH=OFF -DCIS_INSTALL=OFF || rc=1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== fuzz gate (ctest -L fuzz in build-fuzz) =="
(cd build-fuzz && ctest --output-on-failure -j"$JOBS" -L fuzz --timeout 900) || rc=1
echo "== ctest under ASan+UBSan =="
(cd build-asan && ctest --output-on-failure -j"$JOBS" --timeout 1500) || rc=1
echo "== ctest (release) =="
(cd build && ctest --output-on-failure -j"$JOBS" --timeout 1500) || rc=1
# The skill, WASI, host-API and limits tests again on the compiled engine
# (CIS_ENGINE is the library's default engine), sharing one compile cache
# kept in the build folder (the tests make private CIS_HOMEs): about 3 min
# more with an empty cache on the loaded 2-core machine, seconds with a warm
# one (docs/aot.md).
echo "== ctest (release, compiled engine) =="
(cd build && CIS_ENGINE=aot CIS_AOT_CACHE="$PWD/aot-cache" ctest --output-on-failure -j"$JOBS" --timeout 1500 \
  -R '^(test_skill|test_skill_warm|test_skill_fs|test_wasi|test_wasi_deep|test_wasi_fs_replay|test_runtime_hostcall|test_runtime_limits)$') ||
  rc=1
exit $rc
