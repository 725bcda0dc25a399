#!/usr/bin/env python3
"""Side-by-side training step: denoise vs PyTorch on the same U-Net config and batch.

Writes denoise's default U-Net config (`denoise train` with no --config: 28x28 gray, channels
32/64/64, attention at 14x14) as a diffusers config.json, then times
  - denoise:  `denoise train --config CONFIG --steps N --batch-size B` (its it/s, after warm-up),
  - PyTorch:  diffusers UNet2DModel(CONFIG) with AdamW, MSE on ε, the same batch, torch.set_num_threads(T),
alternating the two --repeat times, and prints the median steps/s of each and their ratio. Needs torch (CPU wheel) and diffusers.

    python benchmarks/train.py [--batch 32] [--steps 30] [--threads 2] [--repeat 3]
"""
import argparse, json, os, re, statistics, subprocess, tempfile, time
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = dict(sample_size=28, in_channels=1, out_channels=1, block_out_channels=[32, 64, 64], layers_per_block=1,
              norm_num_groups=8, attention_head_dim=16, down_block_types=["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
              up_block_types=["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeat", type=int, default=3, help="alternate the two engines this many times; report the medians")
    p.add_argument("--denoise", default=os.path.join(HERE, "..", ".build", "release", "denoise"))
    a = p.parse_args()
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(CONFIG, f)

    isa = ["ISA unknown"]

    def denoise_rate():
        run = subprocess.run([a.denoise, "train", "--config", os.path.join(folder, "config.json"), "--steps", str(a.steps),
                              "--batch-size", str(a.batch), "--threads", str(a.threads), "--out", os.path.join(folder, "m"),
                              "--save-every", "100000"], capture_output=True, text=True, check=True)
        isa[0] = (re.findall(r"threads, (ISA .*)", run.stdout) or ["ISA unknown"])[0]
        return float(re.findall(r"([0-9.]+) it/s", run.stderr)[-1])

    from diffusers import UNet2DModel
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = UNet2DModel(**CONFIG).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0)
    x, t = torch.randn(a.batch, 1, 28, 28), torch.randint(0, 1000, (a.batch,))
    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x, t).sample, torch.randn_like(x))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    for _ in range(3):
        step()

    def torch_rate():
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        return a.steps / (time.perf_counter() - start)

    # Alternating runs: a slow spell of the machine hits both engines, and medians drop outliers.
    ours, theirs = [], []
    for _ in range(a.repeat):
        ours.append(denoise_rate())
        theirs.append(torch_rate())
    o, t_ = statistics.median(ours), statistics.median(theirs)
    print(f"threads {a.threads}, batch {a.batch}; denoise {isa[0]}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; "
          f"torch {torch.__version__}")
    print(f"runs (steps/s): denoise {' '.join(f'{r:.2f}' for r in ours)}   PyTorch {' '.join(f'{r:.2f}' for r in theirs)}")
    print(f"denoise {o:.2f} steps/s   PyTorch {t_:.2f} steps/s   ours/torch {o / t_:.2f}   (medians of {a.repeat})")


if __name__ == "__main__":
    main()
