"""Real stimuli that ship with the installed packages, so every analysis runs offline."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

from .._deprecation import keyword_only
from .._validation import check_option
from ._set import StimulusSet

__all__ = ["digits", "digits_split"]

_SPLITS = ("all", "train", "test")


@lru_cache(maxsize=1)
def digits_split() -> dict[str, tuple[int, ...]]:
    """The fixed train/test split of scikit-learn's digits used by the bundled zoo.

    A stratified split (75 % train, 25 % test), stored as row indices into
    :func:`sklearn.datasets.load_digits` so that it never depends on the
    scikit-learn version.
    """
    text = resources.files("deeprsa").joinpath("data", "digits_split.json").read_text()
    data = json.loads(text)
    return {"train": tuple(data["train"]), "test": tuple(data["test"])}


@keyword_only("split")
def digits(*, split: str = "all") -> StimulusSet:
    """Scikit-learn's bundled 1,797 handwritten digits as a :class:`StimulusSet`.

    Images are 8 x 8 grayscale, scaled to [0, 1] (the raw 0-16 values / 16).

    Parameters
    ----------
    split : {"all", "train", "test"}, default="all"
        Which part of the zoo's fixed split to return; see :func:`digits_split`.

    Returns
    -------
    StimulusSet
        Ids ``"digit_0000"`` ... (row of ``load_digits``), with metadata columns
        ``label`` (the digit, int), ``ink`` (mean intensity in [0, 1]),
        ``row`` (index into ``load_digits``) and ``split``.

    Examples
    --------
    >>> stim = digits(split="test")
    >>> len(stim), sorted(stim.metadata.columns)
    (450, ['ink', 'label', 'row', 'split'])
    >>> stim.load(0).shape
    torch.Size([1, 8, 8])
    """
    check_option("split", split, _SPLITS)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    parts = digits_split()
    which = np.empty(len(images), dtype=object)
    which[list(parts["train"])] = "train"
    which[list(parts["test"])] = "test"
    rows = np.arange(len(images)) if split == "all" else np.asarray(parts[split])
    return StimulusSet.from_arrays(
        images[rows],
        labels=bunch.target[rows].astype(int),
        stimulus_ids=[f"digit_{r:04d}" for r in rows],
        metadata={
            "ink": images[rows].mean(axis=(1, 2)).astype(float),
            "row": rows,
            "split": which[rows],
        },
    )
