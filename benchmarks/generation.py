#!/usr/bin/env python3
"""Whole generation against bare forwards: does a 50-step image cost 50 forwards and nothing more?

On one model (default: the shipped models/fashion-mnist), measures in one run:
  - forward:  `denoise bench MODEL --batch 1` (median ms of one batch-1 forward of the plan)
  - generate: `denoise generate MODEL --n 1 --steps S` wall time, minus the same command with
              --steps 1 (model load, plan compile and time table, PNG write), divided by S - 1
  - serve:    `GET /generate?steps=S` on a `denoise serve` over loopback (plans compiled at start),
              median wall time of --requests sequential requests, divided by S
and prints each per-step cost as a ratio to the forward (target: at most 1.1), plus the CLI's
fixed start-up cost.

    python benchmarks/generation.py [--model models/fashion-mnist] [--steps 50] [--requests 10] [--port 8093]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wall(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(ROOT, "models", "fashion-mnist"))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--requests", type=int, default=10)
    p.add_argument("--port", type=int, default=8093)
    p.add_argument("--denoise", default=os.path.join(ROOT, ".build", "release", "denoise"))
    a = p.parse_args()
    d = a.denoise

    bench = json.loads(subprocess.run([d, "bench", a.model, "--batch", "1", "--json", "--min-seconds", "0.4"],
                                      check=True, capture_output=True, text=True).stdout)[0]
    forward = bench["ms_median"] / 1e3
    with tempfile.TemporaryDirectory() as out:
        def generate(steps):
            return wall([d, "generate", a.model, "--n", "1", "--steps", str(steps), "--seed", "1", "--out", out])
        generate(1)  # warm the page cache
        one = statistics.median(generate(1) for _ in range(5))
        full = statistics.median(generate(a.steps) for _ in range(5))
    per_step_cli = (full - one) / (a.steps - 1)

    server = subprocess.Popen([d, "serve", a.model, "--port", str(a.port), "--max-batch", "4"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{a.port}"
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.time() > deadline or server.poll() is not None:
                sys.exit("denoise serve did not become ready")
            time.sleep(0.1)
        times = []
        for i in range(a.requests + 1):
            t0 = time.perf_counter()
            body = urllib.request.urlopen(f"{base}/generate?steps={a.steps}&seed={i}", timeout=60).read()
            times.append(time.perf_counter() - t0)
            assert body[:8] == b"\x89PNG\r\n\x1a\n"
        per_step_server = statistics.median(times[1:]) / a.steps
    finally:
        server.terminate()
        server.wait(timeout=40)

    print(f"model {a.model}, {a.steps} steps")
    print(f"forward (bench, batch 1)      {forward * 1e3:8.3f} ms")
    print(f"generate, per step            {per_step_cli * 1e3:8.3f} ms  ratio {per_step_cli / forward:5.2f}")
    print(f"GET /generate, per step       {per_step_server * 1e3:8.3f} ms  ratio {per_step_server / forward:5.2f}")
    print(f"generate start-up (--steps 1) {one * 1e3:8.1f} ms  (load, compile, time table, PNG)")


if __name__ == "__main__":
    main()
