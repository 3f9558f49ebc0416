"""Pairs of inputs for :mod:`deeprsa.compare`: loading, the NaN rule, preparing once, blocks.

An input is an :class:`_Item`: a function that loads it (an RDM vector or an
activation matrix), its metadata row and its stimulus ids. :func:`_pairwise`
prepares every item once with the method, in memory or, past the memory
budget, spilled to temporary .npy files, then combines prepared items by
blocks: column chunks of one matrix product for ``dot`` methods, a block of
one side against one item of the other for the rest.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..rdm import RDM, RDMs

_MIB = 1 << 20


@dataclass(frozen=True)
class _Item:
    """One input: how to load it, its metadata row and whether it may hold NaN."""

    load: Any
    metadata: Mapping
    stimulus_ids: tuple | None
    may_have_nan: bool = False


def _upper(square, n, rows_per_read):
    """Upper triangle in ``squareform`` order, read ``rows_per_read`` rows at a time."""
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    pos = 0
    for r0 in range(0, n - 1, rows_per_read):
        block = np.asarray(square[r0:min(r0 + rows_per_read, n - 1)])
        for k, row in enumerate(block, start=r0):
            out[pos:pos + n - 1 - k] = row[k + 1:]
            pos += n - 1 - k
    return out


def _flat(provenance: Mapping) -> dict:
    """Provenance as table cells: containers become JSON strings with sorted keys."""
    return {k: json.dumps(v, sort_keys=True, default=str)
            if isinstance(v, (Mapping, list, tuple)) else v for k, v in provenance.items()}


def _rdm_items(x, name):
    """``RDM``, ``RDMs``, a sequence of ``RDM`` or an array of upper triangles -> items."""
    if isinstance(x, RDM):
        x = [x]
    if isinstance(x, (RDMs, list, tuple)) and all(isinstance(r, RDM) for r in x) and len(x):
        small = next((i for i, r in enumerate(x) if r.n_stimuli < 3), None)
        if small is not None:
            raise ValueError(
                f"{name}[{small}] is an RDM of {x[small].n_stimuli} stimuli; comparing RDMs "
                "needs at least 3 stimuli (3 entries).")
        return [_Item(lambda r=r: _upper(r.matrix, r.n_stimuli, r.n_stimuli),
                      _flat(r.provenance), r.stimulus_ids) for r in x]
    if isinstance(x, (list, tuple)) and len(x) and any(isinstance(r, RDM) for r in x):
        bad = next(i for i, r in enumerate(x) if not isinstance(r, RDM))
        raise TypeError(f"{name}[{bad}] is a {type(x[bad]).__name__}, not an RDM; pass RDM "
                        "objects only, or one array of upper triangles.")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    n = int(round((1 + np.sqrt(1 + 8 * arr.shape[-1])) / 2)) if arr.ndim == 2 else 0
    if arr.ndim != 2 or n < 3 or n * (n - 1) // 2 != arr.shape[1]:
        raise ValueError(
            f"{name} must be an RDM, RDMs, a list of RDM, or an array of upper triangles of "
            f"shape (n_rdms, n_stimuli * (n_stimuli - 1) / 2) with n_stimuli >= 3; got shape "
            f"{arr.shape}.")
    return [_Item(lambda row=row: np.array(row, dtype=np.float64), {"index": i}, None, True)
            for i, row in enumerate(arr)]


def _label(side, i, metadata):
    shown = ", ".join(f"{k}={metadata[k]!r}" for k in (*_by_columns(metadata), "model",
                                                      "layer", "measure") if k in metadata)
    return f"{side}[{i}]" + (f" ({shown})" if shown else "")


def _by_columns(metadata) -> list:
    """The ``by`` columns of a stack's RDM (its group), from its flattened metadata."""
    by = metadata.get("by")
    if isinstance(by, str):
        try:
            by = json.loads(by)
        except ValueError:
            return []
    return [c for c in by if isinstance(c, str)] if isinstance(by, list) else []


def _check_same_stimuli(sides):
    """All items must share the first one's stimulus ids (or entry labels), in the same order."""
    ref_side, ref = sides[0][0], sides[0][1][0]
    for side, items in sides:
        for i, item in enumerate(items):
            if item.stimulus_ids is None or item.stimulus_ids == ref.stimulus_ids:
                continue
            where = (f"{_label(side, i, item.metadata)} and "
                     f"{_label(ref_side, 0, ref.metadata)}")
            if _over_entries(item.metadata) or _over_entries(ref.metadata):
                raise ValueError(rows_mismatch(ref.stimulus_ids, item.stimulus_ids, where,
                                               f"{side}[{i}]", f"{ref_side}[0]"))
            ids, other = ref.stimulus_ids, item.stimulus_ids
            if set(ids) == set(other):
                k = next(k for k, (s, t) in enumerate(zip(ids, other, strict=True)) if s != t)
                raise ValueError(
                    f"RDMs compare only over the same stimuli in the same order: {where} hold "
                    f"the same {len(ids)} stimuli in another order (first difference at "
                    f"position {k}: {other[k]!r} vs {ids[k]!r}). Reorder with "
                    f"rdm.subset(reference.stimulus_ids).")
            set_a, set_b = set(ids), set(other)
            only_a = [s for s in ids if s not in set_b]
            only_b = [s for s in other if s not in set_a]
            raise ValueError(
                f"RDMs compare only over the same stimuli: {where} differ; {len(only_b)} "
                f"id(s) only in {side}[{i}], e.g. {only_b[:3]}; {len(only_a)} only in "
                f"{ref_side}[0], e.g. {only_a[:3]}. Restrict both to the shared ids with "
                "rdm.subset(ids).")


def _over_entries(metadata) -> bool:
    """Whether an RDM's rows are entries (a stack's RDM), not stimuli."""
    return "entries" in metadata


def rows_mismatch(ids, other, where: str, name: str, ref_name: str) -> str:
    """Why two RDMs over entries do not compare: their entry labels, listed (at most 10 each).

    RDMs over different stimuli compare when their entry labels agree, in the
    same order; ``name`` and ``ref_name`` say which RDM has ``other`` and ``ids``.
    """
    if set(ids) == set(other) and len(ids) == len(other):
        k = next(k for k, (s, t) in enumerate(zip(ids, other, strict=True)) if s != t)
        return (f"RDMs compare only over the same entry labels in the same order: {where} "
                f"hold the same {len(ids)} entries in another order (first difference at "
                f"position {k}: {other[k]!r} vs {ids[k]!r}). Reorder with "
                "rdm.subset(reference.stimulus_ids).")
    set_a, set_b = set(ids), set(other)
    only_a = [s for s in ids if s not in set_b]
    only_b = [s for s in other if s not in set_a]
    return (f"RDMs compare only over the same entry labels: {where} differ; "
            f"{len(only_b)} label(s) only in {name}: {_shown(only_b)}; {len(only_a)} only in "
            f"{ref_name}: {_shown(only_a)}. Compare RDMs whose entries have the same labels, or "
            "restrict both to the shared ones with rdm.subset(labels).")


def _shown(labels, n=10) -> str:
    return str(labels[:n])[:-1] + ", ...]" if len(labels) > n else str(labels)


class _Prepared:
    """Prepared inputs, in memory or (past ``budget`` bytes) spilled to .npy files."""

    def __init__(self, budget, n_items):
        self.items, self.budget, self.n_items = [], budget, n_items
        self.dir = None

    def add(self, prepared):
        if self.dir is None and self.items:
            size = sum(x.nbytes for x in prepared if isinstance(x, np.ndarray))
            if size * self.n_items > self.budget:
                self.dir = tempfile.TemporaryDirectory(prefix="deeprsa-compare-")
                self.items = [self._spill(i, p) for i, p in enumerate(self.items)]
        self.items.append(prepared if self.dir is None
                          else self._spill(len(self.items), prepared))

    def _spill(self, i, prepared):
        out = []
        for k, x in enumerate(prepared):
            if isinstance(x, np.ndarray) and x.nbytes > 4096:
                path = Path(self.dir.name) / f"{i}-{k}.npy"
                np.save(path, x)
                x = path
            out.append(x)
        return tuple(out)

    def get(self, i, *, mmap=False):
        return tuple(np.load(x, mmap_mode="r" if mmap else None, allow_pickle=False)
                     if isinstance(x, Path)
                     else x for x in self.items[i])

    def close(self):
        """Remove the spill files now (not when the garbage collector gets to them)."""
        if self.dir is not None:
            self.dir.cleanup()
            self.dir = None

    def item_bytes(self):
        return max(sum(x.nbytes for x in self.get(0, mmap=True) if isinstance(x, np.ndarray)),
                   1)


def _common_mask(sides):
    """Entries finite in every input; warns about NaN, refuses infinity."""
    valid, report = None, []
    for side, items in sides:
        for i, item in enumerate(items):
            if not item.may_have_nan:
                continue
            v = item.load()
            if np.isinf(v).any():
                raise ValueError(
                    f"{_label(side, i, item.metadata)} holds infinite entries; a dissimilarity "
                    "must be finite (NaN marks a missing entry).")
            nan = np.isnan(v)
            if nan.any():
                report.append(f"{_label(side, i, item.metadata)}: {int(nan.sum())}")
                valid = ~nan if valid is None else valid & ~nan
    if valid is None:
        return None
    n_valid = int(valid.sum())
    if n_valid < 2:
        raise ValueError(f"Only {n_valid} entries are finite in every RDM ({'; '.join(report)} "
                         "NaN entries); nothing is left to compare.")
    warnings.warn(
        f"{len(report)} RDM(s) have NaN entries ({'; '.join(report)}). Those stimulus pairs "
        f"are left out of every comparison in this call, leaving {n_valid} of {valid.size} "
        "entries (column n_entries).", UserWarning, stacklevel=4)
    return valid


def _check_n_jobs(n_jobs):
    """``None`` -> 1, ``-1`` -> all cores, else a positive int."""
    if n_jobs is None:
        return 1
    if n_jobs == -1:
        return os.cpu_count() or 1
    if isinstance(n_jobs, (int, np.integer)) and not isinstance(n_jobs, bool) and n_jobs >= 1:
        return int(n_jobs)
    raise ValueError(f"n_jobs must be None, -1 or a positive int, got {n_jobs!r}.")


def _pairwise(spec, params, sides, *, working_memory, n_jobs=1):
    """Values for every pair: (n_a, n_b), or symmetric (n_a, n_a) for one side."""
    budget = float(working_memory) * _MIB
    valid = _common_mask(sides) if spec.input == "rdm" else None

    def prepare(x):
        if valid is not None and hasattr(spec, "prepare_masked"):  # whitened methods
            return spec.prepare_masked(x, valid, **params)
        return spec.prepare(x if valid is None else x[valid], **params)

    prepared = []
    try:
        return _prepared_pairs(spec, params, sides, prepare, prepared, budget, valid, n_jobs)
    finally:
        for store in prepared:
            store.close()


def _prepared_pairs(spec, params, sides, prepare, prepared, budget, valid, n_jobs):
    with ThreadPoolExecutor(n_jobs) as pool:
        for _, items in sides:
            store = _Prepared(budget / 2, len(items))
            prepared.append(store)  # first, so that the caller removes its files on error
            pending = deque()  # at most n_jobs loaded inputs in flight, added in order
            for item in items:
                pending.append(pool.submit(prepare, item.load()))
                if len(pending) >= n_jobs:
                    store.add(pending.popleft().result())
            while pending:
                store.add(pending.popleft().result())
        a = prepared[0]
        b = prepared[1] if len(prepared) > 1 else None
        if spec.dot:
            values = _dot_values(a, b, budget)
        else:
            values = _pair_values(spec, params, a, b, budget, pool)
    if spec.input == "rdm":
        values = np.clip(values, -1.0, 1.0)
    n_entries = None if spec.input != "rdm" else (
        int(valid.sum()) if valid is not None else len(a.get(0, mmap=True)[0]))
    return values, n_entries


def _dot_values(a, b, budget, *, width=None):
    """Gram matrix of prepared vectors, read in column chunks, times their scales.

    ``width`` entries are read from each vector at a time (default: chunks of
    about 4 MiB in all, which suit vectors in memory; stored vectors are read
    in larger blocks, see :func:`stored_dot_values`).
    """
    sets = [a] if b is None else [a, b]
    prepared = [[s.get(i, mmap=True) for i in range(s.n_items)] for s in sets]
    rows = sum(len(p) for p in prepared)
    length = prepared[0][0][0].shape[0]
    if width is None:
        width = int(max(1024, min(length, min(budget / 4, 4 * _MIB) / (8 * rows))))
    grams = np.zeros((len(prepared[0]), len(prepared[-1])))
    for c0 in range(0, length, width):
        blocks = []
        for p in prepared:
            block = np.empty((len(p), min(width, length - c0)))
            for row, (vector, _) in zip(block, p, strict=True):
                row[...] = vector[c0:c0 + width]
            blocks.append(block)
        grams += blocks[0] @ blocks[-1].T
    scale_a = np.array([scale for _, scale in prepared[0]])
    scale_b = np.array([scale for _, scale in prepared[-1]])
    return grams * scale_a[:, None] * scale_b[None, :]


def _pair_values(spec, params, a, b, budget, pool):
    """Pair by pair, holding a block of one side (sized to ``budget``) plus one item.

    The pairs of one item with the block run on ``pool``'s threads (Kendall's
    count, BLAS and LAPACK release the GIL).
    """
    other = b if b is not None else a
    values = np.full((a.n_items, other.n_items), np.nan)
    pair = partial(spec.pair, **params)
    block = int(max(1, budget // (2 * a.item_bytes())))
    for i0 in range(0, a.n_items, block):
        rows = {i: a.get(i) for i in range(i0, min(i0 + block, a.n_items))}
        for j in range(0 if b is not None else i0, other.n_items):
            col = rows[j] if b is None and j in rows else other.get(j)
            todo = [i for i in rows if b is not None or i <= j]
            found = pool.map(pair, [rows[i] for i in todo], [col] * len(todo))
            for i, value in zip(todo, found, strict=True):
                values[i, j] = value
                if b is None:
                    values[j, i] = value
    return values


def _warn_undefined(values, sides):
    bad = np.argwhere(np.isnan(values))
    if not len(bad):
        return
    (side_a, items_a), (side_b, items_b) = sides[0], sides[-1]
    shown = "; ".join(f"{_label(side_a, i, items_a[i].metadata)} vs "
                      f"{_label(side_b, j, items_b[j].metadata)}" for i, j in bad[:3])
    warnings.warn(
        f"{len(bad)} of {values.size} comparisons are undefined (NaN), e.g. {shown}. An input "
        "whose entries are all equal has no variance (or ranks) to compare.",
        UserWarning, stacklevel=3)


# ------------------------------------------------------------------ prepared once, in the store


class _StoredPrepared:
    """Prepared RDM vectors held in the store (one array each), read in blocks."""

    def __init__(self, store, keys):
        self.store, self.keys, self.n_items = store, list(keys), len(keys)

    def get(self, i, *, mmap=False):
        entry = self.store.entry(self.keys[i])
        return self.store.array(self.keys[i]), float(entry["attrs"]["scale"])


def prepare_into_store(store, rdm_key, spec, params, read):
    """The prepared (ranked, centred, ...) vector of RDM ``rdm_key``, saved once; its key.

    A dot-product method's preparation of one RDM: a vector and a scale whose
    dot products give the comparison (``rdm_methods``). It is written into the
    store (kind ``"prepared"``, keyed by the RDM and the method), so each RDM
    of a large multi-model comparison is ranked once, and a rerun or another
    comparison of it reuses the ranks. ``read()`` loads the RDM's upper
    triangle; it is called only when the vector is not there yet.
    """
    from ..store import content_key

    fields = {"of": rdm_key, "method": spec.name, "params": dict(params)}
    key = content_key({"kind": "prepared", **fields})
    if store.has(key):
        return key
    vector = read()
    if np.isnan(vector).any():
        raise _HasNaN(rdm_key)
    prepared, scale = spec.prepare(vector, **params)
    del vector
    chunk = min(len(prepared), 1 << 20)
    return store.write("prepared", fields, prepared, chunks=(chunk,), codec="bitshuffle-lz4",
                       attrs={"scale": float(scale)})


class _HasNaN(Exception):
    """An RDM with NaN entries: the comparison needs the common mask of all RDMs."""


def stored_dot_values(store, keys, spec, params, read, *, budget):
    """All pairs of a dot-product method over stored RDMs, each prepared once into the store.

    Memory is one block of entries of every vector (``budget`` bytes), not the
    vectors: it does not grow with their length. Returns the symmetric value
    matrix (clipped to [-1, 1]) and the number of entries, or None when an
    RDM holds NaN (then the caller compares in memory, with the common mask).
    """
    try:
        prepared = [prepare_into_store(store, key, spec, params, lambda key=key: read(key))
                    for key in keys]
    except _HasNaN:
        return None
    items = _StoredPrepared(store, prepared)
    length = items.get(0)[0].shape[0]
    width = int(max(1 << 16, min(length, budget / (8 * 2 * len(keys)))))
    values = _dot_values(items, None, budget, width=width)
    return np.clip(values, -1.0, 1.0), int(length)
