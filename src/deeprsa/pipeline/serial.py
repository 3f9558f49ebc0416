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

        Returns the work done: one row per array or comparison with ``stage``,
        ``model``, ``layer``, ``measure``, ``method``, ``key`` and ``status``
        (``"computed"``, ``"resumed"`` or ``"skipped"``).
        """
        work = []
        with _step(record, "extraction"):
            work += _extract(plan, store, progress)
        with _step(record, "RDMs"):
            work += _rdms(plan, store, progress)
        with _step(record, "comparisons"):
            work += _comparisons(plan, store)
        return work


def _step(record, name):
    return nullcontext() if record is None else record.step(name)


_STATUS = {"extracted": "computed", "resumed": "resumed", "skipped": "skipped"}


def _extract(plan, store, progress):
    from tqdm.auto import tqdm

    from ..extract import extract
    from ..models import load_model

    config, rows = plan.config, []
    bar = tqdm(plan.models, desc="extract", unit="model", disable=not progress)
    for m in bar:
        bar.set_postfix_str(m.model.name)
        loaded = load_model(m.model.spec, weights=m.model.weights, seed=m.model.seed,
                            name=m.model.name)
        table = extract(loaded, plan.stimuli, list(m.layers), store,
                        reduction=m.model.reduction, batch_size=config.extract.batch_size,
                        device=config.extract.device, progress=False)
        for row in table.itertuples(index=False):
            if row.key != m.keys[row.layer]:  # pragma: no cover - one key derivation
                raise RuntimeError(f"{m.model.name} {row.layer}: extracted into {row.key}, "
                                   f"planned {m.keys[row.layer]}.")
            rows.append(_row("extract", row.model, row.layer, None, None, row.key,
                             _STATUS[row.status]))
    return rows


def _rdms(plan, store, progress):
    from tqdm.auto import tqdm

    from ..rdm import compute_rdm

    dtype, rows = plan.config.rdm.dtype, []
    keys = {(m.model.name, layer): m.keys[layer] for m in plan.models for layer in m.layers}
    tasks = [t for t in plan.tasks if t.stage == "rdm"]
    for task in tqdm(tasks, desc="RDMs", unit="RDM", disable=not progress):
        status = ("skipped" if store.has(task.key) else
                  "resumed" if store.has(task.key, complete=False) else "computed")
        rdm = compute_rdm(store, key=keys[task.model, task.layer], measure=task.measure,
                          dtype=dtype, progress=False)
        if rdm.provenance.get("key") != task.key:  # pragma: no cover - one key derivation
            raise RuntimeError(f"RDM of {task.model} {task.layer}: stored as "
                               f"{rdm.provenance.get('key')}, planned {task.key}.")
        rows.append(_row("rdm", task.model, task.layer, task.measure, None, task.key, status))
    return rows


def _comparisons(plan, store):
    from ..compare import multi_model_rdm
    from ..compare._store import plan_comparison

    rows, stimuli = [], plan.stimuli.content_hash()
    for task in (t for t in plan.tasks if t.stage == "compare"):
        key = plan_comparison(store, task.method, model=plan.names, measure=task.measure,
                              stimuli=stimuli).key
        status = "skipped" if store.has(key) else "computed"
        multi_model_rdm(store, plan.names, method=task.method, measure=task.measure,
                        stimuli=stimuli)
        rows.append(_row("compare", None, None, task.measure, task.method, key, status))
    return rows


def _row(stage, model, layer, measure, method, key, status) -> dict:
    return {"stage": stage, "model": model, "layer": layer, "measure": measure,
            "method": method, "key": key, "status": status}
