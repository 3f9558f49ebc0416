"""Report sections on each layer's representation: dimensionality and linear decoding."""

from __future__ import annotations

from ._common import S_DECODE, S_DIM, RunContext, slug


def dimensionality_section(run: RunContext) -> None:
    """Components to reach a threshold of variance, per layer; variance curves of the focus."""
    from ...analyses import dimensionality, explained_variance

    spec = run.config.analyses.dimensionality
    stimuli = run.stimuli.content_hash()
    table = dimensionality(run.store, threshold=spec.threshold, n_units=spec.n_units,
                           seed=0, model=run.names, stimuli=stimuli, **run.intact(run.names))
    keep = [c for c in ("model", "layer", "threshold", "n_components", "participation_ratio",
                        "n_units", "n_units_used") if c in table.columns]
    run.record.add_table(
        table[keep], "dimensionality", section=S_DIM,
        title=f"Components needed to explain {spec.threshold:.0%} of the variance",
        caption="Per layer: the fewest principal components whose cumulative explained "
                "variance reaches the threshold (the ManteLab course notebook's measure), "
                "and the participation ratio (an effective dimensionality). Computed on at "
                f"most {spec.n_units} randomly sampled units per layer.")
    if not run.wants("dimensionality"):
        return
    from ...plots import plot_variance_explained

    for name in run.config.outputs.focus:
        spectrum = explained_variance(run.store, n_units=spec.n_units, seed=0, model=name,
                                      stimuli=stimuli, **run.intact(name))
        fig = plot_variance_explained(spectrum, threshold=spec.threshold, title=name)
        run.record.add_figure(
            fig, f"dimensionality_{slug(name)}", section=S_DIM,
            title=f"Variance explained per layer of {name}",
            caption=f"Left: cumulative variance explained against the number of principal "
                    f"components (log scale), one curve per layer from dark (input) to "
                    f"yellow (output); the dashed line is {spec.threshold:.0%}. Right: "
                    "the components each layer needs to reach it. A curve that rises "
                    "fast belongs to a low-dimensional layer.")
        rows = table[table["model"] == name]
        if len(rows):
            run.record.highlights.append(
                f"{name} needs {rows['n_components'].iloc[0]} components for "
                f"{spec.threshold:.0%} of the variance in its first layer and "
                f"{rows['n_components'].iloc[-1]} in its last.")


def decoding_section(run: RunContext) -> None:
    """Cross-validated linear decoding of a metadata column from every layer."""
    from ...analyses import decode

    spec = run.config.analyses.decoding
    names = list(run.config.outputs.focus) or run.names
    # decode's stimuli= is the StimulusSet; rows are matched to it by stimulus id.
    table = decode(run.store, spec.column, stimuli=run.stimuli, cv=spec.cv, seed=0,
                   model=names, **run.intact(names))
    run.record.add_table(
        table, "decoding", section=S_DECODE,
        title=f"Linear decoding of {spec.column!r} from every layer",
        caption=f"Cross-validated ({spec.cv}-fold, stratified) accuracy of a linear SVM "
                f"predicting the stimulus' {spec.column!r} from each layer's activations "
                "(units standardised within each training fold), with chance for "
                "comparison (the SVM analysis of pytorch_feature_analysis).")
    for name in names:
        rows = table[table["model"] == name]
        if len(rows):
            best = rows.loc[rows["accuracy"].idxmax()]
            run.record.highlights.append(
                f"{name}: {spec.column!r} is decoded best from {best['layer']} "
                f"(accuracy {best['accuracy']:.2f}).")
