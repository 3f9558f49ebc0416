"""Many distinct natural images, made offline from the pictures scikit-learn and scikit-image ship.

Each image is a random crop of one of 20 photographs and textures (scikit-learn's temple
and flower; scikit-image's astronaut, cat, coffee, rocket, retina, Hubble deep field,
motorcycle, coins, moon, brick, grass, gravel, ...), flipped at random, colour-jittered
(brightness, contrast, saturation, a hue rotation) and resized to SIZE x SIZE. The source
photograph is the class (one subfolder each), so a folder of 10,000 images has 20 classes
of 500 images. Seeded: the same arguments give the same files.

    python benchmarks/natural_images.py OUT [--n 10000] [--size 224] [--seed 0]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np


def sources() -> dict[str, np.ndarray]:
    """The bundled pictures as uint8 RGB arrays, by name (none is downloaded)."""
    import skimage.data as data
    from sklearn.datasets import load_sample_images

    out = dict(zip(("temple", "flower"), load_sample_images().images, strict=True))
    names = ["astronaut", "brick", "camera", "cat", "clock", "coffee", "coins", "colorwheel",
             "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "page",
             "retina", "rocket", "text"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            out[name] = np.asarray(getattr(data, name)())
        out["motorcycle"] = np.asarray(data.stereo_motorcycle()[0])
    for name, image in out.items():
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        out[name] = np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)
    return out


def _jitter(image: np.ndarray, rng) -> np.ndarray:
    """Brightness, contrast, saturation and a hue rotation, as torchvision's ColorJitter."""
    x = image.astype(np.float32) / 255
    x *= rng.uniform(0.7, 1.3)  # brightness
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.7, 1.3) + mean  # contrast
    grey = x.mean(axis=2, keepdims=True)
    x = (x - grey) * rng.uniform(0.6, 1.4) + grey  # saturation
    angle = rng.uniform(-0.3, 0.3)  # hue: a rotation about the grey axis
    c, s = np.cos(angle), np.sin(angle)
    k = np.ones(3) / np.sqrt(3)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rotation = c * np.eye(3) + s * K + (1 - c) * np.outer(k, k)
    x = x @ rotation.T
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def make_images(out, n: int = 10_000, *, size: int = 224, seed: int = 0) -> Path:
    """Write ``n`` distinct images into ``out/<source>/``; return ``out``. Skips existing files."""
    from PIL import Image

    out = Path(out)
    pictures = sources()
    names = sorted(pictures)
    rng = np.random.default_rng(seed)
    for i in range(n):
        name = names[i % len(names)]
        path = out / name / f"{name}_{i:05d}.jpg"
        # Draw every random number even for files already there, so a resumed run matches.
        image = pictures[name]
        h, w, _ = image.shape
        side = int(rng.uniform(0.3, 1.0) * min(h, w))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        flip = rng.random() < 0.5
        jitter_rng = np.random.default_rng([seed, i])
        if path.exists():
            continue
        crop = image[top:top + side, left:left + side]
        if flip:
            crop = crop[:, ::-1]
        crop = _jitter(crop, jitter_rng)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).resize((size, size), Image.BILINEAR).save(path, quality=90)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_images(args.out, args.n, size=args.size, seed=args.seed)
    print(f"{args.n} images in {args.out}")


if __name__ == "__main__":
    main()
