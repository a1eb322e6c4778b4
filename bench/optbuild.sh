# optbuild.sh -- the optimised build folder the library's benchmarks use.
#
# This file is sourced by bench/fs.sh and bench/kv.sh. It defines:
#   fail_build WHAT LOG   says that building WHAT failed, shows LOG's end,
#                         exits 2
#   optbuild_prepare      configures $build (RelWithDebInfo, no tests: the
#                         benchmark needs none of them, and so does not
#                         depend on the state of their build files) when it
#                         has no CMakeCache.txt yet, and exits 2 for a Debug
#                         or CIS_SANITIZE=ON folder; sets btype to its
#                         build type
# It reads $me (the script's name, for messages), $root, $build and $out.

fail_build() { # what, log
  echo "$me: building $1 failed (see $2):" >&2
  tail -n 20 "$2" >&2
  exit 2
}

optbuild_prepare() {
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
      >"$out/${me%.sh}-configure.log" 2>&1 || fail_build "the cmake configuration" "$out/${me%.sh}-configure.log"
  fi
  btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
  if grep -q '^CIS_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" || [ "$btype" = Debug ]; then
    echo "$me: $build is a Debug or CIS_SANITIZE=ON build; use an optimised build folder (-b)" >&2
    exit 2
  fi
}
