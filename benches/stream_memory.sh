#!/usr/bin/env bash
# What a streamed body to clients that do not read costs the server:
# serves the `slow` example (one worker), opens CONNS connections that
# each ask for `GET /flood?mb=100` (100 MiB written as fast as the client
# takes it) and never read, and prints the server's RSS before, and then
# once a second for SECS seconds while the writers are blocked on full
# streams. Without back-pressure each would hold up to 100 MiB.
#
#   bash benches/stream_memory.sh              # 100 connections, 8 s
#   CONNS=500 SECS=10 bash benches/stream_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS="${CONNS:-100}"
SECS="${SECS:-8}"
PORT="${PORT:-18491}"

cargo build --release --example slow >&2
target/release/examples/slow --port "$PORT" --workers 1 >/dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$PORT/fast" >/dev/null 2>&1 && break
    sleep 0.1
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
echo "server RSS before: $(rss) KiB"
python3 - "$PORT" "$CONNS" "$SECS" "$server" <<'PY'
import socket, sys, time
port, conns, secs, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
before = rss()
socks = []
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server fills it fast
    s.sendall(b"GET /flood?mb=100 HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(s)
for t in range(1, secs + 1):
    time.sleep(1)
    print(f"after {t} s with {conns} clients not reading: RSS {rss()} KiB")
end = rss()
print(f"per stalled stream (its writer thread included): {(end - before) / conns:.0f} KiB; bodies asked for: {conns * 100} MiB")
for s in socks:
    s.close()
PY
