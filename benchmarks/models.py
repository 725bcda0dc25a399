#!/usr/bin/env python3
"""Side-by-side model benchmark: denoise vs onnxruntime vs PyTorch on the same U-Net.

For one model of scripts/make_onnx_fixtures.py (default: the DDPM-CIFAR10-sized diffusers U-Net,
made by `make_onnx_fixtures.py --large` into benchmarks/models/), runs at each batch size:
  - denoise:     `denoise bench MODEL.onnx --batch ... --threads N --json` (compiled plan)
  - onnxruntime: the same ONNX file, CPUExecutionProvider, intra_op_num_threads=N, all graph
                 optimizations (ORT_ENABLE_ALL), sequential execution
  - PyTorch:     the same model rebuilt from the fixture script with the same seed (eager, no_grad,
                 torch.set_num_threads(N))
and prints median ms per forward, GFLOP/s (from denoise's FLOP count) and the ratios
onnxruntime/denoise and PyTorch/denoise (> 1: denoise is faster). Say which OpenBLAS kernel ran:
the header prints OPENBLAS_CORETYPE as the process saw it.

    python benchmarks/models.py [--model ddpm_cifar10] [--file ts|dynamo] [--batch 1,4,16] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def median_ms(fn, minimum=2.0):
    fn()
    samples, start = [], time.perf_counter()
    while len(samples) < 3 or time.perf_counter() - start < minimum:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e3


def inputs(shape, batch, t_max):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    t = (500 + 37 * np.arange(batch)) % t_max
    return x, t.astype(np.int64)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ddpm_cifar10")
    p.add_argument("--file", default="ts", choices=["ts", "dynamo"])
    p.add_argument("--batch", default="1,4,16")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--denoise", default=os.path.join(ROOT, ".build", "release", "denoise"))
    p.add_argument("--skip-torch", action="store_true")
    args = p.parse_args()
    batches = [int(b) for b in args.batch.split(",")]

    import make_onnx_fixtures as fixtures
    spec = fixtures.MODELS[args.model]
    folder = os.path.join(HERE, "models", args.model) if spec.get("large") else \
        os.path.join(ROOT, "Tests", "GraphTests", "Fixtures", "onnx", args.model)
    path = os.path.join(folder, f"{args.model}.{args.file}.onnx")
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/make_onnx_fixtures.py {'--large' if spec.get('large') else args.model}")

    ours = json.loads(subprocess.run([args.denoise, "bench", path, "--batch", args.batch, "--threads", str(args.threads), "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    ours = {r["batch"]: r for r in ours}

    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    torch_model = None
    if not args.skip_torch:
        import torch
        torch.set_num_threads(args.threads)
        torch.manual_seed(spec["seed"])
        torch_model = spec["build"]()[0].eval()

    print(f"{path}")
    print(f"threads {args.threads}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; "
          f"onnxruntime {ort.__version__}" + (f"; torch {torch.__version__}" if torch_model else ""))
    print(f"{'batch':>5} {'denoise ms':>11} {'GFLOP/s':>8} {'ORT ms':>9} {'PyTorch ms':>11} {'ORT/ours':>9} {'torch/ours':>11}")
    for b in batches:
        x, t = inputs(spec["shape"], b, 1000)
        feeds = dict(zip(names, [x, t]))
        ort_ms = median_ms(lambda: session.run(None, feeds))
        torch_ms = float("nan")
        if torch_model is not None:
            xt, tt = torch.from_numpy(x), torch.from_numpy(t)
            with torch.no_grad():
                torch_ms = median_ms(lambda: torch_model(xt, tt))
        r = ours[b]
        print(f"{b:5d} {r['ms_median']:11.2f} {r['gflops']:8.1f} {ort_ms:9.2f} {torch_ms:11.2f} "
              f"{ort_ms / r['ms_median']:9.2f} {torch_ms / r['ms_median']:11.2f}")


if __name__ == "__main__":
    main()
