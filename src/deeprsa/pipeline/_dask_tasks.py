"""The Dask executor's tasks: module-level functions that workers import by name.

Each task opens the store itself (only paths, keys and small values travel)
and runs the engine's own kernels: :func:`deeprsa.extract.forward_batches`
for an extraction shard, :func:`deeprsa.rdm._engine.prepare_tile` and
``tile_block`` for an RDM tile, the comparison's ``prepare`` and block
functions for a comparison. Tasks set the BLAS and torch threads of their
process (OpenBLAS's sums depend on the thread count), so that a cluster on
one machine reproduces a serial run there bit for bit.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

WORKING_MEMORY = 1024  # MiB, multi_model_rdm's default


@lru_cache(maxsize=8)
def _open_store(path):
    from ..store import Store

    return Store(path)


@lru_cache(maxsize=1)
def _thread_pools():
    """This process's BLAS and OpenMP libraries, found once (finding them takes a while)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def using(threads, *, torch=False):
    """Run a task with ``threads`` BLAS (and torch) threads, at most this worker's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with _thread_pools().limit(limits=min(threads["blas"], cores or 1), user_api="blas"):
        if not torch:
            yield
            return
        import torch as _torch

        before = _torch.get_num_threads()
        _torch.set_num_threads(min(threads["torch"], cores or 1))
        try:
            yield
        finally:
            _torch.set_num_threads(before)


def identity(x):
    return x


def _writable(store, key):
    return store.writable(key)


def aligned(x):
    """``x`` (or the arrays in a tuple) C-contiguous and aligned, copied only when not.

    Arrays that arrive from another worker may sit unaligned in a message
    buffer, and numpy multiplies unaligned arrays without BLAS: other sums.
    """
    if isinstance(x, tuple):
        return tuple(aligned(v) for v in x)
    if isinstance(x, np.ndarray):
        return np.require(x, requirements=["C", "A"])
    return x


# ----------------------------------------------------------------------- extraction


@lru_cache(maxsize=2)
def _loaded_model(spec, weights, seed, name):
    """A worker keeps its last models, so its next shards skip loading them."""
    from ..models import load_model

    return load_model(spec, weights=weights, seed=seed, name=name or None)


def extract_shard(path, model, stimuli, layers, start, stop, batch_size, device, threads):
    """Rows ``start:stop`` of every layer in ``layers``, batch by batch, then their markers.

    ``layers`` is ``[(name, key, reduction)]``; the batches start where the
    serial run's do (``start`` is a multiple of ``batch_size``), so every row
    comes from the same forward pass as in :func:`deeprsa.extract`.
    """
    import torch

    from ..extract import forward_batches
    from ..extract._engine import _to_rows, nonfinite_rows

    store = _open_store(path)
    loaded = _loaded_model(model["spec"], model["weights"], model["seed"], model["name"])
    device = torch.device(device)
    module = loaded.module.to(device)
    arrays = {name: _writable(store, key) for name, key, _ in layers}
    reductions = {name: reduction for name, _, reduction in layers}
    bad = {name: [] for name in reductions}  # rows holding NaN or infinity, as extract records
    with using(threads, torch=True):
        for s, n_rows, outputs in forward_batches(
                module, stimuli, loaded.preprocessing, list(reductions), start=start,
                stop=stop, batch_size=batch_size, device=device, reductions=reductions):
            for name in reductions:
                rows = _to_rows(outputs[name], arrays[name].dtype)
                arrays[name][s:s + n_rows] = rows
                bad[name] += [s + int(i) for i in nonfinite_rows(rows)]
    block = f"{start}-{stop}"
    for name, key, _ in layers:
        store.mark_blocks_done(key, [block], info={block: bad[name]})


def finish_extraction(path, keys, *shards):
    """Mark each layer complete, with the rows its shards found holding NaN or infinity."""
    store = _open_store(path)
    for key in keys:
        found = sorted({int(r) for rows in store.blocks_done(key).values() for r in rows or []}
                       | set(store.entry(key)["attrs"].get("nonfinite_rows", [])))
        store.mark_complete(key, attrs={"nonfinite_rows": found} if found else None)


# ----------------------------------------------------------------------- RDM tiles


def column_mean(path, key, batch_size, dtype, _extracted):
    from ..rdm._engine import _column_mean, _Rows

    return _column_mean(_Rows(_open_store(path).array(key), in_memory=False), batch_size, dtype)


def prepare_rdm_tile(path, key, measure, start, stop, dtype, mean, _extracted):
    """Rows ``start:stop`` prepared for ``measure``, exactly as the serial engine prepares them."""
    from ..rdm._engine import _Rows, prepare_tile

    tile = _Rows(_open_store(path).array(key), in_memory=False).read(start, stop, dtype)
    return (start, *prepare_tile(tile, start, measure, mean, dtype))


def rdm_tile(path, rdm_key, measure, params, n_features, i, j, tile_i, tile_j, threads):
    """One tile pair (``i <= j``) of an RDM, by the serial engine's kernel, into its tile."""
    from ..rdm._engine import _mirror, tile_block

    i0, *left = aligned(tile_i)
    j0, *right = (i0, *left) if i == j else aligned(tile_j)
    block = np.empty((len(left[0]), len(right[0])), dtype=left[0].dtype)
    with using(threads):
        tile_block(measure, params, tuple(left), tuple(right), block, n_features)
    if i == j:
        _mirror(block, 0, len(block))
    store = _open_store(path)
    array = _writable(store, rdm_key)  # the upper tiles only (deeprsa/rdm/_layout.py)
    array[i0:i0 + block.shape[0], j0:j0 + block.shape[1]] = block
    name = f"{i}-{j}"
    constant = left[2]
    rows = [] if i != j or constant is None else [int(i0 + k) for k in np.flatnonzero(constant)]
    store.mark_blocks_done(rdm_key, [name], info={name: rows})


def rdm_by_columns(path, task, measure, params, dtype, threads, _extracted):
    """A whole RDM from blocks of units (a layer far wider than memory), as the serial engine."""
    from ..rdm import create_rdm_array
    from ..rdm._engine import _constant_warning
    from ..rdm._layout import write_upper
    from ..rdm._stored import compute_by_columns

    store = _open_store(path)
    with using(threads):
        D, constant = compute_by_columns(store.array(task.activations), measure, params,
                                         dtype=dtype)
    array, _ = create_rdm_array(store, task, dtype)
    write_upper(array, D)
    store.mark_complete(task.key, attrs={"constant_rows": [int(i) for i in constant]})
    _constant_warning(measure, constant, task.stimulus_ids)


def finish_rdm(store, rdm_key, measure, n_pairs, ids):
    """Mark an RDM complete once every tile has its marker; warn about constant rows."""
    from ..rdm._engine import _constant_warning

    done = store.blocks_done(rdm_key)
    if len(done) != n_pairs:
        raise RuntimeError(f"RDM {rdm_key} has {len(done)} of {n_pairs} tiles on disk after "
                           "all its tasks finished; run the plan again to complete it.")
    constant = sorted(int(r) for rows in done.values() for r in rows or [])
    store.mark_complete(rdm_key, attrs={"constant_rows": constant})
    _constant_warning(measure, constant, ids)


# ----------------------------------------------------------------------- comparisons


def prepare_input(path, key, kind, n, rows_per_read, spec, params, threads):
    """One stored RDM (or activations) prepared for a comparison method, as the serial run."""
    from ..compare._store import read_input

    vector = read_input(_open_store(path), key, kind, n, rows_per_read)
    if kind == "rdms" and np.isnan(vector).any():
        raise ValueError(f"RDM {key} holds NaN entries; compare such RDMs with "
                         "deeprsa.multi_model_rdm, which leaves those pairs out of every "
                         "comparison.")
    with using(threads):
        return spec.prepare(vector, **params)


def dot_block(input, threads, *prepared):
    """All pairs of a dot-product method from one Gram matrix, as ``multi_model_rdm``."""
    from ..compare._pairs import _MIB, _dot_values, _Prepared

    budget = float(WORKING_MEMORY) * _MIB
    items = _Prepared(budget / 2, len(prepared))
    try:
        for p in prepared:
            items.add(aligned(p))
        with using(threads):
            values = _dot_values(items, None, budget)
        n_entries = len(items.get(0, mmap=True)[0]) if input == "rdm" else None
    finally:
        items.close()
    if input == "rdm":
        values = np.clip(values, -1.0, 1.0)
    return values, n_entries


def pair_block(spec, params, rows, cols, prepared_rows, prepared_cols, threads):
    """Pairs of a block (upper triangle on the diagonal), one ``spec.pair`` call each."""
    block = np.full((len(rows), len(cols)), np.nan)
    prepared_rows = [aligned(x) for x in prepared_rows]
    prepared_cols = [aligned(y) for y in prepared_cols]
    with using(threads):
        for a, (i, x) in enumerate(zip(rows, prepared_rows, strict=True)):
            for b, (j, y) in enumerate(zip(cols, prepared_cols, strict=True)):
                if j >= i:
                    block[a, b] = spec.pair(x, y, **params)
    if rows == cols:  # the lower triangle mirrors the upper one
        lower = np.tril_indices(len(rows), k=-1)
        block[lower] = block.T[lower]
    if spec.input == "rdm":
        block = np.clip(block, -1.0, 1.0)
    n_entries = len(prepared_rows[0][0]) if spec.input == "rdm" else None
    return block, n_entries
