#!/usr/bin/env python3
"""Side-by-side HTTP/1.1 load comparison on loopback.

Each server runs alone, pinned to one core (taskset -c SERVER_CPU); the load
generator is pinned to another (taskset -c CLIENT_CPU).  Runs are interleaved
round-robin (A B C, A B C, ...) for --rounds rounds, so slow drift of the
machine hits every server alike, and the starting server rotates each round.
A fresh port is used for every run, so TIME_WAIT sockets left by one run
never collide with the next.

Servers come from NAME=COMMAND arguments, or from servers.conf beside this
script.  In a command, {port} is replaced by the port and {mode} by
plaintext|big|close (for servers, like the floor, that cannot route).
Commands run from this script's folder.  NAME=http://HOST:PORT is a server
that is already running, here or elsewhere: it is not started, stopped or
pinned, every run targets that address, and its CPU time and TIME_WAIT
sockets are not measured.

Every run is checked: the server must answer a probe request correctly
(status, body bytes, pipelining, Connection: close), and error responses
(status >= 400) and socket errors reported by the load generator are counted
and shown in the table.  Raw generator output is kept under the results folder.

The machine may be shared: before each run the harness waits for both cores
to be nearly idle, measures the CPU other processes used during the run, and
repeats runs that were disturbed.  Concurrent compare.py instances take turns
through a lock file in the temp folder, one run at a time.

Examples:
  ./compare.py                              # every server in servers.conf, S1-S4, 3 rounds
  ./compare.py --scenarios S1,S3 --only floor,hyper,nginx
  ./compare.py floor='floor/floor {port} {mode}' \\
      ours='../../target/release/examples/bench --port {port} --workers 1'
  ./compare.py floor='floor/floor {port} {mode}' other=http://127.0.0.1:8080
"""

import argparse
import datetime
import fcntl
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

BIG_BODY = bytes(ord("a") + i % 26 for i in range(6150))
PLAIN_BODY = b"Hello, World!"

# name -> (description, path, connections, pipeline depth, extra headers, floor mode)
SCENARIOS = {
    "S1": ("plaintext, keep-alive", "/plaintext", 256, 1, [], "plaintext"),
    "S2": ("6150-byte body, keep-alive", "/big", 1000, 1, [], "big"),
    "S3": ("plaintext, pipelined x16", "/plaintext", 256, 16, [], "plaintext"),
    "S4": ("plaintext, Connection: close", "/plaintext", 64, 1, ["Connection: close"], "close"),
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- servers

def read_servers_file(path):
    servers = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, cmd = line.partition("=")
            if not sep:
                sys.exit(f"{path}: expected NAME=COMMAND, got: {line}")
            servers.append((name.strip(), cmd.strip()))
    return servers


def url_address(cmd):
    """(host, port) if cmd is http://HOST[:PORT], a server that is already running; else None."""
    m = re.fullmatch(r"http://(\[[^\]]+\]|[^/:\[\]]+)(?::(\d+))?/?", cmd.strip())
    return (m.group(1).strip("[]"), int(m.group(2) or 80)) if m else None


def hostport(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def reachable(host, port):
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as e:
        return f"not reachable at {hostport(host, port)}: {e}"


def listener_pids(host, port):
    """Pids of this machine's processes listening on `port`, if `host` is one of
    this machine's addresses (a server given by URL that runs here)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
        out = subprocess.run(["ss", "-tlnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    except OSError:
        return set()
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}


def port_is_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class PortPool:
    def __init__(self, base, span=10000):
        self.base, self.span, self.i = base, span, 0

    def take(self):
        for _ in range(self.span):
            p = self.base + self.i % self.span
            self.i += 1
            if port_is_free(p):
                return p
        sys.exit("no free port")


def group_pids(pgid):
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        if int(rest[2]) == pgid and rest[0] != "Z":
            pids.append(int(pid))
    return pids


class Server:
    """A server started in its own session; stopped by signalling its process group."""

    def __init__(self, cmd, port, cpu, logpath, env, nice=0):
        self.logf = open(logpath, "wb")
        self.proc = subprocess.Popen(
            nice_prefix(nice) + ["taskset", "-c", str(cpu), "bash", "-c", cmd],
            cwd=HERE, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
            start_new_session=True, env=env)
        self.pgid = self.proc.pid  # new session => pgid == pid
        self.port = port

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with status {self.proc.returncode} before listening"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return None
            except OSError:
                time.sleep(0.05)
        return f"not listening on port {self.port} after {timeout:.0f}s"

    def stop(self):
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self.proc.poll()
                if not group_pids(self.pgid):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.logf.close()


# ---------------------------------------------------------------- probe

def read_responses(sock, n, timeout=3.0):
    """Read n HTTP/1.1 responses framed by Content-Length.
    Returns (list of (status, headers dict, body), closed_after, error)."""
    sock.settimeout(timeout)
    buf = b""
    out = []
    while len(out) < n:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").split("\r\n")
            m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
            if not m:
                return out, False, f"bad status line {head[0]!r}"
            headers = {}
            for h in head[1:]:
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            if "content-length" not in headers:
                return out, False, "response without Content-Length"
            clen = int(headers["content-length"])
            if len(buf) >= end + 4 + clen:
                out.append((int(m.group(1)), headers, buf[end + 4:end + 4 + clen], end + 4))
                buf = buf[end + 4 + clen:]
                continue
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return out, False, f"timeout after {len(out)} of {n} responses"
        except OSError as e:
            return out, False, f"recv: {e}"
        if not chunk:
            return out, True, f"connection closed after {len(out)} of {n} responses"
        buf += chunk
    # did the server close the connection after the last response?
    closed = False
    sock.settimeout(1.0)
    try:
        closed = sock.recv(1) == b""
    except (socket.timeout, OSError):
        closed = False
    return out, closed, None


def probe(host, port, scen):
    """Check the server's answer for scenario scen. Returns (problems, info)."""
    _, path, _, depth, headers, _ = SCENARIOS[scen]
    expect = BIG_BODY if path == "/big" else PLAIN_BODY
    n = 3 if depth > 1 else 1
    req = f"GET {path} HTTP/1.1\r\nHost: {hostport(host, port)}\r\n"
    req += "".join(h + "\r\n" for h in headers) + "\r\n"
    problems = []
    info = {}
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(req.encode() * n)
            resps, closed, err = read_responses(s, n)
    except OSError as e:
        return [f"probe: {e}"], info
    if err and not (scen == "S4" and len(resps) == n):
        problems.append(err)
    for status, hdrs, body, head_len in resps:
        info["head_bytes"] = head_len
        info["body_bytes"] = len(body)
        if status != 200:
            problems.append(f"status {status}")
        if body != expect:
            problems.append(f"body mismatch ({len(body)} bytes, want {len(expect)})")
        if scen == "S4":
            info["says_close"] = hdrs.get("connection", "").lower() == "close"
    if scen == "S4":
        info["closes"] = closed
        if not closed:
            problems.append("keeps the connection open after 'Connection: close' (S4 runs as keep-alive)")
    return sorted(set(problems)), info


# ---------------------------------------------------------------- generators

UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
UNIT_B = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def wrk_argv(scen, host, port, duration):
    _, path, conns, depth, headers, _ = SCENARIOS[scen]
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    if depth > 1:
        argv += ["-s", os.path.join(HERE, "pipeline.lua")]
    argv.append(f"http://{hostport(host, port)}{path}")
    if depth > 1:
        argv += ["--", str(depth)]
    return argv


def parse_wrk(text):
    r = {"rps": None, "p50": None, "p99": None, "requests": None, "bytes": None,
         "bad_status": 0, "sock_errors": {}}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        # wrk 4.1 sometimes prints 0.00us for a percentile under pipelining: treat as missing
        if m and float(m.group(1)) > 0:
            r[key] = float(m.group(1)) * UNIT_MS[m.group(2)]
    m = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s|m)\s", text, re.M)
    if m:
        r["lat_avg"] = float(m.group(1)) * UNIT_MS[m.group(2)]
    m = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB|TB) read", text)
    if m:
        r["requests"] = int(m.group(1))
        r["bytes"] = float(m.group(2)) * UNIT_B[m.group(3)]
    # wrk's "Non-2xx or 3xx responses" counts responses with status > 399
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        r["bad_status"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["sock_errors"] = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"), m.groups()) if int(v)}
    return r


def oha_argv(scen, host, port, duration):
    _, path, conns, depth, headers, _ = SCENARIOS[scen]
    if depth > 1:
        return None  # oha cannot pipeline
    argv = ["oha", "--no-tui", "--output-format", "json", "-z", f"{duration}s", "-c", str(conns)]
    for h in headers:
        argv += ["-H", h]
    argv.append(f"http://{hostport(host, port)}{path}")
    return argv


def parse_oha(text):
    r = {"rps": None, "p50": None, "p99": None, "requests": None, "bytes": None,
         "bad_status": 0, "sock_errors": {}}
    try:
        j = json.loads(text[text.index("{"):])
    except ValueError:
        return r
    r["rps"] = j.get("summary", {}).get("requestsPerSec")
    lp = j.get("latencyPercentiles", {})
    if lp.get("p50") is not None:
        r["p50"] = lp["p50"] * 1000.0
    if lp.get("p99") is not None:
        r["p99"] = lp["p99"] * 1000.0
    codes = j.get("statusCodeDistribution", {})
    r["requests"] = sum(codes.values())
    r["bad_status"] = sum(v for k, v in codes.items() if int(k) >= 400)
    r["bytes"] = j.get("summary", {}).get("totalData")
    for k, v in j.get("errorDistribution", {}).items():
        if "deadline" in k:  # requests cut off by the end of the run, not errors
            continue
        r["sock_errors"][k] = v
    return r


GENERATORS = {"wrk": (wrk_argv, parse_wrk), "oha": (oha_argv, parse_oha)}


def nice_prefix(nice):
    return ["nice", "-n", str(nice)] if nice else []


def run_generator(argv, cpu, outpath, nice=0):
    """Run argv pinned to cpu; returns (stdout text, rusage cpu seconds, wall seconds, exit code)."""
    t0 = time.monotonic()
    with open(outpath, "wb") as out:
        p = subprocess.Popen(nice_prefix(nice) + ["taskset", "-c", str(cpu)] + argv, cwd=HERE,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    with open(outpath, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    return text, ru.ru_utime + ru.ru_stime, wall, p.returncode


def time_wait_counts(port):
    """(TIME_WAIT sockets in all, those whose local port is `port`, i.e. the server's side)."""
    try:
        out = subprocess.run(["ss", "-tanH", "state", "time-wait"], capture_output=True, text=True).stdout
    except OSError:
        return None, None
    lines = out.splitlines()
    mine = sum(1 for l in lines if len(l.split()) >= 3 and l.split()[2].endswith(f":{port}"))
    return len(lines), mine


def cpu_times():
    """{cpu index: (busy jiffies, total jiffies)} from /proc/stat."""
    res = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+) (.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                idle = v[3] + v[4]  # idle + iowait
                total = sum(v[:8])  # user..steal (guest time is already in user)
                res[int(m.group(1))] = (total - idle, total)
    return res


def core_busy(before, after, cpu):
    """Percentage of time core `cpu` was not idle between two cpu_times() readings."""
    try:
        cpu = int(cpu)
        b = after[cpu][0] - before[cpu][0]
        t = after[cpu][1] - before[cpu][1]
        return 100.0 * b / t if t else None
    except (KeyError, ValueError):
        return None


def all_proc_ticks():
    """{pid: (process group, utime+stime ticks, name)} for every user-space process
    (kernel threads, whose process group is 0, are left out: ksoftirqd does this
    benchmark's own network work)."""
    d = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        if int(rest[2]) == 0:
            continue
        d[int(pid)] = (int(rest[2]), int(rest[11]) + int(rest[12]), st[st.find("(") + 1:st.rfind(")")])
    return d


def foreign_ticks(before, after, exclude_pgids):
    """CPU ticks used between two all_proc_ticks() readings by processes other than
    the server's group(s) and this harness (the generator has exited by then).
    Returns (total ticks, [(name, ticks)] of the three largest users)."""
    total = 0
    users = []
    me = os.getpid()
    for pid, (pgrp, t, name) in after.items():
        if pgrp in exclude_pgids or pid == me:
            continue
        d = t - before[pid][1] if pid in before else t
        if d > 0:
            total += d
            users.append((name, d))
    users.sort(key=lambda x: -x[1])
    return total, users[:3]


class MachineLock:
    """A lock shared by every compare.py on this machine (in the temp folder), held for
    the length of one run, so that two harnesses never load the machine at once: their
    runs interleave instead."""

    def __init__(self):
        self.path = os.path.join(tempfile.gettempdir(), "loadbench.lock")
        self.f = None

    def __enter__(self):
        self.f = open(self.path, "a")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"  waiting for another loadbench run to finish ({self.path})")
            fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def wait_for_quiet(limit, max_wait):
    """Wait until both cores together are under `limit` % busy over one second,
    at most max_wait seconds. Returns the last busy reading (0-200%)."""
    deadline = time.monotonic() + max_wait
    while True:
        a = cpu_times()
        time.sleep(1.0)
        b = cpu_times()
        busy = sum(core_busy(a, b, c) or 0.0 for c in b)
        if busy < limit or time.monotonic() >= deadline:
            if busy >= limit:
                log(f"  machine still {busy:.0f}% busy after {max_wait}s of waiting; running anyway")
            return busy
        log(f"  waiting for a quiet machine ({busy:.0f}% busy)")


def one_run(args, name, cmd, scen, rnd, host, port, url, tag, out, env, argv_fn, parse_fn):
    """Start the server (unless given by URL: url is then True), probe it and load it once."""
    rec = {"server": name, "scenario": scen, "round": rnd, "host": host, "port": port, "command": cmd,
           "url": url, "problems": []}
    gargv = argv_fn(scen, host, port, args.duration)
    srv = None if url else Server(cmd, port, args.server_cpu, os.path.join(out, "logs", tag + ".log"), env,
                                  args.nice)
    try:
        err = reachable(host, port) if url else srv.wait_ready()
        if err:
            rec["problems"].append(f"server {err}")
            rec["rps"] = None
            return rec
        problems, info = probe(host, port, scen)
        rec["problems"] += problems
        rec["probe"] = info
        if args.warmup > 0:
            run_generator(argv_fn(scen, host, port, args.warmup), args.client_cpu,
                          os.path.join(out, "raw", tag + ".warmup.txt"), args.nice)
        rec["time_wait_before"] = None if url else time_wait_counts(port)[0]
        # a server given by URL that runs here is not "other load"
        mine = listener_pids(host, port) if url else set()
        p0 = all_proc_ticks()
        k0 = cpu_times()
        text, gcpu, wall, rc = run_generator(gargv, args.client_cpu, os.path.join(out, "raw", tag + ".txt"),
                                             args.nice)
        k1 = cpu_times()
        p1 = all_proc_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        pgids = {p0[pid][0] for pid in mine if pid in p0} if url else {srv.pgid}
        srv_ticks = sum(t - p0.get(pid, (0, 0, ""))[1] for pid, (g, t, _) in p1.items() if g in pgids)
        fticks, fusers = foreign_ticks(p0, p1, pgids)
        rec.update(parse_fn(text))
        rec["gen_argv"] = gargv
        rec["wall_s"] = wall
        rec["gen_cpu"] = 100.0 * gcpu / wall
        rec["server_cpu"] = None if url else 100.0 * srv_ticks / hz / wall
        rec["foreign_cpu"] = 100.0 * fticks / hz / wall
        rec["foreign_top"] = [(n, round(100.0 * t / hz / wall, 1)) for n, t in fusers]
        rec["server_core_busy"] = core_busy(k0, k1, args.server_cpu)
        rec["client_core_busy"] = core_busy(k0, k1, args.client_cpu)
        if rec.get("requests") and rec["server_core_busy"] is not None:
            rec["server_core_us_per_req"] = rec["server_core_busy"] / 100.0 * wall / rec["requests"] * 1e6
        rec["time_wait_after"], rec["time_wait_server_side"] = (None, None) if url else time_wait_counts(port)
        if srv and srv.proc.poll() is not None:
            rec["problems"].append("server exited during the run")
        if rc != 0 or rec.get("rps") is None:
            rec["problems"].append(f"generator exit {rc}, no result parsed")
            rec["rps"] = None
        return rec
    finally:
        if srv:
            srv.stop()


def describe(rec):
    if rec.get("rps") is None:
        return "FAILED: " + "; ".join(rec["problems"])
    return (f"{fmt_num(rec.get('rps'))} req/s, p99 {fmt_ms(rec.get('p99'))} ms, "
            f"srv {fmt_pct(rec['server_cpu'])} gen {rec['gen_cpu']:.0f}% other {rec['foreign_cpu']:.0f}%"
            + (f" {rec['foreign_top']}" if rec["foreign_cpu"] >= 5 else "") + ", "
            f"cores {fmt_pct(rec['server_core_busy'])}/{fmt_pct(rec['client_core_busy'])}, "
            f"status>=400 {rec.get('bad_status')}, sock {rec.get('sock_errors')}"
            + (f", problems: {rec['problems']}" if rec["problems"] else ""))


# ---------------------------------------------------------------- report

def fmt_num(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_pct(x):
    return "-" if x is None else f"{x:.0f}%"


def fmt_ms(x):
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def summarize(records, scen_names, server_names, floor, gen, server_cpu):
    lines = []
    for scen in scen_names:
        desc, path, conns, depth, headers, _ = SCENARIOS[scen]
        recs = [r for r in records if r["scenario"] == scen]
        if not recs:
            continue
        lines.append(f"### {scen}: {desc} — GET {path}, {conns} connections"
                     + (f", depth {depth}" if depth > 1 else "")
                     + (f", header '{headers[0]}'" if headers else "") + f" ({gen})")
        lines.append("")
        if depth > 1 and gen == "wrk":
            lines.append(f"wrk records one latency sample per batch of {depth} pipelined requests, and its"
                         " printed percentiles under pipelining are unreliable (0.00us seen): compare req/s only.")
            lines.append("")
        lines.append("| server | req/s median | req/s min–max | vs floor | p50 ms | p99 ms median (min–max) "
                     "| errors (all rounds) | core-0 µs/req | server CPU (core) | gen CPU (core) | bytes/resp "
                     "| notes |")
        lines.append("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
        med = {}
        for name in server_names:
            ok = [r["rps"] for r in recs if r["server"] == name and r.get("rps") is not None]
            if ok:
                med[name] = statistics.median(ok)
        floor_med = med.get(floor)
        for name in server_names:
            rs = [r for r in recs if r["server"] == name]
            if not rs:
                continue
            ok = [r for r in rs if r.get("rps") is not None]
            notes = sorted({p for r in rs for p in r.get("problems", [])})
            failed = len(rs) - len(ok)
            if failed:
                notes.insert(0, f"{failed} of {len(rs)} runs failed")
            noisy = [r for r in ok if r.get("noisy")]
            if noisy:
                worst = max(r["foreign_cpu"] for r in noisy)
                notes.insert(0, f"{len(noisy)} of {len(ok)} runs noisy (other processes used up to {worst:.0f}% CPU)")
            if any(r.get("url") for r in rs):
                notes.insert(0, f"given by URL, not started here: core-{server_cpu} µs/req is core {server_cpu}'s"
                                f" busy time, the server's cost only if it runs pinned to core {server_cpu} here")
            if not ok:
                lines.append(f"| {name} | - | - | - | - | - | - | - | - | - | - | {'; '.join(notes)} |")
                continue
            rps = [r["rps"] for r in ok]
            p50 = [r["p50"] for r in ok if r.get("p50") is not None]
            p99 = [r["p99"] for r in ok if r.get("p99") is not None]
            def med_of(key):
                v = [r[key] for r in ok if r.get(key) is not None]
                return statistics.median(v) if v else None
            scpu = f"{fmt_pct(med_of('server_cpu'))} ({fmt_pct(med_of('server_core_busy'))})"
            gcpu = f"{fmt_pct(med_of('gen_cpu'))} ({fmt_pct(med_of('client_core_busy'))})"
            bpr = [r["bytes"] / r["requests"] for r in ok if r.get("bytes") and r.get("requests")]
            bad = sum(r.get("bad_status", 0) for r in ok)
            sock = {}
            for r in ok:
                for k, v in r.get("sock_errors", {}).items():
                    sock[k] = sock.get(k, 0) + v
            errs = []
            if bad:
                errs.append(f"status>=400 {bad:,}")
            errs += [f"{k} {v:,}" for k, v in sorted(sock.items())]
            ratio = "-"
            if floor_med:
                ratio = f"{100.0 * statistics.median(rps) / floor_med:.0f}%"
            p99s = "-"
            if p99:
                p99s = f"{fmt_ms(statistics.median(p99))} ({fmt_ms(min(p99))}–{fmt_ms(max(p99))})"
            cells = [
                name,
                fmt_num(statistics.median(rps)),
                f"{fmt_num(min(rps))}–{fmt_num(max(rps))}",
                ratio,
                fmt_ms(statistics.median(p50)) if p50 else "-",
                p99s,
                ", ".join(errs) if errs else "0",
                f"{med_of('server_core_us_per_req'):.2f}" if med_of("server_core_us_per_req") else "-",
                scpu,
                gcpu,
                f"{statistics.median(bpr):.0f}" if bpr else "-",
                "; ".join(notes),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        tw = [(r["server"], r.get("time_wait_after"), r.get("time_wait_server_side"))
              for r in recs if r.get("time_wait_after") is not None or r.get("url")]
        if tw and SCENARIOS[scen][4]:
            lines.append("TIME_WAIT sockets after each run (all / on the server's port; - for servers given"
                         " by URL): " + ", ".join(f"{n} {fmt_num(a)}/{fmt_num(m)}" if a is not None else f"{n} -"
                                                   for n, a, m in tw))
            lines.append("")
    return "\n".join(lines)


def tool_version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not found"


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("servers", nargs="*", metavar="NAME=COMMAND",
                    help="servers to compare (default: those in --servers-file); NAME=http://HOST:PORT for"
                         " a server that is already running")
    ap.add_argument("--servers-file", default=os.path.join(HERE, "servers.conf"))
    ap.add_argument("--only", help="comma-separated names to keep from the servers file")
    ap.add_argument("--scenarios", default="S1,S2,S3,S4", help="comma-separated subset of S1,S2,S3,S4")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds of load per run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of discarded load before each run (0: none)")
    ap.add_argument("--gen", choices=sorted(GENERATORS), default="wrk")
    ap.add_argument("--floor", default="floor", help="server the ratios are taken against")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--port-base", type=int, default=20000)
    ap.add_argument("--quiet-busy", type=float, default=15.0,
                    help="before each run, wait until both cores together are below this %% busy (default 15)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="longest wait for a quiet machine, seconds (default 60); then run anyway")
    ap.add_argument("--noise-limit", type=float, default=10.0,
                    help="a run in which other processes used more than this %% of a core is noisy (default 10)")
    ap.add_argument("--retries", type=int, default=2, help="times a noisy run is repeated (default 2)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run server and generator under `nice -n N` (negative needs root; default 0)")
    ap.add_argument("--out", help="results folder (default: results/<timestamp>)")
    args = ap.parse_args()

    if args.servers:
        servers = []
        for s in args.servers:
            name, sep, cmd = s.partition("=")
            if not sep:
                sys.exit(f"expected NAME=COMMAND or NAME=http://HOST:PORT, got: {s}")
            servers.append((name, cmd))
    else:
        servers = read_servers_file(args.servers_file)
    if args.only:
        keep = args.only.split(",")
        servers = [s for s in servers if s[0] in keep]
        missing = set(keep) - {s[0] for s in servers}
        if missing:
            sys.exit(f"not in {args.servers_file}: {', '.join(sorted(missing))}")
    if not servers:
        sys.exit("no servers")
    for name, cmd in servers:
        if re.match(r"\w+://", cmd) and not url_address(cmd):
            sys.exit(f"{name}: a running server is given as http://HOST:PORT (no path, no https), got: {cmd}")
    scen_names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    for s in scen_names:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s}")

    # file descriptors: S2 needs 1000 connections on each side
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 4096:
        log(f"warning: RLIMIT_NOFILE hard limit is {hard}; S2 (1000 connections) may fail")

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or os.path.join(HERE, "results", stamp)
    for sub in ("raw", "logs", "tmp"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    env = dict(os.environ, LOADBENCH_TMP=os.path.abspath(os.path.join(out, "tmp")))
    argv_fn, parse_fn = GENERATORS[args.gen]

    gen_version = tool_version(["wrk", "-v"] if args.gen == "wrk" else ["oha", "--version"])
    header = [
        f"# loadbench {stamp}",
        "",
        f"- host: {platform.node()}, kernel {platform.release()}, {os.cpu_count()} CPUs",
        f"- generator: {gen_version}, pinned to CPU {args.client_cpu}; servers pinned to CPU {args.server_cpu}",
        f"- {args.rounds} rounds x {args.duration}s per run (+{args.warmup}s discarded warm-up), "
        f"round-robin, fresh server process and port per run (servers given by URL: already running, not"
        f" started, stopped or pinned by the harness); RLIMIT_NOFILE {want}",
        "- CPU columns: median CPU time of the process(es) / wall time of the run (100% = one core), and in"
        " brackets how busy that core was (from /proc/stat, softirq included). On loopback the sender's core does"
        " much of the receiver's TCP work, so kernel time lands on both cores. A generator core near 100% means"
        " the client, not the server, may be the limit.",
        "- core-0 µs/req: median of (core 0 busy time / responses): the server's cost per request, softirq"
        " included, and still meaningful when the generator is the bottleneck.",
        "- runs of concurrent compare.py instances on this machine are serialized by a lock file in the temp"
        " folder; other load on the machine is measured per run (CPU time of other processes).",
        f"- noise: before each run the harness waits (up to {args.quiet_wait:.0f}s) for both cores to be under"
        f" {args.quiet_busy:.0f}% busy; a run in which other processes used more than {args.noise_limit:.0f}% of"
        f" a core is repeated (up to {args.retries} times) and, if still noisy, kept and counted in notes.",
        "- errors: responses with status >= 400 and socket errors, summed over all rounds; notes: problems the"
        " probe request found (a server with notes is not comparable in that scenario).",
        "",
        "Servers:",
        "",
    ] + [f"- `{n}`: `{c}`" + (" (already running)" if url_address(c) else "") for n, c in servers] + [""]

    ports = PortPool(args.port_base)
    records = []
    total = args.rounds * len(scen_names) * len(servers)
    t_start = time.monotonic()
    jl = open(os.path.join(out, "runs.jsonl"), "w")

    def on_term(signum, frame):
        raise KeyboardInterrupt  # unwinds through one_run(), which stops the server

    signal.signal(signal.SIGTERM, on_term)
    try:
        run_all(args, servers, scen_names, ports, out, env, argv_fn, parse_fn, records, jl, total)
    except KeyboardInterrupt:
        log("interrupted: reporting the runs done so far")
        header.insert(2, "**Interrupted before the end: partial results.**\n")
    jl.close()

    elapsed = time.monotonic() - t_start
    report = "\n".join(header) + "\n" + summarize(records, scen_names, [n for n, _ in servers],
                                                 args.floor, args.gen, args.server_cpu)
    report += f"\nTotal time: {elapsed / 60:.1f} min. Raw output: {os.path.relpath(out, HERE)}/raw\n"
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(report)
    print(report)


def run_all(args, servers, scen_names, ports, out, env, argv_fn, parse_fn, records, jl, total):
    k = 0
    for rnd in range(1, args.rounds + 1):
        for scen in scen_names:
            mode = SCENARIOS[scen][5]
            shift = (rnd - 1) % len(servers)
            order = servers[shift:] + servers[:shift]
            for name, cmd_t in order:
                k += 1
                tag = f"{scen}-{name}-r{rnd}"
                if argv_fn(scen, "127.0.0.1", 1, args.duration) is None:
                    log(f"[{k}/{total}] {tag}: skipped ({args.gen} cannot run {scen})")
                    continue
                for attempt in range(args.retries + 1):
                    with MachineLock():
                        quiet = wait_for_quiet(args.quiet_busy, args.quiet_wait)
                        addr = url_address(cmd_t)
                        host, port = addr or ("127.0.0.1", ports.take())
                        cmd = cmd_t if addr else cmd_t.replace("{port}", str(port)).replace("{mode}", mode)
                        rec = one_run(args, name, cmd, scen, rnd, host, port, bool(addr), tag, out, env,
                                      argv_fn, parse_fn)
                    rec["attempt"] = attempt + 1
                    rec["quiet_before"] = quiet
                    noisy = rec.get("foreign_cpu") is not None and rec["foreign_cpu"] > args.noise_limit
                    rec["noisy"] = noisy
                    last = attempt == args.retries or rec.get("rps") is None
                    rec["discarded"] = noisy and not last
                    log(f"[{k}/{total}] {tag}" + (f" (attempt {attempt + 1})" if attempt else "") + ": "
                        + describe(rec) + (" -> noisy, retrying" if rec["discarded"] else ""))
                    jl.write(json.dumps(rec) + "\n")
                    jl.flush()
                    if not rec["discarded"]:
                        records.append(rec)
                        break


if __name__ == "__main__":
    main()
