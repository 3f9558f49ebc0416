"""Write a folder of real images, one subfolder per class, for the torchvision examples.

Uses only images that ship with scikit-learn (no download): crops of its two sample
photographs (a temple in China, a flower) and its handwritten digits, enlarged.

    python examples/make_image_folder.py [OUT] [--n-per-class N]

OUT defaults to ``images`` next to this script, where ``torchvision_random.toml`` and
``resnet18_seeds.toml`` look for it; N defaults to 6 (18 images in 3 classes).
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

N_PER_CLASS = 6


def main(out: Path, n_per_class: int = N_PER_CLASS) -> None:
    rng = np.random.default_rng(0)
    photos = load_sample_images()
    for name, photo in zip(("china", "flower"), photos.images, strict=True):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        h, w, _ = photo.shape
        for i in range(n_per_class):
            size = int(rng.integers(160, min(h, w)))
            top, left = rng.integers(0, h - size), rng.integers(0, w - size)
            crop = Image.fromarray(photo[top:top + size, left:left + size])
            crop.resize((224, 224), Image.BILINEAR).save(folder / f"{name}_{i:03d}.png")
    digits = load_digits()
    folder = out / "digits"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_per_class):
        pixels = (digits.images[i] / 16 * 255).astype(np.uint8)
        image = Image.fromarray(pixels).resize((224, 224), Image.NEAREST).convert("RGB")
        image.save(folder / f"digit_{digits.target[i]}_{i:03d}.png")
    print(f"wrote {3 * n_per_class} images to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path(__file__).parent / "images",
                        help="folder to write (default: images next to this script)")
    parser.add_argument("--n-per-class", type=int, default=N_PER_CLASS,
                        help=f"images per class (default {N_PER_CLASS})")
    args = parser.parse_args()
    main(args.out, args.n_per_class)
