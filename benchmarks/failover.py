#!/usr/bin/env python3
"""Replicas behind nginx losing one mid-load: scripts/replicas.sh N on loopback, --clients threads
sending GET /generate through nginx for --seconds, and replica 0 killed (SIGKILL) at --kill-after.

Reports, before and after the kill, the statuses and p50/p99 latency, and which requests failed:
with nginx retrying on the next replica (deploy/nginx.conf), a kill should cost at most the
requests replica 0 was running. Needs nginx and a release build.

    python benchmarks/failover.py [--replicas 2] [--seconds 30] [--kill-after 10] [--clients 8] [--steps 10]
"""
import argparse, collections, http.client, os, re, signal, statistics, subprocess, sys, threading, time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--kill-after", type=float, default=10)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--port", type=int, default=18080)
    a = p.parse_args()

    threads = max(1, (os.cpu_count() or 2) // a.replicas)
    env = dict(os.environ, DENOISE_REPLICA_THREADS=str(threads))
    proc = subprocess.Popen([os.path.join(ROOT, "scripts", "replicas.sh"), str(a.replicas), "--port", str(a.port),
                             "--base-port", str(a.port + 1)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    line = proc.stdout.readline()
    m = re.search(r"pids ([0-9 ]+)\)", line)
    if not m:
        proc.terminate()
        sys.exit(f"replicas.sh did not start: {line}{proc.stdout.read()}")
    pids = [int(x) for x in m.group(1).split()]
    print(line.strip())

    results = []  # (start time, phase, status, seconds)
    lock = threading.Lock()
    start = time.perf_counter()
    killed_at = [None]

    def client(k):
        i = 0
        while time.perf_counter() - start < a.seconds:
            t0 = time.perf_counter()
            phase = "before" if killed_at[0] is None else "after"
            try:
                c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
                c.request("GET", f"/generate?steps={a.steps}&seed={k * 100000 + i}")
                r = c.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                status = type(e).__name__
            with lock:
                results.append((t0 - start, phase, status, time.perf_counter() - t0))
            i += 1

    workers = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    for w in workers:
        w.start()
    time.sleep(a.kill_after)
    os.kill(pids[0], signal.SIGKILL)
    killed_at[0] = time.perf_counter() - start
    print(f"killed replica 0 (pid {pids[0]}) at {killed_at[0]:.1f} s")
    for w in workers:
        w.join()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)

    for phase in ["before", "after"]:
        rows = [r for r in results if r[1] == phase]
        counts = collections.Counter(r[2] for r in rows)
        ok = sorted(r[3] for r in rows if r[2] == 200)
        lat = f"p50 {1000 * statistics.median(ok):.0f} ms, p99 {1000 * ok[int(0.99 * (len(ok) - 1))]:.0f} ms" if ok else "no successes"
        print(f"{phase} the kill: {len(rows)} requests, statuses {dict(counts)}, {lat}")
    failed = [r for r in results if r[2] != 200]
    for r in failed:
        print(f"  failed: started at {r[0]:.2f} s, {r[2]}, after {r[3]:.2f} s")
    print(f"{len(failed)} of {len(results)} requests failed")
    sys.exit(0 if len(failed) <= a.clients else 1)


if __name__ == "__main__":
    main()
