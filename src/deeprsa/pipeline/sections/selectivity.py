"""Report section: which units of every layer tell the groups of a column apart (ANOVA)."""

from __future__ import annotations

from ._common import RunContext

S_ANOVA = "Unit selectivity (ANOVA)"


def anova_section(run: RunContext) -> None:
    """One-way ANOVA of every unit over a metadata column, summarised per layer."""
    from ...analyses import unit_selectivity

    spec = run.config.analyses.anova
    table = unit_selectivity(run.store, spec.column, stimuli=run.stimuli, alpha=spec.alpha,
                             correction=spec.correction, model=run.names)
    keep = [c for c in ("model", "layer", "target", "n_units", "n_selective",
                        "fraction_selective", "median_eta_squared", "mean_omega_squared",
                        "n_constant", "n_groups", "alpha", "correction") if c in table.columns]
    run.record.add_table(
        table[keep], "anova", section=S_ANOVA,
        title=f"Units selective for {spec.column!r} in every layer",
        caption=f"A one-way ANOVA of every unit over the values of {spec.column!r} (the "
                "ANOVAs within CNN units of pytorch_feature_analysis); a unit is selective "
                f"when its p-value, corrected over the layer's units ({spec.correction}), is "
                f"below {spec.alpha}. eta² is the share of a unit's variance explained by the "
                "groups (its median over the layer's units), omega² its less biased estimate.")
    for name in run.config.outputs.focus:
        rows = table[table["model"] == name]
        if len(rows):
            best = rows.loc[rows["fraction_selective"].idxmax()]
            run.record.highlights.append(
                f"{name}: {best['fraction_selective']:.0%} of the units of {best['layer']} "
                f"are selective for {spec.column!r}, the most of its layers.")
    if not run.wants("anova"):
        return
    from ...plots import plot_layer_values

    fig = plot_layer_values(table, y="fraction_selective", ylim=(-0.02, 1.02),
                             ylabel=f"fraction of units selective for {spec.column}")
    run.record.add_figure(
        fig, "anova", section=S_ANOVA, title=f"Units selective for {spec.column!r}, by layer",
        caption=f"The fraction of each layer's units whose response differs between the "
                f"values of {spec.column!r} (ANOVA, {spec.correction}-corrected p < "
                f"{spec.alpha}), one line per model, input layer on the left.")
