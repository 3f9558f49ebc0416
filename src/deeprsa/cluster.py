"""Run a plan on a Dask cluster: extraction shards, RDM tiles and comparison blocks.

The same plan that ``deeprsa run`` executes in one process (a
:class:`~deeprsa.config.RunConfig`) becomes a Dask graph whose shared medium
is the store:

- **extraction shards**: one task per model and block of stimuli runs the
  forward passes (in batches of ``extract.batch_size``, exactly as
  :func:`deeprsa.extract` does) and writes the rows of every selected layer
  into that layer's Zarr array;
- **RDM tiles**: one task per row tile prepares the rows (centred, ranked,
  ...), one task per pair of row tiles multiplies them and writes the tile
  and its mirror image into the RDM's array, chunked by tiles;
- **comparison blocks**: one task per RDM prepares it (ranked once), then one
  task forms all dot products (Spearman, Pearson, cosine, rho-a) or one task
  per block of pairs compares them (Kendall's tau, representation methods).

Workers write disjoint, chunk-aligned regions and record each finished shard
or tile with a marker file (:meth:`Store.mark_blocks_done`), so a worker that
dies loses only the block it was writing: Dask reruns it, and if the whole run
stops, running it again computes only the blocks that have no marker. Each
block is computed by the same functions as the serial run, on the same
batches and tiles and with as many BLAS and torch threads (OpenBLAS's sums
depend on its thread count), so the arrays are bitwise identical to
``deeprsa run``'s on the same machine for the same ``dtype`` and tile size.

Dask is optional: ``pip install "deeprsa[dask]"``. Nothing here imports it
before a cluster is asked for.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["PlanResult", "run_plan", "start_cluster"]

log = logging.getLogger(__name__)

_WORKING_MEMORY = 1024  # MiB, multi_model_rdm's default
_STAGES = ("extract", "rdm", "compare")


def _distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError('Running on a Dask cluster needs the optional package '
                          'dask.distributed: pip install "deeprsa[dask]"') from err
    return distributed


# ============================================================================ clusters


def start_cluster(cluster: str = "local", *, threads_per_worker: int = 1, **kwargs):
    """Start a local Dask cluster, or connect to a running one; return its client.

    Parameters
    ----------
    cluster : str, default="local"
        ``"local"`` starts a ``dask.distributed.LocalCluster`` with one
        single-threaded worker process per core; ``"local:N"`` starts N of
        them. Anything else is the address of a running scheduler
        (``"tcp://10.0.0.5:8786"``) or the path of its scheduler file
        (``scheduler.json``, as ``dask scheduler --scheduler-file`` and
        dask-jobqueue write it).
    threads_per_worker : int, default=1
        Threads of each local worker. One thread per process keeps torch's
        and BLAS's own threads from competing.
    **kwargs
        Passed to ``LocalCluster`` (e.g. ``memory_limit="4GiB"``,
        ``dashboard_address=":8787"``).

    Returns
    -------
    distributed.Client
        Closing it (``client.close()``, or leaving a ``with`` block) also
        stops a local cluster started here.

    Raises
    ------
    ValueError
        If ``cluster`` is ``"local:N"`` with N not a positive int.
    ImportError
        If dask.distributed is not installed.

    Notes
    -----
    The dashboard link is logged (logger ``deeprsa.cluster``, level INFO);
    ``deeprsa cluster-run`` prints it. Serving the dashboard needs bokeh
    (``pip install bokeh``).

    See Also
    --------
    run_plan : Run a plan on the cluster.
    """
    if not isinstance(cluster, str):
        raise TypeError(f"cluster must be a str ('local', 'local:N' or a scheduler address), "
                        f"got {type(cluster).__name__}.")
    distributed = _distributed()
    if cluster == "local" or cluster.startswith("local:"):
        count = cluster.partition(":")[2]
        if cluster != "local" and (not count.isdigit() or int(count) < 1):
            raise ValueError(f"cluster must be 'local', 'local:N' with N a positive number of "
                             f"workers, or a scheduler address; got {cluster!r}.")
        n_workers = int(count) if count else max(1, (os.cpu_count() or 1) // threads_per_worker)
        client = distributed.Client(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                    processes=True, **kwargs)
        what = f"local cluster of {n_workers} worker(s)"
    elif cluster.endswith(".json") and os.path.isfile(cluster):
        client = distributed.Client(scheduler_file=cluster)
        what = f"scheduler of {cluster}"
    else:
        client = distributed.Client(cluster)
        what = f"scheduler at {cluster}"
    log.info("Dask %s; dashboard: %s%s", what, client.dashboard_link, _dashboard_note())
    return client


def _dashboard_note() -> str:
    import importlib.util

    return "" if importlib.util.find_spec("bokeh") else " (pip install bokeh to serve it)"


# ============================================================================ result


@dataclass(frozen=True, eq=False)
class PlanResult:
    """What :func:`run_plan` did, and the comparisons it made.

    Attributes
    ----------
    work : pandas.DataFrame
        One row per store array (activations of a layer, an RDM) and per
        comparison: ``stage`` (``"extract"``, ``"rdm"``, ``"compare"``),
        ``model``, ``layer``, ``measure``, ``method``, ``key`` (in the store),
        ``blocks`` (shards, tiles or comparison tasks it takes),
        ``computed`` (how many this run computed) and ``status``
        (``"computed"``, ``"resumed"`` when earlier blocks were reused,
        ``"skipped"`` when it was complete).
    comparisons : mapping of str to ComparisonResult
        The multi-model comparison of every layer of every model, per method
        (also saved in the store as ``"multi_model_rdm"``).
    """

    work: Any
    comparisons: Any = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "comparisons", MappingProxyType(dict(self.comparisons)))

    def __repr__(self):
        counts = self.work.groupby("stage", sort=False)["computed"].sum()
        shown = ", ".join(f"{stage} {int(counts.get(stage, 0))}" for stage in _STAGES)
        return f"PlanResult(blocks computed: {shown}; methods={list(self.comparisons)})"


# ============================================================================ the plan


def run_plan(plan, client, *, store, stimuli=None, rdm_batch_size=None, shard_size=None,
             n_threads=None, progress: bool = True) -> PlanResult:
    """Run a plan's extraction, RDMs and comparisons on a Dask cluster.

    Extraction shards write into ``store``; RDM tiles start as soon as their
    model's activations are complete; the multi-model comparison of every
    method follows. Whatever is already in the store (complete arrays,
    finished shards and tiles of an interrupted run) is skipped, so running
    again after a failure computes only what is missing. The results are the
    serial run's: afterwards ``deeprsa run`` (:func:`deeprsa.demo.run_config`)
    with the same store finds every array and goes on with the analyses.

    Parameters
    ----------
    plan : RunConfig
        The plan (:func:`deeprsa.load_config`). Used: ``models`` (spec,
        weights, seed, name, layers, reduction), ``extract`` (batch_size,
        device), ``rdm`` (measures, dtype), ``compare.methods`` and, when
        ``stimuli`` is None, ``stimuli``.
    client : distributed.Client
        A client of the cluster, e.g. from :func:`start_cluster`.
    store : Store or str or Path
        The store; every worker must reach it at this path (a shared or
        parallel file system for a multi-node cluster).
    stimuli : StimulusSet, optional
        The stimuli, drawn and sorted as the plan says; default: built from
        ``plan.stimuli`` as ``deeprsa run`` does.
    rdm_batch_size : int, optional
        Rows per RDM tile. Default: the serial default of
        :func:`deeprsa.compute_rdm` for stored activations (about 256 MB of
        activations per tile, 128 to 2048 rows), so the RDMs equal the
        serial run's bitwise. Smaller tiles give more tasks.
    shard_size : int, optional
        Stimuli per extraction shard, rounded up to a multiple of
        ``extract.batch_size``. Default: about four shards per worker and
        model.
    n_threads : int, optional
        BLAS and torch threads inside each task (at most the worker's cores).
        Default: as many as this process uses, so that a cluster on this
        machine reproduces a serial run here bitwise (OpenBLAS's sums depend
        on its thread count). ``n_threads=1`` avoids oversubscribing the
        cores of a local cluster; results then equal a serial run with one
        thread (``OPENBLAS_NUM_THREADS=1``) bitwise, and the default one to
        float rounding (about 1e-6 relative for float32).
    progress : bool, default=True
        Show a progress bar over the tasks.

    Returns
    -------
    PlanResult
        What was computed, per array, and the comparisons.

    Raises
    ------
    TypeError
        If ``client`` is not a ``distributed.Client``.
    ValueError
        If ``rdm_batch_size``, ``shard_size`` or ``n_threads`` is not a
        positive int; also the errors of the serial stages (unknown layers,
        NaN activations, ...).
    distributed.KilledWorker
        If tasks kept killing their workers (by default a task may fail on 3
        workers). The finished shards and tiles stay in the store: run again.

    See Also
    --------
    start_cluster : Start or join a cluster.
    deeprsa.extract, deeprsa.compute_rdms, deeprsa.multi_model_rdm : The serial stages.

    Notes
    -----
    Tasks are named ``extract-plan``, ``extract-shard``, ``rdm-mean``,
    ``rdm-prepare``, ``rdm-tile``, ``compare-prepare`` and ``compare-block``
    on the dashboard. Comparisons are small and always recomputed. The
    multi-model comparison uses the first measure of ``plan.rdm.measures``, as
    ``deeprsa run`` does; RDMs are compared over the stimuli in the store
    (none of them hold NaN).

    Tasks set the BLAS and torch threads of their process, so run workers
    with one task thread each (as :func:`start_cluster` does) and give the
    cores to ``n_threads``. docs/scaling.md plans a run of a million stimuli.
    """
    from .store import Store

    for name, value in (("rdm_batch_size", rdm_batch_size), ("shard_size", shard_size),
                        ("n_threads", n_threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(
                value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name} must be None or a positive int, got {value!r}.")
    distributed = _distributed()
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}; "
                        "start one with deeprsa.cluster.start_cluster('local:2').")
    store = store if isinstance(store, Store) else Store(store)
    stimuli = _plan_stimuli(plan) if stimuli is None else stimuli
    runner = _Runner(client, store, stimuli, progress=progress, threads=_threads_here(n_threads))
    runner.extraction(plan, shard_size=shard_size)
    runner.rdms(plan.rdm.measures, plan.rdm.dtype, batch_size=rdm_batch_size)
    runner.wait()
    comparisons = runner.comparisons(plan.compare.methods, plan.rdm.measures[0])
    import pandas as pd

    return PlanResult(pd.DataFrame(runner.work), comparisons)


def _rdm_stage(client, store, keys, *, measure="correlation", dtype="float32",
               batch_size=None, n_threads=None, progress=False):
    """The RDMs of complete stored activations ``keys`` on the cluster; the work table.

    Only the RDM stage of :func:`run_plan` (the benchmark times it).
    """
    from types import SimpleNamespace

    import pandas as pd

    first = store.entry(keys[0])["fields"]["stimuli"]
    ids = store.stimulus_ids(first)
    runner = _Runner(client, store, SimpleNamespace(stimulus_ids=ids), progress=progress,
                     threads=_threads_here(n_threads))
    for key in keys:
        entry = store.entry(key)
        name = entry["fields"].get("model", key)
        runner.models.append(name)
        runner.extracted[name] = {"done": None, "layers": [
            {"layer": entry["fields"].get("layer"), "key": key, "width": entry["shape"][1]}]}
    runner.rdms([measure], dtype, batch_size=batch_size)
    runner.wait()
    return pd.DataFrame(runner.work)


def _plan_stimuli(plan):
    """The plan's stimuli, drawn per class and sorted as ``deeprsa run`` does."""
    from .demo import _load_stimuli

    spec = plan.stimuli
    stimuli = _load_stimuli(plan)
    if spec.n_per_class is not None:
        stimuli = stimuli.sample(spec.n_per_class, seed=spec.seed, column=spec.label)
    if spec.sort_by:
        stimuli = stimuli.sort_by(list(spec.sort_by))
    return stimuli


class _Runner:
    """Submits the stages of one run and follows their futures."""

    def __init__(self, client, store, stimuli, *, progress, threads):
        self.client = client
        self.threads = threads
        self.store = store
        self.path = str(store.path)
        self.stimuli = stimuli
        self.ids = tuple(stimuli.stimulus_ids)
        self.progress = progress
        self.token = uuid.uuid4().hex[:8]  # fresh task keys for every run
        self.work: list[dict] = []
        self.futures: list = []
        self.tile_of: dict = {}  # tile future key -> its RDM's key
        self.unfinished: dict[str, dict] = {}  # RDM key -> tiles still to come, and what
        self.extracted: dict[str, dict] = {}  # model -> {"layers": [...], "done": future}
        self.models: list[str] = []
        self.n_workers = max(1, len(client.nthreads()))

    def key(self, *parts) -> str:
        prefix, rest = parts[0], parts[1:]
        return "-".join([prefix, self.token, *map(str, rest)])

    def submit(self, func, *args, key, track=True, **kwargs):
        future = self.client.submit(func, *args, key=key, pure=False, **kwargs)
        if track:
            self.futures.append(future)
        return future

    # ------------------------------------------------------------------ extraction
    def extraction(self, plan, *, shard_size):
        stimuli = self.client.submit(_identity, self.stimuli, key=self.key("stimuli"))
        batch_size, device = plan.extract.batch_size, str(plan.extract.device)
        models = [{"spec": m.spec, "weights": m.weights, "seed": m.seed, "name": m.name,
                   "layers": list(m.layers) if isinstance(m.layers, tuple) else m.layers,
                   "reduction": m.reduction} for m in plan.models]
        planned = [self.submit(_plan_extraction, self.path, model, stimuli, batch_size, device,
                               key=self.key("extract-plan", i), track=False)
                   for i, model in enumerate(models)]
        n = len(self.ids)
        for i, (model, info) in enumerate(zip(models, self.client.gather(planned),
                                              strict=True)):
            name = info["name"]
            self.models.append(name)
            pending = [layer for layer in info["layers"] if not layer["complete"]]
            unit = math.lcm(batch_size, *(layer["chunk_rows"] for layer in pending))
            rows = unit * max(1, math.ceil(n / (4 * self.n_workers * unit))) \
                if shard_size is None else unit * math.ceil(shard_size / unit)
            todo = _missing_shards(self.store, pending, n, unit, rows)
            shards = [self.submit(_extract_shard, self.path, model, stimuli,
                                  [(layer["layer"], layer["key"], layer["reduction"])
                                   for layer in pending], start, stop, batch_size, device,
                                  self.threads, key=self.key("extract-shard", i, start))
                      for start, stop in todo]
            done = None
            if pending:
                done = self.submit(_finish_extraction, self.path,
                                   [layer["key"] for layer in pending], *shards,
                                   key=self.key("extract-done", i))
            self.extracted[name] = {"layers": info["layers"], "done": done}
            n_shards = math.ceil(n / rows)
            for layer in info["layers"]:
                computed = len(todo) if not layer["complete"] else 0
                self.work.append({
                    "stage": "extract", "model": name, "layer": layer["layer"],
                    "measure": None, "method": None, "key": layer["key"],
                    "blocks": n_shards, "computed": computed,
                    "status": _status(layer["complete"], computed, n_shards)})

    # ------------------------------------------------------------------ RDMs
    def rdms(self, measures, dtype, *, batch_size):
        from .rdm import _MEASURES, _check_dtype, _check_params

        dtype = _check_dtype(dtype)
        for measure_name in measures:
            measure = _MEASURES.get_checked(measure_name)
            params = _check_params(measure, {})
            for model in self.models:
                for layer in self.extracted[model]["layers"]:
                    self._rdm(model, layer, measure, params, dtype, batch_size)

    def _rdm(self, model, layer, measure, params, dtype, batch_size):
        from .rdm import (
            _FROM_ACTIVATIONS,
            _check_batch_size,
            _jsonable,
            _Rows,
            _run_provenance,
            _store_fields,
        )
        from .store import content_key

        store, n, p = self.store, len(self.ids), layer["width"]
        fields = store.entry(layer["key"])["fields"]
        provenance = {k: fields[k] for k in _FROM_ACTIVATIONS if k in fields}
        provenance["activations"] = layer["key"]
        provenance.update(_run_provenance(measure, params, dtype, None))
        rdm_fields = _store_fields(provenance, self.ids)
        rdm_key = content_key({"kind": "rdms", **rdm_fields})
        row = {"stage": "rdm", "model": model, "layer": layer["layer"],
               "measure": measure.name, "method": None, "key": rdm_key}
        b = _check_batch_size(batch_size, _Rows(_Shape((n, p)), in_memory=False), dtype,
                              measure)
        starts = list(range(0, n, b))
        pairs = [(i, j) for i in range(len(starts)) for j in range(i, len(starts))]
        if store.has(rdm_key):
            self.work.append({**row, "blocks": len(pairs), "computed": 0, "status": "skipped"})
            return
        store.add_stimuli(self.ids, rdm_fields["stimuli"])
        create = dict(shape=(n, n), dtype=dtype, chunks=(b, b), compression_level=0,
                      attrs={"provenance": _jsonable(provenance)})
        _, array, _ = store.create("rdms", rdm_fields, **create)
        if tuple(array.chunks) != (b, b):  # written by a serial run, or with other tiles
            log.info("RDM %s was started with chunks %s; restarting it in %d-row tiles.",
                     rdm_key, array.chunks, b)
            store.delete(rdm_key)
            store.create("rdms", rdm_fields, **create)
        done = store.blocks_done(rdm_key)
        missing = [(i, j) for i, j in pairs if f"{i}-{j}" not in done]
        self.work.append({**row, "blocks": len(pairs), "computed": len(missing),
                          "status": _status(False, len(missing), len(pairs))})
        if not missing:
            _finish_rdm(self.store, rdm_key, measure, len(pairs), self.ids)
            return
        dependency = self.extracted[model]["done"]
        mean = None
        if measure.centres_columns:
            mean = self.submit(_column_mean_task, self.path, layer["key"], b, dtype, dependency,
                               key=self.key("rdm-mean", rdm_key), track=False)
        tiles = {}
        for i in sorted({i for pair in missing for i in pair}):
            tiles[i] = self.submit(_prepare_tile, self.path, layer["key"], measure, starts[i],
                                   min(n, starts[i] + b), dtype, mean, dependency,
                                   key=self.key("rdm-prepare", rdm_key, i), track=False)
        for i, j in missing:
            future = self.submit(_rdm_tile, self.path, rdm_key, measure, params, p, i, j,
                                 tiles[i], tiles[j], self.threads,
                                 key=self.key("rdm-tile", rdm_key, i, j))
            self.tile_of[future.key] = rdm_key
        self.unfinished[rdm_key] = {"tiles": len(missing), "measure": measure,
                                    "pairs": len(pairs)}

    # ------------------------------------------------------------------ waiting
    def wait(self):
        """Follow every task; finish each RDM when its last tile is in. Cancel all on error."""
        from tqdm.auto import tqdm

        distributed = _distributed()
        bar = tqdm(total=len(self.futures), desc="cluster tasks", unit="task",
                   disable=not self.progress)
        futures, self.futures = self.futures, []
        try:
            for future in distributed.as_completed(futures):
                future.result()  # raises the task's error
                bar.update()
                rdm_key = self.tile_of.pop(future.key, None)
                if rdm_key is None:
                    continue
                rdm = self.unfinished[rdm_key]
                rdm["tiles"] -= 1
                if rdm["tiles"] == 0:
                    _finish_rdm(self.store, rdm_key, rdm["measure"], rdm["pairs"], self.ids)
        except BaseException:
            self.client.cancel(futures)
            log.error("A task failed; finished shards and tiles stay in the store %s. Run the "
                      "same plan again to compute only what is missing.", self.path)
            raise
        finally:
            bar.close()

    # ------------------------------------------------------------------ comparisons
    def comparisons(self, methods, measure):
        from ._compare_pairs import _flat, _Item, _warn_undefined
        from .compare import _METHODS, ComparisonResult, _check_method, _frame, _select
        from .rdm import _ids_key

        results = {}
        n = len(self.ids)
        rows_per_read = int(max(1, min(n, _WORKING_MEMORY * (1 << 20) / 16 / (n * 8))))
        for method in methods:
            spec, params = _check_method(method, None, _METHODS.get_checked(method).input)
            kind = "rdms" if spec.input == "rdm" else "activations"
            filters = ({"measure": measure, "stimuli": _ids_key(self.ids)} if kind == "rdms"
                       else {"stimuli": self.stimuli.content_hash()})
            table = _select(self.store, kind, self.models, None, filters)
            meta = table.drop(columns=[c for c in ("kind", "complete", "rows_done", "shape",
                                                   "created") if c in table.columns])
            metadata = [_flat(r) for r in meta.to_dict("records")]
            prepared = [self.submit(_prepare_item, self.path, key, kind, n, rows_per_read,
                                    spec, params, self.threads,
                                    key=self.key("compare-prepare", method, k), track=False)
                        for k, key in enumerate(table["key"])]
            blocks = self._blocks(spec, params, method, prepared)
            values = np.full((len(prepared), len(prepared)), np.nan)
            n_entries = None
            for (rows, cols), future in blocks:
                block, n_entries = future.result()
                values[np.ix_(rows, cols)] = block
                if rows != cols:  # blocks on the diagonal come whole, as the serial run's
                    values[np.ix_(cols, rows)] = block.T
            sides = [("entries", [_Item(None, m, None) for m in metadata])]
            _warn_undefined(values, sides)
            frame = _frame(metadata)
            result = ComparisonResult(values, method, params, spec.kind, frame, frame, n,
                                      n_entries, True)
            key = result.save(self.store, name="multi_model_rdm")
            results[method] = result
            self.work.append({"stage": "compare", "model": None, "layer": None,
                              "measure": measure if kind == "rdms" else None,
                              "method": method, "key": key, "blocks": len(blocks),
                              "computed": len(blocks), "status": "computed"})
        return results

    def _blocks(self, spec, params, method, prepared):
        """Futures of the comparison blocks, with the rows and columns each one fills."""
        everything = list(range(len(prepared)))
        if spec.dot:  # one product over all prepared inputs: the serial run's exact sums
            return [((everything, everything),
                     self.submit(_dot_block, spec.input, self.threads, *prepared,
                                 key=self.key("compare-block", method, 0), track=False))]
        size = max(1, math.ceil(len(prepared) / (2 * self.n_workers)))
        groups = [everything[g:g + size] for g in range(0, len(prepared), size)]
        out = []
        for a, rows in enumerate(groups):
            for b, cols in enumerate(groups[a:], start=a):
                future = self.submit(
                    _pair_block, spec, params, rows, cols, [prepared[i] for i in rows],
                    [prepared[j] for j in cols], self.threads,
                    key=self.key("compare-block", method, a, b), track=False)
                out.append(((rows, cols), future))
        return out


def _missing_shards(store, pending, n, unit, rows):
    """Row ranges ``[start, stop)`` that some pending layer still lacks, cut into shards.

    A layer has the rows of its serial prefix (``done``) and of its shard
    markers; ``unit`` is the batch size (and row chunk), ``rows`` the shard
    size, a multiple of ``unit``.
    """
    if not pending:
        return []
    have = np.ones(math.ceil(n / unit), dtype=bool)
    for layer in pending:
        covered = np.zeros(len(have), dtype=bool)
        covered[:layer["done"] // unit] = True
        for block in store.blocks_done(layer["key"]):
            start, stop = (int(x) for x in block.split("-"))
            if start % unit == 0 and (stop % unit == 0 or stop == n):
                covered[start // unit:math.ceil(stop / unit)] = True
        have &= covered
    per_shard = rows // unit
    out = []
    for first in range(0, len(have), per_shard):
        units = np.flatnonzero(~have[first:first + per_shard]) + first
        if units.size:  # one shard from its first to its last missing unit
            out.append((int(units[0]) * unit, min(n, (int(units[-1]) + 1) * unit)))
    return out


class _Shape:
    """Stands in for an array where only its shape is needed (tile sizes)."""

    def __init__(self, shape):
        self.shape = shape


def _threads_here(n_threads=None) -> dict:
    """BLAS and torch threads of this process (what a serial run here uses), or ``n_threads``."""
    if n_threads is not None:
        return {"blas": int(n_threads), "torch": int(n_threads)}
    import torch
    from threadpoolctl import threadpool_info

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return {"blas": max(blas, default=1), "torch": torch.get_num_threads()}


@lru_cache(maxsize=1)
def _thread_pools():
    """This process's BLAS and OpenMP libraries, found once (finding them takes a while)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def _using(threads, *, torch=False):
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


def _status(complete, computed, blocks):
    if complete:
        return "skipped"
    return "computed" if computed == blocks else "resumed"


# ============================================================================ tasks
# Module-level functions, so workers import them by name. Each one opens the store
# itself: only paths, keys and small values travel with the tasks.


def _identity(x):
    return x


@lru_cache(maxsize=8)
def _open_store(path):
    from .store import Store

    return Store(path)


@lru_cache(maxsize=2)
def _loaded_model(spec, weights, seed, name):
    """A worker keeps its last models, so its next shards skip loading them."""
    from .models import load_model

    return load_model(spec, weights=weights, seed=seed, name=name or None)


def _writable(store, key):
    import zarr

    return zarr.open_array(store.path / store.entry(key)["path"], mode="r+")


def _plan_extraction(path, model, stimuli, batch_size, device):
    """Select the layers of one model and create their arrays (as ``extract`` does)."""
    import torch

    from .extract import _plan

    store = _open_store(path)
    loaded = _loaded_model(model["spec"], model["weights"], model["seed"], model["name"])
    _, _, reductions, plan = _plan(loaded, stimuli, model["layers"], store,
                                   reduction=model["reduction"], batch_size=batch_size,
                                   device=torch.device(device))
    return {"name": loaded.name, "layers": [
        {"layer": name, "key": p["key"], "width": p["width"], "done": p["done"],
         "complete": store.has(p["key"]), "chunk_rows": int(p["array"].chunks[0]),
         "reduction": reductions[name]} for name, p in plan.items()]}


def _extract_shard(path, model, stimuli, layers, start, stop, batch_size, device, threads):
    """Rows ``start:stop`` of every layer in ``layers``, batch by batch, then their markers."""
    import torch

    from .extract import _batches, _capture, _reduce

    store = _open_store(path)
    loaded = _loaded_model(model["spec"], model["weights"], model["seed"], model["name"])
    device = torch.device(device)
    module = loaded.module.to(device)
    arrays = {name: _writable(store, key) for name, key, _ in layers}
    names = [name for name, _, _ in layers]
    shard = stimuli.subset(stimuli.stimulus_ids[start:stop])
    with _using(threads, torch=True), torch.inference_mode():
        for s, batch in _batches(shard, loaded.preprocessing, 0, batch_size):
            outputs = _capture(module, names, batch.to(device))
            for name, _, reduction in layers:
                rows = _reduce(outputs[name], reduction, name).numpy()
                arrays[name][start + s:start + s + len(rows)] = rows
    for _, key, _ in layers:
        store.mark_blocks_done(key, [f"{start}-{stop}"])


def _finish_extraction(path, keys, *shards):
    store = _open_store(path)
    for key in keys:
        store.mark_complete(key)


def _column_mean_task(path, key, batch_size, dtype, _extracted):
    from .rdm import _column_mean, _Rows

    return _column_mean(_Rows(_open_store(path).array(key), in_memory=False), batch_size, dtype)


def _prepare_tile(path, key, measure, start, stop, dtype, column_mean, _extracted):
    """Rows ``start:stop`` prepared for ``measure``, as the serial engine prepares a tile."""
    from .rdm import _check_finite, _Rows

    tile = _Rows(_open_store(path).array(key), in_memory=False).read(start, stop, dtype)
    if measure.pairwise is not None:
        _check_finite(tile.sum(axis=1, dtype=np.float64), start, dtype)
        return start, tile, None, None
    with np.errstate(invalid="ignore", over="ignore"):
        Z, term, constant, check = measure.prepare(tile, column_mean)
    _check_finite(check, start, dtype)
    return start, Z, term, constant


def _rdm_tile(path, rdm_key, measure, params, n_features, i, j, tile_i, tile_j, threads):
    """One tile pair of an RDM, computed as in the serial engine, written with its mirror."""
    from .rdm import _mirror, _pairwise_block

    i0, Zi, ti, ci = _aligned(tile_i)
    j0, Zj, tj, cj = (i0, Zi, ti, ci) if i == j else _aligned(tile_j)
    block = np.empty((len(Zi), len(Zj)), dtype=Zi.dtype)
    with _using(threads):
        if measure.pairwise is not None:
            _pairwise_block(measure, Zi, Zj, block, params)
        else:
            np.matmul(Zi, Zj.T, out=block)
            measure.finish(block, ti, tj, n_features, **params)
            if ci is not None and ci.any() and cj.any():
                block[np.ix_(np.flatnonzero(ci), np.flatnonzero(cj))] = 0
    if i == j:
        _mirror(block, 0, len(block))
    store = _open_store(path)
    array = _writable(store, rdm_key)
    array[i0:i0 + len(Zi), j0:j0 + len(Zj)] = block
    if i != j:
        array[j0:j0 + len(Zj), i0:i0 + len(Zi)] = block.T
    name = f"{i}-{j}"
    constant = [] if i != j or ci is None else [int(i0 + k) for k in np.flatnonzero(ci)]
    store.mark_blocks_done(rdm_key, [name], info={name: constant})


def _aligned(x):
    """``x`` (or the arrays in a tuple) C-contiguous and aligned, copied only when not.

    Arrays that arrive from another worker may sit unaligned in a message
    buffer, and numpy multiplies unaligned arrays without BLAS: other sums.
    """
    if isinstance(x, tuple):
        return tuple(_aligned(v) for v in x)
    if isinstance(x, np.ndarray):
        return np.require(x, requirements=["C", "A"])
    return x


def _finish_rdm(store, rdm_key, measure, n_pairs, ids):
    """Mark an RDM complete once every tile has its marker; warn about constant rows."""
    from .rdm import _constant_warning

    done = store.blocks_done(rdm_key)
    if len(done) != n_pairs:
        raise RuntimeError(f"RDM {rdm_key} has {len(done)} of {n_pairs} tiles on disk after "
                           "all its tasks finished; run the plan again to complete it.")
    constant = sorted(int(r) for rows in done.values() for r in rows or [])
    store.mark_complete(rdm_key, attrs={"constant_rows": constant})
    _constant_warning(measure, constant, ids)


def _prepare_item(path, key, kind, n, rows_per_read, spec, params, threads):
    """One stored RDM (or activations) prepared for a comparison method, as the serial run."""
    from ._compare_pairs import _upper
    from .compare import _read_activations

    store = _open_store(path)
    if kind == "activations":
        with _using(threads):
            return spec.prepare(_read_activations(store.array(key), rows_per_read), **params)
    vector = _upper(store.array(key), n, rows_per_read)
    if np.isnan(vector).any():
        raise ValueError(f"RDM {key} holds NaN entries; compare such RDMs with "
                         "deeprsa.multi_model_rdm, which leaves those pairs out of every "
                         "comparison.")
    with _using(threads):
        return spec.prepare(vector, **params)


def _dot_block(input, threads, *prepared):
    """All pairs of a dot-product method from one Gram matrix, as ``multi_model_rdm``."""
    from ._compare_pairs import _MIB, _dot_values, _Prepared

    budget = float(_WORKING_MEMORY) * _MIB
    items = _Prepared(budget / 2, len(prepared))
    for p in prepared:
        items.add(_aligned(p))
    with _using(threads):
        values = _dot_values(items, None, budget)
    if input == "rdm":
        values = np.clip(values, -1.0, 1.0)
    return values, (len(items.get(0, mmap=True)[0]) if input == "rdm" else None)


def _pair_block(spec, params, rows, cols, prepared_rows, prepared_cols, threads):
    """Pairs of a block (upper triangle on the diagonal), one ``spec.pair`` call each."""
    block = np.full((len(rows), len(cols)), np.nan)
    prepared_rows = [_aligned(x) for x in prepared_rows]
    prepared_cols = [_aligned(y) for y in prepared_cols]
    with _using(threads):
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
