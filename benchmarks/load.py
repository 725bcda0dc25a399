#!/usr/bin/env python3
"""Load test for `denoise serve`: throughput, latency, memory and clean shutdown under concurrent clients.

What it does, in order:

1. Reference (before the server starts, so the two never compete for cores): runs
   `denoise generate MODEL --n 32 --batch-size 32` and again with `--n 64`, timing both by wall clock.
   The n=32 time includes loading and compiling the model; the steady-state rate is
   32 / (t64 - t32) images/s, which is what the server is compared against (--reference-repeats N
   keeps the fastest of N runs each; generate also writes the PNGs, fsynced, which the server does not).
2. Starts `denoise serve MODEL --port 0 --max-batch B --threads T`, reads the port from the
   "listening on" log line and waits for GET /readyz to answer 200.
3. Records the server's resident memory (VmRSS from /proc/PID/status).
4. For each concurrency level C in --clients: C threads, each sending sequential
   GET /generate?steps=S&seed=<unique> (one PNG each; with --api json or stream, the same request
   as POST /v1/generate, answered as JSON or as Server-Sent Events) for --seconds and until at least
   --min-requests requests in total have been sent. Reports images/s (200 responses / wall time,
   the wall time running until the last in-flight request has finished), p50/p99/max latency,
   the mean samples per U-Net forward (from /metrics) and every non-200 status (5xx loudly).
5. Leak check: --leak-requests more requests from 8 clients, then VmRSS again.
6. Stops the server with SIGINT and checks it exits 0 within 60 s.

Prints a markdown table (and a JSON object with --json). The exit status is 1 when any request
failed (non-200 or connection error), the reference failed or the server did not stop cleanly.

Usage (build first: `swift build -c release`):

    python benchmarks/load.py --steps 50
    python benchmarks/load.py --model path/to/model.onnx --steps 5 --clients 1,8,32 --seconds 5 --leak-requests 200
    python benchmarks/load.py --steps 50 --threads 4 --max-batch 32 --json

Only the Python standard library is needed. Absolute numbers depend on everything else running on
the machine; the load average at start is printed with the results.
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

DEFAULT_DENOISE = "/work/main/.build/release/denoise"
LISTEN_RE = re.compile(r"listening on http://(\S+):(\d+)")
REQUEST_LOG_RE = re.compile(r"\b(GET|HEAD|POST|PUT|DELETE) (\S+) (\d{3}) [\d.]+ ms")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--denoise", default=DEFAULT_DENOISE, help="the denoise binary (default: %(default)s)")
    p.add_argument("--model", help="model path for serve and generate (default: the shipped default model)")
    p.add_argument("--steps", type=int, default=50, help="denoising steps per image (default: %(default)s)")
    p.add_argument("--clients", default="1,8,32", help="comma-separated concurrency levels (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds per concurrency level (default: %(default)s)")
    p.add_argument("--min-requests", type=int, default=0,
                   help="send at least this many requests per level even past --seconds (default: %(default)s)")
    p.add_argument("--max-batch", type=int, default=32, help="serve --max-batch (default: %(default)s)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for serve and generate (default: all cores, %(default)s)")
    p.add_argument("--leak-requests", type=int, default=1000, help="requests (8 clients) between the two RSS readings (default: %(default)s)")
    p.add_argument("--leak-clients", type=int, default=8, help=argparse.SUPPRESS)
    p.add_argument("--no-reference", action="store_true", help="skip the `denoise generate` reference runs")
    p.add_argument("--reference-repeats", type=int, default=1,
                   help="run each reference generate this many times and keep the fastest (default: %(default)s)")
    p.add_argument("--ready-timeout", type=float, default=900.0, help="seconds to wait for /readyz (default: %(default)s)")
    p.add_argument("--request-timeout", type=float, default=600.0, help="socket timeout per request (default: %(default)s)")
    p.add_argument("--server-log", help="also write the server's full stderr log to this file")
    p.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    p.add_argument("--api", choices=["get", "json", "stream"], default="get",
                   help="which endpoint the clients call: GET /generate (a PNG), POST /v1/generate (JSON with base64 PNGs) "
                        "or POST /v1/generate with Accept: text/event-stream (progress events, then the image) (default: %(default)s)")
    a = p.parse_args()
    try:
        a.client_levels = [int(c) for c in a.clients.split(",") if c.strip()]
    except ValueError:
        p.error(f"--clients must be comma-separated integers, got '{a.clients}'")
    if not a.client_levels or min(a.client_levels) < 1:
        p.error("--clients needs at least one level, each >= 1")
    if a.steps < 1 or a.threads is None or a.threads < 1 or a.max_batch < 1:
        p.error("--steps, --threads and --max-batch must be >= 1")
    if not os.access(a.denoise, os.X_OK):
        p.error(f"{a.denoise} is not an executable; build it with `swift build -c release`")
    return a


def log(msg):
    print(f"[load] {msg}", file=sys.stderr, flush=True)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def rss_kib(pid):
    """(VmRSS, VmHWM) in KiB from /proc/PID/status, or (None, None)."""
    rss = hwm = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def mib(kib):
    return None if kib is None else round(kib / 1024.0, 1)


# MARK: - Reference: denoise generate


def run_generate(a, n):
    out = tempfile.mkdtemp(prefix=f"denoise-load-ref{n}-")
    cmd = [a.denoise, "generate"] + ([a.model] if a.model else []) + [
        "--n", str(n), "--steps", str(a.steps), "--batch-size", "32", "--threads", str(a.threads), "--out", out]
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}:\n  " + "\n  ".join(tail))
    return seconds, cmd


def reference(a):
    log(f"reference: denoise generate --n 32 / --n 64, --steps {a.steps}, --batch-size 32, --threads {a.threads}")
    t32s, t64s = [], []
    for _ in range(max(1, a.reference_repeats)):
        t, cmd = run_generate(a, 32)
        t32s.append(t)
        log(f"  n=32: {t:.2f} s")
        t, _ = run_generate(a, 64)
        t64s.append(t)
        log(f"  n=64: {t:.2f} s")
    t32, t64 = min(t32s), min(t64s)
    diff = t64 - t32
    return {
        "command": " ".join(cmd),
        "t32_s": round(t32, 3),
        "t64_s": round(t64, 3),
        "cold_images_per_s": round(32 / t32, 3),
        "steady_images_per_s": round(32 / diff, 3) if diff > 0 else None,
    }


# MARK: - Server


class Server:
    def __init__(self, a):
        self.a = a
        cmd = [a.denoise, "serve"] + ([a.model] if a.model else []) + [
            "--port", "0", "--max-batch", str(a.max_batch), "--threads", str(a.threads)]
        self.cmd = cmd
        self.lines = []
        self.lines_lock = threading.Lock()
        self.port = None
        self.port_event = threading.Event()
        self.log_file = open(a.server_log, "w") if a.server_log else None
        log("starting: " + " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            with self.lines_lock:
                self.lines.append(line)
            if self.log_file:
                self.log_file.write(line + "\n")
            if self.port is None:
                m = LISTEN_RE.search(line)
                if m:
                    self.port = int(m.group(2))
                    self.port_event.set()
        self.port_event.set()  # EOF: wake anyone waiting for the port
        if self.log_file:
            self.log_file.flush()

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        if not self.port_event.wait(timeout) or self.port is None:
            raise RuntimeError("server never printed 'listening on' (exit code %s):\n  %s"
                               % (self.proc.poll(), "\n  ".join(self.tail(10))))
        log(f"listening on port {self.port}; waiting for /readyz")
        t0 = time.monotonic()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode} before ready:\n  " + "\n  ".join(self.tail(10)))
            try:
                status, _ = self.get("/readyz", timeout=5)
                if status == 200:
                    log(f"ready after {time.monotonic() - t0:.1f} s")
                    return time.monotonic() - t0
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"/readyz not 200 within {timeout} s")

    def get(self, path, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def metrics(self):
        """{metric name (with labels): value} from /metrics, {} on failure."""
        try:
            status, body = self.get("/metrics")
        except (OSError, http.client.HTTPException):
            return {}
        if status != 200:
            return {}
        out = {}
        for line in body.decode("utf-8", "replace").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
        return out

    def tail(self, n):
        with self.lines_lock:
            return list(self.lines[-n:])

    def all_lines(self):
        with self.lines_lock:
            return list(self.lines)

    def stop(self, timeout=60.0):
        """SIGINT, then wait up to `timeout` s; SIGKILL if it does not exit. Returns a report dict."""
        if self.proc.poll() is not None:
            return {"exit_code": self.proc.returncode, "seconds": 0.0, "clean": False, "note": "had already exited"}
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
            seconds = time.monotonic() - t0
            note = "" if code == 0 else f"exited {code}"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            seconds = time.monotonic() - t0
            note = f"did not exit within {timeout:.0f} s of SIGINT; killed"
        self.reader.join(5)
        if self.log_file:
            self.log_file.close()
        return {"exit_code": code, "seconds": round(seconds, 2), "clean": code == 0 and not note, "note": note}


# MARK: - Load


class SeedCounter:
    def __init__(self, start):
        self.next = start
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            s = self.next
            self.next += 1
            return s


def image_in(body, api):
    """Whether a 200 body holds one PNG: the PNG itself (get), a JSON `images` list (json), or an
    `image` event followed by `done` (stream)."""
    png = b"\x89PNG\r\n\x1a\n"
    if api == "get":
        return body[:8] == png
    if api == "json":
        try:
            images = json.loads(body)["images"]
            return len(images) == 1 and base64.b64decode(images[0])[:8] == png
        except (ValueError, KeyError, TypeError):
            return False
    events = [block for block in body.decode("utf-8", "replace").split("\n\n") if block.strip()]
    names = [next((l[6:].strip() for l in e.splitlines() if l.startswith("event:")), "") for e in events]
    return names.count("image") == 1 and names[-1:] == ["done"] and names.count("progress") >= 1


def run_level(server, a, clients, seeds, seconds=None, total=None, label=None):
    """C threads of sequential single-image requests, for `seconds` (and at least a.min_requests) or
    exactly `total` requests. Returns the phase's results."""
    lock = threading.Lock()
    latencies = []          # seconds, 200 responses only
    statuses = {}           # status -> count
    errors = {}             # exception text -> count
    bad_bodies = [0]
    started = [0]
    min_requests = a.min_requests if total is None else 0
    m0 = server.metrics()
    t_start = time.perf_counter()
    deadline = t_start + seconds if seconds is not None else None

    def claim():
        with lock:
            if total is not None:
                if started[0] >= total:
                    return False
            elif time.perf_counter() >= deadline and started[0] >= min_requests:
                return False
            started[0] += 1
            return True

    def worker():
        conn = None
        while claim():
            seed = seeds.take()
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=a.request_timeout)
                if a.api == "get":
                    conn.request("GET", f"/generate?steps={a.steps}&seed={seed}")
                else:
                    headers = {"Content-Type": "application/json"}
                    if a.api == "stream":
                        headers["Accept"] = "text/event-stream"
                    conn.request("POST", "/v1/generate", body=json.dumps({"steps": a.steps, "seed": seed}), headers=headers)
                r = conn.getresponse()
                body = r.read()
                dt = time.perf_counter() - t0
                with lock:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    if r.status == 200:
                        if image_in(body, a.api):
                            latencies.append(dt)
                        else:
                            bad_bodies[0] += 1
                if r.will_close:
                    conn.close()
                    conn = None
                if r.status != 200:
                    time.sleep(0.05)  # don't spin on fast 503s (queue full)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    key = f"{type(e).__name__}: {e}"
                    errors[key] = errors.get(key, 0) + 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    m1 = server.metrics()

    lat = sorted(latencies)
    ok = len(lat)
    non200 = {s: n for s, n in statuses.items() if s != 200}
    fb = m1.get("denoise_batch_size_count", 0) - m0.get("denoise_batch_size_count", 0)
    sb = m1.get("denoise_batch_size_sum", 0) - m0.get("denoise_batch_size_sum", 0)
    res = {
        "label": label or f"{clients} client{'s' if clients != 1 else ''}",
        "clients": clients,
        "requests": started[0],
        "ok": ok,
        "wall_s": round(wall, 3),
        "images_per_s": round(ok / wall, 3) if wall > 0 else None,
        "p50_ms": None if not lat else round(percentile(lat, 50) * 1000, 1),
        "p99_ms": None if not lat else round(percentile(lat, 99) * 1000, 1),
        "max_ms": None if not lat else round(lat[-1] * 1000, 1),
        "mean_ms": None if not lat else round(statistics.fmean(lat) * 1000, 1),
        "non200": {str(k): v for k, v in sorted(non200.items())},
        "n5xx": sum(n for s, n in non200.items() if 500 <= s <= 599),
        "connection_errors": errors,
        "bad_png": bad_bodies[0],
        "forwards": int(fb),
        "mean_batch": round(sb / fb, 2) if fb > 0 else None,
    }
    log(f"  {res['label']}: {ok}/{started[0]} ok in {wall:.1f} s = {res['images_per_s']} images/s, "
        f"p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, mean batch {res['mean_batch']}")
    if res["n5xx"]:
        log(f"  !!!!! {res['n5xx']} 5xx RESPONSES at {res['label']}: {res['non200']} !!!!!")
    elif non200:
        log(f"  !!! non-200 responses at {res['label']}: {res['non200']}")
    if errors:
        log(f"  !!!!! CONNECTION ERRORS at {res['label']}: {errors} !!!!!")
    if bad_bodies[0]:
        log(f"  !!!!! {bad_bodies[0]} 200 responses were not PNGs at {res['label']} !!!!!")
    return res


# MARK: - Report


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.2f}{unit}" if abs(v) < 100 else f"{v:,.1f}{unit}"
    return f"{v}{unit}"


def server_notes(lines):
    """Log lines worth a look: request lines with a status other than 200 (except /readyz 503 while
    compiling) and anything mentioning an error, warning or failure."""
    notes = []
    for line in lines:
        m = REQUEST_LOG_RE.search(line)
        if m:
            path, status = m.group(2), int(m.group(3))
            if status == 200 or (path.startswith("/readyz") and status == 503):
                continue
            notes.append(line)
        elif re.search(r"error|warn|fail|fatal|crash|assert", line, re.I):
            notes.append(line)
    return notes


def print_report(r):
    print()
    print("## denoise serve load test")
    print()
    print("| machine | |")
    print("|---|---|")
    print(f"| os.cpu_count() | {r['machine']['cpu_count']} |")
    print(f"| OPENBLAS_CORETYPE | {r['machine']['OPENBLAS_CORETYPE']} |")
    print(f"| load average at start (1/5/15 min) | {r['machine']['loadavg_at_start']} |")
    print(f"| model | {r['config']['model']} |")
    print(f"| steps | {r['config']['steps']} |")
    print(f"| max-batch | {r['config']['max_batch']} |")
    print(f"| threads | {r['config']['threads']} |")
    print(f"| server ready after | {fmt(r['server']['ready_s'], ' s')} |")
    print()
    print("| clients | requests | ok | non-200 | wall s | images/s | p50 ms | p99 ms | max ms | mean batch |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for p in r["phases"]:
        bad = dict(p["non200"])
        if p["connection_errors"]:
            bad["conn-err"] = sum(p["connection_errors"].values())
        if p["bad_png"]:
            bad["not-png"] = p["bad_png"]
        bad_s = "0" if not bad else ", ".join(f"{k}×{v}" for k, v in bad.items())
        if p["n5xx"] or p["connection_errors"] or p["bad_png"]:
            bad_s = f"**{bad_s}** ⚠"
        print(f"| {p['label']} | {p['requests']} | {p['ok']} | {bad_s} | {fmt(p['wall_s'])} | {fmt(p['images_per_s'])} "
              f"| {fmt(p['p50_ms'])} | {fmt(p['p99_ms'])} | {fmt(p['max_ms'])} | {fmt(p['mean_batch'])} |")
    print()
    ref = r.get("reference")
    if ref:
        print("| reference: denoise generate --batch-size 32 | |")
        print("|---|---|")
        print(f"| n=32 wall (incl. load + compile) | {fmt(ref['t32_s'], ' s')} ({fmt(ref['cold_images_per_s'])} images/s) |")
        print(f"| n=64 wall | {fmt(ref['t64_s'], ' s')} |")
        print(f"| steady state 32 / (t64 − t32) | {fmt(ref['steady_images_per_s'])} images/s |")
        ratio = r.get("ratio_32_clients")
        if ratio is not None:
            verdict = "meets" if ratio >= 0.9 else "BELOW"
            print(f"| server @32 clients / generate steady | **{ratio:.3f}** ({verdict} the 0.9 target) |")
        else:
            print("| server @32 clients / generate steady | n/a (no 32-client level, or no steady-state number) |")
        print()
    elif r.get("reference_error"):
        print(f"Reference failed: {r['reference_error']}")
        print()
    m = r["memory"]
    print("| memory (server VmRSS) | MiB |")
    print("|---|---:|")
    print(f"| ready, before load | {fmt(m['before_load_mib'])} |")
    print(f"| after the load levels | {fmt(m['after_load_mib'])} |")
    print(f"| after {m['leak_requests']} more requests | {fmt(m['after_leak_mib'])} |")
    print(f"| growth over the leak requests | {fmt(m['leak_growth_mib'])} |")
    print(f"| peak (VmHWM) | {fmt(m['peak_mib'])} |")
    print()
    s = r["shutdown"]
    status = "clean (exit 0)" if s["clean"] else f"**NOT CLEAN** ({s['note'] or 'exit ' + str(s['exit_code'])})"
    print(f"Shutdown on SIGINT: {status} after {s['seconds']} s.")
    if r["server_notes"]:
        print()
        print(f"Server log lines worth a look ({len(r['server_notes'])}, first 20):")
        print()
        print("```")
        for line in r["server_notes"][:20]:
            print(line)
        print("```")
    if r["problems"]:
        print()
        print("**PROBLEMS:** " + "; ".join(r["problems"]))
    print()
    print(f"Total time {r['total_s']:.1f} s.")


# MARK: - Main


def main():
    a = parse_args()
    t_total = time.perf_counter()
    report = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset"),
            "loadavg_at_start": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        },
        "config": {
            "denoise": a.denoise, "model": a.model or "(default model)", "steps": a.steps,
            "max_batch": a.max_batch, "threads": a.threads, "clients": a.client_levels,
            "seconds": a.seconds, "min_requests": a.min_requests, "leak_requests": a.leak_requests,
        },
        "phases": [],
        "problems": [],
    }

    if not a.no_reference:
        try:
            report["reference"] = reference(a)
        except RuntimeError as e:
            report["reference_error"] = str(e)
            report["problems"].append("reference generate failed")
            log(f"!!!!! reference failed: {e}")

    server = Server(a)
    report["server"] = {"command": " ".join(server.cmd), "pid": server.proc.pid}
    try:
        report["server"]["ready_s"] = round(server.wait_ready(a.ready_timeout), 2)
        seeds = SeedCounter(1_000_000)
        rss0, _ = rss_kib(server.proc.pid)
        log(f"server VmRSS before load: {mib(rss0)} MiB")
        for c in a.client_levels:
            log(f"level: {c} clients for {a.seconds} s" + (f" (at least {a.min_requests} requests)" if a.min_requests else ""))
            report["phases"].append(run_level(server, a, c, seeds, seconds=a.seconds))
        rss1, _ = rss_kib(server.proc.pid)
        if a.leak_requests > 0:
            log(f"leak check: {a.leak_requests} requests from {a.leak_clients} clients")
            report["phases"].append(run_level(server, a, a.leak_clients, seeds, total=a.leak_requests,
                                              label=f"leak check ({a.leak_clients} clients)"))
        rss2, hwm = rss_kib(server.proc.pid)
        report["memory"] = {
            "before_load_mib": mib(rss0), "after_load_mib": mib(rss1), "after_leak_mib": mib(rss2),
            "leak_growth_mib": None if rss1 is None or rss2 is None else mib(rss2 - rss1),
            "peak_mib": mib(hwm), "leak_requests": a.leak_requests,
        }
        log(f"server VmRSS: before {mib(rss0)} MiB, after load {mib(rss1)} MiB, after leak check {mib(rss2)} MiB")
    except BaseException as e:
        log(f"!!!!! aborted: {type(e).__name__}: {e}")
        report["problems"].append(f"aborted: {type(e).__name__}: {e}")
        report.setdefault("memory", {"before_load_mib": None, "after_load_mib": None, "after_leak_mib": None,
                                     "leak_growth_mib": None, "peak_mib": None, "leak_requests": a.leak_requests})
        report["server"].setdefault("ready_s", None)
        if isinstance(e, KeyboardInterrupt):
            server.stop(timeout=10)
            raise
    finally:
        if server.proc.poll() is None:
            log("stopping the server with SIGINT")
        report["shutdown"] = server.stop(timeout=60.0)
        log(f"shutdown: {report['shutdown']}")

    ref = report.get("reference") or {}
    at32 = next((p for p in report["phases"] if p["clients"] == 32 and not p["label"].startswith("leak")), None)
    if ref.get("steady_images_per_s") and at32 and at32["images_per_s"] is not None:
        report["ratio_32_clients"] = round(at32["images_per_s"] / ref["steady_images_per_s"], 3)
    for p in report["phases"]:
        if p["n5xx"]:
            report["problems"].append(f"{p['n5xx']} 5xx responses at {p['label']}")
        elif p["non200"]:
            report["problems"].append(f"non-200 responses at {p['label']}: {p['non200']}")
        if p["connection_errors"]:
            report["problems"].append(f"connection errors at {p['label']}")
        if p["bad_png"]:
            report["problems"].append(f"non-PNG bodies at {p['label']}")
    if not report["shutdown"]["clean"]:
        report["problems"].append("server did not stop cleanly on SIGINT")
    report["server_notes"] = server_notes(server.all_lines())
    report["total_s"] = round(time.perf_counter() - t_total, 1)

    print_report(report)
    if a.json:
        print()
        print(json.dumps(report, indent=2))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
