"""Write the held-out digits in four rotations, with a CSV of their metadata, for
rotated_digits.toml (pytorch_feature_analysis' objects in four colours, here digits in four
rotations: one RDM over the rotations per digit class, then meta-RDMs across the classes).

Uses only scikit-learn's bundled digits (no download): 8 per class, each at 0, 90, 180 and
270 degrees (exact quarter turns of the 8 x 8 pixels), 320 images.

    python examples/make_rotated_digits.py [OUT]     # default: examples/rotated_digits
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

import deeprsa

N_PER_CLASS = 8
ROTATIONS = (0, 90, 180, 270)


def main(out: Path) -> None:
    digits = deeprsa.digits(split="test").sample(N_PER_CLASS, seed=0).sort_by(["label"])
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, stimulus_id in enumerate(digits.stimulus_ids):
        pixels = digits.load(i).numpy()[0]  # (8, 8) in [0, 1], multiples of 1/16
        label = int(digits.metadata["label"].iloc[i])
        for rotation in ROTATIONS:
            name = f"{stimulus_id}_r{rotation:03d}.png"
            turned = np.rot90(pixels, k=rotation // 90)
            Image.fromarray(np.round(turned * 255).astype(np.uint8), mode="L").save(out / name)
            rows.append({"stimulus_id": name.removesuffix(".png"), "path": name, "label": label,
                         "rotation": rotation, "digit": stimulus_id})
    pd.DataFrame(rows).to_csv(out / "stimuli.csv", index=False)
    print(f"wrote {len(rows)} images and {out / 'stimuli.csv'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "rotated_digits")
