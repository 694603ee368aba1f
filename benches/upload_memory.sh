#!/usr/bin/env bash
# What an upload of any size costs the server's memory: serves the
# `upload` example (release, two workers), sends SIZE bytes (2 GiB by
# default) to `POST /upload` twice with curl, once with Content-Length and
# once chunked, checks each answer against the file's own size and
# SHA-256, and prints the server's peak RSS (VmHWM) after each. Fails if a
# digest differs or the peak reaches LIMIT_MIB (64).
#
#   bash benches/upload_memory.sh                # 2 GiB, twice
#   SIZE=512M bash benches/upload_memory.sh
#
# The file sent is sparse (zeros), so making it costs no disk; the server
# writes each upload to a temporary file (removed after), so TMPDIR needs
# SIZE bytes free.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE="${SIZE:-2G}"
LIMIT_MIB="${LIMIT_MIB:-64}"
PORT="${PORT:-18493}"

cargo build --release --example upload >&2
work=$(mktemp -d)
target/release/examples/upload --port "$PORT" --workers 2 --max-upload $((8 << 30)) >/dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break
    sleep 0.1
done
peak() { awk '/VmHWM/ {print $2}' "/proc/$server/status"; }
echo "server peak RSS before: $(peak) KiB"

truncate -s "$SIZE" "$work/body"
bytes=$(stat -c %s "$work/body")
expected="$bytes $(sha256sum "$work/body" | cut -d' ' -f1)"
echo "sending $bytes bytes; expecting: $expected"

fail=0
for framing in content-length chunked; do
    start=$(date +%s.%N)
    if [ "$framing" = chunked ]; then
        # From a pipe, curl does not know the length: it sends chunks.
        got=$(curl -sS -T - "http://127.0.0.1:$PORT/upload" <"$work/body")
    else
        got=$(curl -sS -T "$work/body" "http://127.0.0.1:$PORT/upload")
    fi
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    kib=$(peak)
    printf '%-14s answer: %s  (%.1f s, %.0f MiB/s)  server peak RSS: %s KiB\n' \
        "$framing" "$got" "$secs" "$(awk -v n="$bytes" -v s="$secs" 'BEGIN { print n / 1048576 / s }')" "$kib"
    [ "$got" = "$expected" ] || { echo "FAIL: $framing answer differs"; fail=1; }
    [ "$kib" -lt $((LIMIT_MIB * 1024)) ] || { echo "FAIL: peak RSS $kib KiB reached $LIMIT_MIB MiB"; fail=1; }
done
exit $fail
