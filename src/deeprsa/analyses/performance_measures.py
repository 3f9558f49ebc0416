"""How alike two models perform: the performance similarity measures, in a registry.

:func:`performance_similarity` compares the predictions of every pair of models
on a test set: accuracy difference, error consistency (Cohen's kappa of
correct/incorrect; Geirhos et al., 2020) and prediction agreement. Each measure
that :func:`deeprsa.analyses.rep_vs_performance` can correlate with
representational similarity is registered here; :func:`register_performance_measure`
adds one, :func:`list_performance_measures` and
:func:`describe_performance_measures` list them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._validation import Registry
from ._common import _frame

__all__ = ["describe_performance_measures", "list_performance_measures",
           "performance_similarity", "register_performance_measure"]

_PERFORMANCE = Registry("performance measure")


def register_performance_measure(name: str, func=None):
    """Register a performance similarity ``func(correct, predictions) -> (n_models, n_models)``.

    ``correct`` is a bool array of shape (n_models, n_stimuli), True where a
    model predicts the true class; ``predictions`` holds the predicted classes,
    of the same shape. ``func`` returns the similarity of every pair of models,
    larger for models that perform more alike (the diagonal is ignored; NaN
    marks a pair for which the measure is undefined). The first line of its
    docstring is the description shown by :func:`describe_performance_measures`.
    Use it as a decorator, or call it with ``func``.

    Raises
    ------
    ValueError
        If a performance measure called ``name`` already exists.
    TypeError
        If ``func`` is not callable.

    Examples
    --------
    >>> @register_performance_measure("both_wrong_demo")
    ... def both_wrong(correct, predictions):
    ...     '''Fraction of stimuli that both models get wrong.'''
    ...     wrong = (~correct).astype(float)
    ...     return wrong @ wrong.T / correct.shape[1]
    >>> "both_wrong_demo" in list_performance_measures()
    True
    >>> _ = _PERFORMANCE.pop("both_wrong_demo")  # leave the registry as it was
    """
    return _PERFORMANCE.register_function(name, func, by="register_performance_measure")


def list_performance_measures() -> list[str]:
    """Names of all registered performance similarity measures, sorted.

    Examples
    --------
    >>> list_performance_measures()
    ['accuracy_similarity', 'error_consistency', 'prediction_agreement']
    """
    return sorted(_PERFORMANCE)


@register_performance_measure("error_consistency")
def _error_consistency(correct, predictions):
    """Cohen's kappa of correct/incorrect: errors shared beyond what accuracies predict."""
    return _kappa(correct)[0]


@register_performance_measure("prediction_agreement")
def _prediction_agreement(correct, predictions):
    """Fraction of stimuli on which both models predict the same class."""
    m = len(predictions)
    out = np.ones((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            out[a, b] = out[b, a] = np.mean(predictions[a] == predictions[b])
    return out


@register_performance_measure("accuracy_similarity")
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
