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
from typing import Any

import numpy as np

from ._validation import check_option, check_random_state
from .rdm import RDM, RDMs

__all__ = ["BootstrapResult", "ComparisonBootstrapResult", "MantelResult", "NoiseCeilingResult",
           "bootstrap_ci", "bootstrap_rdm_comparison", "correct_pvalues", "mantel",
           "noise_ceiling", "pairwise_mantel"]

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
    """A registered comparison method of :mod:`deeprsa.compare`, for many small comparisons.

    Uses the registry's protocol: ``prepare(vector) -> prepared`` once per RDM,
    then ``pair(prepared_a, prepared_b)``, or for correlation-type methods
    (``dot``) a prepared vector and a scale whose products give the values.
    Ranks and centring commute with a permutation of the entries, so for a
    Mantel test ``b`` is prepared once and each permutation only gathers entries.
    """

    def __init__(self, method):
        from . import compare

        self.method = method
        self.spec, self.params = compare._check_method(method, None, "rdm")

    def _prepare(self, v):
        return self.spec.prepare(v, **self.params)

    def matrix(self, VA, VB):
        """Values for every pair of rows of ``VA`` (n_a, m) and ``VB`` (n_b, m)."""
        pa = [self._prepare(v) for v in VA]
        pb = [self._prepare(v) for v in VB]
        if self.spec.dot:
            ma = np.array([p[0] for p in pa], dtype=np.float64)
            mb = np.array([p[0] for p in pb], dtype=np.float64)
            scales = np.outer([p[1] for p in pa], [p[1] for p in pb])
            out = (ma @ mb.T) * scales
        else:
            out = np.array([[self.spec.pair(x, y, **self.params) for y in pb] for x in pa],
                           dtype=np.float64)
        return np.clip(out, -1.0, 1.0)

    def permuted(self, A, B, perms):
        """Value for each row of ``perms`` (n_perm, n): ``B`` with stimuli relabelled by it."""
        n = len(A)
        i, j = np.triu_indices(n, k=1)
        if not self.spec.dot:
            pa = self._prepare(A[i, j])
            return np.clip([self.spec.pair(pa, self._prepare(B[p[i], p[j]]), **self.params)
                            for p in perms], -1.0, 1.0)
        pa, scale_a = self._prepare(A[i, j])
        pb, scale_b = self._prepare(B[i, j])
        square = np.zeros((n, n))
        square[i, j] = pb
        square[j, i] = pb
        pa = np.asarray(pa, dtype=np.float64)
        out = np.empty(len(perms))
        block = max(1, _BLOCK_BYTES // (8 * len(pa)))
        for s in range(0, len(perms), block):
            p = perms[s:s + block]
            out[s:s + block] = square[p[:, i], p[:, j]] @ pa
        return np.clip(out * (scale_a * scale_b), -1.0, 1.0)


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
    comparator = _Comparator(method)
    perms = rng.permuted(np.tile(np.arange(len(A)), (n_permutations, 1)), axis=1)
    # row 0: the observed labelling, computed the same way as the null
    values = comparator.permuted(A, B, np.vstack([np.arange(len(A)), perms]))
    observed, null = float(values[0]), values[1:]
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
        raise ValueError(f"p-values must lie in [0, 1]; got {float(bad)!r}.")
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


# ============================================================================ RDM bootstrap

_OVER = ("stimuli", "seeds", "both")


def _matrices(x, name) -> tuple[np.ndarray, RDMs]:
    rdms = _collection(x, name)
    return np.stack([np.asarray(r.matrix(), dtype=np.float64) for r in rdms]), rdms


def _compare_mean(comparator, A, B, stimuli, seeds, per_pair):
    """Mean comparison of each RDM of ``A`` with the RDMs ``B[seeds]`` on ``stimuli``.

    Pairs of a stimulus with its own copy are left out of every comparison (listwise,
    as ``compare_rdms`` does with NaN entries).
    """
    if len(np.unique(stimuli)) < 3:
        return np.full((len(A), len(B)) if per_pair else len(A), np.nan)
    unique, counts = np.unique(seeds, return_counts=True)
    i, j = np.triu_indices(len(stimuli), k=1)
    si, sj = stimuli[i], stimuli[j]
    keep = si != sj
    si, sj = si[keep], sj[keep]
    values = comparator.matrix(A[:, si, sj], B[unique][:, si, sj])
    if per_pair:
        return values
    return values @ counts / counts.sum()


@dataclass(frozen=True, eq=False)
class ComparisonBootstrapResult:
    """Result of :func:`bootstrap_rdm_comparison`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per RDM of ``a`` (per pair with ``per_pair=True``): metadata
        columns, ``method``, ``over``, ``estimate``, ``ci_low``, ``ci_high``,
        ``standard_error``, ``confidence``, ``interval``, ``n_resamples``,
        ``n_valid`` and, when ``b`` holds several RDMs, ``noise_ceiling_lower``
        and ``noise_ceiling_upper``.
    distributions : mapping of str to ndarray of shape (n_resamples, n_rows)
        The bootstrap values per row, read-only: key ``over``; with
        ``over="both"`` also ``"seeds"`` and ``"stimuli"`` (the same draws,
        resampling one factor only), which the variance correction uses.
        NaN marks resamples with fewer than 3 distinct stimuli.
    stimulus_indices : ndarray of shape (n_resamples, n_stimuli) or None
        Stimuli drawn in each resample (None when they were not resampled).
    seed_indices : ndarray of shape (n_resamples, n_b) or None
        RDMs of ``b`` drawn in each resample (None when not resampled).
    """

    table: Any
    distributions: Any
    stimulus_indices: np.ndarray | None
    seed_indices: np.ndarray | None

    def __post_init__(self):
        from types import MappingProxyType

        object.__setattr__(self, "distributions", MappingProxyType(
            {k: _readonly(v) for k, v in self.distributions.items()}))

    def __repr__(self):
        return (f"ComparisonBootstrapResult({len(self.table)} rows, "
                f"over={self.table['over'].iloc[0]!r})")


def _variance(values, valid):
    """Column variances (ddof=1) over the valid resamples."""
    v = values[valid]
    return np.var(v, axis=0, ddof=1) if len(v) > 1 else np.full(values.shape[1:], np.nan)


def _dual_variance(v_both, v_seeds, v_stimuli, n_seeds, n_stimuli):
    """rsatoolbox's combination of the three bootstrap variances (Schuett et al., 2023)."""
    fr, fp = n_seeds / (n_seeds - 1), n_stimuli / (n_stimuli - 1)
    var = fr * v_seeds + fp * v_stimuli - fr * fp * (v_both - v_seeds - v_stimuli)
    var = np.maximum(np.maximum(var, fr * v_seeds), fp * v_stimuli)
    return np.minimum(var, v_both)


def bootstrap_rdm_comparison(a, b, *, method: str = "spearman", over: str = "stimuli",
                             n_resamples: int = 1000, confidence: float = 0.95,
                             interval: str = "t", correction: bool = True,
                             per_pair: bool = False, seed=None) -> ComparisonBootstrapResult:
    """Confidence intervals of RDM comparisons by resampling stimuli, network seeds, or both.

    Each RDM of ``a`` (a candidate: a model, a layer) is compared with the RDMs
    of ``b`` (the reference: one network trained from several seeds, or
    several subjects) and the comparisons are averaged over ``b``, as in
    rsatoolbox's model evaluation.

    Parameters
    ----------
    a : RDM, RDMs or list of RDM
        Candidate RDMs; each gets a row.
    b : RDM, RDMs or list of RDM
        Reference RDMs over the same stimuli, one per network seed.
    method : str, default="spearman"
        A registered RDM comparison method; see :func:`deeprsa.compare.list_methods`.
    over : {"stimuli", "seeds", "both"}, default="stimuli"
        What to resample. ``"stimuli"`` generalises to new stimuli from the
        same distribution, ``"seeds"`` to new networks trained from other
        seeds (needs 2 or more RDMs in ``b``), ``"both"`` to both.
    n_resamples : int, default=1000
        Bootstrap resamples.
    confidence : float, default=0.95
        Coverage of the interval.
    interval : {"t", "normal", "percentile", "basic"}, default="t"
        ``"t"`` (rsatoolbox's): estimate +- t quantile x standard error, with
        ``n - 1`` degrees of freedom (``n`` the resampled stimuli, seeds or
        the smaller of both); the only interval that uses ``correction``.
        ``"normal"`` uses the z quantile; ``"percentile"`` and ``"basic"``
        the quantiles of the bootstrap values.
    correction : bool, default=True
        With ``over="both"``, combine the variances of the dual, the seed-only
        and the stimulus-only bootstraps (drawn from the same resamples) into
        a less biased variance [2]_; otherwise the dual bootstrap's variance
        alone, which double-counts measurement noise.
    per_pair : bool, default=False
        One row per pair of ``a`` and ``b`` instead of averaging over ``b``;
        only with ``over="stimuli"``.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the random generator: an int gives the same result on every run,
        a Generator is used (and advanced) as is, None draws fresh entropy.

    Returns
    -------
    ComparisonBootstrapResult
        ``.table`` (one row per RDM of ``a``) and the bootstrap distributions.

    Raises
    ------
    ValueError
        If an option is invalid, ``b`` has a single RDM when resampling seeds,
        ``per_pair`` is combined with resampling seeds, or the RDMs are over
        different stimuli (fewer than 3).

    Notes
    -----
    Resampling stimuli duplicates some of them. The dissimilarity of a
    stimulus with its own copy is trivially 0, so those pairs are NaN and left
    out of the comparison, as rsatoolbox does; resamples with fewer than 3
    distinct stimuli are NaN. The bootstrap variance is scaled by ``n / (n - 1)``
    (its small-sample bias), also as in rsatoolbox. Each resample draws, in
    order, ``rng.integers(0, n_b, n_b)`` (when seeds are resampled), then
    ``rng.integers(0, n_stimuli, n_stimuli)`` (when stimuli are).

    References
    ----------
    .. [1] Nili, H., Wingfield, C., Walther, A., Su, L., Marslen-Wilson, W., &
       Kriegeskorte, N. (2014). A toolbox for representational similarity
       analysis. PLoS Comput. Biol., 10(4), e1003553.
    .. [2] Schuett, H. H., Kipnis, A. D., Diedrichsen, J., & Kriegeskorte, N.
       (2023). Statistical inference on representational geometries. eLife,
       12, e82566.
    .. [3] Efron, B., & Tibshirani, R. J. (1993). An Introduction to the
       Bootstrap. Chapman & Hall/CRC.

    Examples
    --------
    >>> from deeprsa.rdm import compute_rdm
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.standard_normal((15, 4))
    >>> seeds = [compute_rdm(shared + 0.5 * rng.standard_normal((15, 4))) for _ in range(4)]
    >>> result = bootstrap_rdm_comparison(seeds[0], seeds[1:], over="both",
    ...                                   n_resamples=200, seed=0)
    >>> row = result.table.iloc[0]
    >>> bool(row.ci_low < row.estimate < row.ci_high)
    True
    """
    import pandas as pd

    check_option("over", over, _OVER)
    check_option("interval", interval, _INTERVALS + ("t",))
    n_resamples = _check_count("n_resamples", n_resamples, 2)
    confidence = _check_confidence(confidence)
    A, rdms_a = _matrices(a, "a")
    B, rdms_b = _matrices(b, "b")
    if rdms_a.stimulus_ids != rdms_b.stimulus_ids:
        raise ValueError("a and b must be RDMs over the same stimuli in the same order; "
                         "reorder or restrict with rdm.subset(ids).")
    n_stim, n_b = A.shape[1], len(B)
    if n_stim < 3:
        raise ValueError(f"Comparing RDMs needs at least 3 stimuli, got {n_stim}.")
    if over != "stimuli" and n_b < 2:
        raise ValueError(f"Resampling seeds (over={over!r}) needs at least 2 RDMs in b, one "
                         f"per network seed; got {n_b}. Use over='stimuli'.")
    if per_pair and over != "stimuli":
        raise ValueError("per_pair=True keeps every RDM of b apart, so only stimuli can be "
                         f"resampled; got over={over!r}.")
    rng = check_random_state(seed)
    all_stim, all_seeds = np.arange(n_stim), np.arange(n_b)
    comparator = _Comparator(method)
    estimate = _compare_mean(comparator, A, B, all_stim, all_seeds, per_pair).ravel()

    kinds = ["both", "seeds", "stimuli"] if over == "both" else [over]
    dist = {k: np.empty((n_resamples, len(estimate))) for k in kinds}
    stim_idx = np.empty((n_resamples, n_stim), dtype=np.intp) if over != "seeds" else None
    seed_idx = np.empty((n_resamples, n_b), dtype=np.intp) if over != "stimuli" else None
    for r in range(n_resamples):
        seeds = rng.integers(0, n_b, size=n_b) if seed_idx is not None else all_seeds
        stim = rng.integers(0, n_stim, size=n_stim) if stim_idx is not None else all_stim
        if seed_idx is not None:
            seed_idx[r] = seeds
        if stim_idx is not None:
            stim_idx[r] = stim
        draws = {"both": (stim, seeds), "seeds": (all_stim, seeds),
                 "stimuli": (stim, all_seeds if over == "both" else seeds)}
        for k in kinds:
            s, d = draws[k]
            dist[k][r] = _compare_mean(comparator, A, B, s, d, per_pair).ravel()

    main = dist[over]
    valid = np.isfinite(main).all(axis=1)
    if over == "stimuli":
        n_eff = n_stim
        var = n_stim / (n_stim - 1) * _variance(main, valid)
    elif over == "seeds":
        n_eff = n_b
        var = n_b / (n_b - 1) * _variance(main, valid)
    else:
        n_eff = min(n_b, n_stim)
        if correction:
            valid = np.isfinite(dist["both"]).all(axis=1) & np.isfinite(
                dist["stimuli"]).all(axis=1)
            var = _dual_variance(*(_variance(dist[k], valid) for k in kinds), n_b, n_stim)
        else:
            var = n_eff / (n_eff - 1) * _variance(main, valid)
    se = np.sqrt(np.maximum(var, 0))
    rows = []
    meta_a, meta_b = rdms_a.metadata, rdms_b.metadata
    index_pairs = ([(i, j) for i in range(len(A)) for j in range(n_b)] if per_pair
                   else [(i, None) for i in range(len(A))])
    nc = noise_ceiling(rdms_b, method=method) if n_b > 1 and not per_pair else None
    for k, (i, j) in enumerate(index_pairs):
        low, high = _interval(estimate[k], main[valid, k], confidence, interval, se=se[k],
                              dof=n_eff - 1)
        row = {f"{c}_a": meta_a[c].iloc[i] for c in meta_a.columns}
        row["index_a"] = i
        if j is not None:
            row.update({f"{c}_b": meta_b[c].iloc[j] for c in meta_b.columns})
            row["index_b"] = j
        row.update(method=method, over=over, estimate=estimate[k], ci_low=low, ci_high=high,
                   standard_error=se[k], confidence=confidence, interval=interval,
                   n_resamples=n_resamples, n_valid=int(valid.sum()))
        if nc is not None:
            row.update(noise_ceiling_lower=nc.lower, noise_ceiling_upper=nc.upper)
        rows.append(row)
    return ComparisonBootstrapResult(pd.DataFrame(rows), dist, stim_idx, seed_idx)


# ============================================================================ noise ceiling


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
            "kendall_tau_b": _rank_rows, "pearson": _zscore_rows, "cosine": _rms_rows}


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
        (pooled as the mean rank), ``pearson`` (mean z-score) or ``cosine``
        (mean after dividing by the root mean square), as rsatoolbox's
        ``pool_rdm``.

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
    from .compare import compare_rdms

    rdms = _collection(rdms, "rdms")
    if len(rdms) < 2:
        raise ValueError(f"A noise ceiling needs RDMs from at least 2 seeds, got {len(rdms)}.")
    pool = _POOLING.get(method)
    if pool is None:
        check_option("method", method, _POOLING)
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
