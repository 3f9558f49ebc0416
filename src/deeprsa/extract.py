"""One forward pass per batch for all selected layers, reduced and streamed into the store.

:func:`extract` hooks every selected layer, runs each batch of stimuli through
the network once (eval mode, ``torch.inference_mode()``), reduces each layer's
output to ``(batch, n_features)`` and hands the rows to a background writer
that appends them to one Zarr array per layer. Peak memory is bounded by the
batch size times the selected layers, never by the number of stimuli.

Progress is recorded after each batch is on disk. A run that fails or is
killed keeps every finished batch; running the same call again resumes from
there and ends bit-identical to an uninterrupted run (same batch size).
"""

from __future__ import annotations

import logging
import queue
import threading
from functools import lru_cache

import numpy as np

from ._validation import Registry, suggest
from .layers import _first_tensor, _table, probe, select_layers
from .models import load_model
from .stimuli import StimulusSet
from .store import Store

__all__ = ["extract", "list_reductions", "register_reduction", "REDUCTIONS"]

log = logging.getLogger(__name__)
REDUCTIONS = Registry("reduction")


def register_reduction(name: str):
    """Register ``func(output, **params) -> (batch, n_features) tensor`` as a reduction."""
    return REDUCTIONS.register(name)


def list_reductions() -> list[str]:
    """Names of the registered reductions, sorted."""
    return sorted(REDUCTIONS)


@register_reduction("flatten")
def _flatten(x):
    """Every unit: the output flattened to (batch, channels x height x width)."""
    return x.reshape(x.shape[0], -1)


@register_reduction("spatial_mean")
def _spatial_mean(x):
    """Mean over the spatial axes of a (batch, channels, ...) map: one value per channel."""
    if x.ndim == 3:
        raise ValueError(
            "spatial_mean needs a (batch, channels, height, width) map; this layer gives "
            f"{tuple(x.shape)} tokens. Use 'cls_token' or 'token_mean' for transformers.")
    return x.reshape(x.shape[0], -1) if x.ndim <= 2 else x.flatten(2).mean(dim=2)


@register_reduction("cls_token")
def _cls_token(x):
    """The class token (position 0) of a (batch, tokens, features) transformer output."""
    if x.ndim != 3:
        raise ValueError(f"cls_token needs (batch, tokens, features); got {tuple(x.shape)}.")
    return x[:, 0]


@register_reduction("token_mean")
def _token_mean(x):
    """Mean over the tokens of a (batch, tokens, features) transformer output."""
    if x.ndim != 3:
        raise ValueError(f"token_mean needs (batch, tokens, features); got {tuple(x.shape)}.")
    return x.mean(dim=1)


@lru_cache(maxsize=64)
def _subsample_indices(n_units: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_units, size=k, replace=False))


@register_reduction("subsample_units")
def _subsample_units(x, k=1000, seed=0):
    """A seeded random subset of k units of the flattened output (seed 001 uses 1,000)."""
    import torch

    flat = x.reshape(x.shape[0], -1)
    n = flat.shape[1]
    if k >= n:
        return flat
    idx = torch.from_numpy(_subsample_indices(n, int(k), int(seed))).to(flat.device)
    return flat.index_select(1, idx)


def _canonical_reduction(spec, layer) -> dict:
    """``"flatten"``, ``"subsample_units:1000"`` or ``{"name": ..., **params}`` -> dict."""
    if isinstance(spec, str):
        name, _, arg = spec.partition(":")
        params = {}
        if arg:
            if name != "subsample_units":
                raise ValueError(f"Reduction {name!r} takes no ':' argument (layer {layer!r}).")
            params["k"] = int(arg)
        spec = {"name": name, **params}
    elif not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(
            f"A reduction is a name such as 'flatten' or a dict with a 'name' key; got "
            f"{spec!r} for layer {layer!r}.")
    REDUCTIONS.get_checked(spec["name"])
    out = dict(spec)
    if out["name"] == "subsample_units":
        out.setdefault("k", 1000)
        out.setdefault("seed", 0)
        if int(out["k"]) < 1:
            raise ValueError(f"subsample_units needs k >= 1, got {out['k']} (layer {layer!r}).")
    return out


def _reduce(output, reduction: dict, layer: str):
    import torch

    t = _first_tensor(output)
    if t is None:
        raise TypeError(f"Layer {layer!r} returned {type(output).__name__} with no tensor in it.")
    params = {k: v for k, v in reduction.items() if k != "name"}
    try:
        out = REDUCTIONS[reduction["name"]](t, **params)
    except ValueError as err:
        raise ValueError(f"Layer {layer!r}: {err}") from None
    return out.detach().to("cpu", torch.float32)


class _Writer(threading.Thread):
    """Background thread writing (start, {key: rows}) batches, then recording progress."""

    def __init__(self, store: Store, arrays: dict):
        super().__init__(daemon=True, name="deeprsa-writer")
        self.store, self.arrays = store, arrays
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None

    def run(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            start, blocks = item
            try:
                end = start
                for key, rows in blocks.items():
                    self.arrays[key][start:start + len(rows)] = rows
                    end = start + len(rows)
                self.store.mark_progress_many({key: end for key in blocks})
            except BaseException as err:  # surfaced in the main thread
                self.error = err

    def put(self, item):
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def close(self):
        self.queue.put(None)
        self.join()
        if self.error is not None:
            raise self.error


def _batches(stimuli: StimulusSet, prep, start: int, batch_size: int):
    """Yield (start, batch tensor), preparing the next batch in a thread meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    def make(s):
        return torch.stack([prep(stimuli.load(i))
                            for i in range(s, min(s + batch_size, len(stimuli)))])

    starts = list(range(start, len(stimuli), batch_size))
    if not starts:
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(make, starts[0])
        for i, s in enumerate(starts):
            batch = future.result()
            if i + 1 < len(starts):
                future = pool.submit(make, starts[i + 1])
            yield s, batch


def extract(model, stimuli: StimulusSet, layers, store, *, reduction="flatten",
            batch_size: int = 64, device="cpu", weights="trained", seed=None,
            progress: bool = True):
    """Extract the activations of all selected layers in one pass and stream them to a store.

    Parameters
    ----------
    model : str, torch.nn.Module or LoadedModel
        What :func:`deeprsa.load_model` accepts, e.g. ``"torchvision:resnet18"``.
    stimuli : StimulusSet
        The stimuli, in the order rows are stored.
    layers : str, int or sequence
        Layer selectors (module paths, ordinals, types, globs or a preset);
        see :func:`deeprsa.select_layers`.
    store : Store or str or Path
        Where the arrays go (created when missing).
    reduction : str or dict, default="flatten"
        How each layer's output becomes ``(n_stimuli, n_features)``:
        ``"flatten"``, ``"spatial_mean"``, ``"cls_token"``, ``"token_mean"``,
        ``"subsample_units:1000"`` (or ``{"name": "subsample_units", "k": 1000,
        "seed": 0}``); or a dict ``{layer: reduction}`` for per-layer choices
        (layers not named get ``"flatten"``). See :func:`list_reductions`.
    batch_size : int, default=64
        Stimuli per forward pass; peak memory grows with it.
    device : str or torch.device, default="cpu"
        Where the forward pass runs, e.g. ``"cuda"``.
    weights : {"trained", "random"} or path, default="trained"
        Used when ``model`` is a spec string; see :func:`deeprsa.load_model`.
    seed : int, optional
        Seed of random weights, when ``model`` is a spec string.
    progress : bool, default=True
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per selected layer: ``model``, ``layer``, ``reduction``,
        ``key`` (the store array), ``n_features`` and ``status``
        (``"extracted"``, ``"resumed"`` or ``"skipped"`` when already complete).

    Raises
    ------
    ValueError
        For unknown layers or reductions (with suggestions), or a reduction that
        does not fit a layer's output.

    Examples
    --------
    >>> import tempfile
    >>> from deeprsa import datasets
    >>> stim = datasets.digits(split="test").sample(2, seed=0)
    >>> out = extract("torchvision:alexnet", stim, ["features.2", "classifier.6"],
    ...               tempfile.mkdtemp(), weights="random", batch_size=8, progress=False)
    >>> out[["layer", "n_features", "status"]]
              layer  n_features     status
    0    features.2       46656  extracted
    1  classifier.6        1000  extracted
    """
    import torch
    from tqdm.auto import tqdm

    if not isinstance(stimuli, StimulusSet):
        raise TypeError(f"stimuli must be a StimulusSet, got {type(stimuli).__name__}. Build "
                        "one with StimulusSet.from_folder/from_csv/from_arrays.")
    if len(stimuli) == 0:
        raise ValueError("The stimulus set is empty.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    loaded = load_model(model, weights=weights, seed=seed) if isinstance(model, str) \
        else load_model(model)
    store = store if isinstance(store, Store) else Store(store)
    device = torch.device(device)
    module, prep, reductions, plan = _plan(loaded, stimuli, layers, store,
                                           reduction=reduction, batch_size=batch_size,
                                           device=device)

    pending = {n: p for n, p in plan.items() if p["done"] < len(stimuli)}
    if pending:
        start = min(p["done"] for p in pending.values())
        start -= start % batch_size
        _run(module, stimuli, prep, pending, reductions, store, start, batch_size, device,
             progress=progress, desc=loaded.name, tqdm=tqdm)
    rows = []
    for name, p in plan.items():
        status = ("skipped" if name not in pending else
                  "resumed" if p["done"] > 0 else "extracted")
        rows.append({"model": loaded.name, "layer": name, "reduction": reductions[name]["name"],
                     "key": p["key"], "n_features": p["width"], "status": status})
    import pandas as pd

    return pd.DataFrame(rows)


def _plan(loaded, stimuli, layers, store, *, reduction, batch_size, device):
    """Select the layers and create (or reopen) one store array per layer; run nothing.

    Returns ``(module, preprocessing, reductions, plan)``; ``plan`` maps each
    layer to its ``key``, ``array``, ``done`` (rows on disk) and ``width``.
    """
    import pandas as pd
    import torch

    module = loaded.module.to(device)
    prep = loaded.preprocessing

    first = prep(stimuli.load(0)).unsqueeze(0).to(device)
    record = probe(module, first)
    table = _table(module, record, pd)
    names = select_layers(table, layers)
    reductions = _per_layer_reductions(reduction, names)

    stim_hash = store.add_stimuli(stimuli.stimulus_ids, stimuli.content_hash())
    base = loaded.provenance()
    with torch.inference_mode():
        outputs = _capture(module, names, first)
    plan = {}
    for name in names:
        red = reductions[name]
        width = _reduce(outputs[name], red, name).shape[1]
        fields = {**base, "layer": name, "reduction": red, "stimuli": stim_hash,
                  "dtype": "float32"}
        key, array, done = store.create(
            "activations", fields, shape=(len(stimuli), width), dtype="float32",
            chunks=_chunks(batch_size, width))
        if store.has(key):
            done = len(stimuli)
        plan[name] = {"key": key, "array": array, "done": done, "width": width}
    return module, prep, reductions, plan


def _capture(module, names, example) -> dict:
    """Outputs of the layers ``names`` for ``example`` (last call of each), in one pass."""
    captured: dict = {}
    handles = [module.get_submodule(name).register_forward_hook(
        lambda _m, _i, out, name=name: captured.__setitem__(name, out)) for name in names]
    try:
        module(example)
    finally:
        for h in handles:
            h.remove()
    return captured


def _per_layer_reductions(reduction, names) -> dict:
    if isinstance(reduction, dict) and "name" not in reduction:
        unknown = [k for k in reduction if k not in names]
        if unknown:
            raise ValueError(
                f"reduction names layer {unknown[0]!r}, which is not selected."
                f"{suggest(unknown[0], names)} Selected: {names}.")
        return {n: _canonical_reduction(reduction.get(n, "flatten"), n) for n in names}
    return {n: _canonical_reduction(reduction, n) for n in names}


def _chunks(batch_size, width, target_bytes=8 << 20):
    cols = max(1, min(width, target_bytes // (4 * batch_size)))
    return (batch_size, cols)


def _run(module, stimuli, prep, pending, reductions, store, start, batch_size, device, *,
         progress, desc, tqdm):
    import torch

    captured: dict = {}  # layer -> output of its last call in this batch
    handles = [module.get_submodule(name).register_forward_hook(
        lambda _m, _i, out, name=name: captured.__setitem__(name, out)) for name in pending]
    writer = _Writer(store, {p["key"]: p["array"] for p in pending.values()})
    writer.start()
    bar = tqdm(total=len(stimuli), initial=start, desc=f"extract {desc}", unit="stim",
               disable=not progress)
    try:
        with torch.inference_mode():
            for s, batch in _batches(stimuli, prep, start, batch_size):
                captured.clear()
                module(batch.to(device))
                blocks = {}
                for name, p in pending.items():
                    if s + len(batch) <= p["done"]:
                        continue  # this layer already has these rows
                    blocks[p["key"]] = _reduce(captured[name], reductions[name], name).numpy()
                writer.put((s, blocks))
                bar.update(len(batch))
    finally:
        for h in handles:
            h.remove()
        bar.close()
        writer.close()  # finishes queued batches, so nothing computed is lost
    store.mark_progress_many({p["key"]: len(stimuli) for p in pending.values()},
                             complete={p["key"]: True for p in pending.values()})
