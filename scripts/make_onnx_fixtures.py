#!/usr/bin/env python3
"""ONNX U-Net fixtures for denoise's graph importer: the one committed script that makes them.

Run from the repository root:

    /work/venv/bin/python scripts/make_onnx_fixtures.py              # all small fixtures (~1 min)
    /work/venv/bin/python scripts/make_onnx_fixtures.py simple_unet  # only the named models
    /work/venv/bin/python scripts/make_onnx_fixtures.py --large      # large benchmark models only
    /work/venv/bin/python scripts/make_onnx_fixtures.py --list       # model names

Needs (PyPI only; never torchvision, whose PyPI wheels pull a CUDA torch):
    pip install diffusers einops scipy pillow tqdm psutil pyyaml
    pip install --no-deps denoising-diffusion-pytorch ema-pytorch accelerate
denoising-diffusion-pytorch imports torchvision at module level, but only its Trainer uses it, so
this script puts an empty stand-in `torchvision` into sys.modules for that import and removes it
again afterwards (so torch.onnx and diffusers still see "torchvision not installed").

Last run with: Python 3.11.7, torch 2.13.0+cpu, onnx 1.23.2, onnxruntime 1.32.0, onnxscript 0.7.2,
numpy 2.4.6, diffusers 0.42.1, denoising-diffusion-pytorch 2.3.4, einops 0.8.2
(every run also writes them to versions.json in the output folder; update this line when you
regenerate).

Small fixtures (committed) go to Tests/GraphTests/Fixtures/onnx/<model>/:
    <model>.ts.onnx      TorchScript exporter (dynamo=False), opset 17, dynamic batch ("batch")
    <model>.dynamo.onnx  torch.export-based exporter (dynamo=True), its default opset, dynamic batch
                         Dim("batch", 1..64) unless meta.json "notes" says it fell back to static
    x.npy                float32 [2, C, H, W], standard normal (numpy PCG64, fixed seed)
    t.npy                time input, [2] (dtype in meta.json "time_dtype"; int64 except diffusers_float_time)
    y.torch.npy          PyTorch eager output on (x, t)
    y.ts.npy, y.dynamo.npy  onnxruntime (CPUExecutionProvider, 1 thread) output of each file
    meta.json            shapes, dtypes, opset / node count / op-type histogram of each file,
                         parameter count, ORT-vs-torch error, notes
  Every ONNX file holds its weights inline (no external data). The script fails loudly unless
  max|ORT - torch| / max|torch| < 1e-4 for every file, at batch 2 and (for dynamic-batch files) at
  batch 1 as well. groupnorm_forms/ is the exception to the layout: one model, three GroupNorm
  encodings (instancenorm.onnx, groupnormalization.onnx, contrib_groupnorm.onnx), input x only.

Large benchmark models (--large; NOT committed, benchmarks/models/ is in .gitignore) go to
benchmarks/models/<model>/ with <model>.ts.onnx (+ .dynamo.onnx when it exports), x.npy, t.npy,
y.npy (ORT output of the .ts.onnx file at batch 2), meta.json.

Determinism: every model is built after torch.manual_seed(fixed per model); inputs come from
numpy's PCG64 with a fixed seed; so a rerun writes the same tensors (and, with the same versions,
the same ONNX bytes). Models are random-init (no weights are downloaded): norm layers get
non-trivial affine parameters (1 + 0.1 N(0,1) scale, 0.1 N(0,1) shift) and BatchNorm layers get
non-trivial running statistics from a few training-mode passes on shifted random data, then eval().
"""

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_support import package_version, save_npy, stub_torchvision  # noqa: E402
import onnx
import onnx.helper as oh
import onnx.numpy_helper as onh
import onnxruntime as ort
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "GraphTests" / "Fixtures" / "onnx"
BENCH = REPO / "benchmarks" / "models"

TOLERANCE = 1e-4          # max|ORT - torch| / max|torch|
TS_OPSET = 17
BATCH = 2


# ---------------------------------------------------------------------------------------------
# Imports that need care
# ---------------------------------------------------------------------------------------------



def ddp_unet_class():
    with stub_torchvision():
        from denoising_diffusion_pytorch import Unet
    return Unet


def diffusers_unet2d_class():
    from diffusers import UNet2DModel
    return UNet2DModel




def versions():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "onnxscript": package_version("onnxscript"),
        "numpy": np.__version__,
        "diffusers": package_version("diffusers"),
        "denoising-diffusion-pytorch": package_version("denoising-diffusion-pytorch"),
        "einops": package_version("einops"),
    }


# ---------------------------------------------------------------------------------------------
# Models reproduced from the seed texts
# ---------------------------------------------------------------------------------------------

# seed 000 ("A Gentle Introduction to Diffusion"): SimpleUnet. Written from the seed text; the
# only change is that the hard-coded channel tuples / time_emb_dim became constructor arguments
# (defaults = the seed's values, typo 1023 included) so the fixture can use small ones.

class Block(nn.Module):
    def __init__(self, in_ch, out_ch, time_emb_dim, up=False):
        super().__init__()
        self.time_mlp = nn.Linear(time_emb_dim, out_ch)
        if up:
            self.conv1 = nn.Conv2d(2 * in_ch, out_ch, 3, padding=1)
            self.transform = nn.ConvTranspose2d(out_ch, out_ch, 4, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
            self.transform = nn.Conv2d(out_ch, out_ch, 4, 2, 1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.bnorm1 = nn.BatchNorm2d(out_ch)
        self.bnorm2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU()

    def forward(self, x, t, ):
        # First Conv
        h = self.bnorm1(self.relu(self.conv1(x)))
        # Time embedding
        time_emb = self.relu(self.time_mlp(t))
        # Extend last 2 dimensions
        time_emb = time_emb[(..., ) + (None, ) * 2]
        # Add time channel
        h = h + time_emb
        # Second Conv
        h = self.bnorm2(self.relu(self.conv2(h)))
        # Down or Upsample
        return self.transform(h)


class SinusoidalPositionEmbeddings(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, time):
        device = time.device
        half_dim = self.dim // 2
        embeddings = math.log(10000) / (half_dim - 1)
        embeddings = torch.exp(torch.arange(half_dim, device=device) * -embeddings)
        embeddings = time[:, None] * embeddings[None, :]
        embeddings = torch.cat((embeddings.sin(), embeddings.cos()), dim=-1)
        return embeddings


class SimpleUnet(nn.Module):
    def __init__(self, image_channels=3, down_channels=(64, 128, 512, 1023, 1600),
                 up_channels=(1600, 1023, 512, 128, 64), out_dim=3, time_emb_dim=32):
        super().__init__()
        # Time embedding
        self.time_mlp = nn.Sequential(
            SinusoidalPositionEmbeddings(time_emb_dim),
            nn.Linear(time_emb_dim, time_emb_dim),
            nn.ReLU()
        )
        # Initial projection
        self.conv0 = nn.Conv2d(image_channels, down_channels[0], 3, padding=1)
        # Downsample
        self.downs = nn.ModuleList([Block(down_channels[i], down_channels[i + 1], time_emb_dim)
                                    for i in range(len(down_channels) - 1)])
        # Upsample
        self.ups = nn.ModuleList([Block(up_channels[i], up_channels[i + 1], time_emb_dim, up=True)
                                  for i in range(len(up_channels) - 1)])
        self.output = nn.Conv2d(up_channels[-1], out_dim, 1)

    def forward(self, x, timestep):
        # Embedd time
        t = self.time_mlp(timestep)
        # Initial conv
        x = self.conv0(x)
        # Unet
        residual_inputs = []
        for down in self.downs:
            x = down(x, t)
            residual_inputs.append(x)
        for up in self.ups:
            residual_x = residual_inputs.pop()
            # Add residual x as additional channels
            x = torch.cat((x, residual_x), dim=1)
            x = up(x, t)
        return self.output(x)


# seed 003 ("Diffusion Models for Developers: A Gentle Introduction"): NoisePredictor, as written
# (module-level `timesteps = 100`, t / timesteps added to the input), with ONE change: the seed's
# `x = x + t` adds a [B] tensor to [B, 1, 28, 28], which broadcasts t along W and only runs for
# B == 1 (or 28); we add `t[:, None, None, None]` (the evident intent: one scalar per sample).
# Everything else is kept, including the seed's quirk that there is no pooling: the 64x28x28
# feature map is `view`ed as (-1, 64*7*7), i.e. each sample becomes 16 rows, so the output is
# [16*B, 1, 7, 7] (tanh) for an input of [B, 1, 28, 28].

timesteps = 100


# The seed's hidden width is 128; fc1/fc2 (3136 x width) then hold ~96% of the parameters and make
# each file 3.4 MB. The fixture keeps the architecture with a narrower hidden layer, as simple_unet
# keeps the seed's blocks with fewer channels.
NOISE_PREDICTOR_HIDDEN = 16


class NoisePredictor(nn.Module):
    def __init__(self, hidden=NOISE_PREDICTOR_HIDDEN):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, 64 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(64, 32, kernel_size=3, padding=1)
        self.deconv2 = nn.ConvTranspose2d(32, 1, kernel_size=3, padding=1)

    def forward(self, x, t):
        # Embed timestep (simple scaling)
        t = t / timesteps
        x = x + t[:, None, None, None]  # seed: `x + t` (see above)

        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = x.view(-1, 64 * 7 * 7)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        x = x.view(-1, 64, 7, 7)
        x = torch.relu(self.deconv1(x))
        x = torch.tanh(self.deconv2(x))  # Output in [-1, 1] range
        return x


class DiffusersUNet(nn.Module):
    """forward(x, t) -> UNet2DModel(x, t, return_dict=False)[0] (the `.sample` tensor)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        return self.unet(x, t, return_dict=False)[0]


class GroupNormNet(nn.Module):
    """conv 3->16 3x3 -> GroupNorm(4 groups, 16 ch) -> SiLU -> conv 16->3 3x3; input x only."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.norm = nn.GroupNorm(4, 16, eps=1e-5)
        self.act = nn.SiLU()
        self.conv2 = nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, x):
        return self.conv2(self.act(self.norm(self.conv1(x))))


# ---------------------------------------------------------------------------------------------
# Initialisation helpers
# ---------------------------------------------------------------------------------------------

def perturb_norms(model, seed):
    """Give every norm layer a non-identity affine (GroupNorm/BatchNorm/LayerNorm weight & bias,
    denoising-diffusion-pytorch RMSNorm.g), so a missed scale or shift shows in the output."""
    g = torch.Generator().manual_seed(seed)
    count = 0
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.GroupNorm, nn.BatchNorm2d, nn.LayerNorm)) and mod.weight is not None:
                mod.weight.copy_(1 + 0.1 * torch.randn(mod.weight.shape, generator=g))
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
                count += 1
            elif type(mod).__name__ == "RMSNorm" and hasattr(mod, "g"):
                mod.g.copy_(1 + 0.1 * torch.randn(mod.g.shape, generator=g))
                count += 1
    return count


def warm_batchnorm(model, x, t, seed, passes=4):
    """Training-mode forward passes on shifted/scaled random data so BatchNorm running stats are
    not 0/1; returns the number of BatchNorm layers."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(passes):
            xb = torch.randn((8,) + tuple(x.shape[1:]), generator=g) * 1.5 + 0.3
            if t.dtype == torch.int64:
                tb = torch.randint(0, 1000, (8,), generator=g)
            else:
                tb = torch.rand(8, generator=g, dtype=t.dtype)
            model(xb, tb)
    model.eval()
    return len(bns)


def make_inputs(shape, seed, t_values, t_dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH,) + tuple(shape), dtype=np.float32)
    t = np.asarray(t_values, dtype=t_dtype)
    return np.ascontiguousarray(x), np.ascontiguousarray(t)


# ---------------------------------------------------------------------------------------------
# Model registry
# ---------------------------------------------------------------------------------------------

def build_ddpm_unet_small():
    Unet = ddp_unet_class()
    kw = dict(dim=8, dim_mults=(1, 2), channels=1, attn_dim_head=8, attn_heads=2, flash_attn=False)
    return Unet(**kw), kw


def build_ddpm_unet_rgb():
    Unet = ddp_unet_class()
    kw = dict(dim=8, dim_mults=(1, 2, 4), channels=3, attn_dim_head=8, attn_heads=2, flash_attn=False)
    return Unet(**kw), kw


def build_diffusers_unet_small():
    UNet2DModel = diffusers_unet2d_class()
    kw = dict(sample_size=16, in_channels=3, out_channels=3, layers_per_block=1,
              block_out_channels=(16, 32), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
              up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8)
    return DiffusersUNet(UNet2DModel(**kw)), kw


def build_simple_unet():
    kw = dict(image_channels=3, down_channels=(16, 32, 64), up_channels=(64, 32, 16), out_dim=3,
              time_emb_dim=16)
    return SimpleUnet(**kw), kw


def build_noise_predictor():
    return NoisePredictor(), {}


def build_ddpm_cifar10():
    UNet2DModel = diffusers_unet2d_class()
    kw = dict(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
              block_out_channels=(128, 256, 256, 256),
              down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
              up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
              norm_num_groups=32)
    return DiffusersUNet(UNet2DModel(**kw)), kw


def build_ddpm_unet28():
    Unet = ddp_unet_class()
    kw = dict(dim=32, dim_mults=(1, 2, 4), channels=1, flash_attn=False)
    return Unet(**kw), kw


def build_ddpm_unet64():
    Unet = ddp_unet_class()
    kw = dict(dim=64, dim_mults=(1, 2, 4, 8), channels=3, flash_attn=False)
    return Unet(**kw), kw


MODELS = {
    "ddpm_unet_small": dict(
        build=build_ddpm_unet_small, seed=1001, shape=(1, 16, 16), t=[10, 873],
        notes=["attn_heads=2, attn_dim_head=8 (library defaults 4 x 32) to keep the file small; "
               "input 16x16 (must be divisible by 2^(levels-1) = 2)"],
        description="denoising-diffusion-pytorch Unet, 2 levels: RMSNorm (F.normalize), ResnetBlock "
                    "with time scale/shift, LinearAttention + pixel-unshuffle Downsample on level 0, "
                    "full Attention (4 memory key/values, flash=False) on level 1 and mid, nearest "
                    "Upsample, GELU time MLP, SiLU"),
    "ddpm_unet_rgb": dict(
        build=build_ddpm_unet_rgb, seed=1002, shape=(3, 16, 16), t=[10, 873],
        notes=["attn_heads=2, attn_dim_head=8 (library defaults 4 x 32: 218k instead of 158k "
               "parameters, folder 2.7 MB instead of 2.2 MB)"],
        description="denoising-diffusion-pytorch Unet, 3 levels (dim_mults 1,2,4), 3 channels: "
                    "LinearAttention on levels 0-1, full Attention on level 2 and mid"),
    "diffusers_unet_small": dict(
        build=build_diffusers_unet_small, seed=1003, shape=(3, 16, 16), t=[10, 873],
        description="diffusers UNet2DModel, 2 levels (16, 32), GroupNorm(8), SiLU, ResnetBlock2D, "
                    "AttnDownBlock2D/AttnUpBlock2D (scaled_dot_product_attention), conv Downsample2D, "
                    "nearest Upsample2D; wrapped so forward(x, t) returns .sample"),
    "diffusers_float_time": dict(
        build=build_diffusers_unet_small, seed=1006, shape=(3, 16, 16), t=[10.5, 873.25], t_dtype=np.float32,
        description="diffusers_unet_small's architecture (other weights) with a float32 timestep input "
                    "(fractional timesteps, as continuous-time samplers pass)"),
    "simple_unet": dict(
        build=build_simple_unet, seed=1004, shape=(3, 16, 16), t=[10, 873],
        notes=["seed's classes as written; channels shrunk from the seed's (64,128,512,1023,1600) / "
               "time_emb_dim 32 to (16,32,64) / 16 (2 down + 2 up Blocks)",
               "int64 time: time[:, None] * float embeddings promotes to float32, as in the seed"],
        description="seed-000 SimpleUnet (Block: conv3x3-ReLU-BatchNorm, time Linear-ReLU added, "
                    "conv3x3-ReLU-BatchNorm, 4x4 stride-2 Conv2d down / ConvTranspose2d up; "
                    "sinusoidal time embedding) with down (16,32,64), up (64,32,16), time_emb_dim 16"),
    "noise_predictor": dict(
        build=build_noise_predictor, seed=1005, shape=(1, 28, 28), t=[10, 87],
        out_batch_name="batch_x16",
        notes=["seed's `x = x + t` (t of shape [B]) only broadcasts for B == 1; the model adds "
               "t[:, None, None, None] / 100 instead (one scalar per sample); otherwise as written",
               "as written, view(-1, 64*7*7) on the 64x28x28 map folds each sample into 16 rows: "
               "output is [16*B, 1, 7, 7]; the TorchScript file names that output dim 'batch_x16'",
               "t is int64 in the graph; t / 100 is a true division (Cast to float in the graph)",
               f"hidden width {NOISE_PREDICTOR_HIDDEN} instead of the seed's 128 (file size; architecture unchanged)"],
        description="seed-003 NoisePredictor: x + t/100, conv-ReLU x2, view(-1, 3136) (16 rows per "
                    "sample), Linear 3136->16->3136, view(-1,64,7,7), ConvTranspose2d x2, tanh; "
                    "output [16*B, 1, 7, 7]"),
    "ddpm_cifar10": dict(
        build=build_ddpm_cifar10, seed=2001, shape=(3, 32, 32), t=[10, 873], large=True,
        description="diffusers UNet2DModel with the DDPM-CIFAR10 config (random init)"),
    "ddpm_unet28": dict(
        build=build_ddpm_unet28, seed=2003, shape=(1, 28, 28), t=[10, 873], large=True,
        description="denoising-diffusion-pytorch Unet(dim=32, dim_mults=(1,2,4), channels=1) on 28x28 "
                    "(random init): the library's defaults (4 heads x 32, linear attention on the outer levels)"),
    "ddpm_unet64": dict(
        build=build_ddpm_unet64, seed=2002, shape=(3, 32, 32), t=[10, 873], large=True,
        description="denoising-diffusion-pytorch Unet(dim=64, dim_mults=(1,2,4,8), channels=3) "
                    "(random init)"),
}
GROUPNORM = "groupnorm_forms"


# ---------------------------------------------------------------------------------------------
# Export, check, describe
# ---------------------------------------------------------------------------------------------

def export_torchscript(model, args, path, input_names, out_batch_name="batch"):
    dynamic_axes = {n: {0: "batch"} for n in input_names}
    dynamic_axes["y"] = {0: out_batch_name}
    torch.onnx.export(model, args, str(path), dynamo=False, opset_version=TS_OPSET,
                      input_names=input_names, output_names=["y"], dynamic_axes=dynamic_axes)
    make_inline(path)


def export_dynamo(model, args, path, input_names):
    """Returns (dynamic_batch, note or None)."""
    batch = torch.export.Dim("batch", min=1, max=64)
    note = None
    try:
        torch.onnx.export(model, args, str(path), dynamo=True, external_data=False,
                          input_names=input_names, output_names=["y"],
                          dynamic_shapes=tuple({0: batch} for _ in args))
        dynamic = True
    except Exception as e:  # noqa: BLE001 - any failure of dynamic export -> static fallback
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        note = f"dynamo exporter failed with a dynamic batch ({type(e).__name__}: {first}); exported with static batch {BATCH}"
        print("  " + note)
        torch.onnx.export(model, args, str(path), dynamo=True, external_data=False,
                          input_names=input_names, output_names=["y"])
        dynamic = False
    make_inline(path)
    return dynamic, note


# Node metadata the dynamo exporter writes that holds absolute source paths of this machine
# (site-packages, this script): dropped so files are the same on every machine. The other
# metadata_props (namespace, class_hierarchy, fx_node, name_scopes, rewriter rule) are kept.
MACHINE_SPECIFIC_METADATA = ("pkg.torch.onnx.stack_trace",)


def strip_machine_metadata(model):
    removed = 0
    graphs = [model.graph] + [f for f in model.functions]
    for g in graphs:
        for n in g.node if hasattr(g, "node") else []:
            keep = [p for p in n.metadata_props if p.key not in MACHINE_SPECIFIC_METADATA]
            if len(keep) != len(n.metadata_props):
                removed += len(n.metadata_props) - len(keep)
                del n.metadata_props[:]
                n.metadata_props.extend(keep)
    return removed


def make_inline(path):
    """Reload (pulling in any external data) and save with every tensor inline and without
    machine-specific metadata."""
    path = Path(path)
    model = onnx.load(str(path), load_external_data=True)
    external = [t.name for t in model.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    stray = [p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]
    stripped = strip_machine_metadata(model)
    if external or stray or stripped:
        onnx.save(model, str(path), save_as_external_data=False)
        for p in stray:
            p.unlink()


def ort_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_run(path, feeds):
    sess = ort_session(path)
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: feeds[n] for n in names})[0]


def torch_run(model, feeds, input_names):
    with torch.no_grad():
        y = model(*(torch.from_numpy(feeds[n]) for n in input_names))
    return y.detach().numpy().astype(np.float32)


def compare(name, got, ref):
    if got.shape != ref.shape:
        raise SystemExit(f"FAIL {name}: shape {got.shape} != torch {ref.shape}")
    diff = float(np.max(np.abs(got.astype(np.float64) - ref)))
    scale = float(np.max(np.abs(ref)))
    rel = diff / max(scale, 1e-30)
    if not np.isfinite(rel) or rel >= TOLERANCE:
        raise SystemExit(f"FAIL {name}: max|ORT - torch| = {diff:.3e}, max|torch| = {scale:.3e}, "
                         f"relative {rel:.3e} >= {TOLERANCE}")
    print(f"  {name}: max abs diff {diff:.2e} (relative {rel:.2e}) OK")
    return {"max_abs_diff_vs_torch": diff, "relative_diff_vs_torch": rel}


def histogram(nodes):
    c = Counter((f"{n.domain}::{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type)
                for n in nodes)
    return dict(sorted(c.items()))


def all_nodes(graph):
    for n in graph.node:
        yield n
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from all_nodes(a.g)
            for g in a.graphs:
                yield from all_nodes(g)


def describe_onnx(path):
    m = onnx.load(str(path))
    opsets = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    info = {
        "file": path.name,
        "bytes": path.stat().st_size,
        "ir_version": m.ir_version,
        "opset": opsets.get("ai.onnx"),
        "opset_imports": dict(sorted(opsets.items())),
        "node_count": len(m.graph.node),
        "initializer_count": len(m.graph.initializer),
        "op_types": histogram(m.graph.node),
        "inputs": [value_info(v) for v in m.graph.input],
        "outputs": [value_info(v) for v in m.graph.output],
    }
    nested = list(all_nodes(m.graph))
    if len(nested) != len(m.graph.node):
        info["node_count_with_subgraphs"] = len(nested)
    if m.functions:
        info["local_functions"] = {f"{f.domain}::{f.name}": histogram(f.node) for f in m.functions}
    return info


def value_info(v):
    t = v.type.tensor_type
    dims = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
    return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
            "shape": dims}


def write_json(path, obj):
    """Indented JSON with lists of scalars (shapes, values) kept on one line."""
    text = json.dumps(obj, indent=2)
    text = re.sub(r"\[\s*([^\[\]{}]*?)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]"
                  if m.group(1).strip() else "[]", text)
    path.write_text(text + "\n")


def prepare_model(spec):
    torch.manual_seed(spec["seed"])
    model, config = spec["build"]()
    model.eval()
    x, t = make_inputs(spec["shape"], spec["seed"], spec["t"], spec.get("t_dtype", np.int64))
    notes = []
    n_norm = perturb_norms(model, spec["seed"] + 1)
    if n_norm:
        notes.append(f"{n_norm} norm layers given non-identity affine parameters (1+0.1N, 0.1N)")
    n_bn = warm_batchnorm(model, torch.from_numpy(x), torch.from_numpy(t), spec["seed"] + 2)
    if n_bn:
        notes.append(f"{n_bn} BatchNorm layers: running stats from 4 training-mode passes, then eval()")
    return model, config, x, t, notes


def make_model(name, root, large=False):
    spec = MODELS[name]
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    print(f"{name}:")
    t0 = time.time()
    model, config, x, t, notes = prepare_model(spec)
    if "notes" in spec:
        notes += spec["notes"]
    input_names = ["x", "t"]
    feeds = {"x": x, "t": t}
    args = (torch.from_numpy(x), torch.from_numpy(t))
    y_torch = torch_run(model, feeds, input_names)
    y_torch_1 = torch_run(model, {"x": x[:1], "t": t[:1]}, input_names)
    params = sum(p.numel() for p in model.parameters())
    print(f"  {params} parameters, y {list(y_torch.shape)}")

    save_npy(out / "x.npy", x)
    save_npy(out / "t.npy", t)
    if not large:
        save_npy(out / "y.torch.npy", y_torch)

    files = {}
    for kind in ("ts", "dynamo"):
        path = out / f"{name}.{kind}.onnx"
        tk = time.time()
        entry = {"exporter": "torchscript (dynamo=False)" if kind == "ts" else "dynamo (torch.export)"}
        try:
            if kind == "ts":
                export_torchscript(model, args, path, input_names, spec.get("out_batch_name", "batch"))
                dynamic = True
            else:
                dynamic, note = export_dynamo(model, args, path, input_names)
                if note:
                    notes.append(note)
        except Exception as e:  # noqa: BLE001
            if large and kind == "dynamo":
                msg = f"dynamo export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}"
                print("  " + msg)
                notes.append(msg)
                path.unlink(missing_ok=True)
                continue
            raise
        print(f"  {path.name}: exported in {time.time() - tk:.1f}s")
        entry["dynamic_batch"] = dynamic
        y = ort_run(path, feeds)
        entry.update(compare(path.name, y, y_torch))
        checked = [BATCH]
        if dynamic:
            compare(path.name + " (batch 1)", ort_run(path, {"x": x[:1], "t": t[:1]}), y_torch_1)
            checked.append(1)
        entry["checked_batch_sizes"] = checked
        if large:
            if kind == "ts":
                save_npy(out / "y.npy", y)
                entry["output_npy"] = "y.npy"
        else:
            save_npy(out / f"y.{kind}.npy", y)
            entry["output_npy"] = f"y.{kind}.npy"
        entry.update(describe_onnx(path))
        files[path.name] = entry

    meta = {
        "model": name,
        "description": spec["description"],
        "config": jsonable(config),
        "seed": spec["seed"],
        "inputs": {"x": {"shape": list(x.shape), "dtype": str(x.dtype), "npy": "x.npy"},
                   "t": {"shape": list(t.shape), "dtype": str(t.dtype), "values": t.tolist(),
                         "npy": "t.npy"}},
        "time_dtype": str(t.dtype),
        "output": {"shape": list(y_torch.shape), "dtype": str(y_torch.dtype),
                   "torch_npy": None if large else "y.torch.npy"},
        "parameter_count": params,
        "tolerance": f"max|ORT - torch| / max|torch| < {TOLERANCE}",
        "files": files,
        "notes": notes,
    }
    write_json(out / "meta.json", meta)
    print(f"  done in {time.time() - t0:.1f}s")


def jsonable(obj):
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------
# groupnorm_forms: the same GroupNorm in three ONNX encodings
# ---------------------------------------------------------------------------------------------

def find_groupnorm_pattern(graph):
    """TorchScript opset-17 group_norm: Reshape(X, [0, G, -1]) -> InstanceNormalization(ones, zeros)
    -> Reshape(_, Shape(X)) -> Mul(gamma[C,1,1]) -> Add(beta[C,1,1]). Returns the pieces."""
    producers = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = {i.name: i for i in graph.initializer}

    def const_value(name):
        if name in inits:
            return onh.to_array(inits[name])
        n = producers.get(name)
        if n is not None and n.op_type == "Constant":
            return onh.to_array(n.attribute[0].t)
        raise ValueError(f"{name} is not a constant")

    inorm = [n for n in graph.node if n.op_type == "InstanceNormalization"]
    assert len(inorm) == 1, "expected one InstanceNormalization"
    inorm = inorm[0]
    reshape_in = producers[inorm.input[0]]
    assert reshape_in.op_type == "Reshape"
    x_name = reshape_in.input[0]
    groups = int(const_value(reshape_in.input[1])[1])
    eps = next(a.f for a in inorm.attribute if a.name == "epsilon")
    reshape_out = consumers[inorm.output[0]][0]
    assert reshape_out.op_type == "Reshape"
    mul = consumers[reshape_out.output[0]][0]
    add = consumers[mul.output[0]][0]
    assert mul.op_type == "Mul" and add.op_type == "Add"
    gamma = const_value(mul.input[1]).reshape(-1).astype(np.float32)
    beta = const_value(add.input[1]).reshape(-1).astype(np.float32)
    shape_node = producers[reshape_out.input[1]]
    removed = [reshape_in, inorm, reshape_out, mul, add, shape_node]
    removed += [producers[i] for n in (reshape_in, inorm) for i in n.input[1:]
                if i in producers and producers[i].op_type == "Constant"]
    return dict(x=x_name, y=add.output[0], groups=groups, eps=eps, gamma=gamma, beta=beta,
                removed=removed, dropped_inits=[mul.input[1], add.input[1]])


def prune(graph):
    """Drop nodes whose outputs nobody uses and initializers nobody reads."""
    needed = {o.name for o in graph.output}
    keep = []
    for n in reversed(list(graph.node)):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(i for i in n.input if i)
    keep.reverse()
    del graph.node[:]
    graph.node.extend(keep)
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def groupnormalization_model(src):
    """Opset 21 GroupNormalization(X, scale[C], bias[C], epsilon, num_groups) in place of the
    InstanceNormalization pattern (GroupNormalization-18 had per-group scale/bias; -21 is
    per-channel, matching torch)."""
    m = onnx.ModelProto()
    m.CopyFrom(src)
    g = m.graph
    p = find_groupnorm_pattern(g)
    removed = {n.output[0] for n in p["removed"]}
    gn = oh.make_node("GroupNormalization", [p["x"], "norm.scale", "norm.bias"], [p["y"]],
                      name="/norm/GroupNormalization", epsilon=p["eps"], num_groups=p["groups"])
    nodes = []
    for n in g.node:
        if n.output[0] in removed:
            if n.op_type == "Add":
                nodes.append(gn)
            continue
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend([onh.from_array(p["gamma"], "norm.scale"), onh.from_array(p["beta"], "norm.bias")])
    prune(g)
    del m.opset_import[:]
    m.opset_import.extend([oh.make_opsetid("", 21)])
    m.ir_version = 10
    onnx.checker.check_model(m, full_check=True)
    return m, p


def contrib_groupnorm_model(src):
    """com.microsoft GroupNorm (ORT contrib op: NHWC input, gamma[C], beta[C]; attributes
    activation (1 = SiLU fused), channels_last=1, epsilon, groups) wrapped in Transposes; the
    following SiLU (Sigmoid, Mul) is fused into activation=1 as ORT's GroupNorm fusion does."""
    m = onnx.ModelProto()
    m.CopyFrom(src)
    g = m.graph
    p = find_groupnorm_pattern(g)
    removed = {n.output[0] for n in p["removed"]}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    # SiLU after the norm: Sigmoid(y) and Mul(y, Sigmoid(y))
    after = consumers[p["y"]]
    sig = next(n for n in after if n.op_type == "Sigmoid")
    mul = next(n for n in after if n.op_type == "Mul" and sig.output[0] in n.input)
    removed |= {sig.output[0], mul.output[0]}
    new = [
        oh.make_node("Transpose", [p["x"]], ["/norm/nhwc"], name="/norm/ToNHWC", perm=[0, 2, 3, 1]),
        oh.make_node("GroupNorm", ["/norm/nhwc", "norm.gamma", "norm.beta"], ["/norm/gn_nhwc"],
                     name="/norm/GroupNorm", domain="com.microsoft", activation=1, channels_last=1,
                     epsilon=p["eps"], groups=p["groups"]),
        oh.make_node("Transpose", ["/norm/gn_nhwc"], [mul.output[0]], name="/norm/ToNCHW",
                     perm=[0, 3, 1, 2]),
    ]
    nodes = []
    for n in g.node:
        if n.output[0] in removed:
            if n is mul:
                nodes.extend(new)
            continue
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend([onh.from_array(p["gamma"], "norm.gamma"), onh.from_array(p["beta"], "norm.beta")])
    prune(g)
    m.opset_import.extend([oh.make_opsetid("com.microsoft", 1)])
    onnx.checker.check_model(m)  # contrib op: no schema in onnx, so no full (shape) check
    return m, p


def contrib_as_standard(m):
    """A runnable stand-in for checking contrib_groupnorm.onnx on ORT's CPU provider (which has no
    com.microsoft GroupNorm kernel): each GroupNorm(NHWC, activation) becomes
    Transpose(0,3,1,2) -> GroupNormalization-21 -> [Sigmoid, Mul] -> Transpose(0,2,3,1); the rest
    of the file (Transposes, gamma/beta, wiring) is tested as written."""
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    g = m2.graph
    nodes = []
    for n in g.node:
        if n.domain == "com.microsoft" and n.op_type == "GroupNorm":
            at = {a.name: oh.get_attribute_value(a) for a in n.attribute}
            assert at["channels_last"] == 1
            x, gamma, beta = n.input
            pre = n.name + "/std"
            nodes.append(oh.make_node("Transpose", [x], [pre + "/nchw"], perm=[0, 3, 1, 2]))
            nodes.append(oh.make_node("GroupNormalization", [pre + "/nchw", gamma, beta], [pre + "/gn"],
                                      epsilon=at["epsilon"], num_groups=at["groups"]))
            last = pre + "/gn"
            if at["activation"] == 1:
                nodes.append(oh.make_node("Sigmoid", [last], [pre + "/sig"]))
                nodes.append(oh.make_node("Mul", [last, pre + "/sig"], [pre + "/silu"]))
                last = pre + "/silu"
            nodes.append(oh.make_node("Transpose", [last], [n.output[0]], perm=[0, 2, 3, 1]))
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    del m2.opset_import[:]
    m2.opset_import.extend([oh.make_opsetid("", 21)])
    m2.ir_version = 10
    onnx.checker.check_model(m2, full_check=True)
    return m2


def make_groupnorm_forms(root):
    name = GROUPNORM
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    print(f"{name}:")
    seed = 1006
    torch.manual_seed(seed)
    model = GroupNormNet().eval()
    notes = ["input x only (no time input)"]
    perturb_norms(model, seed + 1)
    notes.append("GroupNorm given non-identity affine parameters (1+0.1N, 0.1N)")
    x, _ = make_inputs((3, 16, 16), seed, [0], np.int64)
    feeds = {"x": x}
    y_torch = torch_run(model, feeds, ["x"])
    y_torch_1 = torch_run(model, {"x": x[:1]}, ["x"])
    save_npy(out / "x.npy", x)
    save_npy(out / "y.torch.npy", y_torch)
    params = sum(p.numel() for p in model.parameters())

    files = {}
    # (a) TorchScript exporter, opset 17: Reshape -> InstanceNormalization -> Reshape -> Mul -> Add
    p_in = out / "instancenorm.onnx"
    export_torchscript(model, (torch.from_numpy(x),), p_in, ["x"])
    src = onnx.load(str(p_in))
    # (b) standard GroupNormalization-21
    gn_model, pat = groupnormalization_model(src)
    p_gn = out / "groupnormalization.onnx"
    onnx.save(gn_model, str(p_gn))
    # (c) com.microsoft GroupNorm (NHWC) between Transposes
    cg_model, _ = contrib_groupnorm_model(src)
    p_cg = out / "contrib_groupnorm.onnx"
    onnx.save(cg_model, str(p_cg))

    forms = [
        ("instancenorm", p_in, "TorchScript exporter (dynamo=False), opset 17: "
                               "Reshape -> InstanceNormalization -> Reshape -> Mul -> Add"),
        ("groupnormalization", p_gn, "graph surgery on instancenorm.onnx: ONNX GroupNormalization "
                                     "(opset 21, per-channel scale/bias [16], num_groups 4)"),
        ("contrib_groupnorm", p_cg, "graph surgery on instancenorm.onnx: Transpose(0,2,3,1) -> "
                                    "com.microsoft GroupNorm (channels_last=1, activation=1 i.e. "
                                    "SiLU fused, groups 4) -> Transpose(0,3,1,2)"),
    ]
    for form, path, how in forms:
        entry = {"how": how}
        try:
            y = ort_run(path, feeds)
            entry.update(compare(path.name, y, y_torch))
            compare(path.name + " (batch 1)", ort_run(path, {"x": x[:1]}), y_torch_1)
            entry["checked_batch_sizes"] = [BATCH, 1]
            entry["expected_output_from"] = "onnxruntime"
        except SystemExit:
            raise
        except Exception as e:  # noqa: BLE001 - ORT may lack the op on CPU
            msg = (f"{path.name}: onnxruntime {ort.__version__} CPUExecutionProvider cannot run it "
                   f"({type(e).__name__}: {str(e).strip().splitlines()[0][:240]}); "
                   f"y.{form}.npy is the PyTorch eager output instead")
            print("  " + msg)
            notes.append(msg)
            y = y_torch
            entry["expected_output_from"] = "pytorch eager (ORT CPU cannot run this file)"
            if form == "contrib_groupnorm":
                # Check everything but the contrib kernel: same file with the GroupNorm node
                # swapped for its standard-op equivalent must match torch.
                tmp = out / "_contrib_check.onnx"
                onnx.save(contrib_as_standard(onnx.load(str(path))), str(tmp))
                try:
                    check = compare(path.name + " (GroupNorm node as standard ops)",
                                    ort_run(tmp, feeds), y_torch)
                finally:
                    tmp.unlink()
                entry["checked_with_standard_op_substitute"] = check
                notes.append("contrib_groupnorm.onnx was checked in ORT by swapping only its "
                             "com.microsoft GroupNorm node for Transpose -> GroupNormalization-21 "
                             "-> Sigmoid/Mul -> Transpose (relative error in files entry)")
        save_npy(out / f"y.{form}.npy", y)
        entry["output_npy"] = f"y.{form}.npy"
        entry.update(describe_onnx(path))
        files[path.name] = entry

    meta = {
        "model": name,
        "description": "conv 3->16 3x3 -> GroupNorm(4 groups, 16 channels, eps 1e-5) -> SiLU -> "
                       "conv 16->3 3x3, in three GroupNorm encodings",
        "seed": seed,
        "inputs": {"x": {"shape": list(x.shape), "dtype": str(x.dtype), "npy": "x.npy"}},
        "time_dtype": None,
        "output": {"shape": list(y_torch.shape), "dtype": str(y_torch.dtype), "torch_npy": "y.torch.npy"},
        "groupnorm": {"groups": pat["groups"], "channels": 16, "epsilon": pat["eps"]},
        "parameter_count": params,
        "tolerance": f"max|ORT - torch| / max|torch| < {TOLERANCE}",
        "files": files,
        "notes": notes,
    }
    write_json(out / "meta.json", meta)


# ---------------------------------------------------------------------------------------------

def ensure_gitignore():
    gi = REPO / ".gitignore"
    lines = gi.read_text().splitlines() if gi.exists() else []
    if "benchmarks/models/" not in lines:
        text = gi.read_text() if gi.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        gi.write_text(text + "benchmarks/models/\n")


EXTERNAL = "external_data"


def make_external_data(root):
    """external_data/: groupnorm_forms/instancenorm.onnx with its initializers moved to an external
    file, for the importer's external-data path and its confinement to the model's folder:
      inside.onnx     weights in instancenorm.weights next to it (valid; same output as the inline file)
      escaping.onnx   the first external tensor's location is ../outside.weights (must be refused)
      missing.onnx    the first external tensor's location names a file that does not exist
    Expected outputs: use groupnorm_forms/x.npy and y.instancenorm.npy."""
    from onnx.external_data_helper import convert_model_to_external_data
    src = root / GROUPNORM / "instancenorm.onnx"
    out = root.parent / EXTERNAL
    out.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(src))
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="instancenorm.weights",
                                   size_threshold=64)
    onnx.save_model(model, str(out / "inside.onnx"))
    for name, location in [("escaping.onnx", "../outside.weights"), ("missing.onnx", "nothere.weights")]:
        bad = onnx.load(str(out / "inside.onnx"), load_external_data=False)
        for t in bad.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                for e in t.external_data:
                    if e.key == "location":
                        e.value = location
                break
        onnx.save_model(bad, str(out / name), save_as_external_data=False)
    print(f"  {EXTERNAL}: inside.onnx (+ instancenorm.weights), escaping.onnx, missing.onnx")


def main():
    small = [n for n, s in MODELS.items() if not s.get("large")] + [GROUPNORM, EXTERNAL]
    large = [n for n, s in MODELS.items() if s.get("large")]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="models to make (default: all small ones, or all "
                                              "large ones with --large)")
    ap.add_argument("--large", action="store_true",
                    help=f"make the large benchmark models ({', '.join(large)}) in {BENCH.relative_to(REPO)}/")
    ap.add_argument("--list", action="store_true", help="print model names")
    a = ap.parse_args()
    if a.list:
        print("small:", " ".join(small))
        print("large:", " ".join(large))
        return
    names = a.names or (large if a.large else small)
    unknown = [n for n in names if n not in small + large]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {small + large}")

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    vers = versions()
    print(json.dumps(vers))
    if any(n in small for n in names):
        FIXTURES.mkdir(parents=True, exist_ok=True)
        write_json(FIXTURES / "versions.json", vers)
    if any(n in large for n in names):
        BENCH.mkdir(parents=True, exist_ok=True)
        ensure_gitignore()
        write_json(BENCH / "versions.json", vers)
    for n in names:
        if n == GROUPNORM:
            make_groupnorm_forms(FIXTURES)
        elif n == EXTERNAL:
            make_external_data(FIXTURES)
        elif n in large:
            make_model(n, BENCH, large=True)
        else:
            make_model(n, FIXTURES)


if __name__ == "__main__":
    main()
