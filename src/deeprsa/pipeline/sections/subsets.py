"""Report section: the most (or least) dissimilar stimuli, or entries of a stack's RDMs."""

from __future__ import annotations

import numpy as np

from ._common import RunContext, slug

S_SUBSETS = "Most dissimilar subsets"


def subsets_section(run: RunContext) -> None:
    """``k`` stimuli of each focus model's last layer; ``k`` entries of each stack RDM."""
    from ...analyses import extreme_subset

    spec = run.config.analyses.subsets
    most = "most" if spec.mode == "max" else "least"
    tables = []
    for name in run.config.outputs.focus:
        layer = run.layers[name][-1]
        rdm = run.rdms[(name, layer, run.measure)]
        if spec.k > rdm.n_stimuli:
            continue
        table = extreme_subset(rdm, spec.k, mode=spec.mode, n_restarts=spec.n_restarts,
                               seed=0)
        tables.append(table)
        if run.wants("subsets"):
            _subset_figure(run, name, layer, table, most)
    if tables:
        import pandas as pd

        run.record.add_table(
            pd.concat(tables, ignore_index=True), "subsets", section=S_SUBSETS,
            title=f"The {spec.k} {most} dissimilar stimuli in each focus model's last layer",
            caption=f"The {spec.k} stimuli whose {run.measure} dissimilarities among "
                    f"themselves sum to the {'largest' if spec.mode == 'max' else 'smallest'} "
                    "total (pytorch_feature_analysis' get_extreme_dissims_total): a greedy "
                    f"start and {spec.n_restarts} random ones, refined by swaps. subset_mean "
                    "is their mean dissimilarity, rdm_mean that of all pairs.")
    if run.stack is not None:
        observed = run.stack[(run.stack.metadata["permutation"] == 0).to_numpy()]
        table = extreme_subset(observed, spec.k, mode=spec.mode, n_restarts=spec.n_restarts,
                               seed=0)
        run.record.add_table(
            table, "stack_subsets", section=S_SUBSETS,
            title=f"The {spec.k} {most} dissimilar entries of every RDM of the stack",
            caption="For each RDM of the stack, the entries that taken together have the "
                    f"{'highest' if spec.mode == 'max' else 'lowest'} mean dissimilarity "
                    "(pytorch_feature_analysis' dissim_rankings), one row per entry.")


def _subset_figure(run, name, layer, table, most):
    from ...plots import plot_images

    ids = list(table["stimulus_id"])
    position = {s: i for i, s in enumerate(run.stimuli.stimulus_ids)}
    images = np.stack([np.asarray(run.stimuli.load(position[s]), dtype=np.float32)
                       for s in ids])
    fig = plot_images(images, ncols=len(ids), title=f"{name} · {layer}")
    mean = float(table["subset_mean"].iloc[0])
    overall = float(table["rdm_mean"].iloc[0])
    shown = ""
    if run.labels is not None:
        shown = f" Their classes, left to right: {', '.join(str(run.labels[s]) for s in ids)}."
    run.record.add_figure(
        fig, f"subsets_{slug(name)}", section=S_SUBSETS,
        title=f"The {len(ids)} {most} dissimilar stimuli in the last layer of {name}",
        caption=f"The stimuli chosen from {name}'s last layer ({layer}): their mean "
                f"{run.measure} dissimilarity is {mean:.3f}, against {overall:.3f} for all "
                f"pairs.{shown}")
