"""Model and multi-model RDMs straight from the store, holding only blocks of RDM vectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._deprecation import renamed_keywords
from ..store import open_store
from ._pairs import (
    _MIB,
    _check_n_jobs,
    _check_same_stimuli,
    _flat,
    _Item,
    _pairwise,
    _upper,
    _warn_undefined,
    stored_dot_values,
)
from .registry import _METHODS, _check_method
from .result import ComparisonResult, _frame, comparison_fields

__all__ = ["model_rdm", "multi_model_rdm"]


@renamed_keywords(layers="layer")
def model_rdm(store, model: str, *, layer=None, method: str = "spearman",
              params: Mapping | None = None, working_memory: float = 1024,
              n_jobs: int | None = None, **filters) -> ComparisonResult:
    """Layers x layers comparison of one model, from the store (the model RDM).

    The second-order RDM of the object-classification RSA study: 1 - Spearman
    between the RDMs of every pair of layers. Same as :func:`multi_model_rdm`
    with ``model=[model]``; see there.

    Examples
    --------
    >>> import tempfile
    >>> from deeprsa import RDM, Store
    >>> store = Store(tempfile.mkdtemp() + "/s.zarr")
    >>> ids = ["a", "b", "c", "d"]
    >>> for layer, v in [("conv1", [1, 2, 3, 4, 5, 6]), ("conv2", [2, 1, 3, 4, 6, 5])]:
    ...     _ = RDM.from_vector(v, ids, {"model": "net", "layer": layer}).save(store)
    >>> result = model_rdm(store, "net", method="spearman")
    >>> result.dissimilarity.round(3)
    array([[0.   , 0.114],
           [0.114, 0.   ]])
    """
    return multi_model_rdm(store, [model], layer=layer, method=method, params=params,
                           working_memory=working_memory, n_jobs=n_jobs, **filters)


@renamed_keywords(models="model", layers="layer")
def multi_model_rdm(store, model=None, *, layer=None, method: str = "spearman",
                    params: Mapping | None = None, working_memory: float = 1024,
                    n_jobs: int | None = None, **filters) -> ComparisonResult:
    """All layers of all models in one symmetric comparison, read from the store in blocks.

    RDM methods compare the stored RDMs (kind ``"rdms"``); representation
    methods (CKA, Procrustes, ...) compare the stored activations (kind
    ``"activations"``). Inter-model blocks are included: the result is the
    multi-model RDM of the object-classification RSA study, labelled by
    model and layer. It is saved in the store (kind ``"comparisons"``), and
    asking again for the same comparison loads it.

    Parameters
    ----------
    store : Store or path
        The store holding the RDMs or activations.
    model : str or sequence of str, optional
        Models to include, in this order; default all, in store order.
    method : str, default="spearman"
        A registered comparison method; see :func:`list_methods`.
    params : mapping, optional
        Parameters of a representation method, e.g. ``{"threshold": 0.5}``.
    layer : str or sequence of str, optional
        Layers to include, in this order; default every layer, in the order
        the entries were created (network order for ``deeprsa extract``).
    working_memory : float, default=1024
        MiB for blocks: RDMs are read a few rows of the matrix at a time and
        prepared RDM vectors beyond this budget are spilled to temporary files.
    n_jobs : int or None, default=None
        Threads that prepare inputs and compute pairs at the same time; None
        means 1 and -1 all cores. Results do not depend on it.
    **filters
        Store fields that select the entries, e.g. ``measure="correlation"``.
        Each (model, layer) must match exactly one entry.

    Returns
    -------
    ComparisonResult
        Symmetric; ``.dissimilarity`` is the multi-model RDM (1 - r for
        similarities), ``.metadata_a`` its model, layer and key labels.

    Raises
    ------
    KeyError
        If no entry matches, naming the values that are there.
    ValueError
        If several entries match one (model, layer), naming the fields that
        tell them apart, or if entries are over different stimuli.
    """
    task = plan_comparison(store, method, params=params, model=model, layer=layer,
                           working_memory=working_memory, **filters)
    store = task.store
    if store.has(task.key):
        return ComparisonResult.load(store, task.key)
    spec, params = task.spec, task.params
    items = [_Item(lambda key=key: read_input(store, key, task.kind, task.n, task.rows_per_read),
                   row, None, task.kind == "rdms")
             for key, row in zip(task.keys, task.metadata.to_dict("records"), strict=True)]
    if spec.input == "representation" and hasattr(spec, "check"):
        spec.check(task.n, **params)
    sides = [("entries", items)]
    budget = float(working_memory) * _MIB
    n_entries = task.n * (task.n - 1) // 2
    stored = None
    if (task.kind == "rdms" and store.mode != "r"
            and prepared_bytes(spec, params, task.n, len(items), working_memory)):
        stored = stored_dot_values(store, task.keys, spec, params,
                                   lambda key: read_input(store, key, task.kind, task.n,
                                                          task.rows_per_read), budget=budget)
    if stored is not None:
        values, n_entries = stored
    else:
        values, n_entries = _pairwise(spec, params, sides, working_memory=working_memory,
                                      n_jobs=_check_n_jobs(n_jobs))
    _warn_undefined(values, sides)
    result = task.result(values, n_entries)
    if store.mode != "r":
        key = result.save(store, name=task.name)
        result = replace(result, provenance={**result.provenance, "key": key})
    return result


@dataclass(frozen=True)
class ComparisonTask:
    """One comparison of stored inputs: what it compares, and its key in the store.

    Both executors derive it with :func:`plan_comparison`, so a comparison
    computed by one is found (and not computed again) by the other.
    """

    store: Any
    name: str
    method: str
    spec: Any
    params: dict
    kind: str          # "rdms" or "activations"
    keys: list         # store keys of the inputs, in order
    metadata: Any      # one row per input (model, layer, measure, ...)
    stimuli: str       # the stimulus set's key
    stimulus_ids: tuple
    rows_per_read: int
    key: str           # of the saved comparison

    @property
    def n(self) -> int:
        return len(self.stimulus_ids)

    def result(self, values, n_entries) -> ComparisonResult:
        """The :class:`ComparisonResult` of the computed ``values``."""
        return ComparisonResult(values, self.method, self.params, self.spec.kind,
                                self.metadata, self.metadata, self.n, n_entries, True,
                                self.stimulus_ids, {"stimuli": self.stimuli})


def prepared_bytes(spec, params, n_stimuli, n_rdms, working_memory: float = 1024) -> int:
    """Disk a comparison of ``n_rdms`` RDMs writes into the store; 0 when it fits memory.

    A dot-product method (Spearman, Pearson, cosine, ...) over RDMs too large
    to hold (eight bytes an entry, past half of ``working_memory`` MiB)
    prepares (ranks, centres) each RDM once into the store (kind
    ``"prepared"``): that many vectors of the RDM's entries, uncompressed.
    """
    n_entries = n_stimuli * (n_stimuli - 1) // 2
    if not spec.dot or 8 * n_entries * n_rdms <= float(working_memory) * _MIB / 2:
        return 0
    # a probe RDM of 4 stimuli: whitened methods need a complete upper triangle
    probe, _ = spec.prepare(np.arange(6, dtype=np.float64), **dict(params or {}))
    return int(n_rdms) * n_entries * np.asarray(probe).dtype.itemsize


def plan_comparison(store, method, *, params=None, model=None, layer=None,
                    working_memory: float = 1024, name: str = "multi_model_rdm",
                    **filters) -> ComparisonTask:
    """Select the inputs of a multi-model comparison and derive its store key."""
    from ..store import content_key

    spec, params = _check_method(method, params, _METHODS.get_checked(method).input)
    kind = "rdms" if spec.input == "rdm" else "activations"
    store = open_store(store)
    table = _select(store, kind, _listed(model), _listed(layer), filters)
    stimuli = table["stimuli"].unique()
    if len(stimuli) > 1:
        items = [_Item(None, {"model": r.model, "layer": r.layer},
                       store.stimulus_ids(r.stimuli)) for r in table.itertuples()]
        _check_same_stimuli([("entries", items)])
    ids = store.stimulus_ids(stimuli[0])
    n = len(ids)
    rows_per_read = int(max(1, min(n, float(working_memory) * _MIB / 16 / (n * 8))))
    meta = table.drop(columns=[c for c in ("kind", "complete", "rows_done", "shape", "created")
                               if c in table.columns])
    metadata = _frame(_flat(row) for row in meta.to_dict("records"))
    fields = comparison_fields(name, method, params, metadata, metadata)
    return ComparisonTask(store, name, method, spec, params, kind, list(table["key"]),
                          metadata, str(stimuli[0]), ids, rows_per_read,
                          content_key({"kind": "comparisons", **fields}))


def _listed(value):
    return [value] if isinstance(value, str) else (None if value is None else list(value))


def read_input(store, key, kind, n, rows_per_read):
    """One stored input of a comparison: an RDM's upper triangle, or activations (float64)."""
    if kind == "rdms":
        return _upper(store.array(key), n, rows_per_read)
    return _read_activations(store.array(key), rows_per_read)


def _read_activations(array, rows_per_read):
    out = np.empty(array.shape, dtype=np.float64)
    for r0 in range(0, array.shape[0], rows_per_read):
        out[r0:r0 + rows_per_read] = array[r0:r0 + rows_per_read]
    if not np.isfinite(out).all():
        raise ValueError("Stored activations hold NaN or infinity; re-extract them.")
    return out


def _select(store, kind, models, layers, filters):
    """Complete ``kind`` entries matching the filters: one per (model, layer), in order.

    Models come in the order asked for (default: store order), layers in the
    order asked for, else in the order they were extracted.
    """
    wanted = {**filters, "model": None if models is None else list(models),
              "layer": None if layers is None else list(layers)}
    table = store.select(kind, **wanted)
    if table.empty:
        raise KeyError(f"Store {str(store.path)!r} holds no {kind}; compute them first "
                       f"(`deeprsa extract`, `deeprsa rdm`).")
    model_order = list(models) if models is not None else list(dict.fromkeys(table["model"]))
    layer_rank = {name: i for i, name in enumerate(layers or [])}
    table = table.assign(
        _m=[model_order.index(m) for m in table["model"]],
        _l=[layer_rank.get(name, 0) for name in table["layer"]])
    table = table.sort_values(["_m", "_l", "created", "key"], kind="stable").drop(
        columns=["_m", "_l"]).reset_index(drop=True)
    dup = table[table.duplicated(["model", "layer"], keep=False)]
    if len(dup):
        first = dup[(dup["model"] == dup["model"].iloc[0]) & (dup["layer"] == dup["layer"].iloc[0])]
        differ = [c for c in first.columns if c not in ("key", "created")
                  and first[c].astype(str).nunique() > 1]
        raise ValueError(
            f"{len(first)} {kind} entries match model {first['model'].iloc[0]!r} layer "
            f"{first['layer'].iloc[0]!r}; they differ in {differ}. Choose one with a filter, "
            f"e.g. {differ[0] if differ else 'measure'}=...")
    return table
