# Sourced by the serve benchmarks (serve_load.sh, serve_auth.sh): starting
# `cis serve` on a port of the kernel's choosing, the one way both do it.

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
