"""run_config: a plan end to end, validated first, on either executor, into one report."""

from __future__ import annotations

import logging
from pathlib import Path

from .plan import as_config, build_plan

__all__ = ["run_config", "run_store_stages"]

log = logging.getLogger("deeprsa.pipeline")


def run_config(config, *, out_dir=None, progress: bool = True, command: str | None = None,
               executor=None) -> Path:
    """Execute a run plan: stimuli, extraction, RDMs, comparisons, analyses, figures, report.

    The whole plan is checked first (:func:`build_plan`: stimuli and their
    columns, every model and layer, the analyses' options), so a mistake
    fails in seconds, before any extraction. The plan is logged, then the
    executor fills the store (extraction, RDMs, comparisons: whatever is
    there already is skipped) and the report sections read it.

    Parameters
    ----------
    config : RunConfig, mapping, or str or Path of a TOML file
        The plan; a mapping or file is checked first (:func:`deeprsa.load_config`).
    out_dir : str or Path, optional
        The run directory; default the config's ``outputs.dir``.
    progress : bool, default=True
        Show progress bars (extraction, RDMs).
    command : str, optional
        The command line, recorded in the provenance.
    executor : SerialExecutor, DaskExecutor or None
        Who computes the store stages; default :class:`SerialExecutor`. A
        :class:`~deeprsa.pipeline.dask.DaskExecutor` runs them on a Dask
        cluster; the results and the provenance are the same.

    Returns
    -------
    Path
        The HTML report, or the run directory when ``outputs.report`` is false.

    Raises
    ------
    ConfigError
        If the plan is invalid or names layers, columns or models that are not there.
    """
    from ..report import RunRecord, write_report
    from ..store import Store
    from .sections import RunContext, sections
    from .serial import SerialExecutor

    config, config_file = as_config(config)
    out = Path(out_dir) if out_dir is not None else config.resolve(
        config.outputs.dir or "deeprsa_results")
    record = RunRecord(out, title=config.title, formats=config.outputs.formats)
    record.provenance["config"] = config.to_dict()
    if command:
        record.provenance["command"] = command
    if config_file is not None:
        record.provenance["config_file"] = str(config_file.resolve())
        record.provenance["config_text"] = config_file.read_text()
    store = Store(out / "store")
    with record.step("plan"):
        plan = prepared_plan(config, store, progress=progress)
    work = (executor or SerialExecutor()).run(plan, store, record=record, progress=progress)
    record.provenance["models"] = _model_rows(plan, work)
    failed = {(w["model"], w["layer"]): w["reason"] for w in work if w["status"] == "failed"}
    if failed:
        record.provenance["failed_layers"] = [{"model": m, "layer": layer, "reason": why}
                                              for (m, layer), why in failed.items()]
    run = RunContext(plan, store, record, progress=progress, failed=failed)
    for name, section in sections(config):
        with record.step(name):
            section(run)
    record.provenance["store"] = str(store.path)
    record.provenance["store_keys"] = _store_keys(store, plan)
    run_dir = record.save()
    if not config.outputs.report:
        return run_dir
    return write_report(run_dir)


def run_store_stages(config, *, out_dir=None, progress: bool = True, executor=None) -> Path:
    """Only the store stages of a plan (extraction, RDMs, comparisons); return the store path.

    The same checks and the same arrays as :func:`run_config`, without the
    analyses, figures and report: run it on a cluster, then ``run_config``
    (anywhere the store is reachable) finds everything and only draws.
    """
    from ..store import Store
    from .serial import SerialExecutor

    config, _ = as_config(config)
    out = Path(out_dir) if out_dir is not None else config.resolve(
        config.outputs.dir or "deeprsa_results")
    store = Store(out / "store")
    plan = prepared_plan(config, store, progress=progress)
    (executor or SerialExecutor()).run(plan, store, progress=progress)
    return store.path


def prepared_plan(config, store, *, progress: bool = True):
    """The validated plan, its wide layers sketched as asked (calibrated once), logged.

    With a budget (``max_disk``, ``max_memory``, ``keep = "rdms"``) the log
    shows every model's passes, their bytes and the estimated time (forward
    and Gram rates measured here on a few stimuli).
    """
    from .sketch import sketch_plan

    plan = sketch_plan(build_plan(config), store, progress=progress)
    lines = [plan.describe()]
    spec = plan.config.extract
    if spec.max_disk is not None or spec.max_memory is not None or spec.keep == "rdms":
        lines += _passes_text(plan, store)
    log.info("%s", "\n".join(lines))
    return plan


def _passes_text(plan, store) -> list[str]:
    from ..models import load_model
    from .budget import format_size
    from .passes import check_budget, describe_passes, measure_rates, pinned_layers, plan_passes

    spec = plan.config.extract
    pinned = pinned_layers(plan)
    check_budget(plan, store, pinned)
    budgets = ", ".join(f"{name} {format_size(value)}" for name, value in
                        (("max_disk", spec.max_disk), ("max_memory", spec.max_memory))
                        if value is not None) or "no byte budget"
    lines = [f"  keep {spec.keep!r}, {budgets}; passes (estimated times from a forward pass "
             "and a Gram product measured now):"]
    passes = []
    for m in plan.models:
        loaded = load_model(m.model.spec, weights=m.model.weights, seed=m.model.seed,
                            name=m.model.name)
        rates = measure_rates(loaded, plan.stimuli, spec.device, reductions=m.reductions)
        passes.append(plan_passes(plan, m, store, pinned=pinned, rates=rates))
    lines += describe_passes(passes)
    from .passes import _duration

    lines.append(f"  estimated total: {_duration(sum(mp.seconds or 0 for mp in passes))}")
    return lines


def _model_rows(plan, work) -> list[dict]:
    """One provenance row per model: spec, weights, seed and hash, layers, what was done."""
    rows = []
    for m in plan.models:
        done = {}
        for w in work:
            if w["stage"] == "extract" and w["model"] == m.model.name:
                done[w["status"]] = done.get(w["status"], 0) + 1
        rows.append({"name": m.model.name, "group": m.model.group, "spec": m.model.spec,
                     "weights": m.model.weights, "seed": m.info.get("seed"),
                     "weights_hash": m.info.get("weights_hash"), "layers": len(m.layers),
                     "test_accuracy": m.info.get("test_accuracy"),
                     "extraction": ", ".join(f"{s} {n}" for s, n in done.items())})
    return rows


def _store_keys(store, plan) -> list[dict]:
    """The store's entries in the plan's order (whichever executor made them, in any order)."""
    entries = store.entries()
    columns = [c for c in ("kind", "model", "layer", "measure", "key") if c in entries]
    planned = {t.key: i for i, t in enumerate(plan.tasks) if t.key is not None}
    order = [(0, planned[k], "", "") if k in planned else (1, len(planned), kind, k)
             for k, kind in zip(entries["key"], entries["kind"], strict=True)]
    entries = entries.iloc[sorted(range(len(entries)), key=order.__getitem__)]
    return entries[columns].astype(object).where(entries[columns].notna(), "").to_dict("records")
