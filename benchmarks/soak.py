#!/usr/bin/env python3
"""Soak test of `denoise serve`: a bounded run of mixed valid and invalid requests from many clients.

Starts a server on a free loopback port (or uses --url with --pid), then runs --clients threads until
--requests requests are done or --seconds pass, each picking at random:
  valid      GET /generate (small steps, random seed/n/sampler), POST /v1/generate, SSE streams,
             /healthz, /readyz, /metrics, /v1/models
  invalid    bad parameters (400), unknown routes (404), wrong methods (405), malformed JSON (400),
             an oversized body (413), an overlong URL (414)
  abusive    disconnect mid-headers, disconnect after sending a request (before its answer), a slow
             client that sends its request a few bytes at a time, an SSE stream dropped mid-way
It samples the server's resident memory and open file descriptors every second, then reports the
statuses, p50/p99 latency of the valid requests, and memory and descriptors over time. It fails
(exit 1) on any 5xx, on a hang (a request with no answer within its timeout), if the server died,
or if memory or descriptors grow between the first and the last quarter of the run beyond a margin.

    python benchmarks/soak.py [--seconds 60] [--requests 5000] [--clients 32] [--denoise PATH] [MODEL]
    python benchmarks/soak.py --url http://127.0.0.1:8080 --pid PID
"""
import argparse, collections, http.client, json, os, random, socket, statistics, subprocess, sys, threading, time
from urllib.parse import quote, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
# The server answers every generation within its --timeout (300 s by default; 504 after), so a
# generation request counts as hung only past that. Under full load a 1000-step DDPM request
# takes 1000 forwards at the largest batch (about a minute here at 64 clients), more than
# the 60 s every other request gets.
SERVER_TIMEOUT = 300
GENERATION_TIMEOUT = SERVER_TIMEOUT + 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Soak:
    def __init__(self, host, port, pid, seed):
        self.host, self.port, self.pid = host, port, pid
        self.lock = threading.Lock()
        self.statuses = collections.Counter()   # (kind, status) -> count
        self.latencies = []                      # seconds, valid requests
        self.failures = []                       # descriptions of 5xx, hangs, protocol errors
        self.done = 0
        self.rng = random.Random(seed)

    def record(self, kind, status, seconds=None, detail=""):
        with self.lock:
            self.statuses[(kind, status)] += 1
            self.done += 1
            if seconds is not None and isinstance(status, int) and status < 400:
                self.latencies.append(seconds)
            if status == "hang" or status == "error" or (isinstance(status, int) and status >= 500):
                self.failures.append(f"{kind}: {status} {detail}"[:300])

    # ---- well-formed HTTP through http.client ----
    def request(self, kind, method, path, body=None, headers=None, expect=None, timeout=60):
        start = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            status = r.status
            detail = data[:200].decode("latin1") if status >= 400 else ""
            if expect is not None and status not in expect:
                with self.lock:
                    self.failures.append(f"{kind}: got {status}, expected {expect}: {detail}"[:300])
            self.record(kind, status, time.perf_counter() - start, detail)
        except socket.timeout:
            self.record(kind, "hang", detail=f"{method} {path[:80]}")
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            self.record(kind, "error", detail=f"{method} {path[:80]}: {e!r}")
        finally:
            conn.close()

    # ---- raw sockets for the abusive clients ----
    def raw(self, kind, chunks, pause=0.0, read=True, timeout=60):
        """Sends `chunks` (pausing between them); reads the status line unless read=False (then closes)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as s:
                for c in chunks:
                    s.sendall(c)
                    if pause:
                        time.sleep(pause)
                if not read:
                    self.record(kind, "closed")
                    return
                line = s.makefile("rb").readline()
                status = int(line.split()[1]) if line.startswith(b"HTTP/") else "error"
                self.record(kind, status, detail=line[:100].decode("latin1"))
        except socket.timeout:
            self.record(kind, "hang")
        except (ConnectionError, OSError) as e:
            self.record(kind, "closed-by-server" if kind.startswith("slow") else "error", detail=repr(e))

    def stream_dropped(self):
        """An SSE stream read for a few events, then dropped."""
        try:
            with socket.create_connection((self.host, self.port), timeout=GENERATION_TIMEOUT) as s:
                s.sendall(b"GET /generate?steps=30&stream=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                f = s.makefile("rb")
                status = int(f.readline().split()[1])
                for _ in range(12):
                    f.readline()
                self.record("sse dropped", status)
        except (socket.timeout, ConnectionError, OSError, ValueError, IndexError) as e:
            self.record("sse dropped", "error", detail=repr(e))

    def one(self):
        r = self.rng
        k = r.random()
        steps = r.randint(2, 12)
        if k < 0.30:
            sampler = r.choice(["ddim", "ddpm", "dpm-solver++"])
            steps = 1000 if sampler == "ddpm" and r.random() < 0.05 else steps
            if sampler == "ddpm" and steps != 1000:
                sampler = "ddim"
            self.request("GET /generate", "GET", f"/generate?steps={steps}&seed={r.randint(0, 10**6)}&n={r.randint(1, 4)}&sampler={quote(sampler)}",
                         expect={200}, timeout=GENERATION_TIMEOUT)
        elif k < 0.40:
            body = json.dumps({"steps": steps, "n": r.randint(1, 3), "seed": r.randint(0, 99)})
            self.request("POST /v1/generate", "POST", "/v1/generate", body, {"Content-Type": "application/json"}, expect={200},
                         timeout=GENERATION_TIMEOUT)
        elif k < 0.45:
            self.request("SSE", "GET", f"/generate?steps={steps}&stream=1", expect={200}, timeout=GENERATION_TIMEOUT)
        elif k < 0.52:
            self.request("probes", "GET", r.choice(["/healthz", "/readyz", "/metrics", "/v1/models"]), expect={200})
        elif k < 0.62:
            bad = r.choice(["steps=abc", "steps=0", "steps=99999", "n=1000", "sampler=euler", "eta=7", "seed=-1", "steps=5&n=abc",
                            "class=unicorn", "steps=5&guidance_scale=abc", "steps=%ff%fe", "steps=5&steps=6"])
            self.request("GET bad params", "GET", "/generate?" + bad, expect={400})
        elif k < 0.66:
            self.request("unknown route", "GET", r.choice(["/nope", "/generate/x", "/v1/models/nope/reload", "/%2e%2e/etc/passwd"]),
                         expect={404, 405})
        elif k < 0.69:
            self.request("wrong method", r.choice(["DELETE", "PUT", "PATCH"]), "/generate", expect={405})
        elif k < 0.74:
            body = r.choice(['{"steps": 5', '{"steps": "x"}', '[1, 2]', 'null', '{"steps": 5, "n": 1e9}', '\xff\xfe', '{"unknown": 1}'])
            self.request("POST bad JSON", "POST", "/v1/generate", body.encode("latin1"), {"Content-Type": "application/json"}, expect={400})
        elif k < 0.76:
            self.request("oversize body", "POST", "/v1/generate", b"{" + b" " * 70_000 + b"}", {"Content-Type": "application/json"},
                         expect={413})
        elif k < 0.78:
            self.request("overlong URL", "GET", "/generate?steps=5&pad=" + "a" * 9000, expect={414})
        elif k < 0.84:
            self.raw("disconnect mid-headers", [b"GET /generate?steps=5 HTTP/1.1\r\nHost: x\r\nX-A"], read=False)
        elif k < 0.90:
            self.raw("disconnect before answer", [f"GET /generate?steps={steps * 5} HTTP/1.1\r\nHost: x\r\n\r\n".encode()], read=False)
        elif k < 0.95:
            req = f"GET /generate?steps={steps}&seed=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            self.raw("slow client", [req[i:i + 8] for i in range(0, len(req), 8)], pause=0.05, timeout=GENERATION_TIMEOUT)
        else:
            self.stream_dropped()


def sample_process(pid):
    """(resident MiB, open descriptors) of process pid."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", help="model to serve (default: the shipped one)")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--denoise", default=os.path.join(HERE, "..", ".build", "release", "denoise"))
    p.add_argument("--url", help="use this running server instead of starting one (with --pid to watch its memory)")
    p.add_argument("--pid", type=int)
    p.add_argument("--growth-mib", type=float, default=64, help="allowed resident-memory growth, first to last quarter")
    a = p.parse_args()

    server = None
    if a.url:
        u = urlparse(a.url)
        host, port, pid = u.hostname, u.port or 80, a.pid
    else:
        host, port = "127.0.0.1", free_port()
        args = [a.denoise, "serve", "--port", str(port), "--max-body", "65536", "--request-timeout", "5", "--timeout", str(SERVER_TIMEOUT)] + ([a.model] if a.model else [])
        server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pid = server.pid
        # Drain the server's log as it comes (keeping its tail for the report): an unread pipe
        # fills after 64 KiB of access log.
        log_tail = collections.deque(maxlen=50)
        threading.Thread(target=lambda: log_tail.extend(server.stderr), daemon=True).start()
        for _ in range(600):
            try:
                c = http.client.HTTPConnection(host, port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            sys.exit("server not ready after 60 s")

    soak = Soak(host, port, pid, a.seed)
    samples = []  # (t, rss MiB, fds)
    start = time.perf_counter()
    deadline = start + a.seconds
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if pid:
                try:
                    samples.append((time.perf_counter() - start,) + sample_process(pid))
                except (FileNotFoundError, ProcessLookupError, StopIteration):
                    soak.failures.append("server process gone")
                    return
            stop.wait(1)

    def client():
        while time.perf_counter() < deadline and not stop.is_set():
            with soak.lock:
                if soak.done >= a.requests:
                    return
            soak.one()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    clients = [threading.Thread(target=client) for _ in range(a.clients)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    elapsed = time.perf_counter() - start
    time.sleep(1.5)  # let the server close what the abusive clients left
    if pid:
        try:
            samples.append((time.perf_counter() - start,) + sample_process(pid))
        except (FileNotFoundError, ProcessLookupError):
            soak.failures.append("server process gone")
    stop.set()

    print(f"{soak.done} requests from {a.clients} clients in {elapsed:.1f} s ({soak.done / elapsed:.1f}/s)")
    print("statuses:")
    for (kind, status), n in sorted(soak.statuses.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        print(f"  {kind:26} {str(status):18} {n:6}")
    if soak.latencies:
        lat = sorted(soak.latencies)
        print(f"valid requests: p50 {1000 * statistics.median(lat):.1f} ms, p99 {1000 * lat[int(0.99 * (len(lat) - 1))]:.1f} ms "
              f"over {len(lat)}")
    ok = not soak.failures
    if samples:
        quarter = max(1, len(samples) // 4)
        first, last = samples[:quarter], samples[-quarter:]
        rss_first, rss_last = max(s[1] for s in first), max(s[1] for s in last)
        fd_first, fd_last = min(s[2] for s in first), min(s[2] for s in last)
        print("resident MiB / open fds over time: " + ", ".join(f"{t:.0f}s {r:.0f}/{f}" for t, r, f in samples[:: max(1, len(samples) // 12)]))
        print(f"resident memory: first quarter ≤ {rss_first:.1f} MiB, last quarter ≤ {rss_last:.1f} MiB; "
              f"open fds: {fd_first} → {fd_last} (idle baseline of each quarter)")
        if rss_last - rss_first > a.growth_mib:
            soak.failures.append(f"resident memory grew {rss_last - rss_first:.1f} MiB")
        if fd_last > fd_first + 4:
            soak.failures.append(f"open descriptors grew from {fd_first} to {fd_last}")
        ok = not soak.failures
    if server:
        server.terminate()
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            soak.failures.append("server did not stop within 40 s of SIGTERM")
        if server.returncode not in (0, -15):
            soak.failures.append(f"server exited with {server.returncode}: {b''.join(log_tail)[-500:]!r}")
        ok = not soak.failures
    for f in soak.failures[:20]:
        print("FAIL", f)
    print("PASS" if ok else f"FAIL ({len(soak.failures)} problems)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
