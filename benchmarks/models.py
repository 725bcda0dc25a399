#!/usr/bin/env python3
"""Side-by-side model benchmark: denoise vs onnxruntime vs PyTorch on the same U-Nets.

Models (--models, comma-separated; default all three):
  default       the shipped default model: `denoise export models/fashion-mnist --onnx` into
                benchmarks/models/default/; PyTorch runs diffusers' UNet2DModel with the same config
  ddpm_unet28   denoising-diffusion-pytorch Unet(dim=32, dim_mults=(1,2,4), channels=1), 28x28
  ddpm_cifar10  the DDPM-CIFAR10-sized diffusers UNet2DModel (35.7M parameters)
The last two come from `scripts/make_onnx_fixtures.py ddpm_unet28 ddpm_cifar10` (benchmarks/models/,
not committed). Each engine runs the same ONNX file (PyTorch the same module, eager, no_grad):
  - denoise:     `denoise bench MODEL --batch B --threads N --json` (the compiled plan)
  - onnxruntime: CPUExecutionProvider, intra_op_num_threads=N, ORT_ENABLE_ALL, sequential
  - PyTorch:     torch.set_num_threads(N)
For every (model, batch) the engines take turns for --rounds rounds (each a median over at least
--seconds), so a slow minute on a noisy host hits all three; the table shows each engine's median
ms, and as ratios (ORT ms / denoise ms, PyTorch ms / denoise ms; > 1: denoise is faster) the
median of the per-round ratios. The last line gives their geometric means. The header names the ISA and GEMM kernel denoise ran.

    python benchmarks/models.py [--models default,ddpm_unet28,ddpm_cifar10] [--batch 1,4,16,32]
                                [--threads 2] [--rounds 5] [--seconds 0.5] [--skip-torch] [--json OUT]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

# The default model's architecture (UNet2DConfig.fashionMNIST), for PyTorch.
DEFAULT_CONFIG = dict(sample_size=28, in_channels=1, out_channels=1, block_out_channels=[32, 64, 64],
                      layers_per_block=1, norm_num_groups=8, attention_head_dim=16,
                      down_block_types=["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
                      up_block_types=["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"])


def median_ms(fn, seconds):
    fn()
    samples, start = [], time.perf_counter()
    while len(samples) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e3


def inputs(shape, batch, classes=None):
    """Inputs in the ONNX file's order: the noisy images, timesteps and, for a class-conditional
    model, labels among its classes."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    t = (500 + 37 * np.arange(batch)) % 1000
    feeds = [x, t.astype(np.int64)]
    if classes:
        feeds.append((np.arange(batch) % classes).astype(np.int64))
    return feeds


def metadata(path):
    """The ONNX file's metadata_props."""
    import onnx
    return {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}


def model_files(name, denoise):
    """(onnx path, image shape, PyTorch module builder) for a model name."""
    if name == "default":
        folder = os.path.join(HERE, "models", "default")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "default.onnx")
        subprocess.run([denoise, "export", os.path.join(ROOT, "models", "fashion-mnist"), "--onnx", path],
                       check=True, capture_output=True)

        def build():
            import torch
            from diffusers import UNet2DModel
            torch.manual_seed(0)
            meta = metadata(path)
            # A class-conditional default model embeds its classes and the null label.
            embeds = int(meta["denoise.null_class"]) + 1 if "denoise.null_class" in meta else None
            unet = UNet2DModel(**DEFAULT_CONFIG, num_class_embeds=embeds).eval()
            return lambda x, t, *labels: unet(x, t, class_labels=labels[0] if labels else None).sample
        return path, (1, 28, 28), build
    import make_onnx_fixtures as fixtures
    spec = fixtures.MODELS[name]
    path = os.path.join(HERE, "models", name, f"{name}.ts.onnx")
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/make_onnx_fixtures.py {name}")

    def build():
        import torch
        torch.manual_seed(spec["seed"])
        module = spec["build"]()[0].eval()
        return lambda x, t, *labels: module(x, t, *labels)
    return path, spec["shape"], build


def denoise_round(denoise, path, batch, threads, seconds):
    out = subprocess.run([denoise, "bench", path, "--batch", str(batch), "--threads", str(threads), "--json",
                          "--min-seconds", str(seconds / 5)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="default,ddpm_unet28,ddpm_cifar10")
    p.add_argument("--batch", default="1,4,16,32")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=0.5, help="minimum seconds per engine per round")
    p.add_argument("--denoise", default=os.path.join(ROOT, ".build", "release", "denoise"))
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--json", help="also write the rows as JSON to this file")
    args = p.parse_args()
    batches = [int(b) for b in args.batch.split(",")]

    import onnxruntime as ort
    import torch
    torch.set_num_threads(args.threads)
    header = subprocess.run([args.denoise, "bench", os.path.join(ROOT, "models", "fashion-mnist"), "--batch", "1",
                             "--min-seconds", "0"], check=True, capture_output=True, text=True).stdout.splitlines()[0]
    print(f"denoise: {header.split(': ', 1)[1]}")
    print(f"onnxruntime {ort.__version__}; torch {torch.__version__}; threads {args.threads}; "
          f"{args.rounds} alternating rounds of >= {args.seconds}s per engine")
    print(f"{'model':<13} {'batch':>5} {'denoise ms':>11} {'GFLOP/s':>8} {'ORT ms':>9} {'PyTorch ms':>11} "
          f"{'ORT/ours':>9} {'torch/ours':>11}")
    rows = []
    for name in args.models.split(","):
        path, shape, build = model_files(name, args.denoise)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        classes = int(metadata(path).get("denoise.num_classes", 0))
        forward = None if args.skip_torch else build()
        for b in batches:
            arrays = inputs(shape, b, classes)
            feeds = dict(zip(names, arrays))
            ours, theirs, torch_ms = [], [], []
            for _ in range(args.rounds):
                ours.append(denoise_round(args.denoise, path, b, args.threads, args.seconds))
                theirs.append(median_ms(lambda: session.run(None, feeds), args.seconds))
                if forward is not None:
                    tensors = [torch.from_numpy(a) for a in arrays]
                    with torch.no_grad():
                        torch_ms.append(median_ms(lambda: forward(*tensors), args.seconds))
            ms = statistics.median(r["ms_median"] for r in ours)
            gflops = statistics.median(r["gflops"] for r in ours)
            ort_ms = statistics.median(theirs)
            pt_ms = statistics.median(torch_ms) if torch_ms else float("nan")
            # Ratios per round (engines measured seconds apart), then their median: a slow phase
            # of the host that spans a round slows all engines of that round alike.
            ort_ratio = statistics.median(o / r["ms_median"] for o, r in zip(theirs, ours))
            torch_ratio = statistics.median(p / r["ms_median"] for p, r in zip(torch_ms, ours)) if torch_ms else float("nan")
            row = dict(model=name, batch=b, denoise_ms=ms, gflops=gflops, ort_ms=ort_ms, torch_ms=pt_ms,
                       ort_ratio=ort_ratio, torch_ratio=torch_ratio)
            rows.append(row)
            print(f"{name:<13} {b:5d} {ms:11.2f} {gflops:8.1f} {ort_ms:9.2f} {pt_ms:11.2f} "
                  f"{row['ort_ratio']:9.2f} {row['torch_ratio']:11.2f}", flush=True)

    def geomean(key):
        values = [r[key] for r in rows if r[key] == r[key]]
        return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")
    print(f"geometric mean: ORT/ours {geomean('ort_ratio'):.2f}, torch/ours {geomean('torch_ratio'):.2f}; "
          f"lowest ORT/ours {min(r['ort_ratio'] for r in rows):.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
