"""``deeprsa dimensionality``, ``decode``, ``anova``, ``subsets`` and ``rep-vs-perf``.

The commands of the analyses of a store's layers: PCA dimensionality, linear
decoding of a metadata column, per-unit ANOVA, stimulus subsets chosen by
their dissimilarities, and representational versus performance similarity.
Each prints a summary and writes the full table.
"""

from __future__ import annotations

import click

from ._common import (
    _api_errors,
    _echo_table,
    _layer_option,
    _load_stimuli,
    _model_option,
    _stimuli_option,
    _store_option,
    _table_option,
    _write_analysis_table,
)


@click.command("dimensionality")
@_store_option
@_model_option
@_layer_option
@click.option("--threshold", "thresholds", type=float, multiple=True, default=(0.8,),
              show_default=True, help="Fraction of variance (repeatable).")
@click.option("--n-units", type=int, default=None,
              help="Random subsample of this many units per layer (the ManteLab course "
                   "notebook uses 1000).")
@click.option("--n-components", type=int, default=None, help="Leading components only.")
@click.option("--solver", default="auto", show_default=True, help="auto, full or randomized.")
@click.option("--seed", type=int, default=None, help="Seeds the unit subsample.")
@_table_option
@click.option("--curves", "curves_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the variance-explained curves (one row per component).")
@_api_errors
def dimensionality_cmd(store, models, layers, thresholds, n_units, n_components, solver,
                       seed, table_path, curves_path):
    """PCA of every layer: components for a variance threshold, participation ratio.

    The components needed to reach each --threshold of the variance (80 % by
    default, as in the ManteLab course notebook on representations in deep
    networks) and the participation ratio (Gao et al. 2017).
    """
    from ..analyses import dimensionality, explained_variance

    options = dict(n_units=n_units, n_components=n_components, solver=solver, seed=seed,
                   model=list(models) or None, layer=list(layers) or None)
    table = dimensionality(store, threshold=list(thresholds), **options)
    _echo_table(table, ["model", "layer", "threshold", "n_components", "participation_ratio",
                        "n_units_used"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'dimensionality')}")
    if curves_path:
        curves = explained_variance(store, **options)
        click.echo(f"curves: {_write_analysis_table(curves, curves_path, store, 'curves')}")


@click.command("decode")
@_store_option
@_stimuli_option
@click.option("--column", default="label", show_default=True, help="Metadata column to decode.")
@_model_option
@_layer_option
@click.option("--cv", type=int, default=5, show_default=True, help="Cross-validation folds.")
@click.option("--C", "C", type=float, default=1.0, show_default=True,
              help="Inverse regularisation of the linear SVM.")
@click.option("--n-permutations", type=int, default=0, show_default=True,
              help="Label permutations for a p-value (0: none).")
@click.option("--seed", type=int, default=None, help="Seeds folds and permutations.")
@click.option("--n-jobs", type=int, default=None, help="Folds fitted in parallel.")
@_table_option
@_api_errors
def decode_cmd(store, stimuli, column, models, layers, cv, C, n_permutations, seed, n_jobs,
               table_path):
    """Cross-validated linear SVM decoding of a metadata column from every layer."""
    from ..analyses import decode

    table = decode(store, column, stimuli=_load_stimuli(stimuli), cv=cv, C=C,
                   n_permutations=n_permutations, seed=seed, n_jobs=n_jobs,
                   model=list(models) or None, layer=list(layers) or None)
    _echo_table(table, ["model", "layer", "accuracy", "accuracy_sd", "chance", "pvalue"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'decode')}")


@click.command("anova")
@_store_option
@_stimuli_option
@click.option("--column", default="label", show_default=True, help="Grouping column.")
@_model_option
@_layer_option
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option("--correction", default="fdr_bh", show_default=True,
              help="fdr_bh, fdr_by, bonferroni, holm or none (per layer).")
@_table_option
@click.option("--units-table", "units_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the per-unit table (F, p, effect sizes).")
@_api_errors
def anova_cmd(store, stimuli, column, models, layers, alpha, correction, table_path,
              units_path):
    """One-way ANOVA of every unit over a column: fraction of selective units per layer."""
    from ..analyses import unit_anova, unit_selectivity

    options = dict(stimuli=_load_stimuli(stimuli), alpha=alpha, correction=correction,
                   model=list(models) or None, layer=list(layers) or None)
    table = unit_selectivity(store, column, **options)
    _echo_table(table, ["model", "layer", "n_units", "fraction_selective",
                        "median_eta_squared"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'anova')}")
    if units_path:
        units = unit_anova(store, column, **options)
        click.echo(f"units: {_write_analysis_table(units, units_path, store, 'anova_units')}")


@click.command("subsets")
@_store_option
@click.option("--k", type=int, required=True, help="Stimuli in the subset.")
@click.option("--mode", default="max", show_default=True,
              help="max (most dissimilar) or min (most similar); ignored with --target.")
@click.option("--target", type=float, default=None,
              help="Instead: the subset whose mean dissimilarity is closest to this.")
@click.option("--measure", default="correlation", show_default=True,
              help="First-order measure of the RDMs (computed and saved when missing).")
@_model_option
@_layer_option
@click.option("--n-restarts", type=int, default=20, show_default=True)
@click.option("--seed", type=int, default=None, help="Seeds the random starts.")
@_table_option
@_api_errors
def subsets_cmd(store, k, mode, target, measure, models, layers, n_restarts, seed,
                table_path):
    """Stimulus subsets by dissimilarity: the k most (or least) dissimilar stimuli per layer.

    The k stimuli with the largest (or smallest) total dissimilarity among
    them, or, with --target, the k whose mean dissimilarity is closest to it,
    as pytorch_feature_analysis picks stimuli; a greedy start, then swaps,
    from --n-restarts random starts as well.
    """
    from ..analyses import extreme_subset, target_subset

    options = dict(measure=measure, n_restarts=n_restarts, seed=seed,
                   model=list(models) or None, layer=list(layers) or None)
    table = (extreme_subset(store, k, mode=mode, **options) if target is None
             else target_subset(store, k, target, **options))
    summary = table.groupby(["model", "layer"], sort=False).agg(
        subset_mean=("subset_mean", "first"), rdm_mean=("rdm_mean", "first"),
        stimuli=("stimulus_id", lambda ids: " ".join(ids))).reset_index()
    _echo_table(summary, ["model", "layer", "subset_mean", "rdm_mean", "stimuli"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'subsets')}")


@click.command("rep-vs-perf")
@_store_option
@_model_option
@_layer_option
@click.option("--predictions", "predictions_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="CSV with a 'label' column and one column of predictions per "
                                 "model [default: the zoo cards of the store's zoo models].")
@click.option("--method", default="spearman", show_default=True,
              help="How models' layers are compared (see `deeprsa methods`).")
@click.option("--measure", default=None,
              help="First-order measure of the RDMs, when the store holds several.")
@click.option("--performance", "performance", multiple=True,
              help="error_consistency, prediction_agreement or accuracy_similarity "
                   "(repeatable; default all).")
@click.option("--correlation", default="spearman", show_default=True,
              help="spearman or pearson.")
@click.option("--n-permutations", type=int, default=10_000, show_default=True)
@click.option("--n-resamples", type=int, default=1000, show_default=True,
              help="Bootstrap resamples of models (0: no interval).")
@click.option("--seed", type=int, default=None)
@_table_option
@_api_errors
def rep_vs_perf_cmd(store, models, layers, predictions_path, method, measure, performance,
                    correlation, n_permutations, n_resamples, seed, table_path):
    """Representational vs performance similarity of model pairs, per layer.

    Does representational similarity track performance similarity, the
    question of the object-classification RSA study? Correlates (--correlation)
    the similarity of every pair of models' layers (--method) with the
    similarity of their predictions (--performance; error consistency as in
    Geirhos et al. 2020), with a Mantel p-value (model labels permuted) and a
    bootstrap confidence interval (models resampled).
    """
    import pandas as pd

    from ..analyses import read_zoo_predictions, rep_vs_performance
    from ..store import Store

    if predictions_path:
        frame = pd.read_csv(predictions_path)
        if "label" not in frame.columns:
            raise click.ClickException(f"{predictions_path} has no 'label' column.")
        names = list(models) or [c for c in frame.columns if c != "label"]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise click.ClickException(f"{predictions_path} has no column {missing[0]!r}.")
        predictions = {n: frame[n].to_numpy() for n in names}
        labels = frame["label"].to_numpy()
    else:
        names = list(models) or [m for m in Store(store, mode="r").entries("activations")
                                 ["model"].drop_duplicates() if str(m).startswith("zoo:")]
        if not names:
            raise click.ClickException("The store holds no zoo models; pass --predictions.")
        predictions, labels = read_zoo_predictions(names)
    filters = {} if measure is None else {"measure": measure}
    table = rep_vs_performance(store, predictions, labels, method=method,
                               performance=list(performance) or
                               ["error_consistency", "prediction_agreement",
                                "accuracy_similarity"],
                               correlation=correlation, n_permutations=n_permutations,
                               n_resamples=n_resamples, seed=seed,
                               layer=list(layers) or None, **filters)
    _echo_table(table, ["layer", "performance", "statistic", "ci_low", "ci_high", "pvalue",
                        "pvalue_adjusted"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'rep_vs_perf')}")


COMMANDS = (dimensionality_cmd, decode_cmd, anova_cmd, subsets_cmd, rep_vs_perf_cmd)
