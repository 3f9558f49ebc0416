"""The Dask executor: a plan's extraction shards, RDM tiles and comparison blocks on a cluster.

The plan that ``deeprsa run`` executes in one process (:func:`build_plan`)
becomes a Dask graph whose shared medium is the store:

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

The arrays are the ones the plan names, by the same key derivation as the
serial executor (:func:`deeprsa.rdm.plan_rdm`,
:func:`deeprsa.compare._store.plan_comparison`), and every task runs the
serial engine's kernels (:mod:`._dask_tasks`). Workers write disjoint,
chunk-aligned regions and record each finished shard or tile with a marker
file (:meth:`Store.mark_blocks_done`), so a worker that dies loses only the
block it was writing: Dask reruns it, and if the whole run stops, running it
again computes only the blocks that have no marker. With as many BLAS and
torch threads as the serial run (OpenBLAS's sums depend on its thread
count), the arrays are bitwise identical to ``deeprsa run``'s on the same
machine; a comparison the cluster saved is found, not recomputed, by the
report sections.

Dask is optional: ``pip install "deeprsa[dask]"``. Nothing here imports it
before a cluster is asked for.
"""

from __future__ import annotations

import logging
import math
import uuid
import warnings
from typing import Any

import numpy as np

from . import _dask_tasks as tasks
from ._dask_client import PlanResult, _distributed, start_cluster

__all__ = ["DaskExecutor", "PlanResult", "run_plan", "start_cluster"]

log = logging.getLogger(__name__)

def run_plan(plan, client, *, store, stimuli=None, rdm_batch_size=None, shard_size=None,
             n_jobs=None, progress: bool = True, n_threads=None) -> PlanResult:
    """Run a plan's extraction, RDMs and comparisons on a Dask cluster.

    Extraction shards write into ``store``; RDM tiles start as soon as their
    model's activations are complete; the multi-model comparison of every
    method follows. Whatever is already in the store (complete arrays,
    finished shards and tiles of an interrupted run) is skipped, so running
    again after a failure computes only what is missing. The results are the
    serial run's: afterwards ``deeprsa run`` (:func:`deeprsa.pipeline.run_config`)
    with the same store finds every array and comparison and goes on with
    the analyses.

    Parameters
    ----------
    plan : RunConfig or Plan
        The run (:func:`deeprsa.load_config`), validated with
        :func:`~deeprsa.pipeline.build_plan` unless it already is a Plan.
        Used: ``models`` (spec, weights, seed, name, layers, reduction),
        ``extract`` (batch_size, device), ``rdm`` (measures, dtype),
        ``compare.methods`` and, when ``stimuli`` is None, ``stimuli``.
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
    n_jobs : int, optional
        BLAS and torch threads inside each task (at most the worker's cores).
        Default: as many as this process uses, so that a cluster on this
        machine reproduces a serial run here bitwise (OpenBLAS's sums depend
        on its thread count). ``n_jobs=1`` avoids oversubscribing the
        cores of a local cluster; results then equal a serial run with one
        thread (``OPENBLAS_NUM_THREADS=1``) bitwise, and the default one to
        float rounding (about 1e-6 relative for float32).
    progress : bool, default=True
        Show a progress bar over the tasks.
    n_threads : int, optional
        Deprecated spelling of ``n_jobs``.

    Returns
    -------
    PlanResult
        What was computed, per array, and the comparisons.

    Raises
    ------
    TypeError
        If ``client`` is not a ``distributed.Client``.
    ValueError
        If ``rdm_batch_size``, ``shard_size`` or ``n_jobs`` is not a
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
    Tasks are named ``extract-shard``, ``rdm-mean``, ``rdm-prepare``,
    ``rdm-tile``, ``compare-prepare`` and ``compare-block`` on the
    dashboard. A comparison already in the store is skipped. The multi-model
    comparison uses the first measure of ``plan.rdm.measures``, as ``deeprsa
    run`` does; RDMs are compared over the stimuli in the store (none of them
    hold NaN).

    Tasks set the BLAS and torch threads of their process, so run workers
    with one task thread each (as :func:`start_cluster` does) and give the
    cores to ``n_jobs``. docs/scaling.md plans a run of a million stimuli.
    """
    from ..store import Store

    if n_threads is not None:
        warnings.warn("run_plan's n_threads is now n_jobs (the one spelling for threads).",
                      DeprecationWarning, stacklevel=2)
        n_jobs = n_threads if n_jobs is None else n_jobs
    executor = DaskExecutor(client, rdm_batch_size=rdm_batch_size, shard_size=shard_size,
                            n_jobs=n_jobs)
    executor.check()  # before the store or the plan is made
    store = store if isinstance(store, Store) else Store(store)
    work = executor.run(_as_plan(plan, stimuli), store, progress=progress)
    comparisons = {row["method"]: _load_comparison(store, row["key"])
                   for row in work if row["stage"] == "compare"}
    import pandas as pd

    return PlanResult(pd.DataFrame(work), comparisons)


def _rdm_stage(client, store, keys, *, measure="correlation", dtype="float32",
               batch_size=None, n_jobs=None, progress=False):
    """The RDMs of complete stored activations ``keys`` on the cluster; the work rows.

    Only the RDM stage of :func:`run_plan` (benchmarks/bench_cluster.py times it).
    """
    from types import SimpleNamespace

    from ..rdm import plan_rdm
    from ..rdm.measures import _MEASURES

    ids = store.stimulus_ids(store.entry(keys[0])["fields"]["stimuli"])
    plan = SimpleNamespace(stimuli=SimpleNamespace(stimulus_ids=ids))
    runner = _Runner(client, store, plan, progress=progress, threads=_threads_here(n_jobs))
    for key in keys:
        task = plan_rdm(store, key, _MEASURES[measure], {}, dtype=dtype, batch_size=batch_size)
        fields = store.entry(key)["fields"]
        what = SimpleNamespace(model=fields.get("model"), layer=fields.get("layer"),
                               measure=measure)
        runner._rdm(what, task, _MEASURES[measure], dtype)
    runner.wait()
    return runner.work


def _load_comparison(store, key):
    from ..compare import ComparisonResult

    return ComparisonResult.load(store, key)


def _as_plan(plan, stimuli):
    from .plan import Plan, build_plan

    return plan if isinstance(plan, Plan) else build_plan(plan, stimuli=stimuli)


def _check_positive(**values):
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(
                value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name} must be None or a positive int, got {value!r}.")


class DaskExecutor:
    """Run a plan's store stages on a Dask cluster (see the module docstring).

    Parameters
    ----------
    client : distributed.Client
        A client of the cluster, e.g. from :func:`start_cluster`.
    rdm_batch_size, shard_size, n_jobs : int, optional
        As in :func:`run_plan`.
    """

    name = "dask"

    def __init__(self, client, *, rdm_batch_size=None, shard_size=None, n_jobs=None):
        self.client = client
        self.rdm_batch_size = rdm_batch_size
        self.shard_size = shard_size
        self.n_jobs = n_jobs

    def check(self):
        """Raise if a size is not a positive int or the client is not a Dask client."""
        _check_positive(rdm_batch_size=self.rdm_batch_size, shard_size=self.shard_size,
                        n_jobs=self.n_jobs)
        distributed = _distributed()
        if not isinstance(self.client, distributed.Client):
            raise TypeError(f"client must be a distributed.Client, got "
                            f"{type(self.client).__name__}; start one with "
                            "deeprsa.pipeline.dask.start_cluster('local:2').")

    def run(self, plan, store, *, record=None, progress: bool = True) -> list[dict]:
        """Extraction, RDMs and comparisons of ``plan`` on the cluster; the work table rows."""
        self.check()
        spec = plan.config.extract
        if spec.keep != "activations" or spec.max_disk is not None or \
                spec.max_memory is not None:
            from .config import ConfigError

            raise ConfigError("extract.keep", "config keys 'extract.max_disk', 'max_memory' "
                                              "and keep = \"rdms\" (passes within a budget) run "
                                              "on the serial executor: drop --cluster, or the "
                                              "budget (sketches work on a cluster).")
        runner = _Runner(self.client, store, plan, progress=progress,
                         threads=_threads_here(self.n_jobs))
        with _step(record, "extraction"):
            runner.extraction(shard_size=self.shard_size)
        with _step(record, "RDMs"):
            runner.rdms(batch_size=self.rdm_batch_size)
            runner.wait()
        with _step(record, "comparisons"):
            runner.comparisons()
        return runner.work


def _step(record, name):
    from contextlib import nullcontext

    return nullcontext() if record is None else record.step(name)


class _Runner:
    """Submits the stages of one plan and follows their futures."""

    def __init__(self, client, store, plan, *, progress, threads):
        self.client = client
        self.threads = threads
        self.store = store
        self.path = str(store.path)
        self.plan = plan
        self.ids = tuple(plan.stimuli.stimulus_ids)
        self.progress = progress
        self.token = uuid.uuid4().hex[:8]  # fresh task keys for every run
        self.work: list[dict] = []
        self.futures: list = []
        self.tile_of: dict = {}  # tile future key -> its RDM's key
        self.unfinished: dict[str, dict] = {}  # RDM key -> tiles still to come, and what
        self.done: dict[str, Any] = {}  # model -> future of its finished extraction
        self.n_workers = max(1, len(client.nthreads()))

    def key(self, *parts) -> str:
        prefix, rest = parts[0], parts[1:]
        return "-".join([prefix, self.token, *map(str, rest)])

    def submit(self, func, *args, key, track=True, **kwargs):
        future = self.client.submit(func, *args, key=key, pure=False, **kwargs)
        if track:
            self.futures.append(future)
        return future

    def row(self, stage, model, layer, measure, method, key, blocks, computed, status):
        self.work.append({"stage": stage, "model": model, "layer": layer, "measure": measure,
                          "method": method, "key": key, "blocks": blocks,
                          "computed": computed, "status": status})

    # ------------------------------------------------------------------ extraction
    def extraction(self, *, shard_size):
        from ..extract import create_arrays

        config, n = self.plan.config, len(self.ids)
        batch_size, device = config.extract.batch_size, str(config.extract.device)
        stimuli = self.client.submit(tasks.identity, self.plan.stimuli, key=self.key("stimuli"))
        for i, m in enumerate(self.plan.models):
            name = m.model.name
            model = {"spec": m.model.spec, "weights": m.model.weights, "seed": m.model.seed,
                     "name": m.model.name}
            arrays = create_arrays(self.store, self.plan.stimuli, m.layer_plan,
                                   batch_size=batch_size)
            # The cluster's tasks write these arrays, each its own blocks: no process lock.
            self.store.release(*(a["key"] for a in arrays.values()))
            pending = [layer for layer in m.layers if arrays[layer]["done"] < n]
            unit = math.lcm(batch_size, *(int(arrays[layer]["array"].chunks[0])
                                          for layer in pending))
            rows = unit * max(1, math.ceil(n / (4 * self.n_workers * unit))) \
                if shard_size is None else unit * math.ceil(shard_size / unit)
            todo = _missing_shards(self.store, [{"key": arrays[layer]["key"],
                                                 "done": arrays[layer]["done"]}
                                                for layer in pending], n, unit, rows)
            layers = [(layer, arrays[layer]["key"], m.reductions[layer]) for layer in pending]
            shards = [self.submit(tasks.extract_shard, self.path, model, stimuli, layers, start,
                                  stop, batch_size, device, self.threads,
                                  key=self.key("extract-shard", i, start))
                      for start, stop in todo]
            if pending:
                self.done[name] = self.submit(tasks.finish_extraction, self.path,
                                              [arrays[layer]["key"] for layer in pending],
                                              *shards, key=self.key("extract-done", i))
            n_shards = math.ceil(n / rows)
            for layer in m.layers:
                complete = layer not in pending
                computed = 0 if complete else len(todo)
                self.row("extract", name, layer, None, None, arrays[layer]["key"], n_shards,
                         computed, _status(complete, computed, n_shards))

    # ------------------------------------------------------------------ RDMs
    def rdms(self, *, batch_size):
        from ..rdm import rdm_task
        from ..rdm.measures import _MEASURES

        config = self.plan.config
        models = {m.model.name: m for m in self.plan.models}
        for t in (t for t in self.plan.tasks if t.stage == "rdm"):
            m = models[t.model]
            task = rdm_task(m.keys[t.layer], m.fields[t.layer], self.ids, m.widths[t.layer],
                            t.measure, {}, dtype=config.rdm.dtype, batch_size=batch_size)
            self._rdm(t, task, _MEASURES[t.measure], config.rdm.dtype)

    def _rdm(self, t, task, measure, dtype):
        from ..rdm import create_rdm_array

        store, n, b = self.store, len(self.ids), task.batch_size
        starts = [start for start, _ in task.tiles]
        pairs = [(i, j) for i in range(len(starts)) for j in range(i, len(starts))]
        if store.has(task.key):
            self.row("rdm", t.model, t.layer, t.measure, None, task.key, len(pairs), 0,
                     "skipped")
            return
        if task.engine == "columns":  # one task: the blocks of units add up in order
            self.row("rdm", t.model, t.layer, t.measure, None, task.key, 1, 1, "computed")
            self.submit(tasks.rdm_by_columns, self.path, task, measure,
                        dict(task.provenance["params"]), dtype, self.threads,
                        self.done.get(t.model), key=self.key("rdm-columns", task.key))
            return
        create_rdm_array(store, task, dtype)
        store.release(task.key)  # written tile by tile by the cluster's tasks
        done = store.blocks_done(task.key)
        missing = [(i, j) for i, j in pairs if f"{i}-{j}" not in done]
        self.row("rdm", t.model, t.layer, t.measure, None, task.key, len(pairs), len(missing),
                 _status(False, len(missing), len(pairs)))
        if not missing:
            tasks.finish_rdm(store, task.key, measure, len(pairs), self.ids)
            return
        dependency = self.done.get(t.model)
        params = dict(task.provenance["params"])
        mean = None
        if measure.centres_columns:
            mean = self.submit(tasks.column_mean, self.path, task.activations, b, dtype,
                               dependency, key=self.key("rdm-mean", task.key), track=False)
        tiles = {}
        for i in sorted({i for pair in missing for i in pair}):
            tiles[i] = self.submit(tasks.prepare_rdm_tile, self.path, task.activations, measure,
                                   starts[i], min(n, starts[i] + b), dtype, mean, dependency,
                                   key=self.key("rdm-prepare", task.key, i), track=False)
        for i, j in missing:
            future = self.submit(tasks.rdm_tile, self.path, task.key, measure, params,
                                 task.n_features, i, j, tiles[i], tiles[j], self.threads,
                                 key=self.key("rdm-tile", task.key, i, j))
            self.tile_of[future.key] = task.key
        self.unfinished[task.key] = {"tiles": len(missing), "measure": measure,
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
                    tasks.finish_rdm(self.store, rdm_key, rdm["measure"], rdm["pairs"],
                                     self.ids)
        except BaseException:
            self.client.cancel(futures)
            log.error("A task failed; finished shards and tiles stay in the store %s. Run the "
                      "same plan again to compute only what is missing.", self.path)
            raise
        finally:
            bar.close()

    # ------------------------------------------------------------------ comparisons
    def comparisons(self):
        from ..compare._store import plan_comparison

        stimuli = self.plan.stimuli.content_hash()
        for t in (t for t in self.plan.tasks if t.stage == "compare"):
            task = plan_comparison(self.store, t.method, model=self.plan.names,
                                   measure=t.measure, stimuli=stimuli,
                                   working_memory=tasks.WORKING_MEMORY)
            if self.store.has(task.key):
                self.row("compare", None, None, t.measure, t.method, task.key, 0, 0, "skipped")
                continue
            prepared = [self.submit(tasks.prepare_input, self.path, key, task.kind, task.n,
                                    task.rows_per_read, task.spec, task.params, self.threads,
                                    key=self.key("compare-prepare", t.method, k), track=False)
                        for k, key in enumerate(task.keys)]
            blocks = self._blocks(task.spec, task.params, t.method, prepared)
            values = np.full((len(prepared), len(prepared)), np.nan)
            n_entries = None
            for (rows, cols), future in blocks:
                block, n_entries = future.result()
                values[np.ix_(rows, cols)] = block
                if rows != cols:  # blocks on the diagonal come whole, as the serial run's
                    values[np.ix_(cols, rows)] = block.T
            _warn_undefined(values, task)
            task.result(values, n_entries).save(self.store, name=task.name)
            self.row("compare", None, None, t.measure if task.kind == "rdms" else None,
                     t.method, task.key, len(blocks), len(blocks), "computed")

    def _blocks(self, spec, params, method, prepared):
        """Futures of the comparison blocks, with the rows and columns each one fills."""
        everything = list(range(len(prepared)))
        if spec.dot:  # one product over all prepared inputs: the serial run's exact sums
            return [((everything, everything),
                     self.submit(tasks.dot_block, spec.input, self.threads, *prepared,
                                 key=self.key("compare-block", method, 0), track=False))]
        size = max(1, math.ceil(len(prepared) / (2 * self.n_workers)))
        groups = [everything[g:g + size] for g in range(0, len(prepared), size)]
        out = []
        for a, rows in enumerate(groups):
            for b, cols in enumerate(groups[a:], start=a):
                future = self.submit(
                    tasks.pair_block, spec, params, rows, cols, [prepared[i] for i in rows],
                    [prepared[j] for j in cols], self.threads,
                    key=self.key("compare-block", method, a, b), track=False)
                out.append(((rows, cols), future))
        return out


def _warn_undefined(values, task):
    from ..compare._pairs import _Item
    from ..compare._pairs import _warn_undefined as warn

    items = [_Item(None, row, None) for row in task.metadata.to_dict("records")]
    warn(values, [("entries", items)])


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


def _threads_here(n_threads=None) -> dict:
    """BLAS and torch threads of this process (what a serial run here uses), or ``n_threads``."""
    if n_threads is not None:
        return {"blas": int(n_threads), "torch": int(n_threads)}
    import torch
    from threadpoolctl import threadpool_info

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return {"blas": max(blas, default=1), "torch": torch.get_num_threads()}


def _status(complete, computed, blocks):
    if complete:
        return "skipped"
    return "computed" if computed == blocks else "resumed"
