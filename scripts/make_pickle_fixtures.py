#!/usr/bin/env python3
"""torch.save files for denoise's PyTorch checkpoint reader: the one committed script that makes them.

    /work/venv/bin/python scripts/make_pickle_fixtures.py

Writes Tests/ModelIOTests/Fixtures/pytorch/:
  state_dict.pt     a plain dict of tensors: float32/16/64, bfloat16, int64/32/16/8, uint8, bool,
                    a transposed and a strided view and a view at an offset of one storage, an
                    expanded (stride 0) tensor, 0-d and empty tensors, an nn.Parameter
  module.pt         an nn.Module's state_dict() (an OrderedDict with _metadata; BatchNorm's int64
                    num_batches_tracked)
  nested.pt         ints of every width, floats, str, bytes, None, bools, lists, tuples, sets, an
                    OrderedDict, int keys, a list shared twice, a tensor deep in dicts (protocol 2,
                    torch.save's default)
  nested_p4.pt      the same object with pickle_protocol=4 (FRAME, MEMOIZE, STACK_GLOBAL,
                    SHORT_BINUNICODE, EMPTY_SET/ADDITEMS, FROZENSET)
  milestone.pt      what denoising-diffusion-pytorch's Trainer.save writes, built directly:
                    {'step', 'model', 'opt' (Adam.state_dict() after two steps), 'ema' (an
                    ema_pytorch EMA's state_dict: initted, step, ema_model.*), 'scaler': None, 'version'}
  forbidden.pt      a tensor and an object whose __reduce__ names os.system: pickling only records
                    the name (GLOBAL 'posix system'); nothing is executed here or by the reader
  legacy.pt         the pre-1.6 format (_use_new_zipfile_serialization=False), which is refused
Each readable file has <name>.json: the expected value tree, tagged so nothing is lost —
{"none": null}, {"bool": b}, {"int": "decimal"}, {"float": "repr"}, {"str": s}, {"bytes": "hex"},
{"list": [...]} (sets too), {"tuple": [...]}, {"dict": [[key, value], ...]},
{"tensor": {"dtype": "float16", "shape": [...], "values": ["repr", ...]}} with values as read by
denoise (floating types as float32, others as int64). Versions of the last run: versions.json.
Needs torch (CPU wheel) and numpy.
"""
import collections, json, os, pathlib, sys
import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "ModelIOTests" / "Fixtures" / "pytorch"
DTYPES = {torch.float64: "float64", torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
          torch.int64: "int64", torch.int32: "int32", torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8",
          torch.bool: "bool"}


def tagged(v):
    """The expected-value encoding described in the module docstring."""
    if v is None:
        return {"none": None}
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": repr(v)}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, (list, set, frozenset)):
        return {"list": [tagged(x) for x in v]}
    if isinstance(v, tuple):
        return {"tuple": [tagged(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[tagged(k), tagged(x)] for k, x in v.items()]}
    if isinstance(v, torch.Tensor):
        floating = v.dtype.is_floating_point
        flat = (v.float() if floating else v.to(torch.int64)).flatten().tolist()
        return {"tensor": {"dtype": DTYPES[v.dtype], "shape": list(v.shape),
                           "values": [repr(float(x)) if floating else str(x) for x in flat]}}
    raise TypeError(type(v))


def save(name, obj, **kwargs):
    torch.save(obj, ROOT / f"{name}.pt", **kwargs)
    with open(ROOT / f"{name}.json", "w") as f:
        json.dump(tagged(obj), f, indent=None, ensure_ascii=False)
        f.write("\n")


def state_dict():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8
    return {
        "f32": base,
        "transposed": base.t(),                  # strides (1, 4), same storage
        "strided": base[:, ::2],                 # strides (4, 2)
        "offset_view": base.view(-1)[2:7],       # storage offset 2
        "f16": torch.tensor([0, -0.0, 1, -2.5, 65504, 2 ** -24, float("inf"), 0.0999755859375], dtype=torch.float16),
        "bf16": torch.tensor([0, 1, -3.5, 2 ** -133, 0.10009765625, float("-inf")], dtype=torch.bfloat16),
        "f64": torch.tensor([1 / 3, -1e-40, 2.5, 1e300], dtype=torch.float64),
        "i64": torch.tensor([[-2000, 0], [2 ** 40, 7]], dtype=torch.int64),
        "i32": torch.tensor([-7, 0, 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-32768, 5], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "expanded": torch.tensor([1.5]).expand(3, 2),  # strides (0, 0) over one element
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(2, 0),
        "param": torch.nn.Parameter(torch.tensor([0.5, -0.5])),
    }


def tiny_model():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.GroupNorm(2, 4), torch.nn.Flatten(),
                               torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))


def nested():
    shared = [1, 2]
    return {
        "int": 7, "neg": -5, "u16": 40000, "i32": -2 ** 31, "big": 2 ** 40, "max64": 2 ** 63 - 1, "min64": -2 ** 63,
        "float": 2.5, "tiny": 1e-300, "inf": float("inf"),
        "str": "héllo ☃", "empty_str": "", "none": None, "true": True, "false": False, "bytes": b"\x00\xffab",
        "list": [1, "two", 3.0, None], "tuple": (1, (2, 3)), "one": (4,), "three": (1, 2, 3), "empty_tuple": (),
        "od": collections.OrderedDict([("z", 1), ("a", 2)]), "int_keys": {0: "a", 5: "b", -1: "c"}, "empty": {},
        "set": {3}, "frozenset": frozenset({4}), "shared": [shared, shared],
        "deep": {"a": {"b": {"c": torch.tensor([[1.0, 2.0]])}}},
    }


def milestone():
    torch.manual_seed(0)
    model = tiny_model()
    opt = torch.optim.Adam(model.parameters(), lr=8e-5, betas=(0.9, 0.99))
    for _ in range(2):
        opt.zero_grad()
        model.train()(torch.randn(2, 1, 3, 3)).square().sum().backward()
        opt.step()
    model_sd = model.state_dict()
    ema = collections.OrderedDict([("initted", torch.tensor(True)), ("step", torch.tensor(1234))])
    for k, v in model_sd.items():
        ema["ema_model." + k] = v.clone() if not v.dtype.is_floating_point else v * 0.5 + 0.25
    return {"step": 1234, "model": model_sd, "opt": opt.state_dict(), "ema": ema, "scaler": None, "version": "2.1.1"}


class Forbidden:
    """Pickles as a call of os.system. Saving it calls nothing: pickle records the function's name."""
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def main():
    ROOT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    save("state_dict", state_dict())
    module = tiny_model()
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-1, 1)
    save("module", module.state_dict())
    save("nested", nested())
    save("nested_p4", nested(), pickle_protocol=4)
    save("milestone", milestone())
    torch.save({"weight": torch.ones(2), "payload": Forbidden()}, ROOT / "forbidden.pt")
    torch.save({"weight": torch.ones(2)}, ROOT / "legacy.pt", _use_new_zipfile_serialization=False)
    (ROOT / "versions.json").write_text(json.dumps({"torch": torch.__version__, "numpy": np.__version__,
                                                    "python": sys.version.split()[0]}, indent=1) + "\n")
    for p in sorted(ROOT.iterdir()):
        print(f"{p.stat().st_size:8d}  {p.name}")


if __name__ == "__main__":
    main()
