#!/usr/bin/env python3
"""ONNX export fixture: a model trained by denoise, exported by denoise, run by onnxruntime.

Needs a built denoise (swift build -c release) and Debian's dataset-fashion-mnist. Run from the
repository root (~30 s):

    /work/venv/bin/python scripts/make_export_fixtures.py

Writes Tests/GraphTests/Fixtures/export/:
    tiny/          native model: a 28x28 gray U-Net with attention (8, 16 channels), trained 20 steps
                   by `denoise train` (seed 3)
    tiny.onnx      `denoise export tiny --onnx tiny.onnx`
    x.npy, t.npy   a batch of 3 inputs (float32 normal, int64 timesteps)
    y.ort.npy      onnxruntime's output for tiny.onnx on (x, t) (CPU, 1 thread)
The tests (GraphTests/ONNXExportTests) check that denoise evaluates tiny/ to y.ort.npy within 1e-4, and that exporting tiny/
again gives tiny.onnx byte for byte (rerun this script whenever the exporter changes on purpose).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_support import package_version, save_npy  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "Tests" / "GraphTests" / "Fixtures" / "export"
DENOISE = REPO / ".build" / "release" / "denoise"
CONFIG = {"sample_size": 28, "in_channels": 1, "out_channels": 1, "block_out_channels": [8, 16], "layers_per_block": 1,
          "norm_num_groups": 4, "attention_head_dim": 8, "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
          "up_block_types": ["AttnUpBlock2D", "UpBlock2D"]}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    config = OUT / "config.json"
    config.write_text(json.dumps(CONFIG, indent=2) + "\n")
    subprocess.run([str(DENOISE), "train", "--config", str(config), "--steps", "20", "--batch-size", "8", "--seed", "3",
                    "--out", str(OUT / "tiny"), "--threads", "1"], check=True, capture_output=True)
    (OUT / "tiny" / "training.safetensors").unlink()  # the fixture is the model, not the run
    subprocess.run([str(DENOISE), "export", str(OUT / "tiny"), "--onnx", str(OUT / "tiny.onnx")], check=True)
    onnx.checker.check_model(onnx.load(str(OUT / "tiny.onnx")))
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 1, 28, 28), dtype=np.float32)
    t = np.array([999, 500, 3], dtype=np.int64)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(OUT / "tiny.onnx"), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    y = session.run(None, {names[0]: x, names[1]: t})[0]
    save_npy(OUT / "x.npy", x)
    save_npy(OUT / "t.npy", t)
    save_npy(OUT / "y.ort.npy", y)
    (OUT / "versions.json").write_text(json.dumps({"onnxruntime": package_version("onnxruntime"), "onnx": package_version("onnx"),
                                                   "numpy": np.__version__}, indent=2) + "\n")
    print(f"tiny.onnx: {(OUT / 'tiny.onnx').stat().st_size} bytes, output {y.shape}")


if __name__ == "__main__":
    main()
