#!/bin/sh
# Installs every Debian package cis needs to build, test, fuzz and benchmark.
# Run as root on Debian 12. Safe to run again.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config git ca-certificates \
  clang lld llvm libclang-rt-14-dev wasi-libc libclang-rt-14-dev-wasm32 \
  wabt nodejs \
  libcmocka-dev libcjson-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev \
  libssl-dev libsodium-dev libmicrohttpd-dev libxxhash-dev \
  postgresql postgresql-contrib sqlite3 \
  rustc cargo libstd-rust-dev-wasm32 \
  chromium zlib1g-dev \
  wrk flite \
  python3-pytest python3-pip python3-setuptools \
  >/dev/null
# Debian's nodejs ships npm separately; other node builds bundle it.
command -v npm >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends npm >/dev/null
