"""The Mantel test: is the similarity of two RDMs larger than chance?

:func:`mantel` permutes the stimulus labels of one RDM and recomputes the
comparison for each permutation (Mantel, 1967; Kriegeskorte et al., 2008);
:func:`pairwise_mantel` runs it for every pair of two collections of RDMs and
returns a tidy table with corrected p-values. :class:`MantelResult` keeps the
null distribution next to the p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_option, check_random_state
from ..rdm import RDM
from ._common import _check_count, _collection, _Comparator, _readonly
from .corrections import _check_correction, correct_pvalues

# How each alternative turns the two one-sided p-values into one.
_ALTERNATIVES = {
    "greater": lambda greater, less: greater,
    "less": lambda greater, less: less,
    "two-sided": lambda greater, less: min(1.0, 2 * min(greater, less)),
}

@dataclass(frozen=True, eq=False)
class MantelResult:
    """Result of :func:`mantel`.

    Attributes
    ----------
    statistic : float
        The comparison of the two RDMs as given (e.g. Spearman's rho).
    pvalue : float
        ``(b + 1) / (n_permutations + 1)``, ``b`` the permutations at least as
        extreme as ``statistic`` in the direction of ``alternative``.
    null_distribution : ndarray of shape (n_permutations,)
        The statistic after each permutation of the stimulus labels, read-only.
    n_permutations : int
    method : str
        The comparison method.
    alternative : {"greater", "less", "two-sided"}
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray
    n_permutations: int
    method: str
    alternative: str

    def __post_init__(self):
        object.__setattr__(self, "null_distribution", _readonly(self.null_distribution))

    def __repr__(self):
        return (f"MantelResult(statistic={self.statistic:.4g}, pvalue={self.pvalue:.4g}, "
                f"method={self.method!r}, n_permutations={self.n_permutations})")


def _as_square(x, name) -> tuple[np.ndarray, tuple | None]:
    """An RDM or a square symmetric array -> (float64 matrix, stimulus ids or None)."""
    if isinstance(x, RDM):
        return np.asarray(x.matrix, dtype=np.float64), x.stimulus_ids
    m = np.asarray(x, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be an RDM or a square matrix of shape (n_stimuli, "
                         f"n_stimuli), got an array of shape {m.shape}.")
    if not np.isfinite(m).all():
        raise ValueError(f"{name} holds NaN or infinity; a Mantel test needs every "
                         "dissimilarity.")
    if not np.allclose(m, m.T, rtol=1e-6, atol=1e-6 * max(np.abs(m).max(), 1e-300)):
        raise ValueError(f"{name} is not symmetric; a dissimilarity matrix must be (use "
                         "(m + m.T) / 2 if the asymmetry is rounding).")
    return m, None


def _check_pair(a, b):
    A, ids_a = _as_square(a, "a")
    B, ids_b = _as_square(b, "b")
    if A.shape != B.shape:
        raise ValueError(f"a and b must be over the same stimuli; got {A.shape[0]} and "
                         f"{B.shape[0]} stimuli.")
    if ids_a is not None and ids_b is not None and ids_a != ids_b:
        if set(ids_a) == set(ids_b):
            raise ValueError("a and b hold the same stimuli in another order; reorder with "
                             "b.subset(a.stimulus_ids).")
        raise ValueError("a and b are over different stimuli; restrict both to the shared "
                         "ids with rdm.subset(ids).")
    if len(A) < 3:
        raise ValueError(f"A Mantel test needs at least 3 stimuli, got {len(A)}.")
    return A, B



def _permutation_pvalue(observed, null, alternative):
    # Values equal to the observed one up to rounding count as "at least as extreme"
    # (as in scipy.stats.permutation_test).
    gamma = np.abs(observed) * 1e-12 + 1e-15
    n = len(null)
    greater = (np.sum(null >= observed - gamma) + 1) / (n + 1)
    less = (np.sum(null <= observed + gamma) + 1) / (n + 1)
    return float(_ALTERNATIVES[alternative](greater, less))


def mantel(a, b, *, method: str = "spearman", n_permutations: int = 10_000,
           alternative: str = "greater", seed=None) -> MantelResult:
    """Mantel test: is the similarity of two RDMs larger than chance?

    The stimulus labels of ``b`` are permuted (rows and columns together), the
    comparison is recomputed for each permutation, and the p-value counts the
    permutations that match the observed comparison at least as well.

    Parameters
    ----------
    a, b : RDM or array-like of shape (n_stimuli, n_stimuli)
        RDMs over the same stimuli in the same order (square symmetric
        matrices; for arrays the diagonal is ignored). At least 3 stimuli.
    method : str, default="spearman"
        A registered RDM comparison method of :func:`deeprsa.compare.compare_rdms`
        (``spearman``, ``pearson``, ``kendall_tau_a``, ...).
    n_permutations : int, default=10_000
        Random permutations of the stimulus labels of ``b``.
    alternative : {"greater", "less", "two-sided"}, default="greater"
        ``"greater"`` tests for a positive relation (the usual RSA question).
        ``"two-sided"`` doubles the smaller one-sided p-value (capped at 1).
    seed : None, int or numpy.random.Generator, default=None
        Seeds the random generator: an int gives the same result on every run,
        a Generator is used (and advanced) as is, None draws fresh entropy.

    Returns
    -------
    MantelResult
        ``statistic``, ``pvalue = (b + 1) / (n_permutations + 1)`` and the
        ``null_distribution``.

    Raises
    ------
    ValueError
        If the inputs are not square, symmetric and finite, are over different
        stimuli or fewer than 3, or if ``method``, ``n_permutations`` or
        ``alternative`` is invalid.

    See Also
    --------
    pairwise_mantel : Mantel tests of every pair of two collections of RDMs.
    deeprsa.compare.compare_rdms : The comparison without a test.

    Notes
    -----
    The entries of an RDM are not independent (each stimulus appears in
    ``n_stimuli - 1`` of them), so permuting the entries would understate the
    null variance; permuting stimulus labels keeps that dependence [1]_, [2]_.
    Counting the observed labelling as one permutation gives a valid p-value
    that is never 0 [3]_.

    References
    ----------
    .. [1] Mantel, N. (1967). The detection of disease clustering and a
       generalized regression approach. Cancer Research, 27(2), 209-220.
    .. [2] Kriegeskorte, N., Mur, M., & Bandettini, P. (2008). Representational
       similarity analysis - connecting the branches of systems neuroscience.
       Front. Syst. Neurosci. 2:4.
    .. [3] Phipson, B., & Smyth, G. K. (2010). Permutation p-values should never
       be zero. Stat. Appl. Genet. Mol. Biol., 9(1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((12, 5))
    >>> a = np.linalg.norm(X[:, None] - X[None], axis=-1)
    >>> b = a + rng.uniform(0, 0.5, a.shape)
    >>> result = mantel(a, (b + b.T) / 2, n_permutations=999, seed=0)
    >>> round(result.statistic, 3), result.pvalue
    (0.99, 0.001)
    """
    A, B = _check_pair(a, b)
    check_option("alternative", alternative, _ALTERNATIVES)
    n_permutations = _check_count("n_permutations", n_permutations)
    rng = check_random_state(seed)
    comparator = _Comparator(method)
    perms = rng.permuted(np.tile(np.arange(len(A)), (n_permutations, 1)), axis=1)
    # row 0: the observed labelling, computed the same way as the null
    values = comparator.permuted(A, B, np.vstack([np.arange(len(A)), perms]))
    observed, null = float(values[0]), values[1:]
    return MantelResult(observed, _permutation_pvalue(observed, null, alternative), null,
                        n_permutations, method, alternative)



def pairwise_mantel(a, b=None, *, method: str = "spearman", n_permutations: int = 10_000,
                    alternative: str = "greater", correction: str = "fdr_bh",
                    seed=None):
    """Mantel tests of every RDM in ``a`` against every RDM in ``b`` (or pairs within ``a``).

    Parameters
    ----------
    a : RDM, RDMs or list of RDM
    b : RDM, RDMs or list of RDM, optional
        The second collection; None tests each unordered pair of ``a`` once.
    method, n_permutations, alternative
        As in :func:`mantel`.
    correction : str, default="fdr_bh"
        Correction over all tests in the table, a registered name (see
        :func:`list_corrections` and :func:`correct_pvalues`). ``"none"``
        leaves ``pvalue_corrected`` and ``correction`` out. None is a
        deprecated alias of ``"none"``.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the random generator: an int gives the same result on every run,
        a Generator is used (and advanced) as is, None draws fresh entropy.
        Each pair gets its own stream spawned from it, so a pair's p-value does
        not depend on which other pairs are in the table.

    Returns
    -------
    pandas.DataFrame
        One row per pair: the metadata columns of each RDM with suffixes
        ``_a`` and ``_b``, ``index_a``, ``index_b``, ``method``, ``statistic``,
        ``pvalue``, ``pvalue_corrected``, ``correction``, ``alternative`` and
        ``n_permutations``.

    References
    ----------
    .. [1] Mantel, N. (1967). The detection of disease clustering and a
       generalized regression approach. Cancer Research, 27(2), 209-220.
    .. [2] Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery
       rate. J. R. Stat. Soc. B, 57(1), 289-300.
    """
    import pandas as pd

    rdms_a = _collection(a, "a")
    rdms_b = rdms_a if b is None else _collection(b, "b")
    correction = _check_correction(correction)
    if b is None:
        pairs = [(i, j) for i in range(len(rdms_a)) for j in range(i + 1, len(rdms_a))]
        if not pairs:
            raise ValueError("pairwise_mantel with one collection needs at least 2 RDMs, "
                             "got 1; pass b= to test against another RDM.")
    else:
        pairs = [(i, j) for i in range(len(rdms_a)) for j in range(len(rdms_b))]
    rngs = check_random_state(seed).spawn(len(pairs))
    rows = []
    meta_a, meta_b = rdms_a.metadata, rdms_b.metadata
    for (i, j), rng in zip(pairs, rngs, strict=True):
        result = mantel(rdms_a[i], rdms_b[j], method=method, n_permutations=n_permutations,
                        alternative=alternative, seed=rng)
        row = {f"{c}_a": meta_a[c].iloc[i] for c in meta_a.columns}
        row.update({f"{c}_b": meta_b[c].iloc[j] for c in meta_b.columns})
        row.update(index_a=i, index_b=j, method=method, statistic=result.statistic,
                   pvalue=result.pvalue, alternative=alternative,
                   n_permutations=n_permutations)
        rows.append(row)
    table = pd.DataFrame(rows)
    if correction != "none":
        table["pvalue_corrected"] = correct_pvalues(table["pvalue"].to_numpy(),
                                                    method=correction)
        table["correction"] = correction
    return table

