"""Weighted RSA: a non-negative mixture of layer RDMs fitted to a target, cross-validated.

:func:`weighted_rsa` fits ``sum_k w_k RDM_k`` (``w_k >= 0``) over the layers of
one or several models to a target (one RDM per subject or session) by
non-negative least squares in the geometry of the comparison method, as
rsatoolbox's ``ModelWeighted`` with ``fit_regress_nn`` (Khaligh-Razavi &
Kriegeskorte, 2014; Storrs et al., 2021): the target's RDMs are pooled as the
method pools them, correlation methods centre the RDMs first, and the
whitened methods fit in the whitened space (Diedrichsen et al., 2021). Each
fold fits on its training stimuli and scores the mixture on its held-out
stimuli.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_option
from ._common import _seed_entropy
from .targets import _model_rdms, _target_name, _target_rdms, stimulus_folds

__all__ = ["WeightedRSAResult", "weighted_rsa"]


def _pooled(V, rows):
    return rows(V).mean(axis=0)


def _rms(V):
    return V / np.sqrt(np.mean(V ** 2, axis=1, keepdims=True))


def _zscore(V):
    V = V - V.mean(axis=1, keepdims=True)
    return V / V.std(axis=1, keepdims=True)


def _whitened_unit(V):
    """Each RDM divided by its whitened norm sqrt(d^T V^-1 d)."""
    from ..compare.whitened import whiten

    return V / np.array([np.sqrt(q @ q) for q in map(whiten, V)])[:, None]


def _centred_whitened_unit(V):
    return _whitened_unit(V - V.mean(axis=1, keepdims=True))


def _identity(v):
    return v


def _centre(v):
    return v - v.mean(axis=0)


def _whiten_columns(M):
    from ..compare.whitened import whiten

    return np.column_stack([whiten(c) for c in M.T]) if M.ndim == 2 else whiten(M)


def _whitened(centre):
    def transform(M):
        return _whiten_columns(centre(M))
    return transform


# How each method fits (rsatoolbox's fit_regress_nn): how the target's RDMs are normalised
# before they are averaged (its pool_rdm of rsatoolbox.util.pooling), and the map of RDM
# vectors into the space where least squares is the fit.
_FITS = {"cosine": (_rms, _identity), "pearson": (_zscore, _centre),
         "cosine_cov": (_whitened_unit, _whitened(_identity)),
         "corr_cov": (_centred_whitened_unit, _whitened(_centre))}


@dataclass(frozen=True, eq=False)
class WeightedRSAResult:
    """Result of :func:`weighted_rsa`.

    Attributes
    ----------
    weights : pandas.DataFrame
        One row per layer RDM: ``model``, ``layer``, ``weight`` (fitted on
        every stimulus; non-negative, unit norm as rsatoolbox's
        ``fit_regress_nn``), ``mean_weight`` and ``sd_weight`` (over the
        folds' fits).
    folds : pandas.DataFrame
        One row per fold: ``fold``, ``held_out`` (mean comparison over
        subjects of the fold's mixture with the target, on the held-out
        stimuli; NaN when every weight is 0, i.e. no layer fits with a
        positive weight), ``n_train``, ``n_test``.
    fold_weights : ndarray of shape (n_folds, n_layers)
        The weights of each fold's fit.
    held_out : float
        Mean held-out score over the folds (NaN folds left out).
    method : str
    target : str
    """

    weights: Any
    folds: Any
    fold_weights: np.ndarray
    held_out: float
    method: str
    target: str

    def __repr__(self):
        return (f"WeightedRSAResult({len(self.weights)} layers, method={self.method!r}, "
                f"held_out={self.held_out:.4g})")


def weighted_rsa(rdms, target, *, model=None, layer=None, method: str = "cosine", cv=5,
                 seed=None, **filters) -> WeightedRSAResult:
    """Fit a non-negative weighted sum of layer RDMs to a target, with cross-validation.

    Parameters
    ----------
    rdms : Store, path, RDMs or list of RDM
        The layers' RDMs, from one or several models (see :func:`layer_profile`).
    target : RDMs, RDM, list of RDM, or a path for :func:`deeprsa.load_rdms`
        One RDM per subject or session, labels matched by name.
    model, layer : str or list of str, optional
        Only these models and layers (from a store).
    method : {"cosine", "pearson", "cosine_cov", "corr_cov"}, default="cosine"
        The comparison the fit maximises and the held-out stimuli are scored
        with: least squares maximises these (rsatoolbox's ``fit_regress_nn``
        takes the same four).
    cv : int or sequence of sequences of str, default=5
        Folds over stimuli: a number (shuffled with ``seed``) or each fold's
        held-out stimulus ids; at least 3 training and 3 held-out stimuli.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the folds.
    **filters
        Store fields that select the RDMs, e.g. ``measure="correlation"``.

    Returns
    -------
    WeightedRSAResult
        ``.weights`` (one row per layer), ``.folds`` and ``.held_out``.

    Raises
    ------
    ValueError
        If ``method`` cannot be fitted by least squares, the target's labels
        and the stimuli differ, the layers are over different stimuli, or a
        fold is too small.

    Notes
    -----
    The weights solve ``min ||T(y) - T(A) w||^2, w >= 0`` (``scipy.optimize.nnls``)
    for the pooled target ``y`` and the layer RDMs ``A`` (columns), ``T``
    the method's map (none for cosine, centring for Pearson, whitening for
    the ``_cov`` methods), then are scaled to unit norm. The comparison of
    the mixture with the target does not depend on that scale.

    References
    ----------
    .. [1] Khaligh-Razavi, S.-M., & Kriegeskorte, N. (2014). Deep supervised,
       but not unsupervised, models may explain IT cortical representation.
       PLoS Comput. Biol., 10(11), e1003915.
    .. [2] Storrs, K. R., Kietzmann, T. C., Walther, A., Mehrer, J., &
       Kriegeskorte, N. (2021). Diverse deep neural networks all predict
       human inferior temporal cortex well, after training and fitting.
       J. Cogn. Neurosci., 33(10), 2044-2064.

    Examples
    --------
    >>> from deeprsa import RDM
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"s{i}" for i in range(12)]
    >>> parts = [np.abs(rng.standard_normal(66)) for _ in range(3)]
    >>> layers = [RDM.from_vector(p, ids, {"model": "net", "layer": f"l{k}"})
    ...           for k, p in enumerate(parts)]
    >>> target = RDM.from_vector(2 * parts[0] + parts[2], ids)
    >>> result = weighted_rsa(layers, target, cv=3, seed=0)
    >>> result.weights["weight"].round(3).tolist()
    [0.894, 0.0, 0.447]
    """
    import pandas as pd

    if method not in _FITS:
        from ..compare import list_methods

        check_option("method", method, list_methods(input="rdm"))
        raise ValueError(
            f"Weighted RSA fits its weights by least squares, which maximises "
            f"{', '.join(map(repr, sorted(_FITS)))} (rsatoolbox's fit_regress_nn), not "
            f"{method!r}. Fit with one of those, then compare the mixture with "
            "compare_rdms(..., method=...).")
    models = _model_rdms(rdms, model=model, layer=layer, filters=filters)
    layers = [r for group in models.values() for r in group]
    ids = layers[0].stimulus_ids
    for r in layers[1:]:
        if r.stimulus_ids != ids:
            raise ValueError(
                f"Weighted RSA mixes RDMs over the same stimuli; layer "
                f"{r.provenance.get('layer')!r} of model {r.provenance.get('model')!r} has "
                "other stimuli than the first. Restrict them to the shared ids with subset().")
    from ..rdm import RDMs

    layers = RDMs(layers)
    subjects = _target_rdms(target, ids)
    rng = np.random.default_rng(_seed_entropy(seed))
    folds, fold_weights = [], []
    for k, (train, test) in enumerate(stimulus_folds(ids, cv, rng)):
        w = _fit(layers.subset(train), subjects.subset(train), method)
        fold_weights.append(w)
        folds.append({"fold": k, "held_out": _score(layers.subset(test), subjects.subset(test),
                                                    w, method),
                      "n_train": len(train), "n_test": len(test)})
    fold_weights = np.array(fold_weights)
    full = _fit(layers, subjects, method)
    weights = pd.DataFrame({
        "model": [r.provenance.get("model") for r in layers],
        "layer": [r.provenance.get("layer") for r in layers],
        "weight": full, "mean_weight": fold_weights.mean(axis=0),
        "sd_weight": fold_weights.std(axis=0, ddof=1) if len(fold_weights) > 1 else np.nan})
    folds = pd.DataFrame(folds)
    # pandas' mean leaves NaN folds out (NaN when all are)
    return WeightedRSAResult(weights, folds, fold_weights, float(folds["held_out"].mean()),
                             method, _target_name(subjects))


def _fit(layers, subjects, method):
    """Non-negative least-squares weights of the layers' RDMs for the pooled target, unit norm."""
    from scipy.optimize import nnls

    pool, transform = _FITS[method]
    y = _pooled(np.asarray(subjects.vectors(), dtype=np.float64), pool)
    A = np.asarray(layers.vectors(), dtype=np.float64).T
    w, _ = nnls(transform(A), transform(y))
    norm = np.sqrt(w @ w)
    return w / norm if norm > 0 else w


def _score(layers, subjects, w, method):
    """Mean comparison over subjects of the mixture ``sum w_k RDM_k`` with the target."""
    from ..compare import compare_rdms

    if not w.any():  # no layer fits with a positive weight: the mixture is a constant
        return float("nan")
    mixture = np.asarray(layers.vectors(), dtype=np.float64).T @ w
    with np.errstate(invalid="ignore"):
        return float(np.mean(compare_rdms(mixture, subjects.vectors(dtype=np.float64),
                                          method=method).matrix))
