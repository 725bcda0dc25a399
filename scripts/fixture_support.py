"""Helpers shared by the fixture scripts (make_onnx_fixtures.py, make_scheduler_fixtures.py)."""
import contextlib
import importlib.metadata
import sys
import types

import numpy as np


@contextlib.contextmanager
def stub_torchvision():
    """An empty `torchvision` (with `transforms` and `utils`) in sys.modules for the duration.

    denoising_diffusion_pytorch does `from torchvision import transforms as T, utils` at import
    time and uses them only inside its Trainer / Dataset, which no fixture script builds.
    PyPI's torchvision would pull a CUDA torch, so it is never installed. The stand-ins are
    removed afterwards so that nothing else mistakes them for the real package
    (importlib.util.find_spec raises on a module without __spec__).
    """
    names = ["torchvision", "torchvision.transforms", "torchvision.utils"]
    saved = {n: sys.modules.get(n) for n in names}
    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    tv.utils = types.ModuleType("torchvision.utils")
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tv.transforms,
                        "torchvision.utils": tv.utils})
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def package_version(name):
    """The installed version of a PyPI package, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def save_npy(path, array):
    """`array` as a little-endian, C-order .npy file (what denoise's reader takes)."""
    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    np.save(str(path), array, allow_pickle=False)
