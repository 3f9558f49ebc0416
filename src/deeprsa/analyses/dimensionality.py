"""Dimensionality of each layer: PCA spectra, components for a variance threshold, PR.

The ManteLab course notebook on representations in deep networks runs PCA on
every layer of AlexNet with a 1,000-unit subsample and counts the components
needed for 80 % of the variance. :func:`explained_variance`
gives the spectrum (one row per component) and :func:`dimensionality` the
summary (one row per layer and threshold), both for an array or for every
layer in a store.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from .._validation import check_option
from ._common import (
    _check_fraction,
    _check_int,
    _frame,
    _labelled,
    _layer_rng,
    _layers,
    _seed_column,
    _seed_entropy,
)

__all__ = ["dimensionality", "explained_variance", "participation_ratio"]

log = logging.getLogger(__name__)

_SOLVERS = ("auto", "full", "randomized")
_LABELS = ("model", "layer", "reduction")


def participation_ratio(eigenvalues) -> float:
    """Participation ratio of a spectrum: ``(sum(l)) ** 2 / sum(l ** 2)``.

    It counts the dimensions that carry the variance: ``d`` for ``d`` equal
    eigenvalues and 1 for a single nonzero one, varying smoothly in between.

    Parameters
    ----------
    eigenvalues : array-like of shape (n_components,)
        Variances along the principal axes (eigenvalues of the covariance),
        non-negative. Zeros do not change the ratio.

    Returns
    -------
    float
        Between 1 and the number of nonzero eigenvalues.

    Raises
    ------
    ValueError
        If ``eigenvalues`` is not 1-D, is empty, has negative or non-finite
        entries, or is all zero.

    References
    ----------
    .. [1] Gao, P., Trautmann, E., Yu, B., Santhanam, G., Ryu, S., Shenoy, K.,
       & Ganguli, S. (2017). A theory of multineuronal dimensionality, dynamics
       and measurement. bioRxiv 214262.
    .. [2] Litwin-Kumar, A., Harris, K. D., Axel, R., Sompolinsky, H., &
       Abbott, L. F. (2017). Optimal degrees of synaptic connectivity. Neuron,
       93(5), 1153-1164.

    Examples
    --------
    >>> participation_ratio([1, 1, 1, 1])
    4.0
    >>> participation_ratio([3, 0, 0])
    1.0
    >>> round(participation_ratio([4, 2, 1]), 3)
    2.333
    """
    ev = np.asarray(eigenvalues, dtype=np.float64)
    if ev.ndim != 1 or ev.size == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-D array, got shape {ev.shape}.")
    if not np.isfinite(ev).all() or (ev < 0).any():
        raise ValueError("eigenvalues must be finite and non-negative (variances); got "
                         f"min {float(ev.min())!r}.")
    if not ev.any():
        raise ValueError("eigenvalues are all zero; the participation ratio is undefined.")
    ev = ev / ev.max()  # scale-free, and safe from overflow when squaring
    return float(ev.sum() ** 2 / (ev ** 2).sum())


def explained_variance(X, *, n_units=None, n_components=None, solver="auto", seed=None,
                       model=None, layer=None, **filters):
    """PCA spectrum of each layer: variance explained by every principal component.

    Parameters
    ----------
    X : array-like of shape (n_stimuli, n_units), Store or path to a store
        One row per stimulus. A :class:`~deeprsa.Store` (or its path) gives
        every complete activations entry selected by ``model``, ``layer`` and
        ``filters``, read a tile of rows at a time.
    n_units : int, optional
        Analyse a random subsample of this many units (columns), drawn without
        replacement, as the ManteLab course notebook does with 1,000. Default: every unit. A layer
        with at most ``n_units`` units is analysed whole.
    n_components : int, optional
        Keep only the leading components. Needed by ``solver="randomized"``.
    solver : {"auto", "full", "randomized"}, default="auto"
        ``"full"`` computes every eigenvalue exactly, from the smaller of the
        two Gram matrices of the centred data. ``"randomized"`` computes the
        leading ``n_components`` with randomized SVD (Halko et al., 2011).
        ``"auto"`` is ``"randomized"`` when ``n_components`` is below 80 % of
        ``min(n_stimuli, n_units)`` and that is above 500 (scikit-learn's
        rule), else ``"full"``.
    seed : int, numpy.random.Generator or None, default=None
        Seeds the unit subsample and the randomized solver. With an int, each
        layer gets the same draw whichever other layers are analysed with it.
    model, layer : str or sequence of str, optional
        For a store: which activations (default all). For an array: labels for
        the table.
    **filters
        Other store fields selecting activations, e.g. ``reduction="flatten"``.

    Returns
    -------
    pandas.DataFrame
        One row per layer and component: ``model``, ``layer``, ``reduction``,
        ``component`` (1, 2, ...), ``explained_variance`` (eigenvalue of the
        covariance, ``ddof=1``), ``explained_variance_ratio`` (of the total
        variance of the analysed units), ``cumulative_ratio``, ``n_stimuli``,
        ``n_units`` (of the layer), ``n_units_used``, ``solver`` (the one
        used) and ``seed`` (the int, else None).

    Raises
    ------
    ValueError
        If ``solver`` is unknown, ``n_components`` is missing for
        ``"randomized"``, an int is out of range, or the activations are not
        2-D, have fewer than 2 stimuli or hold NaN or infinity.
    KeyError
        If the store holds no activations matching ``model``, ``layer`` or
        ``filters`` (with suggestions).

    Warns
    -----
    UserWarning
        For a layer with zero variance (every analysed unit constant): its
        ratios are NaN.

    See Also
    --------
    dimensionality : Components needed for a threshold and the participation ratio.

    Notes
    -----
    The ratios equal scikit-learn's ``PCA().explained_variance_ratio_``: with
    a truncated spectrum they are still fractions of the *total* variance, so
    ``cumulative_ratio`` may stay below 1. Memory: the analysed units are held
    in float64 (``n_stimuli * n_units_used * 8`` bytes) plus, for the full
    solver, a ``min(n_stimuli, n_units_used) ** 2`` Gram matrix. For very wide
    layers subsample units or use the randomized solver.

    References
    ----------
    .. [1] Halko, N., Martinsson, P.-G., & Tropp, J. A. (2011). Finding
       structure with randomness. SIAM Review, 53(2), 217-288.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 3)) * [3.0, 2.0, 1.0]
    >>> table = explained_variance(X, layer="toy")
    >>> table[["component", "explained_variance_ratio", "cumulative_ratio"]].round(2)
       component  explained_variance_ratio  cumulative_ratio
    0          1                      0.68              0.68
    1          2                      0.26              0.94
    2          3                      0.06              1.00
    """
    rows, seen = [], []
    for layer_, spectrum, meta in _spectra(X, n_units=n_units, n_components=n_components,
                                           solver=solver, seed=seed, model=model, layer=layer,
                                           filters=filters):
        seen.append(layer_)
        ev, total = spectrum
        ratio = ev / total if total > 0 else np.full_like(ev, np.nan)
        cumulative = np.cumsum(ratio)
        for i in range(len(ev)):
            rows.append({**{k: layer_.info.get(k) for k in _LABELS}, "component": i + 1,
                         "explained_variance": ev[i], "explained_variance_ratio": ratio[i],
                         "cumulative_ratio": cumulative[i], **meta})
    table = _frame(rows, [*_LABELS, "component", "explained_variance",
                          "explained_variance_ratio", "cumulative_ratio", *_META])
    return _labelled(table, seen, "explained_variance", n_units=n_units,
                     n_components=n_components, solver=solver, seed=_seed_column(seed))


def dimensionality(X, *, threshold=0.8, n_units=None, n_components=None, solver="auto",
                   seed=None, model=None, layer=None, **filters):
    """Components needed to explain a fraction of the variance, and the participation ratio.

    Parameters
    ----------
    X : array-like of shape (n_stimuli, n_units), Store or path to a store
        One row per stimulus, or a store (every layer selected by ``model``,
        ``layer`` and ``filters``).
    threshold : float or sequence of float, default=0.8
        Fraction(s) of the variance, in (0, 1]. One row per threshold.
    n_units, n_components, solver, seed, model, layer, **filters
        As in :func:`explained_variance`.

    Returns
    -------
    pandas.DataFrame
        One row per layer and threshold: ``model``, ``layer``, ``reduction``,
        ``threshold``, ``n_components`` (the fewest leading components whose
        cumulative ratio reaches the threshold; <NA> when a truncated spectrum
        does not reach it), ``participation_ratio``, ``total_variance``,
        ``n_components_computed``, ``n_stimuli``, ``n_units``,
        ``n_units_used``, ``solver`` and ``seed``.

    Raises
    ------
    ValueError
        If ``threshold`` is outside (0, 1], or as :func:`explained_variance`.
    KeyError
        As :func:`explained_variance`.

    See Also
    --------
    explained_variance : The whole spectrum.
    participation_ratio : The ratio of a given spectrum.

    Notes
    -----
    The ManteLab course notebook reports ``np.argwhere(cumulative > .8).min()``,
    a 0-based index: one less than ``n_components`` here (except when the
    cumulative ratio hits the threshold exactly). The participation ratio uses the computed
    eigenvalues: with the randomized solver only the leading
    ``n_components``, which underestimates it.

    References
    ----------
    .. [1] Gao, P. et al. (2017). A theory of multineuronal dimensionality,
       dynamics and measurement. bioRxiv 214262.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 10)) @ np.diag([10, 5, 1, 1, 1, 1, 1, 1, 1, 1])
    >>> table = dimensionality(X, threshold=[0.8, 0.95], layer="toy")
    >>> table[["threshold", "n_components", "participation_ratio"]].round(2)
       threshold  n_components  participation_ratio
    0       0.80             2                 1.66
    1       0.95             3                 1.66
    """
    import pandas as pd

    thresholds = [threshold] if np.ndim(threshold) == 0 else list(threshold)
    if not thresholds:
        raise ValueError("threshold is empty; give at least one fraction, e.g. 0.8.")
    thresholds = [_check_fraction("threshold", t) for t in thresholds]
    rows, seen = [], []
    for layer_, (ev, total), meta in _spectra(
            X, n_units=n_units, n_components=n_components, solver=solver, seed=seed,
            model=model, layer=layer, filters=filters):
        seen.append(layer_)
        if total > 0:
            cumulative = np.cumsum(ev) / total
            pr = participation_ratio(ev)
        else:
            cumulative, pr = np.full_like(ev, np.nan), np.nan
        for t in thresholds:
            # Up to rounding: a cumulative ratio of 0.8 - 1e-16 reaches 0.8.
            reached = np.flatnonzero(cumulative >= t - 1e-10)
            rows.append({**{k: layer_.info.get(k) for k in _LABELS}, "threshold": t,
                         "n_components": int(reached[0]) + 1 if reached.size else pd.NA,
                         "participation_ratio": pr, "total_variance": total,
                         "n_components_computed": len(ev), **meta})
    table = _frame(rows, [*_LABELS, "threshold", "n_components", "participation_ratio",
                          "total_variance", "n_components_computed", *_META])
    table["n_components"] = table["n_components"].astype("Int64")
    return _labelled(table, seen, "dimensionality", threshold=thresholds, n_units=n_units,
                     n_components=n_components, solver=solver, seed=_seed_column(seed))


_META = ("n_stimuli", "n_units", "n_units_used", "solver", "seed")


def _spectra(X, *, n_units, n_components, solver, seed, model, layer, filters):
    """Yield ``(layer, (eigenvalues, total_variance), meta)`` for every selected layer."""
    check_option("solver", solver, _SOLVERS)
    n_units = _check_int("n_units", n_units, low=1, allow_none=True)
    n_components = _check_int("n_components", n_components, low=1, allow_none=True)
    if solver == "randomized" and n_components is None:
        raise ValueError("solver='randomized' computes the leading components only; give "
                         "n_components, e.g. n_components=100, or use solver='full'.")
    layers = _layers(X, model=model, layer=layer, filters=filters)
    entropy = _seed_entropy(seed)
    for layer_ in layers:
        rng = _layer_rng(entropy, layer_.info)
        columns = None
        if n_units is not None and n_units < layer_.n_units:
            columns = np.sort(rng.choice(layer_.n_units, size=n_units, replace=False))
        Xc = layer_.read(columns)
        Xc -= Xc.mean(axis=0)
        n, p = Xc.shape
        rank = min(n, p)
        used = solver
        if solver == "auto":
            small = max(n, p) <= 500 or n_components is None or n_components >= 0.8 * rank
            used = "full" if small else "randomized"
        total = float(np.einsum("ij,ij->", Xc, Xc) / (n - 1))
        if total == 0:
            warnings.warn(f"Every analysed unit of {layer_.where} is constant (zero "
                          "variance); its explained variance ratios are NaN.", UserWarning,
                          stacklevel=3)
        if used == "full":
            ev = _full_spectrum(Xc)
            if n_components is not None:
                ev = ev[:n_components]
        else:
            ev = _randomized_spectrum(Xc, min(n_components, rank), rng)
        log.info("PCA of %s: %d stimuli x %d units, %s solver", layer_.where, n, p, used)
        meta = {"n_stimuli": n, "n_units": layer_.n_units, "n_units_used": p,
                "solver": used, "seed": _seed_column(seed)}
        yield layer_, (ev, total), meta


def _full_spectrum(Xc: np.ndarray) -> np.ndarray:
    """All min(n, p) covariance eigenvalues, largest first, from the smaller Gram matrix."""
    n, p = Xc.shape
    gram = Xc @ Xc.T if n <= p else Xc.T @ Xc
    ev = np.linalg.eigvalsh(gram)[::-1] / (n - 1)
    return np.clip(ev, 0.0, None)


def _randomized_spectrum(Xc: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.utils.extmath import randomized_svd

    _, s, _ = randomized_svd(Xc, k, n_oversamples=max(10, k // 2), n_iter=7,
                             random_state=int(rng.integers(2**31 - 1)))
    return s ** 2 / (len(Xc) - 1)
