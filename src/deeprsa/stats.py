"""Statistics for RDM comparisons: permutation tests, bootstrap intervals, noise ceilings.

- :func:`mantel` tests one RDM comparison by permuting the stimulus labels of one RDM.
- :func:`pairwise_mantel` runs it for every pair of two collections (a tidy table with
  corrected p-values).
- :func:`bootstrap_ci` is a generic bootstrap: ``statistic(indices) -> float``.
- :func:`bootstrap_rdm_comparison` gives RDM comparisons a confidence interval by
  resampling stimuli, network seeds, or both (with rsatoolbox's variance correction).
- :func:`noise_ceiling` bounds how well any model can match RDMs from several seeds.
- :func:`correct_pvalues` applies FDR or family-wise corrections.

Every random step takes ``seed`` (None, an int or a ``numpy.random.Generator``), and every
result keeps its raw material (null or bootstrap distribution) next to the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_option, check_random_state
from .rdm import RDM, RDMs

__all__ = ["BootstrapResult", "MantelResult", "bootstrap_ci", "correct_pvalues", "mantel",
           "pairwise_mantel"]

_ALTERNATIVES = ("greater", "less", "two-sided")
_INTERVALS = ("percentile", "basic", "normal")
# bytes of gathered permuted entries per block of the Mantel null
_BLOCK_BYTES = 32 << 20


def _readonly(x) -> np.ndarray:
    x = np.array(x, dtype=np.float64)
    x.flags.writeable = False
    return x


# ============================================================================ Mantel


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
        return np.asarray(x.matrix(), dtype=np.float64), x.stimulus_ids
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


def _check_count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


class _Comparator:
    """The registered comparison method, prepared for many permutations of one RDM.

    Correlation-type methods of :mod:`deeprsa.compare` turn an RDM vector into a
    prepared vector (ranks, centred values) and a scale whose product gives the
    statistic; both commute with a permutation of the entries, so ``b`` is
    prepared once and every permutation only gathers entries. Other methods
    (Kendall's tau) prepare each permuted vector anew.
    """

    def __init__(self, method, n):
        self.method, self.n = method, n
        self.iu = np.triu_indices(n, k=1)
        try:
            from . import compare
        except ImportError:  # pragma: no cover - compare.py ships with deeprsa
            compare = None
        if compare is None:  # pragma: no cover
            check_option("method", method, ("pearson", "spearman"))
            self.spec, self.params = None, {}
        else:
            self.spec, self.params = compare._check_method(method, None, "rdm")

    def values(self, A, B, perms):
        """Statistic for each row of ``perms`` (n_perm, n): ``B`` relabelled by it."""
        i, j = self.iu
        if self.spec is None:  # pragma: no cover - scipy fallback
            from scipy.stats import pearsonr, spearmanr

            func = spearmanr if self.method == "spearman" else pearsonr
            a = A[i, j]
            return np.array([func(a, B[p[i], p[j]])[0] for p in perms])
        if self.spec.dot:
            pa, scale_a = self.spec.prepare(A[i, j], **self.params)
            pb, scale_b = self.spec.prepare(B[i, j], **self.params)
            square = np.zeros((self.n, self.n))
            square[i, j] = pb
            square[j, i] = pb
            pa = np.asarray(pa, dtype=np.float64)
            out = np.empty(len(perms))
            block = max(1, _BLOCK_BYTES // (8 * max(len(pa), 1)))
            for s in range(0, len(perms), block):
                p = perms[s:s + block]
                out[s:s + block] = square[p[:, i], p[:, j]] @ pa
            return np.clip(out * (scale_a * scale_b), -1.0, 1.0)
        prepared_a = self.spec.prepare(A[i, j], **self.params)
        return np.clip([self.spec.pair(prepared_a, self.spec.prepare(B[p[i], p[j]],
                                                                     **self.params),
                                       **self.params) for p in perms], -1.0, 1.0)


def _permutation_pvalue(observed, null, alternative):
    # Values equal to the observed one up to rounding count as "at least as extreme"
    # (as in scipy.stats.permutation_test).
    gamma = np.abs(observed) * 1e-12 + 1e-15
    n = len(null)
    greater = (np.sum(null >= observed - gamma) + 1) / (n + 1)
    less = (np.sum(null <= observed + gamma) + 1) / (n + 1)
    if alternative == "greater":
        return float(greater)
    if alternative == "less":
        return float(less)
    return float(min(1.0, 2 * min(greater, less)))


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
    comparator = _Comparator(method, len(A))
    perms = rng.permuted(np.tile(np.arange(len(A)), (n_permutations, 1)), axis=1)
    observed = float(comparator.values(A, B, np.arange(len(A))[None])[0])
    null = comparator.values(A, B, perms)
    return MantelResult(observed, _permutation_pvalue(observed, null, alternative), null,
                        n_permutations, method, alternative)


def _collection(x, name):
    if isinstance(x, RDM):
        return RDMs([x])
    if isinstance(x, RDMs):
        return x
    if isinstance(x, (list, tuple)):
        return RDMs(x)
    raise TypeError(f"{name} must be an RDM, RDMs or a list of RDM, got {type(x).__name__}.")


def pairwise_mantel(a, b=None, *, method: str = "spearman", n_permutations: int = 10_000,
                    alternative: str = "greater", correction: str | None = "fdr_bh",
                    seed=None):
    """Mantel tests of every RDM in ``a`` against every RDM in ``b`` (or pairs within ``a``).

    Parameters
    ----------
    a : RDM, RDMs or list of RDM
    b : RDM, RDMs or list of RDM, optional
        The second collection; None tests each unordered pair of ``a`` once.
    method, n_permutations, alternative
        As in :func:`mantel`.
    correction : str or None, default="fdr_bh"
        Correction over all tests in the table; see :func:`correct_pvalues`.
        None leaves ``pvalue_corrected`` out.
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
    if correction is not None:
        check_option("correction", correction, _CORRECTIONS)
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
    if correction is not None:
        table["pvalue_corrected"] = correct_pvalues(table["pvalue"].to_numpy(),
                                                    method=correction)
        table["correction"] = correction
    return table


# ============================================================================ corrections

_CORRECTIONS = ("bonferroni", "fdr_bh", "fdr_by", "holm")


def correct_pvalues(pvalues, method: str = "fdr_bh") -> np.ndarray:
    """Adjust p-values for multiple comparisons.

    Parameters
    ----------
    pvalues : array-like
        p-values in [0, 1], any shape. NaN entries stay NaN and do not count
        as tests.
    method : {"fdr_bh", "fdr_by", "bonferroni", "holm"}, default="fdr_bh"
        ``"fdr_bh"``: Benjamini-Hochberg adjusted p-values (false discovery
        rate) [1]_; ``"fdr_by"``: Benjamini-Yekutieli, valid under any
        dependence [2]_; ``"bonferroni"``: ``min(1, m p)`` [3]_; ``"holm"``:
        Holm's step-down family-wise correction [4]_.

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
        raise ValueError(f"p-values must lie in [0, 1]; got {bad!r}.")
    out = np.full_like(p, np.nan)
    q = p[valid]
    m = len(q)
    if m:
        order = np.argsort(q, kind="stable")
        ranked = q[order]
        if method == "bonferroni":
            adjusted = np.minimum(1.0, m * q)
        elif method == "holm":
            steps = np.maximum.accumulate((m - np.arange(m)) * ranked)
            adjusted = np.empty(m)
            adjusted[order] = np.minimum(1.0, steps)
        else:
            factor = m / np.arange(1, m + 1)
            if method == "fdr_by":
                factor = factor * np.sum(1.0 / np.arange(1, m + 1))
            steps = np.minimum.accumulate((factor * ranked)[::-1])[::-1]
            adjusted = np.empty(m)
            adjusted[order] = np.minimum(1.0, steps)
        out[valid] = adjusted
    return out.reshape(shape)


# ============================================================================ bootstrap


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Result of :func:`bootstrap_ci` and of each row of :func:`bootstrap_rdm_comparison`.

    Attributes
    ----------
    estimate : float
        The statistic on the original data (all indices, in order).
    ci_low, ci_high : float
        Bounds of the confidence interval.
    distribution : ndarray of shape (n_resamples,)
        The statistic on each resample, read-only; NaN where a resample left
        it undefined (those are left out of the interval).
    standard_error : float
        Standard deviation of the finite bootstrap values (ddof=1), times any
        small-sample or dual-bootstrap correction noted in ``interval``.
    confidence : float
    n_resamples : int
    interval : str
        How the interval was formed (``"percentile"``, ``"basic"``, ``"normal"``
        or ``"t"``).
    """

    estimate: float
    ci_low: float
    ci_high: float
    distribution: np.ndarray
    standard_error: float
    confidence: float
    n_resamples: int
    interval: str

    def __post_init__(self):
        object.__setattr__(self, "distribution", _readonly(self.distribution))

    def __repr__(self):
        return (f"BootstrapResult(estimate={self.estimate:.4g}, ci=[{self.ci_low:.4g}, "
                f"{self.ci_high:.4g}], confidence={self.confidence}, "
                f"n_resamples={self.n_resamples})")


def _check_confidence(confidence):
    if not isinstance(confidence, (float, int, np.floating)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number strictly between 0 and 1, e.g. 0.95; "
                         f"got {confidence!r}.")
    return float(confidence)


def _interval(estimate, distribution, confidence, interval, *, se=None, dof=None):
    """(low, high) of a ``confidence`` interval from finite bootstrap values."""
    finite = distribution[np.isfinite(distribution)]
    alpha = (1 - confidence) / 2
    if interval in ("normal", "t"):
        from scipy import stats

        if se is None:
            se = np.std(finite, ddof=1) if len(finite) > 1 else np.nan
        crit = stats.norm.ppf(1 - alpha) if interval == "normal" else \
            stats.t.ppf(1 - alpha, dof)
        return estimate - crit * se, estimate + crit * se
    if len(finite) == 0:
        return np.nan, np.nan
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    if interval == "basic":
        return 2 * estimate - hi, 2 * estimate - lo
    return lo, hi


def bootstrap_ci(statistic, data_or_n, *, n_resamples: int = 1000, confidence: float = 0.95,
                 interval: str = "percentile", seed=None) -> BootstrapResult:
    """Bootstrap confidence interval of any statistic of resampled units.

    Parameters
    ----------
    statistic : callable
        ``statistic(indices) -> float``: the statistic of the units at
        ``indices`` (an int array of length ``n``, with repeats). It is called
        once with ``np.arange(n)`` for the estimate, then once per resample.
        NaN marks a resample on which it is undefined.
    data_or_n : int or sequence
        The number of units ``n`` to resample (stimuli, seeds, ...), or a
        sequence of them whose length is ``n``.
    n_resamples : int, default=1000
        Bootstrap resamples (each draws ``n`` indices with replacement).
    confidence : float, default=0.95
        Coverage of the interval.
    interval : {"percentile", "basic", "normal"}, default="percentile"
        ``"percentile"``: quantiles of the bootstrap distribution;
        ``"basic"``: those quantiles reflected about the estimate;
        ``"normal"``: estimate +- z * bootstrap standard error.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the random generator: an int gives the same result on every run,
        a Generator is used (and advanced) as is, None draws fresh entropy.

    Returns
    -------
    BootstrapResult
        ``estimate``, ``ci_low``, ``ci_high``, ``distribution``,
        ``standard_error``, ...

    Raises
    ------
    ValueError
        If ``n < 2``, ``n_resamples < 2``, ``confidence`` is not in (0, 1),
        ``interval`` is unknown, or ``statistic`` does not return a number.

    Notes
    -----
    Resample ``r`` uses the indices ``rng.integers(0, n, size=n)`` drawn in
    order from the generator, so a given seed reproduces every resample.

    References
    ----------
    .. [1] Efron, B., & Tibshirani, R. J. (1993). An Introduction to the
       Bootstrap. Chapman & Hall/CRC.

    Examples
    --------
    >>> x = np.arange(20.0)
    >>> result = bootstrap_ci(lambda idx: x[idx].mean(), x, n_resamples=500, seed=0)
    >>> result.estimate, bool(result.ci_low < 9.5 < result.ci_high)
    (9.5, True)
    """
    n = _n_units(data_or_n)
    n_resamples = _check_count("n_resamples", n_resamples, 2)
    confidence = _check_confidence(confidence)
    check_option("interval", interval, _INTERVALS)
    rng = check_random_state(seed)
    estimate = _call(statistic, np.arange(n))
    distribution = np.array([_call(statistic, rng.integers(0, n, size=n))
                             for _ in range(n_resamples)])
    finite = distribution[np.isfinite(distribution)]
    se = float(np.std(finite, ddof=1)) if len(finite) > 1 else np.nan
    low, high = _interval(estimate, distribution, confidence, interval, se=se)
    return BootstrapResult(estimate, float(low), float(high), distribution, se, confidence,
                           n_resamples, interval)


def _n_units(data_or_n):
    if isinstance(data_or_n, (int, np.integer)) and not isinstance(data_or_n, bool):
        n = int(data_or_n)
    elif hasattr(data_or_n, "__len__"):
        n = len(data_or_n)
    else:
        raise ValueError(f"data_or_n must be the number of units to resample or a sequence "
                         f"of them, got {type(data_or_n).__name__}.")
    if n < 2:
        raise ValueError(f"A bootstrap needs at least 2 units to resample, got {n}.")
    return n


def _call(statistic, indices) -> float:
    value = statistic(indices)
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"statistic must return one number, got {type(value).__name__} "
                         f"{value!r:.60}.") from err
