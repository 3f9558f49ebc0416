"""Report sections across models: SRM alignment, and representational vs performance similarity."""

from __future__ import annotations

import numpy as np

from ..plan import resolve_layer
from ._common import CORRELATION_NAMES, S_PERF, S_SRM, RunContext, Skip, method_name, slug


def srm_section(run: RunContext) -> None:
    """RSA before and after aligning the networks of each architecture (Lu et al. 2018)."""
    import pandas as pd

    from ...align import SRM, evaluate_alignment

    spec = run.config.analyses.srm
    groups: dict[tuple[str, str], list[str]] = {}
    for m in run.config.models:
        groups.setdefault((m.group, m.weights), []).append(m.name)
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    if not groups:
        run.record.add_note("SRM was skipped: it needs at least two models of the same "
                            "architecture and weights (e.g. several seeds).", section=S_SRM)
        return
    tables = []
    for (group, weights), names in groups.items():
        layers = [resolve_layer(spec.layer, run.layers[n], n, "analyses.srm.layer")
                  for n in names]
        X = [run.store.load_activations(n, layer, stimuli=run.stimuli.content_hash())[0]
             for n, layer in zip(names, layers, strict=True)]
        k = min(spec.n_components, *(x.shape[1] for x in X), len(X[0]) // 2 - 1)
        table = evaluate_alignment(X, n_components=k, names=names, seed=0)
        shown = ", ".join(dict.fromkeys(layers))
        table.insert(0, "group", f"{group} ({weights})")
        table.insert(1, "layer", shown)
        tables.append(table)
        means = table.groupby("space")["rsm_correlation"].mean()
        run.record.highlights.append(
            f"SRM, {group} ({weights}, {len(names)} seeds, layer {shown}): held-out "
            f"inter-network RSM correlation {means.get('native', np.nan):.2f} in the native "
            f"unit spaces, {means.get('shared', np.nan):.2f} after alignment into a "
            f"{k}-dimensional shared space.")
        if run.wants("srm"):
            from ...plots import plot_srm_trajectories

            after = SRM(k, seed=0).fit(X).transform(X)
            fig = plot_srm_trajectories(X, after, labels=run.labels, names=names)
            run.record.add_figure(
                fig, f"srm_{slug(group)}_{weights}", section=S_SRM,
                title=f"{group} ({weights}): trajectories before and after SRM alignment",
                caption=f"The responses of {len(names)} {group} networks (layer {shown}) to "
                        "the same stimuli, as trajectories through the class means in class "
                        "order (as Lu et al. 2018 draw them); faint dots are single stimuli. "
                        "Left: each network in its own principal components (native "
                        "spaces), so the paths look unrelated. Right: after fitting a Shared "
                        f"Response Model with {k} components, all networks in the shared "
                        "space: overlapping paths mean the networks share one "
                        "representational geometry up to a rotation.")
    run.record.add_table(
        pd.concat(tables, ignore_index=True), "srm_alignment", section=S_SRM,
        title="RSA before and after SRM alignment",
        caption="For each pair of networks, on held-out stimuli (half, drawn with seed 0): "
                "rsm_correlation compares the inter-network similarity matrix with the "
                "within-network one, in the native unit space and in the shared space "
                "(Lu et al., 2018). Values near 1 after alignment mean a shared geometry.")


def performance_section(run: RunContext) -> None:
    """Does representational similarity track performance similarity across model pairs?"""
    spec = run.config.analyses.performance
    try:
        predictions, labels, scope = _predictions(run, spec)
    except Skip as skip:
        run.record.add_note(f"Representational vs performance similarity was skipped: "
                            f"{skip}", section=S_PERF)
        return
    from ...analyses import performance_similarity, rep_vs_performance

    names = list(predictions)
    layers = {n: resolve_layer(spec.layer, run.layers[n], n, "analyses.performance.layer")
              for n in names}
    similarity = _model_similarity(run, layers)
    label = spec.layer if spec.layer not in ("last", "penultimate") else f"{spec.layer} layer"
    test = rep_vs_performance({label: similarity}, predictions, labels,
                              performance=spec.measure, n_permutations=spec.n_permutations,
                              seed=0)
    perf = performance_similarity(predictions, labels)
    groups = {m.name: m.group for m in run.config.models}
    perf["representational_similarity"] = [
        similarity.loc[a, b] for a, b in zip(perf["model_a"], perf["model_b"], strict=True)]
    perf["pair"] = ["same architecture" if groups[a] == groups[b] else
                    "different architectures"
                    for a, b in zip(perf["model_a"], perf["model_b"], strict=True)]
    method = method_name(run.comparison.method)
    measure = spec.measure.replace("_", " ")
    run.record.add_table(
        perf, "performance_pairs", section=S_PERF,
        title="Performance and representational similarity of every pair of models",
        caption=f"Accuracies and performance similarities on {scope}; "
                f"representational_similarity is the {method} correlation "
                f"of the two models' {label} RDMs.")
    run.record.add_table(
        test, "rep_vs_performance", section=S_PERF,
        title="Does representational similarity track performance similarity?",
        caption="Correlation across model pairs, with a Mantel test that permutes the "
                "models (pairs sharing a model are not independent) and a bootstrap "
                "interval over models.")
    row = test.iloc[0]
    run.record.highlights.append(
        f"Across {int(row['n_models'])} models ({int(row['n_pairs'])} pairs), "
        f"representational similarity ({label}) and {measure} "
        f"correlate with {CORRELATION_NAMES.get(row['correlation'], row['correlation'])} = "
        f"{row['statistic']:.2f} (Mantel p = {row['pvalue']:.3g}, {row['confidence']:.0%} "
        f"CI {row['ci_low']:.2f} to {row['ci_high']:.2f}).")
    if run.wants("performance"):
        from ...plots import plot_similarity_vs_performance

        fig = plot_similarity_vs_performance(
            perf, x=spec.measure, y="representational_similarity", hue="pair",
            xlabel=f"performance similarity ({measure})",
            ylabel=f"representational similarity ({method}, {label})")
        run.record.add_figure(
            fig, "rep_vs_performance", section=S_PERF,
            title="Representational against performance similarity",
            caption=f"Each point is a pair of models: how alike they perform on {scope} "
                    f"({measure}) against how alike their {label} RDMs are. The line is a "
                    "least-squares fit with a bootstrap band; pairs that share a model are "
                    "not independent, so read the Mantel test in the table below for the "
                    "p-value (the question of the object-classification RSA study: does "
                    "representational similarity track performance similarity?).")


def _predictions(run: RunContext, spec):
    models = [m for m in run.config.models if m.weights == "trained"]
    if spec.predictions == "zoo":
        models = [m for m in models if m.spec.startswith("zoo:")]
        if len(models) < 3:
            raise Skip("it needs at least 3 trained zoo models (their cards hold the "
                       f"test-set predictions); this run has {len(models)}.")
        from ...analyses import read_zoo_predictions

        by_spec, labels = read_zoo_predictions([m.spec for m in models])
        predictions = {m.name: by_spec[m.spec] for m in models}
        return predictions, labels, f"all {len(labels)} held-out digits"
    if run.labels is None:
        raise Skip("predictions='argmax' needs class labels on the stimuli.")
    if len(models) < 3:
        raise Skip(f"it needs at least 3 trained models; this run has {len(models)}.")
    labels = run.labels.to_numpy()
    predictions = {}
    for m in models:
        X, _ = run.store.load_activations(m.name, run.layers[m.name][-1],
                                          stimuli=run.stimuli.content_hash())
        predictions[m.name] = np.argmax(X, axis=1)
    return predictions, labels, f"the run's {len(labels)} stimuli (argmax of the last layer)"


def _model_similarity(run: RunContext, layers):
    import pandas as pd

    result = run.comparison
    meta = result.metadata_a
    names = list(layers)
    index = [int(np.flatnonzero((meta["model"] == n) & (meta["layer"] == layers[n]))[0])
             for n in names]
    values = result.matrix[np.ix_(index, index)]
    if result.kind != "similarity":
        values = -values  # a distance: larger means less similar
    return pd.DataFrame(values, index=names, columns=names)
