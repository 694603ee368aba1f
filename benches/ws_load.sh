#!/usr/bin/env bash
# Small-message WebSocket echo throughput: peregrine (examples/websocket,
# --workers 1 --ws-threads 1) against peer echo servers (benches/ws_peers/),
# measured with examples/ws_load.rs, interleaved over rounds, on 127.0.0.1.
#
#   benches/ws_load.sh                      # every server, pipeline 1 and 16
#   ROUNDS=5 SECS=5 PIPELINES=16 SERVERS="peregrine tokio" benches/ws_load.sh
#   PEREGRINE_REV=HEAD benches/ws_load.sh   # peregrine as committed, not the work tree
#   NICE=-10 benches/ws_load.sh             # on a machine others are using too
#
# Each server runs pinned to core 0 (taskset -c 0), the client to core 1.
# Every (round, pipeline) runs each server once, in an order that rotates
# from round to round. Prints a markdown table: messages/s (median, min–max)
# and the server's CPU time per message (µs, median), which is the better
# figure on a 2-core box where the client or other load may be the limit.
# Raw ws_load lines go to target/ws_load/results.txt.
#
# Settings (environment): SERVERS (peregrine tokio tungstenite python node;
# a missing runtime is skipped), PIPELINES ("1 16"), ROUNDS (3), SECS (10 per
# run), WARMUP (1), CONNECTIONS (50), SIZE (16), KIND (binary|text),
# SERVER_CPU (0), CLIENT_CPU (1), BASE_PORT (19100; uses BASE_PORT..+4),
# PEREGRINE_REV (unset: build the work tree), NICE (0; e.g. -10, as root, to
# keep other load on a shared machine from taking the two cores' time).
#
# Peers: tokio = tokio-tungstenite on a current-thread runtime, tungstenite =
# blocking tungstenite with a thread per connection (both built from
# benches/ws_peers/rust), python = the `websockets` package on asyncio
# (pip install websockets), node = the `ws` package (npm ci in
# benches/ws_peers/node). Servers are stopped by the PIDs this script started.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVERS="${SERVERS:-peregrine tokio tungstenite python node}"
PIPELINES="${PIPELINES:-1 16}"
ROUNDS="${ROUNDS:-3}"
SECS="${SECS:-10}"
WARMUP="${WARMUP:-1}"
CONNECTIONS="${CONNECTIONS:-50}"
SIZE="${SIZE:-16}"
KIND="${KIND:-binary}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
BASE_PORT="${BASE_PORT:-19100}"
NICE="${NICE:-0}"
OUT="$ROOT/target/ws_load"
RESULTS="$OUT/results.txt"

mkdir -p "$OUT"
: >"$RESULTS"

declare -A PID=() PORT=()
cleanup() {
    for name in "${!PID[@]}"; do
        kill "${PID[$name]}" 2>/dev/null || true
    done
    for name in "${!PID[@]}"; do
        wait "${PID[$name]}" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "# $*" >&2; }

# --- build ---------------------------------------------------------------
if [[ -n "${PEREGRINE_REV:-}" ]]; then
    # A snapshot of that commit, with this tree's load tool added (so a work
    # tree that others are changing, or that does not build, does not matter).
    rev="$(git -C "$ROOT" rev-parse --short "$PEREGRINE_REV")"
    src="$OUT/peregrine-$rev"
    if [[ ! -d "$src" ]]; then
        mkdir -p "$src"
        git -C "$ROOT" archive "$rev" | tar -x -C "$src"
    fi
    cp "$ROOT/examples/ws_load.rs" "$src/examples/ws_load.rs"
    target="$OUT/target-rev"
else
    src="$ROOT"
    target="$ROOT/target"
fi
say "building peregrine ${PEREGRINE_REV:+$rev }(examples/websocket) and ws_load"
cargo build --quiet --release --manifest-path "$src/Cargo.toml" --target-dir "$target" \
    --example websocket --example ws_load
PEREGRINE_BIN="$target/release/examples/websocket"
LOAD="$target/release/examples/ws_load"

available=()
for name in $SERVERS; do
    case "$name" in
        peregrine)
            available+=(peregrine)
            ;;
        tokio | tungstenite)
            if [[ -z "${PEERS_BUILT:-}" ]]; then
                say "building the Rust peers (benches/ws_peers/rust)"
                cargo build --quiet --release --locked --manifest-path "$ROOT/benches/ws_peers/rust/Cargo.toml" \
                    --target-dir "$ROOT/target/ws_peers"
                PEERS_BUILT=1
            fi
            available+=("$name")
            ;;
        python)
            if python3 -c 'import websockets.asyncio.server' 2>/dev/null; then
                available+=(python)
            else
                say "skipping python: no websockets package (>= 13) for python3"
            fi
            ;;
        node)
            if command -v node >/dev/null && command -v npm >/dev/null; then
                if [[ ! -d "$ROOT/benches/ws_peers/node/node_modules/ws" ]]; then
                    say "installing ws (npm ci)"
                    npm ci --silent --no-audit --no-fund --prefix "$ROOT/benches/ws_peers/node"
                fi
                available+=(node)
            else
                say "skipping node: no node or npm"
            fi
            ;;
        *)
            say "unknown server $name"
            exit 2
            ;;
    esac
done
[[ ${#available[@]} -gt 0 ]] || { say "no server to run"; exit 1; }

# --- start ---------------------------------------------------------------
port="$BASE_PORT"
for name in "${available[@]}"; do
    PORT[$name]=$port
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        say "port $port is taken already (set BASE_PORT)"
        exit 1
    fi
    case "$name" in
        peregrine) cmd=("$PEREGRINE_BIN" --port "$port" --workers 1 --ws-threads 1) ;;
        tokio) cmd=("$ROOT/target/ws_peers/release/tokio_echo" --port "$port") ;;
        tungstenite) cmd=("$ROOT/target/ws_peers/release/tungstenite_echo" --port "$port") ;;
        python) cmd=(python3 "$ROOT/benches/ws_peers/python_echo.py" --port "$port") ;;
        node) cmd=(node "$ROOT/benches/ws_peers/node/echo.js" --port "$port") ;;
    esac
    nice -n "$NICE" taskset -c "$SERVER_CPU" "${cmd[@]}" >"$OUT/$name.log" 2>&1 &
    PID[$name]=$!
    port=$((port + 1))
done
for name in "${available[@]}"; do
    # Up to 10 s for each to listen.
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$name]}") 2>/dev/null; then
            break
        fi
        kill -0 "${PID[$name]}" 2>/dev/null || { say "$name exited: $(cat "$OUT/$name.log")"; exit 1; }
        sleep 0.1
    done
    say "$name: pid ${PID[$name]}, port ${PORT[$name]}"
done

# --- run -----------------------------------------------------------------
say "peregrine: ${PEREGRINE_REV:+$rev from }${PEREGRINE_REV:-the work tree at $(git -C "$ROOT" rev-parse --short HEAD)}; nice $NICE"
say "load: $CONNECTIONS connections, $SIZE-byte $KIND messages, ${SECS}s per run (+${WARMUP}s warm-up), $ROUNDS rounds"
say "machine load before: $(cut -d' ' -f1-3 /proc/loadavg)"
failures=0
n=${#available[@]}
for round in $(seq "$ROUNDS"); do
    for pipeline in $PIPELINES; do
        for i in $(seq 0 $((n - 1))); do
            name="${available[$(((i + round - 1) % n))]}"
            if ! kill -0 "${PID[$name]}" 2>/dev/null; then
                say "$name is no longer running"
                failures=$((failures + 1))
                continue
            fi
            set +e
            line="$(nice -n "$NICE" taskset -c "$CLIENT_CPU" "$LOAD" --label "$name" --url "ws://127.0.0.1:${PORT[$name]}/ws" \
                --connections "$CONNECTIONS" --size "$SIZE" --kind "$KIND" --pipeline "$pipeline" \
                --seconds "$SECS" --warmup "$WARMUP" --server-pid "${PID[$name]}" 2>"$OUT/last_error.txt")"
            rc=$?
            set -e
            if [[ $rc -ne 0 ]]; then
                failures=$((failures + 1))
                say "round $round, $name, pipeline $pipeline: exit $rc: $(cat "$OUT/last_error.txt")"
            fi
            [[ -n "$line" ]] && echo "round=$round $line" >>"$RESULTS"
            say "round $round: ${line#ws_load }"
        done
    done
done
say "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- table ---------------------------------------------------------------
python3 - "$RESULTS" <<'EOF'
import statistics
import sys

runs = {}
order = []
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    key = (int(kv["pipeline"]), kv["label"])
    if key not in runs:
        order.append(key)
    runs.setdefault(key, []).append(kv)

# A run is quiet if everything else the machine did took less than this
# much of one core (other processes, softirqs, steal): on a shared machine
# its msgs/s is the one to believe.
QUIET = 25.0

def median(xs):
    return statistics.median(xs) if xs else float("nan")

first = next(iter(runs.values()))[0]
print(f"\n{first['connections']} connections, {first['size']}-byte {first['kind']} messages, "
      f"{first['seconds']} s per run; server on one core, client on another\n")
print("| pipeline | server | msgs/s median | min – max | msgs/s, quiet runs (n) | server µs/msg | server CPU % "
      "| client CPU % | other CPU % | max RTT ms | errors |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for key in sorted(order):
    rs = runs[key]
    rate = [float(r["msgs_per_sec"]) for r in rs]
    get = lambda k: [float(r[k]) for r in rs if k in r]
    errors = sum(int(r["errors"]) + int(r["mismatches"]) + int(r["lost"]) for r in rs)
    quiet = [float(r["msgs_per_sec"]) for r in rs if float(r.get("other_cpu_pct", "inf")) < QUIET]
    quiet = f"{median(quiet):,.0f} ({len(quiet)})" if quiet else "– (0)"
    print(f"| {key[0]} | {key[1]} | {median(rate):,.0f} | {min(rate):,.0f} – {max(rate):,.0f} | {quiet} "
          f"| {median(get('server_us_per_msg')):.2f} | {median(get('server_cpu_pct')):.0f} "
          f"| {median(get('client_cpu_pct')):.0f} | {median(get('other_cpu_pct')):.0f} "
          f"| {max(get('max_rtt_ms')):.1f} | {errors} |")
EOF
echo "raw lines: $RESULTS" >&2
[[ $failures -eq 0 ]] || { say "$failures run(s) failed"; exit 1; }
