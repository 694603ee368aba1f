#!/usr/bin/env bash
# Load-tests your own build: builds the `bench` example in release mode,
# serves it on 127.0.0.1 (pinned to core 0 when taskset exists), and runs
# wrk and oha (whichever is installed) from core 1 for the loadbench
# scenarios, printing a markdown table (with wrk, also the server's CPU
# time per response); then S1 and its deferred twin side by side, three
# times.
#
#   bash benches/load.sh                         # 5 s per run, one worker
#   SECS=10 WORKERS=2 ACCEPT_THREADS=1 bash benches/load.sh   # with an accept thread
#   EXAMPLE=dashboard WORKERS=2 bash benches/load.sh          # load the dashboard
#                                               # example, and watch it at http://127.0.0.1:18480/
#
# wrk: `apt-get install wrk`; oha: `cargo install oha --locked`. For
# comparisons with other servers, use benches/loadbench/compare.py (see
# the README's Benchmarks section). Every run is bounded by SECS.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${SECS:-5}"
# Any example that serves the contract (`/plaintext`, `/big`); only
# `bench` serves `/deferred` too.
EXAMPLE="${EXAMPLE:-bench}"
WORKERS="${WORKERS:-1}"
# Unset: the server's default (0 on Linux: each worker accepts for itself).
ACCEPT_THREADS="${ACCEPT_THREADS:-}"
accept_flag=()
[ -n "$ACCEPT_THREADS" ] && accept_flag=(--accept-threads "$ACCEPT_THREADS")
PORT="${PORT:-18480}"

have() { command -v "$1" >/dev/null 2>&1; }
if ! have wrk && ! have oha; then
    echo "neither wrk nor oha is installed (apt-get install wrk; cargo install oha --locked)" >&2
    exit 1
fi
pin_server=(); pin_client=()
if have taskset && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c 0); pin_client=(taskset -c 1)
fi

cargo build --release --example "$EXAMPLE" >&2
"${pin_server[@]}" target/release/examples/"$EXAMPLE" --port "$PORT" --workers "$WORKERS" \
    "${accept_flag[@]}" >/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$PORT/plaintext" >/dev/null 2>&1 && break
    sleep 0.1
done

url="http://127.0.0.1:$PORT"
lua="$(mktemp)"
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -f "$lua"' EXIT
# wrk's pipelining script: `depth` requests per write (as loadbench's).
cat >"$lua" <<'EOF'
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
EOF

# The server's CPU time so far (all its threads), in clock ticks.
server_ticks() { awk '{print $14 + $15}' "/proc/$server/stat" 2>/dev/null || echo 0; }
tick_us=$(( 1000000 / $(getconf CLK_TCK) ))

# One row per scenario and generator: requests/s, the server's CPU time
# per response, and errors.
wrk_row() { # name, wrk args...
    local name=$1; shift
    local t0; t0=$(server_ticks)
    local out; out=$("${pin_client[@]}" wrk -t1 -d"${SECS}s" "$@" 2>&1)
    local t1; t1=$(server_ticks)
    local rps; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    local n; n=$(awk '/requests in/ {print $1}' <<<"$out")
    local cpu="?"
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        cpu=$(awk -v t=$(( (t1 - t0) * tick_us )) -v n="$n" 'BEGIN { printf "%.2f", t / n }')
    fi
    local errs; errs=$(awk '/Socket errors|Non-2xx/ {print}' <<<"$out" | tr '\n' ' ')
    printf '| %s | wrk | %s | %s | %s |\n' "$name" "${rps:-?}" "$cpu" "${errs:-none}"
}
oha_row() { # name, oha args...
    local name=$1; shift
    local out; out=$("${pin_client[@]}" oha -z "${SECS}s" --no-tui "$@" 2>&1)
    local rps; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    local codes; codes=$(awk '/^ *\[[0-9]+\] [0-9]+ responses/ {$1=$1; printf "%s ", $0}' <<<"$out")
    printf '| %s | oha | %s | | %s |\n' "$name" "${rps:-?}" "${codes:-?}"
}

echo
echo "$EXAMPLE, $WORKERS worker(s), accept_threads ${ACCEPT_THREADS:-default}, $SECS s per run"
echo
echo "| scenario | generator | requests/s | server CPU µs/response | errors / status codes |"
echo "|---|---|---:|---:|---|"
if have wrk; then
    wrk_row "S1 plaintext, 256 conns" -c256 "$url/plaintext"
    wrk_row "S2 6150 B, 1000 conns" -c1000 "$url/big"
    wrk_row "S3 pipelined x16, 256 conns" -c256 -s "$lua" "$url/plaintext" -- 16
    wrk_row "S4 Connection: close, 64 conns" -c64 -H 'Connection: close' "$url/plaintext"
    # The same answer as S1, deferred and completed by another thread
    # (the server's CPU counts that thread too), beside S1 again.
    for round in 1 2 3; do
        [ "$EXAMPLE" = bench ] || break
        wrk_row "S1 plaintext, 256 conns (round $round)" -c256 "$url/plaintext"
        wrk_row "S1 deferred, 256 conns (round $round)" -c256 "$url/deferred"
    done
fi
if have oha; then
    oha_row "S1 plaintext, 256 conns" -c 256 "$url/plaintext"
    oha_row "S2 6150 B, 1000 conns" -c 1000 "$url/big"
    oha_row "S4 Connection: close, 64 conns" -c 64 --disable-keepalive "$url/plaintext"
fi
