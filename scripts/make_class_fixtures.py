#!/usr/bin/env python3
"""A class-conditional diffusers UNet2DModel as ONNX, for class-conditional generation tests.

    /work/venv/bin/python scripts/make_class_fixtures.py

Writes Tests/GraphTests/Fixtures/onnx/diffusers_class_cond/:
  diffusers_class_cond.ts.onnx      torch.onnx.export(dynamo=False), inputs x [batch, 1, 8, 8] float32,
                                    t [batch] int64, class_labels [batch] int64; output y
  diffusers_class_cond.dynamo.onnx  torch.onnx.export(dynamo=True), the same
  x.npy t.npy class_labels.npy      inputs (named as the graph's inputs, as ONNXParityTests feeds them)
  y.torch.npy                       the PyTorch forward (UNet2DModel(x, t, class_labels).sample)
  y.ts.npy y.dynamo.npy             onnxruntime's output of each file
  versions.json
UNet2DModel: sample_size 8, 1 channel, block_out_channels (8, 16), DownBlock2D/UpBlock2D,
num_class_embeds 4 (class_embed_type None: an nn.Embedding added to the time embedding),
norm_num_groups 4, no attention. Needs torch (CPU wheel), diffusers, onnx, onnxruntime, numpy.
"""
import json, pathlib, sys
import numpy as np
import torch
import onnx, onnxruntime as ort
from diffusers import UNet2DModel, __version__ as diffusers_version

torch.set_num_threads(1)
OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "GraphTests" / "Fixtures" / "onnx" / "diffusers_class_cond"
OUT.mkdir(parents=True, exist_ok=True)


class Wrapped(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t, class_labels):
        return self.unet(x, t, class_labels=class_labels, return_dict=False)[0]


torch.manual_seed(7)
unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                   down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                   norm_num_groups=4, add_attention=False, num_class_embeds=4).eval()
with torch.no_grad():  # a class embedding big enough that the class visibly changes the output
    unet.class_embedding.weight.mul_(3.0)
model = Wrapped(unet).eval()
rng = np.random.default_rng(7)
x = rng.standard_normal((3, 1, 8, 8), dtype=np.float32)
t = np.array([10, 500, 873], dtype=np.int64)
c = np.array([0, 3, 1], dtype=np.int64)
with torch.no_grad():
    y = model(torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(c)).numpy()
args = (torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(c))
names = ["x", "t", "class_labels"]
so = ort.SessionOptions(); so.intra_op_num_threads = 1
diffs = {}
for variant in ["ts", "dynamo"]:
    path = OUT / f"diffusers_class_cond.{variant}.onnx"
    if variant == "ts":
        torch.onnx.export(model, args, str(path), dynamo=False, opset_version=17, input_names=names, output_names=["y"],
                          dynamic_axes={n: {0: "batch"} for n in names + ["y"]})
    else:
        batch = torch.export.Dim("batch", min=1, max=64)
        torch.onnx.export(model, args, str(path), dynamo=True, external_data=False, input_names=names, output_names=["y"],
                          dynamic_shapes=tuple({0: batch} for _ in args))
        onnx.save(onnx.load(str(path), load_external_data=True), str(path), save_as_external_data=False)
        for stray in OUT.glob(path.name + ".*"):
            stray.unlink()
    ref = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"x": x, "t": t, "class_labels": c})[0]
    diffs[variant] = float(np.max(np.abs(ref - y)) / np.max(np.abs(y)))
    assert diffs[variant] < 1e-4, (variant, diffs[variant])
    np.save(OUT / f"y.{variant}.npy", ref)
for name, a in dict(x=x, t=t, class_labels=c).items():
    np.save(OUT / f"{name}.npy", a)
np.save(OUT / "y.torch.npy", y)
(OUT / "versions.json").write_text(json.dumps({"torch": torch.__version__, "diffusers": diffusers_version, "onnx": onnx.__version__,
                                               "onnxruntime": ort.__version__, "numpy": np.__version__,
                                               "python": sys.version.split()[0], "ort_vs_torch_relative": diffs}, indent=1) + "\n")
print(f"wrote {OUT}: ORT vs torch relative {diffs}")
