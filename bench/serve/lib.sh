# Sourced by the serve benchmarks (serve_load.sh, serve_auth.sh,
# serve_http.sh, ...): their build folder's checks and starting `cis serve`
# on a port of the kernel's choosing, the one way each does them. The
# build folder's checks serve bench/fs.sh and bench/kv.sh too.

# bench_build_folder NAME ROOT BUILD [TOOL...]: the tools are on the PATH,
# and BUILD is an optimised build folder (configured RelWithDebInfo
# without tests when missing: no benchmark needs them, nor depends then
# on the state of their build files; Debug or CIS_SANITIZE=ON refused),
# and sets btype to its build type. Exits 2, naming the script NAME, when
# not.
bench_build_folder() {
  local name=$1 root=$2 build=$3 tool
  shift 3
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$name: $tool not found (scripts/install-deps.sh)" >&2; exit 2; }
  done
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null || exit 2
  fi
  if grep -q '^CIS_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
    echo "$name: $build is built with CIS_SANITIZE=ON; use an optimised build folder (-b)" >&2
    exit 2
  fi
  btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
  case $btype in
    Release | RelWithDebInfo | MinSizeRel) ;;
    *) echo "$name: $build is a '$btype' build; use an optimised one (-b)" >&2; exit 2 ;;
  esac
}

# bench_build_cis NAME BUILD NOBUILD: builds the CLI in BUILD (unless
# NOBUILD is 1) and sets cis to it; exits 2, naming the script NAME, when
# the build fails or, with NOBUILD, there is none.
bench_build_cis() {
  local name=$1 build=$2 nobuild=$3 log=$2/bench-${1%.sh}-build.log
  if [ "$nobuild" = 0 ] && ! cmake --build "$build" -j2 --target cis_cli >"$log" 2>&1; then
    echo "$name: the build failed (see $log):" >&2
    tail -n 20 "$log" >&2
    exit 2
  fi
  cis=$build/tools/cis/cis
  [ -x "$cis" ] || { echo "$name: build first (no -B)" >&2; exit 2; }
}

# serve_start CIS DIR ARGS...: runs `CIS serve --listen 127.0.0.1:0 ARGS...`
# in the background, its stdout and stderr in DIR/serve.out and
# DIR/serve.err, and waits (30 s at most) for the line that says its port.
# Sets srv (the pid) and port; returns 1, with the server's stderr shown,
# when it did not start.
serve_start() {
  local cis=$1 dir=$2
  shift 2
  "$cis" serve --listen 127.0.0.1:0 "$@" >"$dir/serve.out" 2>"$dir/serve.err" &
  srv=$!
  port=
  for _ in $(seq 300); do
    port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$dir/serve.out" | head -n 1)
    [ -n "$port" ] && return 0
    kill -0 "$srv" 2>/dev/null || break
    sleep 0.1
  done
  echo "the server did not start:" >&2
  cat "$dir/serve.err" >&2
  return 1
}

# anchor_build NAME OUT NOBUILD: builds bench/serve/mhd_anchor.c
# (libmicrohttpd answering alone) into OUT/mhd_anchor unless NOBUILD is 1,
# and sets anchor to it; exits 2, naming the script NAME, when the build
# fails or, with NOBUILD, there is none.
anchor_build() {
  local name=$1 here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  anchor=$2/mhd_anchor
  if [ "$3" = 0 ]; then
    # shellcheck disable=SC2046 # pkg-config's flags, split on purpose
    cc -O2 -Wall -Wextra -o "$anchor" "$here/mhd_anchor.c" $(pkg-config --cflags --libs libmicrohttpd) || exit 2
  fi
  [ -x "$anchor" ] || { echo "$name: build first (no -B)" >&2; exit 2; }
}

# anchor_start ANCHOR DIR FROM THREADS: runs the anchor with THREADS
# polling threads on the first port from FROM up where it starts (20
# tries, each waiting 2.5 s at most for its "ready"), its output in
# DIR/anchor.out and DIR/anchor.err. Sets apid and aport; returns 1 when
# it did not start.
anchor_start() {
  local anchor=$1 dir=$2 threads=$4
  aport=$3 apid=
  for _ in $(seq 20); do
    "$anchor" "$aport" "$threads" >"$dir/anchor.out" 2>"$dir/anchor.err" &
    apid=$!
    for _ in $(seq 50); do
      grep -q ready "$dir/anchor.out" 2>/dev/null && return 0
      kill -0 "$apid" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$apid" 2>/dev/null
    wait "$apid" 2>/dev/null
    apid=
    aport=$((aport + 1))
  done
  return 1
}
