#!/usr/bin/env python3
"""Golden test data for denoise: the one committed fixture script for the whole project.

Run from the repository root:

    /work/venv/bin/python scripts/make_fixtures.py              # every fixture family
    /work/venv/bin/python scripts/make_fixtures.py safetensors  # only the named families
    /work/venv/bin/python scripts/make_fixtures.py --list       # family names

Last run with: Python 3.11.7, numpy 2.4.6, torch 2.13.0+cpu, safetensors 0.8.0.
(`main` prints the versions it runs with; update this line when you regenerate.)

Each fixture family is one function `make_<family>(root)` registered in FAMILIES; it writes its
files under the test target that reads them and never touches another family's files. Values come
from formulas (arange and friends) or fixed literals, never from an unseeded RNG, so a rerun
produces the same contents (and the same bytes, except where a writer orders a hash map
arbitrarily, e.g. safetensors metadata with several keys). A test that fails against these files should say how to regenerate them
(this command), and a change here should come with the matching change to the Swift test.
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# safetensors: Tests/ModelIOTests/Fixtures/safetensors/
#   reference.safetensors  F32 tensors of ranks 0-4 (one empty), F16, BF16, F64, I64, I32, and
#                          metadata; values are the formulas below, checked exactly by
#                          SafeTensorsTests.readsPythonReferenceFile.
#   python_written.safetensors  F32 only, one metadata key: Swift's writer must reproduce these
#                          bytes exactly (Python sorts F32 tensors by name and pads the header with
#                          spaces to a multiple of 8). One metadata key because Python's writer keeps
#                          metadata in a hash map, whose order is not deterministic across runs.
# ---------------------------------------------------------------------------------------------

# Literals shared with the Swift test (keep in sync): F16 / BF16 inputs, before rounding.
HALF_VALUES = [0.0, -0.0, 1.0, -2.5, 65504.0, 2.0**-24, 2.0**-14, float("inf"), float("-inf"), 0.1]
BF16_VALUES = [0.0, 1.0, -3.5, 2.0**-133, 3.0e38, float("inf"), 0.1, -1.0e-3]


def make_safetensors(root: Path) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    out = root / "Tests" / "ModelIOTests" / "Fixtures" / "safetensors"
    out.mkdir(parents=True, exist_ok=True)

    reference = {
        "scalar": torch.tensor(3.25, dtype=torch.float32),                                 # []
        "vector": torch.arange(5, dtype=torch.float32) * 0.5 - 1.0,                        # [5]
        "matrix": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8.0,               # [3, 4]
        "conv.weight": (torch.arange(24, dtype=torch.float32) - 12.0).reshape(2, 3, 2, 2),  # [2, 3, 2, 2]
        "empty": torch.zeros(2, 0, dtype=torch.float32),                                   # [2, 0]
        "half": torch.tensor(HALF_VALUES, dtype=torch.float16),                             # [10]
        "bfloat": torch.tensor(BF16_VALUES, dtype=torch.bfloat16),                          # [8]
        "double": torch.tensor([1.0 / 3.0, -1.0e-40, 1.0e39, 2.5], dtype=torch.float64),    # [4]
        "steps": torch.arange(6, dtype=torch.int64).reshape(2, 3) * 1000 - 2000,            # [2, 3]
        "ints": torch.tensor([-7, 0, 2147483647], dtype=torch.int32),                      # [3]
    }
    save_file(reference, str(out / "reference.safetensors"),
              metadata={"format": "pt", "source": "scripts/make_fixtures.py"})

    # Must match SafeTensorsTests.writerMatchesPythonBytes exactly.
    written = {
        "b.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) - 2.5,  # [2, 3]
        "a.bias": torch.tensor([0.125, -1.0, 1.0e-7], dtype=torch.float32),    # [3]
        "scalar": torch.tensor(-0.0, dtype=torch.float32),                     # []
        "empty": torch.zeros(0, dtype=torch.float32),                          # [0]
        "z": torch.ones(1, 1, 1, 2, dtype=torch.float32),                      # [1, 1, 1, 2]
    }
    save_file(written, str(out / "python_written.safetensors"), metadata={"format": "pt"})

    # Sanity: Python reads its own files back with the same values.
    from safetensors.torch import load_file
    back = load_file(str(out / "reference.safetensors"))
    for name, t in reference.items():
        assert torch.equal(back[name], t), name
    print(f"safetensors: wrote {sorted(p.name for p in out.iterdir())} under {out.relative_to(root)}")


# ---------------------------------------------------------------------------------------------
# philox: no files. Prints, from an independent pure-Python Philox4x32-10, the Random123
# known-answer vectors and the first 8 uniforms / normals for seeds 0 and 42 (stream 0), as the
# literals pinned in Tests/TensorsTests/RandomTests.swift. The mapping (key, counter, word -> number)
# is the one documented in Sources/Tensors/Random/Philox.swift.
# ---------------------------------------------------------------------------------------------

def philox4x32_10(ctr, key):
    M0, M1, W0, W1, MASK = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85, 0xFFFFFFFF
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return [c0, c1, c2, c3]


def philox_words(seed, stream, count):
    key = (seed & 0xFFFFFFFF, seed >> 32)
    words = []
    for block in range((count + 3) // 4):
        words += philox4x32_10((block & 0xFFFFFFFF, block >> 32, stream & 0xFFFFFFFF, stream >> 32), key)
    return words[:count]


def philox_uniform(seed, stream, count):
    import numpy as np
    return [float(np.float32((w >> 8) * 2.0**-24)) for w in philox_words(seed, stream, count)]


def philox_normal(seed, stream, count):
    import math
    import numpy as np
    words = philox_words(seed, stream, (count + 3) // 4 * 4)
    out = []
    for a, b in zip(words[0::2], words[1::2]):
        u1, u2 = ((a >> 8) + 1) * 2.0**-24, (b >> 8) * 2.0**-24
        r, theta = math.sqrt(-2.0 * math.log(u1)), 2.0 * math.pi * u2
        out += [float(np.float32(r * math.cos(theta))), float(np.float32(r * math.sin(theta)))]
    return out[:count]


def make_philox(root: Path) -> None:
    kat = [((0, 0, 0, 0), (0, 0)), ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2),
           ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0))]
    for ctr, key in kat:
        print("philox4x32_10", [hex(x) for x in ctr], [hex(x) for x in key], "->",
              [hex(x) for x in philox4x32_10(ctr, key)])
    for seed in (0, 42):
        print(f"seed {seed} uniform: {[repr(x) for x in philox_uniform(seed, 0, 8)]}")
        print(f"seed {seed} normal:  {[repr(x) for x in philox_normal(seed, 0, 8)]}")
    print(f"seed 7 stream 3 normal: {[repr(x) for x in philox_normal(7, 3, 8)]}")


FAMILIES = {
    "safetensors": make_safetensors,
    "philox": make_philox,
}


def main(argv: list) -> int:
    if "--list" in argv:
        print("\n".join(FAMILIES))
        return 0
    names = argv or list(FAMILIES)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        print(f"unknown fixture families {unknown}; known: {list(FAMILIES)}", file=sys.stderr)
        return 2
    import numpy
    import safetensors
    import torch
    print(f"Python {sys.version.split()[0]}, numpy {numpy.__version__}, torch {torch.__version__}, "
          f"safetensors {safetensors.__version__}")
    for name in names:
        FAMILIES[name](REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
