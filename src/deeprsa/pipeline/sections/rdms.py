"""Report sections: the stimuli, and the first-order RDMs of every layer."""

from __future__ import annotations

from ._common import S_RDMS, S_STIMULI, RunContext, slug


def stimuli_section(run: RunContext) -> None:
    """Record the stimuli (provenance) and draw them."""
    spec = run.config.stimuli
    stimuli, labels = run.stimuli, run.labels
    n_classes = int(labels.nunique()) if labels is not None else None
    run.record.provenance["stimuli"] = {
        "source": spec.source, "n_stimuli": len(stimuli), "classes": n_classes,
        "n_per_class": spec.n_per_class, "sample seed": spec.seed,
        "sorted by": ", ".join(spec.sort_by), "content_hash": stimuli.content_hash()}
    if not run.wants("images"):
        return
    from ...plots import plot_images

    fig = plot_images(stimuli, label_column=spec.label, n_per_class=10)
    per = f"{spec.n_per_class} per class, " if spec.n_per_class else ""
    rows = "one row per class (the first 10 of each)" if labels is not None else "in order"
    run.record.add_figure(
        fig, "stimuli", section=S_STIMULI, title="The stimuli",
        caption=f"{len(stimuli)} stimuli from {spec.source} ({per}sample seed "
                f"{spec.seed}), shown {rows}. Every network sees exactly these "
                "images, in this order, which is also the order of every RDM's rows.")


def rdm_section(run: RunContext) -> None:
    """Load every layer's RDMs, tabulate their class structure, draw the focus models'."""
    from ...analyses import class_structure
    from ...rdm import RDM

    summary = []
    for (model, layer), reason in run.failed.items():
        run.record.add_note(f"{model} layer {layer!r} has no RDM and is left out of this "
                            f"report: {reason}", section=S_RDMS)
        run.record.highlights.append(f"{model} layer {layer!r} could not be analysed: its "
                                     "activations hold NaN or infinity (see "
                                     f"\"{S_RDMS}\").")
    for task in run.plan.tasks:
        if task.stage != "rdm" or (task.model, task.layer) in run.failed:
            continue
        rdm = RDM.load(run.store, task.key)
        run.rdms[(task.model, task.layer, task.measure)] = rdm
        if run.labels is not None:
            summary.append({"model": task.model, "layer": task.layer, "measure": task.measure,
                            **class_structure(rdm, run.labels)})
    if summary:
        import pandas as pd

        table = pd.DataFrame(summary)
        order = {name: i for i, name in enumerate(run.config.rdm.measures)}
        table = table.sort_values("measure", key=lambda m: m.map(order), kind="stable")
        table = table.reset_index(drop=True)
        run.record.add_table(
            table, "class_structure", section=S_RDMS,
            title="Class structure of every RDM",
            caption="Mean dissimilarity of stimulus pairs from the same class (within) "
                    "and from different classes (between), and their ratio: above 1, "
                    "same-class stimuli are closer than different-class ones.")
        _class_highlights(run, table)
    _sketch_table(run)
    for name in run.config.outputs.focus:
        _focus_rdm_figures(run, name)


def _sketch_table(run: RunContext) -> None:
    """Which layers are sketched, to what k, with what measured fidelity (never hidden)."""
    rows = []
    for m in run.plan.models:
        for layer in m.layers:
            reduction = m.reductions[layer]
            if reduction["name"] != "sketch":
                continue
            calibration = reduction.get("calibration") or {}
            rows.append({"model": m.model.name, "layer": layer,
                         "units": calibration.get("units"), "k": reduction["k"],
                         "fidelity": calibration.get("fidelity"),
                         "target": calibration.get("target"),
                         "calibration_stimuli": calibration.get("n_stimuli")})
    if not rows:
        return
    import pandas as pd

    table = pd.DataFrame(rows)
    measured = table["fidelity"].dropna()
    run.record.add_table(
        table, "sketched_layers", section=S_RDMS,
        title="Sketched layers: approximate RDMs and their measured fidelity",
        caption="These layers were stored as a very sparse random projection of their units "
                "to k dimensions (Li, Hastie & Church 2006), so their RDMs approximate the "
                "exact ones. fidelity is the Spearman correlation between the exact RDM and "
                "the sketched one, measured on a seeded calibration subset of the stimuli "
                "before the run (empty when k was fixed without calibration). Every other "
                "layer is exact.")
    shown = (f"; measured fidelity {measured.min():.3f} to {measured.max():.3f}"
             if len(measured) else "; fidelity not measured (k fixed)")
    run.record.add_note(f"{len(table)} layer(s) are sketched (approximate RDMs){shown}: see "
                        "the table of sketched layers.", section=S_RDMS)


def _class_highlights(run: RunContext, table) -> None:
    table = table[table["measure"] == run.measure]
    for name in run.config.outputs.focus:
        rows = table[table["model"] == name]
        if rows.empty:
            continue
        first, last = rows.iloc[0], rows.iloc[-1]
        run.record.highlights.append(
            f"{name}: between/within-class dissimilarity ratio {first['ratio']:.2f} in its "
            f"first layer ({first['layer']}) and {last['ratio']:.2f} in its last "
            f"({last['layer']}); within {last['within_class']:.3f} vs between "
            f"{last['between_class']:.3f} in the last layer ({run.measure}).")


def _focus_rdm_figures(run: RunContext, name: str) -> None:
    from matplotlib.figure import Figure

    from ...plots import plot_rdm, plot_rdms

    rdms = [run.rdms[(name, layer, run.measure)] for layer in run.layers[name]]
    labels = run.labels
    sorted_note = ("Stimuli are sorted by class; white lines separate classes and the "
                   "tick labels name them. " if labels is not None else "")
    if run.wants("rdms"):
        fig = plot_rdms(rdms, labels=labels, percentile=True)
        run.record.add_figure(
            fig, f"rdms_{slug(name)}", section=S_RDMS, title=f"RDMs of every layer of {name}",
            caption=f"One {run.measure} RDM per layer, input (top left) to output. "
                    f"{sorted_note}Colour is the percentile of each stimulus pair's "
                    "dissimilarity within its own RDM (as in the RSA tutorial notebook's "
                    "percentile heatmaps), so layers of different scales share one colour "
                    "bar: dark pairs are the most similar. Blocks of dark squares along the "
                    "diagonal mean the layer groups stimuli by class; percentiles exaggerate "
                    "small differences, so compare with the raw RDM below.")
    if run.wants("rdm"):
        import matplotlib

        from ...plots._base import _STYLE

        with matplotlib.rc_context(_STYLE):
            fig = Figure(figsize=(7.2, 3.1), layout="constrained")
            left, right = fig.subplots(1, 2)
        last = rdms[-1].provenance["layer"]
        plot_rdm(rdms[-1], labels=labels, ax=left, title=f"{name} · {last}")
        plot_rdm(rdms[-1], labels=labels, ax=right, percentile=True, title="as percentiles")
        run.record.add_figure(
            fig, f"rdm_{slug(name)}", section=S_RDMS,
            title=f"RDM of the last layer of {name}: raw and as percentiles",
            caption=f"Left: the {run.measure} dissimilarity of every pair of stimuli in "
                    f"the last layer ({last}), on its own scale. "
                    f"Right: the same RDM as percentiles. {sorted_note}")
