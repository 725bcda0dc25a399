#!/usr/bin/env python3
"""Gradient fixtures for fine-tuning imported ONNX graphs: PyTorch's parameter gradients of the
noise-prediction loss on the exact models behind the committed ONNX fixtures.

For each model, rebuilds it as scripts/make_onnx_fixtures.py does (same seeds, same weights as
Tests/GraphTests/Fixtures/onnx/<model>/<model>.ts.onnx), switches it to train mode (BatchNorm on
batch statistics), and on that fixture's x.npy / t.npy computes
    loss = mean((model(x, t) - target)^2),  target ~ N(0, 1) (numpy PCG64, seed 7)
then writes to Tests/GraphTests/Fixtures/finetune/<model>/:
    target.npy             the regression target
    grads.safetensors      d loss / d parameter, by PyTorch parameter name
    meta.json              the loss value, versions, and "onnx_names": which ONNX initializer holds
                           which PyTorch parameter (the TorchScript exporter renames some, e.g.
                           GroupNorm's affine as onnx::Mul_* / onnx::Add_*, Linear weights
                           transposed as onnx::MatMul_*), with "same", "reshape" or "transpose"

Run from the repository root (~20 s):  /work/venv/bin/python scripts/make_finetune_fixtures.py
Needs what make_onnx_fixtures.py needs, plus safetensors.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper as onh
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_onnx_fixtures as onnx_fixtures  # noqa: E402
from fixture_support import package_version, save_npy  # noqa: E402

MODELS = ["diffusers_unet_small", "simple_unet", "ddpm_unet_small"]
OUT = Path(__file__).resolve().parent.parent / "Tests" / "GraphTests" / "Fixtures" / "finetune"


def match_initializers(name, params):
    """ONNX initializer name -> [PyTorch parameter name, how its values are laid out], found by
    exact equality of values (parameters are random, so a match is not a coincidence)."""
    model = onnx.load(str(OUT.parent / "onnx" / name / f"{name}.ts.onnx"))
    found = {}
    for init in model.graph.initializer:
        w = onh.to_array(init)
        for pname, p in params.items():
            if w.size != p.size or (w.size < 2 and init.name != pname):
                continue
            if w.shape == p.shape and np.array_equal(w, p):
                found[init.name] = [pname, "same"]
            elif np.array_equal(w.reshape(-1), p.reshape(-1)):
                found[init.name] = [pname, "reshape"]
            elif w.ndim == 2 and p.ndim == 2 and np.array_equal(w.T, p):
                found[init.name] = [pname, "transpose"]
            else:
                continue
            break
    missing = sorted(set(params) - {v[0] for v in found.values()})
    if missing:
        raise SystemExit(f"{name}: parameters not found among the ONNX initializers: {missing[:5]}")
    return dict(sorted(found.items()))


def main():
    torch.set_num_threads(1)
    for name in MODELS:
        model, _, x, t, _ = onnx_fixtures.prepare_model(onnx_fixtures.MODELS[name])
        model.train()
        target = np.random.default_rng(7).standard_normal(x.shape, dtype=np.float32)
        loss = F.mse_loss(model(torch.from_numpy(x), torch.from_numpy(t)), torch.from_numpy(target))
        model.zero_grad()
        loss.backward()
        grads = {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
        onnx_names = match_initializers(name, {n: p.detach().numpy() for n, p in model.named_parameters()})
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        save_npy(folder / "target.npy", target)
        save_file(grads, str(folder / "grads.safetensors"))
        meta = {"model": name, "onnx": f"../onnx/{name}/{name}.ts.onnx", "loss": float(loss.item()),
                "parameters_with_gradients": len(grads), "onnx_names": onnx_names, "torch": package_version("torch"), "numpy": np.__version__}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"{name}: loss {loss.item():.6f}, {len(grads)} gradient tensors")


if __name__ == "__main__":
    main()
