#!/usr/bin/env python3
"""Noise-schedule and sampler fixtures for denoise: the one committed script that makes them.

Run from the repository root (about 10 s, 1 thread):

    /work/venv/bin/python scripts/make_scheduler_fixtures.py           # write + check everything
    /work/venv/bin/python scripts/make_scheduler_fixtures.py --check   # only re-check written files

Needs (PyPI only; never torchvision, whose PyPI wheels pull a CUDA torch):
    pip install diffusers einops numpy torch
    pip install --no-deps denoising-diffusion-pytorch ema-pytorch accelerate
denoising-diffusion-pytorch imports torchvision at module level (only its Trainer uses it), so the
import happens with an empty stand-in `torchvision` in sys.modules that is removed again afterwards.

Last run with: Python 3.11.7, torch 2.13.0+cpu, numpy 2.4.6, diffusers 0.42.1,
denoising-diffusion-pytorch 2.3.4, einops 0.8.2 (every run also writes them to versions.json in the
output folder; update this line when you regenerate).

Output: Tests/DiffusionTests/Fixtures/schedulers/
    versions.json    library versions of the run
    schedules.json   {"cases": [...]} beta / alphas_cumprod tables exactly as the libraries compute
                     them: diffusers DDPMScheduler (linear, scaled_linear, squaredcos_cap_v2,
                     sigmoid; T = 1000, 50) and denoising-diffusion-pytorch's module functions
                     linear/cosine/sigmoid_beta_schedule (T = 1000, 250; "lucidrains_*" kinds).
                     Values are the library tensors converted to float64 Python floats; "dtype"
                     says what the library computed in.
    timesteps.json   {"cases": [...]} inference timestep lists of diffusers DDIM / DDPM /
                     DPM-Solver++ set_timesteps(), and denoising-diffusion-pytorch's DDIM
                     (time, time_next) pairs captured from its own ddim_sample loop.
    steps/<case>/    one chained sampling run per case, driven through the library's real code:
        case.json          sampler config, the timesteps actually used, notes on the arithmetic
        x_T.npy            float32 [2,1,4,4] standard normal
        model_outputs.npy  float32 [S,2,1,4,4] = 0.8 * standard normal (stands in for a network)
        noises.npy         float32 [S,2,1,4,4] noise fed to the sampler at step i; all zeros where
                           the step adds no noise (DDPM t = 0, eta = 0, noise coefficient exactly 0,
                           DPM-Solver++ everywhere, lucidrains' last step)
        samples.npy        float32 [S+1,2,1,4,4]; [0] = x_T, [i+1] = library output for [i]
        pred_x0.npy        float32 [S,2,1,4,4] library's predicted x0 at step i (diffusers:
                           pred_original_sample after clipping; DPM-Solver++: the converted model
                           output it stores in model_outputs; lucidrains: x_start after clamping)
        pred_noise.npy     (lucidrains cases only) float32 [S,2,1,4,4] the pred_noise its update
                           uses (re-derived from the clamped x_start)
  All .npy files: numpy.save, little-endian, C order. Random data: numpy PCG64 seeded with
  crc32(case name), so a rerun writes byte-identical files.

Checks (run after writing, and alone with --check): every sequence is re-loaded and re-run through
the library with samples[i] (loaded) as the input of step i; outputs must equal samples[i+1] and
pred_x0[i] bit for bit. Each case is also recomputed with an independent float64 numpy
implementation of the formulas written in case.json "notes" (from the library's own float32
alphas_cumprod); the max difference relative to max(1, max|sample|) per step is printed (expected
~1e-5 or less, fails above 1e-4).
For DDPMScheduler the noise is injected by swapping the `randn_tensor` name in its module during
step(); for lucidrains torch.randn / torch.randn_like are swapped during ddim_sample.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import sys
import zlib
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_support import package_version, save_npy, stub_torchvision  # noqa: E402
import torch
from torch import nn

torch.set_num_threads(1)

import diffusers  # noqa: E402
import diffusers.schedulers.scheduling_ddpm as ddpm_module  # noqa: E402
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "Tests" / "DiffusionTests" / "Fixtures" / "schedulers"
SHAPE = (2, 1, 4, 4)
REF_TOL = 1e-4  # max |library - float64 reference| / max(1, max |reference|), per step


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------



with stub_torchvision():
    import denoising_diffusion_pytorch.denoising_diffusion_pytorch as ddp  # noqa: E402




def versions():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "diffusers": diffusers.__version__,
        "denoising-diffusion-pytorch": package_version("denoising-diffusion-pytorch"),
        "einops": package_version("einops"),
    }


def write_json(path, obj):
    """Indented JSON; lists holding only numbers / null / booleans are kept on one line."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False)
    text = re.sub(r"\[\s*([-0-9.eE+,\snulltruefals]*?)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]"
                  if m.group(1).strip() else "[]", text)
    text = re.sub(r"\[\s*((?:\[[-0-9.eE+, nulltruefals]*\],?\s*)+)\]",  # lists of such lists
                  lambda m: "[" + ", ".join(v.strip().rstrip(",") for v in
                                            re.findall(r"\[[^\[\]]*\],?", m.group(1))) + "]",
                  text)
    path.write_text(text + "\n", encoding="utf-8")


def f64list(t):
    return [float(v) for v in torch.as_tensor(t).detach().to(torch.float64).reshape(-1).tolist()]


def intlist(t):
    return [int(v) for v in np.asarray(t).reshape(-1).tolist()]


def rng_for(name):
    return np.random.Generator(np.random.PCG64(zlib.crc32(name.encode("utf-8"))))


def make_data(name, steps):
    rng = rng_for(name)
    x_T = rng.standard_normal(SHAPE).astype(np.float32)
    model_outputs = (0.8 * rng.standard_normal((steps,) + SHAPE)).astype(np.float32)
    noises = rng.standard_normal((steps,) + SHAPE).astype(np.float32)
    return x_T, model_outputs, noises


def T_(a):
    return torch.from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------------------------------------
# 1. schedules
# ---------------------------------------------------------------------------------------------

class StandIn(nn.Module):
    """Tiny stand-in for GaussianDiffusion's model: returns stored outputs in call order.

    GaussianDiffusion.__init__ reads .channels, .self_condition, .out_dim (asserts
    channels == out_dim) and .random_or_learned_sinusoidal_cond (must be falsy);
    model_predictions calls model(x, t, x_self_cond).
    """

    def __init__(self, outputs=None, channels=1):
        super().__init__()
        self.channels = channels
        self.out_dim = channels
        self.self_condition = False
        self.random_or_learned_sinusoidal_cond = False
        self.outputs = outputs
        self.calls = []

    def forward(self, x, t, x_self_cond=None):
        assert x_self_cond is None
        i = len(self.calls)
        self.calls.append((x.detach().clone(), t.detach().clone()))
        if self.outputs is None:
            return torch.zeros_like(x)
        return self.outputs[i].clone()


def make_schedules():
    cases = []
    diffusers_kinds = [("linear", 1e-4, 0.02), ("scaled_linear", 0.00085, 0.012),
                       ("squaredcos_cap_v2", None, None), ("sigmoid", 1e-4, 0.02)]
    for kind, b0, b1 in diffusers_kinds:
        for T in (1000, 50):
            kw = {} if b0 is None else dict(beta_start=b0, beta_end=b1)
            s = DDPMScheduler(num_train_timesteps=T, beta_schedule=kind, **kw)
            assert s.betas.dtype == torch.float32 and s.alphas_cumprod.dtype == torch.float32
            notes = {
                "linear": "betas = torch.linspace(beta_start, beta_end, T, dtype=float32)",
                "scaled_linear": "betas = torch.linspace(beta_start**0.5, beta_end**0.5, T, "
                                 "dtype=float32) ** 2 (squared in float32)",
                "squaredcos_cap_v2": "betas_for_alpha_bar: alpha_bar(t) = cos((t + 0.008) / 1.008 "
                                     "* pi / 2)**2, beta_i = min(1 - alpha_bar((i+1)/T) / "
                                     "alpha_bar(i/T), 0.999) in Python float64, then "
                                     "torch.tensor(dtype=float32)",
                "sigmoid": "betas = torch.sigmoid(torch.linspace(-6, 6, T)) * (beta_end - "
                           "beta_start) + beta_start, all float32",
            }[kind]
            cases.append({
                "name": f"diffusers_{kind}_T{T}", "source": "diffusers.DDPMScheduler",
                "kind": kind, "num_train_timesteps": T, "beta_start": b0, "beta_end": b1,
                "dtype": "float32",
                "notes": [notes, "alphas_cumprod = torch.cumprod(1.0 - betas, dim=0) in float32"],
                "alphas_cumprod": f64list(s.alphas_cumprod), "betas": f64list(s.betas),
            })
    fns = [("lucidrains_linear", ddp.linear_beta_schedule, "linear"),
           ("lucidrains_cosine", ddp.cosine_beta_schedule, "cosine"),
           ("lucidrains_sigmoid", ddp.sigmoid_beta_schedule, "sigmoid")]
    for kind, fn, gd_name in fns:
        for T in (1000, 250):
            betas = fn(T)
            assert betas.dtype == torch.float64
            gd = ddp.GaussianDiffusion(StandIn(), image_size=4, timesteps=T, beta_schedule=gd_name,
                                       auto_normalize=False)
            assert gd.alphas_cumprod.dtype == torch.float32
            assert torch.equal(gd.betas, betas.to(torch.float32))
            ac64 = torch.cumprod(1.0 - betas, dim=0)
            assert torch.equal(gd.alphas_cumprod, ac64.to(torch.float32))
            note = {
                "lucidrains_linear": "scale = 1000 / T; betas = torch.linspace(scale * 0.0001, "
                                     "scale * 0.02, T, dtype=float64)",
                "lucidrains_cosine": "t = linspace(0, T, T+1, float64) / T; f = cos((t + 0.008) / "
                                     "1.008 * pi / 2)**2; f /= f[0]; betas = clip(1 - f[1:] / "
                                     "f[:-1], 0, 0.999) (float64)",
                "lucidrains_sigmoid": "t = linspace(0, T, T+1, float64) / T; v_start = "
                                      "sigmoid(tensor(-3.0)), v_end = sigmoid(tensor(3.0)) "
                                      "(float32 0-d tensors, promoted to float64 when combined "
                                      "with t); f = (-sigmoid(t * 6 - 3) + v_end) / (v_end - "
                                      "v_start); f /= f[0]; betas = clip(1 - f[1:] / f[:-1], 0, "
                                      "0.999)",
            }[kind]
            cases.append({
                "name": f"{kind}_T{T}", "source": f"denoising_diffusion_pytorch.{fn.__name__}",
                "kind": kind, "num_train_timesteps": T, "beta_start": None, "beta_end": None,
                "dtype": "betas float64; alphas_cumprod float32",
                "betas_dtype": "float64", "alphas_cumprod_dtype": "float32",
                "notes": [note,
                          "GaussianDiffusion computes alphas_cumprod = torch.cumprod(1 - betas) in "
                          "float64, then register_buffer casts every buffer (betas, alphas_cumprod, "
                          "sqrt_alphas_cumprod, sqrt_recip_alphas_cumprod, ...) to float32 AFTER "
                          "computing it in float64",
                          "'betas' = the float64 schedule function output; 'alphas_cumprod' = the "
                          "float32 buffer GaussianDiffusion registers; 'alphas_cumprod_f64' = "
                          "the float64 cumprod before the cast"],
                "alphas_cumprod": f64list(gd.alphas_cumprod), "betas": f64list(betas),
                "alphas_cumprod_f64": f64list(ac64),
            })
    return {"cases": cases}


# ---------------------------------------------------------------------------------------------
# 2. timesteps
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def capture_tqdm():
    """Swap ddp.tqdm so the (time, time_next) pairs ddim_sample iterates over are recorded."""
    seen = []
    saved = ddp.tqdm

    def fake(iterable, *a, **k):
        items = list(iterable)
        seen.append(items)
        return items

    ddp.tqdm = fake
    try:
        yield seen
    finally:
        ddp.tqdm = saved


def lucidrains_pairs(T, S):
    gd = ddp.GaussianDiffusion(StandIn(), image_size=1, timesteps=T, sampling_timesteps=S,
                               objective="pred_noise", beta_schedule="linear",
                               auto_normalize=False)
    torch.manual_seed(0)
    with capture_tqdm() as seen:
        gd.ddim_sample((1, 1, 1, 1))
    assert len(seen) == 1
    pairs = [[int(a), int(b)] for a, b in seen[0]]
    # the expression from its source, for the record
    times = torch.linspace(-1, T - 1, steps=S + 1)
    times = list(reversed(times.int().tolist()))
    assert pairs == [list(p) for p in zip(times[:-1], times[1:])]
    called = [int(t[0]) for _, t in gd.model.calls]
    assert called == [p[0] for p in pairs]
    return pairs, [float(v) for v in torch.linspace(-1, T - 1, steps=S + 1).tolist()]


def make_timesteps():
    cases = []
    for spacing in ("leading", "trailing", "linspace"):
        for offset in (0, 1):
            for T, S in ((1000, 50), (1000, 250), (1000, 7), (100, 10)):
                s = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing,
                                  steps_offset=offset)
                s.set_timesteps(S)
                cases.append({"sampler": "ddim", "num_train_timesteps": T, "steps": S,
                              "timestep_spacing": spacing, "steps_offset": offset,
                              "timesteps": intlist(s.timesteps)})
    for T, S in ((1000, 1000), (1000, 50)):
        s = DDPMScheduler(num_train_timesteps=T, timestep_spacing="leading", steps_offset=0)
        s.set_timesteps(S)
        cases.append({"sampler": "ddpm", "num_train_timesteps": T, "steps": S,
                      "timestep_spacing": "leading", "steps_offset": 0,
                      "timesteps": intlist(s.timesteps)})
    for spacing in ("leading", "trailing", "linspace"):
        for T, S in ((1000, 20), (1000, 10)):
            s = DPMSolverMultistepScheduler(num_train_timesteps=T, algorithm_type="dpmsolver++",
                                            solver_order=2, timestep_spacing=spacing,
                                            steps_offset=0)
            s.set_timesteps(S)
            cases.append({"sampler": "dpmsolver++", "num_train_timesteps": T, "steps": S,
                          "timestep_spacing": spacing, "steps_offset": 0,
                          "timesteps": intlist(s.timesteps),
                          "sigmas_float32": f64list(s.sigmas)})
    for T, S in ((1000, 250), (1000, 50), (100, 10)):
        pairs, lin = lucidrains_pairs(T, S)
        cases.append({"sampler": "lucidrains", "num_train_timesteps": T, "steps": S,
                      "timestep_spacing": None, "steps_offset": None,
                      "notes": ["times = torch.linspace(-1, T - 1, steps=S + 1) (float32), "
                                "reversed(times.int().tolist()) (truncation toward zero), pairs = "
                                "zip(times[:-1], times[1:]); the last pair has time_next = -1",
                                "captured from GaussianDiffusion.ddim_sample's own loop"],
                      "linspace_float32": lin, "pairs": pairs})
    return {"cases": cases}


# ---------------------------------------------------------------------------------------------
# 3. step-by-step cases
# ---------------------------------------------------------------------------------------------

BASE = {"sampler": None, "prediction_type": None, "num_train_timesteps": None,
        "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02, "steps": None,
        "timestep_spacing": None, "steps_offset": None, "eta": None, "clip_sample": False,
        "clip_sample_range": None, "set_alpha_to_one": None, "variance_type": None}


def case(**kw):
    c = dict(BASE)
    c.update(kw)
    return c


CASES = {
    "ddpm_eps_fixed_small": case(
        sampler="ddpm", prediction_type="epsilon", num_train_timesteps=50, steps=50,
        timestep_spacing="leading", steps_offset=0, variance_type="fixed_small",
        clip_sample=True, clip_sample_range=1.0),
    "ddpm_v_fixed_large": case(
        sampler="ddpm", prediction_type="v_prediction", num_train_timesteps=50, steps=50,
        beta_schedule="squaredcos_cap_v2", beta_start=None, beta_end=None,
        timestep_spacing="leading", steps_offset=0, variance_type="fixed_large",
        clip_sample=False, clip_sample_range=1.0),
    "ddpm_sample_clip": case(
        sampler="ddpm", prediction_type="sample", num_train_timesteps=50, steps=50,
        timestep_spacing="leading", steps_offset=0, variance_type="fixed_small",
        clip_sample=True, clip_sample_range=1.0),
    "ddim_eps_eta0_leading": case(
        sampler="ddim", prediction_type="epsilon", num_train_timesteps=1000, steps=10, eta=0.0,
        timestep_spacing="leading", steps_offset=1, set_alpha_to_one=False, clip_sample=True,
        clip_sample_range=1.0),
    "ddim_v_eta1_trailing": case(
        sampler="ddim", prediction_type="v_prediction", num_train_timesteps=1000, steps=10,
        eta=1.0, timestep_spacing="trailing", steps_offset=0, set_alpha_to_one=True,
        clip_sample=False, clip_sample_range=1.0),
    "ddim_sample_linspace": case(
        sampler="ddim", prediction_type="sample", num_train_timesteps=1000, steps=8, eta=0.5,
        timestep_spacing="linspace", steps_offset=0, set_alpha_to_one=True, clip_sample=True,
        clip_sample_range=1.0, beta_schedule="scaled_linear", beta_start=0.00085,
        beta_end=0.012),
    "dpmsolverpp_eps": case(
        sampler="dpmsolver++", prediction_type="epsilon", num_train_timesteps=1000, steps=10,
        timestep_spacing="linspace", steps_offset=0),
    "dpmsolverpp_v_trailing": case(
        sampler="dpmsolver++", prediction_type="v_prediction", num_train_timesteps=1000,
        steps=12, timestep_spacing="trailing", steps_offset=0),
    "lucidrains_ddim": case(
        sampler="lucidrains", prediction_type="epsilon", objective="pred_noise",
        num_train_timesteps=100, steps=10, eta=0.0, beta_schedule="lucidrains_linear",
        beta_start=None, beta_end=None, clip_sample=True, clip_sample_range=1.0),
    "lucidrains_ddim_v_eta": case(
        sampler="lucidrains", prediction_type="v_prediction", objective="pred_v",
        num_train_timesteps=100, steps=10, eta=0.5, beta_schedule="lucidrains_sigmoid",
        beta_start=None, beta_end=None, clip_sample=True, clip_sample_range=1.0),
}


def beta_kwargs(c):
    kw = dict(num_train_timesteps=c["num_train_timesteps"], beta_schedule=c["beta_schedule"])
    if c["beta_start"] is not None:
        kw.update(beta_start=c["beta_start"], beta_end=c["beta_end"])
    return kw


# -- DDPM -------------------------------------------------------------------------------------

@contextlib.contextmanager
def ddpm_noise(noise):
    """Make DDPMScheduler.step use `noise` where it calls randn_tensor; records the calls."""
    calls = []
    saved = ddpm_module.randn_tensor

    def fake(shape, generator=None, device=None, dtype=None, layout=None):
        assert tuple(shape) == tuple(noise.shape) and dtype == noise.dtype
        calls.append(1)
        return noise.clone()

    ddpm_module.randn_tensor = fake
    try:
        yield calls
    finally:
        ddpm_module.randn_tensor = saved


def make_ddpm(c):
    return DDPMScheduler(**beta_kwargs(c), variance_type=c["variance_type"],
                         clip_sample=c["clip_sample"], clip_sample_range=c["clip_sample_range"],
                         prediction_type=c["prediction_type"],
                         timestep_spacing=c["timestep_spacing"], steps_offset=c["steps_offset"])


def ddpm_noise_mask(c):
    s = make_ddpm(c)
    s.set_timesteps(c["steps"])
    return np.array([int(t) > 0 for t in s.timesteps])


def ddpm_manual_step(s, mo, t, x, noise):
    """Float32 torch re-statement of DDPMScheduler.step, used to verify the injected noise."""
    prev_t = s.previous_timestep(t)
    a_t = s.alphas_cumprod[t]
    a_prev = s.alphas_cumprod[prev_t] if prev_t >= 0 else torch.tensor(1.0)
    b_t, b_prev = 1 - a_t, 1 - a_prev
    cur_a = a_t / a_prev
    cur_b = 1 - cur_a
    pt = s.config.prediction_type
    if pt == "epsilon":
        x0 = (x - b_t ** 0.5 * mo) / a_t ** 0.5
    elif pt == "sample":
        x0 = mo
    else:
        x0 = a_t ** 0.5 * x - b_t ** 0.5 * mo
    if s.config.clip_sample:
        x0 = x0.clamp(-s.config.clip_sample_range, s.config.clip_sample_range)
    mean = (a_prev ** 0.5 * cur_b) / b_t * x0 + cur_a ** 0.5 * b_prev / b_t * x
    if int(t) > 0:
        if s.variance_type == "fixed_small":
            var = torch.clamp(b_prev / b_t * cur_b, min=1e-20)
        else:
            var = cur_b
        mean = mean + var ** 0.5 * noise
    return mean


def run_ddpm(c, x_T, mos, noises, inputs=None):
    s = make_ddpm(c)
    s.set_timesteps(c["steps"])
    ts = s.timesteps
    samples, pred = [x_T], []
    x = T_(x_T)
    for i, t in enumerate(ts):
        if inputs is not None:
            x = T_(inputs[i])
        mo, nz = T_(mos[i]), T_(noises[i])
        with ddpm_noise(nz) as calls:
            out = s.step(mo, t, x)
        assert len(calls) == (1 if int(t) > 0 else 0)
        manual = ddpm_manual_step(s, mo, t, x, nz)
        assert torch.allclose(out.prev_sample, manual, rtol=0, atol=1e-6), \
            (c, i, (out.prev_sample - manual).abs().max())
        x = out.prev_sample
        samples.append(x.numpy().copy())
        pred.append(out.pred_original_sample.numpy().copy())
    info = {"timesteps": intlist(ts), "alphas_cumprod": s.alphas_cumprod}
    return np.stack(samples), np.stack(pred), info


def ddpm_notes(c):
    return [
        "diffusers DDPMScheduler; set_timesteps(S) was called (so prev_t = next entry of "
        "timesteps, -1 after the last); arithmetic in float32 on 0-d float32 tensors",
        "a_t = alphas_cumprod[t]; a_prev = alphas_cumprod[prev_t] if prev_t >= 0 else 1.0; "
        "b_t = 1 - a_t; b_prev = 1 - a_prev; cur_a = a_t / a_prev; cur_b = 1 - cur_a",
        "x0: epsilon: (x - b_t**0.5 * e) / a_t**0.5; sample: model_output; v_prediction: "
        "a_t**0.5 * x - b_t**0.5 * v; then clamp(x0, -clip_sample_range, clip_sample_range) if "
        "clip_sample (pred_x0.npy is the clamped x0)",
        "mean = (a_prev**0.5 * cur_b / b_t) * x0 + (cur_a**0.5 * b_prev / b_t) * x",
        "variance (only if t > 0; at t == 0 no noise is drawn): fixed_small: "
        "max(b_prev / b_t * cur_b, 1e-20); fixed_large: cur_b (= 1 - a_t/a_prev, NOT betas[t] "
        "unless S == T; no clamp); prev = mean + variance**0.5 * noise",
        "noise was injected by replacing diffusers.schedulers.scheduling_ddpm.randn_tensor "
        "during step(); verified against a manual float32 computation with that noise",
    ]


# -- DDIM -------------------------------------------------------------------------------------

def make_ddim(c):
    return DDIMScheduler(**beta_kwargs(c), clip_sample=c["clip_sample"],
                         clip_sample_range=c["clip_sample_range"],
                         set_alpha_to_one=c["set_alpha_to_one"], steps_offset=c["steps_offset"],
                         prediction_type=c["prediction_type"],
                         timestep_spacing=c["timestep_spacing"])


def ddim_noise_mask(c):
    s = make_ddim(c)
    s.set_timesteps(c["steps"])
    mask = []
    for t in s.timesteps:
        prev = int(t) - c["num_train_timesteps"] // c["steps"]
        std = c["eta"] * float(s._get_variance(t, prev)) ** 0.5
        mask.append(c["eta"] > 0 and std != 0.0)
    return np.array(mask)


def run_ddim(c, x_T, mos, noises, inputs=None):
    s = make_ddim(c)
    s.set_timesteps(c["steps"])
    ts = s.timesteps
    samples, pred = [x_T], []
    x = T_(x_T)
    for i, t in enumerate(ts):
        if inputs is not None:
            x = T_(inputs[i])
        kw = dict(eta=c["eta"])
        if c["eta"] > 0:
            kw["variance_noise"] = T_(noises[i])
        out = s.step(T_(mos[i]), t, x, **kw)
        x = out.prev_sample
        samples.append(x.numpy().copy())
        pred.append(out.pred_original_sample.numpy().copy())
    prev = [int(t) - c["num_train_timesteps"] // c["steps"] for t in ts]
    info = {"timesteps": intlist(ts), "prev_timesteps": prev, "alphas_cumprod": s.alphas_cumprod,
            "final_alpha_cumprod": float(s.final_alpha_cumprod)}
    return np.stack(samples), np.stack(pred), info


def ddim_notes(c):
    return [
        "diffusers DDIMScheduler.step(model_output, t, x, eta, use_clipped_model_output=False, "
        "variance_noise=noise if eta > 0); float32 arithmetic",
        "prev_t = t - T // S ALWAYS (even for trailing / linspace spacing, where it need not be "
        "the next entry of timesteps); a_prev = alphas_cumprod[prev_t] if prev_t >= 0 else "
        "final_alpha_cumprod, final_alpha_cumprod = 1.0 if set_alpha_to_one else "
        "alphas_cumprod[0]",
        "leading: timesteps = arange(S) * (T // S), reversed, + steps_offset; trailing: "
        "round(arange(T, 0, -T/S)) - 1; linspace: round(linspace(0, T-1, S)) reversed; "
        "steps_offset is only used by leading",
        "x0 / eps: epsilon: x0 = (x - b_t**0.5 e) / a_t**0.5, eps = e; sample: x0 = out, eps = "
        "(x - a_t**0.5 x0) / b_t**0.5; v: x0 = a_t**0.5 x - b_t**0.5 v, eps = a_t**0.5 v + "
        "b_t**0.5 x (b_t = 1 - a_t)",
        "clip_sample clamps x0 AFTER eps was computed; eps is NOT re-derived from the clamped x0 "
        "(use_clipped_model_output=False)",
        "var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev); std = eta * var**0.5; "
        "prev = a_prev**0.5 * x0 + (1 - a_prev - std**2)**0.5 * eps (+ std * noise if eta > 0)",
        "noises.npy holds zeros where eta == 0 or std == 0 (e.g. last step with "
        "set_alpha_to_one: a_prev = 1 gives var = 0)",
    ]


# -- DPM-Solver++ -----------------------------------------------------------------------------

def make_dpm(c):
    return DPMSolverMultistepScheduler(**beta_kwargs(c), algorithm_type="dpmsolver++",
                                       solver_order=2, prediction_type=c["prediction_type"],
                                       timestep_spacing=c["timestep_spacing"],
                                       steps_offset=c["steps_offset"])


def run_dpm(c, x_T, mos, noises, inputs=None):
    assert not np.any(noises)
    s = make_dpm(c)
    s.set_timesteps(c["steps"])
    ts = s.timesteps
    orders = []
    f1, f2 = s.dpm_solver_first_order_update, s.multistep_dpm_solver_second_order_update
    s.dpm_solver_first_order_update = lambda *a, **k: (orders.append(1), f1(*a, **k))[1]
    s.multistep_dpm_solver_second_order_update = \
        lambda *a, **k: (orders.append(2), f2(*a, **k))[1]
    samples, pred = [x_T], []
    x = T_(x_T)
    for i, t in enumerate(ts):
        if inputs is not None:
            x = T_(inputs[i])
        out = s.step(T_(mos[i]), t, x)
        x = out.prev_sample
        samples.append(x.numpy().copy())
        pred.append(s.model_outputs[-1].numpy().copy())
    assert len(orders) == len(ts)
    info = {"timesteps": intlist(ts), "orders": orders, "sigmas": f64list(s.sigmas),
            "alphas_cumprod": s.alphas_cumprod}
    return np.stack(samples), np.stack(pred), info


def dpm_notes(c, s=None):
    if s is None:
        s = make_dpm(c)
    cfg = s.config
    return [
        "diffusers DPMSolverMultistepScheduler(algorithm_type='dpmsolver++', solver_order=2), "
        f"defaults: solver_type={cfg.solver_type!r}, lower_order_final={cfg.lower_order_final}, "
        f"euler_at_final={cfg.euler_at_final}, final_sigmas_type={cfg.final_sigmas_type!r}, "
        f"lambda_min_clipped={cfg.lambda_min_clipped}, use_karras_sigmas="
        f"{cfg.use_karras_sigmas}, thresholding={cfg.thresholding}, variance_type="
        f"{cfg.variance_type}",
        "set_timesteps: last_timestep = T (lambda_min_clipped = -inf); linspace: "
        "round(linspace(0, T-1, S+1))[::-1][:-1]; leading: arange(S+1) * (T // (S+1)), "
        "reversed, drop last, + steps_offset; trailing: round(arange(T, 0, -T/S)) - 1",
        "sigmas (float32, length S+1): sigma(t) = ((1 - a_t) / a_t)**0.5 for each timestep "
        "(computed from the float32 alphas_cumprod, np.interp at integer t = exact lookup), "
        "then a final 0 (final_sigmas_type='zero'); stored in case.json 'sigmas'",
        "alpha = 1 / (sigma**2 + 1)**0.5, sig = sigma * alpha, lambda = log(alpha) - log(sig) "
        "(float32 torch); at the final sigma 0: sig = 0, lambda = +inf, h = inf, exp(-h) = 0",
        "x0 (pred_x0.npy = the converted model output stored in model_outputs): epsilon: "
        "(x - sig_s * e) / alpha_s; v_prediction: alpha_s * x - sig_s * v; no clipping",
        "1st order (step 0 and the last step): h = lambda_t - lambda_s; x_t = (sig_t / sig_s) * "
        "x - alpha_t * (exp(-h) - 1) * x0. The last step is forced to 1st order because "
        "final_sigmas_type == 'zero' (and lower_order_final with S < 15); it returns x0 "
        "exactly up to float32",
        "2nd order midpoint (all other steps): h = lambda_t - lambda_s0, h_0 = lambda_s0 - "
        "lambda_s1, r0 = h_0 / h, D0 = m0 (current x0), D1 = (1/r0) * (m0 - m1) (m1 = previous "
        "step's x0); x_t = (sig_t / sig_s0) x - alpha_t (exp(-h) - 1) D0 - 0.5 alpha_t "
        "(exp(-h) - 1) D1",
        "sample is upcast to float32 (no-op here); no noise is ever used (noises.npy = 0); "
        "case.json 'orders' = the update order used at each step, spied from the library",
    ]


# -- lucidrains DDIM --------------------------------------------------------------------------

@contextlib.contextmanager
def lucidrains_random(x_T, noises):
    """torch.randn -> x_T (once), torch.randn_like -> noises[0], noises[1], ... in order."""
    state = {"randn": 0, "like": 0}
    saved = torch.randn, torch.randn_like

    def randn(*shape, **kw):
        assert state["randn"] == 0
        shp = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        assert shp == tuple(x_T.shape), shp
        state["randn"] += 1
        return x_T.clone()

    def randn_like(t, **kw):
        i = state["like"]
        assert tuple(t.shape) == tuple(noises[i].shape)
        state["like"] += 1
        return noises[i].clone()

    torch.randn, torch.randn_like = randn, randn_like
    try:
        yield state
    finally:
        torch.randn, torch.randn_like = saved


def make_gd(c, outputs=None, auto_normalize=False):
    return ddp.GaussianDiffusion(
        StandIn(outputs, channels=SHAPE[1]), image_size=SHAPE[2],
        timesteps=c["num_train_timesteps"], sampling_timesteps=c["steps"],
        objective=c["objective"], beta_schedule=c["beta_schedule"].replace("lucidrains_", ""),
        ddim_sampling_eta=c["eta"], auto_normalize=auto_normalize)


def lucidrains_noise_mask(c):
    mask = np.ones(c["steps"], dtype=bool)
    mask[-1] = False  # time_next < 0: no randn_like call
    if c["eta"] == 0:
        mask[:] = False
    return mask


def run_lucidrains(c, x_T, mos, noises, inputs=None, auto_normalize=False):
    gd = make_gd(c, T_(mos), auto_normalize=auto_normalize)
    assert gd.is_ddim_sampling
    recs = []
    orig = gd.model_predictions

    def spy(*a, **k):
        r = orig(*a, **k)
        recs.append((r.pred_noise.clone(), r.pred_x_start.clone()))
        return r

    gd.model_predictions = spy
    with capture_tqdm() as seen, lucidrains_random(T_(x_T), T_(noises)) as state:
        imgs = gd.ddim_sample(SHAPE, return_all_timesteps=True)
    assert state["randn"] == 1 and state["like"] == c["steps"] - 1
    pairs = [[int(a), int(b)] for a, b in seen[0]]
    samples = imgs.permute(1, 0, 2, 3, 4).contiguous().numpy().copy()  # [S+1, B, C, H, W]
    for i, (x_in, t_in) in enumerate(gd.model.calls):  # chaining: model saw samples[i]
        assert torch.equal(x_in, T_(samples[i])) if not auto_normalize else True
        assert t_in.dtype == torch.long and torch.all(t_in == pairs[i][0])
        if inputs is not None and not auto_normalize:
            assert np.array_equal(inputs[i], samples[i])
    pred = np.stack([r[1].numpy() for r in recs])
    pred_noise = np.stack([r[0].numpy() for r in recs])
    info = {"timesteps": [p[0] for p in pairs], "pairs": pairs,
            "alphas_cumprod": gd.alphas_cumprod, "pred_noise": pred_noise, "gd": gd}
    return samples, pred, info


def lucidrains_notes(c):
    obj = c["objective"]
    return [
        "denoising_diffusion_pytorch GaussianDiffusion.ddim_sample driven for real with a "
        "stand-in model returning model_outputs[i]; torch.randn -> x_T, torch.randn_like -> "
        "noises[i] (it calls randn_like on every step except the last, even when eta == 0)",
        f"objective={obj!r}, beta_schedule={c['beta_schedule'].replace('lucidrains_', '')!r} "
        "(see schedules.json kind " + c["beta_schedule"] + "), ddim_sampling_eta="
        f"{c['eta']}, constructed with auto_normalize=False",
        "buffers are computed in float64 and cast to float32: alphas_cumprod, "
        "sqrt_alphas_cumprod = sqrt(ac), sqrt_one_minus_alphas_cumprod = sqrt(1 - ac), "
        "sqrt_recip_alphas_cumprod = sqrt(1 / ac), sqrt_recipm1_alphas_cumprod = sqrt(1/ac - 1); "
        "everything after that is float32",
        "time pairs: times = torch.linspace(-1, T-1, S+1).int() (truncation), reversed, "
        "zipped (t, t_next); case.json 'pairs'; the model gets t as int64 tensor",
        "model_predictions(x, t, clip_x_start=True, rederive_pred_noise=True): "
        + ("pred_noise: x0 = sqrt_recip_ac[t] * x - sqrt_recipm1_ac[t] * e; x0 = clamp(x0, -1, 1); "
           "pred_noise is re-derived from the clamped x0" if obj == "pred_noise" else
           "pred_v: x0 = sqrt_ac[t] * x - sqrt_one_minus_ac[t] * v; x0 = clamp(x0, -1, 1)")
        + "; pred_noise = (sqrt_recip_ac[t] * x - x0) / sqrt_recipm1_ac[t] (pred_noise.npy)",
        "if t_next < 0 (last pair, t_next = -1): img = x0 (the clamped x_start), no noise drawn",
        "else: alpha = ac[t], alpha_next = ac[t_next] (float32 buffer); sigma = eta * ((1 - "
        "alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt(); c = (1 - alpha_next - "
        "sigma**2).sqrt(); img = x0 * alpha_next.sqrt() + c * pred_noise + sigma * noise",
        "samples.npy is the model-space [-1, 1] sequence BEFORE unnormalize; with the default "
        "auto_normalize=True ddim_sample returns unnormalize(x) = (x + 1) * 0.5 of the stacked "
        "images (checked); nothing is normalized on the way in (x_T is drawn in model space)",
        "pred_x0.npy = x_start after clamping; noises.npy is zero for the last step and "
        "everywhere when eta == 0 (the zeros were fed to randn_like)",
    ]


RUNNERS = {"ddpm": run_ddpm, "ddim": run_ddim, "dpmsolver++": run_dpm,
           "lucidrains": run_lucidrains}


def noise_mask(c):
    if c["sampler"] == "ddpm":
        return ddpm_noise_mask(c)
    if c["sampler"] == "ddim":
        return ddim_noise_mask(c)
    if c["sampler"] == "dpmsolver++":
        return np.zeros(c["steps"], dtype=bool)
    return lucidrains_noise_mask(c)


def case_inputs(name, c):
    x_T, mos, noises = make_data(name, c["steps"])
    noises[~noise_mask(c)] = 0.0
    return x_T, mos, noises


# -- float64 references -----------------------------------------------------------------------

def reference(c, x_T, mos, noises, info):
    """Independent float64 numpy implementation of the formulas in the notes."""
    ac = info["alphas_cumprod"].to(torch.float64).numpy()
    ts = info["timesteps"]
    pt = c["prediction_type"]
    x = x_T.astype(np.float64)
    out = [x]
    for i, t in enumerate(ts):
        e = mos[i].astype(np.float64)
        nz = noises[i].astype(np.float64)
        if c["sampler"] == "ddpm":
            prev = ts[i + 1] if i + 1 < len(ts) else -1
            a_t, a_p = ac[t], (ac[prev] if prev >= 0 else 1.0)
            b_t, b_p = 1 - a_t, 1 - a_p
            cur_a = a_t / a_p
            cur_b = 1 - cur_a
            x0 = {"epsilon": lambda: (x - b_t ** 0.5 * e) / a_t ** 0.5, "sample": lambda: e,
                  "v_prediction": lambda: a_t ** 0.5 * x - b_t ** 0.5 * e}[pt]()
            if c["clip_sample"]:
                x0 = np.clip(x0, -c["clip_sample_range"], c["clip_sample_range"])
            x = (a_p ** 0.5 * cur_b / b_t) * x0 + (cur_a ** 0.5 * b_p / b_t) * x
            if t > 0:
                var = max(b_p / b_t * cur_b, 1e-20) if c["variance_type"] == "fixed_small" \
                    else cur_b
                x = x + var ** 0.5 * nz
        elif c["sampler"] == "ddim":
            prev = t - c["num_train_timesteps"] // c["steps"]
            a_t = ac[t]
            a_p = ac[prev] if prev >= 0 else (1.0 if c["set_alpha_to_one"] else ac[0])
            b_t = 1 - a_t
            if pt == "epsilon":
                x0, eps = (x - b_t ** 0.5 * e) / a_t ** 0.5, e
            elif pt == "sample":
                x0, eps = e, (x - a_t ** 0.5 * e) / b_t ** 0.5
            else:
                x0, eps = a_t ** 0.5 * x - b_t ** 0.5 * e, a_t ** 0.5 * e + b_t ** 0.5 * x
            if c["clip_sample"]:
                x0 = np.clip(x0, -c["clip_sample_range"], c["clip_sample_range"])
            var = (1 - a_p) / (1 - a_t) * (1 - a_t / a_p)
            std = c["eta"] * var ** 0.5
            x = a_p ** 0.5 * x0 + (1 - a_p - std ** 2) ** 0.5 * eps + std * nz
        elif c["sampler"] == "dpmsolver++":
            sig = np.array(info["sigmas"])

            def asl(s):
                a = 1 / np.sqrt(s * s + 1)
                sg = s * a
                with np.errstate(divide="ignore"):
                    return a, sg, np.log(a) - np.log(sg)

            a_s, s_s, l_s = asl(sig[i])
            a_t, s_t, l_t = asl(sig[i + 1])
            x0 = (x - s_s * e) / a_s if pt == "epsilon" else a_s * x - s_s * e
            h = l_t - l_s
            if info["orders"][i] == 1:
                x = (s_t / s_s) * x - a_t * (np.exp(-h) - 1.0) * x0
            else:
                _, _, l_s1 = asl(sig[i - 1])
                r0 = (l_s - l_s1) / h
                d1 = (1.0 / r0) * (x0 - prev_x0)
                x = (s_t / s_s) * x - a_t * (np.exp(-h) - 1.0) * x0 \
                    - 0.5 * a_t * (np.exp(-h) - 1.0) * d1
            prev_x0 = x0
        else:
            tn = info["pairs"][i][1]
            a = ac[t]
            if c["objective"] == "pred_noise":
                x0 = np.sqrt(1 / a) * x - np.sqrt(1 / a - 1) * e
            else:
                x0 = np.sqrt(a) * x - np.sqrt(1 - a) * e
            x0 = np.clip(x0, -1, 1)
            pn = (np.sqrt(1 / a) * x - x0) / np.sqrt(1 / a - 1)
            if tn < 0:
                x = x0
            else:
                an = ac[tn]
                sigma = c["eta"] * np.sqrt((1 - a / an) * (1 - an) / (1 - a))
                cc = np.sqrt(1 - an - sigma ** 2)
                x = x0 * np.sqrt(an) + cc * pn + sigma * nz
        out.append(x)
    return np.stack(out)


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------

def build_case_json(name, c, info):
    d = {k: c[k] for k in BASE}
    d["sampler"] = c["sampler"]
    if c["sampler"] == "lucidrains":
        d["objective"] = c["objective"]
        d["pairs"] = info["pairs"]
        d["timestep_spacing"] = None
        d["steps_offset"] = None
    d["timesteps"] = info["timesteps"]
    if c["sampler"] == "ddim":
        d["prev_timesteps"] = info["prev_timesteps"]
        d["final_alpha_cumprod"] = info["final_alpha_cumprod"]
        d["use_clipped_model_output"] = False
    if c["sampler"] == "dpmsolver++":
        d["solver_order"] = 2
        d["algorithm_type"] = "dpmsolver++"
        d["orders"] = info["orders"]
        d["sigmas"] = info["sigmas"]
    d["notes"] = {"ddpm": ddpm_notes, "ddim": ddim_notes, "dpmsolver++": dpm_notes,
                  "lucidrains": lucidrains_notes}[c["sampler"]](c)
    d["alphas_cumprod_dtype"] = "float32"
    d["alphas_cumprod"] = f64list(info["alphas_cumprod"])
    return d


def generate(out):
    (out / "steps").mkdir(parents=True, exist_ok=True)
    vers = versions()
    write_json(out / "versions.json", vers)
    write_json(out / "schedules.json", make_schedules())
    write_json(out / "timesteps.json", make_timesteps())
    for name, c in CASES.items():
        x_T, mos, noises = case_inputs(name, c)
        samples, pred, info = RUNNERS[c["sampler"]](c, x_T, mos, noises)
        d = out / "steps" / name
        d.mkdir(parents=True, exist_ok=True)
        write_json(d / "case.json", build_case_json(name, c, info))
        save_npy(d / "x_T.npy", x_T)
        save_npy(d / "model_outputs.npy", mos)
        save_npy(d / "noises.npy", noises)
        save_npy(d / "samples.npy", samples.astype(np.float32))
        save_npy(d / "pred_x0.npy", pred.astype(np.float32))
        if "pred_noise" in info:
            save_npy(d / "pred_noise.npy", info["pred_noise"].astype(np.float32))


def check(out):
    ok = True
    sch = json.loads((out / "schedules.json").read_text())
    fresh = make_schedules()
    assert sch == json.loads(json.dumps(fresh)), "schedules.json does not reproduce"
    print(f"schedules.json: {len(sch['cases'])} cases reproduce")
    ts = json.loads((out / "timesteps.json").read_text())
    assert ts == json.loads(json.dumps(make_timesteps())), "timesteps.json does not reproduce"
    print(f"timesteps.json: {len(ts['cases'])} cases reproduce")
    for name, c in CASES.items():
        d = out / "steps" / name
        meta = json.loads((d / "case.json").read_text())
        x_T = np.load(d / "x_T.npy")
        mos = np.load(d / "model_outputs.npy")
        noises = np.load(d / "noises.npy")
        samples = np.load(d / "samples.npy")
        pred = np.load(d / "pred_x0.npy")
        S = c["steps"]
        assert x_T.shape == SHAPE and x_T.dtype == np.float32
        for a in (mos, noises, pred):
            assert a.shape == (S,) + SHAPE and a.dtype == np.float32
        assert samples.shape == (S + 1,) + SHAPE and samples.dtype == np.float32
        assert np.array_equal(samples[0], x_T)
        gx, gm, gn = case_inputs(name, c)
        assert np.array_equal(gx, x_T) and np.array_equal(gm, mos) and np.array_equal(gn, noises)
        # re-run with the loaded samples[i] as the input of step i
        s2, p2, info = RUNNERS[c["sampler"]](c, x_T, mos, noises, inputs=samples)
        same = np.array_equal(s2, samples) and np.array_equal(p2, pred)
        assert json.loads(json.dumps(build_case_json(name, c, info))) == meta
        if c["sampler"] == "lucidrains":
            same = same and np.array_equal(np.load(d / "pred_noise.npy"), info["pred_noise"])
            # default auto_normalize=True only maps the returned images to [0, 1]
            s3, _, _ = run_lucidrains(c, x_T, mos, noises, auto_normalize=True)
            assert np.array_equal(s3, ((T_(samples) + 1) * 0.5).numpy())
        ref = reference(c, x_T, mos, noises, info)
        # error relative to the magnitude of each step's sample (floor 1)
        scale = np.maximum(1.0, np.abs(ref).reshape(S + 1, -1).max(axis=1))
        err = float((np.abs(ref - samples.astype(np.float64)).reshape(S + 1, -1).max(axis=1)
                     / scale).max())
        ok = ok and same and err < REF_TOL
        print(f"{name:24s} {c['sampler']:11s} S={S:3d} T={c['num_train_timesteps']:4d} "
              f"t={info['timesteps'][0]}..{info['timesteps'][-1]} "
              f"library-rerun={'identical' if same else 'DIFFERENT'} "
              f"|x_S|max={np.abs(samples[-1]).max():.4f} float64-ref rel err={err:.2e}")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"total size {total / 1e6:.3f} MB in {out}")
    if not ok:
        raise SystemExit("CHECK FAILED")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only check the written fixtures")
    args = ap.parse_args()
    print(json.dumps(versions()))
    if not args.check:
        generate(OUT)
    check(OUT)


if __name__ == "__main__":
    main()
