"""extract(): one forward pass per batch for all selected layers, streamed into the store."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..layers import _table, probe, select_layers
from ..models import load_model
from ..store import Store
from ._engine import _capture, _chunks, _run
from .reductions import _per_layer_reductions, _reduce

__all__ = ["extract"]

log = logging.getLogger(__name__)

def extract(model, stimuli, layers, store, *, reduction="flatten",
            batch_size: int = 64, device="cpu", weights="trained", seed=None,
            dtype: str = "float32", codec: str = "zstd", verify: bool = False,
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
    dtype : {"float32", "float16"}, default="float32"
        How the activations are stored. float16 halves the disk; RDMs are
        still computed in float32 or better (docs/scaling.md measures the
        difference: at most 3e-4 in a correlation RDM, Spearman 0.999999).
    codec : {"zstd", "none"}, default="zstd"
        How the activations are compressed on disk: zstd level 1 saves about a
        third; "none" writes and reads at memory speed (the choice for
        activations deleted once their RDMs are computed).
    weights : {"trained", "random"} or path, default="trained"
        Used when ``model`` is a spec string; see :func:`deeprsa.load_model`.
    seed : int, optional
        Seed of random weights, when ``model`` is a spec string.
    verify : bool, default=False
        Check every chunk of the layers already complete (their checksums)
        before skipping them; a damaged layer is extracted again from its
        first damaged row (status ``"repaired"``).
    progress : bool, default=True
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per selected layer: ``model``, ``layer``, ``reduction``,
        ``key`` (the store array), ``n_features``, ``status``
        (``"extracted"``, ``"resumed"``, ``"repaired"`` or ``"skipped"`` when
        already complete) and ``n_nonfinite``, the stimuli whose activations
        hold NaN or infinity (recorded in the entry, see Warns).

    Raises
    ------
    ValueError
        For unknown layers or reductions (with suggestions), or a reduction that
        does not fit a layer's output.
    StoreWriteError
        If a write fails (a full disk, an I/O error), naming the store, the
        layer and the bytes it still needs. Finished layers stay complete;
        after freeing space the same call resumes.

    Warns
    -----
    NonFiniteActivationsWarning
        Once per layer whose activations hold NaN or infinity, naming the
        model, the layer and the stimulus ids. Their RDMs refuse them unless
        ``nan_policy="omit"`` (:func:`deeprsa.compute_rdm`).

    Examples
    --------
    >>> import tempfile
    >>> from deeprsa import digits
    >>> stim = digits(split="test").sample(2, seed=0)
    >>> out = extract("torchvision:alexnet", stim, ["features.2", "classifier.6"],
    ...               tempfile.mkdtemp(), weights="random", batch_size=8, progress=False)
    >>> out[["layer", "n_features", "status"]]
              layer  n_features     status
    0    features.2       46656  extracted
    1  classifier.6        1000  extracted
    """
    import torch
    from tqdm.auto import tqdm

    from ..stimuli import StimulusSet

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
                                           device=device, dtype=dtype, codec=codec,
                                           verify=verify)

    pending = {n: p for n, p in plan.items() if p["done"] < len(stimuli)}
    if pending:
        start = min(p["done"] for p in pending.values())
        start -= start % batch_size
        found = _run(module, stimuli, prep, pending, reductions, store, start, batch_size,
                     device, progress=progress, desc=loaded.name, tqdm=tqdm)
        for name, p in pending.items():
            p["nonfinite"] = found[p["key"]]
            warn_nonfinite(loaded.name, name, p["nonfinite"], stimuli.stimulus_ids)
    rows = []
    for name, p in plan.items():
        status = ("skipped" if name not in pending else "repaired" if p.get("repaired") else
                  "resumed" if p["done"] > 0 else "extracted")
        rows.append({"model": loaded.name, "layer": name, "reduction": reductions[name]["name"],
                     "key": p["key"], "n_features": p["width"], "status": status,
                     "n_nonfinite": len(p.get("nonfinite", []))})
    import pandas as pd

    return pd.DataFrame(rows)


class NonFiniteActivationsWarning(UserWarning):
    """A layer's activations hold NaN or infinity for some stimuli (recorded in the store)."""


def warn_nonfinite(model, layer, rows, stimulus_ids) -> None:
    """One warning for a layer whose activations hold NaN or infinity, naming the stimuli."""
    if not len(rows):
        return
    ids = [stimulus_ids[i] for i in rows]
    shown = f"{ids[:5]}{f' and {len(ids) - 5} more' if len(ids) > 5 else ''}"
    warnings.warn(
        f"{model} layer {layer!r}: the activations of {len(ids)} of {len(stimulus_ids)} "
        f"stimuli hold NaN or infinity: {shown}. They are stored as they are; an RDM of this "
        "layer refuses them (drop those stimuli or fix the layer) unless nan_policy='omit' "
        "gives them NaN dissimilarities, which comparisons leave out.",
        NonFiniteActivationsWarning, stacklevel=3)


_STORAGE_DTYPES = ("float32", "float16")


def check_storage_dtype(dtype) -> str:
    """``"float32"`` or ``"float16"``: how activations are stored."""
    from .._validation import check_option

    return check_option("activations dtype", str(dtype), _STORAGE_DTYPES)


@dataclass(frozen=True)
class LayerPlan:
    """The layers of one model, found and probed on one stimulus; nothing written yet.

    Attributes
    ----------
    names : tuple of str
        The selected layers, in network order.
    reductions : mapping of str to dict
        Each layer's reduction, canonical (``{"name": ..., **params}``).
    widths : mapping of str to int
        Features per stimulus of each layer after its reduction.
    fields : mapping of str to dict
        Each layer's identity fields in the store (their hash is its key).
    keys : mapping of str to str
        Each layer's content key in the store.
    """

    names: tuple
    reductions: Mapping
    widths: Mapping
    fields: Mapping
    keys: Mapping


def probe_layers(loaded, stimuli, layers, *, reduction="flatten", device="cpu",
                 dtype="float32") -> LayerPlan:
    """Select ``layers`` of a loaded model and probe them with the first stimulus.

    One forward pass of one stimulus: unknown layers, and reductions that do
    not fit a layer's output, fail here, before any extraction.
    """
    import pandas as pd
    import torch

    from ..store import content_key

    device = torch.device(device)
    module = loaded.module.to(device)
    first = loaded.preprocessing(stimuli.load(0)).unsqueeze(0).to(device)
    record = probe(module, first)
    names = select_layers(_table(module, record, pd), layers)
    reductions = _per_layer_reductions(reduction, names)
    with torch.inference_mode():
        outputs = _capture(module, names, first)
    base = loaded.provenance()
    stim_hash = stimuli.content_hash()
    widths, fields, keys = {}, {}, {}
    for name in names:
        widths[name] = int(_reduce(outputs[name], reductions[name], name).shape[1])
        fields[name] = {**base, "layer": name, "reduction": reductions[name],
                        "stimuli": stim_hash, "dtype": check_storage_dtype(dtype)}
        keys[name] = content_key({"kind": "activations", **fields[name]})
    return LayerPlan(tuple(names), reductions, widths, fields, keys)


def _plan(loaded, stimuli, layers, store, *, reduction, batch_size, device, dtype="float32",
          codec="zstd", verify=False):
    """Select the layers and create (or reopen) one store array per layer; run nothing.

    Returns ``(module, preprocessing, reductions, plan)``; ``plan`` maps each
    layer to its ``key``, ``array``, ``done`` (rows on disk) and ``width``.
    """
    layer_plan = probe_layers(loaded, stimuli, layers, reduction=reduction, device=device,
                              dtype=dtype)
    plan = create_arrays(store, stimuli, layer_plan, batch_size=batch_size, codec=codec,
                         verify=verify)
    return loaded.module, loaded.preprocessing, layer_plan.reductions, plan


def create_arrays(store, stimuli, layer_plan: LayerPlan, *, batch_size, codec="zstd",
                  verify=False) -> dict:
    """Create (or reopen, to resume) one store array per layer of ``layer_plan``.

    Returns ``{layer: {"key", "array", "done", "width", "nonfinite"}}``,
    ``done`` being the rows already on disk (all of them for a complete
    array) and ``nonfinite`` the rows recorded as holding NaN or infinity.
    With ``verify``, a complete array whose chunks fail their checks is
    reopened at its first damaged batch (``"repaired": True``).
    """
    store.add_stimuli(stimuli.stimulus_ids, stimuli.content_hash())
    plan = {}
    for name in layer_plan.names:
        width = layer_plan.widths[name]
        key, array, done = store.create(
            "activations", layer_plan.fields[name], shape=(len(stimuli), width),
            dtype=layer_plan.fields[name]["dtype"], chunks=_chunks(batch_size, width),
            codec=codec)
        if key != layer_plan.keys[name]:  # pragma: no cover - the keys are one derivation
            raise RuntimeError(f"Layer {name!r}: store key {key} differs from the planned "
                               f"{layer_plan.keys[name]}.")
        repaired = False
        if store.has(key):
            done = len(stimuli)
            if verify:
                bad = store.first_damaged_row(key)
                if bad is not None:
                    log.warning("%s is damaged from row %d; extracting it again from there.",
                                key, bad)
                    done = bad - bad % batch_size
                    array = store.reopen(key, rows_done=done)
                    repaired = True
        plan[name] = {"key": key, "array": array, "done": done, "width": width,
                      "repaired": repaired,
                      "nonfinite": [r for r in store.entry(key)["attrs"].get("nonfinite_rows", [])
                                    if r < done]}
    return plan
