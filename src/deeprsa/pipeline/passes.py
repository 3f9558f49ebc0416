"""A model's layers in forward passes that fit the budget: extract, compute RDMs, free space.

:func:`run_passes` is how the serial executor runs each model. Without a
budget it is one pass of every layer, as :func:`deeprsa.extract` alone does.
With ``keep = "rdms"`` it groups the layers (:func:`deeprsa.pipeline.budget
.pack_passes`), and per pass extracts them, computes their RDMs (every
measure) and deletes their activations, so one pass's activations are on
disk at a time. Everything is keyed as before, so a run killed at any point
resumes: layers whose RDMs are all complete are skipped (and any activations
they left behind deleted), a half-extracted layer resumes at its last batch,
a half-computed RDM at its last tile. With ``max_memory`` and measures that
have a column form, a pass's activations stay in memory on the device
(``extract.device``) and never touch the disk.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from .budget import BudgetError, Pass, format_size, pack_passes

__all__ = ["ModelPasses", "check_budget", "pinned_layers", "plan_passes", "run_passes"]

log = logging.getLogger("deeprsa.pipeline")

_STATUS = {"extracted": "computed", "resumed": "resumed", "skipped": "skipped",
           "repaired": "repaired"}


@dataclass(frozen=True)
class ModelPasses:
    """The passes of one model, what stays on disk, and the estimate of their time."""

    model: str
    passes: tuple
    mode: str               # "disk" or "memory"
    reserved: int           # bytes the run keeps: its RDMs and the pinned activations
    seconds: float | None   # estimated wall time (forward passes + Gram products)


def _rdm_tasks(plan, m):
    """``{layer: [rdm task, ...]}`` over the run's measures, from the plan."""
    tasks = {}
    for t in plan.tasks:
        if t.stage == "rdm" and t.model == m.model.name:
            tasks.setdefault(t.layer, []).append(t)
    return tasks


def _itemsize(plan) -> int:
    return 2 if plan.config.extract.dtype == "float16" else 4


def _layer_bytes(plan, width) -> int:
    """Disk of one layer's activations: its chunks as stored (edge chunks at full size)."""
    from ..extract._engine import stored_bytes

    return stored_bytes(len(plan.stimuli), width, _itemsize(plan),
                        plan.config.extract.batch_size)


def _rdm_bytes(plan) -> int:
    """Disk of one RDM of the run at most: its upper tiles, uncompressed.

    Tiles of ``r_i`` rows at and above the diagonal hold ``(n^2 + sum r_i^2) / 2``
    entries, at most ``(n^2 + n t) / 2`` with tiles of at most ``t`` rows (the
    whole matrix when one tile holds every stimulus). Compression (bit shuffle
    and lz4) makes them about 30% smaller; the budget does not count on it.
    """
    from ..rdm._engine import MAX_TILE_ROWS

    n = len(plan.stimuli)
    entries = (n * n + n * min(n, MAX_TILE_ROWS)) // 2
    return entries * (4 if plan.config.rdm.dtype == "float32" else 8)


def _kept_bytes(plan, pinned) -> int:
    """What the run keeps on disk: its RDMs and the activations the analyses need."""
    kept = _rdm_bytes(plan) * sum(1 for t in plan.tasks if t.stage == "rdm")
    return kept + sum(_layer_bytes(plan, pm.widths[layer]) for pm in plan.models
                      for layer in (pinned or {}).get(pm.model.name, ()))


def prepared_bytes(plan) -> int:
    """Disk the comparisons write (each RDM ranked or centred once) at their peak.

    With ``keep = "rdms"`` a comparison's prepared vectors are deleted once it is
    saved, so the peak is the largest comparison; otherwise they stay for reuse.
    """
    from ..compare._store import prepared_bytes as comparison_bytes
    from ..compare.registry import _METHODS

    sizes = []
    for task in (t for t in plan.tasks if t.stage == "compare"):
        n_rdms = sum(1 for t in plan.tasks if t.stage == "rdm" and t.measure == task.measure)
        sizes.append(comparison_bytes(_METHODS[task.method], {}, len(plan.stimuli), n_rdms))
    if not sizes:
        return 0
    return max(sizes) if plan.config.extract.keep == "rdms" else sum(sizes)


def _memory_mode(plan) -> bool:
    from ..rdm._columns import column_form
    from ..rdm.measures import _MEASURES

    spec = plan.config.extract
    return (spec.keep == "rdms" and spec.max_memory is not None
            and all(column_form(_MEASURES[m]) for m in plan.config.rdm.measures))


def plan_passes(plan, m, store, *, pinned=None, rates=None) -> ModelPasses:
    """The passes of model ``m`` (its unfinished layers) within the run's budget.

    ``pinned`` maps each model to the layers whose activations the analyses
    need: they are kept (their bytes are reserved) whatever ``keep`` says.

    Raises
    ------
    BudgetError
        If the budget cannot hold one layer next to what the run keeps.
    """
    spec, n = plan.config.extract, len(plan.stimuli)
    itemsize = _itemsize(plan)
    tasks = _rdm_tasks(plan, m)
    pinned = pinned or {}
    kept = set(pinned.get(m.model.name, ()))
    todo = [layer for layer in m.layers
            if not all(store.has(t.key) for t in tasks.get(layer, []))
            or (layer in kept and not store.has(m.keys[layer]))]
    sizes = {layer: _layer_bytes(plan, m.widths[layer]) for layer in todo}
    memory = _memory_mode(plan)
    reserved = _kept_bytes(plan, pinned)
    budget = spec.max_memory if memory else spec.max_disk
    if budget is None:
        passes = [Pass(m.model.name, tuple(todo), sum(sizes.values()))] if todo else []
    else:
        # In memory the pass shares the device with the RDM's sums (n x n float64, thrice).
        available = budget - (3 * 8 * n * n if memory else reserved)
        packed = {layer: (0 if layer in kept else size) for layer, size in sizes.items()}

        def describe(layer):
            return (f" ({n:,} stimuli x {m.widths[layer]:,} features x {itemsize} bytes)")

        try:
            passes = pack_passes(m.model.name, packed, available=available, keep=spec.keep,
                                 describe=describe)
        except BudgetError as err:
            what = "max_memory" if memory else "max_disk"
            raise BudgetError(f"{err} ({what} = {format_size(budget)}; the run keeps "
                              f"{format_size(reserved)} of RDMs and pinned activations.)"
                              ) from None
        passes = [Pass(p.model, p.layers, sum(sizes[layer] for layer in p.layers))
                  for p in passes]
    seconds = None
    if rates is not None:
        forward, hooked, flops = rates  # each pass reduces only its own layers
        gram = sum(n * n * m.widths[layer] for layer in todo) * len(plan.config.rdm.measures)
        seconds = n * (len(passes) * forward + hooked) + gram / flops
    return ModelPasses(m.model.name, tuple(passes), "memory" if memory else "disk",
                       reserved, seconds)


def measure_rates(loaded, stimuli, device, reductions=None) -> tuple[float, float, float]:
    """Seconds per stimulus of a bare forward pass and of reducing every layer, and FLOP/s.

    The second is the extra time per stimulus of the forward pass with the
    ``reductions`` (``{layer: reduction}``) hooked as extraction runs them (a
    sketch of every wide layer costs more than the network itself; each pass
    pays it for its own layers only); 0 without reductions. The third is the
    float32 rate of a Gram product. Used for the estimated time the plan
    prints; a few seconds.
    """
    import torch

    from ..extract._engine import _hooked

    module = loaded.module.to(device)
    n = min(8, len(stimuli))
    batch = torch.stack([loaded.preprocessing(stimuli.load(i)) for i in range(n)]).to(device)

    def timed():
        with torch.inference_mode():
            module(batch[:1])  # warm-up (and a sketch's projections built)
            start = time.perf_counter()
            module(batch)
            return (time.perf_counter() - start) / n

    forward, hooked = timed(), 0.0
    if reductions:
        handles = _hooked(module, list(reductions), {}, reductions)
        try:
            hooked = max(0.0, timed() - forward)
        finally:
            for h in handles:
                h.remove()
    A = np.random.default_rng(0).standard_normal((1024, 4096)).astype(np.float32)
    A @ A.T
    start = time.perf_counter()
    A @ A.T
    flops = 1024 * 1024 * 4096 / max(time.perf_counter() - start, 1e-9)  # syrk counts once
    return forward, hooked, flops


def describe_passes(model_passes) -> list[str]:
    """Lines of the plan printout for each model's passes."""
    lines = []
    for mp in model_passes:
        if not mp.passes:
            lines.append(f"    {mp.model}: every layer done already")
            continue
        where = "in memory" if mp.mode == "memory" else "on disk"
        eta = f", about {_duration(mp.seconds)}" if mp.seconds is not None else ""
        lines.append(f"    {mp.model}: {len(mp.passes)} pass(es) {where}{eta}")
        for i, p in enumerate(mp.passes, start=1):
            shown = p.layers[0] if len(p.layers) == 1 else f"{p.layers[0]} ... {p.layers[-1]}"
            lines.append(f"      pass {i}: {len(p.layers)} layer(s) ({shown}), "
                         f"{format_size(p.n_bytes)}")
    return lines


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def run_passes(plan, m, store, model_passes: ModelPasses, *, pinned=None, loaded=None,
               progress=False, record=None) -> list[dict]:
    """Extract and compute the RDMs of model ``m``, pass by pass; the work rows.

    ``record`` (a RunRecord) times the steps "extraction" and "RDMs".
    """
    from ..models import load_model

    spec = plan.config.extract
    tasks = _rdm_tasks(plan, m)
    pinned = set((pinned or {}).get(m.model.name, ()))
    rows = []
    if spec.keep == "rdms":
        _free(store, m, [layer for layer in m.layers if layer not in pinned
                         and all(store.has(t.key) for t in tasks.get(layer, []))])
    if not model_passes.passes:
        return _skipped_rows(m, tasks, store)
    loaded = loaded or load_model(m.model.spec, weights=m.model.weights, seed=m.model.seed,
                                  name=m.model.name)
    for i, p in enumerate(model_passes.passes, start=1):
        log.info("%s pass %d of %d: %d layer(s), %s", m.model.name, i,
                 len(model_passes.passes), len(p.layers), format_size(p.n_bytes))
        if model_passes.mode == "memory":
            rows += _memory_pass(plan, m, store, p, tasks, loaded, progress, record)
        else:
            # Each layer's activations go as soon as its RDMs are in (keep = "rdms").
            free = [] if spec.keep != "rdms" else [la for la in p.layers if la not in pinned]
            rows += _disk_pass(plan, m, store, p, tasks, loaded, progress, record, free)
    done = {(r["stage"], r["layer"], r["measure"]) for r in rows}
    rows += [r for r in _skipped_rows(m, tasks, store)
             if (r["stage"], r["layer"], r["measure"]) not in done]
    order = {layer: i for i, layer in enumerate(m.layers)}
    return sorted(rows, key=lambda r: (r["stage"] != "extract", order[r["layer"]]))


def _row(stage, model, layer, measure, key, status) -> dict:
    return {"stage": stage, "model": model, "layer": layer, "measure": measure,
            "method": None, "key": key, "status": status}


def _skipped_rows(m, tasks, store):
    rows = [_row("extract", m.model.name, layer, None, m.keys[layer], "skipped")
            for layer in m.layers]
    rows += [_row("rdm", m.model.name, t.layer, t.measure, t.key, "skipped")
             for layer in m.layers for t in tasks.get(layer, [])]
    return rows


def _step(record, name):
    from contextlib import nullcontext

    return nullcontext() if record is None else record.step(name)


def _failed(m, layer, t, err) -> dict:
    """The work row of an RDM that could not be computed (NaN activations), with why."""
    log.warning("%s", err)
    return {**_row("rdm", m.model.name, layer, t.measure, t.key, "failed"), "reason": str(err)}


def _disk_pass(plan, m, store, p, tasks, loaded, progress, record, free=()):
    from ..extract import extract
    from ..rdm import NonFiniteActivationsError, compute_rdm

    spec, rows = plan.config.extract, []
    with _step(record, "extraction"):
        table = extract(loaded, plan.stimuli, list(p.layers), store,
                        reduction={layer: m.reductions[layer] for layer in p.layers},
                        batch_size=spec.batch_size, device=spec.device, dtype=spec.dtype,
                        codec="none" if spec.keep == "rdms" else "zstd", progress=progress)
    for r in table.itertuples(index=False):
        if r.key != m.keys[r.layer]:  # pragma: no cover - one key derivation
            raise RuntimeError(f"{m.model.name} {r.layer}: extracted into {r.key}, planned "
                               f"{m.keys[r.layer]}.")
        rows.append(_row("extract", m.model.name, r.layer, None, r.key, _STATUS[r.status]))
    for layer in p.layers:
        for t in tasks.get(layer, []):
            status = ("skipped" if store.has(t.key) else
                      "resumed" if store.has(t.key, complete=False) else "computed")
            with _step(record, "RDMs"):
                try:
                    rdm = compute_rdm(store, key=m.keys[layer], measure=t.measure,
                                      dtype=plan.config.rdm.dtype, progress=False,
                                      nan_policy=plan.config.rdm.nan_policy)
                except NonFiniteActivationsError as err:  # the report marks the layer
                    rows.append(_failed(m, layer, t, err))
                    continue
            if rdm.provenance.get("key") != t.key:  # pragma: no cover - one key derivation
                raise RuntimeError(f"RDM of {m.model.name} {layer}: stored as "
                                   f"{rdm.provenance.get('key')}, planned {t.key}.")
            rows.append(_row("rdm", m.model.name, layer, t.measure, t.key, status))
        if layer in free:
            _free(store, m, [layer])
    return rows


def _memory_pass(plan, m, store, p, tasks, loaded, progress, record):
    """One pass whose activations stay in memory on the device; its RDMs go to the store."""
    import torch
    from tqdm.auto import tqdm

    from ..extract import forward_batches

    spec, n = plan.config.extract, len(plan.stimuli)
    device = torch.device(spec.device)
    module = loaded.module.to(device)
    held = {layer: torch.empty((n, m.widths[layer]), dtype=torch.float32, device=device)
            for layer in p.layers}
    reductions = {layer: m.reductions[layer] for layer in p.layers}
    bar = tqdm(total=n, desc=f"extract {m.model.name} (in memory)", unit="stim",
               disable=not progress)
    with _step(record, "extraction"):
        for s, n_rows, outputs in forward_batches(
                module, plan.stimuli, loaded.preprocessing, list(p.layers), start=0, stop=n,
                batch_size=spec.batch_size, device=device, reductions=reductions):
            for layer in p.layers:
                held[layer][s:s + n_rows] = outputs[layer].to(torch.float32)
            bar.update(n_rows)
    bar.close()
    rows = [_row("extract", m.model.name, layer, None, m.keys[layer], "computed (in memory)")
            for layer in p.layers]
    dtype = np.float32 if plan.config.rdm.dtype == "float32" else np.float64
    for layer in p.layers:
        X = held.pop(layer)
        with _step(record, "RDMs"):
            rows += _held_rdms(plan, m, store, layer, X, tasks, dtype, device)
        del X
    return rows


def _held_rdms(plan, m, store, layer, X, tasks, dtype, device):
    """The RDMs (every measure) of one layer held in memory, into the store."""
    from ..rdm import NonFiniteActivationsError, create_rdm_array, rdm_task
    from ..rdm._columns import ColumnGram
    from ..rdm._engine import _constant_warning, nonfinite_error
    from ..rdm._layout import write_upper
    from ..rdm.measures import _MEASURES

    n, rows = len(plan.stimuli), []
    for t in tasks.get(layer, []):
        measure = _MEASURES[t.measure]
        gram = ColumnGram(n, measure, dict(measure.params), dtype=dtype, device=device)
        for c0 in range(0, X.shape[1], 16384):
            gram.add(X[:, c0:c0 + 16384])
        try:
            D, constant = gram.finish()
        except NonFiniteActivationsError as err:  # in memory no stimulus can be left out
            rows.append(_failed(m, layer, t, nonfinite_error(
                err.rows, plan.stimuli.stimulus_ids, {"model": m.model.name, "layer": layer})))
            continue
        task = rdm_task(m.keys[layer], m.fields[layer], plan.stimuli.stimulus_ids,
                        m.widths[layer], t.measure, {}, dtype=plan.config.rdm.dtype,
                        nan_policy=plan.config.rdm.nan_policy)
        array, _ = create_rdm_array(store, task, dtype)
        write_upper(array, D)
        store.mark_complete(task.key, attrs={"constant_rows": [int(i) for i in constant],
                                             "activations_kept": False})
        _constant_warning(measure, constant, plan.stimuli.stimulus_ids, task.provenance)
        rows.append(_row("rdm", m.model.name, layer, t.measure, task.key, "computed"))
    return rows


def _free(store, m, layers):
    """Delete the activations of ``layers`` of ``m`` (their RDMs are in the store)."""
    for layer in layers:
        if store.has(m.keys[layer], complete=False):
            store.delete(m.keys[layer])
            log.info("Deleted the activations of %s %s (keep = 'rdms').", m.model.name, layer)


# Analyses that read activations, and which layers they read (None: every layer).
def pinned_layers(plan) -> dict:
    """``{model: layers}`` whose activations the run's analyses read after the RDMs.

    Raises
    ------
    ConfigError
        With ``keep = "rdms"``, for an analysis that reads every layer's
        activations (dimensionality, decoding, representation methods such as
        CKA): the run would delete what it needs.
    """
    from ..compare import list_methods
    from .config import ConfigError
    from .plan import resolve_layer

    config = plan.config
    if config.extract.keep != "rdms":
        return {}
    everything = [("analyses.dimensionality", config.analyses.dimensionality),
                  ("analyses.decoding", config.analyses.decoding)]
    representation = [m for m in config.compare.methods
                      if m in list_methods(input="representation")]
    if representation:
        everything.append(("compare.methods", representation))
    for key, wanted in everything:
        if wanted:
            raise ConfigError(key, f"config key {key!r} reads the activations of every "
                                   "layer, which keep = \"rdms\" deletes once their RDMs are "
                                   f"computed: switch it off, or keep the activations "
                                   "([extract] keep = \"activations\").")
    pinned = {}
    groups = {}
    for m in config.models:
        groups.setdefault((m.group, m.weights), []).append(m.name)
    if config.analyses.srm is not None:
        for names in groups.values():
            for name in names if len(names) >= 2 else []:
                layer = resolve_layer(config.analyses.srm.layer, plan.layers(name), name,
                                      "analyses.srm.layer")
                pinned.setdefault(name, set()).add(layer)
    performance = config.analyses.performance
    if performance is not None and performance.predictions == "argmax":
        for m in config.models:
            if m.weights == "trained":
                pinned.setdefault(m.name, set()).add(plan.layers(m.name)[-1])
    return pinned


def check_budget(plan, store, pinned) -> None:
    """What the run keeps, and its comparisons' prepared vectors, must fit ``max_disk``.

    With ``keep = "activations"`` that is every layer's activations and RDMs;
    with ``keep = "rdms"`` the RDMs and the pinned activations (the passes are
    planned in what is left, by :func:`plan_passes`). The comparisons run after
    every pass, next to all the RDMs: their prepared vectors (a multi-model RDM
    of many large RDMs ranks each into the store) must fit beside them.

    Raises
    ------
    BudgetError
        Naming what does not fit, its size and what would make it fit.
    """
    spec = plan.config.extract
    if spec.max_disk is None:
        return
    n = len(plan.stimuli)
    n_rdms = sum(1 for t in plan.tasks if t.stage == "rdm")
    kept = _kept_bytes(plan, pinned)
    if spec.keep == "activations":
        total = sum(_layer_bytes(plan, m.widths[layer]) for m in plan.models
                    for layer in m.layers)
        total += _rdm_bytes(plan) * n_rdms
        if total > spec.max_disk:
            raise BudgetError(
                f"keep = \"activations\" keeps every layer's activations and RDMs: "
                f"{format_size(total)}, over max_disk = {format_size(spec.max_disk)}. Use keep "
                "= \"rdms\" (activations are deleted once their RDMs are computed), a reduction, "
                "a sketch (sketch = \"auto\"), dtype = \"float16\", or a larger max_disk.")
        kept = total
    elif kept > spec.max_disk:
        raise BudgetError(
            f"The run's {n_rdms} RDMs of {n:,} stimuli (upper triangles, "
            f"{format_size(_rdm_bytes(plan))} each) and the activations its analyses read take "
            f"{format_size(kept)}, over max_disk = {format_size(spec.max_disk)}. Select fewer "
            "layers or measures, or give a larger max_disk.")
    prepared = prepared_bytes(plan)
    if kept + prepared > spec.max_disk:
        methods = ", ".join(t.method for t in plan.tasks if t.stage == "compare")
        raise BudgetError(
            f"The multi-model RDM ({methods}) prepares (ranks or centres) each of its RDMs "
            f"once into the store: {format_size(prepared)} beside the {format_size(kept)} the "
            f"run keeps, over max_disk = {format_size(spec.max_disk)}. Give a larger max_disk, "
            "select fewer layers, or set compare.methods = [] and compare subsets of the RDMs "
            "afterwards with deeprsa.multi_model_rdm.")
