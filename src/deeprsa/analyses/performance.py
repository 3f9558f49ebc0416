"""Is representational similarity related to performance similarity?

This is the question of the object-classification RSA study (10,000 ImageNet
images, a multi-model RDM of the networks). :func:`rep_vs_performance`
correlates a performance similarity of model pairs (see
:mod:`deeprsa.analyses.performance_measures`) with the representational
similarity of the same pairs, layer by layer, with a Mantel p-value (model
labels permuted) and a bootstrap confidence interval (models resampled).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from .._validation import check_option, suggest
from ..stats import correct_pvalues, list_corrections
from ._common import _check_int, _frame, _is_store, _layer_rng, _seed_column, _seed_entropy
from .performance_measures import (
    _PERFORMANCE,
    _check_predictions,
    describe_performance_measures,
    performance_similarity,
)
from .zoo_predictions import read_zoo_predictions

# describe_performance_measures, performance_similarity and read_zoo_predictions stay
# importable from here, where they used to live.
__all__ = ["describe_performance_measures", "performance_similarity", "read_zoo_predictions",
           "rep_vs_performance"]

log = logging.getLogger(__name__)

_CORRELATIONS = ("pearson", "spearman")


def rep_vs_performance(representational, predictions, labels, *,
                       performance=("error_consistency", "prediction_agreement",
                                    "accuracy_similarity"),
                       method="spearman", correlation="spearman", n_permutations=10_000,
                       n_resamples=1000, confidence=0.95, alternative="greater",
                       correction="fdr_bh", seed=None, layer=None, **filters):
    """Correlate representational with performance similarity across model pairs, per layer.

    For each layer, the representational similarity of every pair of models
    (from :func:`deeprsa.compare.multi_model_rdm` or a given comparison) is
    correlated with their performance similarity over the same pairs. The
    p-value comes from a Mantel test that permutes the model labels, since
    the pairs that share a model are not independent; the confidence interval
    from a bootstrap over models.

    Parameters
    ----------
    representational : Store, path, ComparisonResult or mapping
        A store: for every layer that all models share (by name), the models
        are compared with ``method`` (RDMs for an RDM method, activations for
        CKA and co.). A symmetric ``ComparisonResult`` over (model, layer)
        entries, e.g. of ``multi_model_rdm``: split by layer. A mapping
        ``{layer: ComparisonResult or DataFrame or array}``: one models x models
        *similarity* matrix per layer (a DataFrame labelled by model; an
        array in the order of ``predictions``).
    predictions : mapping of str to array-like of shape (n_stimuli,)
        Predicted class of every test stimulus per model, keyed by the model
        names used in ``representational``; see :func:`read_zoo_predictions`.
    labels : array-like of shape (n_stimuli,)
        True class of every test stimulus.
    performance : str or sequence of str, default: all three
        Performance similarities to correlate with; see
        :func:`describe_performance_measures` (and
        :func:`register_performance_measure` to add one). Each is a
        similarity (larger for models that perform more alike).
    method : str, default="spearman"
        For a store: the comparison method of the models' layers, see
        :func:`deeprsa.compare.list_methods`.
    correlation : {"spearman", "pearson"}, default="spearman"
        How representational and performance similarity are correlated.
    n_permutations : int, default=10_000
        Permutations of the model labels in the Mantel test.
    n_resamples : int, default=1000
        Bootstrap resamples of the models; 0 skips the interval.
    confidence : float, default=0.95
        Coverage of the percentile bootstrap interval.
    alternative : {"greater", "less", "two-sided"}, default="greater"
        ``"greater"`` tests whether more similar representations go with more
        similar performance.
    correction : str, default="fdr_bh"
        Correction of the p-values over all rows of the table, a registered
        name (``"fdr_bh"``, ``"fdr_by"``, ``"bonferroni"``, ``"holm"``, or
        ``"none"`` to leave them as they are); see
        :func:`deeprsa.stats.list_corrections`.
    seed : int, numpy.random.Generator or None, default=None
        Seeds the permutations and resamples. With an int, each (layer,
        performance) row gets the same draws whichever others are computed.
    layer : str or sequence of str, optional
        Only these layers (default every layer all models share).
    **filters
        For a store: fields selecting the entries, e.g. ``measure="correlation"``.

    Returns
    -------
    pandas.DataFrame
        One row per layer and performance measure: ``layer``, ``performance``,
        ``method``, ``correlation``, ``statistic`` (the correlation over
        model pairs), ``pvalue``, ``pvalue_adjusted``, ``ci_low``, ``ci_high``,
        ``confidence``, ``n_models``, ``n_pairs``, ``n_permutations``,
        ``n_resamples``, ``alternative``, ``seed`` and ``models`` (the model
        names, comma-separated).

    Raises
    ------
    ValueError
        If fewer than 3 models are given, an option is unknown, a performance
        similarity is undefined (e.g. error consistency of two models that
        are right on every stimulus), or a comparison is not symmetric.
    KeyError
        If a model or layer is missing from ``representational`` (with
        suggestions), or the models share no layer.

    See Also
    --------
    performance_similarity : The performance similarities themselves.
    deeprsa.stats.mantel : The permutation test.
    deeprsa.stats.bootstrap_ci : The bootstrap.

    Notes
    -----
    A bootstrap resample draws models with replacement and uses every pair of
    two *different* drawn models (pairs of a model with its own copy are
    left out, as rsatoolbox does for stimuli); resamples with fewer than 3
    such pairs are undefined and left out of the interval.

    References
    ----------
    .. [1] Mantel, N. (1967). The detection of disease clustering and a
       generalized regression approach. Cancer Research, 27(2), 209-220.
    .. [2] Geirhos, R., Meding, K., & Wichmann, F. A. (2020). Beyond accuracy:
       quantifying trial-by-trial behaviour of CNNs and humans by measuring
       error consistency. NeurIPS 33.
    .. [3] Efron, B., & Tibshirani, R. J. (1993). An Introduction to the
       Bootstrap. Chapman & Hall/CRC.

    Examples
    --------
    Four models whose representational similarity follows their error
    consistency exactly:

    >>> import pandas as pd
    >>> labels = np.repeat([0, 1], 10)
    >>> rng = np.random.default_rng(0)
    >>> predictions = {name: np.where(rng.random(20) < 0.3, 1 - labels, labels)
    ...                for name in ["m1", "m2", "m3", "m4"]}
    >>> kappa = performance_similarity(predictions, labels)
    >>> names = list(predictions)
    >>> sim = pd.DataFrame(np.eye(4), index=names, columns=names)
    >>> for row in kappa.itertuples():
    ...     sim.loc[row.model_a, row.model_b] = sim.loc[row.model_b, row.model_a] = \\
    ...         row.error_consistency
    >>> table = rep_vs_performance({"fc": sim}, predictions, labels,
    ...                            performance="error_consistency", seed=0)
    >>> table[["layer", "performance", "statistic", "n_pairs"]]
      layer        performance  statistic  n_pairs
    0    fc  error_consistency        1.0        6
    """
    names, preds, truth = _check_predictions(predictions, labels)
    if len(names) < 3:
        raise ValueError(f"Correlating across model pairs needs at least 3 models (3 pairs), "
                         f"got {len(names)}.")
    measures = [performance] if isinstance(performance, str) else list(performance)
    if not measures:
        raise ValueError("performance is empty; name at least one measure, e.g. "
                         "'error_consistency'.")
    for m in measures:
        check_option("performance measure", m, _PERFORMANCE)
    check_option("correlation", correlation, _CORRELATIONS)
    check_option("correction", correction, list_corrections())
    n_permutations = _check_int("n_permutations", n_permutations, low=1)
    n_resamples = _check_int("n_resamples", n_resamples, low=0)
    correct = preds == truth[None, :]
    perf = {m: np.array(_PERFORMANCE[m](correct, preds), dtype=np.float64) for m in measures}
    for m, matrix in perf.items():
        if matrix.shape != (len(names), len(names)):
            raise ValueError(f"Performance measure {m!r} returned an array of shape "
                             f"{matrix.shape}; it must give every pair of the {len(names)} "
                             f"models a similarity, shape ({len(names)}, {len(names)}).")
        np.fill_diagonal(matrix, 1.0)   # a model with itself: not a pair, never used
        bad = np.argwhere(np.isnan(matrix))
        if bad.size:
            a, b = bad[0]
            raise ValueError(
                f"{m} of models {names[a]!r} and {names[b]!r} is undefined (both are right on "
                "every stimulus, or both wrong on every one); leave one of them out or use "
                "another performance measure.")
    layers = _representational(representational, names, method=method, layer=layer,
                               filters=filters)
    entropy = _seed_entropy(seed)
    rows = []
    for layer_name, used_method, sim in layers:
        for m in measures:
            rng = _layer_rng(entropy, {"model": m, "layer": layer_name})
            rows.append({"layer": layer_name, "performance": m, "method": used_method,
                         "correlation": correlation,
                         **_test(sim, perf[m], correlation=correlation,
                                 n_permutations=n_permutations, n_resamples=n_resamples,
                                 confidence=confidence, alternative=alternative, rng=rng),
                         "confidence": confidence, "n_models": len(names),
                         "n_pairs": len(names) * (len(names) - 1) // 2,
                         "n_permutations": n_permutations, "n_resamples": n_resamples,
                         "alternative": alternative, "seed": _seed_column(seed),
                         "models": ",".join(names)})
    table = _frame(rows, ["layer", "performance", "method", "correlation", "statistic",
                          "pvalue", "pvalue_adjusted", "ci_low", "ci_high", "confidence",
                          "n_models", "n_pairs", "n_permutations", "n_resamples",
                          "alternative", "seed", "models"])
    table["pvalue_adjusted"] = correct_pvalues(table["pvalue"].to_numpy(float),
                                               method=correction)
    return table


def _test(sim, perf, *, correlation, n_permutations, n_resamples, confidence, alternative,
          rng) -> dict:
    from ..stats import bootstrap_ci, mantel

    result = mantel(sim, perf, method=correlation, n_permutations=n_permutations,
                    alternative=alternative, seed=rng)
    out = {"statistic": result.statistic, "pvalue": result.pvalue, "ci_low": np.nan,
           "ci_high": np.nan}
    if n_resamples:
        i, j = np.triu_indices(len(sim), k=1)

        def statistic(idx):
            a, b = idx[i], idx[j]
            keep = a != b
            return _correlate(sim[a[keep], b[keep]], perf[a[keep], b[keep]], correlation)

        boot = bootstrap_ci(statistic, len(sim), n_resamples=n_resamples,
                            confidence=confidence, seed=rng)
        out["ci_low"], out["ci_high"] = boot.ci_low, boot.ci_high
    return out


def _correlate(x, y, correlation) -> float:
    """Pearson or Spearman r of two vectors; NaN with fewer than 3 pairs or a constant one."""
    if len(x) < 3:
        return np.nan
    if correlation == "spearman":
        from scipy.stats import rankdata

        x, y = rankdata(x), rankdata(y)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(np.clip(x @ y / denominator, -1, 1)) if denominator > 0 else np.nan


def _representational(source, names, *, method, layer, filters):
    """``[(layer, method, similarity matrix over names)]`` from any accepted input."""
    from ..compare import ComparisonResult

    wanted = None if layer is None else ([layer] if isinstance(layer, str) else list(layer))
    if _is_store(source):
        items = _from_store(source, names, method=method, layers=wanted, filters=filters)
    else:
        if filters:
            raise TypeError(f"Unexpected keyword argument {sorted(filters)[0]!r}: store fields "
                            "select entries in a store, and representational is not a store.")
        if isinstance(source, ComparisonResult):
            items = _split_by_layer(source, names, wanted)
        elif isinstance(source, Mapping):
            items = [(str(k), *_similarity(v, names, where=f"layer {k!r}"))
                     for k, v in source.items()]
            if wanted is not None:
                _check_layers(wanted, [k for k, _, _ in items])
                items = [it for it in items if it[0] in wanted]
        else:
            raise TypeError(f"representational must be a Store, a path, a ComparisonResult or "
                            f"a mapping {{layer: similarity matrix}}, got "
                            f"{type(source).__name__}.")
    if not items:
        raise KeyError(f"The models {names} share no layer to compare.")
    return items


def _check_layers(wanted, have):
    for name in wanted:
        if name not in have:
            raise KeyError(f"No layer {name!r} for these models.{suggest(name, have)} "
                           f"Layers: {sorted(map(str, set(have)))}.")


def _similarity(value, names, *, where):
    """``(method, similarity matrix over names)`` from one layer's comparison."""
    import pandas as pd

    from ..compare import ComparisonResult

    if isinstance(value, ComparisonResult):
        items = _split_by_layer(value, names, None, single=True)
        return items[0][1], items[0][2]
    if isinstance(value, pd.DataFrame):
        _check_models(names, list(map(str, value.index)), where)
        _check_models(names, list(map(str, value.columns)), where)
        frame = value.copy()
        frame.index, frame.columns = frame.index.map(str), frame.columns.map(str)
        return None, _check_square(frame.loc[names, names].to_numpy(float), where)
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.shape != (len(names), len(names)):
        raise ValueError(f"The similarity matrix of {where} has shape {matrix.shape}; "
                         f"{len(names)} models need ({len(names)}, {len(names)}), in the order "
                         "of predictions.")
    return None, _check_square(matrix, where)


def _check_square(matrix, where):
    if not np.isfinite(matrix[np.triu_indices(len(matrix), k=1)]).all():
        raise ValueError(f"The similarity matrix of {where} holds NaN or infinity; every pair "
                         "of models needs a value.")
    if not np.allclose(matrix, matrix.T, rtol=1e-6, atol=1e-9, equal_nan=True):
        raise ValueError(f"The similarity matrix of {where} is not symmetric.")
    return matrix


def _check_models(names, have, where):
    for name in names:
        if name not in have:
            raise KeyError(f"Model {name!r} is not in the comparison of {where}."
                           f"{suggest(name, have)} Models: {sorted(set(have))}.")


def _split_by_layer(result, names, wanted, *, single=False):
    """Split a symmetric comparison over (model, layer) entries into per-layer matrices."""
    if not result.symmetric:
        raise ValueError("rep_vs_performance needs a collection compared with itself "
                         "(compare_rdms(a) or multi_model_rdm), not a versus b.")
    meta = result.metadata_a
    if "model" not in meta.columns:
        raise ValueError("The comparison's metadata has no 'model' column; label its RDMs "
                         "with the model names used in predictions.")
    models = meta["model"].map(str).to_numpy()
    layers = (meta["layer"].map(str).to_numpy() if "layer" in meta.columns
              else np.full(len(meta), "", dtype=object))
    order = list(dict.fromkeys(layers))
    if single and len(order) > 1:
        raise ValueError(f"A comparison given for one layer holds {len(order)} layers, "
                         f"{order}; give the whole comparison instead of a mapping.")
    if wanted is not None:
        _check_layers(wanted, order)
        order = [name for name in order if name in wanted]
    matrix = result.matrix if result.kind == "similarity" else -result.matrix
    items = []
    for name in order:
        rows = np.flatnonzero(layers == name)
        have = list(models[rows])
        if not set(names) <= set(have):
            if single or wanted is not None:
                _check_models(names, have, f"layer {name!r}")
            log.info("Layer %s is missing for some models; skipped.", name)
            continue
        if len(set(have)) != len(have):
            raise ValueError(f"Layer {name!r} appears more than once for a model; select one "
                             "measure (or reduction) before comparing.")
        index = rows[[have.index(n) for n in names]]
        sub = np.array(matrix[np.ix_(index, index)], dtype=np.float64)
        items.append((name, result.method, _check_square(sub, f"layer {name!r}")))
    return items


def _from_store(store, names, *, method, layers, filters):
    from ..compare import list_methods, multi_model_rdm
    from ._common import _open_store

    check_option("method", method, list_methods())
    store = _open_store(store)
    kind = "rdms" if method in list_methods(input="rdm") else "activations"
    table = store.entries(kind)
    if table.empty or not table["complete"].any():
        hint = " Run `deeprsa rdm` first." if kind == "rdms" else ""
        raise KeyError(f"Store {str(store.path)!r} holds no complete {kind}; method "
                       f"{method!r} compares {kind}.{hint}")
    table = table[table["complete"]]
    have = sorted(map(str, table["model"].unique()))
    _check_models(names, have, f"store {str(store.path)!r}")
    table = table[table["model"].isin(names)]
    counts = table.groupby("layer", sort=False)["model"].nunique()
    shared = [name for name in table["layer"].drop_duplicates() if counts[name] == len(names)]
    if layers is not None:
        _check_layers(layers, shared)
        shared = [name for name in shared if name in layers]
    items = []
    for name in shared:
        result = multi_model_rdm(store, names, method=method, layer=[name], **filters)
        items.extend(_split_by_layer(result, names, None, single=True))
    return items

