#!/usr/bin/env bash
# serve_tenants.sh -- a quiet tenant's calls while another tenant is noisy.
#
# This file implements the noisy-neighbour benchmark of `cis serve`
# (docs/serve.md, "One tenant's load and the others"). One server (the
# defaults: SQLite registry and KV, 4 workers); tenant `quiet` calls
# kvpair (tests/serve/kvpair.wat: two KV writes in its call) with
# `wrk -t1 -c4`, while tenant `noisy`, in turns:
#
#   alone    does nothing (the reference, measured in the same run);
#   churn    installs and removes a skill over HTTP as fast as one client
#            can (a bundle POST, then a DELETE; wrk -c1, bench/serve/churn.lua);
#   flood    calls echo with `wrk -t1 -c32`;
#   holder   keeps 4 calls running that take their KV namespace's write
#            lock (an atomic increment) and spin to their 1 s deadline
#            (bench/serve/kvhold.wat; wrk -c4, bench/serve/hold.lua);
#   forged   (only when asked with -s) a client with no token sends calls
#            as the flood does, each with a token of the right shape that
#            was never made (wrk -t1 -c32, bench/serve/forged.lua): refused
#            with 401 after each is looked up;
#   notoken  (only when asked with -s) the same client sending no token
#            at all (wrk -t1 -c32, bench/serve/post.lua): refused with 401;
#   absent   (only when asked with -s) the noisy tenant calls skills it
#            does not have, a new name each call (wrk -t1 -c32,
#            bench/serve/absent.lua): each answered 404;
#   public   (only when asked with -s) a client with no token asks for
#            /v1/health as fast as it can (wrk -t1 -c32, GET);
#   floor    (only when asked with -s) a flood of the same shape (wrk -t1
#            -c32, the same POST, each connection pausing 1 ms between
#            requests: about the flood's rate on cis) sent not to cis but
#            to libmicrohttpd answering alone, in a process of its own
#            with as many polling threads as the server
#            (bench/serve/mhd_anchor.c, built here): what such a flood
#            costs the quiet tenant through the machine alone (its
#            clients, the loopback network, the cheapest answers), which
#            no server's design takes back;
#   awake    (only when asked with -s) nobody is noisy, but each CPU runs
#            a busy loop at SCHED_IDLE (chrt -i 0), which any other
#            thread preempts at once: the quiet tenant alone on CPUs that
#            never go idle. A virtual machine's CPU that went idle takes
#            as long to wake as a call takes (bench/NOTES.md), so a flood,
#            which keeps the CPUs busy, can make the quiet tenant faster
#            than alone: this is the reference without that effect.
#
# With -P the registry and the KV store are a private PostgreSQL server's
# (tests/support/pg.sh, on 127.0.0.1, stopped at the end) instead of
# SQLite files; with -n 2 (needs -P) two servers share it, the quiet
# tenant calling the first and the noisy one the second, as two nodes
# of a cluster would be used. With -R (needs -P, and root) that server's
# processes run at real-time priority (SCHED_FIFO 1, from its start, so
# every session's process inherits it), as a database on CPUs of its own
# would: they never wait for a CPU behind the servers' threads or the
# clients. What is left under the flood is then what the servers do to
# each other, not what the database waits for on two shared CPUs.
#
# ROUNDS rounds alternate the scenarios; the figures are the medians of the
# quiet tenant's p50 and p99 latency, and their ratio to `alone`; then the
# median and range of the ratios taken within each round (a scenario
# against the `alone` run just before it: what the machine does from
# minute to minute moves both alike). Exit
# status: 0 when every run could be made (the goal, within 10% of alone,
# is reported, not enforced), 1 when a run failed, 2 on a usage or build
# error.
#
#   bench/serve_tenants.sh [-b BUILD_DIR] [-d SECONDS] [-r ROUNDS] [-q PAUSE_MS] [-N NICE] [-B] [-P] [-R] [-W] [-n NODES] [-s LIST]
#
#   -b BUILD_DIR  optimised build folder (default build-bench), configured
#                 RelWithDebInfo when missing
#   -d SECONDS    each run (default 8)
#   -r ROUNDS     rounds of the four (default 3, at most 20)
#   -q PAUSE_MS   the quiet tenant's pause before each call (default 10)
#   -N NICE       the noisy tenant's clients' nice value (default 19; 0
#                 counts their own CPU use against the server)
#   -B            do not build: use the programs already in BUILD_DIR
#   -P            registry and KV on PostgreSQL (default: SQLite)
#   -R            PostgreSQL's processes at real-time priority (needs -P)
#   -W            the quiet tenant writes other keys each call, 4,000 in
#                 turn (new rows, then rewrites of rows other calls wrote: a
#                 commit that changes the table; default: the same two keys
#                 and value each time, a commit that changes nothing)
#   -n NODES      1 (default) or 2 servers (2 needs -P)
#   -s LIST       the noisy scenarios to run, comma-separated, among churn,
#                 flood, holder, forged, notoken, absent, public, floor and
#                 awake (default: the first three; alone always runs)
#
# Every wait is bounded; the server and the noisy clients are killed on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/serve/lib.sh"
out=$here/out
build=$root/build-bench
secs=8
rounds=3
nobuild=0
pg=0
nodes=1
pause=10
nnice=19
rt=0
fresh=
scenarios="alone churn flood holder"
usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while getopts "b:d:r:q:N:BPRWn:s:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    d) secs=$OPTARG ;;
    r) rounds=$OPTARG ;;
    q) pause=$OPTARG ;;
    N) nnice=$OPTARG ;;
    B) nobuild=1 ;;
    P) pg=1 ;;
    R) rt=1 ;;
    W) fresh=fresh ;;
    n) nodes=$OPTARG ;;
    s) scenarios="alone ${OPTARG//,/ }" ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
for v in "$secs" "$rounds"; do
  case $v in '' | *[!0-9]* | 0) echo "serve_tenants.sh: -d and -r want positive numbers" >&2; exit 2 ;; esac
done
case $pause$nnice in '' | *[!0-9]*) echo "serve_tenants.sh: -q and -N want numbers" >&2; exit 2 ;; esac
[ "$nnice" -le 19 ] || { echo "serve_tenants.sh: -N at most 19" >&2; exit 2; }
[ "$pause" -le 1000 ] || { echo "serve_tenants.sh: -q at most 1000" >&2; exit 2; }
[ "$rounds" -le 20 ] || { echo "serve_tenants.sh: -r at most 20" >&2; exit 2; }
[ "$secs" -le 120 ] || { echo "serve_tenants.sh: -d at most 120" >&2; exit 2; }
[ $rt = 0 ] || [ $pg = 1 ] || { echo "serve_tenants.sh: -R needs -P" >&2; exit 2; }
[ $rt = 0 ] || { command -v chrt && command -v pgrep; } >/dev/null ||
  { echo "serve_tenants.sh: -R needs chrt (util-linux) and pgrep (procps)" >&2; exit 2; }
case $nodes in 1) ;; 2) [ $pg = 1 ] || { echo "serve_tenants.sh: -n 2 needs -P" >&2; exit 2; } ;;
  *) echo "serve_tenants.sh: -n is 1 or 2" >&2; exit 2 ;; esac
for sc in $scenarios; do
  case $sc in alone | churn | flood | holder | forged | notoken | absent | public | floor | awake) ;;
    *) echo "serve_tenants.sh: -s takes churn, flood, holder, forged, notoken, absent, public, floor and awake" >&2
      exit 2 ;;
  esac
done
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
bench_build_folder serve_tenants.sh "$root" "$build" wrk wat2wasm curl base64
mkdir -p "$out"
bench_build_cis serve_tenants.sh "$build" $nobuild
case " $scenarios " in *" floor "*)
  bench_build_folder serve_tenants.sh "$root" "$build" cc pkg-config
  anchor_build serve_tenants.sh "$out" $nobuild ;; esac
case " $scenarios " in *" awake "*) bench_build_folder serve_tenants.sh "$root" "$build" chrt timeout ;; esac
tmp=$(mktemp -d)
srv= srv1= flood= pgdir= apid=
stop_noisy() { # scenario
  # The noisy clients end by themselves (wrk -d, timeout), so that they print their rate.
  # shellcheck disable=SC2086 # one pid, or the busy loops' several
  [ -n "$flood" ] && wait $flood 2>/dev/null
  flood=
  # The holding calls wrk left run on to their 1 s deadline: not into the next run.
  [ "${1:-}" = holder ] && sleep 1
  return 0
}
cleanup() {
  # shellcheck disable=SC2086 # as in stop_noisy
  [ -n "$flood" ] && kill -KILL $flood 2>/dev/null
  stop_noisy
  for p in $srv $srv1 $apid; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "$pgdir" ] && { "$root/tests/support/pg.sh" stop "$pgdir" >/dev/null 2>&1; rm -rf "$pgdir"; }
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

export CIS_HOME=$tmp/home
unset CIS_KV CIS_REGISTRY CIS_AI_BASE_URL CIS_REQUIRE_SIGNATURE
mkdir -p "$CIS_HOME"
store=sqlite
if [ $pg = 1 ]; then
  # Its own folder: pg.sh hands it to the postgres user, which $tmp is not.
  pgdir=$(mktemp -d /tmp/cis-tenants-pg.XXXXXX)
  "$root/tests/support/pg.sh" start "$pgdir" >"$tmp/pg.log" 2>&1 ||
    { echo "serve_tenants.sh: PostgreSQL did not start:" >&2; cat "$tmp/pg.log" >&2; exit 1; }
  export CIS_KV="postgres:$(cat "$pgdir/connstr")" CIS_REGISTRY="postgres:$(cat "$pgdir/connstr")"
  store=postgres
  if [ $rt = 1 ]; then
    # The postmaster and the processes it started; those it starts later
    # inherit the policy.
    pm=$(head -n 1 "$pgdir/data/postmaster.pid")
    for p in $pm $(pgrep -P "$pm"); do
      chrt -f -p 1 "$p" || { echo "serve_tenants.sh: -R: chrt failed (root is needed)" >&2; exit 2; }
    done
    store="postgres at SCHED_FIFO"
  fi
fi
# skill DIR NAME WAT EXTRA: a skill folder from a .wat file.
skill() {
  mkdir -p "$tmp/$1"
  wat2wasm -o "$tmp/$1/m.wasm" "$3" || exit 2
  echo "{\"name\":\"$2\",\"version\":\"1\",\"abi\":\"cis_v1\",\"wasm\":{\"path\":\"m.wasm\"}$4}" >"$tmp/$1/skill.json"
}
skill q kvpair "$root/tests/serve/kvpair.wat" ',"permissions":{"kv":true}'
skill e echo "$root/tests/serve/echo.wat" ''
skill h hold "$here/serve/kvhold.wat" ',"permissions":{"kv":true},"limits":{"timeout_ms":1000}'
"$cis" skill install --tenant quiet "$tmp/q" >/dev/null 2>&1 &&
  "$cis" skill install --tenant noisy "$tmp/e" >/dev/null 2>&1 &&
  "$cis" skill install --tenant noisy "$tmp/h" >/dev/null 2>&1 || { echo "serve_tenants.sh: install failed" >&2; exit 1; }
qtok=$("$cis" token create --tenant quiet --name q 2>/dev/null | tail -n 1)
ntok=$("$cis" token create --tenant noisy --name n 2>/dev/null | tail -n 1)
case "$qtok$ntok" in cis_*cis_*) ;; *) echo "serve_tenants.sh: no tokens made" >&2; exit 1 ;; esac
# The churned skill, as an install bundle (an install over HTTP wants the
# module's sha256 in the manifest).
printf '{"manifest":{"name":"churn","version":"1","abi":"cis_v1","wasm":{"path":"m.wasm","sha256":"%s"}},"wasm_base64":"%s"}' \
  "$(sha256sum "$tmp/e/m.wasm" | cut -d' ' -f1)" "$(base64 -w0 "$tmp/e/m.wasm")" >"$tmp/churn.json"


serve_start "$cis" "$tmp" || exit 1
base=http://127.0.0.1:$port nbase=$base
hthreads=$(curl -s -m 5 "$base/metrics" | sed -n 's/^cis_http_threads \([0-9]*\)$/\1/p')
if [ "$nodes" = 2 ]; then
  # A second node of the same cluster (its own home: only the database is
  # shared), for the noisy tenant.
  srv1=$srv
  mkdir -p "$tmp/n2/home"
  CIS_HOME=$tmp/n2/home serve_start "$cis" "$tmp/n2" || exit 1
  nbase=http://127.0.0.1:$port
fi
# The floor's server: libmicrohttpd alone, polling as the server does.
case " $scenarios " in *" floor "*)
  anchor_start "$anchor" "$tmp" $((port + 1)) "${hthreads:-8}" ||
    { echo "serve_tenants.sh: the anchor did not start" >&2; exit 1; } ;; esac
# The churn's install must work (a refused one is no churn of the registry).
c=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "Authorization: Bearer $ntok" -H 'Content-Type: application/json' \
  --data-binary @"$tmp/churn.json" "$nbase/v1/skills")
[ "$c" = 201 ] || { echo "serve_tenants.sh: the churned skill's install was answered $c" >&2; exit 1; }

# The noisy tenant's part of a scenario, in the background for secs + 1 s,
# at nice $nnice: on a deployment its clients have CPUs of their own; here
# they share the server's two, and what they take would be counted as the
# server's unfairness. Each of its requests that did its work leaves a
# byte in $tmp/work (a holding call ended at its deadline; the churn and
# the flood: wrk's own count of 2xx answers) for its rate in the table.
noise() { # scenario
  : >"$tmp/work"
  case $1 in
    alone) ;;
    churn) # one process: a curl per request cost the quiet tenant as much as the installs
      nice -n "$nnice" wrk -t1 -c1 -d "$((secs + 1))s" --timeout 5s -s "$here/serve/churn.lua" \
        "$nbase" -- "$ntok" "$tmp/churn.json" churn >"$tmp/flood.out" 2>&1 &
      flood=$! ;;
    flood)
      nice -n "$nnice" wrk -t1 -c32 -d "$((secs + 1))s" --timeout 5s -s "$here/serve/post.lua" \
        "$nbase/v1/skills/echo/invoke" -- "$ntok" >"$tmp/flood.out" 2>&1 &
      flood=$! ;;
    forged)
      nice -n "$nnice" wrk -t1 -c32 -d "$((secs + 1))s" --timeout 5s -s "$here/serve/forged.lua" \
        "$nbase/v1/skills/echo/invoke" >"$tmp/flood.out" 2>&1 &
      flood=$! ;;
    notoken)
      nice -n "$nnice" wrk -t1 -c32 -d "$((secs + 1))s" --timeout 5s -s "$here/serve/post.lua" \
        "$nbase/v1/skills/echo/invoke" >"$tmp/flood.out" 2>&1 &
      flood=$! ;;
    absent)
      nice -n "$nnice" wrk -t1 -c32 -d "$((secs + 1))s" --timeout 5s -s "$here/serve/absent.lua" \
        "$nbase" -- "$ntok" >"$tmp/flood.out" 2>&1 &
      flood=$! ;;
    public)
      nice -n "$nnice" wrk -t1 -c32 -d "$((secs + 1))s" --timeout 5s "$nbase/v1/health" >"$tmp/flood.out" 2>&1 &
      flood=$! ;;
    awake) # one busy loop a CPU, ended by timeout; its 0-byte work file gives a rate of 0
      for _ in $(seq "$(nproc)"); do
        chrt -i 0 timeout "$((secs + 1))" sh -c 'while :; do :; done' &
        flood="$flood $!"
      done ;;
    floor) # no token: the anchor answers whatever it is sent
      nice -n "$nnice" wrk -t1 -c32 -d "$((secs + 1))s" --timeout 5s -s "$here/serve/paced.lua" \
        "http://127.0.0.1:$aport/v1/skills/echo/invoke" -- "" 1 >"$tmp/flood.out" 2>&1 &
      flood=$! ;;
    holder) # one process, as the churn
      nice -n "$nnice" wrk -t1 -c4 -d "$((secs + 1))s" --timeout 5s -s "$here/serve/hold.lua" \
        "$nbase/v1/skills/hold/invoke" -- "$ntok" "$tmp/work" >"$tmp/flood.out" 2>&1 &
      flood=$! ;;
  esac
}

# The noisy tenant's requests a second in the run that just ended that
# did their work (above).
noisy_rate() { # scenario
  case $1 in
    alone) echo 0 ;;
    churn | flood | floor) # answered 2xx: a flood over the tenant's cap is mostly refused (429)
      awk -v d="$secs" '/requests in/ { n = $1 } /Non-2xx/ { bad = $NF }
        END { printf "%.1f\n", (n - bad) / (d + 1) }' "$tmp/flood.out" ;;
    forged | notoken | absent | public) # answered at all: refusals, or answers that need no token
      awk -v d="$secs" '/requests in/ { n = $1 } END { printf "%.1f\n", n / (d + 1) }' "$tmp/flood.out" ;;
    *) awk -v n="$(stat -c %s "$tmp/work")" -v d="$secs" 'BEGIN { printf "%.1f\n", n / (d + 0.5) }' ;;
  esac
}

# wrk's latency line for pct ("50%", "99%") in ms.
pct_ms() { # file pct
  awk -v p="$2" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
    else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; print v }' "$1"
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
# "median (lowest-highest)" of one number a line, two decimals.
spread() { sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.2f (%.2f-%.2f)", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR] }'; }

# A counter of the noisy tenant's node's /metrics.
metric() { curl -s -m 5 "$nbase/metrics" | sed -n "s/^$1 \([0-9]*\)\$/\1/p"; }

declare -A res
echo "serve_tenants.sh: quiet wrk -t1 -c4 -d${secs}s on kvpair${fresh:+ (4,000 keys in turn)}, ${pause} ms between calls; $rounds rounds; $store, $nodes node(s)"
for ((r = 1; r <= rounds; r++)); do
  for sc in $scenarios; do
    lane0=$(metric cis_pool_lane_total) thr0=$(metric cis_pool_throttled_total)
    noise "$sc"
    sleep 0.5
    f=$tmp/$sc-$r.out
    wrk -t1 -c4 -d "${secs}s" --timeout 5s --latency -s "$here/serve/paced.lua" "$base/v1/skills/kvpair/invoke" \
      -- "$qtok" "$pause" $fresh >"$f" 2>&1 || { echo "serve_tenants.sh: wrk failed ($sc)" >&2; cat "$f" >&2; exit 1; }
    stop_noisy "$sc"
    lane=$(($(metric cis_pool_lane_total) - ${lane0:-0}))
    thr=$(($(metric cis_pool_throttled_total) - ${thr0:-0}))
    nr=$(noisy_rate "$sc")
    res[${sc}_noisy]+="${nr:-0}"$'\n'
    p50=$(pct_ms "$f" 50%) p99=$(pct_ms "$f" 99%)
    rps=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' "$f")
    bad=$(sed -n 's/^[[:space:]]*Non-2xx or 3xx responses:[[:space:]]*\([0-9]*\).*/\1/p' "$f")
    [ -n "$p50" ] && [ -n "$p99" ] || { echo "serve_tenants.sh: no latency ($sc)" >&2; cat "$f" >&2; exit 1; }
    res[${sc}_p50]+="$p50"$'\n'
    res[${sc}_p99]+="$p99"$'\n'
    [ "$sc" = alone ] && r50=$p50 r99=$p99
    res[${sc}_q50]+=$(awk -v a="$p50" -v x="$r50" 'BEGIN { print a / x }')$'\n'
    res[${sc}_q99]+=$(awk -v a="$p99" -v x="$r99" 'BEGIN { print a / x }')$'\n'
    res[${sc}_rps]+="$rps"$'\n'
    printf '  %-7s round %d: quiet %8.0f calls/s  p50 %8.2f ms  p99 %8.2f ms  non-2xx %s  noisy %s/s  on the lane %s  throttled %s\n' \
      "$sc" "$r" "$rps" "$p50" "$p99" "${bad:-0}" "${nr:-0}" "$lane" "$thr"
  done
done

a50=$(printf '%s' "${res[alone_p50]}" | median) a99=$(printf '%s' "${res[alone_p99]}" | median)
report=$out/serve_tenants.md
{
  echo "| noisy tenant | noisy 2xx/s | quiet calls/s | quiet p50 ms | p50 / alone | quiet p99 ms | p99 / alone | p50 / alone by round | p99 / alone by round |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for sc in $scenarios; do
    m50=$(printf '%s' "${res[${sc}_p50]}" | median) m99=$(printf '%s' "${res[${sc}_p99]}" | median)
    mr=$(printf '%s' "${res[${sc}_rps]}" | median) mn=$(printf '%s' "${res[${sc}_noisy]}" | median)
    q50=$(printf '%s' "${res[${sc}_q50]}" | spread) q99=$(printf '%s' "${res[${sc}_q99]}" | spread)
    awk -v s="$sc" -v n="$mn" -v r="$mr" -v a="$m50" -v b="$m99" -v x="$a50" -v y="$a99" -v c="$q50" -v d="$q99" \
      'BEGIN { printf "| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n", s, n, r, a, a / x, b, b / y, c, d }'
  done
  echo
  echo "($store, $nodes node(s); quiet: 4 connections${fresh:+, 4,000 keys in turn}, ${pause} ms between calls; noisy clients at nice $nnice; ${hthreads:-?} polling threads; medians of $rounds runs of ${secs}s; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
} >"$report"
cat "$report"
