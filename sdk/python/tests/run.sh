#!/bin/sh
# run.sh: runs the Python SDK's pytest suite (sdk/python/tests) for CTest
# (tests/python/CMakeLists.txt), with /usr/bin/python3, not whatever
# python3 a PATH shim picks. Without pytest it skips (exit 77) on a
# developer machine and fails under CI=true, where nothing may be skipped.
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if ! "$py" -c 'import pytest' 2>/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "FAILED: pytest for $py is missing (CI=true, so this is a failure; run scripts/install-deps.sh)" >&2
    exit 1
  fi
  echo "SKIPPED: pytest for $py is missing (apt-get install python3-pytest)" >&2
  exit 77
fi
# A sanitizer build (CIS_PY_PRELOAD, tests/python/CMakeLists.txt): its
# runtimes are preloaded into python, leaks are not counted (python's own
# allocations live to its exit), and the C compiler the compiled tier
# runs gets them not: a wrapper unsets them for it, and has no address
# space bound (ASan's shadow memory does not fit the compiler's 1 GiB).
if [ -n "${CIS_PY_PRELOAD:-}" ]; then
  mkdir -p "${CIS_PY_TMP:?}" || exit 1
  printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$@"\n' "${CIS_CC:-cc}" >"$CIS_PY_TMP/cc-plain"
  chmod +x "$CIS_PY_TMP/cc-plain" || exit 1
  export CIS_CC="$CIS_PY_TMP/cc-plain" LD_PRELOAD="$CIS_PY_PRELOAD" ASAN_OPTIONS=detect_leaks=0 \
    CIS_AOT_CC_MAX_MEMORY=0
fi
cd "$here/.." || exit 1
# --capture=sys: what the C library writes to fd 2 (a sanitizer report,
# a crash) reaches the log, not a capture file lost with the process.
exec "$py" -m pytest -q -p no:cacheprovider --capture=sys tests "$@"
