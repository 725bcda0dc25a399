#!/usr/bin/env python3
"""Whole generation against bare forwards: does a 50-step image cost 50 forwards and nothing more?

On one model (default: the shipped models/fashion-mnist), measures in one run:
  - forward:  `denoise bench MODEL --batch 1` (median ms of one batch-1 forward of the plan)
  - generate: `denoise generate MODEL --n 1 --steps S` wall time, minus the same command with
              --steps 1 (model load, plan compile and time table, PNG write), divided by S - 1
  - serve:    `GET /generate?steps=S` on a `denoise serve` over loopback (plans compiled at start),
              median wall time of 3 sequential requests, divided by S
in --rounds rounds, each with a forward measured right before, and prints the median per-step
cost as a ratio to the forward (target: at most 1.1), plus the CLI's fixed start-up cost.

    python benchmarks/generation.py [--model models/fashion-mnist] [--steps 50] [--rounds 7] [--port 8093]
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
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--port", type=int, default=8093)
    p.add_argument("--denoise", default=os.path.join(ROOT, ".build", "release", "denoise"))
    a = p.parse_args()
    d = a.denoise

    def forward():
        out = subprocess.run([d, "bench", a.model, "--batch", "1", "--json", "--min-seconds", "0.1"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)[0]["ms_median"] / 1e3

    # Each round measures a forward right before the generation it is compared with: this host's
    # speed drifts by up to 2x over minutes, so only neighbouring measurements are comparable.
    cli, startup = [], []
    with tempfile.TemporaryDirectory() as out:
        def generate(steps):
            return wall([d, "generate", a.model, "--n", "1", "--steps", str(steps), "--seed", "1", "--out", out])
        generate(1)  # warm the page cache
        for _ in range(a.rounds):
            f = forward()
            one, full = generate(1), generate(a.steps)
            cli.append(((full - one) / (a.steps - 1) / f, f))
            startup.append(one)

    server = subprocess.Popen([d, "serve", a.model, "--port", str(a.port), "--max-batch", "4"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    served = []
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

        def request(i):
            t0 = time.perf_counter()
            body = urllib.request.urlopen(f"{base}/generate?steps={a.steps}&seed={i}", timeout=60).read()
            assert body[:8] == b"\x89PNG\r\n\x1a\n"
            return time.perf_counter() - t0
        request(0)
        for r in range(a.rounds):
            f = forward()
            served.append((statistics.median(request(1 + 3 * r + k) for k in range(3)) / a.steps / f, f))
    finally:
        server.terminate()
        server.wait(timeout=40)

    cli_ratio, server_ratio = statistics.median(r for r, _ in cli), statistics.median(r for r, _ in served)
    f_ms = statistics.median(f for _, f in cli + served) * 1e3
    print(f"model {a.model}, {a.steps} steps, {a.rounds} rounds (each a forward measured next to a generation)")
    print(f"forward (bench, batch 1), median  {f_ms:8.3f} ms")
    print(f"generate, per step / forward      {cli_ratio:8.2f}   rounds: {' '.join(f'{r:.2f}' for r, _ in cli)}")
    print(f"GET /generate, per step / forward {server_ratio:8.2f}   rounds: {' '.join(f'{r:.2f}' for r, _ in served)}")
    print(f"generate start-up (--steps 1)     {statistics.median(startup) * 1e3:8.1f} ms  (load, compile, time table, PNG)")


if __name__ == "__main__":
    main()
