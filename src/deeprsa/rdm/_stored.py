"""RDMs of stored activations: the task (key, tiles, engine), resumable row tiles, columns.

:func:`plan_rdm` / :func:`rdm_task` derive an RDM's store entry (both
executors use them, so they find and write the same key); the row engine
writes each finished row tile's upper part and resumes after the last; the
column engine reads a layer far wider than memory once, by blocks of units.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..store import open_store
from ._checks import _check_batch_size, _check_dtype, _run_provenance
from ._columns import ColumnGram, column_form
from ._engine import (
    _CACHE_BYTES,
    NonFiniteActivationsError,
    _compute_matrix,
    _constant_warning,
    _mirror,
    _Rows,
    check_nan_policy,
    computed,
    explain_nonfinite,
)
from ._layout import RDM_CODEC, UPPER, write_upper, write_upper_rows
from ._objects import _FROM_ACTIVATIONS, RDM, _jsonable, _store_fields
from .measures import _MEASURES, _check_params

__all__ = ["RDMTask", "compute_by_columns", "create_rdm_array", "plan_rdm", "rdm_task"]

log = logging.getLogger("deeprsa.rdm")


@dataclass(frozen=True)
class RDMTask:
    """One RDM to compute from stored activations: its key, provenance and tiles.

    Both executors derive an RDM's store entry with :func:`plan_rdm`, so they
    find and write the same key.

    Attributes
    ----------
    key : str
        The RDM's content key in the store.
    fields : dict
        Its identity fields (their hash is ``key``).
    provenance : dict
        Model, layer, reduction, measure, params, dtype, stimuli, activations key.
    activations : str
        The key of the activations it is computed from.
    stimulus_ids : tuple of str
    n_features : int
    batch_size : int
        Rows per tile (and the RDM array's tile size in the store).
    engine : {"rows", "columns"}
        How it is computed: row tiles (:func:`_compute_matrix`), or blocks of
        units read once each (:class:`~deeprsa.rdm._columns.ColumnGram`), for a
        layer much wider than the working memory.
    """

    key: str
    fields: dict
    provenance: dict
    activations: str
    stimulus_ids: tuple
    n_features: int
    batch_size: int
    engine: str = "rows"

    @property
    def tiles(self) -> list[tuple[int, int]]:
        """Row ranges ``[start, stop)`` of the tiles."""
        n = len(self.stimulus_ids)
        return [(s, min(n, s + self.batch_size)) for s in range(0, n, self.batch_size)]


def plan_rdm(store, activations: str, measure, params, *, dtype, device=None,
             batch_size=None, nan_policy="raise") -> RDMTask:
    """The store entry of the RDM of ``activations`` (a complete activations key)."""
    entry = store.entry(activations)
    if entry["kind"] != "activations":
        raise ValueError(f"Store entry {activations!r} holds {entry['kind']}, not activations.")
    if not entry["complete"]:
        raise ValueError(
            f"Activations {activations} ({entry['fields'].get('model')}, "
            f"{entry['fields'].get('layer')}) are incomplete: {entry['rows_done']} of "
            f"{entry['shape'][0]} rows. Re-run the same extraction to resume them.")
    fields = entry["fields"]
    ids = store.stimulus_ids(fields["stimuli"])
    n, n_features = entry["shape"]
    if n != len(ids):
        raise ValueError(f"Activations {activations} have {n} rows but their stimulus set has "
                         f"{len(ids)} ids; the store is inconsistent.")
    return rdm_task(activations, fields, ids, n_features, measure, params, dtype=dtype,
                    device=device, batch_size=batch_size, nan_policy=nan_policy)


def rdm_task(activations: str, fields, stimulus_ids, n_features, measure, params, *, dtype,
             device=None, batch_size=None, nan_policy="raise") -> RDMTask:
    """The RDM of the activations ``activations`` (their key and identity ``fields``).

    A pure function of its arguments, so a plan can name every RDM's key
    before anything is extracted.
    """
    from ..store import content_key

    measure = _MEASURES.get_checked(measure) if isinstance(measure, str) else measure
    params = _check_params(measure, dict(params or {}))
    dtype = _check_dtype(dtype)
    nan_policy = check_nan_policy(nan_policy)
    provenance = {k: fields[k] for k in _FROM_ACTIVATIONS if k in fields}
    provenance["stimuli"] = fields["stimuli"]
    provenance["activations"] = activations
    provenance.update(_run_provenance(measure, params, dtype, device, nan_policy))
    rdm_fields = _store_fields(provenance, stimulus_ids)
    n = len(stimulus_ids)
    batch_size = _check_batch_size(batch_size, _Rows(_Shape((n, n_features)), in_memory=False),
                                   dtype, measure)
    wide = int(n_features) * n * np.dtype(dtype).itemsize > _CACHE_BYTES and n_features > n
    engine = "columns" if wide and column_form(measure) is not None else "rows"
    return RDMTask(content_key({"kind": "rdms", **rdm_fields}), rdm_fields, provenance,
                   activations, tuple(stimulus_ids), int(n_features), batch_size, engine)


def create_rdm_array(store, task: RDMTask, dtype):
    """Create (or reopen to resume) the RDM's array, chunked by tiles; ``(array, rows_done)``.

    An array started with other chunks (another tile size) is restarted.
    """
    n = len(task.stimulus_ids)
    # The upper tiles only, bit-shuffled and lz4-compressed (rdm/_layout.py).
    create = dict(shape=(n, n), dtype=dtype, chunks=(task.batch_size, task.batch_size),
                  codec=RDM_CODEC, attrs={"provenance": _jsonable(task.provenance),
                                          "layout": UPPER})
    store.add_stimuli(task.stimulus_ids, task.fields["stimuli"])
    _, array, done = store.create("rdms", task.fields, **create)
    if tuple(array.chunks) != (task.batch_size, task.batch_size):
        log.info("RDM %s was started with chunks %s; restarting it in %d-row tiles.",
                 task.key, array.chunks, task.batch_size)
        store.delete(task.key)
        _, array, done = store.create("rdms", task.fields, **create)
    return array, done


class _Shape:
    """Stands in for an array where only its shape is needed (tile sizes)."""

    def __init__(self, shape):
        self.shape = shape


def _compute_from_store(store, measure, params, *, model, layer, reduction, key,
                        stimulus_ids, dtype, device, batch_size, progress, nan_policy):
    store = open_store(store)
    if stimulus_ids is not None:
        raise ValueError("stimulus_ids comes from the store for stored activations; to use "
                         "fewer stimuli, compute the RDM and call rdm.subset(stimulus_ids).")
    if key is None:
        selection = {k: v for k, v in (("model", model), ("layer", layer),
                                       ("reduction", reduction)) if v is not None}
        if "model" not in selection or "layer" not in selection:
            raise ValueError("Say which activations: pass key=, or model= and layer= (see "
                             "store.select('activations')). For every layer use "
                             "compute_rdms(store).")
        key = store.find("activations", **selection)
    task = plan_rdm(store, key, measure, params, dtype=dtype, device=device,
                    batch_size=batch_size, nan_policy=nan_policy)
    ids, provenance = task.stimulus_ids, task.provenance
    if store.mode != "r":
        store.claim(task.key)  # another process computing this RDM finishes first
    try:
        if store.has(task.key):
            log.info("RDM %s (%s, %s, %s) is already in the store.", task.key,
                     provenance.get("model"), provenance.get("layer"), measure.name)
            rdm = RDM.load(store, task.key)
            noted = store.entry(task.key)["attrs"].get("constant_rows", [])
            _constant_warning(measure, noted, ids, provenance)
            return rdm
        rows = _Rows(store.array(key), in_memory=False)
        recorded = store.entry(key)["attrs"].get("nonfinite_rows", [])
        if recorded and nan_policy == "raise":  # known from extraction: refuse before writing
            raise explain_nonfinite(None, rows, ids, provenance, recorded)
        try:
            return _stored_rdm(store, task, rows, measure, params, dtype=dtype,
                               device=device, progress=progress, recorded=recorded)
        except NonFiniteActivationsError as err:
            if store.mode != "r" and store.has(task.key, complete=False) \
                    and not store.entry(task.key)["rows_done"]:
                store.delete(task.key)  # no half-made entry of an RDM that cannot exist
            raise explain_nonfinite(err, rows, ids, provenance, recorded,
                                    batch_size=task.batch_size) from None
    finally:
        store.release(task.key)


def _stored_rdm(store, task, rows, measure, params, *, dtype, device, progress, recorded):
    ids, provenance, key = task.stimulus_ids, task.provenance, task.activations
    desc = f"{provenance.get('model')} {provenance.get('layer')}"
    whole = None  # an RDM computed at once, then written
    if provenance.get("nan_policy") == "omit":  # the stimuli's rows are dropped, not tiled
        whole = computed(rows, measure, params, ids=ids, where=provenance, nan_policy="omit",
                         dtype=dtype, batch_size=task.batch_size, device=device,
                         progress=progress, desc=desc, bad=recorded or None)
    elif task.engine == "columns":
        whole = compute_by_columns(store.array(key), measure, params, dtype=dtype,
                                   device=device, progress=progress, desc=desc)
    if whole is not None:
        D, constant = whole
        if store.mode == "r":
            _constant_warning(measure, constant, ids, provenance)
            return RDM._new(D, ids, provenance)
        array, done = create_rdm_array(store, task, dtype)
        write_upper(array, D)
    elif store.mode == "r":
        D, constant = _compute_matrix(rows, measure, params, dtype=dtype,
                                      batch_size=task.batch_size, device=device,
                                      progress=progress, desc=desc)
        _constant_warning(measure, constant, ids, provenance)
        return RDM._new(D, ids, provenance)
    else:
        D, constant = _resumable_rows(store, task, rows, measure, params, dtype=dtype,
                                      device=device, progress=progress, desc=desc)
    store.mark_progress(task.key, rows.n, complete=True,
                        attrs={"constant_rows": [int(i) for i in constant]})
    _constant_warning(measure, constant, ids, provenance)
    return RDM._new(D, ids, {**provenance, "key": task.key})


def _resumable_rows(store, task, rows, measure, params, *, dtype, device, progress, desc):
    """The row engine writing each finished row tile's upper part, resuming after the last."""
    array, done = create_rdm_array(store, task, dtype)
    D = np.empty((rows.n, rows.n), dtype=dtype)
    if done:
        log.info("Resuming RDM %s at row %d of %d.", task.key, done, rows.n)
        D[:done] = array[:done]
        _mirror(D, 0, done)

    def write(i0, i1, D):
        write_upper_rows(array, D, i0, i1)
        if i1 < rows.n:
            store.mark_progress(task.key, i1)

    return _compute_matrix(rows, measure, params, dtype=dtype, batch_size=task.batch_size,
                           device=device, progress=progress, out=D, start=done,
                           on_rows=write, desc=desc)


def compute_by_columns(array, measure, params, *, dtype, device=None, progress=False,
                       desc=None, block_bytes=256 << 20):
    """An RDM of stored activations from blocks of units, each read once (the column engine).

    Blocks follow the array's column chunks and hold about ``block_bytes``.
    Returns ``(D, constant_rows)``.
    """
    from tqdm.auto import tqdm

    n, p = array.shape
    chunk = int(array.chunks[1])
    width = max(chunk, (block_bytes // max(1, n * 8)) // chunk * chunk)
    gram = ColumnGram(n, measure, params, dtype=dtype, device=device)
    for c0 in tqdm(range(0, p, width), desc=desc or "RDM columns", unit="block",
                   disable=not progress, leave=False):
        gram.add(array[:, c0:c0 + width])
    return gram.finish()
