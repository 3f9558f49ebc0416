"""Write a small folder of real images, one subfolder per class, for torchvision_random.toml.

Uses only images that ship with scikit-learn (no download): crops of its two sample
photographs (a temple in China, a flower) and its handwritten digits, enlarged.

    python examples/make_image_folder.py [OUT]     # default: examples/images
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

N_PER_CLASS = 6


def main(out: Path) -> None:
    rng = np.random.default_rng(0)
    photos = load_sample_images()
    for name, photo in zip(("china", "flower"), photos.images, strict=True):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        h, w, _ = photo.shape
        for i in range(N_PER_CLASS):
            size = int(rng.integers(160, min(h, w)))
            top, left = rng.integers(0, h - size), rng.integers(0, w - size)
            crop = Image.fromarray(photo[top:top + size, left:left + size])
            crop.resize((224, 224), Image.BILINEAR).save(folder / f"{name}_{i}.png")
    digits = load_digits()
    folder = out / "digits"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N_PER_CLASS):
        pixels = (digits.images[i] / 16 * 255).astype(np.uint8)
        image = Image.fromarray(pixels).resize((224, 224), Image.NEAREST).convert("RGB")
        image.save(folder / f"digit_{digits.target[i]}_{i}.png")
    print(f"wrote {3 * N_PER_CLASS} images to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "images")
