#!/usr/bin/env python3
"""diffusers UNet2DModel folders for denoise's built-in U-Net: the one committed script that makes them.

    /work/venv/bin/python scripts/make_diffusers_fixtures.py

Writes Tests/DiffusionTests/Fixtures/diffusers/<name>/ with what `save_pretrained` writes
(config.json, diffusion_pytorch_model.safetensors) plus x.npy [2, C, H, W] float32, t.npy [2]
int64 and y.npy: the PyTorch forward (UNet2DModel(x, t).sample), eval mode, 1 thread. Norm layers
get non-trivial affine parameters so the test sees them. Configs:
  small_attention   2 levels (32, 64), AttnDownBlock2D/AttnUpBlock2D, mid attention, GroupNorm(8),
                    positional time embedding, flip_sin_to_cos, freq_shift 0, default time shift
  small_plain       3 levels (16, 32, 32), DownBlock2D/UpBlock2D only, layers_per_block 1,
                    resnet_time_scale_shift scale_shift, freq_shift 1, downsample_padding 0
  legacy_attention  small_attention's weights saved with the old attention names
                    (query/key/value/proj_attn), as older checkpoints ship them
  small_plain_bin   small_plain's committed weights re-saved with save_pretrained(...,
                    safe_serialization=False): config.json + diffusion_pytorch_model.bin (a torch.save'd
                    state dict) only; its inputs and expected output are small_plain's. Made alone by
                    `make_diffusers_fixtures.py small_plain_bin`.
Needs torch (CPU wheel), diffusers, safetensors, numpy. Versions of the last run: versions.json.
"""
import json, os, pathlib, sys
import numpy as np
import torch
from safetensors.torch import load_file, save_file

torch.set_num_threads(1)
ROOT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "DiffusionTests" / "Fixtures" / "diffusers"
from diffusers import UNet2DModel, __version__ as diffusers_version

CONFIGS = {
    "small_attention": dict(sample_size=16, in_channels=3, out_channels=3, layers_per_block=1,
                            block_out_channels=(32, 64), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                            up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8,
                            flip_sin_to_cos=True, freq_shift=0),
    "small_plain": dict(sample_size=16, in_channels=1, out_channels=1, layers_per_block=1,
                        block_out_channels=(16, 32, 32), down_block_types=("DownBlock2D",) * 3,
                        up_block_types=("UpBlock2D",) * 3, norm_num_groups=8, resnet_time_scale_shift="scale_shift",
                        flip_sin_to_cos=False, freq_shift=1, downsample_padding=0, add_attention=False),
}


def make(name, config, seed):
    torch.manual_seed(seed)
    model = UNet2DModel(**config).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm) and m.affine:
                m.weight.add_(0.1 * torch.randn_like(m.weight)); m.bias.add_(0.1 * torch.randn_like(m.bias))
    folder = ROOT / name
    model.save_pretrained(folder, safe_serialization=True)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, config["in_channels"], 16, 16), dtype=np.float32)
    t = np.array([10, 873], dtype=np.int64)
    with torch.no_grad():
        y = model(torch.from_numpy(x), torch.from_numpy(t)).sample.numpy()
    np.save(folder / "x.npy", x); np.save(folder / "t.npy", t); np.save(folder / "y.npy", y)
    return model, folder


def make_bin():
    """small_plain as a .bin folder, from the committed safetensors (so the two hold the same weights)."""
    model = UNet2DModel.from_pretrained(ROOT / "small_plain").eval()
    folder = ROOT / "small_plain_bin"
    model.save_pretrained(folder, safe_serialization=False)
    (folder / "config.json").write_bytes((ROOT / "small_plain" / "config.json").read_bytes())  # no local _name_or_path
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "diffusion_pytorch_model.bin"]
    print("wrote small_plain_bin")


def main():
    if sys.argv[1:] == ["small_plain_bin"]:
        make_bin()
        return
    ROOT.mkdir(parents=True, exist_ok=True)
    for i, (name, config) in enumerate(CONFIGS.items()):
        make(name, config, 100 + i)
        print("wrote", name)
    # The same weights under the legacy attention names.
    src, dst = ROOT / "small_attention", ROOT / "legacy_attention"
    dst.mkdir(exist_ok=True)
    renames = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    weights = load_file(src / "diffusion_pytorch_model.safetensors")
    legacy = {}
    for k, v in weights.items():
        for new, old in renames.items():
            if f".attentions." in k and f".{new}." in k:
                k = k.replace(f".{new}.", f".{old}.")
        legacy[k] = v
    save_file(legacy, dst / "diffusion_pytorch_model.safetensors")
    for f in ["config.json", "x.npy", "t.npy", "y.npy"]:
        (dst / f).write_bytes((src / f).read_bytes())
    (ROOT / "versions.json").write_text(json.dumps({"torch": torch.__version__, "diffusers": diffusers_version,
                                                    "numpy": np.__version__, "python": sys.version.split()[0]}, indent=1))
    print("wrote legacy_attention")
    make_bin()


if __name__ == "__main__":
    main()
