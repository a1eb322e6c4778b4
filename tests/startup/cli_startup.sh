#!/bin/sh
# This file implements the command-line half of the start-up tests: it
# runs `cis run` under the dynamic loader's LD_DEBUG=files trace, which
# names every shared object the process opens, at start and by dlopen.
#
#   cli_startup.sh pure CIS TRIVIAL.wasm      a pure run opens no libpq,
#                                             libcurl, libcrypto, GnuTLS,
#                                             Kerberos, LDAP
#   cli_startup.sh postgres CIS TRIVIAL.wasm  --vfs db:postgres:... opens libpq
#                                             (the connect then fails)
set -u
mode=$1 cis=$2 wasm=$3
heavy='libpq\.so|libcurl|libgnutls|libkrb5|libgssapi|libldap|libnghttp2|libssh2|libcrypto'
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

case $mode in
pure)
  LD_DEBUG=files timeout 60 "$cis" run "$wasm" >"$tmp/out" 2>"$tmp/trace"
  rc=$?
  [ "$rc" -eq 0 ] || { echo "cis run exited $rc"; cat "$tmp/out" "$tmp/trace" | tail -20; exit 1; }
  # The trace must be there at all (it names libc), or its silence proves nothing.
  grep -q 'file=libc\.so' "$tmp/trace" || { echo "no LD_DEBUG trace"; exit 1; }
  if grep -E "file=[^ ]*($heavy)" "$tmp/trace"; then
    echo "a pure cis run opened the libraries above"
    exit 1
  fi
  echo "a pure cis run opens: $(grep -o 'file=[^ ;]*' "$tmp/trace" | sort -u | tr '\n' ' ')"
  ;;
postgres)
  mkdir "$tmp/dir"
  LD_DEBUG=files timeout 60 "$cis" run --vfs "db:postgres:host=$tmp/nowhere port=5 dbname=cis" \
    --tenant t --dir "$tmp/dir::/data" "$wasm" >"$tmp/out" 2>"$tmp/trace"
  rc=$?
  [ "$rc" -ne 0 ] || { echo "cis run reached a database that is not there"; exit 1; }
  grep -q 'file=libpq\.so.*dynamically loaded' "$tmp/trace" || {
    echo "libpq was not loaded on demand:"
    grep -E 'file=|cis run' "$tmp/trace" | tail -20
    exit 1
  }
  ;;
*)
  echo "usage: $0 pure|postgres CIS TRIVIAL.wasm" >&2
  exit 2
  ;;
esac
exit 0
