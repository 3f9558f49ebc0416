"""The serial executor: a plan's extraction, RDMs and comparisons in this process.

It runs the stage functions every user can call (:func:`deeprsa.extract`,
:func:`deeprsa.compute_rdm`, :func:`deeprsa.multi_model_rdm`) on the arrays
the plan names; they run the engine's kernels (forward passes, RDM tiles,
comparison blocks) that the Dask executor sends to its workers. Whatever is
already in the store is skipped, and an interrupted array resumes.
"""

from __future__ import annotations

from contextlib import nullcontext

__all__ = ["SerialExecutor"]


class SerialExecutor:
    """Run a plan's store stages one after the other in this process."""

    name = "serial"

    def run(self, plan, store, *, record=None, progress: bool = True) -> list[dict]:
        """Extract, compute the RDMs and the comparisons of ``plan`` into ``store``.

        Each model runs in the passes that fit the budget
        (:mod:`deeprsa.pipeline.passes`: one pass without one), its RDMs
        computed after each pass. Returns the work done: one row per array or
        comparison with ``stage``, ``model``, ``layer``, ``measure``,
        ``method``, ``key`` and ``status`` (``"computed"``, ``"resumed"`` or
        ``"skipped"``).
        """
        from .passes import check_budget, pinned_layers, plan_passes, run_passes

        pinned = pinned_layers(plan)
        check_budget(plan, store, pinned)
        work = []
        for m in plan.models:
            passes = plan_passes(plan, m, store, pinned=pinned)
            work += run_passes(plan, m, store, passes, pinned=pinned, progress=progress,
                               record=record)
        with _step(record, "comparisons"):
            work += _comparisons(plan, store)
        return work


def _step(record, name):
    return nullcontext() if record is None else record.step(name)


def _comparisons(plan, store):
    from ..compare import multi_model_rdm
    from ..compare._store import plan_comparison

    rows, stimuli = [], plan.stimuli.content_hash()
    for task in (t for t in plan.tasks if t.stage == "compare"):
        comparison = plan_comparison(store, task.method, model=plan.names,
                                     measure=task.measure, stimuli=stimuli)
        status = "skipped" if store.has(comparison.key) else "computed"
        multi_model_rdm(store, plan.names, method=task.method, measure=task.measure,
                        stimuli=stimuli)
        if plan.config.extract.keep == "rdms":
            _free_prepared(store, comparison)
        rows.append(_row("compare", None, None, task.measure, task.method, comparison.key,
                         status))
    return rows


def _free_prepared(store, comparison):
    """Delete the RDMs' prepared (ranked, centred) vectors once the comparison is saved."""
    table = store.select("prepared", complete=None)
    if table.empty:
        return
    inputs = set(comparison.keys)
    for row in table.itertuples():
        if row.method == comparison.method and row.of in inputs:
            store.delete(row.key)


def _row(stage, model, layer, measure, method, key, status) -> dict:
    return {"stage": stage, "model": model, "layer": layer, "measure": measure,
            "method": method, "key": key, "status": status}
