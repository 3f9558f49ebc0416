"""Bootstrap confidence intervals: of any statistic, and of RDM comparisons.

:func:`bootstrap_ci` resamples units (stimuli, seeds, ...) with replacement and
recomputes ``statistic(indices)`` (Efron & Tibshirani, 1993).
:func:`bootstrap_rdm_comparison` gives the comparisons of candidate RDMs with
reference RDMs an interval by resampling stimuli, network seeds or both, with
rsatoolbox's variance correction for the dual bootstrap (Schuett et al., 2023).
Each kind of interval (``percentile``, ``basic``, ``bca``, ``normal``, ``t``) is one
function in a table; ``percentile``, ``basic`` and ``bca`` are formed as
``scipy.stats.bootstrap`` forms them (Efron & Tibshirani, 1993, 14.3 and 15.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_option, check_random_state
from ..rdm import RDMs
from ._common import _check_count, _collection, _Comparator, _deprecated_value, _readonly
from .noise_ceiling import noise_ceiling


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
        How the interval was formed (``"percentile"``, ``"basic"``, ``"bca"``,
        ``"normal"`` or ``"t"``).
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


def _interval(estimate, distribution, confidence, interval, *, se=None, dof=None,
              jackknife=None):
    """(low, high) of a ``confidence`` interval from finite bootstrap values.

    ``jackknife`` holds the leave-one-unit-out values of the statistic (``"bca"``).
    """
    finite = distribution[np.isfinite(distribution)]
    alpha = (1 - confidence) / 2
    return _INTERVALS[interval](estimate, finite, alpha,
                                {"se": se, "dof": dof, "jackknife": jackknife})


def _percentile(estimate, finite, alpha, extra):
    """Quantiles of the bootstrap values (linear interpolation, as np.quantile)."""
    return _quantiles(finite, alpha, 1 - alpha)


def _quantiles(finite, low, high):
    if len(finite) == 0 or not np.isfinite([low, high]).all():
        return np.nan, np.nan
    lo, hi = np.quantile(finite, [low, high])
    return lo, hi


def _basic(estimate, finite, alpha, extra):
    """The percentile interval reflected about the estimate."""
    lo, hi = _percentile(estimate, finite, alpha, extra)
    return 2 * estimate - hi, 2 * estimate - lo


def _bca(estimate, finite, alpha, extra):
    """Bias-corrected and accelerated percentiles (Efron & Tibshirani, 1993, eq. 14.10).

    As ``scipy.stats.bootstrap(method="BCa")``: the bias correction ``z0`` from the
    share of bootstrap values below the estimate (ties count half), the
    acceleration from the jackknife values; NaN when they are all equal.
    """
    from scipy.special import ndtr, ndtri

    if len(finite) == 0:
        return np.nan, np.nan
    z0 = ndtri((np.count_nonzero(finite < estimate) + np.count_nonzero(finite <= estimate))
               / (2 * len(finite)))
    jack = np.asarray(extra["jackknife"], dtype=np.float64)
    n = float(len(jack))
    u = (n - 1) * (jack.mean() - jack)
    den = np.sum(u ** 2) / n ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.sum(u ** 3) / n ** 3 / (6 * den ** 1.5)
    z = ndtri(alpha)
    low, high = (ndtr(z0 + (z0 + q) / (1 - a * (z0 + q))) for q in (z, -z))
    return _quantiles(finite, low, high)


def _normal(estimate, finite, alpha, extra):
    """Estimate +- z quantile x standard error."""
    from scipy import stats

    return _symmetric(estimate, finite, extra["se"], stats.norm.ppf(1 - alpha))


def _t(estimate, finite, alpha, extra):
    """Estimate +- t quantile (``dof`` degrees of freedom) x standard error."""
    from scipy import stats

    return _symmetric(estimate, finite, extra["se"], stats.t.ppf(1 - alpha, extra["dof"]))


def _symmetric(estimate, finite, se, crit):
    if se is None:
        se = np.std(finite, ddof=1) if len(finite) > 1 else np.nan
    return estimate - crit * se, estimate + crit * se


# How each kind of interval is formed from the finite bootstrap values (with the
# standard error, degrees of freedom or jackknife values where it needs them).
_INTERVALS = {"percentile": _percentile, "basic": _basic, "bca": _bca, "normal": _normal,
              "t": _t}
# bootstrap_ci offers all but "t", whose degrees of freedom depend on the resampled design.
_CI_INTERVALS = ("percentile", "basic", "bca", "normal")


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
    interval : {"percentile", "basic", "bca", "normal"}, default="percentile"
        ``"percentile"``: quantiles of the bootstrap distribution;
        ``"basic"``: those quantiles reflected about the estimate;
        ``"bca"``: bias-corrected and accelerated quantiles (the acceleration
        from a jackknife: ``statistic`` is called once more per unit, with
        that unit left out); ``"normal"``: estimate +- z * bootstrap standard
        error. The first three equal ``scipy.stats.bootstrap``'s ``method=``
        of the same name on the same resamples.
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
    order from the generator, so a given seed reproduces every resample. These
    are the draws of ``scipy.stats.bootstrap(..., rng=np.random.default_rng(seed))``
    (one call of shape (n_resamples, n)), so both see the same resamples.

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
    check_option("interval", interval, _CI_INTERVALS)
    rng = check_random_state(seed)
    estimate = _call(statistic, np.arange(n))
    distribution = np.array([_call(statistic, rng.integers(0, n, size=n))
                             for _ in range(n_resamples)])
    finite = distribution[np.isfinite(distribution)]
    se = float(np.std(finite, ddof=1)) if len(finite) > 1 else np.nan
    jackknife = None
    if interval == "bca":
        everyone = np.arange(n)
        jackknife = [_call(statistic, np.delete(everyone, i)) for i in range(n)]
    low, high = _interval(estimate, distribution, confidence, interval, se=se,
                          jackknife=jackknife)
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

# The number of resampled units of each design, from (n_stimuli, n_seeds): it sets the
# small-sample factor n / (n - 1) of the variance and the n - 1 degrees of freedom of "t".
_OVER = {"stimuli": lambda n_stimuli, n_seeds: n_stimuli,
         "seeds": lambda n_stimuli, n_seeds: n_seeds,
         "both": min}
# How the variance of over="both" is formed; see bootstrap_rdm_comparison.
_VARIANCE_CORRECTIONS = ("dual", "none")


def _matrices(x, name) -> tuple[np.ndarray, RDMs]:
    rdms = _collection(x, name)
    return np.stack([np.asarray(r.matrix, dtype=np.float64) for r in rdms]), rdms


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
    values = comparator.matrix(A[:, si, sj], B[unique][:, si, sj], valid=keep)
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
        columns, ``method``, ``over``, ``estimate``, ``bootstrap_mean`` (the mean
        of the valid bootstrap values, where rsatoolbox centres its interval),
        ``ci_low``, ``ci_high``, ``standard_error``, ``confidence``,
        ``interval``, ``n_resamples``, ``n_valid`` and, when ``b`` holds several
        RDMs, ``noise_ceiling_lower`` and ``noise_ceiling_upper``.
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
                             interval: str = "t", correction: str = "dual",
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
    interval : {"t", "normal", "percentile", "basic", "bca"}, default="t"
        ``"t"``: estimate +- t quantile x standard error, with ``n - 1``
        degrees of freedom (``n`` the resampled stimuli, seeds or the smaller
        of both); the only interval that uses ``correction``. It is centred
        on the full-data ``estimate``; rsatoolbox's ``Result.get_ci`` centres
        the same half-width on the mean of the bootstrap values (the
        ``bootstrap_mean`` column), so the two differ by ``bootstrap_mean -
        estimate``. ``"normal"`` uses the z quantile; ``"percentile"``,
        ``"basic"`` and ``"bca"`` (bias-corrected and accelerated, with a
        jackknife over the resampled stimuli or seeds; not with
        ``over="both"``) are formed from the bootstrap values as
        ``scipy.stats.bootstrap`` forms them.
    correction : {"dual", "none"}, default="dual"
        With ``over="both"``, ``"dual"`` combines the variances of the dual,
        the seed-only and the stimulus-only bootstraps (drawn from the same
        resamples) into a less biased variance [2]_; ``"none"`` uses the dual
        bootstrap's variance alone, which double-counts measurement noise.
        Other designs have nothing to correct. True and False are deprecated
        aliases of ``"dual"`` and ``"none"``.
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
        ``per_pair`` is combined with resampling seeds, ``interval="bca"`` with
        ``over="both"``, or the RDMs are over different stimuli (fewer than 3).

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
    check_option("interval", interval, _INTERVALS)
    correction = _check_variance_correction(correction)
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
    if interval == "bca" and over == "both":
        raise ValueError("interval='bca' needs a jackknife over one resampled factor; with "
                         "over='both' use interval='t' (with the dual correction) or "
                         "'percentile'.")
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
    n_eff = _OVER[over](n_stim, n_b)
    if over == "both" and correction == "dual":
        valid = np.isfinite(dist["both"]).all(axis=1) & np.isfinite(
            dist["stimuli"]).all(axis=1)
        var = _dual_variance(*(_variance(dist[k], valid) for k in kinds), n_b, n_stim)
    else:
        var = n_eff / (n_eff - 1) * _variance(main, valid)
    se = np.sqrt(np.maximum(var, 0))
    jackknife = (_jackknife(comparator, A, B, over, per_pair) if interval == "bca"
                 else np.full((1, len(estimate)), np.nan))
    rows = []
    meta_a, meta_b = rdms_a.metadata, rdms_b.metadata
    index_pairs = ([(i, j) for i in range(len(A)) for j in range(n_b)] if per_pair
                   else [(i, None) for i in range(len(A))])
    nc = noise_ceiling(rdms_b, method=method) if n_b > 1 and not per_pair else None
    for k, (i, j) in enumerate(index_pairs):
        low, high = _interval(estimate[k], main[valid, k], confidence, interval, se=se[k],
                              dof=n_eff - 1, jackknife=jackknife[:, k])
        row = {f"{c}_a": meta_a[c].iloc[i] for c in meta_a.columns}
        row["index_a"] = i
        if j is not None:
            row.update({f"{c}_b": meta_b[c].iloc[j] for c in meta_b.columns})
            row["index_b"] = j
        row.update(method=method, over=over, estimate=estimate[k],
                   bootstrap_mean=float(np.mean(main[valid, k])) if valid.any() else np.nan,
                   ci_low=low, ci_high=high,
                   standard_error=se[k], confidence=confidence, interval=interval,
                   n_resamples=n_resamples, n_valid=int(valid.sum()))
        if nc is not None:
            row.update(noise_ceiling_lower=nc.lower, noise_ceiling_upper=nc.upper)
        rows.append(row)
    return ComparisonBootstrapResult(pd.DataFrame(rows), dist, stim_idx, seed_idx)




def _jackknife(comparator, A, B, over, per_pair):
    """Leave-one-out values, one row per left-out stimulus (or RDM of ``B``)."""
    all_stim, all_seeds = np.arange(A.shape[1]), np.arange(len(B))
    if over == "stimuli":
        return np.array([_compare_mean(comparator, A, B, np.delete(all_stim, i), all_seeds,
                                       per_pair).ravel() for i in all_stim])
    return np.array([_compare_mean(comparator, A, B, all_stim, np.delete(all_seeds, j),
                                   per_pair).ravel() for j in all_seeds])


def _check_variance_correction(correction):
    """``"dual"`` or ``"none"``; True and False are deprecated aliases of them."""
    if isinstance(correction, (bool, np.bool_)):
        return _deprecated_value("correction", bool(correction),
                                 "dual" if correction else "none")
    return check_option("correction", correction, _VARIANCE_CORRECTIONS)
