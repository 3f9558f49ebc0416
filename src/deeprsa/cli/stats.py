"""``deeprsa srm``, ``mantel``, ``noise-ceiling`` and ``bootstrap``.

The commands that align networks and test RDMs: the Shared Response Model
across networks, Mantel tests between every pair of RDMs, the noise ceiling
across network seeds, and bootstrap confidence intervals of RDM comparisons.
Each reads (or computes) the RDMs of a store and writes a table.
"""

from __future__ import annotations

import click

from ._common import _api_errors, _stats_options, _stats_rdms, _stats_table


@click.command("srm")
@click.option("--store", required=True, type=click.Path(exists=True, file_okay=False),
              help="Store directory holding the activations.")
@click.option("--model", "models", multiple=True, required=True,
              help="A network to align (repeat for each seed, at least 2).")
@click.option("--layer", required=True, help="The layer, in every model.")
@click.option("--n-components", type=int, default=10, show_default=True,
              help="Shared features for the RSA before/after alignment.")
@click.option("--sweep", default="1,2,5,10,20,50", show_default=True,
              help="Comma-separated n_components for held-out variance explained.")
@click.option("--algorithm", type=click.Choice(["probabilistic", "deterministic"]),
              default="probabilistic", show_default=True)
@click.option("--test", "test", type=float, default=0.5, show_default=True,
              help="Fraction of stimuli held out from fitting.")
@click.option("--seed", type=int, default=None, help="Seeds the split and the initial bases.")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None,
              help="RSA table [default: STORE/tables/srm-alignment.csv].")
@click.option("--variance-table", "variance_path", type=click.Path(dir_okay=False),
              default=None, help="Variance table [default: STORE/tables/srm-variance.csv].")
@_api_errors
def srm_cmd(store, models, layer, n_components, sweep, algorithm, test, seed, table_path,
            variance_path):
    """Align networks with a Shared Response Model (SRM); RSA before and after alignment.

    As Lu et al. (2018) did for deep networks: the RSA between the networks
    before and after alignment, and the held-out variance explained against
    n_components (--sweep).
    """
    from ..align import evaluate_alignment, evaluate_n_components, load_networks

    X, _ = load_networks(store, models, layer)
    # one seed for both analyses, so they hold out the same stimuli
    seed = int(__import__("numpy").random.default_rng(seed).integers(2 ** 31))
    table = evaluate_alignment(X, n_components=n_components, algorithm=algorithm, test=test,
                               names=models, seed=seed)
    table.insert(0, "layer", layer)
    _stats_table(table, table_path, store, "srm-alignment",
                 ["space", "network_a", "network_b", "rsm_correlation",
                  "same_stimulus_correlation"])
    sizes = [int(k) for k in sweep.split(",") if k.strip()]
    variance = evaluate_n_components(X, n_components=sizes, algorithm=algorithm, test=test,
                                     names=models, seed=seed)
    variance.insert(0, "layer", layer)
    summary = variance.groupby("n_components", as_index=False)[
        ["variance_explained", "variance_predicted", "variance_explained_pca"]].mean()
    _stats_table(variance, variance_path, store, "srm-variance", [])
    with __import__("pandas").option_context("display.width", 200):
        click.echo(summary.round(4).to_string(index=False))


@click.command("mantel")
@_stats_options
@click.option("--seed", type=int, default=None, help="Seeds the permutations.")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--layer", "layers", multiple=True, help="Only this layer (repeatable).")
@click.option("--n-permutations", type=int, default=10_000, show_default=True)
@click.option("--alternative", type=click.Choice(["greater", "less", "two-sided"]),
              default="greater", show_default=True)
@click.option("--correction", type=click.Choice(["fdr_bh", "fdr_by", "bonferroni", "holm",
                                                 "none"]),
              default="fdr_bh", show_default=True)
@_api_errors
def mantel_cmd(store, measure, method, table_path, seed, models, layers, n_permutations,
               alternative, correction):
    """Mantel tests (stimulus labels permuted) between every pair of RDMs in a store.

    The pairs are those of all layers of all models (or of --model and
    --layer); the p-values are corrected for testing them all (--correction).
    """
    from ..stats import pairwise_mantel

    rdms = _stats_rdms(store, models, layers, measure)
    table = pairwise_mantel(rdms, method=method, n_permutations=n_permutations,
                            alternative=alternative,
                            correction=correction, seed=seed)
    _stats_table(table, table_path, store, "mantel",
                 ["model_a", "layer_a", "model_b", "layer_b", "statistic", "pvalue",
                  "pvalue_corrected"])


@click.command("noise-ceiling")
@_stats_options
@click.option("--model", "models", multiple=True, required=True,
              help="One network seed (repeat for each, at least 2).")
@click.option("--layer", "layers", multiple=True, help="Only this layer (repeatable).")
@_api_errors
def noise_ceiling_cmd(store, measure, method, table_path, models, layers):
    """Noise ceiling of each layer across network seeds (leave-one-out and grand mean).

    As in Nili et al. (2014): the lower bound compares each seed's RDM with the
    pooled RDM of the others (leave one out), the upper bound with the pooled
    RDM of all seeds.
    """
    import pandas as pd

    from ..stats import noise_ceiling

    rdms = _stats_rdms(store, models, layers, measure)
    rows = []
    for layer in dict.fromkeys(rdms.metadata["layer"]):
        group = rdms[(rdms.metadata["layer"] == layer).to_numpy()]
        result = noise_ceiling(group, method=method)
        rows.append({"layer": layer, "method": method, "measure": measure,
                     "lower": result.lower, "upper": result.upper, "n_rdms": len(group)})
    _stats_table(pd.DataFrame(rows), table_path, store, "noise-ceiling",
                 ["layer", "lower", "upper", "n_rdms"])


@click.command("bootstrap")
@_stats_options
@click.option("--seed", type=int, default=None, help="Seeds the resamples.")
@click.option("--reference", "references", multiple=True, required=True,
              help="A seed of the reference network (repeatable).")
@click.option("--candidate", "candidates", multiple=True, required=True,
              help="A candidate model, compared layer by layer (repeatable).")
@click.option("--layer", "layers", multiple=True, help="Only this layer (repeatable).")
@click.option("--over", type=click.Choice(["stimuli", "seeds", "both"]), default="stimuli",
              show_default=True, help="What to resample.")
@click.option("--n-resamples", type=int, default=1000, show_default=True)
@click.option("--confidence", type=float, default=0.95, show_default=True)
@_api_errors
def bootstrap_cmd(store, measure, method, table_path, seed, references, candidates, layers,
                  over, n_resamples, confidence):
    """Candidate-vs-reference RDM comparisons with bootstrap confidence intervals.

    Resamples the stimuli, the reference's seeds or both (--over), and gives
    t intervals as rsatoolbox does (Schuett et al. 2023).
    """
    import pandas as pd

    from .._validation import check_random_state
    from ..stats import bootstrap_rdm_comparison

    ref = _stats_rdms(store, references, layers, measure)
    cand = _stats_rdms(store, candidates, layers, measure)
    rng = check_random_state(seed)
    tables = []
    for layer in dict.fromkeys(ref.metadata["layer"]):
        in_ref = (ref.metadata["layer"] == layer).to_numpy()
        in_cand = (cand.metadata["layer"] == layer).to_numpy()
        if not in_cand.any():
            continue
        tables.append(bootstrap_rdm_comparison(
            cand[in_cand], ref[in_ref], method=method, over=over, n_resamples=n_resamples,
            confidence=confidence, seed=rng).table)
    if not tables:
        raise click.ClickException("The candidates share no layer with the reference; "
                                   "choose layers present in both with --layer.")
    _stats_table(pd.concat(tables, ignore_index=True), table_path, store, "bootstrap",
                 ["model_a", "layer_a", "estimate", "ci_low", "ci_high",
                  "noise_ceiling_lower", "noise_ceiling_upper"])


COMMANDS = (srm_cmd, mantel_cmd, noise_ceiling_cmd, bootstrap_cmd)
