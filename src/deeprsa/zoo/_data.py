"""The zoo's data: the fixed digits split as tensors, and the normalisation the nets expect."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..models import Preprocessing
from ..stimuli.datasets import digits_split

# Mean and std of the training split's pixels (in [0, 1]), rounded to 4 decimals. Training
# and the preprocessing of every loaded entry use exactly these numbers.
MEAN = 0.3052
STD = 0.3760

PREPROCESSING = Preprocessing(channels=1, resize=None, crop=None, mean=(MEAN,), std=(STD,))

SPLITS = ("train", "test")


@lru_cache(maxsize=2)
def _split_arrays(split: str):
    """Images (n, 1, 8, 8) float32 in [0, 1], labels (n,) int64 and ids of one split.

    The same numbers as :func:`deeprsa.datasets.digits`, read in one go. The
    cached arrays are read-only; callers copy before changing them.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rows = np.asarray(digits_split()[split])
    images = (bunch.images[rows] / 16.0).astype(np.float32)[:, None]
    labels = bunch.target[rows].astype(np.int64)
    ids = tuple(f"digit_{r:04d}" for r in rows)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels, ids


def _normalize(images):
    """Normalise a batch (n, 1, h, w) exactly as :data:`PREPROCESSING` does one image."""
    from torchvision.transforms import functional as F

    return F.normalize(images, [MEAN], [STD])
