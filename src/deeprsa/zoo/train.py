"""Train the zoo deterministically on CPU, and evaluate networks on the digits split."""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._validation import check_option
from ._data import SPLITS, _normalize, _split_arrays
from .architectures import build, count_parameters
from .catalog import ENTRIES, RUNS, _card_fields, _check_entry, _listing_order

__all__ = ["RECIPE", "evaluate", "predict", "train_zoo"]

logger = logging.getLogger(__name__)

RECIPE = {
    "data": "deeprsa.datasets.digits(split='train'): 1347 images of sklearn's load_digits, "
            "pixels / 16, normalised with the zoo's mean and std",
    "loss": "cross-entropy",
    "optimizer": "Adam",
    "lr": 1e-3,
    "betas": [0.9, 0.999],
    "weight_decay": 0.0,
    "schedule": "cosine annealing of the learning rate to 0 over the run, stepped per epoch",
    "batch_size": 32,
    "augmentation": "none",
    "init": "torch.manual_seed(seed) immediately before building the network",
    "shuffle": "torch.randperm each epoch with a torch.Generator seeded with seed",
    "num_threads": 1,
    "deterministic_algorithms": True,
}
"""The training recipe shared by every entry (each run sets its own ``epochs``)."""


@contextmanager
def _deterministic(num_threads: int):
    """Fix torch's intra-op threads and turn on deterministic algorithms, then restore."""
    import torch

    threads = torch.get_num_threads()
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.set_num_threads(threads)


def predict(model, *, split: str = "test", batch_size: int = 512) -> np.ndarray:
    """Predicted digit of every stimulus in one split of the zoo's digits.

    Parameters
    ----------
    model : torch.nn.Module or LoadedModel
        A bare network from :func:`build` (its input is normalised with the
        zoo's mean and std) or a model from :func:`deeprsa.load_model` (its
        own preprocessing is applied to each stimulus).
    split : {"test", "train"}, default="test"
        Which part of the fixed split; see :func:`deeprsa.stimuli.digits_split`.
    batch_size : int, default=512
        Stimuli per forward pass. Changes the logits only by float32
        rounding (about 1e-6), so only a near-tie between two classes can
        change its prediction.

    Returns
    -------
    ndarray of shape (n_stimuli,)
        Predicted classes (int), in the order of
        ``deeprsa.digits(split=split).stimulus_ids``.

    Raises
    ------
    ValueError
        If ``split`` is unknown or ``batch_size`` is not a positive int.
    TypeError
        If ``model`` is neither a torch module nor a LoadedModel.

    Examples
    --------
    >>> from deeprsa.zoo import build
    >>> predict(build("mlp", seed=0)).shape
    (450,)
    """
    import torch

    from ..models import LoadedModel

    check_option("split", split, SPLITS)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    images = torch.from_numpy(_split_arrays(split)[0].copy())
    if isinstance(model, LoadedModel):
        module = model.module
        inputs = torch.stack([model.preprocessing(image) for image in images])
    elif isinstance(model, torch.nn.Module):
        module = model
        inputs = _normalize(images)
    else:
        raise TypeError(
            f"model must be a torch.nn.Module or a deeprsa LoadedModel, got "
            f"{type(model).__name__}. Load a zoo entry with deeprsa.load_model('zoo:<name>')."
        )
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            logits = [module(inputs[i:i + batch_size]) for i in range(0, len(inputs), batch_size)]
    finally:
        module.train(was_training)
    return torch.cat(logits).argmax(dim=1).numpy()


def evaluate(model, *, split: str = "test") -> float:
    """Accuracy of a network on one split of the zoo's digits.

    Parameters
    ----------
    model : torch.nn.Module or LoadedModel
        As in :func:`predict`.
    split : {"test", "train"}, default="test"
        Which part of the fixed split.

    Returns
    -------
    float
        Fraction of stimuli whose predicted class is their label.

    See Also
    --------
    predict : The predicted class of every stimulus.

    Examples
    --------
    >>> import deeprsa
    >>> round(evaluate(deeprsa.load_model("zoo:convnet_s0")), 3)
    0.973
    """
    pred = predict(model, split=split)
    return float(np.mean(pred == _split_arrays(split)[1]))


def _train_run(run, epochs_to_keep):
    """Train one run; return {epoch: state dict} for the epochs to keep (0 = init)."""
    import torch
    import torch.nn.functional as F

    images, labels, _ = _split_arrays("train")
    x = _normalize(torch.from_numpy(images.copy()))
    y = torch.from_numpy(labels.copy())
    last = max(epochs_to_keep)
    kept = {}
    with _deterministic(RECIPE["num_threads"]):
        net = build(run.architecture, seed=run.seed, width=run.width)
        optimizer = torch.optim.Adam(net.parameters(), lr=RECIPE["lr"],
                                     betas=tuple(RECIPE["betas"]),
                                     weight_decay=RECIPE["weight_decay"])
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=run.epochs)
        shuffle = torch.Generator().manual_seed(run.seed)
        batch = RECIPE["batch_size"]
        for epoch in range(last + 1):
            if epoch > 0:
                net.train()
                order = torch.randperm(len(x), generator=shuffle)
                for start in range(0, len(x), batch):
                    idx = order[start:start + batch]
                    loss = F.cross_entropy(net(x[idx]), y[idx])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                schedule.step()
            if epoch in epochs_to_keep:
                kept[epoch] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return kept


def _make_card(entry, state) -> dict:
    """Evaluate ``state`` in the entry's architecture and write down what it is."""
    import torch

    from .. import __version__
    from ..models import hash_weights

    net = build(entry.architecture, seed=entry.seed, width=entry.width)
    net.load_state_dict(state)
    net.eval()
    _, test_labels, test_ids = _split_arrays("test")
    pred = predict(net, split="test")
    per_class = {str(c): float(np.mean(pred[test_labels == c] == c)) for c in range(10)}
    return {
        **_card_fields(entry),
        "n_parameters": count_parameters(net),
        "recipe": {**RECIPE, "epochs": entry.run_epochs},
        "test_accuracy": float(np.mean(pred == test_labels)),
        "train_accuracy": evaluate(net, split="train"),
        "per_class_accuracy": per_class,
        "weights_file": f"{entry.name}.pt",
        "weights_hash": hash_weights(net),
        "torch_version": torch.__version__.split("+")[0],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "deeprsa_version": __version__,
        "stimuli": "deeprsa.digits(split='test'); predictions follow stimulus_ids",
        "stimulus_ids": list(test_ids),
        "predictions": [int(p) for p in pred],
    }


def train_zoo(out_dir, *, entries=None):
    """Train zoo entries from their seeds and write their weights and cards.

    Each entry is written as ``<name>.pt`` (a state dict, loadable with
    ``torch.load(..., weights_only=True)``) and ``<name>.json`` (its card).
    Training runs on CPU with one thread and deterministic algorithms
    (:data:`RECIPE`), so a rerun with the torch version and CPU capability
    recorded in the cards reproduces the shipped weights bit for bit.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write to; created if missing. Existing files of the
        same names are replaced.
    entries : str or sequence of str, optional
        Names of the entries to train (see :func:`list_entries`); default
        all. A checkpoint such as ``"convnet_s0_epoch3"`` trains its run only
        as far as needed.

    Returns
    -------
    pandas.DataFrame
        One row per written entry: name, architecture, width, seed, epoch,
        n_parameters, test_accuracy, train_accuracy and ``train_seconds``
        (wall time of the entry's run).

    Raises
    ------
    ValueError
        If an entry name is unknown (with a did-you-mean) or ``entries`` is
        empty.

    Examples
    --------
    The untrained checkpoint needs no training at all:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     table = train_zoo(tmp, entries=["convnet_s0_epoch0"])
    >>> table[["name", "epoch", "n_parameters"]].to_dict("records")
    [{'name': 'convnet_s0_epoch0', 'epoch': 0, 'n_parameters': 40394}]
    """
    import pandas as pd
    import torch
    from tqdm.auto import tqdm

    names = list(ENTRIES) if entries is None else [entries] if isinstance(entries, str) \
        else list(entries)
    if not names:
        raise ValueError("entries is empty: name at least one entry, or pass None for the "
                         "whole zoo.")
    for name in names:
        _check_entry(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for name in dict.fromkeys(names):
        entry = ENTRIES[name]
        wanted.setdefault(entry.run, {})[entry.epoch] = entry
    rows = []
    for run_name in tqdm([r for r in RUNS if r in wanted], desc="training zoo", disable=None):
        run, by_epoch = RUNS[run_name], wanted[run_name]
        start = time.perf_counter()
        states = _train_run(run, set(by_epoch))
        seconds = time.perf_counter() - start
        logger.info("trained %s (%d epochs) in %.1f s", run_name, max(by_epoch), seconds)
        for epoch, entry in sorted(by_epoch.items()):
            card = _make_card(entry, states[epoch])
            torch.save(states[epoch], out / card["weights_file"])
            (out / f"{entry.name}.json").write_text(json.dumps(card, indent=1) + "\n")
            rows.append({k: card[k] for k in ("name", "architecture", "width", "seed", "epoch",
                                              "n_parameters", "test_accuracy",
                                              "train_accuracy")}
                        | {"train_seconds": round(seconds, 2)})
    order = {name: i for i, name in enumerate(_listing_order(ENTRIES))}
    return pd.DataFrame(sorted(rows, key=lambda row: order[row["name"]]))
