"""Corrections of p-values for multiple comparisons, in a registry.

:func:`correct_pvalues` adjusts p-values with a registered correction:
``fdr_bh`` and ``fdr_by`` control the false discovery rate, ``bonferroni`` and
``holm`` the family-wise error rate, and ``none`` leaves them as they are, so
that "no correction" is spelled ``correction="none"`` everywhere.
:func:`register_correction` adds one; :func:`list_corrections` and
:func:`describe_corrections` list them.
"""

from __future__ import annotations

import numpy as np

from .._deprecation import keyword_only
from .._validation import Registry, check_option
from ._common import _deprecated_value

_CORRECTIONS = Registry("correction")


def register_correction(name: str, func=None):
    """Register a correction ``func(pvalues) -> adjusted`` under ``name``.

    ``pvalues`` is a 1-D float array of at least one p-value, each in [0, 1]
    (NaN entries are removed beforehand); ``func`` returns the adjusted
    p-values in the same order. The first line of its docstring is the
    description shown by :func:`describe_corrections`. :func:`correct_pvalues`
    and every ``correction=`` option accept the name at once. Use it as a
    decorator, or call it with ``func``.

    Raises
    ------
    ValueError
        If a correction called ``name`` already exists.
    TypeError
        If ``func`` is not callable.

    Examples
    --------
    >>> @register_correction("sidak_demo")
    ... def sidak(p):
    ...     '''Sidak: 1 - (1 - p)^m, family-wise error rate of independent tests.'''
    ...     return 1 - (1 - p) ** len(p)
    >>> correct_pvalues([0.01, 0.02], method="sidak_demo").round(4)
    array([0.0199, 0.0396])
    >>> _ = _CORRECTIONS.pop("sidak_demo")  # leave the registry as it was
    """
    return _CORRECTIONS.register_function(name, func, by="register_correction")


def list_corrections() -> list[str]:
    """Names of all registered corrections, sorted.

    Examples
    --------
    >>> list_corrections()
    ['bonferroni', 'fdr_bh', 'fdr_by', 'holm', 'none']
    """
    return sorted(_CORRECTIONS)


def describe_corrections() -> dict[str, str]:
    """Name -> description (the first docstring line) of every registered correction.

    Examples
    --------
    >>> describe_corrections()["none"]
    'No correction: the p-values as given.'
    """
    return _CORRECTIONS.describe()


def _check_correction(correction):
    """The registered name of ``correction``; None is a deprecated alias of ``"none"``."""
    if correction is None:
        return _deprecated_value("correction", None, "none")
    return check_option("correction", correction, _CORRECTIONS)


@register_correction("none")
def _no_correction(p):
    """No correction: the p-values as given."""
    return p.copy()


@register_correction("bonferroni")
def _bonferroni(p):
    """Bonferroni: min(1, m p), controls the family-wise error rate."""
    return np.minimum(1.0, len(p) * p)


@register_correction("holm")
def _holm(p):
    """Holm's step-down correction, controls the family-wise error rate."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    steps = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, steps)
    return adjusted


@register_correction("fdr_bh")
def _fdr_bh(p):
    """Benjamini-Hochberg: false discovery rate of independent or positively dependent tests."""
    m = len(p)
    return _step_up(p, m / np.arange(1, m + 1))


@register_correction("fdr_by")
def _fdr_by(p):
    """Benjamini-Yekutieli: false discovery rate under any dependence."""
    m = len(p)
    return _step_up(p, m / np.arange(1, m + 1) * np.sum(1.0 / np.arange(1, m + 1)))


def _step_up(p, factor):
    """Step-up adjustment: running minimum of ``factor * p`` from the largest p-value down."""
    order = np.argsort(p, kind="stable")
    steps = np.minimum.accumulate((factor * p[order])[::-1])[::-1]
    adjusted = np.empty(len(p))
    adjusted[order] = np.minimum(1.0, steps)
    return adjusted


@keyword_only("method")
def correct_pvalues(pvalues, *, method: str = "fdr_bh") -> np.ndarray:
    """Adjust p-values for multiple comparisons.

    Parameters
    ----------
    pvalues : array-like
        p-values in [0, 1], any shape. NaN entries stay NaN and do not count
        as tests.
    method : str, default="fdr_bh"
        A registered correction; see :func:`list_corrections`.
        ``"fdr_bh"``: Benjamini-Hochberg adjusted p-values (false discovery
        rate) [1]_; ``"fdr_by"``: Benjamini-Yekutieli, valid under any
        dependence [2]_; ``"bonferroni"``: ``min(1, m p)`` [3]_; ``"holm"``:
        Holm's step-down family-wise correction [4]_; ``"none"``: the
        p-values unchanged.

    Returns
    -------
    ndarray
        Adjusted p-values, same shape as ``pvalues``; reject where
        ``adjusted <= alpha``.

    Raises
    ------
    ValueError
        If ``method`` is unknown or a p-value lies outside [0, 1].

    Notes
    -----
    ``"fdr_bh"`` and ``"fdr_by"`` equal ``scipy.stats.false_discovery_control``
    with ``method="bh"`` / ``"by"``.

    References
    ----------
    .. [1] Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery
       rate: a practical and powerful approach to multiple testing. J. R. Stat.
       Soc. B, 57(1), 289-300.
    .. [2] Benjamini, Y., & Yekutieli, D. (2001). The control of the false
       discovery rate in multiple testing under dependency. Ann. Stat., 29(4).
    .. [3] Dunn, O. J. (1961). Multiple comparisons among means. J. Am. Stat.
       Assoc., 56(293), 52-64.
    .. [4] Holm, S. (1979). A simple sequentially rejective multiple test
       procedure. Scand. J. Stat., 6(2), 65-70.

    Examples
    --------
    >>> correct_pvalues([0.01, 0.02, 0.03, 0.5]).round(3)
    array([0.04, 0.04, 0.04, 0.5 ])
    >>> correct_pvalues([0.01, 0.02, 0.03, 0.5], method="bonferroni").round(3)
    array([0.04, 0.08, 0.12, 1.  ])
    """
    check_option("method", method, _CORRECTIONS)
    p = np.array(pvalues, dtype=np.float64)
    shape = p.shape
    p = p.ravel()
    valid = ~np.isnan(p)
    if np.any((p[valid] < 0) | (p[valid] > 1)):
        bad = p[valid][(p[valid] < 0) | (p[valid] > 1)][0]
        raise ValueError(f"p-values must lie in [0, 1]; got {float(bad)!r}.")
    out = np.full_like(p, np.nan)
    if valid.any():
        out[valid] = _CORRECTIONS[method](p[valid])
    return out.reshape(shape)
