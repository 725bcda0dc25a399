#!/usr/bin/env python3
"""Sample quality of a Fashion-MNIST diffusion model: Fréchet distance on a small classifier's features.

FID needs an Inception network made for 299x299 color photos; for 28x28 gray Fashion-MNIST this
script uses its own small CNN instead (2 conv layers, a 128-unit hidden layer, ~90% test accuracy),
trained once on the Fashion-MNIST train set with fixed seeds and cached in
benchmarks/.cache/fmnist_classifier.pt (not committed). Features are its 128-d penultimate
activations; the distance is the FID formula
    ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))
between the samples' features and those of N real test images (N = number of samples; the first N
of a seed-0 permutation of the test set). Lower is better. The value depends on N and on this
classifier, so compare runs at the same N only, and read it beside the baselines printed with it:
  - real vs real: N train images against the same N test images (the floor at this N),
  - noise:        N images of Gaussian noise clipped to [-1, 1] (a useless model).
It also prints the classifier's predicted class histogram of the samples: a model that covers the
data gives about 10% per class; a collapsed one piles up in a few.

For a class-conditional model, --asked gives the class each sample was generated for (indices,
comma-separated, repeated cyclically over the samples, as `denoise generate --class` takes them);
the script then prints, per class, the share of its samples the classifier files under that class:

    denoise generate --n 320 --class 0,1,2,3,4,5,6,7,8,9 --guidance-scale 3 --npy cfg.npy
    python benchmarks/quality.py --samples cfg.npy --asked 0,1,2,3,4,5,6,7,8,9

Samples are a folder of 28x28 8-bit gray PNGs or a float32 .npy [N, 1, 28, 28] in [-1, 1]:

    denoise generate --n 1000 --steps 50 --out out/
    python benchmarks/quality.py --samples out/ [--json]

Needs torch (CPU), numpy, pillow, scipy and the Fashion-MNIST IDX files (Debian package
dataset-fashion-mnist, in /usr/share/datasets/fashion-mnist/).
"""
import argparse
import gzip
import json
import os
import sys
import time
import warnings

import numpy as np
import scipy.linalg
import torch
from PIL import Image
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load_idx(name):
    """An IDX file as a uint8 array: images [N, 28, 28] or labels [N]."""
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def to_input(images):
    """uint8 [N, 28, 28] -> float32 tensor [N, 1, 28, 28] in [-1, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1).unsqueeze(1)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.features(x))


def train_classifier(epochs=3, batch=64):
    torch.manual_seed(0)
    x, y = to_input(load_idx("train-images-idx3-ubyte.gz")), torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"  epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.3f}", file=sys.stderr)
    return model.eval()


def load_classifier(path, retrain):
    model = Classifier()
    if os.path.exists(path) and not retrain:
        model.load_state_dict(torch.load(path))
        return model.eval()
    print(f"training the Fashion-MNIST classifier (cached in {path})", file=sys.stderr)
    model = train_classifier()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ignore = os.path.join(os.path.dirname(path), ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w") as f:
            f.write("*\n")
    torch.save(model.state_dict(), path)
    return model


@torch.no_grad()
def run(model, x, batch=500):
    """Penultimate features [N, 128] (float64) and predicted classes [N]."""
    feats = torch.cat([model.features(x[i:i + batch]) for i in range(0, len(x), batch)])
    return feats.double().numpy(), model.head(feats).argmax(1).numpy()


def frechet_distance(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # S1 S2 is singular (ReLU units never active); sqrtm is still accurate here
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(s1 @ s2)
        if not np.isfinite(root).all():  # nudge the diagonals, as pytorch-fid does
            eps = 1e-6 * np.eye(len(s1))
            root = scipy.linalg.sqrtm((s1 + eps) @ (s2 + eps))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root.real))


def load_samples(path):
    """A folder of 28x28 gray PNGs or a .npy [N, 1, 28, 28] -> float32 tensor [N, 1, 28, 28] in [-1, 1]."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.lower().endswith(".png"))
        if not names:
            sys.exit(f"no PNG files in {path}")
        images = np.stack([np.asarray(Image.open(os.path.join(path, n)).convert("L")) for n in names])
        if images.shape[1:] != (28, 28):
            sys.exit(f"expected 28x28 PNGs, got {images.shape[1]}x{images.shape[2]}")
        return to_input(images)
    x = np.load(path).astype(np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[1:] != (1, 28, 28):
        sys.exit(f"expected an array [N, 1, 28, 28], got {list(x.shape)}")
    return torch.from_numpy(np.clip(x, -1, 1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", required=True, help="folder of 28x28 gray PNGs, or a float32 .npy [N, 1, 28, 28] in [-1, 1]")
    p.add_argument("--classifier", default=os.path.join(HERE, ".cache", "fmnist_classifier.pt"))
    p.add_argument("--retrain", action="store_true", help="train the classifier again even if cached")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    p.add_argument("--asked", help="the class index each sample was generated for, comma-separated, repeated cyclically")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    start = time.perf_counter()

    model = load_classifier(a.classifier, a.retrain)
    test_x, test_y = to_input(load_idx("t10k-images-idx3-ubyte.gz")), load_idx("t10k-labels-idx1-ubyte.gz")
    test_feats, test_pred = run(model, test_x)
    accuracy = float((test_pred == test_y).mean())

    samples = load_samples(a.samples)
    n = len(samples)
    if not 2 <= n <= len(test_x):
        sys.exit(f"need between 2 and {len(test_x)} samples, got {n}")
    real = test_feats[np.random.default_rng(0).permutation(len(test_x))[:n]]
    train_x = load_idx("train-images-idx3-ubyte.gz")
    train = run(model, to_input(train_x[np.random.default_rng(1).permutation(len(train_x))[:n]]))[0]
    noise = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)

    sample_feats, sample_pred = run(model, samples)
    counts = np.bincount(sample_pred, minlength=10)
    result = {
        "samples": a.samples, "n": n, "classifier_test_accuracy": accuracy,
        "fd": frechet_distance(sample_feats, real),
        "fd_real_vs_real": frechet_distance(train, real),
        "fd_noise": frechet_distance(run(model, noise)[0], real),
        "class_histogram": dict(zip(CLASSES, counts.tolist())),
    }

    print(f"classifier test accuracy {accuracy:.2%}")
    print(f"Fréchet distance over {n} images against {n} test images (lower is better):")
    print(f"  samples        {result['fd']:10.3f}   {a.samples}")
    print(f"  real vs real   {result['fd_real_vs_real']:10.3f}   train images (floor)")
    print(f"  noise          {result['fd_noise']:10.3f}   Gaussian noise clipped to [-1, 1]")
    print("predicted classes of the samples:")
    for name, count in zip(CLASSES, counts):
        print(f"  {name:12} {count:6}  {count / n:6.1%}")
    if a.asked:
        try:
            pattern = [int(c) for c in a.asked.split(",")]
        except ValueError:
            sys.exit(f"--asked: expected comma-separated class indices, got '{a.asked}'")
        if any(not 0 <= c < len(CLASSES) for c in pattern):
            sys.exit(f"--asked: class indices are 0…{len(CLASSES) - 1}")
        asked = np.array([pattern[i % len(pattern)] for i in range(n)])
        hits = sample_pred == asked
        result["asked_accuracy"] = float(hits.mean())
        result["asked_accuracy_per_class"] = {CLASSES[c]: float(hits[asked == c].mean()) for c in sorted(set(pattern))}
        print(f"samples classified as the class asked for: {hits.mean():.1%} overall")
        for c in sorted(set(pattern)):
            print(f"  {CLASSES[c]:12} {hits[asked == c].mean():6.1%}  of {int((asked == c).sum())}")
    print(f"({time.perf_counter() - start:.1f} s)")
    if a.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
