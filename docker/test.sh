#!/usr/bin/env bash
# Builds the counter runtime image from a host-built static binary, runs
# it with podman (this machine has no Docker engine), checks two requests
# to port 3000 answer counter=0 and counter=1, stops it with SIGTERM and
# checks it exited 0. Where podman cannot be installed or cannot build or
# run images, it fails under CI=true (CI sets it), and elsewhere skips,
# saying so.
set -euo pipefail
cd "$(dirname "$0")/.."

# `cannot WHY LOG`: says why podman cannot do its part, with the tail of
# LOG; fails under CI, where a check that never ran must not look passed,
# and skips elsewhere.
cannot() {
    local verdict=SKIPPED status=0
    if [ "${CI:-}" = true ]; then verdict=FAIL status=1; fi
    echo "$verdict docker/test.sh: $1"
    tail -n 5 "$2"
    exit "$status"
}

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends podman runc; } >/tmp/peregrine-apt-podman.log 2>&1; then
        cannot "podman could not be installed" /tmp/peregrine-apt-podman.log
    fi
fi

target=x86_64-unknown-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --example counter --target "$target"

work=$(mktemp -d)
cid=""
cleanup() {
    [ -n "$cid" ] && podman_ rm -f "$cid" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
cp "target/$target/release/examples/counter" docker/Dockerfile.scratch "$work/"
printf '[containers]\ndefault_ulimits = []\n' > "$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
podman_() { podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs "$@"; }

if ! podman_ build -q -f "$work/Dockerfile.scratch" -t peregrine-counter:test "$work" >"$work/build.log" 2>&1; then
    cannot "podman cannot build images on this machine:" "$work/build.log"
fi
if ! cid=$(podman_ run -d --network host peregrine-counter:test 2>"$work/run.log"); then
    cannot "podman cannot run containers on this machine:" "$work/run.log"
fi

fetch() {
    python3 - <<'PY'
import sys, time, urllib.request
deadline = time.time() + 20
while True:
    try:
        print(urllib.request.urlopen("http://127.0.0.1:3000/", timeout=5).read().decode(), end="")
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.2)
PY
}
first=$(fetch)
second=$(fetch)
[ "$first" = "counter=0" ] || { echo "FAIL: first answer was '$first'"; podman_ logs "$cid"; exit 1; }
[ "$second" = "counter=1" ] || { echo "FAIL: second answer was '$second'"; exit 1; }

podman_ kill --signal TERM "$cid" >/dev/null
status=$(podman_ wait "$cid")
[ "$status" = 0 ] || { echo "FAIL: exit status $status after SIGTERM"; podman_ logs "$cid"; exit 1; }
echo "docker/test.sh: ok (counter=0, then counter=1, then exit status 0 on SIGTERM)"
