"""Report sections across models: SRM alignment, and representational vs performance similarity."""

from __future__ import annotations

import numpy as np

from ..plan import resolve_layer
from ._common import CORRELATION_NAMES, S_PERF, S_SRM, RunContext, Skip, method_name, slug


def srm_section(run: RunContext) -> None:
    """RSA before and after aligning the networks of each architecture (Lu et al. 2018),
    the random-weight twins beside the trained networks as a baseline."""
    import pandas as pd

    from ...align import evaluate_alignment

    spec = run.config.analyses.srm
    groups: dict[tuple[str, str], list[str]] = {}
    for m in run.config.models:
        groups.setdefault((m.group, m.weights), []).append(m.name)
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    if not groups:
        run.record.add_note("SRM was skipped: it needs at least two models of the same "
                            "architecture and weights (e.g. several seeds).", section=S_SRM)
        return
    architectures: dict[str, dict[str, list[str]]] = {}
    for (group, weights), names in groups.items():
        architectures.setdefault(group, {})[weights] = names
    stimuli = run.stimuli.content_hash()
    tables, summary = [], []
    for group, sets in architectures.items():
        # trained first, then the twins; one number of components for all, so they compare
        sets = dict(sorted(sets.items(), key=lambda item: item[0] != "trained"))
        layers = {w: [resolve_layer(spec.layer, run.layers[n], n, "analyses.srm.layer")
                      for n in names] for w, names in sets.items()}
        X = {w: [run.store.load_activations(n, layer, stimuli=stimuli)[0]
                 for n, layer in zip(names, layers[w], strict=True)]
             for w, names in sets.items()}
        k = min(spec.n_components, *(x.shape[1] for xs in X.values() for x in xs),
                len(next(iter(X.values()))[0]) // 2 - 1)
        shown = ", ".join(dict.fromkeys(la for ls in layers.values() for la in ls))
        for weights, names in sets.items():
            table = evaluate_alignment(X[weights], n_components=k, names=names, seed=0)
            table.insert(0, "group", f"{group} ({weights})")
            table.insert(1, "layer", ", ".join(dict.fromkeys(layers[weights])))
            tables.append(table)
            means = table.groupby("space")["rsm_correlation"].mean()
            summary.append({"architecture": group, "weights": weights,
                            "n_networks": len(names), "layer": table["layer"].iloc[0],
                            "n_components": k, "native": means.get("native", np.nan),
                            "shared": means.get("shared", np.nan)})
        _srm_highlight(run, group, summary[-len(sets):], k, shown)
        if run.wants("srm"):
            _srm_figure(run, group, sets, X, k, shown)
    run.record.add_table(
        pd.concat(tables, ignore_index=True), "srm_alignment", section=S_SRM,
        title="RSA before and after SRM alignment",
        caption="For each pair of networks, on held-out stimuli (half, drawn with seed 0): "
                "rsm_correlation compares the inter-network similarity matrix with the "
                "within-network one, in the native unit space and in the shared space "
                "(Lu et al., 2018). Values near 1 after alignment mean a shared geometry. "
                "The random-weight twins of an architecture follow its trained networks.")
    run.record.add_table(
        pd.DataFrame(summary), "srm_summary", section=S_SRM,
        title="SRM alignment per architecture: trained networks and random-weight twins",
        caption="Mean rsm_correlation over the pairs of networks of each architecture and "
                "weights, in the native unit spaces and in the shared space (the same "
                "number of components for both weights). Random-weight twins already "
                "share part of their geometry; the difference between the trained "
                "networks' row and their twins' is what training adds.")


def _srm_highlight(run: RunContext, group, rows, k, shown) -> None:
    first = rows[0]
    text = (f"SRM, {group} (layer {shown}, {k}-dimensional shared space): held-out "
            f"inter-network RSM correlation {first['native']:.2f} in the native unit spaces "
            f"and {first['shared']:.2f} after alignment for {first['n_networks']} "
            f"{first['weights']} networks")
    if len(rows) > 1:
        twins = "; ".join(f"{r['native']:.2f} and {r['shared']:.2f} for "
                          f"{r['n_networks']} {r['weights']}-weight twins" for r in rows[1:])
        text += f"; {twins}"
    elif first["weights"] == "trained":
        text += (" (no random-weight baseline: it needs at least two random-weight "
                 f"{group} networks)")
    run.record.highlights.append(text + ".")


def _srm_figure(run: RunContext, group, sets, X, k, shown) -> None:
    from ...align import SRM
    from ...plots import plot_srm_trajectories

    after = {w: SRM(k, seed=0).fit(xs).transform(xs) for w, xs in X.items()}
    titles = {w: "trained" if w == "trained" else f"{w} weights" for w in sets}
    rows = len(sets) > 1
    before = {titles[w]: X[w] for w in sets} if rows else next(iter(X.values()))
    aligned = {titles[w]: after[w] for w in sets} if rows else next(iter(after.values()))
    names = {titles[w]: n for w, n in sets.items()} if rows else next(iter(sets.values()))
    fig = plot_srm_trajectories(before, aligned, labels=run.labels, names=names)
    weights = next(iter(sets))
    counts = " and ".join(f"{len(n)} {titles[w]}" for w, n in sets.items())
    baseline = (" The lower row repeats it for the random-weight twins, the baseline: "
                "how much of the alignment the architecture gives without training."
                if rows else "")
    run.record.add_figure(
        fig, f"srm_{slug(group)}_{weights}", section=S_SRM,
        title=f"{group}: trajectories before and after SRM alignment"
              + (", trained and random-weight twins" if rows else f" ({weights})"),
        caption=f"The responses of {counts} {group} networks (layer {shown}) to the "
                "same stimuli, as trajectories through the class means in class order "
                "(as Lu et al. 2018 draw them); faint dots are single stimuli and the "
                "classes are named at every network's class means. Left: each network in "
                "its own principal components (native spaces), so the paths look "
                f"unrelated. Right: after fitting a Shared Response Model with {k} "
                "components, all networks in the shared space: overlapping paths mean "
                "the networks share one representational geometry up to a rotation."
                + baseline)


def performance_section(run: RunContext) -> None:
    """Does representational similarity track performance similarity across model pairs?"""
    spec = run.config.analyses.performance
    if run.comparison is None:
        run.record.add_note("Representational vs performance similarity was skipped: no "
                            "layers were compared (compare.methods = []).", section=S_PERF)
        return
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
