"""Is representational similarity related to performance similarity? (seed 000's question)

:func:`performance_similarity` compares the predictions of every pair of
models on a test set: accuracy difference, error consistency (Cohen's kappa of
correct/incorrect) and prediction agreement. :func:`rep_vs_performance`
correlates one of them with the representational similarity of the same model
pairs, layer by layer, with a Mantel p-value (model labels permuted) and a
bootstrap confidence interval (models resampled). :func:`read_zoo_predictions`
reads the predictions recorded on the bundled zoo's model cards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from .._validation import Registry, check_option, suggest
from ._common import _check_int, _frame, _is_store, _layer_rng, _seed_column, _seed_entropy

__all__ = ["describe_performance_measures", "performance_similarity", "read_zoo_predictions",
           "rep_vs_performance"]

log = logging.getLogger(__name__)

_PERFORMANCE = Registry("performance measure")
_CORRELATIONS = ("pearson", "spearman")
_CORRECTIONS = ("none", "fdr_bh", "fdr_by", "bonferroni", "holm")


@_PERFORMANCE.register("error_consistency")
def _error_consistency(correct, predictions):
    """Cohen's kappa of correct/incorrect: errors shared beyond what accuracies predict."""
    return _kappa(correct)[0]


@_PERFORMANCE.register("prediction_agreement")
def _prediction_agreement(correct, predictions):
    """Fraction of stimuli on which both models predict the same class."""
    m = len(predictions)
    out = np.ones((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            out[a, b] = out[b, a] = np.mean(predictions[a] == predictions[b])
    return out


@_PERFORMANCE.register("accuracy_similarity")
def _accuracy_similarity(correct, predictions):
    """1 - |accuracy difference|: 1 for models equally accurate."""
    accuracy = correct.mean(axis=1)
    return 1.0 - np.abs(accuracy[:, None] - accuracy[None, :])


def describe_performance_measures():
    """Table of the performance similarity measures: ``name`` and ``description``.

    Examples
    --------
    >>> describe_performance_measures().name.tolist()
    ['accuracy_similarity', 'error_consistency', 'prediction_agreement']
    """
    import pandas as pd

    return pd.DataFrame([{"name": k, "description": v}
                         for k, v in _PERFORMANCE.describe().items()])


def _kappa(correct):
    """Error consistency of every pair: (kappa, observed, expected), each (m, m)."""
    c = correct.astype(np.float64)
    n = c.shape[1]
    p = c.mean(axis=1)
    observed = (c @ c.T + (1 - c) @ (1 - c).T) / n
    expected = np.outer(p, p) + np.outer(1 - p, 1 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(expected < 1, (observed - expected) / (1 - expected), np.nan)
    return kappa, observed, expected


def performance_similarity(predictions, labels):
    """How alike every pair of models performs on the same test stimuli.

    Parameters
    ----------
    predictions : mapping of str to array-like of shape (n_stimuli,)
        Predicted class of every test stimulus, per model; at least 2 models,
        all over the same stimuli in the same order.
    labels : array-like of shape (n_stimuli,)
        The true class of every stimulus.

    Returns
    -------
    pandas.DataFrame
        One row per unordered pair of models (in the order of
        ``predictions``): ``model_a``, ``model_b``, ``accuracy_a``,
        ``accuracy_b``, ``accuracy_difference`` (absolute),
        ``accuracy_similarity`` (1 - that), ``error_consistency`` (kappa; NaN
        when both models are right, or both wrong, on every stimulus),
        ``observed_consistency``, ``expected_consistency``,
        ``prediction_agreement`` and ``n_stimuli``.

    Raises
    ------
    ValueError
        If fewer than 2 models are given, if predictions and labels differ in
        length or are not 1-D, if labels are missing, or if a model's
        predictions share no value with the labels (e.g. str versus int).

    See Also
    --------
    rep_vs_performance : Correlate these with representational similarity.

    Notes
    -----
    Error consistency [2]_ is Cohen's kappa [1]_ of the two models' correct
    (1) / incorrect (0) vectors: with observed consistency ``c_obs`` (share of
    stimuli both get right or both get wrong) and ``c_exp = p_a p_b + (1 - p_a)
    (1 - p_b)`` for accuracies ``p_a``, ``p_b``, ``kappa = (c_obs - c_exp) /
    (1 - c_exp)``. It equals ``sklearn.metrics.cohen_kappa_score`` of those
    vectors: 0 for independent errors, 1 for identical ones.

    References
    ----------
    .. [1] Cohen, J. (1960). A coefficient of agreement for nominal scales.
       Educational and Psychological Measurement, 20(1), 37-46.
    .. [2] Geirhos, R., Meding, K., & Wichmann, F. A. (2020). Beyond accuracy:
       quantifying trial-by-trial behaviour of CNNs and humans by measuring
       error consistency. NeurIPS 33.

    Examples
    --------
    >>> labels = [0, 0, 1, 1, 2, 2, 0, 1]
    >>> predictions = {"a": [0, 0, 1, 2, 2, 2, 1, 1],   # wrong on stimuli 3 and 6
    ...                "b": [0, 0, 1, 0, 2, 2, 2, 1],   # wrong on 3 and 6 as well
    ...                "c": [1, 0, 1, 1, 2, 2, 0, 0]}   # wrong on 0 and 7
    >>> table = performance_similarity(predictions, labels)
    >>> table[["model_a", "model_b", "error_consistency", "prediction_agreement"]].round(3)
      model_a model_b  error_consistency  prediction_agreement
    0       a       b              1.000                  0.75
    1       a       c             -0.333                  0.50
    2       b       c             -0.333                  0.50
    """
    names, preds, truth = _check_predictions(predictions, labels)
    correct = preds == truth[None, :]
    kappa, observed, expected = _kappa(correct)
    agreement = _prediction_agreement(correct, preds)
    accuracy = correct.mean(axis=1)
    rows = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            difference = abs(accuracy[a] - accuracy[b])
            rows.append({"model_a": names[a], "model_b": names[b], "accuracy_a": accuracy[a],
                         "accuracy_b": accuracy[b], "accuracy_difference": difference,
                         "accuracy_similarity": 1.0 - difference,
                         "error_consistency": kappa[a, b],
                         "observed_consistency": observed[a, b],
                         "expected_consistency": expected[a, b],
                         "prediction_agreement": agreement[a, b],
                         "n_stimuli": len(truth)})
    return _frame(rows, ["model_a", "model_b", "accuracy_a", "accuracy_b",
                         "accuracy_difference", "accuracy_similarity", "error_consistency",
                         "observed_consistency", "expected_consistency",
                         "prediction_agreement", "n_stimuli"])


def _check_predictions(predictions, labels):
    """``(model names, predictions (n_models, n_stimuli), labels (n_stimuli,))``."""
    from ._common import _isnull

    if not isinstance(predictions, Mapping):
        raise TypeError(f"predictions must be a mapping {{model name: predicted labels}}, "
                        f"got {type(predictions).__name__}.")
    if len(predictions) < 2:
        raise ValueError(f"Comparing performance needs predictions of at least 2 models, got "
                         f"{len(predictions)}.")
    truth = np.asarray(labels)
    if truth.ndim != 1:
        raise ValueError(f"labels must be 1-D (one true class per stimulus), got shape "
                         f"{truth.shape}.")
    if _isnull(truth).any():
        raise ValueError(f"labels are missing for {int(_isnull(truth).sum())} stimuli; every "
                         "test stimulus needs its true class.")
    names, rows = [], []
    for name, values in predictions.items():
        values = np.asarray(values)
        if values.shape != truth.shape:
            raise ValueError(f"Predictions of model {name!r} have shape {values.shape}; "
                             f"labels have shape {truth.shape}. Give one predicted class per "
                             "test stimulus, in the order of labels.")
        if not np.isin(values, truth).any():
            raise ValueError(f"Predictions of model {name!r} share no value with labels (e.g. "
                             f"{values[0]!r} vs {truth[0]!r}); give both as the same type.")
        names.append(str(name))
        rows.append(values)
    return names, np.stack(rows), truth


# ====================================================================== rep vs performance


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
        :func:`describe_performance_measures`. Each is a similarity (larger
        for models that perform more alike).
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
    correction : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}, default="fdr_bh"
        Correction of the p-values over all rows of the table.
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
    check_option("correction", correction, _CORRECTIONS)
    n_permutations = _check_int("n_permutations", n_permutations, low=1)
    n_resamples = _check_int("n_resamples", n_resamples, low=0)
    correct = preds == truth[None, :]
    perf = {m: _PERFORMANCE[m](correct, preds) for m in measures}
    for m, matrix in perf.items():
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
    if correction == "none":
        table["pvalue_adjusted"] = table["pvalue"]
    elif len(table):
        from ..stats import correct_pvalues

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
    kind = "rdms" if method in list_methods("rdm") else "activations"
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
        result = multi_model_rdm(store, names, method=method, layers=[name], **filters)
        items.extend(_split_by_layer(result, names, None, single=True))
    return items


# ====================================================================== zoo


def read_zoo_predictions(models=None):
    """Predictions of zoo models on the digits test split, and the true labels.

    Parameters
    ----------
    models : sequence of str, optional
        Zoo entries, with or without the ``"zoo:"`` prefix (the keys of the
        result keep the names as given, to match a store's ``model`` column).
        Default: the final entries of every run (``convnet_s0``, ...).

    Returns
    -------
    predictions : dict of str to ndarray of shape (450,)
        The predicted digit of every test stimulus, per model.
    labels : ndarray of shape (450,)
        The true digits, in the same order (``deeprsa.digits(split="test")``).

    Raises
    ------
    ValueError
        If a name is not a zoo entry (with a did-you-mean).

    Examples
    --------
    >>> predictions, labels = read_zoo_predictions(["zoo:convnet_s0", "convnet_s1"])
    >>> sorted(predictions), labels.shape
    (['convnet_s1', 'zoo:convnet_s0'], (450,))
    >>> round(float((predictions["zoo:convnet_s0"] == labels).mean()), 3)
    0.973
    """
    from .. import zoo
    from ..datasets import digits

    if models is None:
        entries = zoo.list_entries()
        models = entries.loc[entries["final"], "name"].tolist()
    elif isinstance(models, str):
        models = [models]
    names = [_zoo_name(m) for m in models]
    cards = {m: zoo.card(name) for m, name in zip(models, names, strict=True)}
    ids = cards[models[0]]["stimulus_ids"]
    meta = digits(split="test").metadata
    labels = meta.loc[ids, "label"].to_numpy()
    predictions = {}
    for m, c in cards.items():
        if c["stimulus_ids"] != ids:  # pragma: no cover - the shipped zoo shares one split
            raise ValueError(f"Zoo entry {m!r} was evaluated on other stimuli than "
                             f"{models[0]!r}.")
        predictions[str(m)] = np.asarray(c["predictions"], dtype=np.int64)
    return predictions, labels


def _zoo_name(model: str) -> str:
    if not isinstance(model, str):
        raise TypeError(f"Zoo model names are str, got {type(model).__name__}.")
    return model[len("zoo:"):] if model.startswith("zoo:") else model

