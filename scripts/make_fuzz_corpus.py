#!/usr/bin/env python3
"""make_fuzz_corpus.py: writes the seed corpora of the fuzz harnesses, fuzz/corpus/<target>/.

Seeds are small: the smallest committed fixtures of each format, a tiny class-conditional U-Net
trained for one step by the denoise binary (its model.json, weights.safetensors, ONNX export and a
generated PNG: the real layouts, a few KB each), and inputs written here from the formats' specs
(PNGs of every color type, safetensors of every dtype, .npy of every dtype and version, IDX files,
minimal ONNX models with schedule and class metadata, generation requests as query strings, JSON
bodies and multipart forms). Standard library only;
deterministic except for the trained model's random write id.

    swift build --product denoise && python3 scripts/make_fuzz_corpus.py [--denoise .build/debug/denoise]

Rewrites fuzz/corpus/ from scratch. Not here: fuzz/regressions/ (inputs that once crashed, kept
with the test that replays them), except that `--onnx-regressions` writes the hand-made ONNX ones.
"""

import argparse
import base64
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
FIXTURES = os.path.join(ROOT, "Tests")


def put(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy(target, name, fixture):
    with open(os.path.join(FIXTURES, fixture), "rb") as f:
        put(target, name, f.read())


# --- PNG -----------------------------------------------------------------------------------------

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png(width, height, color_type, bit_depth, pixel, interlace=0, extra=b""):
    """A PNG whose sample at (x, y, channel) is pixel(x, y, channel) (already in 0..2^bit_depth-1)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]

    def rows(w, h, xs, ys):
        out = b""
        for y in ys:
            bits, nbits, line = 0, 0, bytearray()
            for x in xs:
                for c in range(channels):
                    v = pixel(x, y, c)
                    if bit_depth == 16:
                        line += struct.pack(">H", v)
                    elif bit_depth == 8:
                        line.append(v)
                    else:
                        bits, nbits = (bits << bit_depth) | v, nbits + bit_depth
                        if nbits == 8:
                            line.append(bits)
                            bits, nbits = 0, 0
            if nbits:
                line.append(bits << (8 - nbits))
            out += b"\x00" + bytes(line)  # filter type None
        return out

    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b""
        for x0, y0, dx, dy in passes:
            xs, ys = list(range(x0, width, dx)), list(range(y0, height, dy))
            if xs and ys:
                raw += rows(len(xs), len(ys), xs, ys)
    else:
        raw = rows(width, height, range(width), range(height))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def square(size=8):
    """An 8-bit gray picture: a bright square on black (the picture of the server's tests)."""
    return png(size, size, 0, 8, lambda x, y, c: 230 if 2 <= x < size - 2 and 2 <= y < size - 2 else 10)


def right_half(size=8):
    """A mask: white (regenerate) on the right half."""
    return png(size, size, 0, 8, lambda x, y, c: 255 if x >= size // 2 else 0)


def png_seeds():
    put("png", "gray8-8x8.png", square())
    put("png", "mask-8x8.png", right_half())
    put("png", "rgb8-12x16.png", png(16, 12, 2, 8, lambda x, y, c: (x * 16 + y * 8 + c * 80) % 256))
    put("png", "rgb8-tall-20x6.png", png(6, 20, 2, 8, lambda x, y, c: (x * 40 + y * 12 + c * 50) % 256))
    put("png", "gray16-5x7.png", png(5, 7, 0, 16, lambda x, y, c: (x * 9000 + y * 300) % 65536))
    put("png", "rgba8-8x8.png", png(8, 8, 6, 8, lambda x, y, c: 255 if c == 3 and x > 3 else (x * 30 + c * 70) % 256))
    put("png", "graya8-4x4.png", png(4, 4, 4, 8, lambda x, y, c: (x * 60 + y * 5) % 256 if c == 0 else 128))
    palette = chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])) + chunk(b"tRNS", bytes([255, 128]))
    put("png", "palette2-8x8.png", png(8, 8, 3, 2, lambda x, y, c: (x + y) % 4, extra=palette))
    put("png", "gray1-9x9.png", png(9, 9, 0, 1, lambda x, y, c: (x ^ y) & 1))
    put("png", "rgb8-interlaced-6x6.png", png(6, 6, 2, 8, lambda x, y, c: (x * 40 + y * 20 + c) % 256, interlace=1))
    text = chunk(b"tEXt", b"parameters\x00steps=2 seed=1") + chunk(b"tEXt", b"Comment\x00fuzz seed")
    put("png", "gray8-text-8x8.png", png(8, 8, 0, 8, lambda x, y, c: x * 30, extra=text))


# --- safetensors and .npy ------------------------------------------------------------------------

def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] in data order."""
    header, offset, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    copy("safetensors", "reference.safetensors", "ModelIOTests/Fixtures/safetensors/reference.safetensors")
    copy("safetensors", "python-written.safetensors", "ModelIOTests/Fixtures/safetensors/python_written.safetensors")
    copy("safetensors", "native-v2-small.safetensors", "GraphTests/Fixtures/native/v2-small/weights.safetensors")
    every = [
        ("f32", "F32", [2, 2], struct.pack("<4f", 1.5, -2, 0, 3e38)),
        ("f16", "F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x0001)),
        ("bf16", "BF16", [2], struct.pack("<2H", 0x3F80, 0xFF80)),
        ("f64", "F64", [2], struct.pack("<2d", 1e300, -0.5)),
        ("i64", "I64", [2], struct.pack("<2q", -(2 ** 63), 2 ** 40)),
        ("u64", "U64", [1], struct.pack("<Q", 2 ** 62)),
        ("i32", "I32", [1, 2], struct.pack("<2i", -7, 2 ** 31 - 1)),
        ("u32", "U32", [1], struct.pack("<I", 2 ** 32 - 1)),
        ("i16", "I16", [2], struct.pack("<2h", -300, 300)),
        ("u16", "U16", [1], struct.pack("<H", 65535)),
        ("i8", "I8", [2], struct.pack("<2b", -128, 127)),
        ("u8", "U8", [2], bytes([0, 255])),
        ("bool", "BOOL", [2], bytes([0, 1])),
        ("f8", "F8_E4M3", [2], bytes([0x38, 0xB8])),
        ("scalar", "F32", [], struct.pack("<f", 7)),
        ("empty", "F32", [0, 3], b""),
    ]
    put("safetensors", "every-dtype.safetensors", safetensors(every, {"format": "pt", "denoise.write_id": "fuzz"}))


def npy(descr, shape, raw, version=1):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    length_bytes = 2 if version == 1 else 4
    total = 8 + length_bytes + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    length = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode() + raw


def npy_seeds():
    copy("npy", "t-int64.npy", "GraphTests/Fixtures/onnx/simple_unet/t.npy")
    copy("npy", "class-labels.npy", "DiffusionTests/Fixtures/diffusers/class_identity/class_labels.npy")
    copy("npy", "x-float32.npy", "DiffusionTests/Fixtures/diffusers/class_identity/x.npy")
    put("npy", "f8.npy", npy("<f8", [2], struct.pack("<2d", 0.25, -1e300)))
    put("npy", "f2.npy", npy("<f2", [2, 1], struct.pack("<2H", 0x3C00, 0xFC00)))
    put("npy", "i4.npy", npy("<i4", [3], struct.pack("<3i", 1, -2, 3)))
    put("npy", "i2.npy", npy("<i2", [1], struct.pack("<h", -5)))
    put("npy", "i1.npy", npy("|i1", [2], struct.pack("<2b", -1, 1)))
    put("npy", "u1.npy", npy("|u1", [2, 2], bytes([0, 1, 2, 255])))
    put("npy", "b1.npy", npy("|b1", [3], bytes([1, 0, 1])))
    put("npy", "scalar-f4.npy", npy("<f4", [], struct.pack("<f", 2.5)))
    put("npy", "empty-f4.npy", npy("<f4", [0, 4], b""))
    put("npy", "v2-f4.npy", npy("<f4", [1, 1, 2, 2], struct.pack("<4f", 1, 2, 3, 4), version=2))
    put("npy", "v3-i8.npy", npy("<i8", [2], struct.pack("<2q", 10, 873), version=3))


# --- IDX -----------------------------------------------------------------------------------------

def idx_seeds():
    images = struct.pack(">IIII", 0x803, 3, 4, 5) + bytes((i * 17) % 256 for i in range(3 * 4 * 5))
    labels = struct.pack(">II", 0x801, 5) + bytes([9, 0, 3, 2, 7])
    put("idx", "images-3x4x5-idx3-ubyte", images)
    put("idx", "images-3x4x5-idx3-ubyte.gz", gzip.compress(images, mtime=0))
    put("idx", "labels-5-idx1-ubyte", labels)
    put("idx", "labels-5-idx1-ubyte.gz", gzip.compress(labels, mtime=0))
    put("idx", "images-empty-idx3-ubyte", struct.pack(">IIII", 0x803, 0, 28, 28))


# --- generation requests -------------------------------------------------------------------------

def request_seeds():
    picture = base64.b64encode(square()).decode()
    mask = base64.b64encode(right_half()).decode()
    rgb = base64.b64encode(png(16, 16, 2, 8, lambda x, y, c: (x * 16 + c * 60) % 256)).decode()
    queries = {
        "steps-seed": "steps=50&seed=7",
        "classes-per-sample": "steps=4&n=3&class=0,1,2&seed=5",
        "class-name-guidance": "class=trouser&guidance_scale=3&steps=10",
        "rgb-ddim": "model=rgb&sampler=ddim&eta=0.5&timestep_spacing=trailing&clip_sample=true&rederive_noise=0",
        "dpm-stream": "sampler=dpm-solver%2B%2B&steps=20&stream=1&timestep_spacing=linspace",
        "init-image": "init_image=" + urllib.parse.quote(picture, safe="") + "&strength=0.6&steps=8",
        "init-image-plus-as-space": "init_image=" + picture.replace("+", " ") + "&resize=1&model=rgb",
        "inpaint": "init_image=" + urllib.parse.quote(picture, safe="") + "&mask=" + urllib.parse.quote(mask, safe="") + "&jumps=2&steps=6",
        "data-url": "init_image=" + urllib.parse.quote("data:image/png;base64," + picture, safe="") + "&resize=true",
        "bad-steps": "steps=abc",
        "repeated-and-empty": "n=2&n=3&seed=&flag",
        "huge-seed": "seed=18446744073709551615&n=16&steps=1000",
        "unknown-model": "model=nope&guidance_scale=1e308",
    }
    for name, text in queries.items():
        put("query", name + ".txt", text)
    bodies = {
        "steps-seed": {"steps": 50, "n": 2, "seed": 7},
        "classes-array": {"steps": 4, "n": 3, "class": [0, "trouser", 2], "guidance_scale": 2.5},
        "rgb-options": {"model": "rgb", "sampler": "ddpm", "eta": 0, "timestep_spacing": "leading", "clip_sample": False,
                        "rederive_noise": True, "stream": False},
        "init-image": {"init_image": picture, "strength": 0.5, "steps": 10, "seed": 4, "n": 2},
        "inpaint": {"init_image": picture, "mask": mask, "jumps": 1, "steps": 6},
        "rgb-resize": {"model": "rgb", "init_image": rgb, "resize": True, "mask": picture},
        "wrong-types": {"steps": "5", "n": 1.5, "seed": -1, "class": [], "init_image": 5},
        "big-seed": {"seed": 18446744073709551615, "eta": 1e-3},
    }
    for name, body in bodies.items():
        put("json", name + ".json", json.dumps(body))
    put("json", "nested.json", '{"steps": [[[{"a": [1, 2, {"b": null}]}]]], "n": "\\u00e9\\ud83d\\ude00"}')
    put("json", "not-an-object.json", "[1, 2, 3]")

    def form(boundary, parts):
        body = b""
        for name, filename, value in parts:
            disposition = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else "")
            body += b"--" + boundary.encode() + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n"
            if filename:
                body += b"Content-Type: image/png\r\n"
            body += b"\r\n" + value + b"\r\n"
        return body + b"--" + boundary.encode() + b"--\r\n"

    upload = form("XyZzy", [("init_image", "in.png", square()), ("strength", None, b"0.6"), ("steps", None, b"8")])
    put("form", "upload.txt", b"multipart/form-data; boundary=XyZzy\r\n" + upload)
    inpaint = form("----denoise7", [("init_image", "in.png", square()), ("mask", "mask.png", right_half()),
                                    ("jumps", None, b"1"), ("class", None, b"1,2"), ("n", None, b"2")])
    put("form", "inpaint.txt", b'multipart/form-data; boundary="----denoise7"\r\n' + inpaint)
    put("form", "text-file.txt", b"multipart/form-data; boundary=b\r\n" + form("b", [("steps", "steps.txt", b"5")]))
    put("form", "json-body.txt", b"application/json\r\n" + json.dumps({"steps": 3, "class": "pullover"}).encode())


# --- ONNX written by hand (protobuf wire format) -------------------------------------------------

def varint(n):
    n &= (1 << 64) - 1  # int64 fields are two's complement: -1 takes ten bytes
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, value):
    """One protobuf field: a varint for an int, length-delimited for str / bytes."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    value = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(value)) + value


def value_info(name, elem_type, dims):
    """ValueInfoProto of a tensor: ints are dim_value, strings dim_param."""
    shape = b"".join(field(1, field(2, d) if isinstance(d, str) else field(1, d)) for d in dims)
    return field(1, name) + field(2, field(1, field(1, elem_type) + field(2, shape)))


def onnx_model(image_dims, metadata, class_labels=False):
    """The smallest diffusion model: out = Identity(sample), beside a timestep (and class-label)
    input; opset 17; `metadata` as metadata_props."""
    inputs = [value_info("sample", 1, ["batch"] + image_dims), value_info("timestep", 7, ["batch"])]
    if class_labels:
        inputs.append(value_info("class_labels", 7, ["batch"]))
    graph = (field(1, field(1, "sample") + field(2, "out") + field(3, "identity") + field(4, "Identity")) + field(2, "minimal")
             + b"".join(field(11, i) for i in inputs) + field(12, value_info("out", 1, ["batch"] + image_dims)))
    model = field(1, 8) + field(2, "make_fuzz_corpus.py") + field(7, graph) + field(8, field(1, "") + field(2, 17))
    for key, value in metadata.items():
        model += field(14, field(1, key) + field(2, value))
    return model


def onnx_seeds():
    schedule = {"denoise.num_train_timesteps": "4", "denoise.beta_schedule": "linear", "denoise.beta_start": "0.0001",
                "denoise.beta_end": "0.02", "denoise.prediction_type": "v_prediction", "denoise.clip_sample": "false",
                "denoise.timestep_spacing": "trailing", "denoise.steps_offset": "1", "denoise.eta": "0.5",
                "denoise.trained_betas": "[0.1, 0.2, 0.3, 0.4]", "denoise.set_alpha_to_one": "true"}
    put("onnx", "minimal-identity.onnx", onnx_model([1, 8, 8], schedule))
    classes = {"denoise.num_classes": "3", "denoise.class_names": '["cat", "dog", "bird"]', "denoise.null_class": "3"}
    put("onnx", "minimal-classes.onnx", onnx_model([3, 4, 6], classes, class_labels=True))


def onnx_regressions():
    """Hand-made inputs that crashed the onnx harness (ModelLoader.open(onnx:) and BatchStepper),
    written to fuzz/regressions/onnx/ (replayed by RegressionTests)."""
    folder = os.path.join(ROOT, "fuzz", "regressions", "onnx")
    os.makedirs(folder, exist_ok=True)
    for name, data in [("image-channels-negative.onnx", onnx_model([-1, 8, 8], {})),
                       ("image-4g-elements.onnx", onnx_model([1, 65536, 65536], {})),
                       ("timesteps-9e99.onnx", onnx_model([1, 8, 8], {"denoise.num_train_timesteps": "9e99"}))]:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


# --- models: fixtures and a tiny U-Net made by the denoise binary --------------------------------

def model_file_seeds(denoise):
    for fixture in ["onnx_ops/conv_same/conv_same.same_upper.onnx", "onnx_ops/convtranspose/convtranspose.ts.onnx",
                    "onnx_ops/convtranspose_output_shape/convtranspose_output_shape.output_shape.onnx",
                    "onnx_ops/convtranspose_output_shape/convtranspose_output_shape.beyond.onnx",
                    "onnx_ops/activations/activations.ts.onnx", "onnx_ops/expands/expands.ts.onnx",
                    "onnx_ops/pools/pools.ts.onnx", "onnx_ops/resizes/resizes.ts.onnx",
                    "onnx_ops/resize_onnx_modes/resize_onnx_modes.cubic_pytorch_half_pixel.onnx",
                    "onnx/groupnorm_forms/contrib_groupnorm.onnx", "onnx/groupnorm_forms/groupnormalization.onnx",
                    "external_data/inside.onnx", "external_data/escaping.onnx"]:
        copy("onnx", os.path.basename(fixture), "GraphTests/Fixtures/" + fixture)
    for version in ["v1-all-ops", "v1-small", "v2-small"]:
        copy("model-json", version + ".json", "GraphTests/Fixtures/native/%s/model.json" % version)
    for name in ["forbidden", "legacy", "milestone", "module", "nested", "nested_p4", "state_dict"]:
        copy("torch", name + ".pt", "ModelIOTests/Fixtures/pytorch/%s.pt" % name)

    with tempfile.TemporaryDirectory() as scratch:
        data = os.path.join(scratch, "data")
        for k, label in enumerate(["a", "b"]):
            os.makedirs(os.path.join(data, label))
            for i in range(2):
                picture = png(8, 8, 0, 8, lambda x, y, c: (x * 20 + y * (k + 1) * 10 + i * 50) % 256)
                with open(os.path.join(data, label, "%d.png" % i), "wb") as f:
                    f.write(picture)
        config = {"sample_size": 8, "in_channels": 1, "out_channels": 1, "block_out_channels": [2, 4], "layers_per_block": 1,
                  "norm_num_groups": 2, "attention_head_dim": 2, "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
                  "up_block_types": ["AttnUpBlock2D", "UpBlock2D"]}
        with open(os.path.join(scratch, "config.json"), "w") as f:
            json.dump(config, f)
        model = os.path.join(scratch, "model")

        def run(*args):
            subprocess.run([denoise, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        run("train", "--class-conditional", "--config", os.path.join(scratch, "config.json"), "--data", data, "--steps", "1",
            "--batch-size", "2", "--warmup", "0", "--seed", "1", "--threads", "1", "--out", model)
        run("export", model, "--onnx", os.path.join(scratch, "unet.onnx"))
        run("generate", model, "--n", "1", "--steps", "2", "--seed", "1", "--class", "b", "--threads", "1",
            "--out", os.path.join(scratch, "samples"))
        run("generate", model, "--n", "2", "--steps", "2", "--seed", "1", "--threads", "1", "--npy", os.path.join(scratch, "samples.npy"))
        for target, name, path in [("model-json", "unet-classes-v3.json", "model/model.json"),
                                   ("safetensors", "unet-classes.safetensors", "model/weights.safetensors"),
                                   ("onnx", "unet-classes.onnx", "unet.onnx"),
                                   ("npy", "samples-f4.npy", "samples.npy")]:
            with open(os.path.join(scratch, path), "rb") as f:
                put(target, name, f.read())
        samples = os.path.join(scratch, "samples")
        with open(os.path.join(samples, sorted(os.listdir(samples))[0]), "rb") as f:
            put("png", "generated-8x8.png", f.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--denoise", default=os.path.join(ROOT, ".build", "debug", "denoise"), help="the denoise binary")
    parser.add_argument("--onnx-regressions", action="store_true",
                        help="only write the hand-made ONNX inputs of fuzz/regressions/onnx/ (see RegressionTests)")
    args = parser.parse_args()
    if args.onnx_regressions:
        onnx_regressions()
        return
    if not os.access(args.denoise, os.X_OK):
        sys.exit("no denoise binary at %s: run `swift build --product denoise` first" % args.denoise)
    shutil.rmtree(CORPUS, ignore_errors=True)
    png_seeds()
    safetensors_seeds()
    npy_seeds()
    idx_seeds()
    onnx_seeds()
    request_seeds()
    model_file_seeds(args.denoise)
    total = 0
    for target in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, target))
        size = sum(os.path.getsize(os.path.join(CORPUS, target, f)) for f in files)
        total += size
        print("%-12s %3d seeds %8d bytes" % (target, len(files), size))
    print("%-12s %3s       %8d bytes" % ("total", "", total))


if __name__ == "__main__":
    main()
