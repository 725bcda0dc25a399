#!/usr/bin/env python3
"""denoising-diffusion-pytorch (lucidrains) checkpoints for denoise's importer: the one committed
script that makes them.

Run from the repository root (about 4 min on 1 thread, most of it training):

    /work/venv/bin/python scripts/make_lucidrains_fixtures.py              # everything
    /work/venv/bin/python scripts/make_lucidrains_fixtures.py full_linear_eps  # only the named cases

Needs (PyPI only; never torchvision, whose PyPI wheels pull a CUDA torch):
    pip install torch numpy safetensors einops scipy tqdm
    pip install --no-deps denoising-diffusion-pytorch ema-pytorch accelerate
denoising-diffusion-pytorch imports torchvision (and PIL) at module level but uses them only in its
Trainer's dataset and image grid, which this script does not build: the import happens with empty
stand-ins in sys.modules (fixture_support.stub_torchvision), removed again afterwards. The
Trainer's `save` is reproduced instead (same dict, same Accelerator calls; see save_milestone).

Last run with: Python 3.11.7, torch 2.13.0+cpu, numpy 2.4.6, denoising-diffusion-pytorch 2.3.4,
ema-pytorch 0.8.3, accelerate 1.15.0, einops 0.8.2, safetensors 0.8.0 (every run also writes them
to versions.json; update this line when you regenerate).

Output: Tests/DiffusionTests/Fixtures/lucidrains/<case>/
    case.json             the Unet and GaussianDiffusion constructor arguments, the layout of
                          checkpoint.safetensors, what the importer must infer, notes
    checkpoint.safetensors  float32 state-dict tensors (bool/int64 buffers as stored), one of three
                          layouts ("layout" in case.json):
        milestone   a Trainer milestone flattened: `model.<GaussianDiffusion key>` and
                    `ema.<EMA key>` (ema_model.…, initted, step). ema-pytorch's `online_model.…`
                    copy is left out: it is the same tensors as `model.…` (torch.save shares them).
        diffusion   GaussianDiffusion.state_dict() itself (buffers betas, alphas_cumprod, …,
                    loss_weight; the Unet under `model.`)
        ema         an EMA state dict's EMA half (`ema_model.…`, initted, step): the trained case
        unet        a bare Unet.state_dict() (learned sinusoidal time: GaussianDiffusion refuses
                    such Unets, `assert not model.random_or_learned_sinusoidal_cond`)
    model-1.pt            (full_linear_eps only) what Trainer.save(1) writes after 3 steps:
                          torch.save({step, model, opt, ema, scaler: None, version}); for the
                          torch.save reader. Its `ema`/`model` state dicts equal the safetensors'.
    x.npy, t.npy, y.npy   float32 [2, C, 16, 16] standard normal, int64 [2], and the Unet's forward
                          on them with the weights `denoise import` uses by default (the EMA's where
                          there is one); y_model.npy: the same with the online weights (milestone)
    ddpm_philox.npy       (full_linear_eps) p_sample_loop((2, C, 16, 16)) of the EMA model, in
                          [0, 1], with every torch.randn / randn_like it draws replaced by denoise's
                          Philox noise for seed 5 (x_T of sample k: stream k from element 0; step i's
                          noise: stream k from element (i+1)·C·H·W — Sources/Diffusion/Generation/
                          BatchStepper.swift), so `denoise generate --sampler ddpm --seed 5` must
                          reproduce it.
    trained_fashion16/    a Unet trained on Fashion-MNIST (16x16) for TRAIN_STEPS steps with the
                          library's own GaussianDiffusion loss and an ema-pytorch EMA, then:
        x_T.npy           float32 [4, 1, 16, 16] standard normal (numpy PCG64, seed 16)
        ddim50.npy        ddim_sample((4, 1, 16, 16)) with sampling_timesteps 50, eta 0, starting
                          from x_T.npy (torch.randn patched to return it), in [0, 1]
        ddim50_eta1_philox.npy  the same with ddim_sampling_eta 1 and Philox noise for seed 3
                          (x_T and every step's noise, as above)
Philox: Philox4x32-10 and Box-Muller exactly as Sources/Tensors/Random/Philox.swift documents
(pure Python, math.log / cos / sin in double, rounded once to float32; the same functions as
scripts/make_fixtures.py's, plus an element offset). Checked here against Random123's known answer.

Determinism: torch.manual_seed per case, numpy PCG64 per case, 1 torch thread; a rerun with the
same versions writes the same tensors.
"""

import argparse
import contextlib
import gzip
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")  # the library's sampling loops print progress bars
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_support import package_version, save_npy, stub_torchvision  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

torch.set_num_threads(1)  # 2 threads thrash on a shared 2-core machine

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "Tests" / "DiffusionTests" / "Fixtures" / "lucidrains"
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
TRAIN_STEPS = 800
IMAGE = 16


def library():
    with stub_torchvision():
        import denoising_diffusion_pytorch.denoising_diffusion_pytorch as ddp
    return ddp


# ---------------------------------------------------------------------------------------------
# Philox noise (Sources/Tensors/Random/Philox.swift)
# ---------------------------------------------------------------------------------------------

def philox4x32_10(ctr, key):
    M0, M1, W0, W1, MASK = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85, 0xFFFFFFFF
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return [c0, c1, c2, c3]


assert philox4x32_10((0, 0, 0, 0), (0, 0)) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


def philox_normal(seed, stream, offset, count):
    """Elements offset..<offset+count of stream `stream` under `seed`, float32."""
    key = (seed & 0xFFFFFFFF, seed >> 32)
    first, last = offset >> 2, (offset + count - 1) >> 2
    out = []
    for block in range(first, last + 1):
        w = philox4x32_10((block & 0xFFFFFFFF, block >> 32, stream & 0xFFFFFFFF, stream >> 32), key)
        for a, b in ((w[0], w[1]), (w[2], w[3])):
            u1, u2 = ((a >> 8) + 1) * 2.0**-24, (b >> 8) * 2.0**-24
            r, theta = math.sqrt(-2.0 * math.log(u1)), 2.0 * math.pi * u2
            out += [r * math.cos(theta), r * math.sin(theta)]
    start = offset - 4 * first
    return np.array(out[start:start + count], dtype=np.float32)


@contextlib.contextmanager
def philox_torch_noise(seed, x_T=None):
    """torch.randn(shape) → x_T (Philox streams 0..<N from element 0, or `x_T`); the i-th
    torch.randn_like(x) → Philox streams 0..<N from element (i+1)·C·H·W: the noise
    denoise's BatchStepper gives step i."""
    saved = torch.randn, torch.randn_like
    calls = {"randn": 0, "like": 0}

    def rows(shape, offset):
        n, count = shape[0], int(np.prod(shape[1:]))
        return torch.from_numpy(np.stack([philox_normal(seed, k, offset, count) for k in range(n)]).reshape(shape))

    def randn(*shape, **kw):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else tuple(shape)
        calls["randn"] += 1
        assert calls["randn"] == 1, "the sampler drew x_T twice"
        return torch.from_numpy(x_T.copy()) if x_T is not None else rows(shape, 0)

    def randn_like(x, **kw):
        calls["like"] += 1
        return rows(tuple(x.shape), calls["like"] * int(np.prod(x.shape[1:])))

    torch.randn, torch.randn_like = randn, randn_like
    try:
        yield calls
    finally:
        torch.randn, torch.randn_like = saved


@contextlib.contextmanager
def given_x_T(x_T):
    """torch.randn(shape) returns x_T (once); randn_like is left alone (eta 0 multiplies it by 0)."""
    saved = torch.randn

    def randn(*shape, **kw):
        torch.randn = saved
        return torch.from_numpy(x_T.copy())

    torch.randn = randn
    try:
        yield
    finally:
        torch.randn = saved


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

CASES = {
    # Full attention in every stage, 3 channels, linear schedule, pred_noise; a Trainer milestone
    # (safetensors + model-1.pt) whose EMA differs from the online model; DDPM check.
    "full_linear_eps": dict(
        unet=dict(dim=4, dim_mults=(1, 2), channels=3, full_attn=(True, True), attn_heads=2, attn_dim_head=4),
        diffusion=dict(timesteps=100, beta_schedule="linear", objective="pred_noise"),
        layout="milestone", expect=dict(beta_schedule="lucidrains_linear", prediction_type="epsilon")),
    # Three stages, default full_attn (linear, linear, full), cosine, pred_v with min-SNR weighting.
    "cosine_v_minsnr": dict(
        unet=dict(dim=8, dim_mults=(1, 1, 2), channels=1, attn_heads=2, attn_dim_head=8),
        diffusion=dict(timesteps=100, beta_schedule="cosine", objective="pred_v", min_snr_loss_weight=True, min_snr_gamma=5),
        layout="diffusion", expect=dict(beta_schedule="lucidrains_cosine", prediction_type="v_prediction", min_snr_gamma=5)),
    # Per-stage heads / head dims, a non-default sinusoidal theta (shapes cannot tell: the test
    # passes it as --unet-config), a sigmoid schedule with non-default arguments (no named schedule
    # reproduces it: trained_betas), pred_x0.
    "sigmoid_custom_x0": dict(
        unet=dict(dim=8, dim_mults=(1, 2), channels=1, attn_heads=(2, 1), attn_dim_head=(4, 8), sinusoidal_pos_emb_theta=1000),
        diffusion=dict(timesteps=100, beta_schedule="sigmoid", schedule_fn_kwargs=dict(start=-2, end=2, tau=0.8), objective="pred_x0"),
        layout="diffusion", expect=dict(beta_schedule=None, prediction_type="sample")),
    # Learned sinusoidal time embedding: a bare Unet (GaussianDiffusion refuses it).
    "learned_sinusoidal": dict(
        unet=dict(dim=4, dim_mults=(1, 2), channels=1, learned_sinusoidal_cond=True, learned_sinusoidal_dim=8,
                  attn_heads=2, attn_dim_head=4),
        diffusion=None, layout="unet", expect={}),
}

TRAINED = dict(
    unet=dict(dim=16, dim_mults=(1, 2), channels=1, attn_heads=2, attn_dim_head=16),
    diffusion=dict(timesteps=1000, sampling_timesteps=50),  # the library's defaults: sigmoid, pred_v
)


def jsonable(d):
    return json.loads(json.dumps(d, default=list))


def perturb_norms(unet, generator):
    """RMSNorm gains 1 + 0.1·N(0, 1), so a test notices a norm that ignores its gain."""
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if name.endswith(".g"):
                p.add_(0.1 * torch.randn(p.shape, generator=generator))


def forward(unet, x, t):
    unet.eval()
    with torch.no_grad():
        return unet(torch.from_numpy(x), torch.from_numpy(t)).numpy()


def save_tensors(tensors, path):
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def save_milestone(ddp, diffusion, opt, ema, step, path):
    """Trainer.save(1) (denoising_diffusion_pytorch.Trainer.save) without building a Trainer."""
    from accelerate import Accelerator
    accelerator = Accelerator(split_batches=True, mixed_precision="no")
    data = {
        "step": step,
        "model": accelerator.get_state_dict(diffusion),
        "opt": opt.state_dict(),
        "ema": ema.state_dict(),
        "scaler": accelerator.scaler.state_dict() if accelerator.scaler is not None else None,
        "version": ddp.__version__,
    }
    torch.save(data, str(path))
    return data


def make_case(name, spec, seed):
    ddp = library()
    from ema_pytorch import EMA
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    unet = ddp.Unet(**spec["unet"])
    perturb_norms(unet, generator)
    channels = spec["unet"]["channels"]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, channels, IMAGE, IMAGE), dtype=np.float32)
    t = np.array([3, 97], dtype=np.int64)
    info = dict(unet=jsonable(spec["unet"]), diffusion=jsonable(spec["diffusion"]), layout=spec["layout"],
                image_size=IMAGE, expect=spec["expect"])

    if spec["layout"] == "unet":
        save_tensors(unet.state_dict(), folder / "checkpoint.safetensors")
        save_npy(folder / "y.npy", forward(unet, x, t))
    else:
        diffusion = ddp.GaussianDiffusion(unet, image_size=IMAGE, **spec["diffusion"])
        if spec["layout"] == "diffusion":
            save_tensors(diffusion.state_dict(), folder / "checkpoint.safetensors")
            save_npy(folder / "y.npy", forward(diffusion.model, x, t))
        else:
            # A few real training steps, so the optimizer has state and the EMA differs.
            opt = torch.optim.Adam(diffusion.parameters(), lr=1e-2, betas=(0.9, 0.99))
            ema = EMA(diffusion, beta=0.9, update_every=1, update_after_step=0)
            data = torch.rand(8, channels, IMAGE, IMAGE, generator=generator)
            for _ in range(3):
                diffusion.train()
                loss = diffusion(data)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(diffusion.parameters(), 1.0)
                opt.step()
                opt.zero_grad()
                ema.update()
            milestone = save_milestone(ddp, diffusion, opt, ema, 3, folder / "model-1.pt")
            flat = {"model." + k: v for k, v in milestone["model"].items()}
            flat.update({"ema." + k: v for k, v in milestone["ema"].items() if not k.startswith("online_model.")})
            save_tensors(flat, folder / "checkpoint.safetensors")
            save_npy(folder / "y.npy", forward(ema.ema_model.model, x, t))
            save_npy(folder / "y_model.npy", forward(diffusion.model, x, t))
            assert not np.allclose(np.load(folder / "y.npy"), np.load(folder / "y_model.npy")), "EMA equals the model"
            # DDPM over all T with denoise's Philox noise.
            sampler = ema.ema_model.eval()
            with philox_torch_noise(5) as calls:
                out = sampler.p_sample_loop((2, channels, IMAGE, IMAGE)).numpy()
            assert calls["like"] == sampler.num_timesteps - 1, calls
            save_npy(folder / "ddpm_philox.npy", out)
            info["ddpm_philox"] = dict(seed=5, n=2, steps=sampler.num_timesteps, sampler="ddpm")
    save_npy(folder / "x.npy", x)
    save_npy(folder / "t.npy", t)
    (folder / "case.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{name}: {sum(p.numel() for p in unet.parameters())} parameters")


def fashion_16(count, rng):
    with gzip.open(FASHION) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    pick = raw[rng.choice(len(raw), size=count, replace=False)]
    x = torch.from_numpy(pick.astype(np.float32) / 255)
    return F.interpolate(x, size=(IMAGE, IMAGE), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def make_trained(seed=16):
    ddp = library()
    from ema_pytorch import EMA
    folder = OUT / "trained_fashion16"
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = fashion_16(8192, rng)
    unet = ddp.Unet(**TRAINED["unet"])
    diffusion = ddp.GaussianDiffusion(unet, image_size=IMAGE, **TRAINED["diffusion"])
    opt = torch.optim.Adam(diffusion.parameters(), lr=2e-3, betas=(0.9, 0.99))
    ema = EMA(diffusion, beta=0.99, update_every=1, update_after_step=50)
    start, losses = time.time(), []
    for step in range(TRAIN_STEPS):
        diffusion.train()
        batch = data[torch.randint(0, len(data), (32,))]
        loss = diffusion(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(diffusion.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        ema.update()
        losses.append(loss.item())
        if step % 100 == 99:
            print(f"  step {step + 1}: loss {np.mean(losses[-100:]):.4f} ({time.time() - start:.0f} s)")
    sampler = ema.ema_model.eval()
    sd = {"ema_model." + k: v for k, v in sampler.state_dict().items()}
    sd["initted"], sd["step"] = ema.initted, ema.step
    save_tensors(sd, folder / "checkpoint.safetensors")
    x_T = rng.standard_normal((4, 1, IMAGE, IMAGE), dtype=np.float32)
    save_npy(folder / "x_T.npy", x_T)
    assert sampler.is_ddim_sampling and sampler.sampling_timesteps == 50
    sampler.ddim_sampling_eta = 0.0
    with given_x_T(x_T):
        save_npy(folder / "ddim50.npy", sampler.ddim_sample((4, 1, IMAGE, IMAGE)).numpy())
    sampler.ddim_sampling_eta = 1.0
    with philox_torch_noise(3) as calls:
        save_npy(folder / "ddim50_eta1_philox.npy", sampler.ddim_sample((4, 1, IMAGE, IMAGE)).numpy())
    assert calls["like"] == 49, calls
    info = dict(unet=jsonable(TRAINED["unet"]), diffusion=jsonable(TRAINED["diffusion"]), layout="ema", image_size=IMAGE,
                expect=dict(beta_schedule="lucidrains_sigmoid", prediction_type="v_prediction"),
                training=dict(steps=TRAIN_STEPS, batch=32, lr=2e-3, ema=dict(beta=0.99, update_every=1, update_after_step=50),
                              data="Fashion-MNIST train, 8192 random images, bilinear antialiased to 16x16",
                              final_loss=float(np.mean(losses[-100:])), seconds=round(time.time() - start)),
                ddim50=dict(steps=50, eta=0, noise="x_T.npy"), ddim50_eta1_philox=dict(steps=50, eta=1, seed=3, n=4))
    (folder / "case.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"trained_fashion16: {sum(p.numel() for p in unet.parameters())} parameters, loss {info['training']['final_loss']:.4f}")


def versions():
    return {
        "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
        "denoising-diffusion-pytorch": package_version("denoising-diffusion-pytorch"),
        "ema-pytorch": package_version("ema-pytorch"), "accelerate": package_version("accelerate"),
        "einops": package_version("einops"), "safetensors": package_version("safetensors"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", help=f"cases to make (default: all): {', '.join(list(CASES) + ['trained_fashion16'])}")
    args = parser.parse_args()
    names = args.cases or list(CASES) + ["trained_fashion16"]
    OUT.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        if name == "trained_fashion16":
            make_trained()
        elif name in CASES:
            make_case(name, CASES[name], 300 + list(CASES).index(name))
        else:
            sys.exit(f"unknown case '{name}'")
    (OUT / "versions.json").write_text(json.dumps(versions(), indent=1) + "\n")


if __name__ == "__main__":
    main()
