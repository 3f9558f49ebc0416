"""Stacks of RDMs: one per group of stimuli, unit subset and label permutation, per layer.

The pytorch_feature_analysis workflow: from one extraction, not one RDM per
layer but a stack of them, each labelled by its metadata, ready to be
compared with each other (:func:`deeprsa.compute_meta_rdms`). It is what
:func:`deeprsa.compute_rdms` does when given ``by``, ``entries``,
``combine``, ``units`` or ``n_permutations``:

1. the stimuli are split into groups (``by``) and, within a group, into
   entries (``entries``: the stimuli sharing those columns' values, averaged);
2. each layer is read from the store once, a tile of rows at a time, into the
   mean pattern of every entry of every group (only the columns some unit
   subset uses);
3. each group's RDM is :func:`compute_rdm` of its entry patterns, for every
   measure and unit subset; the observed RDMs of one layer and measure are
   saved in the store as one entry (kind ``"rdm_stacks"``) and found again;
4. label permutations are relabellings of the observed RDMs (rows and
   columns together), drawn from ``seed`` per group, so they cost nothing to
   store.
"""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np

from ..store import content_key, open_store
from ._collection import RDMs
from ._entries import Layout, check_columns, entry_patterns, plan_layout
from ._objects import _FROM_ACTIVATIONS, RDM, _jsonable, _square
from .measures import _MEASURES, _check_params
from .units import _entropy, unit_sets

__all__ = ["compute_stack"]

log = logging.getLogger(__name__)

KIND = "rdm_stacks"
_TILE_BYTES = 64 << 20  # activations read at a time


def compute_stack(store, *, measure, model, layer, stimuli, by, entries, combine, units,
                  n_permutations, seed, dtype, device, batch_size, progress, params) -> RDMs:
    """A stack of RDMs from the store; see :func:`deeprsa.compute_rdms` for the parameters."""
    from tqdm.auto import tqdm

    from ._compute import _check_dtype, _listed, _run_provenance

    store = open_store(store)
    by, entries, combine = check_columns(by, entries, combine)
    n_permutations = _check_count(n_permutations)
    measures = _measures(measure, params)
    dtype = _check_dtype(dtype)
    metadata, wanted = _stimulus_metadata(stimuli)
    table = store.select("activations", model=_listed(model), layer=_listed(layer),
                         stimuli=wanted if isinstance(wanted, str) else None)
    stimulus_set = _one_stimulus_set(store, table, wanted)
    table = table[table["stimuli"] == stimulus_set]
    layout = plan_layout(store.stimulus_ids(stimulus_set), metadata, by=by, entries=entries,
                         combine=combine)
    _check_groups(layout)
    rows_keys = layout.rows_keys(stimulus_set)
    layout_key = content_key(rows_keys)
    entropy = _entropy(seed)
    seed_column = int(seed) if isinstance(seed, (int, np.integer)) \
        and not isinstance(seed, (bool, np.bool_)) else None
    permutations = [_permutations(group, n_permutations, entropy) for group in layout.groups]
    results = []
    bar = tqdm(list(table.itertuples(index=False)), desc="RDM stacks", unit="layer",
               disable=not progress)
    for row in bar:
        bar.set_postfix_str(f"{row.model} {row.layer}")
        entry = store.entry(row.key)
        fields, width = entry["fields"], int(entry["shape"][1])
        usets = unit_sets(units, layer=fields.get("layer"), model=fields.get("model"),
                          n_units=width, reduction=_reduction_name(fields.get("reduction")),
                          seed=entropy)
        plans = [_plan(row.key, fields, stimulus_set, layout, layout_key, usets, m, p, dtype)
                 for m, p in measures]
        missing = [plan for plan in plans if not store.has(plan["key"])]
        if missing:
            sums, counts, columns = _entry_sums(store.array(row.key), layout, usets,
                                                row.model, row.layer)
            for plan in missing:
                data = _observed(sums, counts, columns, layout, usets, plan, dtype=dtype,
                                 device=device, batch_size=batch_size)
                if store.mode == "r":
                    plan["data"] = data
                else:
                    store.write(KIND, plan["fields"], data, compression_level=0,
                                attrs={"groups": [{"values": _jsonable(g.values),
                                                   "labels": list(g.labels)}
                                                  for g in layout.groups]})
        for plan in plans:
            data = plan.get("data")
            if data is None:
                data = store.read(plan["key"])
            base = {k: fields[k] for k in _FROM_ACTIVATIONS if k in fields}
            run = _run_provenance(plan["measure"], plan["params"], dtype, device)
            results += _expand(data, layout, rows_keys, usets, permutations, base, run, plan,
                               stimulus_set=stimulus_set, activations=row.key,
                               n_permutations=n_permutations, seed=seed_column,
                               saved=store.mode != "r")
    return RDMs._stack(results)


def _check_count(n_permutations) -> int:
    if isinstance(n_permutations, (bool, np.bool_)) \
            or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 0:
        raise ValueError(f"n_permutations must be an int >= 0 (label permutations per RDM), "
                         f"got {n_permutations!r}.")
    return int(n_permutations)


def _measures(measure, params):
    names = [measure] if isinstance(measure, str) else list(measure)
    if not names or not all(isinstance(m, str) for m in names):
        raise ValueError(f"measure must be a registered measure name or a non-empty list of "
                         f"them, got {measure!r}; see list_measures().")
    out = []
    for name in dict.fromkeys(names):
        spec = _MEASURES.get_checked(name)
        out.append((spec, _check_params(spec, dict(params or {}))))
    return out


def _stimulus_metadata(stimuli):
    """``(metadata DataFrame or None, wanted stimulus set)`` from ``stimuli=``.

    A StimulusSet gives its metadata and its key (preferred among the
    activations' stimulus sets); a DataFrame indexed by stimulus id gives
    metadata only; a str is a stimulus set's key.
    """
    if stimuli is None or isinstance(stimuli, str):
        return None, stimuli
    if hasattr(stimuli, "content_hash") and hasattr(stimuli, "metadata"):
        return stimuli.metadata, ("set", stimuli)
    import pandas as pd

    if isinstance(stimuli, pd.DataFrame):
        return stimuli, None
    raise TypeError(f"stimuli must be a stimulus set's key (str), a StimulusSet or a DataFrame "
                    f"indexed by stimulus id, got {type(stimuli).__name__}.")


def _one_stimulus_set(store, table, wanted) -> str:
    if table.empty:
        raise KeyError(f"Store {str(store.path)!r} holds no complete activations; run "
                       "`deeprsa extract` first.")
    present = list(dict.fromkeys(table["stimuli"]))
    if isinstance(wanted, tuple):
        key = wanted[1].content_hash()
        if key in present:
            return key
    if len(present) > 1:
        raise ValueError(
            f"The selected activations use {len(present)} stimulus sets "
            f"({', '.join(sorted(present))}); choose one with stimuli= (its key, or the "
            "StimulusSet itself).")
    return present[0]


def _check_groups(layout: Layout):
    for group in layout.groups:
        if len(group.labels) < 2:
            raise ValueError(
                f"The group {group.describe()} has only one entry ({list(group.labels)}); an "
                "RDM needs at least two. Group by fewer columns, or use other entries.")


def _reduction_name(reduction):
    return reduction.get("name") if isinstance(reduction, dict) else reduction


def _plan(activations, fields, stimulus_set, layout, layout_key, usets, measure, params,
          dtype) -> dict:
    """The store entry of one layer's observed RDMs for one measure: its fields and key."""
    stack_fields = {k: fields[k] for k in _FROM_ACTIVATIONS if k in fields}
    stack_fields.update({
        "activations": activations, "stimulus_set": stimulus_set, "measure": measure.name,
        "params": _jsonable(params), "dtype": np.dtype(dtype).name, "by": layout.by,
        "entries": layout.entries, "combine": layout.combine,
        "layout": layout_key, "unit_sets": [[u.name, u.hash] for u in usets]})
    return {"fields": stack_fields, "key": content_key({"kind": KIND, **stack_fields}),
            "measure": measure, "params": params}


def _entry_sums(array, layout, usets, model, layer):
    """One pass over a layer: the summed pattern and count of every entry of every group.

    Returns ``(sums, counts, columns)``: ``sums`` of shape (n_entries, n_columns)
    in float64, ``columns`` the layer's columns read (None: all of them).
    """
    n, width = array.shape
    entry_of = np.full(n, -1, dtype=np.intp)
    start = 0
    for group in layout.groups:
        for members in group.members:
            entry_of[members] = start
            start += 1
    counts = np.bincount(entry_of[entry_of >= 0], minlength=start).astype(np.float64)
    columns = None if any(u.indices is None for u in usets) else np.unique(
        np.concatenate([u.indices for u in usets]))
    n_columns = width if columns is None else len(columns)
    sums = np.zeros((start, n_columns))
    step = max(1, min(n, _TILE_BYTES // max(1, 4 * width)))
    for r0 in range(0, n, step):
        rows = entry_of[r0:r0 + step]
        used = rows >= 0
        if not used.any():
            continue
        tile = np.asarray(array[r0:r0 + step])
        tile = tile[used] if columns is None else tile[np.ix_(used, columns)]
        if not np.isfinite(tile).all():
            bad = r0 + np.flatnonzero(used)[int(np.flatnonzero(~np.isfinite(tile).all(axis=1))[0])]
            raise ValueError(f"The activations of layer {layer!r} of model {model!r} hold NaN "
                             f"or infinity at row {bad}; re-extract them or drop that stimulus.")
        rows = rows[used]
        order = np.argsort(rows, kind="stable")
        rows, tile = rows[order], tile[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        sums[rows[starts]] += np.add.reduceat(tile, starts, axis=0, dtype=np.float64)
    return sums, counts, columns


def _observed(sums, counts, columns, layout, usets, plan, *, dtype, device, batch_size):
    """The observed RDMs of one layer and measure: upper triangles, concatenated."""
    from ._compute import compute_rdm

    parts, offset = [], 0
    patterns = []
    for group in layout.groups:
        patterns.append(entry_patterns(sums, counts, group, offset))
        offset += len(group.members)
    for u in usets:
        where = None if u.indices is None else (
            u.indices if columns is None else np.searchsorted(columns, u.indices))
        for group, P in zip(layout.groups, patterns, strict=True):
            X = P if where is None else P[:, where]
            rdm = compute_rdm(X, measure=plan["measure"].name, stimulus_ids=group.labels,
                              dtype=dtype, device=device, batch_size=batch_size,
                              params=plan["params"])
            parts.append(rdm.vector())
    return np.concatenate(parts).astype(dtype, copy=False)


def _permutations(group, n_permutations, entropy) -> list[np.ndarray]:
    """Label permutations of one group, the same in every layer, measure and unit subset."""
    salt = json.dumps(_jsonable(group.values), sort_keys=True).encode()
    rng = np.random.default_rng([entropy, int.from_bytes(
        hashlib.blake2b(b"permutations\x00" + salt, digest_size=8).digest(), "little")])
    n = len(group.labels)
    return [rng.permutation(n) for _ in range(n_permutations)]


def _expand(data, layout, rows_keys, usets, permutations, base, run, plan, *, stimulus_set,
            activations, n_permutations, seed, saved) -> list[RDM]:
    """The RDMs of one stored stack entry: observed ones and their label permutations."""
    out, offset = [], 0
    for u in usets:
        for group, rows_key, perms in zip(layout.groups, rows_keys, permutations, strict=True):
            n = len(group.labels)
            size = n * (n - 1) // 2
            D = _square(np.asarray(data[offset:offset + size]), n)
            offset += size
            provenance = {**group.values, **base, **run, "unit_set": u.name,
                          "units_hash": u.hash, "permutation": 0,
                          "n_permutations": n_permutations, "entries": layout.entries,
                          "by": layout.by, "stimuli": rows_key,
                          "stimulus_set": stimulus_set, "activations": activations}
            if layout.combine:
                provenance["combine"] = layout.combine
            if n_permutations:
                provenance["stack_seed"] = seed
            if saved:
                provenance["stack"] = plan["key"]
            out.append(RDM._new(D, group.labels, provenance))
            for i, p in enumerate(perms, start=1):
                out.append(RDM._new(np.ascontiguousarray(D[np.ix_(p, p)]), group.labels,
                                    {**provenance, "permutation": i}))
    return out
