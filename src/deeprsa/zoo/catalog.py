"""The zoo's entries, their cards, and loading them for the ``zoo:`` model source."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from .._validation import check_option
from ._data import PREPROCESSING
from .architectures import build, count_parameters

__all__ = ["ENTRIES", "RUNS", "card", "default_stimuli", "list_entries", "predictions"]

EPOCHS = 20
"""Epochs of every training run."""

CHECKPOINT_EPOCHS = (0, 1, 2, 3, 5, 10)
"""Epochs at which ``convnet_s0`` is also shipped as ``convnet_s0_epoch<k>``."""

N_SEEDS = 5


@dataclass(frozen=True)
class _Run:
    """One training run: an architecture, a width and a seed, trained for ``epochs``."""

    name: str
    architecture: str
    seed: int
    width: int = 1
    epochs: int = EPOCHS
    checkpoints: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Entry:
    """One shipped network: a run's weights after ``epoch`` epochs."""

    name: str
    run: str
    architecture: str
    seed: int
    width: int
    epoch: int
    run_epochs: int


def _plan():
    runs = [_Run(f"{arch}_s{seed}", arch, seed, checkpoints=CHECKPOINT_EPOCHS
                 if (arch, seed) == ("convnet", 0) else ())
            for arch in ("convnet", "resnet", "mlp") for seed in range(N_SEEDS)]
    runs += [_Run(f"convnet_wide_s{seed}", "convnet", seed, width=2) for seed in range(N_SEEDS)]
    runs = {r.name: r for r in runs}
    entries = {}
    for run in runs.values():
        for epoch in (run.epochs, *run.checkpoints):
            name = run.name if epoch == run.epochs else f"{run.name}_epoch{epoch}"
            entries[name] = _Entry(name, run.name, run.architecture, run.seed, run.width,
                                   epoch, run.epochs)
    return runs, entries


RUNS, ENTRIES = _plan()
"""Training runs and shipped entries, by name, in the order of :func:`list_entries`."""


def _check_entry(name) -> _Entry:
    """Return the entry called ``name``, or raise a ValueError that names the closest."""
    if isinstance(name, str) and name not in ENTRIES:
        seeds = [n for n in ENTRIES if n.startswith(f"{name}_s") and n[len(name) + 2:].isdigit()]
        if seeds:
            raise ValueError(
                f"Unknown zoo model {name!r}: that is a family of entries, one per training "
                f"seed. Pick one: {', '.join(map(repr, seeds))}."
            )
    check_option("zoo model", name, ENTRIES)
    return ENTRIES[name]


def _listing_order(names) -> list[str]:
    """Final entries first, then training checkpoints, each in plan order."""
    names = list(names)
    finals = [n for n in names if ENTRIES[n].epoch == ENTRIES[n].run_epochs]
    return finals + [n for n in names if n not in finals]


def _card_fields(entry: _Entry) -> dict:
    return {"name": entry.name, "architecture": entry.architecture, "width": entry.width,
            "seed": entry.seed, "epoch": entry.epoch, "final": entry.epoch == entry.run_epochs,
            "run": entry.run}


def _weights_dir():
    return resources.files("deeprsa").joinpath("zoo", "weights")


def _missing(path) -> FileNotFoundError:
    return FileNotFoundError(
        f"The zoo file {str(path)!r} is missing from this installation. Reinstall deeprsa, "
        "or retrain the zoo with `deeprsa zoo train --out DIR` and load a state dict with "
        "load_model('zoo:<name>', weights='DIR/<name>.pt')."
    )


@cache
def _read_card(name: str, directory: str | None) -> dict:
    path = (_weights_dir() if directory is None else Path(directory)).joinpath(f"{name}.json")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise _missing(path) from None


def card(name: str, *, directory=None) -> dict:
    """The model card of a zoo entry.

    Parameters
    ----------
    name : str
        A zoo entry, e.g. ``"convnet_s0"``; see :func:`list_entries`.
    directory : str or Path, optional
        Read the card from a directory written by :func:`train_zoo` instead
        of the shipped zoo.

    Returns
    -------
    dict
        ``name``, ``architecture``, ``width``, ``seed``, ``epoch``, ``final``
        (whether this is the end of its run), ``run``, ``n_parameters``,
        ``recipe``, ``test_accuracy``, ``train_accuracy``,
        ``per_class_accuracy`` (digit -> accuracy), ``weights_file``,
        ``weights_hash`` (as :func:`deeprsa.models.hash_weights`),
        ``torch_version`` and ``cpu_capability`` of the training run
        (retraining with the same two reproduces the weights bit for bit),
        ``deeprsa_version``, ``stimuli``, ``stimulus_ids`` (the test
        split) and ``predictions`` (the predicted digit of each of them).

    Raises
    ------
    ValueError
        If ``name`` is not a zoo entry (with a did-you-mean).

    Examples
    --------
    >>> c = card("resnet_s1")
    >>> c["architecture"], c["seed"], c["recipe"]["epochs"]
    ('resnet', 1, 20)
    >>> len(c["predictions"]) == len(c["stimulus_ids"]) == 450
    True
    """
    _check_entry(name)
    return copy.deepcopy(_read_card(name, None if directory is None else str(directory)))


def list_entries(*, directory=None):
    """Table of the zoo's entries with their performance.

    Parameters
    ----------
    directory : str or Path, optional
        List the cards in a directory written by :func:`train_zoo` instead
        of the shipped zoo (only the entries present there).

    Returns
    -------
    pandas.DataFrame
        One row per entry: ``name``, ``architecture``, ``width``, ``seed``,
        ``epoch``, ``final``, ``run``, ``n_parameters``, ``test_accuracy``
        and ``train_accuracy``. Final entries first (convnet, resnet, mlp,
        convnet_wide; seeds in order), then the training checkpoints.

    Examples
    --------
    >>> table = list_entries()
    >>> table.loc[table["final"], "name"].head(3).tolist()
    ['convnet_s0', 'convnet_s1', 'convnet_s2']
    >>> sorted(table["architecture"].unique())
    ['convnet', 'mlp', 'resnet']
    """
    import pandas as pd

    columns = ["name", "architecture", "width", "seed", "epoch", "final", "run",
               "n_parameters", "test_accuracy", "train_accuracy"]
    names = list(ENTRIES)
    if directory is not None:
        folder = Path(directory)
        if not folder.is_dir():
            raise FileNotFoundError(f"directory {str(folder)!r} does not exist.")
        names = [n for n in names if (folder / f"{n}.json").is_file()]
    rows = []
    for name in _listing_order(names):
        c = _read_card(name, None if directory is None else str(directory))
        rows.append({k: c[k] for k in columns})
    return pd.DataFrame(rows, columns=columns)


def predictions(name: str) -> np.ndarray:
    """Recorded predicted digit of every test stimulus for a zoo entry.

    Parameters
    ----------
    name : str
        A zoo entry; see :func:`list_entries`.

    Returns
    -------
    ndarray of shape (450,)
        In the order of ``deeprsa.digits(split="test").stimulus_ids``, so that
        the errors of two entries can be compared stimulus by stimulus.

    Examples
    --------
    >>> import deeprsa
    >>> labels = deeprsa.digits(split="test").labels
    >>> a, b = predictions("convnet_s0"), predictions("convnet_s1")
    >>> int(((a != labels) & (b != labels)).sum())  # errors both make
    5
    """
    _check_entry(name)
    return np.asarray(_read_card(name, None)["predictions"], dtype=np.int64)


def default_stimuli(n_per_class: int | None = None, *, seed=0):
    """The zoo's held-out test digits, the default stimuli of ``deeprsa demo``.

    Parameters
    ----------
    n_per_class : int, optional
        Draw this many stimuli of each digit (at most 43); default all 450.
    seed : int, numpy.random.Generator or None, default=0
        Seeds the draw when ``n_per_class`` is given.

    Returns
    -------
    StimulusSet
        The test split of :func:`deeprsa.digits`, in its order.

    Examples
    --------
    >>> len(default_stimuli()), len(default_stimuli(5))
    (450, 50)
    """
    from ..stimuli.datasets import digits

    stim = digits(split="test")
    return stim if n_per_class is None else stim.sample(n_per_class, seed=seed)


def _load_for_source(name, *, weights, seed):
    """Build zoo entry ``name`` with trained, random (seeded init) or file weights."""
    import torch

    from ..models import SourceResult
    from ..models._registry import _load_state_dict_file

    entry = _check_entry(name)
    if weights == "random":
        init_seed = entry.seed if seed is None else seed
        module = build(entry.architecture, seed=init_seed, width=entry.width)
        info = {"name": entry.name, "architecture": entry.architecture, "width": entry.width,
                "seed": init_seed, "epoch": 0, "n_parameters": count_parameters(module),
                "weights": "random: the seeded initial weights, before training"}
        return SourceResult(module, PREPROCESSING, info)
    module = build(entry.architecture, seed=entry.seed, width=entry.width)
    if isinstance(weights, Path):
        _load_state_dict_file(module, weights)
        info = {k: v for k, v in _card_fields(entry).items() if k != "seed"}
        return SourceResult(module, PREPROCESSING, {**info, "weights_file": str(weights)})
    info = card(name)
    path = _weights_dir().joinpath(info["weights_file"])
    try:
        with path.open("rb") as f:
            state = torch.load(f, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise _missing(path) from None
    module.load_state_dict(state)
    return SourceResult(module, PREPROCESSING, info)
