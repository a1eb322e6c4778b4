#!/bin/sh
# Embedding checks, run by CTest (tests/embed/CMakeLists.txt). Each
# subcommand is one test; see the CMakeLists for what each guards.
#
#   install BUILD PREFIX                 cmake --install BUILD into PREFIX
#   pkgconfig PREFIX SRC WORK            build the README example with pkg-config
#   find-package PREFIX SRC WORK         ... with find_package(cis)
#   add-subdirectory SRC WORK SANITIZE BUILD_TYPE
#                                        ... with add_subdirectory(SRC)
#   exports LIBCIS_SO SRC WORK           libcis.so exports the public API only
#   layers AR_RUNTIME AR_INTERP AR_WASM AR_COMMON
#                                        the runtime names no engine
#   sdk-header SRC WORK                  wasm modules depend on the SDK header
#
# CC is the C compiler of the build under test. Every program built here is
# run, and must print the README example's line.
set -eu

die() { echo "FAIL: $*" >&2; exit 1; }
CC=${CC:-cc}
JOBS=${JOBS:-2}
EXPECT='add(40, 2) = 42'

# The C block after <!-- embed-example --> in README.md, into $2.
extract_example() {
  awk '/<!-- embed-example -->/ {on = 1; next}
       on == 1 && /^```c/ {on = 2; next}
       on == 2 && /^```/ {exit}
       on == 2 {print}' "$1/README.md" >"$2"
  [ -s "$2" ] || die "README.md has no C block after <!-- embed-example -->"
}

# Runs program $1 and checks it printed the example's line.
check_run() {
  out=$("$1") || die "$1 exited with $?: $out"
  case $out in *"$EXPECT"*) echo "ok: $1: $out" ;; *) die "$1 printed: $out" ;; esac
}

# Program $1 must (yes) or must not (no) need libcis.so at run time.
check_needs_so() {
  if readelf -d "$1" | grep -q 'NEEDED.*libcis\.so'; then has=yes; else has=no; fi
  [ "$has" = "$2" ] || die "$1: needs libcis.so: $has, expected $2"
}

cmd=$1
shift
case $cmd in
install)
  build=$1 prefix=$2
  rm -rf "$prefix"
  cmake --install "$build" --prefix "$prefix" >/dev/null
  [ -d "$prefix" ] || die "cmake --install $build installed nothing"
  libdir=$(cd "$prefix" && ls -d lib*/pkgconfig | head -n 1 | sed 's,/pkgconfig$,,')
  [ -n "$libdir" ] || die "no pkgconfig directory under $prefix"
  for f in include/cis/cis.h include/cis/errors.def include/cis/cis_skill.h \
           include/cis/cis_vfs.h "$libdir/libcis.a" "$libdir/libcis.so" \
           "$libdir/pkgconfig/cis.pc" "$libdir/pkgconfig/cis-static.pc" \
           "$libdir/cmake/cis/cisConfig.cmake" \
           "$libdir/cmake/cis/cisConfigVersion.cmake" bin/cis; do
    [ -e "$prefix/$f" ] || die "cmake --install did not install $f"
  done
  # The soname carries the major version; the file the full version.
  soname=$(readelf -d "$prefix/$libdir/libcis.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
  [ "$soname" = libcis.so.0.2 ] || die "soname is '$soname', expected libcis.so.0.2"
  [ -e "$prefix/$libdir/libcis.so.0.2.0" ] || die "libcis.so.0.2.0 not installed"
  # The installed program runs.
  v=$("$prefix/bin/cis" --version) || die "the installed cis program does not run"
  [ "$v" = "cis 0.2.0" ] || die "the installed cis program says '$v'"
  echo "ok: installed into $prefix ($libdir)"
  ;;

pkgconfig)
  prefix=$1 src=$2 work=$3
  rm -rf "$work" && mkdir -p "$work"
  extract_example "$src" "$work/app.c"
  PKG_CONFIG_PATH=$(ls -d "$prefix"/lib*/pkgconfig | head -n 1)
  export PKG_CONFIG_PATH
  pkg-config --exists cis || die "pkg-config does not find cis in $PKG_CONFIG_PATH"
  libdir=$(pkg-config --variable=libdir cis)
  [ -e "$libdir/libcis.so" ] || die "cis.pc's libdir ($libdir) has no libcis.so"
  # Shared: the documented line.
  # shellcheck disable=SC2046
  $CC -std=c17 -Wall -Wextra -Werror $(pkg-config --cflags cis) "$work/app.c" \
    $(pkg-config --libs cis) -Wl,-rpath,"$libdir" -o "$work/app_shared"
  check_needs_so "$work/app_shared" yes
  check_run "$work/app_shared"
  # Static, over the shared system libraries: cis-static.pc.
  # shellcheck disable=SC2046
  $CC -std=c17 -Wall -Wextra -Werror $(pkg-config --cflags cis-static) "$work/app.c" \
    $(pkg-config --libs cis-static) -o "$work/app_static"
  check_needs_so "$work/app_static" no
  check_run "$work/app_static"
  # cis.pc's private fields, for `pkg-config --static`, name the same
  # modules and system libraries.
  req=$(pkg-config --print-requires-private cis | awk '{print $1}' | sort | tr '\n' ' ')
  want=$(pkg-config --print-requires cis-static | awk '{print $1}' | sort | tr '\n' ' ')
  [ "$req" = "$want" ] || die "cis.pc Requires.private: '$req', cis-static.pc Requires: '$want'"
  for l in -pthread -lm -ldl; do
    pkg-config --static --libs cis | tr ' ' '\n' | grep -qx -- "$l" ||
      die "pkg-config --static --libs cis lacks $l"
  done
  ;;

find-package)
  prefix=$1 src=$2 work=$3
  rm -rf "$work" && mkdir -p "$work"
  extract_example "$src" "$work/app.c"
  cmake -S "$src/tests/embed/consumer" -B "$work/build" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_PREFIX_PATH="$prefix" -DAPP_SOURCE="$work/app.c" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; die "configuring the find_package consumer"; }
  cmake --build "$work/build" -j"$JOBS" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; die "building the find_package consumer"; }
  check_needs_so "$work/build/app_shared" yes
  check_run "$work/build/app_shared"
  check_needs_so "$work/build/app_static" no
  check_run "$work/build/app_static"
  ;;

add-subdirectory)
  src=$1 work=$2 sanitize=$3 build_type=$4
  rm -rf "$work" && mkdir -p "$work"
  extract_example "$src" "$work/app.c"
  cmake -S "$src/tests/embed/consumer" -B "$work/build" -DCMAKE_C_COMPILER="$CC" \
    -DCIS_CHECKOUT="$src" -DCIS_SANITIZE="$sanitize" -DCMAKE_BUILD_TYPE="$build_type" \
    -DAPP_SOURCE="$work/app.c" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; die "configuring the add_subdirectory consumer"; }
  # A consumer's build holds the library and nothing else of cis.
  for t in test_interp test_skill cis_cli example_hello; do
    if grep -q "^$t:" "$work/build/Makefile" 2>/dev/null; then
      die "add_subdirectory() of cis defines $t; a consumer gets only the library"
    fi
  done
  # cis's warnings are not the consumer's errors: -Werror (CIS_WERROR) is
  # on only where cis is the top-level project.
  if grep -rq -- '-Werror' "$work/build/cis/src" --include=flags.make; then
    die "add_subdirectory() of cis compiles with -Werror; CIS_WERROR is for cis's own builds"
  fi
  # One make for everything (`all`: the apps and the library targets they
  # need): two --target names would run two makes that race on the same
  # objects.
  cmake --build "$work/build" -j"$JOBS" >"$work/build.log" 2>&1 ||
    { tail -60 "$work/build.log"; die "building the add_subdirectory consumer"; }
  check_needs_so "$work/build/app_shared" yes
  check_run "$work/build/app_shared"
  check_needs_so "$work/build/app_static" no
  check_run "$work/build/app_static"
  ;;

exports)
  so=$1 src=$2 work=$3
  mkdir -p "$work"
  [ -e "$so" ] || die "$so does not exist"
  cmake -DHEADERS="$src/include/cis" -DOUT="$work/declared.txt" \
    -P "$src/tests/embed/public_functions.cmake" || die "public headers"
  nm -D --defined-only "$so" | awk '{print $NF}' | sort -u >"$work/exported.txt"
  [ -s "$work/exported.txt" ] || die "$so exports nothing"
  bad=$(grep -v '^cis_' "$work/exported.txt" || true)
  [ -z "$bad" ] || die "$so exports names outside cis_: $(echo "$bad" | head -20 | tr '\n' ' ')"
  internal=$(grep '^cis__' "$work/exported.txt" || true)
  [ -z "$internal" ] || die "$so exports internal names: $(echo "$internal" | head -20 | tr '\n' ' ')"
  absent=$(comm -23 "$work/declared.txt" "$work/exported.txt")
  [ -z "$absent" ] || die "declared in include/cis but not exported: $(echo "$absent" | tr '\n' ' ')"
  echo "ok: $(wc -l <"$work/exported.txt") symbols exported, $(wc -l <"$work/declared.txt") declared"
  ;;

layers)
  # Every cis_ symbol a library uses is defined by itself or a lower layer:
  # the runtime links without any engine, the interpreter needs only the
  # runtime and below.
  rt=$1 interp=$2 wasm=$3 common=$4
  defined() { nm --defined-only "$@" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBRVW]/ {print $3}' | sort -u; }
  undef() { nm -u "$1" 2>/dev/null | awk '{print $NF}' | grep '^cis_' | sort -u; }
  tmp=$(mktemp -d)
  defined "$rt" "$wasm" "$common" >"$tmp/rt"
  defined "$interp" "$rt" "$wasm" "$common" >"$tmp/interp"
  bad_rt=$(undef "$rt" | comm -23 - "$tmp/rt")
  bad_interp=$(undef "$interp" | comm -23 - "$tmp/interp")
  rm -rf "$tmp"
  [ -z "$bad_rt" ] || die "the runtime names symbols above it: $(echo "$bad_rt" | tr '\n' ' ')"
  [ -z "$bad_interp" ] || die "the interpreter names symbols above it: $(echo "$bad_interp" | tr '\n' ' ')"
  echo "ok: runtime and interpreter name nothing above them"
  ;;

sdk-header)
  src=$1 work=$2
  rm -rf "$work" && mkdir -p "$work/proj/sdk/c"
  cp "$src/tests/embed/sdkdep/CMakeLists.txt" "$src/tests/embed/sdkdep/probe.c" "$work/proj/"
  printf '#define CIS_SDKDEP_VALUE 1\n' >"$work/proj/sdk/c/cis_skill.h"
  cmake -S "$work/proj" -B "$work/build" -DCIS_CMAKE_DIR="$src/cmake" \
    -DCIS_SDK_C_DIR="$work/proj/sdk/c" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; die "configuring the SDK header project"; }
  cmake --build "$work/build" >"$work/build1.log" 2>&1 || { cat "$work/build1.log"; die "first build"; }
  cp "$work/build/probe.wasm" "$work/probe1.wasm"
  printf '#define CIS_SDKDEP_VALUE 2\n' >"$work/proj/sdk/c/cis_skill.h"
  cmake --build "$work/build" >"$work/build2.log" 2>&1 || { cat "$work/build2.log"; die "second build"; }
  if cmp -s "$work/probe1.wasm" "$work/build/probe.wasm"; then
    die "editing the SDK header did not rebuild the module"
  fi
  echo "ok: the module was rebuilt after the SDK header changed"
  ;;

*)
  die "unknown subcommand $cmd"
  ;;
esac
