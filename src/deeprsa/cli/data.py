"""``deeprsa layers``, ``extract``, ``rdm``, ``unit-rules``, ``compare``, ``measures``, ``methods``.

The commands that look into models and fill a store: list and select the
layers of a model, extract their activations, compute the RDM of every layer
(or a stack of RDMs), compare the RDMs (model and multi-model RDMs), and list
the registered unit-subset rules, dissimilarity measures and comparison methods.
"""

from __future__ import annotations

import click

from ._common import (
    _api_errors,
    _echo_table,
    _load_stimuli,
    _parse_params,
    _parse_selectors,
    _write_analysis_table,
)


@click.command("layers")
@click.argument("model")
@click.option("--weights", default="random", show_default=True,
              help="'trained', 'random' or a state-dict path (only the architecture matters).")
@click.option("--select", "select", default=None,
              help="Show only these layers: comma-separated names, ordinals, types, globs or a "
                   "preset (all, leaf, top_level).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write a layer file: a JSON list of model/layer records, as in the "
                   "object-classification RSA study.")
@click.option("--input-shape", default=None, metavar="C,H,W",
              help="Channels, height and width of one input, for a network whose input size "
                   "deeprsa cannot tell (e.g. 3,224,224).")
@_api_errors
def layers_cmd(model, weights, select, json_out, input_shape):
    """List the layers of MODEL (e.g. torchvision:resnet18, zoo:convnet_s0)."""
    from ..layers import list_layers, select_layers, write_layer_file
    from ..models import load_model

    loaded = load_model(model, weights=weights)
    table = list_layers(loaded, input_shape=_parse_shape(input_shape))
    if select:
        table = table[table.layer.isin(select_layers(table, _parse_selectors(select)))]
    with __import__("pandas").option_context("display.max_rows", None, "display.width", 200):
        click.echo(table.to_string(index=False))
    if json_out:
        write_layer_file(json_out, table=table, model=loaded.name)
        click.echo(f"wrote {json_out}")


def _parse_shape(text):
    """``"3,224,224"`` -> ``(3, 224, 224)`` (None stays None)."""
    if text is None:
        return None
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise click.BadParameter(f"{text!r} is not CHANNELS,HEIGHT,WIDTH, e.g. 3,224,224.",
                                 param_hint="--input-shape")
    return shape


def _weights(model, weights):
    """``--weights``, defaulting to trained weights only where no download is needed."""
    if weights is not None:
        return weights
    from ..models.sources import trained_weights_cached

    if trained_weights_cached(model):
        return "trained"
    raise click.UsageError(
        f"The trained weights of {model} are not in the local cache, and deeprsa downloads "
        "nothing unless asked: pass --weights trained to download them (through "
        f"{model.partition(':')[0]}, into its cache), or --weights random for the seeded "
        "untrained network, or --weights PATH for a state dict.")


@click.command("extract")
@click.option("--model", required=True, help="e.g. torchvision:resnet18 or zoo:convnet_s0.")
@click.option("--weights", default=None,
              help="'trained', 'random' or a state-dict path [default: trained when no "
                   "download is needed (the zoo, weights already in the local cache); else "
                   "say which].")
@click.option("--seed", type=int, default=None, help="Seed of random weights.")
@click.option("--layers", "layers", default="top_level", show_default=True,
              help="Comma-separated names, ordinals, types, globs, or a preset.")
@click.option("--layers-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Take the layers of this model from a layer file instead.")
@click.option("--stimuli", required=True,
              help="digits[:train|test], an image folder, a CSV or a meta.json.")
@click.option("--reduction", default="flatten", show_default=True,
              help="flatten, spatial_mean, cls_token, token_mean, subsample_units:K or "
                   "sketch:K (see `deeprsa reductions`).")
@click.option("--store", required=True, type=click.Path(file_okay=False), help="Store directory.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32",
              show_default=True, help="How activations are stored (float16: half the disk).")
@click.option("--max-disk", default=None, metavar="SIZE",
              help="Disk budget, e.g. 4GB: the layers are extracted in passes that fit it "
                   "(with --keep rdms).")
@click.option("--keep", type=click.Choice(["activations", "rdms"]), default="activations",
              show_default=True,
              help="rdms: compute each pass's RDMs (--measure), then delete its activations.")
@click.option("--measure", "measures", multiple=True,
              help="RDM measure(s) computed with --keep rdms [default: correlation].")
@click.option("--sketch", default=None, metavar="auto|K",
              help="Sketch layers wider than K units (a very sparse random projection); "
                   "auto chooses K per layer by its measured fidelity.")
@click.option("--verify", is_flag=True,
              help="Check every chunk of the layers already in the store (their checksums) "
                   "before skipping them; a damaged layer is extracted again from there.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
@_api_errors
def extract_cmd(model, weights, seed, layers, layers_file, stimuli, reduction, store,
                batch_size, device, dtype, max_disk, keep, measures, sketch, verify, progress):
    """Extract activations of the selected layers into a store, in one pass (resumable).

    With --max-disk, --keep rdms or --sketch, the layers run in the passes that
    fit the budget, each pass's RDMs computed before the next (the plan is
    printed first): the way to take every layer of a large network over many
    stimuli on one machine (docs/scaling.md).
    """
    from ..extract import extract
    from ..layers import read_layer_file
    from ..models import load_model

    weights = _weights(model, weights)
    stimulus_set = _load_stimuli(stimuli)  # a bad --stimuli fails before the model loads
    loaded = load_model(model, weights=weights, seed=seed)
    selectors = _parse_selectors(layers)
    if layers_file:
        mapping = read_layer_file(layers_file)
        key = loaded.name if loaded.name in mapping else model
        selectors = read_layer_file(layers_file, model=key)[key]
    if max_disk is not None or keep == "rdms" or sketch is not None:
        table = _extract_in_passes(model, weights, seed, selectors, stimuli, reduction, store,
                                   batch_size=batch_size, device=device, dtype=dtype,
                                   max_disk=max_disk, keep=keep, sketch=sketch,
                                   measures=list(measures) or ["correlation"])
    else:
        table = extract(loaded, stimulus_set, selectors, store, reduction=reduction,
                        batch_size=batch_size, device=device, dtype=dtype, verify=verify,
                        progress=progress)
    click.echo(table.to_string(index=False))


def _extract_in_passes(model, weights, seed, selectors, stimuli, reduction, store, *,
                       measures, sketch, **extract):
    """One model through the run pipeline's passes (budget, keep, sketch); the work table."""
    import pandas as pd

    from ..pipeline import ConfigError
    from ..pipeline.passes import plan_passes, run_passes
    from ..pipeline.run import prepared_plan
    from ..store import Store
    from .run import _show_steps

    extract = {k: v for k, v in extract.items() if v is not None}
    if sketch is not None:
        extract["sketch"] = "auto" if sketch == "auto" else int(sketch)
    config = {"stimuli": {"source": stimuli, "sort_by": []},
              "models": [{"spec": model, "weights": weights, "layers": selectors,
                          "reduction": reduction, **({"seed": seed} if seed is not None
                                                     else {})}],
              "extract": extract, "rdm": {"measures": measures},
              "analyses": {name: False for name in ("mds", "dimensionality", "srm",
                                                    "performance")}}
    _show_steps()
    handle = Store(store)
    try:
        plan = prepared_plan(config, handle)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    rows = []
    for m in plan.models:
        rows += run_passes(plan, m, handle, plan_passes(plan, m, handle), progress=True)
    return pd.DataFrame(rows)[["stage", "model", "layer", "measure", "key", "status"]]


@click.command("rdm")
@click.option("--store", required=True, type=click.Path(exists=True, file_okay=False),
              help="Store directory holding the activations (RDMs are written there).")
@click.option("--measure", "measures", multiple=True, default=("correlation",),
              show_default=True, help="A measure from `deeprsa measures` (repeatable).")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--layer", "layers", multiple=True, help="Only this layer (repeatable).")
@click.option("--stimuli", default=None,
              help="The stimuli of the activations (digits[:train|test], a folder, a CSV or a "
                   "meta.json): their metadata columns, for --by and --entries.")
@click.option("--by", "by", multiple=True,
              help="Metadata column: one RDM per group of stimuli sharing its value "
                   "(repeatable), e.g. --by obj.")
@click.option("--entries", "entries", multiple=True,
              help="Metadata column labelling the rows: stimuli sharing its value are averaged "
                   "into one entry (repeatable), e.g. --entries color.")
@click.option("--combine", "combine", multiple=True, metavar="NAME=A,B",
              help="An extra entry, the mean of entries A and B (repeatable).")
@click.option("--units", "units", multiple=True,
              help="Unit subset rule, one RDM each (repeatable): all, units:0-31, "
                   "channels:0-31[/C], random_units:KxR, random_channels:KxR[/C].")
@click.option("--n-permutations", type=int, default=0, show_default=True,
              help="Label permutations per RDM (rows and columns together).")
@click.option("--seed", type=int, default=None,
              help="Seeds the random unit subsets and the permutations.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True)
@click.option("--device", default=None, help="Torch device for the products, e.g. cuda.")
@click.option("--batch-size", type=int, default=None, help="Rows per tile (default: auto).")
@click.option("--param", "params", multiple=True,
              help="Measure parameter NAME=VALUE, e.g. per_feature=true (repeatable).")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None,
              help="For a stack: the table of its RDMs, .csv or .parquet [default: "
                   "STORE/tables/rdm_stack.csv].")
@click.option("--stimuli-key", "stimuli_key", default=None,
              help="Only activations of this stimulus set (its key), when the store holds "
                   "several.")
@click.option("--nan-policy", type=click.Choice(["raise", "omit"]), default="raise",
              show_default=True,
              help="Stimuli whose activations hold NaN or infinity: refuse them, or give them "
                   "NaN dissimilarities that comparisons leave out.")
@_api_errors
def rdm_cmd(store, measures, models, layers, stimuli, by, entries, combine, units,
            n_permutations, seed, dtype, device, batch_size, params, table_path, stimuli_key,
            nan_policy):
    """Compute the representational dissimilarity matrix (RDM) of every layer in a store.

    An RDM holds the dissimilarity of the activations of every pair of stimuli
    in one layer (Kriegeskorte et al. 2008), here by --measure (default
    1 - Pearson r). RDMs already in the store are skipped.

    With --by, --entries, --combine, --units or --n-permutations it makes a
    stack instead (the pytorch_feature_analysis workflow): per layer, one RDM
    per group of --by, over the group's entries, per unit subset and label
    permutation, e.g. `deeprsa rdm --store S --stimuli objects.csv --by obj
    --entries color`.
    """
    from ..rdm import compute_rdms

    if stimuli and stimuli_key:
        raise click.UsageError("Pass --stimuli (the stimuli themselves) or --stimuli-key (the "
                               "key of their set in the store), not both.")
    options = dict(model=list(models) or None, layer=list(layers) or None, dtype=dtype,
                   device=device, batch_size=batch_size, params=_parse_params(params),
                   nan_policy=nan_policy)
    measure = measures[0] if len(measures) == 1 else list(measures)
    stack = dict(by=list(by) or None, entries=list(entries) or None,
                 combine=_parse_combine(combine), units=list(units) or None,
                 n_permutations=n_permutations)
    if not any(v not in (None, 0) for v in stack.values()):
        if stimuli or stimuli_key:
            options["stimuli"] = _load_stimuli(stimuli) if stimuli else stimuli_key
        rdms = compute_rdms(store, measure=measure, **options)
        columns = [c for c in ("model", "layer", "measure", "key") if c in rdms.metadata]
        click.echo(rdms.metadata[columns].to_string(index=False))
        return
    rdms = compute_rdms(store, measure=measure, stimuli=_load_stimuli(stimuli) if stimuli
                        else None, seed=seed, **stack, **options)
    table = rdms.metadata
    observed = table[table["permutation"] == 0]
    by_columns = list(by)
    _echo_table(observed, [*by_columns, "model", "layer", "measure", "unit_set",
                           "entry_labels"])
    extra = f" and {len(table) - len(observed)} label permutations" if n_permutations else ""
    path = _write_analysis_table(table.drop(columns=["deeprsa_version"], errors="ignore"),
                                 table_path, store, "rdm_stack")
    click.echo(f"{len(observed)} RDMs{extra}; table: {path}")


def _parse_combine(pairs):
    """``("0+180=0,180", ...)`` -> ``{"0+180": ["0", "180"]}`` (None without any)."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, members = pair.partition("=")
        labels = [m.strip() for m in members.split(",") if m.strip()]
        if not sep or not name or len(labels) < 2:
            raise click.BadParameter(f"{pair!r} is not NAME=A,B (a new entry averaging at "
                                     "least two entries), e.g. mix=000,180.",
                                     param_hint="--combine")
        out[name] = labels
    return out


@click.command("unit-rules")
def unit_rules_cmd():
    """List the unit-subset rules of `deeprsa rdm --units` (NAME:ARGUMENT)."""
    from ..rdm.units import describe_unit_rules

    rows = describe_unit_rules()
    width = max(len(name) for name in rows)
    click.echo(f"{'name':<{width}}  description")
    for name, text in rows.items():
        click.echo(f"{name:<{width}}  {text}")


@click.command("measures")
def measures_cmd():
    """List the registered dissimilarity measures."""
    from ..rdm import describe_measures

    table = describe_measures()[["name", "range", "params", "invariances", "description"]]
    with __import__("pandas").option_context("display.max_colwidth", None,
                                             "display.width", 200):
        click.echo(table.to_string(index=False))


@click.command("compare")
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
@click.option("--target", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Compare every layer with these brain or behavioural RDMs instead (.npy, "
                   ".npz, .csv, .mat, .h5; docs/targets.md): the layer profile.")
@click.option("--target-labels", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Text file of the target's stimulus ids (one per line), for files "
                   "without labels.")
@click.option("--over", type=click.Choice(["stimuli", "subjects", "both"]), default="stimuli",
              show_default=True, help="With --target: what the bootstrap resamples.")
@click.option("--n-resamples", type=int, default=1000, show_default=True,
              help="With --target: bootstrap resamples.")
@click.option("--cv", type=int, default=5, show_default=True,
              help="With --target: folds over stimuli that choose the best layer.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="With --target: seeds the bootstrap and the folds.")
@click.option("--stimuli-key", "stimuli", default=None,
              help="Only RDMs of this stimulus set (its key), when the store holds several.")
@_api_errors
def compare_cmd(store, method, models, measure, params, table_path, working_memory, target,
                target_labels, over, n_resamples, cv, seed, stimuli):
    """Model RDMs and the multi-model RDM of every layer in a store.

    A model RDM holds, for every pair of one model's layers, the dissimilarity
    of their RDMs (1 - Spearman rho by default, see --method); the multi-model
    RDM does the same across the layers of all models, as in the
    object-classification RSA study. Writes the multi-model matrix and one model matrix per model into the
    store (kind "comparisons"), and the table of all pairs as parquet.

    With --target, every layer is compared with brain or behavioural RDMs
    instead (one per subject): the mean comparison, a bootstrap interval, the
    noise ceiling, corrected p-values and each model's best layer chosen by
    cross-validation over stimuli (docs/targets.md).
    """
    from ..compare import multi_model_rdm
    from ..store import Store

    if target is not None:
        from .targets import compare_with_target

        return compare_with_target(store, target, labels=target_labels, method=method,
                                   models=models, measure=measure, over=over,
                                   n_resamples=n_resamples, cv=cv, seed=seed,
                                   table_path=table_path)
    handle = Store(store)
    filters = {k: v for k, v in (("measure", measure), ("stimuli", stimuli)) if v is not None}
    result = multi_model_rdm(handle, list(models) or None, method=method,
                             params=_parse_params(params), working_memory=working_memory,
                             **filters)
    saved = handle.mode != "r"
    if not saved:
        click.echo(f"Store {store} is read-only ({handle.read_only_reason}): the comparisons "
                   "are not saved in it.", err=True)
    key = result.save(handle, name="multi_model_rdm") if saved else "not saved"
    click.echo(f"multi-model RDM ({len(result.matrix)} layers): {key}")
    for model in dict.fromkeys(result.metadata_a["model"]):
        sub = result.select(model=model)
        click.echo(f"model RDM {model} ({len(sub.matrix)} layers): "
                   f"{sub.save(handle, name='model_rdm') if saved else 'not saved'}")
    path = _write_analysis_table(result.table, table_path, store, f"compare-{method}.parquet")
    click.echo(f"table ({len(result.table)} pairs): {path}")


@click.command("methods")
def methods_cmd():
    """List the registered comparison methods (RDMs and representations)."""
    from ..compare import describe_methods

    with __import__("pandas").option_context("display.max_colwidth", None,
                                             "display.width", 200):
        click.echo(describe_methods().to_string(index=False))


COMMANDS = (layers_cmd, extract_cmd, rdm_cmd, unit_rules_cmd, measures_cmd, compare_cmd,
            methods_cmd)
