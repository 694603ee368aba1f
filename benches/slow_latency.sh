#!/usr/bin/env bash
# Does a worker holding many deferred requests keep serving the others?
# Builds the `slow` example, serves it with one worker (pinned to core 0
# when taskset exists), and measures `GET /fast` latency with wrk from
# core 1, alternately alone and while PENDING connections each keep one
# `GET /slow?ms=5000` waiting (answered by the example's thread pool).
# Prints one markdown row per run.
#
#   bash benches/slow_latency.sh                 # 3 rounds, 1000 pending, 8 s per run
#   ROUNDS=5 PENDING=2000 SECS=10 bash benches/slow_latency.sh
#
# Needs wrk (apt-get install wrk). Every run is bounded by SECS.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
PENDING="${PENDING:-1000}"
SECS="${SECS:-8}"
PORT="${PORT:-18490}"

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
pin_server=(); pin_client=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c 0); pin_client=(taskset -c 1)
fi
ulimit -n "$(( PENDING * 2 + 1024 ))" 2>/dev/null || true

cargo build --release --example slow >&2
"${pin_server[@]}" target/release/examples/slow --port "$PORT" --workers 1 >/dev/null &
server=$!
load=""
trap 'kill $server $load 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$PORT/fast" >/dev/null 2>&1 && break
    sleep 0.1
done

# One row: p50, p90, p99 and requests/s of /fast.
fast_row() { # label
    local out; out=$("${pin_client[@]}" wrk -t1 -c10 -d"${SECS}s" --latency "http://127.0.0.1:$PORT/fast" 2>&1)
    local p50 p90 p99 rps
    p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p90=$(awk '$1=="90%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out"); rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$p50" "$p90" "$p99" "$rps"
}

echo
echo "/fast on one worker, 10 connections, $SECS s per run; pending: $PENDING × /slow?ms=5000"
echo
echo "| run | p50 | p90 | p99 | requests/s |"
echo "|---|---:|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
    fast_row "alone, round $round"
    "${pin_client[@]}" wrk -t1 -c"$PENDING" -d"$(( SECS + 8 ))s" --timeout 20s \
        "http://127.0.0.1:$PORT/slow?ms=5000" >/dev/null 2>&1 &
    load=$!
    sleep 3 # every connection has its request pending
    fast_row "$PENDING pending, round $round"
    wait "$load" 2>/dev/null || true
    load=""
done
