#!/usr/bin/env python3
"""Side-by-side fine-tuning step: `denoise finetune` on an imported ONNX U-Net vs PyTorch training
the same model (same weights, batch, loss, AdamW, gradient clipping), both on T threads.

The model is one of scripts/make_onnx_fixtures.py's (rebuilt by its own code, so PyTorch trains
exactly the network whose TorchScript export denoise imports):
  diffusers_unet_small   committed fixture, diffusers UNet2DModel 16x16 RGB (default)
  simple_unet            committed fixture, the seed's SimpleUnet with BatchNorm
  ddpm_cifar10           the DDPM-CIFAR10-sized UNet2DModel (benchmarks/models/, make it with --large)

    python benchmarks/finetune.py [--model diffusers_unet_small] [--batch 32] [--steps 10] [--threads 2]
"""
import argparse, os, re, subprocess, sys, tempfile, time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
import make_onnx_fixtures as fixtures  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="diffusers_unet_small")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--denoise", default=os.path.join(HERE, "..", ".build", "release", "denoise"))
    a = p.parse_args()
    spec = fixtures.MODELS[a.model]
    root = fixtures.BENCH if spec.get("large") else fixtures.FIXTURES
    onnx_path = root / a.model / f"{a.model}.ts.onnx"
    c, h, w = spec["shape"]

    # Training images at the model's size (the content does not matter for speed).
    folder = tempfile.mkdtemp()
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(folder, "images"))
    for k in range(64):
        pixels = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        Image.fromarray(pixels[:, :, 0] if c == 1 else pixels).save(os.path.join(folder, "images", f"{k}.png"))
    run = subprocess.run([a.denoise, "finetune", str(onnx_path), "--data", os.path.join(folder, "images"), "--steps", str(a.steps + 2),
                          "--batch-size", str(a.batch), "--threads", str(a.threads), "--out", os.path.join(folder, "out"),
                          "--save-every", "100000"], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"denoise finetune failed:\n{run.stderr[-2000:]}")
    ours = float(re.findall(r"([0-9.]+) it/s", run.stderr)[-1])
    isa = (re.findall(r"threads, (ISA .*)", run.stdout) or ["ISA unknown"])[0]

    torch.set_num_threads(a.threads)
    model, _, _, _, _ = fixtures.prepare_model(spec)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0)
    x = torch.randn(a.batch, c, h, w)
    t = torch.randint(0, 1000, (a.batch,)) if spec.get("t_dtype", np.int64) == np.int64 else torch.rand(a.batch) * 1000

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x, t), torch.randn_like(x))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    theirs = a.steps / (time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters())
    print(f"{a.model} ({params} parameters, {c}x{h}x{w}), batch {a.batch}, threads {a.threads}; "
          f"denoise {isa}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; torch {torch.__version__}")
    print(f"denoise finetune {ours:.2f} steps/s   PyTorch {theirs:.2f} steps/s   ours/torch {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
