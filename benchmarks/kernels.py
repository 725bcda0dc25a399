#!/usr/bin/env python3
"""Side-by-side kernel benchmark: denoise vs PyTorch CPU on the same shapes and thread count.

Runs `denoise bench --kernels --json` (build it first: `swift build -c release`), then the same
kernels in PyTorch (conv2d 3x3 forward and forward+backward, the GEMM of the same FLOP count,
GroupNorm+SiLU), and prints both with the ratio PyTorch time / denoise time (> 1: denoise is
faster). Needs a Python with torch (CPU build); never needed by denoise itself.

    python benchmarks/kernels.py [--threads 2] [--denoise .build/release/denoise]
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F


def median_seconds(fn, minimum=0.4):
    fn()
    samples, start = [], time.perf_counter()
    while len(samples) < 5 or time.perf_counter() - start < minimum:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def parse_shape(shape):
    """'N=16 C=64 32x32' or 'M=64 K=576 N=1024' (+ 'G=32') -> dict."""
    out = {}
    for part in shape.split():
        if "=" in part:
            k, v = part.split("=")
            out[k] = int(v)
        else:
            out["S"] = int(part.split("x")[0])
    return out


def torch_seconds(kernel, shape):
    s = parse_shape(shape)
    g = torch.Generator().manual_seed(0)
    rand = lambda *size: torch.rand(*size, generator=g) * 2 - 1
    if kernel.startswith("conv2d"):
        n, c, hw = s["N"], s["C"], s["S"]
        x, w, b = rand(n, c, hw, hw), rand(c, c, 3, 3), rand(c)
        if kernel.endswith("fwd"):
            with torch.no_grad():
                return median_seconds(lambda: F.conv2d(x, w, b, padding=1))
        x.requires_grad_(True); w.requires_grad_(True); b.requires_grad_(True)
        grad = rand(n, c, hw, hw)

        def step():
            x.grad = w.grad = b.grad = None
            F.conv2d(x, w, b, padding=1).backward(grad)
        return median_seconds(step)
    if "gemm" in kernel:  # ours and OpenBLAS's, both against torch.mm
        a, bm = rand(s["M"], s["K"]), rand(s["K"], s["N"])
        out = torch.empty(s["M"], s["N"])
        return median_seconds(lambda: torch.mm(a, bm, out=out))
    if kernel.startswith("groupnorm"):
        n, c, hw = s["N"], s["C"], s["S"]
        x, w, b = rand(n, c, hw, hw), rand(c), rand(c)
        with torch.no_grad():
            return median_seconds(lambda: F.silu(F.group_norm(x, s["G"], w, b)))
    raise ValueError(f"unknown kernel {kernel}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--denoise", default=os.path.join(here, "..", ".build", "release", "denoise"))
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    ours = json.loads(subprocess.run([args.denoise, "bench", "--kernels", "--json", "--threads", str(args.threads)],
                                     check=True, capture_output=True, text=True).stdout)
    print(f"denoise: threads {ours['threads']}, ISA {ours['isa']}, OPENBLAS_CORETYPE={ours['openblasCoretype']}, {ours['openblas']}")
    print(f"PyTorch {torch.__version__}: threads {torch.get_num_threads()}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"{'kernel':28}{'shape':26}{'denoise ms':>11}{'rate':>17}{'torch ms':>10}{'torch rate':>17}{'torch/ours':>11}")
    for r in ours["results"]:
        t = torch_seconds(r["kernel"], r["shape"])
        torch_rate = r["rate"] * (r["milliseconds"] / 1e3) / t
        print(f"{r['kernel']:28}{r['shape']:26}{r['milliseconds']:11.3f}{r['rate']:11.1f} {r['unit']:<5}"
              f"{t * 1e3:10.3f}{torch_rate:11.1f} {r['unit']:<5}{t * 1e3 / r['milliseconds']:11.2f}")


if __name__ == "__main__":
    main()
