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
The block-type and option fixtures below (NEW_FIXTURES) are small (8x8 samples, 4-32 channels)
and take their inputs from the config: x.npy [2, C, H, W], t.npy [2] (int64; float32 noise levels
for fourier), class_labels.npy when the model is class-conditional (int64 [2] for a
num_class_embeds table, float32 [2] for class_embed_type "timestep", float32 [2, time_embed_dim]
for "identity"). Their weights are stored as fp16 (as diffusers' fp16 variants are; small files) and
y is the float32 forward of exactly those rounded weights. `onnx` fixtures are also exported with both
PyTorch exporters, <name>.ts.onnx (dynamo=False, opset 17) and <name>.dynamo.onnx (dynamo=True),
inputs named like the .npy files, weights inline, per-node metadata, doc strings and value_info
dropped and intermediate names shortened (size; `compact`),
checked with onnxruntime against y.npy at 1e-4 (relative to max|y|); onnx.json records each file's
op types and error.
  resnet_updown     ResnetDownsampleBlock2D/ResnetUpsampleBlock2D, AttnDown/AttnUp with
                    downsample_type/upsample_type "resnet" (AvgPool2d and nearest ResNet resampling),
                    act_fn swish, time_embedding_dim, attn_norm_num_groups, mid_block_scale_factor,
                    dropout (ignored)                                                   [onnx]
  skip              SkipDownBlock2D/SkipUpBlock2D on 3 levels: FIR up/downsampling, the skip-sample
                    paths, the final skip add; norm_num_groups null                     [onnx]
  attn_skip         AttnSkipDownBlock2D/AttnSkipUpBlock2D on one level (their attention norms have
                    32 groups, so 32 channels; AttnSkipUpBlock2D's min(in + skip // 4, 32) groups);
                    no mid block. Their skip paths are SkipDown/SkipUp's, checked by `skip`
  class_table       num_class_embeds 10 (nn.Embedding), center_input_sample, act_fn gelu
  class_timestep    class_embed_type "timestep" (float labels), flip_sin_to_cos false, freq_shift 1,
                    act_fn relu, add_attention false, odd block_out_channels[0] (9: the sinusoidal
                    embedding's zero column)
  class_identity    class_embed_type "identity", resnet_time_scale_shift scale_shift, mid
                    attention without group norm, attention_head_dim null, act_fn mish
  fourier           time_embedding_type fourier (float noise levels), scale_shift, and a
                    num_class_embeds table (the class-conditional ONNX export)           [onnx]
  learned           time_embedding_type learned (num_train_timesteps 1000), class_embed_type
                    "timestep" through the same table, no mid block, layers_per_block 2,
                    sample_size [8, 16], UNetRes-prefixed block names
  k_blocks          KDownBlock2D/KUpBlock2D (AdaGroupNorm ResNets, K resamplers), no mid block

    /work/venv/bin/python scripts/make_diffusers_fixtures.py                 # every fixture
    /work/venv/bin/python scripts/make_diffusers_fixtures.py skip fourier    # only these
Needs torch (CPU wheel), diffusers, safetensors, numpy; onnx, onnxruntime and onnxscript for the
ONNX files. Versions of the last run: versions.json.
"""
import json, os, pathlib, sys
import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_support import save_npy  # noqa: E402

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


SMALL = dict(sample_size=8, layers_per_block=1, attention_head_dim=4, norm_num_groups=4, time_embedding_dim=16)
TINY = dict(SMALL, attention_head_dim=2, norm_num_groups=2, time_embedding_dim=8)  # the ONNX fixtures: 4 channels
NEW_FIXTURES = {
    "resnet_updown": dict(onnx=True, config=dict(TINY, in_channels=2, out_channels=2, block_out_channels=(4, 4, 4),
        down_block_types=("ResnetDownsampleBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D"),
        downsample_type="resnet", upsample_type="resnet", act_fn="swish", attn_norm_num_groups=1,
        mid_block_scale_factor=1.5, dropout=0.1)),
    "skip": dict(onnx=True, config=dict(TINY, in_channels=3, out_channels=3, block_out_channels=(4, 4, 4),
        down_block_types=("SkipDownBlock2D",) * 3, up_block_types=("SkipUpBlock2D",) * 3, norm_num_groups=None)),
    "attn_skip": dict(config=dict(SMALL, in_channels=3, out_channels=3, block_out_channels=(32,),
        down_block_types=("AttnSkipDownBlock2D",), up_block_types=("AttnSkipUpBlock2D",),
        attention_head_dim=16, norm_num_groups=None, mid_block_type=None)),
    "class_table": dict(labels=np.array([3, 7], dtype=np.int64), config=dict(SMALL, in_channels=1, out_channels=1,
        block_out_channels=(8, 8), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), num_class_embeds=10, center_input_sample=True, act_fn="gelu")),
    "class_timestep": dict(labels=np.array([2.5, 400.0], dtype=np.float32), config=dict(SMALL, in_channels=1,
        out_channels=1, block_out_channels=(9, 9), norm_num_groups=3, attention_head_dim=3,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), class_embed_type="timestep", flip_sin_to_cos=False, freq_shift=1,
        act_fn="relu", add_attention=False)),
    "class_identity": dict(labels="identity", config=dict(SMALL, in_channels=1, out_channels=1,
        block_out_channels=(8, 8), down_block_types=("AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D"), class_embed_type="identity", resnet_time_scale_shift="scale_shift",
        attention_head_dim=None, time_embedding_dim=12, act_fn="mish")),
    "fourier": dict(onnx=True, t=np.array([0.37, 12.5], dtype=np.float32), labels=np.array([1, 4], dtype=np.int64),
        config=dict(TINY, in_channels=1, out_channels=1, block_out_channels=(4, 4), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), time_embedding_type="fourier", resnet_time_scale_shift="scale_shift",
        num_class_embeds=5)),
    "learned": dict(labels=np.array([4.0, 999.0], dtype=np.float32), config=dict(SMALL, sample_size=(8, 16),
        in_channels=1, out_channels=1, layers_per_block=2, block_out_channels=(8, 8),
        down_block_types=("UNetResDownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UNetResUpBlock2D"),
        time_embedding_type="learned", num_train_timesteps=1000, class_embed_type="timestep", mid_block_type=None,
        time_embedding_dim=None)),
    "k_blocks": dict(config=dict(SMALL, in_channels=1, out_channels=1, block_out_channels=(32, 32),
        down_block_types=("KDownBlock2D",) * 2, up_block_types=("KUpBlock2D",) * 2, mid_block_type=None)),
}


class WithClassLabels(torch.nn.Module):
    """forward(x, t, class_labels) -> UNet2DModel(...).sample, for the ONNX exporters."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t, class_labels):
        return self.unet(x, t, class_labels, return_dict=False)[0]


class WithoutClassLabels(torch.nn.Module):
    """forward(x, t) -> UNet2DModel(x, t).sample, for the ONNX exporters."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        return self.unet(x, t, return_dict=False)[0]


def make_new(name, spec, seed):
    config = spec["config"]
    torch.manual_seed(seed)
    model = UNet2DModel(**config).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm) and m.affine:
                m.weight.add_(0.1 * torch.randn_like(m.weight)); m.bias.add_(0.1 * torch.randn_like(m.bias))
        for p in model.parameters():  # fp16-representable, so the fp16 file holds exactly these
            p.copy_(p.half().float())
    folder = ROOT / name
    folder.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(folder, safe_serialization=True)
    model.float()
    size = config["sample_size"]
    h, w = size if isinstance(size, tuple) else (size, size)
    rng = np.random.default_rng(seed)
    feeds = {"x": rng.standard_normal((2, config["in_channels"], h, w), dtype=np.float32),
             "t": spec.get("t", np.array([10, 873], dtype=np.int64))}
    labels = spec.get("labels")
    if isinstance(labels, str):  # identity: the embedding itself
        labels = rng.standard_normal((2, model.time_embedding.linear_2.out_features), dtype=np.float32)
    if labels is not None:
        feeds["class_labels"] = labels
    names = list(feeds)
    # denoise's class input for class_embed_type "timestep" is float32 [batch]; with a learned time
    # embedding diffusers looks the labels up in its nn.Embedding, which takes them as int64.
    torch_feeds = dict(feeds)
    if config.get("time_embedding_type") == "learned" and labels is not None:
        torch_feeds["class_labels"] = labels.astype(np.int64)
    with torch.no_grad():
        y = model(*(torch.from_numpy(torch_feeds[n]) for n in names)).sample.numpy()
    for n in names:
        save_npy(folder / f"{n}.npy", feeds[n])
    save_npy(folder / "y.npy", y)
    if spec.get("onnx"):
        export_onnx(name, model, feeds, names, y, folder)


def compact(path):
    """Makes an exported file small without changing its graph: drops per-node metadata_props and
    doc strings (the dynamo exporter's source locations and FX names) and value_info, and renames intermediate
    values and nodes to short names (`v12`, `n7`; the TorchScript exporter's module paths are most of
    its file). Graph inputs, outputs, initializers, ops, attributes and weights are untouched."""
    import onnx
    model = onnx.load(str(path))
    g = model.graph
    keep = {v.name for v in g.input} | {v.name for v in g.output} | {t.name for t in g.initializer}
    renamed = {}
    for i, n in enumerate(g.node):
        del n.metadata_props[:]
        n.doc_string = ""
        n.name = f"n{i}"
        for k, out in enumerate(n.output):
            if out and out not in keep:
                renamed[out] = n.output[k] = f"v{len(renamed)}"
        for k, inp in enumerate(n.input):
            n.input[k] = renamed.get(inp, inp)
    del g.value_info[:]  # intermediate shape annotations: optional, and the importer infers shapes
    g.doc_string = ""
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_onnx(name, model, feeds, names, y, folder):
    """<name>.ts.onnx and <name>.dynamo.onnx, each checked with onnxruntime against y; onnx.json."""
    import onnx
    import make_onnx_fixtures as mo
    wrapper = (WithClassLabels if "class_labels" in names else WithoutClassLabels)(model).eval()
    args = tuple(torch.from_numpy(feeds[n]) for n in names)
    files = {}
    for kind in ("ts", "dynamo"):
        path = folder / f"{name}.{kind}.onnx"
        note = None
        if kind == "ts":
            mo.export_torchscript(wrapper, args, path, names)
        else:
            _, note = mo.export_dynamo(wrapper, args, path, names)
        compact(path)
        entry = mo.compare(path.name, mo.ort_run(path, feeds), y)
        graph = onnx.load(str(path)).graph
        entry["op_types"] = sorted({n.op_type for n in mo.all_nodes(graph)})
        entry["opset"] = next(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))
        if note:
            entry["note"] = note
        files[path.name] = entry
    (folder / "onnx.json").write_text(json.dumps({"inputs": names, "versions": mo.versions(), "files": files}, indent=1) + "\n")


def make_bin():
    """small_plain as a .bin folder, from the committed safetensors (so the two hold the same weights)."""
    model = UNet2DModel.from_pretrained(ROOT / "small_plain").eval()
    folder = ROOT / "small_plain_bin"
    model.save_pretrained(folder, safe_serialization=False)
    (folder / "config.json").write_bytes((ROOT / "small_plain" / "config.json").read_bytes())  # no local _name_or_path
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "diffusion_pytorch_model.bin"]
    print("wrote small_plain_bin")


def main():
    wanted = set(sys.argv[1:])
    if wanted == {"small_plain_bin"}:
        make_bin()
        return
    known = set(CONFIGS) | {"legacy_attention", "small_plain_bin"} | set(NEW_FIXTURES)
    if wanted - known:
        raise SystemExit(f"unknown fixtures {sorted(wanted - known)}; known: {sorted(known)}")
    ROOT.mkdir(parents=True, exist_ok=True)
    for i, (name, spec) in enumerate(NEW_FIXTURES.items()):
        if not wanted or name in wanted:
            make_new(name, spec, 200 + i)
            print("wrote", name)
    if wanted and not wanted & (set(CONFIGS) | {"legacy_attention"}):
        return
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
