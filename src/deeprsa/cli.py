"""The ``deeprsa`` command line: a thin layer over the Python API."""

from __future__ import annotations

import logging

import click

from ._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deeprsa")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose):
    """Representational similarity analysis of deep networks."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main():  # pragma: no cover - console-script entry point
    cli()


def _api_errors(func):
    """Report the API's KeyError/ValueError/TypeError as one-line CLI errors (exit code 1)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (KeyError, ValueError, TypeError, FileNotFoundError) as err:
            raise click.ClickException(str(err.args[0]) if err.args else str(err)) from err

    return wrapper


def _load_stimuli(spec: str):
    """``digits``, ``digits:test``, a folder, a ``.csv`` or a seed-000 ``meta.json``."""
    from pathlib import Path

    from . import datasets
    from .stimuli import StimulusSet

    if spec == "digits" or spec.startswith("digits:"):
        return datasets.digits(split=spec.partition(":")[2] or "all")
    path = Path(spec)
    if path.is_dir():
        return StimulusSet.from_folder(path)
    if path.suffix.lower() == ".csv":
        return StimulusSet.from_csv(path)
    if path.suffix.lower() == ".json":
        return StimulusSet.from_meta_json(path)
    raise click.BadParameter(
        f"{spec!r} is not 'digits[:train|test]', a folder, a .csv or a meta .json file.",
        param_hint="--stimuli")


def _parse_selectors(text: str):
    parts = [p.strip() for p in text.split(",") if p.strip()]
    out = [int(p) if p.lstrip("-").isdigit() else p for p in parts]
    return out[0] if len(out) == 1 and isinstance(out[0], str) else out


@cli.command("layers")
@click.argument("model")
@click.option("--weights", default="random", show_default=True,
              help="'trained', 'random' or a state-dict path (only the architecture matters).")
@click.option("--select", "select", default=None,
              help="Show only these layers: comma-separated names, ordinals, types, globs or a "
                   "preset (all, leaf, top_level).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write seed 000's layer file (JSON list of model/layer records).")
@_api_errors
def layers_cmd(model, weights, select, json_out):
    """List the layers of MODEL (e.g. torchvision:resnet18, zoo:convnet_s0)."""
    from .layers import list_layers, select_layers, write_layer_file
    from .models import load_model

    loaded = load_model(model, weights=weights)
    table = list_layers(loaded)
    if select:
        table = table[table.layer.isin(select_layers(table, _parse_selectors(select)))]
    with __import__("pandas").option_context("display.max_rows", None, "display.width", 200):
        click.echo(table.to_string(index=False))
    if json_out:
        write_layer_file(json_out, table=table, model=loaded.name)
        click.echo(f"wrote {json_out}")


@cli.command("extract")
@click.option("--model", required=True, help="e.g. torchvision:resnet18 or zoo:convnet_s0.")
@click.option("--weights", default="trained", show_default=True,
              help="'trained', 'random' or a state-dict path.")
@click.option("--seed", type=int, default=None, help="Seed of random weights.")
@click.option("--layers", "layers", default="top_level", show_default=True,
              help="Comma-separated names, ordinals, types, globs, or a preset.")
@click.option("--layers-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Take the layers of this model from a layer file instead.")
@click.option("--stimuli", required=True,
              help="digits[:train|test], an image folder, a CSV or a meta.json.")
@click.option("--reduction", default="flatten", show_default=True,
              help="flatten, spatial_mean, cls_token, token_mean or subsample_units:K.")
@click.option("--store", required=True, type=click.Path(file_okay=False), help="Store directory.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@_api_errors
def extract_cmd(model, weights, seed, layers, layers_file, stimuli, reduction, store,
                batch_size, device):
    """Extract activations of the selected layers into a store, in one pass (resumable)."""
    from .extract import extract
    from .layers import read_layer_file
    from .models import load_model

    loaded = load_model(model, weights=weights, seed=seed)
    selectors = _parse_selectors(layers)
    if layers_file:
        mapping = read_layer_file(layers_file)
        key = loaded.name if loaded.name in mapping else model
        selectors = read_layer_file(layers_file, model=key)[key]
    table = extract(loaded, _load_stimuli(stimuli), selectors, store, reduction=reduction,
                    batch_size=batch_size, device=device)
    click.echo(table.to_string(index=False))


# [foundation commands]

def _parse_params(pairs):
    """``("per_feature=true", ...)`` -> ``{"per_feature": True}`` (values as JSON, else str)."""
    import json

    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE, e.g. per_feature=true.",
                                     param_hint="--param")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


@cli.command("rdm")
@click.option("--store", required=True, type=click.Path(exists=True, file_okay=False),
              help="Store directory holding the activations (RDMs are written there).")
@click.option("--measure", default="correlation", show_default=True,
              help="A measure from `deeprsa measures`.")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--layer", "layers", multiple=True, help="Only this layer (repeatable).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True)
@click.option("--device", default=None, help="Torch device for the products, e.g. cuda.")
@click.option("--batch-size", type=int, default=None, help="Rows per tile (default: auto).")
@click.option("--param", "params", multiple=True,
              help="Measure parameter NAME=VALUE, e.g. per_feature=true (repeatable).")
@_api_errors
def rdm_cmd(store, measure, models, layers, dtype, device, batch_size, params):
    """Compute the RDM of every layer in a store; RDMs already there are skipped."""
    from .rdm import compute_rdms

    rdms = compute_rdms(store, measure=measure, model=list(models) or None,
                        layer=list(layers) or None, dtype=dtype, device=device,
                        batch_size=batch_size, **_parse_params(params))
    columns = [c for c in ("model", "layer", "measure", "key") if c in rdms.metadata]
    click.echo(rdms.metadata[columns].to_string(index=False))


@cli.command("measures")
def measures_cmd():
    """List the registered dissimilarity measures."""
    from .rdm import describe_measures

    table = describe_measures()[["name", "range", "params", "description"]]
    with __import__("pandas").option_context("display.max_colwidth", None,
                                             "display.width", 200):
        click.echo(table.to_string(index=False))

@cli.command("compare")
@click.option("--store", required=True, type=click.Path(exists=True, file_okay=False),
              help="Store directory holding the RDMs (or activations, for CKA and co.).")
@click.option("--method", default="spearman", show_default=True,
              help="A method from `deeprsa methods`.")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable, in order).")
@click.option("--measure", default=None,
              help="First-order measure of the RDMs, when the store holds several.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Method parameter, e.g. --param threshold=0.5 (repeatable).")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None,
              help="Parquet file for the tidy table [default: STORE/tables/compare-METHOD"
                   ".parquet].")
@click.option("--working-memory", type=float, default=1024, show_default=True,
              help="MiB for blocks of prepared RDM vectors.")
@_api_errors
def compare_cmd(store, method, models, measure, params, table_path, working_memory):
    """Model RDMs and the multi-model RDM of every layer in a store.

    Writes the multi-model matrix and one model matrix per model into the
    store (kind "comparisons"), and the table of all pairs as parquet.
    """
    from pathlib import Path

    from .compare import multi_model_rdm
    from .store import Store

    handle = Store(store)
    filters = {} if measure is None else {"measure": measure}
    result = multi_model_rdm(handle, list(models) or None, method=method,
                             params=_parse_params(params), working_memory=working_memory,
                             **filters)
    key = result.save(handle, name="multi_model_rdm")
    click.echo(f"multi-model RDM ({len(result.matrix)} layers): {key}")
    for model in dict.fromkeys(result.metadata_a["model"]):
        sub = result.select(model=model)
        click.echo(f"model RDM {model} ({len(sub.matrix)} layers): "
                   f"{sub.save(handle, name='model_rdm')}")
    path = _write_analysis_table(
        result.table, table_path or Path(store) / "tables" / f"compare-{method}.parquet",
        store, "compare")
    click.echo(f"table ({len(result.table)} pairs): {path}")


@cli.command("methods")
def methods_cmd():
    """List the registered comparison methods (RDMs and representations)."""
    from .compare import describe_methods

    with __import__("pandas").option_context("display.max_colwidth", None,
                                             "display.width", 200):
        click.echo(describe_methods().to_string(index=False))

# [zoo commands]
from .zoo.cli import zoo_cli  # noqa: E402

cli.add_command(zoo_cli)

# [align and stats commands]

def _stats_table(table, path, store, name, columns):
    """Echo ``columns`` of ``table``, write all of it (see ``_write_analysis_table``)."""
    if columns:
        _echo_table(table, columns)
    path = _write_analysis_table(table, path, store, name)
    click.echo(f"table ({len(table)} rows): {path}")


def _stats_rdms(store, models, layers, measure):
    from .rdm import compute_rdms

    return compute_rdms(store, measure=measure, model=list(models) or None,
                        layer=list(layers) or None, progress=False)


def _stats_options(func):
    for option in reversed([
        click.option("--store", required=True, type=click.Path(exists=True, file_okay=False),
                     help="Store directory holding the activations (RDMs are cached there)."),
        click.option("--measure", default="correlation", show_default=True,
                     help="First-order measure of the RDMs (`deeprsa measures`)."),
        click.option("--method", default="spearman", show_default=True,
                     help="RDM comparison method (`deeprsa methods`)."),
        click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None,
                     help="Output table, .csv or .parquet [default: STORE/tables/"
                          "<command>.csv]."),
    ]):
        func = option(func)
    return func


@cli.command("srm")
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
    """Align networks with SRM: RSA before/after alignment and variance vs n_components."""
    from .align import evaluate_alignment, evaluate_n_components, load_networks

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


@cli.command("mantel")
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
    """Mantel tests between every pair of RDMs (layers and models) in a store."""
    from .stats import pairwise_mantel

    rdms = _stats_rdms(store, models, layers, measure)
    table = pairwise_mantel(rdms, method=method, n_permutations=n_permutations,
                            alternative=alternative,
                            correction=correction, seed=seed)
    _stats_table(table, table_path, store, "mantel",
                 ["model_a", "layer_a", "model_b", "layer_b", "statistic", "pvalue",
                  "pvalue_corrected"])


@cli.command("noise-ceiling")
@_stats_options
@click.option("--model", "models", multiple=True, required=True,
              help="One network seed (repeat for each, at least 2).")
@click.option("--layer", "layers", multiple=True, help="Only this layer (repeatable).")
@_api_errors
def noise_ceiling_cmd(store, measure, method, table_path, models, layers):
    """Noise ceiling of each layer across network seeds (leave-one-out and grand mean)."""
    import pandas as pd

    from .stats import noise_ceiling

    rdms = _stats_rdms(store, models, layers, measure)
    rows = []
    for layer in dict.fromkeys(rdms.metadata["layer"]):
        group = rdms[(rdms.metadata["layer"] == layer).to_numpy()]
        result = noise_ceiling(group, method=method)
        rows.append({"layer": layer, "method": method, "measure": measure,
                     "lower": result.lower, "upper": result.upper, "n_rdms": len(group)})
    _stats_table(pd.DataFrame(rows), table_path, store, "noise-ceiling",
                 ["layer", "lower", "upper", "n_rdms"])


@cli.command("bootstrap")
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
    """Candidate-vs-reference RDM comparisons with bootstrap confidence intervals."""
    import pandas as pd

    from ._validation import check_random_state
    from .stats import bootstrap_rdm_comparison

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

# [analyses commands]

def _write_analysis_table(table, path, store, name):
    """Write ``table`` to ``path`` (.csv or .parquet; default STORE/tables/NAME.csv)."""
    from pathlib import Path

    path = Path(path or Path(store) / "tables" / f"{name}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        table = table.copy()
        for col in [c for c in table.columns if table[c].dtype.kind == "O"]:
            table[col] = table[col].map(lambda v: None if v is None else str(v))
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def _echo_table(table, columns):
    with __import__("pandas").option_context("display.max_rows", None, "display.width", 200):
        click.echo(table[[c for c in columns if c in table.columns]].to_string(index=False))


_store_option = click.option("--store", required=True,
                             type=click.Path(exists=True, file_okay=False),
                             help="Store directory holding the activations.")
_model_option = click.option("--model", "models", multiple=True,
                             help="Only this model (repeatable; default all).")
_layer_option = click.option("--layer", "layers", multiple=True,
                             help="Only this layer (repeatable; default all).")
_table_option = click.option("--table", "table_path", type=click.Path(dir_okay=False),
                             default=None, help="Output table, .csv or .parquet "
                             "[default: STORE/tables/<command>.csv].")


@cli.command("dimensionality")
@_store_option
@_model_option
@_layer_option
@click.option("--threshold", "thresholds", type=float, multiple=True, default=(0.8,),
              show_default=True, help="Fraction of variance (repeatable).")
@click.option("--n-units", type=int, default=None,
              help="Random subsample of this many units per layer (seed 001 uses 1000).")
@click.option("--n-components", type=int, default=None, help="Leading components only.")
@click.option("--solver", default="auto", show_default=True, help="auto, full or randomized.")
@click.option("--seed", type=int, default=None, help="Seeds the unit subsample.")
@_table_option
@click.option("--curves", "curves_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the variance-explained curves (one row per component).")
@_api_errors
def dimensionality_cmd(store, models, layers, thresholds, n_units, n_components, solver,
                       seed, table_path, curves_path):
    """PCA of every layer: components for a variance threshold, participation ratio."""
    from .analyses import dimensionality, explained_variance

    options = dict(n_units=n_units, n_components=n_components, solver=solver, seed=seed,
                   model=list(models) or None, layer=list(layers) or None)
    table = dimensionality(store, threshold=list(thresholds), **options)
    _echo_table(table, ["model", "layer", "threshold", "n_components", "participation_ratio",
                        "n_units_used"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'dimensionality')}")
    if curves_path:
        curves = explained_variance(store, **options)
        click.echo(f"curves: {_write_analysis_table(curves, curves_path, store, 'curves')}")


@cli.command("decode")
@_store_option
@click.option("--stimuli", required=True,
              help="The stimuli of the activations: digits[:train|test], a folder, a CSV or "
                   "a meta.json.")
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
    from .analyses import decode

    table = decode(store, column, stimuli=_load_stimuli(stimuli), cv=cv, C=C,
                   n_permutations=n_permutations, seed=seed, n_jobs=n_jobs,
                   model=list(models) or None, layer=list(layers) or None)
    _echo_table(table, ["model", "layer", "accuracy", "accuracy_sd", "chance", "pvalue"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'decode')}")


@cli.command("anova")
@_store_option
@click.option("--stimuli", required=True,
              help="The stimuli of the activations: digits[:train|test], a folder, a CSV or "
                   "a meta.json.")
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
    from .analyses import unit_anova, unit_selectivity

    options = dict(stimuli=_load_stimuli(stimuli), alpha=alpha, correction=correction,
                   model=list(models) or None, layer=list(layers) or None)
    table = unit_selectivity(store, column, **options)
    _echo_table(table, ["model", "layer", "n_units", "fraction_selective",
                        "median_eta_squared"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'anova')}")
    if units_path:
        units = unit_anova(store, column, **options)
        click.echo(f"units: {_write_analysis_table(units, units_path, store, 'anova_units')}")


@cli.command("subsets")
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
    """The k most (or least) dissimilar stimuli of every layer, or a target mean."""
    from .analyses import extreme_subset, target_subset

    options = dict(measure=measure, n_restarts=n_restarts, seed=seed,
                   model=list(models) or None, layer=list(layers) or None)
    table = (extreme_subset(store, k, mode=mode, **options) if target is None
             else target_subset(store, k, target, **options))
    summary = table.groupby(["model", "layer"], sort=False).agg(
        subset_mean=("subset_mean", "first"), rdm_mean=("rdm_mean", "first"),
        stimuli=("stimulus_id", lambda ids: " ".join(ids))).reset_index()
    _echo_table(summary, ["model", "layer", "subset_mean", "rdm_mean", "stimuli"])
    click.echo(f"table: {_write_analysis_table(table, table_path, store, 'subsets')}")


@cli.command("rep-vs-perf")
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
    """Does representational similarity track performance similarity? (per layer)"""
    import pandas as pd

    from .analyses import read_zoo_predictions, rep_vs_performance
    from .store import Store

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


# [plots, report, run and demo commands]

def _show_steps():
    """Print the run's steps (INFO of deeprsa.report / deeprsa.demo) even without -v."""
    for name in ("deeprsa.report", "deeprsa.demo"):
        logger = logging.getLogger(name)
        if not any(getattr(h, "_deeprsa_steps", False) for h in logger.handlers):
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("deeprsa: %(message)s"))
            handler._deeprsa_steps = True
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


@cli.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: the config's outputs.dir, else "
                   "CONFIG_results next to the config].")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
@click.option("--cluster", default=None, metavar="local[:N]",
              help="Run extraction, RDMs and comparisons on a local Dask cluster (see "
                   "`deeprsa cluster-run` for more options) [default: one process, no Dask].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run them on a running Dask cluster (scheduler address or file).")
@click.pass_context
def run_cmd(ctx, config, out_dir, progress, cluster, scheduler):
    """Run the plan in a TOML CONFIG: stimuli, extraction, RDMs, comparisons, analyses, report.

    See examples/*.toml for annotated configs.
    """
    import sys

    if cluster is not None or scheduler is not None:
        ctx.invoke(cluster_run_cmd, config=config, cluster=cluster, scheduler=scheduler,
                   out_dir=out_dir, progress=progress)
        return

    from .config import ConfigError
    from .demo import run_config

    _show_steps()
    try:
        path = run_config(config, out_dir=out_dir, progress=progress,
                          command=" ".join(["deeprsa", *sys.argv[1:]]))
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Report: {path}")


@cli.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write [default: RUN_DIR/report.html].")
def report_cmd(run_dir, out_path):
    """Write the self-contained HTML report of RUN_DIR (from `deeprsa run` or `deeprsa demo`)."""
    from .report import write_report

    try:
        path = write_report(run_dir, path=out_path)
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Report: {path}")


@cli.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="deeprsa-demo",
              show_default=True, help="Run directory (figures, tables, store, report).")
@click.option("--quick", is_flag=True,
              help="Smaller run for CI: 8 digits per class and 4 networks.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
def demo_cmd(out_dir, quick, progress):
    """Run the whole pipeline on real digits and the bundled zoo, and write a report.

    Held-out digits sampled per class; convnets, resnets and MLPs (three
    seeds each, trained, and their untrained twins); one-pass extraction,
    RDMs, model and multi-model RDMs, MDS, dimensionality, SRM across seeds,
    representational vs performance similarity. Offline, about a minute on a
    laptop CPU.
    """
    from .demo import run_demo

    _show_steps()
    path = run_demo(out_dir, quick=quick, progress=progress)
    click.echo(f"Report: {path}")

@cli.command("cluster-run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--cluster", "cluster", default=None, metavar="local[:N]",
              help="Start a local Dask cluster of N single-threaded worker processes "
                   "[default N: one per core].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Join a running Dask cluster: its scheduler address (tcp://host:8786) or "
                   "scheduler file (.json). Workers must reach the run directory.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: the config's outputs.dir, else "
                   "CONFIG_results next to the config].")
@click.option("--rdm-batch-size", type=click.IntRange(min=1), default=None,
              help="Rows per RDM tile [default: as `deeprsa run`, for identical RDMs].")
@click.option("--shard-size", type=click.IntRange(min=1), default=None,
              help="Stimuli per extraction shard [default: about 4 shards per worker].")
@click.option("--threads", "n_threads", type=click.IntRange(min=1), default=None,
              help="BLAS and torch threads per task [default: as this process, so results "
                   "equal `deeprsa run` here bitwise; 1 is fastest on a local cluster].")
@click.option("--report/--no-report", default=True, show_default=True,
              help="After the cluster stages, run the rest of the plan (analyses, figures, "
                   "report) here, reusing the store.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
@_api_errors
def cluster_run_cmd(config, cluster, scheduler, out_dir, rdm_batch_size, shard_size,
                    n_threads, report, progress):
    """Run CONFIG's extraction, RDMs and comparisons on a Dask cluster, then the rest.

    Extraction shards, RDM tiles and comparison blocks run as Dask tasks that
    share the run's store; a rerun computes only what is missing. The results
    equal `deeprsa run CONFIG`'s. Needs `pip install "deeprsa[dask]"`.
    """
    import sys
    from pathlib import Path

    from .cluster import _dashboard_note, run_plan, start_cluster
    from .config import ConfigError, load_config

    if (cluster is None) == (scheduler is None):
        raise click.UsageError("Pass one of --cluster local[:N] (start a local cluster) or "
                               "--scheduler ADDRESS (join a running one).")
    try:
        plan = load_config(config)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    out = Path(out_dir) if out_dir else plan.resolve(plan.outputs.dir or "deeprsa_results")
    with start_cluster(cluster or scheduler) as client:
        click.echo(f"Dask dashboard: {client.dashboard_link}{_dashboard_note()}")
        result = run_plan(plan, client, store=out / "store", rdm_batch_size=rdm_batch_size,
                          shard_size=shard_size, n_threads=n_threads, progress=progress)
    work = result.work.groupby("stage", sort=False)[["blocks", "computed"]].sum()
    click.echo(work.rename(columns={"computed": "computed now"}).to_string())
    if report:
        from .demo import run_config

        _show_steps()
        path = run_config(plan, out_dir=out, progress=progress,
                          command=" ".join(["deeprsa", *sys.argv[1:]]))
        click.echo(f"Report: {path}")
    else:
        click.echo(f"Store: {out / 'store'}")
