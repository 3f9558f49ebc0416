"""Noise ceiling: how well can any model match RDMs from several network seeds?

:func:`noise_ceiling` compares each RDM with the pool of the others (the lower
bound) and with the pool of all of them (the upper bound), as rsatoolbox does
(Nili et al., 2014). How RDMs are pooled under each comparison method is a
table of functions, ``_POOLING``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_option
from ._common import _collection, _readonly


def _rank_rows(V):
    from scipy.stats import rankdata

    return rankdata(V, axis=1)


def _zscore_rows(V):
    V = V - V.mean(axis=1, keepdims=True)
    return V / V.std(axis=1, keepdims=True)


def _rms_rows(V):
    return V / np.sqrt(np.mean(V ** 2, axis=1, keepdims=True))


# How RDMs are pooled into the best-fitting average under each comparison method
# (rsatoolbox's pool_rdm): the mean of what the method compares.
_POOLING = {"spearman": _rank_rows, "rho_a": _rank_rows, "kendall_tau_a": _rank_rows,
            "kendall_tau_b": _rank_rows, "pearson": _zscore_rows, "cosine": _rms_rows,
            "corr_cov": _zscore_rows, "cosine_cov": _rms_rows}


@dataclass(frozen=True, eq=False)
class NoiseCeilingResult:
    """Result of :func:`noise_ceiling`.

    Attributes
    ----------
    lower, upper : float
        Mean over RDMs of the leave-one-out and the grand-mean comparisons.
    lower_each, upper_each : ndarray of shape (n_rdms,)
        The comparison of each RDM with the pooled other RDMs (lower) and
        with the pool of all of them (upper), read-only.
    method : str
    """

    lower: float
    upper: float
    lower_each: np.ndarray
    upper_each: np.ndarray
    method: str

    def __post_init__(self):
        object.__setattr__(self, "lower_each", _readonly(self.lower_each))
        object.__setattr__(self, "upper_each", _readonly(self.upper_each))

    def __repr__(self):
        return (f"NoiseCeilingResult(lower={self.lower:.4g}, upper={self.upper:.4g}, "
                f"method={self.method!r}, n_rdms={len(self.lower_each)})")


def noise_ceiling(rdms, *, method: str = "spearman") -> NoiseCeilingResult:
    """Noise ceiling of RDMs from several network seeds (or subjects).

    The lower bound compares each RDM with the pool of the others (leave one
    out); the upper bound compares each RDM with the pool of all of them
    (including itself). The true model's mean comparison with the RDMs is
    expected between the two [1]_.

    Parameters
    ----------
    rdms : RDMs or list of RDM
        At least 2 RDMs over the same stimuli.
    method : str, default="spearman"
        ``spearman``, ``rho_a``, ``kendall_tau_a``, ``kendall_tau_b``
        (pooled as the mean rank), ``pearson`` and ``corr_cov`` (mean
        z-score) or ``cosine`` and ``cosine_cov`` (mean after dividing by the
        root mean square), as rsatoolbox's ``pool_rdm``.

    Returns
    -------
    NoiseCeilingResult
        ``lower``, ``upper`` and the per-RDM values.

    Raises
    ------
    ValueError
        If fewer than 2 RDMs are given or ``method`` has no pooling rule.

    Notes
    -----
    Equals ``rsatoolbox.inference.boot_noise_ceiling`` with the matching
    rsatoolbox method (``corr`` for ``pearson``, ``tau-a`` for
    ``kendall_tau_a``, ...).

    References
    ----------
    .. [1] Nili, H., Wingfield, C., Walther, A., Su, L., Marslen-Wilson, W., &
       Kriegeskorte, N. (2014). A toolbox for representational similarity
       analysis. PLoS Comput. Biol., 10(4), e1003553.

    Examples
    --------
    >>> from deeprsa.rdm import compute_rdm
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.standard_normal((15, 4))
    >>> seeds = [compute_rdm(shared + 0.5 * rng.standard_normal((15, 4))) for _ in range(5)]
    >>> result = noise_ceiling(seeds)
    >>> bool(result.lower < result.upper)
    True
    """
    from ..compare import compare_rdms

    rdms = _collection(rdms, "rdms")
    if len(rdms) < 2:
        raise ValueError(f"A noise ceiling needs RDMs from at least 2 seeds, got {len(rdms)}.")
    pool = _POOLING[check_option("method", method, _POOLING)]
    V = np.asarray(rdms.vectors(), dtype=np.float64)
    pooled = pool(V)
    n = len(V)
    total = pooled.sum(axis=0)
    grand = total / n
    loo = (total[None] - pooled) / (n - 1)
    upper = np.array([compare_rdms(grand, V[i], method=method).matrix[0, 0] for i in range(n)])
    lower = np.array([compare_rdms(loo[i], V[i], method=method).matrix[0, 0]
                      for i in range(n)])
    return NoiseCeilingResult(float(lower.mean()), float(upper.mean()), lower, upper, method)
