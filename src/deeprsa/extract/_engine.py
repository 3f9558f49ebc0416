"""The extraction kernel: forward passes over batches, every selected layer hooked once.

Both executors run :func:`forward_batches`: :func:`deeprsa.extract` streams
its rows to a background writer that records progress after each batch; the
Dask executor runs one shard of stimuli per task and marks the shard when its
rows are on disk.
"""

from __future__ import annotations

import queue
import threading

import numpy as np

from ..layers import _first_tensor
from .reductions import _reduce_tensor


def _to_rows(reduced, dtype):
    """A reduced batch as the numpy rows the store holds (float32, or float16 to save disk)."""
    import torch

    return reduced.to("cpu", torch.float32).numpy().astype(dtype, copy=False)


def nonfinite_rows(rows) -> np.ndarray:
    """Positions of the rows holding NaN or infinity (a float64 sum cannot overflow here)."""
    return np.flatnonzero(~np.isfinite(rows.sum(axis=1, dtype=np.float64)))


class _Writer(threading.Thread):
    """Background thread writing (start, {key: rows}) batches, then recording progress.

    It also notes which rows of each array hold NaN or infinity (a custom
    module can produce them, float16 storage overflows past 65504): they go
    into the entry's attributes (``nonfinite_rows``) with the batch's progress.
    """

    def __init__(self, store, arrays: dict, known: dict | None = None):
        super().__init__(daemon=True, name="deeprsa-writer")
        self.store, self.arrays = store, arrays
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.nonfinite = {key: sorted(set(known.get(key, ()))) for key in arrays} \
            if known else {key: [] for key in arrays}

    def run(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            start, blocks = item
            try:
                end, attrs = start, {}
                for key, rows in blocks.items():
                    self.arrays[key][start:start + len(rows)] = rows
                    end = start + len(rows)
                    bad = [start + int(i) for i in nonfinite_rows(rows)]
                    if bad:
                        self.nonfinite[key] = sorted(set(self.nonfinite[key]) | set(bad))
                        attrs[key] = {"nonfinite_rows": self.nonfinite[key]}
                self.store.mark_progress_many({key: end for key in blocks}, attrs=attrs)
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


def _batches(stimuli, prep, start: int, batch_size: int, stop: int | None = None):
    """Yield (start, batch tensor) for rows ``start:stop``, preparing the next batch meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    stop = len(stimuli) if stop is None else min(stop, len(stimuli))

    def make(s):
        return torch.stack([prep(stimuli.load(i)) for i in range(s, min(s + batch_size, stop))])

    starts = list(range(start, stop, batch_size))
    if not starts:
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(make, starts[0])
        for i, s in enumerate(starts):
            batch = future.result()
            if i + 1 < len(starts):
                future = pool.submit(make, starts[i + 1])
            yield s, batch


def _hooked(module, names, captured: dict, reductions=None):
    """Forward hooks that keep the output of each layer in ``names`` (its last call).

    With ``reductions`` (``{layer: reduction}``), each output is reduced inside
    its hook, on the device of the forward pass, so that the full output can be
    freed at once (a sketch of a wide layer keeps k numbers per stimulus).

    What is kept never shares memory with the module's output: the network
    may change that tensor in place after the hook (torchvision's ResNets and
    VGGs apply ``ReLU(inplace=True)`` to a BatchNorm's or convolution's
    output, and add the shortcut with ``out += identity``), and the layer's
    activation is its output as the hook saw it.
    """
    def keep(name):
        if reductions is None:
            return lambda _m, _i, out: captured.__setitem__(name, _own(_first_tensor(out), out))
        reduction = reductions[name]
        return lambda _m, _i, out: captured.__setitem__(
            name, _own(_reduce_tensor(out, reduction, name).detach(), out))

    return [module.get_submodule(name).register_forward_hook(keep(name)) for name in names]


def _own(kept, output):
    """``kept``, copied where it shares memory with the module's ``output`` (a view of it)."""
    source = _first_tensor(output)
    if kept is None or source is None:
        return kept if kept is not None else output
    if kept.untyped_storage().data_ptr() == source.untyped_storage().data_ptr():
        return kept.detach().clone()
    return kept


def _capture(module, names, example) -> dict:
    """Outputs of the layers ``names`` for ``example`` (last call of each), in one pass."""
    captured: dict = {}
    handles = _hooked(module, names, captured)
    try:
        module(example)
    finally:
        for h in handles:
            h.remove()
    return captured


def forward_batches(module, stimuli, prep, names, *, start, stop, batch_size, device,
                    reductions=None):
    """The kernel: yield ``(start, n_rows, outputs)`` for each batch of ``stimuli[start:stop]``.

    One forward pass per batch (``torch.inference_mode()``) with every layer
    in ``names`` hooked once; ``outputs[name]`` is that layer's output for the
    batch, reduced inside the hook when ``reductions`` maps each layer to its
    reduction. Use it before the next batch replaces it.
    """
    import torch

    captured: dict = {}
    handles = _hooked(module, names, captured, reductions)
    try:
        with torch.inference_mode():
            for s, batch in _batches(stimuli, prep, start, batch_size, stop):
                captured.clear()
                module(batch.to(device))
                yield s, len(batch), captured
    finally:
        for h in handles:
            h.remove()


def _chunks(batch_size, width, target_bytes=8 << 20):
    """Chunks of a layer's array: one batch of rows, columns in equal blocks of ~8 MB.

    Zarr stores an edge chunk at full size (raw chunks are not compressed), so
    the columns are split evenly: 50,176 units in blocks of at most 40,000 are
    two blocks of 25,088, not 40,000 + 10,176 stored as 80,000.
    """
    most = max(1, min(width, target_bytes // (4 * batch_size)))
    blocks = -(-width // most)
    return (batch_size, -(-width // blocks))


def stored_bytes(n_rows, width, itemsize, batch_size) -> int:
    """Bytes of a layer's uncompressed array on disk: its chunks, edge chunks at full size."""
    rows, cols = _chunks(batch_size, width)
    return (-(-n_rows // rows) * rows) * (-(-width // cols) * cols) * int(itemsize)


def _run(module, stimuli, prep, pending, reductions, store, start, batch_size, device, *,
         progress, desc, tqdm):
    """Serial extraction of the ``pending`` layers from row ``start``, through the writer.

    On any error (a full disk, a failing layer, Ctrl-C) the rows already
    written stay recorded, nothing is marked complete and the arrays' locks
    are released, so the same call again resumes.
    """
    keys = [p["key"] for p in pending.values()]
    known = {p["key"]: p.get("nonfinite", []) for p in pending.values()}
    writer = _Writer(store, {p["key"]: p["array"] for p in pending.values()}, known)
    writer.start()
    bar = tqdm(total=len(stimuli), initial=start, desc=f"extract {desc}", unit="stim",
               disable=not progress)
    batches = forward_batches(module, stimuli, prep, list(pending), start=start,
                              stop=len(stimuli), batch_size=batch_size, device=device,
                              reductions=reductions)
    try:
        try:
            for s, n_rows, outputs in batches:
                blocks = {p["key"]: _to_rows(outputs[name], p["array"].dtype)
                          for name, p in pending.items()
                          if s + n_rows > p["done"]}  # else this layer already has these rows
                writer.put((s, blocks))
                bar.update(n_rows)
        finally:
            batches.close()
            bar.close()
            writer.close()  # finishes queued batches, so nothing computed is lost
        store.mark_progress_many({key: len(stimuli) for key in keys},
                                 complete={key: True for key in keys})
    finally:
        store.release(*keys)
    return writer.nonfinite
