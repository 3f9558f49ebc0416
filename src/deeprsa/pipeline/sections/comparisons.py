"""Report sections: layers compared (model and multi-model RDMs) and MDS maps of them."""

from __future__ import annotations

import numpy as np

from ._common import (
    S_COMPARE,
    S_MDS,
    RunContext,
    defined_part,
    method_name,
    model_palette,
    slug,
)


def comparison_section(run: RunContext) -> None:
    """Every pair of layers compared (read from the store), model and multi-model RDMs."""
    import pandas as pd

    from ...compare import multi_model_rdm

    if not run.config.compare.methods:
        run.record.add_note("No layers were compared (compare.methods = []): there is no "
                            "model or multi-model RDM.", section=S_COMPARE)
        return
    stimuli = run.stimuli.content_hash()
    tables = []
    for method in run.config.compare.methods:
        # The executor computed and saved it; this finds it by its key.
        result = multi_model_rdm(run.store, run.names, method=method, measure=run.measure,
                                 stimuli=stimuli)
        if run.comparison is None:
            run.comparison = result
        table = result.table
        keep = [c for c in ("model_a", "layer_a", "model_b", "layer_b", "method", "value",
                            "dissimilarity", "n_stimuli") if c in table.columns]
        tables.append(table[keep])
    run.record.add_table(
        pd.concat(tables, ignore_index=True), "layer_comparisons", section=S_COMPARE,
        title="Every pair of layers compared",
        caption=f"Second-order comparison of the {run.measure} RDMs of every pair of "
                "layers (all models): value is the similarity (e.g. Spearman ρ), "
                "dissimilarity is 1 - value. These are the entries of the model and "
                "multi-model RDMs.")
    method = method_name(run.config.compare.methods[0])
    result = run.comparison
    palette, _ = model_palette(run.config.models)
    if run.wants("model_rdm"):
        from ...plots import plot_model_rdm
        from ...plots.second_order import model_rdm_view

        for name in run.config.outputs.focus:
            part = result.select(model=name)
            fig = plot_model_rdm(part)
            run.record.add_figure(
                fig, f"model_rdm_{slug(name)}", section=S_COMPARE,
                title=f"Model RDM of {name}",
                interactive=_view(part, model_rdm_view, palette, f"model RDM of {name}"),
                caption=f"1 - {method} correlation between the RDMs of every pair of "
                        f"layers of {name} (the model RDM of Kriegeskorte et al. 2008's "
                        "second-order analysis), input at the top left. Dark cells: two "
                        "layers order the stimulus pairs alike. Neighbouring layers are "
                        "usually similar; a bright band marks where the representation "
                        f"changes. {_MATRIX_NOTE}")
    if run.wants("multi_model_rdm"):
        from ...plots import plot_model_rdm
        from ...plots.second_order import model_rdm_view

        fig = plot_model_rdm(result, palette=palette)
        run.record.add_figure(
            fig, "multi_model_rdm", section=S_COMPARE,
            title="Multi-model RDM of all layers of all models",
            interactive=_view(result, model_rdm_view, palette, "multi-model RDM"),
            caption=f"1 - {method} correlation between the RDMs of every pair of layers "
                    "of every model; white outlines mark each model's own block (its "
                    "model RDM), the other blocks compare layers across models. Each model "
                    "is named beside a coloured band (one colour family per architecture, "
                    "a shade per seed) along the top and left edges; its layers run in "
                    "depth order, named along both axes as densely as they stay legible "
                    "(every k-th layer of each model, its first one always). Grey cells "
                    f"are undefined comparisons (a constant RDM). {_MATRIX_NOTE}")
    _similarity_highlight(run)


_MATRIX_NOTE = ("In the report, the matrix is interactive: hovering a cell names the "
                "model and layer of its row and column and gives its value; the wheel or a "
                "dragged rectangle zooms in, a double click shows the whole matrix; the "
                "figure as saved is folded beneath it.")


def _view(result, model_rdm_view, palette, title):
    """The data of a matrix's interactive view, with the models' band colours."""
    import matplotlib as mpl

    view = model_rdm_view(result, title=title)
    view["colours"] = {m: mpl.colors.to_hex(palette[m]) for m in dict.fromkeys(view["models"])
                       if m in palette}
    return view


def _similarity_highlight(run: RunContext) -> None:
    result = run.comparison
    meta = result.metadata_a
    models = run.config.models
    last = [run.layers[m.name][-1] for m in models]
    index = [int(np.flatnonzero((meta["model"] == m.name) & (meta["layer"] == layer))[0])
             for m, layer in zip(models, last, strict=True)]
    groups = [(m.group, m.weights) for m in models]
    same, other = [], []
    for a in range(len(index)):
        for b in range(a + 1, len(index)):
            value = result.matrix[index[a], index[b]]
            (same if groups[a] == groups[b] else other).append(value)
    if same and other:
        run.record.highlights.append(
            f"Last layers: mean {method_name(result.method)} similarity "
            f"{np.nanmean(same):.2f} between "
            f"models of the same architecture and weights (different seeds), "
            f"{np.nanmean(other):.2f} between other models.")


_STRESS_NOTE = ("Kruskal's stress-1 (lower right) says how much the map distorts the "
                "dissimilarities: below 0.1 is a faithful map, above 0.2 a rough one.")


def mds_section(run: RunContext) -> None:
    """MDS of all layers (trajectories through depth), of a focus model, of its stimuli."""
    spec = run.config.analyses.mds
    if spec is None:
        return
    if run.comparison is None:
        run.record.add_note("MDS of the layers was skipped: no layers were compared "
                            "(compare.methods = []).", section=S_MDS)
        return
    from ...plots import plot_mds

    result, dropped = defined_part(run.comparison)
    if dropped:
        run.record.add_note(
            f"Left out of the MDS maps, because their comparisons are undefined (a "
            f"constant RDM, e.g. the zero-initialised head of an untrained network): "
            f"{', '.join(dropped)}.", section=S_MDS)
    if len(result.matrix) < 3:
        run.record.add_note("MDS was skipped: fewer than 3 layers have defined "
                            "comparisons.", section=S_MDS)
        return
    method = method_name(result.method)
    opts = {"metric": spec.metric, "n_components": spec.n_components}
    kind = "metric" if spec.metric else "non-metric (ordinal)"
    if run.wants("mds_layers"):
        palette, linestyles = model_palette(run.config.models)
        models = result.metadata_a["model"].astype(str).tolist()
        fig = plot_mds(result, groups=models, trajectories=models, palette=palette,
                       linestyles=linestyles, legend_title="model", **opts)
        dashed = (" Dashed lines: weights other than trained (the random-weight twins)."
                  if "--" in linestyles.values() else "")
        run.record.add_figure(
            fig, "mds_layers", section=S_MDS,
            title="MDS of all layers of all models, with a trajectory through each model",
            caption=f"Each point is one layer, placed by {kind} MDS so that distances "
                    f"approximate 1 - {method} correlation between layer RDMs (the "
                    "multi-model RDM). Lines join each model's layers in depth order, from "
                    "a square (first layer) to an arrowhead (last layer), one line per "
                    "model: one colour family per architecture, a shade per seed."
                    f"{dashed} Squares that would sit on each other are spread on a small "
                    "circle around their common position; the first and last layers are "
                    "named, once where twins coincide. Where trajectories run together, "
                    f"the models transform the stimuli alike. {_STRESS_NOTE}")
    focus = run.config.outputs.focus[0]
    if run.wants("mds_model"):
        sub = result.select(model=focus)
        if len(sub.matrix) >= 3:
            fig = plot_mds(sub, trajectories=True, **opts)
            run.record.add_figure(
                fig, f"mds_model_{slug(focus)}", section=S_MDS,
                title=f"MDS of the layers of {focus}, joined in depth order",
                caption=f"Each point is a layer of {focus}, placed by {kind} MDS so that "
                        f"distances approximate the 1 - {method} dissimilarity of their "
                        "RDMs; the line joins the layers in depth order, from a square "
                        "(first layer) to an arrowhead (last layer). Labels are placed "
                        "clear of each other and of the points; a thin line joins a label "
                        f"to a point it had to move away from. {_STRESS_NOTE}")
    if run.wants("mds_stimuli") and spec.n_components == 2:
        _stimulus_mds(run, focus, plot_mds, opts, kind)


def _stimulus_mds(run: RunContext, focus, plot_mds, opts, kind) -> None:
    layer = run.layers[focus][-1]
    rdm = run.rdms[(focus, layer, run.measure)]
    if np.ptp(rdm.vector()) == 0:
        run.record.add_note(f"The MDS of the stimuli was skipped: every pair of stimuli "
                            f"is equally dissimilar in {focus} · {layer}.", section=S_MDS)
        return
    spec = run.config.analyses.mds
    images = None
    if spec.thumbnails_per_class:
        images = [None] * len(run.stimuli)
        if run.labels is not None:
            codes = run.labels.to_numpy()
            for value in dict.fromkeys(codes):
                for i in np.flatnonzero(codes == value)[:spec.thumbnails_per_class]:
                    images[i] = run.stimuli.load(int(i))
        else:
            for i in range(min(len(images), 40)):
                images[i] = run.stimuli.load(i)
    groups = None if run.labels is None else run.labels.astype(str).tolist()
    label = run.config.stimuli.label
    fig = plot_mds(rdm, groups=groups, images=images,
                   legend_title="class" if label == "label" else label, **opts)
    shown = (f"{spec.thumbnails_per_class} stimuli per class are drawn as thumbnails framed "
             "in their class colour, beside their point (joined by a thin line) so that "
             "none covers another, in the grey scale of the stimulus grid. "
             if images is not None else "")
    run.record.add_figure(
        fig, f"mds_stimuli_{slug(focus)}", section=S_MDS,
        title=f"MDS of the stimuli in the last layer of {focus}",
        caption=f"Each point is a stimulus, placed by {kind} MDS of the {run.measure} RDM "
                f"of {focus}'s last layer ({layer}) and coloured by class (as "
                f"pytorch_feature_analysis draws its MDS plots). {shown}Tight, separate "
                "clusters mean the layer represents the classes distinctly; mixed clusters "
                f"show which classes it confuses. {_STRESS_NOTE}")
