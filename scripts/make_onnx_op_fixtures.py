#!/usr/bin/env python3
"""ONNX op-family fixtures for denoise's importer: the one committed script that makes them.

Run from the repository root (about half a minute):

    /work/venv/bin/python scripts/make_onnx_op_fixtures.py          # every fixture
    /work/venv/bin/python scripts/make_onnx_op_fixtures.py pools    # only the named ones
    /work/venv/bin/python scripts/make_onnx_op_fixtures.py --list

Last run with: Python 3.11.7, torch 2.13.0+cpu, onnx 1.23.2, onnxruntime 1.32.0, onnxscript 0.7.2,
numpy 2.4.6 (every run writes them to versions.json in the output folder; update this line when
you regenerate).

Each fixture is a tiny module around one op family, with a trainable conv in front so that
fine-tuning has gradients to find. Files go to Tests/GraphTests/Fixtures/onnx_ops/<model>/:
    <model>.ts.onnx       TorchScript exporter (dynamo=False), opset 17, dynamic batch
    <model>.dynamo.onnx   torch.export-based exporter (dynamo=True), its default opset, dynamic
                          batch unless meta.json's notes say it fell back to a static one
    x.npy                 float32 [2, C, H, W] input, standard normal (numpy PCG64, fixed seed)
    y.torch.npy           PyTorch eager output
    y.<variant>.npy       onnxruntime's output (CPUExecutionProvider, 1 thread) for each file
    meta.json             opset, node count and op-type histogram of each file, notes
A model one exporter refuses (the TorchScript exporter has no `nearest-exact`) has only the other
file; meta.json's notes say why. The script fails loudly unless onnxruntime matches PyTorch within
max|ORT - torch| / max|torch| < 1e-4 for every exported file.

Hand-made fixtures (onnx.helper, no PyTorch; x.npy and y.<variant>.npy only) cover what PyTorch
never exports: ConvTranspose's output_shape and auto_pad, Conv's SAME auto_pad, and Resize at
ONNX's other sampling positions (nearest with half_pixel / align_corners / pytorch_half_pixel and
ceil or round-to-nearest, cubic and linear with pytorch_half_pixel). Their inputs state
fixed shapes, which is what lets the importer compute the pads.

Determinism: modules are built after torch.manual_seed(fixed per model), inputs come from a
fixed numpy seed; a rerun with the same versions writes the same tensors.
"""

import argparse
import json
import os
import platform
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_support import package_version, save_npy  # noqa: E402
from make_onnx_fixtures import export_dynamo, export_torchscript, ort_run  # noqa: E402
import onnx  # noqa: E402
import onnx.helper as oh  # noqa: E402
import onnx.numpy_helper as onh  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "GraphTests" / "Fixtures" / "onnx_ops"
TOLERANCE = 1e-4
BATCH = 2

warnings.filterwarnings("ignore")


# ---------------------------------------------------------------------------------------------
# Modules: one per op family
# ---------------------------------------------------------------------------------------------

class Pools(nn.Module):
    """AveragePool / MaxPool in floor and ceil mode, padding, dilation, count_include_pad both
    ways, and the global pools (GlobalAveragePool / GlobalMaxPool, or reductions)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.avg_ceil = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
        self.max_ceil = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.avg2 = nn.AvgPool2d(2, ceil_mode=True)                 # count_include_pad=True
        self.max_dilated = nn.MaxPool2d(2, 2, padding=1, dilation=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.gmp = nn.AdaptiveMaxPool2d(1)

    def forward(self, x):                                           # [N, 3, 7, 9]
        h = self.conv(x)                                            # [N, 4, 7, 9]
        p = self.avg_ceil(h) + self.max_ceil(h) + self.avg2(h) + self.max_dilated(h)  # [N, 4, 4, 5]
        return p * torch.sigmoid(self.gap(h)) + self.gmp(h)         # [N, 4, 4, 5]


class Activations(nn.Module):
    """Every activation a conv U-Net uses, each on the same features, concatenated."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.acts = nn.ModuleList([
            nn.LeakyReLU(0.2), nn.LeakyReLU(), nn.ELU(0.5), nn.CELU(0.7), nn.SELU(), nn.Hardsigmoid(),
            nn.Hardswish(), nn.Mish(), nn.Softplus(), nn.Softplus(beta=2),
            nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(),
        ])

    def forward(self, x):                                           # [N, 3, 5, 6]
        h = self.conv(x) * 3                                        # [N, 2, 5, 6], spread past the kinks
        return torch.cat([a(h) for a in self.acts], 1)              # [N, 26, 5, 6]


class Resizes(nn.Module):
    """F.interpolate in every mode PyTorch exports as Resize: nearest, bilinear and bicubic, by
    scale factor and by size, up and down, with and without aligned corners."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):                                           # [N, 3, 5, 7]
        h = self.conv(x)                                            # [N, 2, 5, 7]
        outs = [
            F.interpolate(h, scale_factor=2, mode="nearest"),
            F.interpolate(h, size=(11, 13), mode="nearest"),
            F.interpolate(h, size=(3, 4), mode="nearest"),
            F.interpolate(h, scale_factor=2, mode="bilinear"),
            F.interpolate(h, scale_factor=1.5, mode="bilinear"),
            F.interpolate(h, size=(11, 13), mode="bilinear", align_corners=True),
            F.interpolate(h, size=(3, 4), mode="bilinear"),
            F.interpolate(h, scale_factor=2, mode="bicubic"),
            F.interpolate(h, size=(11, 13), mode="bicubic", align_corners=True),
            F.interpolate(h, size=(3, 4), mode="bicubic"),
        ]
        return torch.cat([o.flatten(1) for o in outs], 1)           # [N, Σ 2·OH·OW]


class NearestExact(nn.Module):
    """F.interpolate(mode="nearest-exact"): the TorchScript exporter refuses it; the dynamo
    exporter writes a GatherND with a constant index table."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):                                           # [N, 3, 5, 7]
        h = self.conv(x)                                            # [N, 2, 5, 7]
        up = F.interpolate(h, size=(11, 13), mode="nearest-exact")  # [N, 2, 11, 13]
        down = F.interpolate(h, size=(3, 4), mode="nearest-exact")  # [N, 2, 3, 4]
        return torch.cat([up.flatten(1), down.flatten(1)], 1)       # [N, 310]


class ConvTransposes(nn.Module):
    """ConvTranspose with output_padding, stride, dilation and groups."""

    def __init__(self):
        super().__init__()
        self.a = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.b = nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1)
        self.c = nn.ConvTranspose2d(3, 3, 3, stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2), groups=3)

    def forward(self, x):                                           # [N, 3, 5, 7]
        y = self.a(x) + self.b(x)                                   # [N, 4, 10, 14]
        return torch.cat([y.flatten(1), self.c(x).flatten(1)], 1)   # [N, 560 + 3·10·23]


class Expands(nn.Module):
    """expand with -1 (the TorchScript exporter's Where/Equal pattern), expand_as, and a
    parameter expanded over the batch."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.scale = nn.Parameter(torch.randn(1, 4, 1, 1))

    def forward(self, x):                                           # [N, 3, 5, 7]
        h = self.conv(x)                                            # [N, 4, 5, 7]
        a = h[:, :1].expand(-1, 4, -1, -1)                          # [N, 4, 5, 7]
        m = h.mean(dim=3, keepdim=True).expand_as(h)                # [N, 4, 5, 7]
        s = self.scale.expand(h.shape[0], -1, -1, -1)               # [N, 4, 1, 1]
        return a + m * s


MODELS = {
    "pools": (Pools, (3, 7, 9)),
    "activations": (Activations, (3, 5, 6)),
    "resizes": (Resizes, (3, 5, 7)),
    "nearest_exact": (NearestExact, (3, 5, 7)),
    "convtranspose": (ConvTransposes, (3, 5, 7)),
    "expands": (Expands, (3, 5, 7)),
}


# ---------------------------------------------------------------------------------------------
# Hand-made graphs: padding PyTorch never exports
# ---------------------------------------------------------------------------------------------

def handmade_conv(op_type, variants, x_shape, w_shape, seed):
    """One single-node model per variant (attributes), all reading x with a fixed shape."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(w_shape) * 0.3).astype(np.float32)
    b = (rng.standard_normal(w_shape[1] if op_type == "ConvTranspose" else w_shape[0]) * 0.1).astype(np.float32)
    models = {}
    for name, attributes in variants.items():
        node = oh.make_node(op_type, ["x", "w", "b"], ["y"], name=f"{op_type.lower()}_{name}", **attributes)
        graph = oh.make_graph([node], name, [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x_shape))],
                              [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                              initializer=[onh.from_array(w, "w"), onh.from_array(b, "b")])
        model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], producer_name="make_onnx_op_fixtures.py")
        models[name] = model
    return models


def handmade_resize(variants, x_shape, seed):
    """Conv (so fine-tuning has a parameter) then one Resize per variant: (attributes, scales or None,
    sizes or None)."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((2, x_shape[1], 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(2) * 0.1).astype(np.float32)
    models = {}
    for name, (attributes, scales, sizes) in variants.items():
        initializers = [onh.from_array(w, "w"), onh.from_array(b, "b")]
        inputs = ["h", ""]
        if scales is not None:
            initializers.append(onh.from_array(np.array(scales, np.float32), "scales"))
            inputs.append("scales")
        else:
            initializers.append(onh.from_array(np.array(sizes, np.int64), "sizes"))
            inputs += ["", "sizes"]
        nodes = [oh.make_node("Conv", ["x", "w", "b"], ["h"], name="conv", pads=[1, 1, 1, 1]),
                 oh.make_node("Resize", inputs, ["y"], name=f"resize_{name}", **attributes)]
        graph = oh.make_graph(nodes, name, [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x_shape))],
                              [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], initializer=initializers)
        models[name] = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], producer_name="make_onnx_op_fixtures.py")
    return models


HANDMADE = {
    # ConvTranspose, stride 2, kernel 3 on 5x7: the natural output is 11x15.
    "convtranspose_output_shape": lambda: handmade_conv("ConvTranspose", {
        "output_shape": dict(strides=[2, 2], output_shape=[10, 14]),          # total padding 1: 1 before
        "same_upper": dict(strides=[2, 2], auto_pad="SAME_UPPER"),            # 10x14, 1 after
        "same_lower": dict(strides=[2, 2], auto_pad="SAME_LOWER"),            # 10x14, 1 before
        "beyond": dict(strides=[2, 3], output_shape=[12, 21]),                # past the last tap: output padding
    }, (BATCH, 3, 5, 7), (3, 4, 3, 3), seed=21),
    # Resize at ONNX's other sampling positions (onnxruntime's defaults, TensorFlow-style exports).
    "resize_onnx_modes": lambda: handmade_resize({
        "defaults": ({}, None, [BATCH, 2, 11, 13]),                                   # nearest, half_pixel, round_prefer_floor
        "half_pixel_ceil": (dict(mode="nearest", nearest_mode="round_prefer_ceil"), [1, 1, 0.5, 0.5], None),
        "asymmetric_ceil": (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="ceil"), None, [BATCH, 2, 3, 4]),
        "align_corners_round": (dict(mode="nearest", coordinate_transformation_mode="align_corners"), None, [BATCH, 2, 9, 13]),
        "pytorch_half_pixel_floor": (dict(mode="nearest", coordinate_transformation_mode="pytorch_half_pixel", nearest_mode="floor"),
                                     None, [BATCH, 2, 1, 10]),
        "cubic_pytorch_half_pixel": (dict(mode="cubic", coordinate_transformation_mode="pytorch_half_pixel"), None, [BATCH, 2, 8, 10]),
        "linear_pytorch_half_pixel": (dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"), [1, 1, 1.5, 2], None),
    }, (BATCH, 3, 5, 7), seed=23),
    "conv_same": lambda: handmade_conv("Conv", {
        "same_upper": dict(strides=[2, 2], auto_pad="SAME_UPPER"),
        "same_lower": dict(strides=[2, 1], auto_pad="SAME_LOWER"),  # onnxruntime refuses dilation with SAME
    }, (BATCH, 3, 5, 7), (4, 3, 4, 3), seed=22),
}


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------

def describe(path):
    model = onnx.load(str(path))
    ops = Counter(n.op_type for n in model.graph.node)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"opset": opset, "nodes": len(model.graph.node), "op_types": dict(sorted(ops.items()))}


def relative_error(got, ref):
    if got.shape != ref.shape:
        raise SystemExit(f"shape {got.shape} != {ref.shape}")
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def make_model(name, out):
    cls, shape = MODELS[name]
    torch.manual_seed(sum(map(ord, name)))
    model = cls().eval()
    x = np.random.default_rng(sum(map(ord, name))).standard_normal((BATCH,) + shape).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        stale.unlink()
    save_npy(out / "x.npy", x)
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x)).numpy()
    save_npy(out / "y.torch.npy", y_torch)
    meta = {"input": list(x.shape), "output": list(y_torch.shape), "files": {}, "notes": []}
    args = (torch.from_numpy(x),)
    for variant, export in (("ts", lambda p: export_torchscript(model, args, p, ["x"])),
                            ("dynamo", lambda p: export_dynamo(model, args, p, ["x"]))):
        path = out / f"{name}.{variant}.onnx"
        try:
            result = export(path)
        except Exception as e:  # noqa: BLE001 - an exporter that refuses the model is recorded
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            meta["notes"].append(f"{variant}: the exporter refuses this model ({type(e).__name__}: {first})")
            print(f"  {name}.{variant}: refused ({type(e).__name__})")
            if path.exists():
                path.unlink()
            continue
        if variant == "dynamo" and result[1]:
            meta["notes"].append(result[1])
        y = ort_run(path, {"x": x})
        err = relative_error(y, y_torch)
        if err >= TOLERANCE:
            raise SystemExit(f"FAIL {name}.{variant}: onnxruntime vs torch {err:.2e}")
        save_npy(out / f"y.{variant}.npy", y.astype(np.float32))
        meta["files"][variant] = {**describe(path), "ort_vs_torch": err}
        print(f"  {name}.{variant}: {meta['files'][variant]['op_types']} ort vs torch {err:.1e}")
    if not meta["files"]:
        raise SystemExit(f"FAIL {name}: no exporter wrote it")
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def make_handmade(name, out):
    models = HANDMADE[name]()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        stale.unlink()
    x_shape = [d.dim_value for d in next(iter(models.values())).graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(sum(map(ord, name))).standard_normal(x_shape).astype(np.float32)
    save_npy(out / "x.npy", x)
    meta = {"input": x_shape, "files": {}, "notes": ["hand-made with onnx.helper: no PyTorch output"]}
    for variant, model in models.items():
        path = out / f"{name}.{variant}.onnx"
        onnx.save(model, str(path))
        y = ort_run(path, {"x": x})
        save_npy(out / f"y.{variant}.npy", y.astype(np.float32))
        meta["files"][variant] = {**describe(path), "output": list(y.shape),
                                  "attributes": {a.name: oh.get_attribute_value(a) if a.type != onnx.AttributeProto.STRING
                                                 else a.s.decode() for a in model.graph.node[0].attribute}}
        print(f"  {name}.{variant}: output {list(y.shape)}")
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def versions():
    return {
        "python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
        "onnxruntime": ort.__version__, "onnxscript": package_version("onnxscript"), "numpy": np.__version__,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="fixtures to make (default: all)")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    every = list(MODELS) + list(HANDMADE)
    if args.list:
        print("\n".join(every))
        return
    unknown = [n for n in args.names if n not in every]
    if unknown:
        raise SystemExit(f"unknown fixtures {unknown}; known: {every}")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name in args.names or every:
        print(name)
        (make_model if name in MODELS else make_handmade)(name, FIXTURES / name)
    (FIXTURES / "versions.json").write_text(json.dumps(versions(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
