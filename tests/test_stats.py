"""Tests of deeprsa.stats: Mantel tests, bootstrap intervals, noise ceilings, corrections."""

import dataclasses
import re
import warnings
from unittest import mock

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats as sps

from deeprsa.analyses import rep_vs_performance, unit_anova
from deeprsa.compare import compare_rdms, list_methods
from deeprsa.rdm import RDM, compute_rdm
from deeprsa.stats import _common as stats
from deeprsa.stats import (
    bootstrap_ci,
    bootstrap_rdm_comparison,
    correct_pvalues,
    describe_corrections,
    list_corrections,
    mantel,
    noise_ceiling,
    pairwise_mantel,
    register_correction,
)
from deeprsa.stats.corrections import _CORRECTIONS

# Tolerances: the fast paths (entries gathered per permutation, prepared once) and the
# reference loops compute the same float64 sums in another order: 1e-12.
SAME64 = {"rtol": 0, "atol": 1e-12}
RDM_METHODS = list_methods(input="rdm")
# deeprsa method -> rsatoolbox method of the same formula
RSATOOLBOX_METHODS = {"spearman": "spearman", "pearson": "corr", "cosine": "cosine",
                      "kendall_tau_a": "tau-a", "rho_a": "rho-a", "corr_cov": "corr_cov",
                      "cosine_cov": "cosine_cov"}


def _distances(X):
    return np.linalg.norm(X[:, None] - X[None], axis=-1)


def _upper(M):
    i, j = np.triu_indices(len(M), k=1)
    return M[i, j]


@pytest.fixture
def related():
    """Two RDMs of noisy copies of one set of patterns (12 stimuli)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 5))
    return (_distances(X + 0.3 * rng.standard_normal(X.shape)),
            _distances(X + 0.3 * rng.standard_normal(X.shape)))


@pytest.fixture
def seed_rdms():
    """RDMs of 5 'network seeds' sharing a geometry, and 2 candidate RDMs (12 stimuli)."""
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((12, 4))
    seeds = [compute_rdm(shared + 0.7 * rng.standard_normal((12, 4)), dtype="float64",
                         model=f"net_s{s}") for s in range(5)]
    candidates = [compute_rdm(shared + noise * rng.standard_normal((12, 4)), dtype="float64",
                              model=f"candidate{i}") for i, noise in enumerate((0.5, 2.0))]
    return candidates, seeds


# ============================================================================ Mantel


@pytest.mark.parametrize("method", RDM_METHODS)
def test_mantel_statistic_is_the_comparison(related, method):
    a, b = related
    result = mantel(a, b, method=method, n_permutations=10, seed=0)
    expected = compare_rdms(_upper(a), _upper(b), method=method).matrix[0, 0]
    assert_allclose(result.statistic, expected, **SAME64)


@pytest.mark.parametrize("method", RDM_METHODS)
def test_mantel_null_permutes_rows_and_columns_together(related, method):
    # Slow reference: relabel the stimuli of b, recompute the comparison from scratch.
    a, b = related
    n_perm = 25
    result = mantel(a, b, method=method, n_permutations=n_perm, seed=3)
    perms = np.random.default_rng(3).permuted(np.tile(np.arange(len(a)), (n_perm, 1)), axis=1)
    expected = [compare_rdms(_upper(a), _upper(b[np.ix_(p, p)]), method=method).matrix[0, 0]
                for p in perms]
    assert_allclose(result.null_distribution, expected, **SAME64)


def test_mantel_pvalue_counts_the_observed_labelling(related):
    a, b = related
    result = mantel(a, b, n_permutations=200, seed=0)
    null = result.null_distribution
    assert result.pvalue == (np.sum(null >= result.statistic) + 1) / 201
    assert result.n_permutations == 200 and len(null) == 200


def test_mantel_pvalues_are_uniform_under_the_null():
    # Independent random RDMs: p-values over 100 seeded pairs follow U(0, 1).
    pvalues = []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        a = _distances(rng.standard_normal((10, 3)))
        b = _distances(rng.standard_normal((10, 3)))
        pvalues.append(mantel(a, b, n_permutations=199, seed=seed).pvalue)
    ks = sps.kstest(pvalues, "uniform")
    assert ks.pvalue > 0.05, ks


def test_mantel_pvalue_is_small_for_related_rdms(related):
    result = mantel(*related, n_permutations=999, seed=0)
    assert result.statistic > 0.7
    assert result.pvalue == 1 / 1000


def test_mantel_alternatives(related):
    a, b = related
    flipped = b.max() - b
    np.fill_diagonal(flipped, 0)
    greater = mantel(a, flipped, n_permutations=499, seed=0)
    less = mantel(a, flipped, n_permutations=499, alternative="less", seed=0)
    both = mantel(a, flipped, n_permutations=499, alternative="two-sided", seed=0)
    assert greater.pvalue > 0.99
    assert less.pvalue == 1 / 500
    assert both.pvalue == 2 * less.pvalue
    assert_array_equal(less.null_distribution, greater.null_distribution)


def test_mantel_accepts_rdms_and_is_reproducible(related):
    a, b = related
    ids = [f"s{i}" for i in range(len(a))]
    from_arrays = mantel(a, b, n_permutations=100, seed=5)
    from_rdms = mantel(RDM(a, ids), RDM(b, ids), n_permutations=100, seed=5)
    from_generator = mantel(a, b, n_permutations=100, seed=np.random.default_rng(5))
    assert_allclose(from_rdms.null_distribution, from_arrays.null_distribution, **SAME64)
    assert_array_equal(from_generator.null_distribution, from_arrays.null_distribution)


def test_mantel_does_not_depend_on_the_block_size(related, monkeypatch):
    a, b = related
    whole = mantel(a, b, n_permutations=300, seed=0)
    monkeypatch.setattr(stats, "_BLOCK_BYTES", 8 * 66 * 7)  # 7 permutations per block
    blocked = mantel(a, b, n_permutations=300, seed=0)
    assert_array_equal(blocked.null_distribution, whole.null_distribution)


def test_mantel_result_is_immutable(related):
    result = mantel(*related, n_permutations=10, seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.pvalue = 0.0
    with pytest.raises(ValueError, match="read-only"):
        result.null_distribution[0] = 0.0


def _ids(n, prefix="s"):
    return [f"{prefix}{i}" for i in range(n)]


@pytest.mark.parametrize("a, b, msg", [
    (np.zeros((3, 4)), np.zeros((3, 3)),
     "a must be an RDM or a square matrix of shape (n_stimuli, n_stimuli), got an array of "
     "shape (3, 4)."),
    (np.zeros((3, 3)), np.full((3, 3), np.nan),
     "b holds NaN or infinity; a Mantel test needs every dissimilarity."),
    (np.triu(np.ones((3, 3)), 1), np.zeros((3, 3)),
     "a is not symmetric; a dissimilarity matrix must be (use (m + m.T) / 2 if the asymmetry "
     "is rounding)."),
    (np.zeros((3, 3)), np.zeros((4, 4)),
     "a and b must be over the same stimuli; got 3 and 4 stimuli."),
    (np.zeros((2, 2)), np.zeros((2, 2)), "A Mantel test needs at least 3 stimuli, got 2."),
    (RDM(1 - np.eye(3), _ids(3)), RDM(1 - np.eye(3), _ids(3)[::-1]),
     "a and b hold the same stimuli in another order; reorder with "
     "b.subset(a.stimulus_ids)."),
    (RDM(1 - np.eye(3), _ids(3)), RDM(1 - np.eye(3), _ids(3, "t")),
     "a and b are over different stimuli; restrict both to the shared ids with "
     "rdm.subset(ids)."),
], ids=["not-square", "nan", "asymmetric", "sizes", "two-stimuli", "order", "other-ids"])
def test_mantel_input_errors(a, b, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        mantel(a, b)


@pytest.mark.parametrize("kwargs, msg", [
    ({"n_permutations": 0}, "n_permutations must be an int >= 1, got 0."),
    ({"n_permutations": 10.5}, "n_permutations must be an int >= 1, got 10.5."),
    ({"alternative": "greatr"}, "Unknown alternative 'greatr'. Did you mean 'greater'? "
                                "Available: 'greater', 'less', 'two-sided'."),
    ({"method": "spearmann"}, "Unknown comparison method 'spearmann'. Did you mean "
                              "'spearman'?"),
])
def test_mantel_option_errors(related, kwargs, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        mantel(*related, **kwargs)


def test_mantel_seed_type_error(related):
    msg = "seed must be None, an int or a numpy.random.Generator, got str."
    with pytest.raises(TypeError, match=re.escape(msg)):
        mantel(*related, seed="0")


def test_pairwise_mantel_matches_single_tests(seed_rdms):
    candidates, seeds = seed_rdms
    table = pairwise_mantel(candidates, seeds[:2], n_permutations=99, seed=7)
    assert len(table) == 4
    children = np.random.default_rng(7).spawn(4)
    for k, row in table.iterrows():
        single = mantel(candidates[row.index_a], seeds[row.index_b], n_permutations=99,
                        seed=children[k])
        assert row.statistic == single.statistic and row.pvalue == single.pvalue
    assert_allclose(table.pvalue_corrected, correct_pvalues(table.pvalue), **SAME64)
    assert list(table.model_a) == ["candidate0", "candidate0", "candidate1", "candidate1"]
    assert list(table.model_b) == ["net_s0", "net_s1", "net_s0", "net_s1"]


def test_pairwise_mantel_within_one_collection(seed_rdms):
    _, seeds = seed_rdms
    table = pairwise_mantel(seeds, n_permutations=19, correction="bonferroni", seed=0)
    assert list(zip(table.index_a, table.index_b, strict=True)) == [
        (i, j) for i in range(5) for j in range(i + 1, 5)]
    assert (table.correction == "bonferroni").all()
    no_correction = pairwise_mantel(seeds[:2], n_permutations=19, correction="none", seed=0)
    assert "pvalue_corrected" not in no_correction


def test_pairwise_mantel_errors(seed_rdms):
    _, seeds = seed_rdms
    msg = ("pairwise_mantel with one collection needs at least 2 RDMs, got 1; pass b= to "
           "test against another RDM.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        pairwise_mantel(seeds[0])
    with pytest.raises(TypeError, match=re.escape("a must be an RDM, RDMs or a list of RDM, "
                                                  "got ndarray.")):
        pairwise_mantel(np.zeros((3, 3)))


# ============================================================================ corrections


@pytest.mark.parametrize("method, scipy_method", [("fdr_bh", "bh"), ("fdr_by", "by")])
def test_fdr_matches_scipy(method, scipy_method):
    p = np.random.default_rng(0).uniform(0, 0.2, size=200)
    p[:5] = p[5]  # ties
    expected = sps.false_discovery_control(p, method=scipy_method)
    assert_allclose(correct_pvalues(p, method=method), expected, rtol=0, atol=1e-12)


def _holm_reference(p):
    order = np.argsort(p)
    out, running = np.empty_like(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def test_bonferroni_and_holm():
    p = np.random.default_rng(1).uniform(0, 0.1, size=30)
    assert_allclose(correct_pvalues(p, method="bonferroni"), np.minimum(1, 30 * p), **SAME64)
    assert_allclose(correct_pvalues(p, method="holm"), _holm_reference(p), **SAME64)


def test_corrections_keep_shape_and_skip_nan():
    p = np.array([[0.01, np.nan], [0.04, 0.03]])
    out = correct_pvalues(p, method="bonferroni")
    assert out.shape == (2, 2) and np.isnan(out[0, 1])
    assert_allclose(out[~np.isnan(p)], [0.03, 0.12, 0.09], **SAME64)


@pytest.mark.parametrize("p, method, msg", [
    ([0.5, 1.5], "fdr_bh", "p-values must lie in [0, 1]; got 1.5."),
    ([0.5], "fdr", "Unknown method 'fdr'. Did you mean 'fdr_by'? Available: 'bonferroni', "
                   "'fdr_bh', 'fdr_by', 'holm', 'none'."),
])
def test_correction_errors(p, method, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        correct_pvalues(p, method=method)


# ============================================================================ bootstrap_ci


def test_bootstrap_ci_matches_a_reference_loop():
    x = np.random.default_rng(0).standard_normal(30)
    result = bootstrap_ci(lambda idx: np.median(x[idx]), x, n_resamples=300, seed=4)
    rng = np.random.default_rng(4)
    expected = np.array([np.median(x[rng.integers(0, 30, size=30)]) for _ in range(300)])
    assert_array_equal(result.distribution, expected)
    assert result.estimate == np.median(x)
    assert_allclose([result.ci_low, result.ci_high], np.quantile(expected, [0.025, 0.975]),
                    **SAME64)
    assert_allclose(result.standard_error, np.std(expected, ddof=1), **SAME64)


def test_bootstrap_ci_intervals():
    x = np.arange(40.0) ** 2
    kwargs = {"n_resamples": 200, "confidence": 0.9, "seed": 0}
    pct = bootstrap_ci(lambda idx: x[idx].mean(), len(x), **kwargs)
    basic = bootstrap_ci(lambda idx: x[idx].mean(), len(x), interval="basic", **kwargs)
    normal = bootstrap_ci(lambda idx: x[idx].mean(), len(x), interval="normal", **kwargs)
    assert_allclose([basic.ci_low, basic.ci_high],
                    [2 * pct.estimate - pct.ci_high, 2 * pct.estimate - pct.ci_low], **SAME64)
    z = sps.norm.ppf(0.95)
    assert_allclose([normal.ci_low, normal.ci_high],
                    [pct.estimate - z * pct.standard_error,
                     pct.estimate + z * pct.standard_error], **SAME64)


def test_bootstrap_ci_leaves_out_undefined_resamples():
    # The statistic is undefined (NaN) when index 0 is not drawn.
    result = bootstrap_ci(lambda idx: 1.0 if 0 in idx else np.nan, 5, n_resamples=100, seed=0)
    finite = np.isfinite(result.distribution)
    assert 0 < finite.sum() < 100
    assert result.ci_low == result.ci_high == 1.0


# deeprsa interval -> scipy.stats.bootstrap method of the same construction
SCIPY_INTERVALS = {"percentile": "percentile", "basic": "basic", "bca": "BCa"}


@pytest.mark.parametrize("interval", sorted(SCIPY_INTERVALS))
@pytest.mark.parametrize("statistic", [np.mean, np.median, np.std], ids=["mean", "median", "sd"])
def test_bootstrap_ci_matches_scipy_bootstrap_on_the_same_resamples(interval, statistic):
    # bootstrap_ci's draws are scipy's (one rng.integers(0, n, (n_resamples, n)) call), so
    # the distributions are identical and the intervals agree to rounding (1e-12).
    x = np.random.default_rng(7).exponential(size=25)
    ours = bootstrap_ci(lambda idx: statistic(x[idx]), x, n_resamples=999, confidence=0.9,
                        interval=interval, seed=3)
    theirs = sps.bootstrap((x,), statistic, n_resamples=999, confidence_level=0.9,
                           method=SCIPY_INTERVALS[interval], vectorized=False,
                           rng=np.random.default_rng(3))
    assert_array_equal(ours.distribution, theirs.bootstrap_distribution)
    assert_allclose([ours.ci_low, ours.ci_high], theirs.confidence_interval, rtol=1e-12)
    assert_allclose(ours.standard_error, theirs.standard_error, rtol=1e-12)


def test_bca_corrects_a_skewed_statistic():
    # For the mean of exponential data BCa moves both bounds up from the percentile ones
    # (positive bias correction and acceleration), as Efron & Tibshirani (1993) show.
    x = np.random.default_rng(8).exponential(size=30)
    kwargs = {"n_resamples": 2000, "seed": 0}
    pct = bootstrap_ci(lambda idx: x[idx].var(), x, **kwargs)
    bca = bootstrap_ci(lambda idx: x[idx].var(), x, interval="bca", **kwargs)
    assert bca.ci_low > pct.ci_low and bca.ci_high > pct.ci_high
    assert bca.interval == "bca"


@pytest.mark.parametrize("kwargs, msg", [
    ({"data_or_n": 1}, "A bootstrap needs at least 2 units to resample, got 1."),
    ({"data_or_n": 2.5}, "data_or_n must be the number of units to resample or a sequence of "
                         "them, got float."),
    ({"n_resamples": 1}, "n_resamples must be an int >= 2, got 1."),
    ({"confidence": 95}, "confidence must be a number strictly between 0 and 1, e.g. 0.95; "
                         "got 95."),
    ({"interval": "bc"}, "Unknown interval 'bc'. Did you mean 'bca'? Available: 'basic', "
                         "'bca', 'normal', 'percentile'."),
    ({"statistic": lambda idx: idx}, "statistic must return one number, got ndarray"),
])
def test_bootstrap_ci_errors(kwargs, msg):
    args = {"statistic": lambda idx: float(len(idx)), "data_or_n": 10, **kwargs}
    with pytest.raises(ValueError, match=re.escape(msg)):
        bootstrap_ci(args.pop("statistic"), args.pop("data_or_n"), **args)


# ============================================================================ RDM bootstrap


def _rsatoolbox_evaluations(result, candidates, seeds, over, method, n):
    """rsatoolbox's bootstrap evaluations and variances on the same resamples."""
    res = _rsatoolbox_result(result, candidates, seeds, over, method, n)
    evaluations = res.evaluations
    while evaluations.ndim > 2:  # dual bootstrap: (N, models, folds, cv, kind); kind 0 = both
        evaluations = evaluations[..., 0]
    return evaluations, res.model_var


def _rsatoolbox_result(result, candidates, seeds, over, method, n):
    """rsatoolbox's bootstrap Result, fed the resamples of ``result``."""
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import (
        eval_bootstrap_pattern,
        eval_bootstrap_rdm,
        eval_dual_bootstrap,
    )
    from rsatoolbox.model import ModelFixed

    draws = []  # rsatoolbox draws the RDMs first, then the patterns
    for r in range(n):
        if result.seed_indices is not None:
            draws.append(result.seed_indices[r])
        if result.stimulus_indices is not None:
            draws.append(result.stimulus_indices[r])
    queue = iter(draws)
    data = rsatoolbox.rdm.RDMs(np.array([s.vector() for s in seeds]))
    models = [ModelFixed(f"m{i}", rsatoolbox.rdm.RDMs(c.vector()[None]))
              for i, c in enumerate(candidates)]
    name = RSATOOLBOX_METHODS[method]
    with mock.patch("numpy.random.randint", side_effect=lambda *a, **k: next(queue)):
        if over == "stimuli":
            res = eval_bootstrap_pattern(models, data, method=name, N=n, boot_noise_ceil=False)
        elif over == "seeds":
            res = eval_bootstrap_rdm(models, data, method=name, N=n, boot_noise_ceil=False)
        else:
            res = eval_dual_bootstrap(models, data, method=name, N=n, k_pattern=1, k_rdm=1)
    return res


@pytest.mark.filterwarnings("ignore::UserWarning")  # rsatoolbox: noise ceiling of tau
@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a", "corr_cov",
                                    "cosine_cov"])
@pytest.mark.parametrize("over", ["stimuli", "seeds", "both"])
def test_rdm_bootstrap_matches_rsatoolbox(seed_rdms, over, method):
    # Same resamples fed to rsatoolbox: equal bootstrap values (duplicated stimulus pairs
    # as NaN) and equal variances, including the dual-bootstrap correction for "both".
    candidates, seeds = seed_rdms
    n = 40
    result = bootstrap_rdm_comparison(candidates, seeds, over=over, method=method,
                                      n_resamples=n, seed=1)
    evaluations, variance = _rsatoolbox_evaluations(result, candidates, seeds, over, method, n)
    assert_allclose(result.distributions[over], evaluations, rtol=0, atol=1e-10)
    assert_allclose(result.table.standard_error ** 2, variance, rtol=1e-10)


def test_rdm_bootstrap_estimate_and_t_interval(seed_rdms):
    candidates, seeds = seed_rdms
    result = bootstrap_rdm_comparison(candidates, seeds, n_resamples=50, seed=0)
    table = result.table
    expected = compare_rdms(candidates, seeds).matrix.mean(axis=1)
    assert_allclose(table.estimate, expected, **SAME64)
    crit = sps.t.ppf(0.975, 12 - 1)
    assert_allclose(table.ci_high - table.estimate, crit * table.standard_error, **SAME64)
    assert list(table.model_a) == ["candidate0", "candidate1"]
    nc = noise_ceiling(seeds)
    assert (table.noise_ceiling_lower == nc.lower).all()
    assert (table.noise_ceiling_upper == nc.upper).all()


@pytest.mark.parametrize("over", ["stimuli", "seeds"])
@pytest.mark.parametrize("interval", sorted(SCIPY_INTERVALS))
def test_rdm_bootstrap_intervals_match_scipy_bootstrap(seed_rdms, over, interval):
    # One resampled factor draws rng.integers(0, n, n) per resample, scipy's draws; its
    # jackknife leaves out one stimulus (or one RDM of b), scipy's leaves out one
    # observation. Same resamples, same statistic: the bounds agree to rounding.
    candidates, seeds = seed_rdms
    result = bootstrap_rdm_comparison(candidates[0], seeds, over=over, n_resamples=199,
                                      interval=interval, seed=5)
    n = candidates[0].n_stimuli if over == "stimuli" else len(seeds)
    key = "stimulus_indices" if over == "stimuli" else "seed_indices"

    per_seed = compare_rdms(candidates[0], seeds).matrix[0]

    def statistic(idx):
        idx = np.asarray(idx)
        if over == "seeds":  # summed as deeprsa sums: resamples that permute all the seeds
            unique, counts = np.unique(idx, return_counts=True)  # tie with the estimate
            return per_seed[unique] @ counts / counts.sum()
        keep = np.triu_indices(len(idx), 1)
        pairs = idx[keep[0]] != idx[keep[1]]
        a = candidates[0].matrix[idx][:, idx][keep][pairs]
        values = [sps.spearmanr(a, s.matrix[idx][:, idx][keep][pairs])[0] for s in seeds]
        return np.mean(values)

    theirs = sps.bootstrap((np.arange(n),), statistic, n_resamples=199,
                           method=SCIPY_INTERVALS[interval], vectorized=False,
                           rng=np.random.default_rng(5))
    assert_array_equal(getattr(result, key), np.random.default_rng(5).integers(0, n, (199, n)))
    assert_allclose(result.distributions[over][:, 0], theirs.bootstrap_distribution,
                    rtol=1e-12, atol=1e-14)
    row = result.table.iloc[0]
    assert_allclose([row.ci_low, row.ci_high], theirs.confidence_interval, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::UserWarning")  # rsatoolbox: noise ceiling of tau
def test_rdm_t_interval_is_rsatoolbox_get_ci_moved_to_the_full_data_estimate(seed_rdms):
    # Both use estimate +- t * se with the same se; rsatoolbox centres on the mean of the
    # bootstrap values (bootstrap_mean), deeprsa on the full-data estimate.
    candidates, seeds = seed_rdms
    n = 40
    result = bootstrap_rdm_comparison(candidates, seeds, over="stimuli", n_resamples=n,
                                      seed=2)
    res = _rsatoolbox_result(result, candidates, seeds, "stimuli", "spearman", n)
    low, high = res.get_ci(0.95, test_type="t-test")
    table = result.table
    assert_allclose(table.bootstrap_mean, res.get_means(), rtol=1e-10)
    shift = table.bootstrap_mean - table.estimate
    assert_allclose(table.ci_low + shift, low, rtol=1e-10)
    assert_allclose(table.ci_high + shift, high, rtol=1e-10)
    assert (abs(shift) > 1e-4).all()  # the two centres differ on these data


def test_rdm_bootstrap_per_pair(seed_rdms):
    candidates, seeds = seed_rdms
    result = bootstrap_rdm_comparison(candidates, seeds[:3], per_pair=True, n_resamples=30,
                                      interval="percentile", seed=0)
    table = result.table
    assert len(table) == 6 and result.distributions["stimuli"].shape == (30, 6)
    assert_allclose(table.estimate, compare_rdms(candidates, seeds[:3]).matrix.ravel(),
                    **SAME64)
    assert list(table.model_b) == ["net_s0", "net_s1", "net_s2"] * 2
    assert (table.ci_low <= table.estimate).all() and (table.estimate <= table.ci_high).all()


def test_rdm_bootstrap_is_reproducible(seed_rdms):
    candidates, seeds = seed_rdms
    one = bootstrap_rdm_comparison(candidates, seeds, over="both", n_resamples=20, seed=3)
    two = bootstrap_rdm_comparison(candidates, seeds, over="both", n_resamples=20,
                                   seed=np.random.default_rng(3))
    for key in ("both", "seeds", "stimuli"):
        assert_array_equal(one.distributions[key], two.distributions[key])
    assert_array_equal(one.stimulus_indices, two.stimulus_indices)


def test_rdm_bootstrap_correction_lowers_the_dual_variance(seed_rdms):
    candidates, seeds = seed_rdms
    kwargs = {"over": "both", "n_resamples": 100, "seed": 0}
    corrected = bootstrap_rdm_comparison(candidates, seeds, **kwargs).table
    plain = bootstrap_rdm_comparison(candidates, seeds, correction="none", **kwargs).table
    assert (corrected.standard_error <= plain.standard_error * np.sqrt(5 / 4) + 1e-12).all()


@pytest.mark.parametrize("kwargs, msg", [
    ({"over": "seeds", "b": 0}, "Resampling seeds (over='seeds') needs at least 2 RDMs in b, "
                                "one per network seed; got 1. Use over='stimuli'."),
    ({"over": "both", "per_pair": True}, "per_pair=True keeps every RDM of b apart, so only "
                                         "stimuli can be resampled; got over='both'."),
    ({"over": "subjects"}, "Unknown over 'subjects'. Available: 'both', 'seeds', 'stimuli'."),
    ({"interval": "student"}, "Unknown interval 'student'. Available: 'basic', 'bca', "
                              "'normal', 'percentile', 't'."),
    ({"interval": "bca", "over": "both"}, "interval='bca' needs a jackknife over one resampled "
                                          "factor; with over='both' use interval='t' (with the "
                                          "dual correction) or 'percentile'."),
    ({"confidence": 1.0}, "confidence must be a number strictly between 0 and 1, e.g. 0.95; "
                          "got 1.0."),
    ({"b": "other"}, "a and b must be RDMs over the same stimuli in the same order; reorder "
                     "or restrict with rdm.subset(ids)."),
])
def test_rdm_bootstrap_errors(seed_rdms, kwargs, msg):
    candidates, seeds = seed_rdms
    b = seeds
    if kwargs.get("b") == 0:
        b = seeds[0]
    elif kwargs.get("b") == "other":
        b = [RDM(s.matrix, _ids(12, "t")) for s in seeds]
    kwargs = {k: v for k, v in kwargs.items() if k != "b"}
    with pytest.raises(ValueError, match=re.escape(msg)):
        bootstrap_rdm_comparison(candidates, b, **kwargs)


def test_rdm_bootstrap_needs_three_stimuli():
    tiny = [RDM([[0, 1], [1, 0]], ["a", "b"])] * 2
    with pytest.raises(ValueError, match=re.escape("Comparing RDMs needs at least 3 stimuli, "
                                                   "got 2.")):
        bootstrap_rdm_comparison(tiny, tiny)


# ============================================================================ noise ceiling


@pytest.mark.filterwarnings("ignore:Noise ceiling for tau:UserWarning")
@pytest.mark.parametrize("method", sorted(RSATOOLBOX_METHODS))
def test_noise_ceiling_matches_rsatoolbox(seed_rdms, method):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import boot_noise_ceiling

    _, seeds = seed_rdms
    result = noise_ceiling(seeds, method=method)
    data = rsatoolbox.rdm.RDMs(np.array([s.vector() for s in seeds]))
    lower, upper = boot_noise_ceiling(data, method=RSATOOLBOX_METHODS[method])
    assert_allclose([result.lower, result.upper], [lower, upper], rtol=1e-10)


def test_noise_ceiling_direct_reference(seed_rdms):
    # Spearman: pool = mean rank; lower = each RDM against the mean rank of the others.
    _, seeds = seed_rdms
    ranks = np.array([sps.rankdata(s.vector()) for s in seeds])
    lower = [sps.spearmanr(np.delete(ranks, i, axis=0).mean(axis=0), ranks[i])[0]
             for i in range(5)]
    upper = [sps.spearmanr(ranks.mean(axis=0), ranks[i])[0] for i in range(5)]
    result = noise_ceiling(seeds)
    assert_allclose(result.lower_each, lower, rtol=1e-10)
    assert_allclose(result.upper_each, upper, rtol=1e-10)
    assert result.lower < result.upper


@pytest.mark.parametrize("rdms, method, msg", [
    (1, "spearman", "A noise ceiling needs RDMs from at least 2 seeds, got 1."),
    (5, "linear_cka", "Unknown method 'linear_cka'. Available: 'corr_cov', 'cosine', "
                      "'cosine_cov', 'kendall_tau_a', 'kendall_tau_b', 'pearson', 'rho_a', "
                      "'spearman'."),
])
def test_noise_ceiling_errors(seed_rdms, rdms, method, msg):
    _, seeds = seed_rdms
    with pytest.raises(ValueError, match=re.escape(msg)):
        noise_ceiling(seeds[:rdms], method=method)


# ============================================================================ CLI


@pytest.fixture
def seed_store(tmp_path):
    """A store with layers 'conv' and 'fc' of 3 seeds of 'net' and one 'other' model."""
    from deeprsa.store import Store, content_key

    store = Store(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(15)]
    stimuli = store.add_stimuli(ids, content_key({"ids": ids}))
    shared = {layer: rng.standard_normal((15, 6)) for layer in ("conv", "fc")}
    for model in ("net_s0", "net_s1", "net_s2", "other"):
        for layer, base in shared.items():
            X = base + 0.5 * rng.standard_normal(base.shape)
            fields = {"model": model, "layer": layer, "reduction": {"name": "flatten"},
                      "stimuli": stimuli, "dtype": "float32"}
            store.write("activations", fields, X.astype(np.float32))
    return store


def _invoke(args):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    result = CliRunner().invoke(cli, args)
    return result


def test_cli_mantel_table(seed_store):
    import pandas as pd

    out = _invoke(["mantel", "--store", str(seed_store.path), "--model", "net_s0",
                   "--model", "net_s1", "--layer", "fc", "--n-permutations", "99",
                   "--seed", "0"])
    assert out.exit_code == 0, out.output
    table = pd.read_csv(seed_store.path / "tables" / "mantel.csv")
    assert len(table) == 1 and table.pvalue.iloc[0] == 0.01
    assert {"statistic", "pvalue_corrected", "model_a", "layer_b"} <= set(table.columns)


def test_cli_noise_ceiling_and_bootstrap(seed_store, tmp_path):
    import pandas as pd

    seeds = ["--model", "net_s0", "--model", "net_s1", "--model", "net_s2"]
    out = _invoke(["noise-ceiling", "--store", str(seed_store.path), *seeds,
                   "--table", str(tmp_path / "nc.parquet")])
    assert out.exit_code == 0, out.output
    nc = pd.read_parquet(tmp_path / "nc.parquet")
    assert list(nc.layer) == ["conv", "fc"] and (nc.lower < nc.upper).all()
    refs = [arg.replace("--model", "--reference") for arg in seeds]
    out = _invoke(["bootstrap", "--store", str(seed_store.path), *refs, "--candidate",
                   "other", "--over", "both", "--n-resamples", "20", "--seed", "0"])
    assert out.exit_code == 0, out.output
    table = pd.read_csv(seed_store.path / "tables" / "bootstrap.csv")
    assert list(table.layer_a) == ["conv", "fc"]
    assert (table.ci_low < table.estimate).all() and (table.estimate < table.ci_high).all()
    assert_allclose(table.noise_ceiling_lower, nc.lower, rtol=1e-12)


def test_cli_reports_errors_in_one_line(seed_store):
    out = _invoke(["noise-ceiling", "--store", str(seed_store.path), "--model", "net_s0",
                   "--layer", "fc"])
    assert out.exit_code == 1
    assert "Error: A noise ceiling needs RDMs from at least 2 seeds, got 1." in out.output
    out = _invoke(["bootstrap", "--store", str(seed_store.path), "--reference", "net_s0",
                   "--candidate", "other", "--method", "spearmn"])
    assert "Unknown comparison method 'spearmn'. Did you mean 'spearman'?" in out.output


# ============================================================================ correction registry

# p-values given out of order, so that every correction has to sort and unsort them.
P4 = np.array([0.01, 0.04, 0.03, 0.2])
# Adjusted P4, worked out by hand (m = 4 tests; sorted: 0.01, 0.03, 0.04, 0.2).
ADJUSTED = {
    # p as given
    "none": [0.01, 0.04, 0.03, 0.2],
    # min(1, 4 p)
    "bonferroni": [0.04, 0.16, 0.12, 0.8],
    # (4, 3, 2, 1) x sorted p = 0.04, 0.09, 0.08, 0.2; running max: 0.04, 0.09, 0.09, 0.2
    "holm": [0.04, 0.09, 0.09, 0.2],
    # (4/1, 4/2, 4/3, 4/4) x sorted p = 0.04, 0.06, 0.16/3, 0.2; running min from the
    # largest down: 0.04, 0.16/3, 0.16/3, 0.2
    "fdr_bh": [0.04, 0.16 / 3, 0.16 / 3, 0.2],
    # fdr_bh times 1 + 1/2 + 1/3 + 1/4 = 25/12
    "fdr_by": [1 / 12, 1 / 9, 1 / 9, 5 / 12],
}


@pytest.fixture
def sidak():
    """A Sidak correction registered as 'sidak_test' for the length of one test."""
    def _sidak(p):
        """Sidak: 1 - (1 - p)^m."""
        return 1 - (1 - p) ** len(p)

    register_correction("sidak_test", _sidak)
    yield _sidak
    _CORRECTIONS.pop("sidak_test")


def test_every_registered_correction_has_a_hand_computed_case():
    assert sorted(ADJUSTED) == list_corrections()


@pytest.mark.parametrize("method", sorted(ADJUSTED))
def test_correction_matches_the_hand_computed_values(method):
    assert_allclose(correct_pvalues(P4, method=method), ADJUSTED[method], **SAME64)


@pytest.mark.parametrize("method", list_corrections())
def test_correction_never_lowers_a_pvalue_and_keeps_nan(method):
    p = np.random.default_rng(0).uniform(0, 1, size=(6, 5))
    p[2, 3] = np.nan
    adjusted = correct_pvalues(p, method=method)
    assert adjusted.shape == p.shape
    assert_array_equal(np.isnan(adjusted), np.isnan(p))
    finite = ~np.isnan(p)
    assert (adjusted[finite] >= p[finite]).all() and (adjusted[finite] <= 1).all()


def test_none_is_the_identity_and_a_copy():
    p = np.array([0.3, np.nan, 0.001])
    adjusted = correct_pvalues(p, method="none")
    assert_array_equal(adjusted, p)
    adjusted[0] = 1.0
    assert p[0] == 0.3


def test_describe_corrections_gives_the_first_docstring_line():
    descriptions = describe_corrections()
    assert list(descriptions) == list_corrections()
    assert descriptions["none"] == "No correction: the p-values as given."
    assert descriptions["holm"] == ("Holm's step-down correction, controls the family-wise "
                                    "error rate.")
    assert all(descriptions.values())


def test_a_registered_correction_is_accepted_everywhere(sidak, seed_rdms):
    assert "sidak_test" in list_corrections()
    assert describe_corrections()["sidak_test"] == "Sidak: 1 - (1 - p)^m."
    assert_allclose(correct_pvalues(P4, method="sidak_test"), 1 - (1 - P4) ** 4, **SAME64)
    _, seeds = seed_rdms
    table = pairwise_mantel(seeds[:3], n_permutations=19, correction="sidak_test", seed=0)
    assert_allclose(table.pvalue_corrected, sidak(table.pvalue.to_numpy()), **SAME64)
    assert (table.correction == "sidak_test").all()
    X = np.random.default_rng(0).standard_normal((20, 3))
    groups = np.repeat([0, 1], 10)
    units = unit_anova(X, groups, correction="sidak_test")
    assert_allclose(units.pvalue_adjusted, sidak(units.pvalue.to_numpy()), **SAME64)


def test_a_correction_name_can_be_registered_once():
    msg = "A correction named 'holm' is already registered by deeprsa.stats.corrections."
    with pytest.raises(ValueError, match=re.escape(msg)):
        register_correction("holm", lambda p: p)
    assert_allclose(correct_pvalues(P4, method="holm"), ADJUSTED["holm"], **SAME64)


def test_a_correction_must_be_callable():
    with pytest.raises(TypeError, match=re.escape("register_correction needs a callable, "
                                                  "got str.")):
        register_correction("bad_test", "holm")
    assert "bad_test" not in list_corrections()


AVAILABLE = "Available: 'bonferroni', 'fdr_bh', 'fdr_by', 'holm', 'none'."


@pytest.mark.parametrize("call, msg", [
    (lambda rdms: correct_pvalues(P4, method="hlm"),
     f"Unknown method 'hlm'. Did you mean 'holm'? {AVAILABLE}"),
    (lambda rdms: pairwise_mantel(rdms, n_permutations=9, correction="bonferoni"),
     f"Unknown correction 'bonferoni'. Did you mean 'bonferroni'? {AVAILABLE}"),
    (lambda rdms: pairwise_mantel(rdms, n_permutations=9, correction="None"),
     f"Unknown correction 'None'. Did you mean 'none'? {AVAILABLE}"),
], ids=["correct_pvalues", "pairwise_mantel", "capitalised-none"])
def test_unknown_correction_suggests_the_closest(seed_rdms, call, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        call(seed_rdms[1])


# ---------------------------------------------------------------- "no correction"


def test_pairwise_mantel_none_leaves_the_corrected_column_out(seed_rdms):
    _, seeds = seed_rdms
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = pairwise_mantel(seeds[:3], n_permutations=19, correction="none", seed=0)
    assert "pvalue_corrected" not in table and "correction" not in table
    corrected = pairwise_mantel(seeds[:3], n_permutations=19, seed=0)
    assert_array_equal(table.pvalue, corrected.pvalue)


def test_pairwise_mantel_correction_none_value_is_a_deprecated_alias(seed_rdms):
    import pandas as pd

    _, seeds = seed_rdms
    msg = ("correction=None is deprecated and will stop working in the next release; use "
           "correction='none', which behaves the same.")
    with pytest.warns(DeprecationWarning, match=re.escape(msg)) as caught:
        old = pairwise_mantel(seeds[:3], n_permutations=19, correction=None, seed=0)
    assert caught[0].filename == __file__  # points at the caller
    new = pairwise_mantel(seeds[:3], n_permutations=19, correction="none", seed=0)
    pd.testing.assert_frame_equal(old, new)


@pytest.mark.parametrize("old, new", [(True, "dual"), (False, "none"), (np.True_, "dual")],
                         ids=["True", "False", "numpy-bool"])
def test_rdm_bootstrap_bool_correction_is_a_deprecated_alias(seed_rdms, old, new):
    import pandas as pd

    candidates, seeds = seed_rdms
    kwargs = {"over": "both", "n_resamples": 30, "seed": 0}
    msg = (f"correction={bool(old)!r} is deprecated and will stop working in the next "
           f"release; use correction={new!r}, which behaves the same.")
    with pytest.warns(DeprecationWarning, match=re.escape(msg)) as caught:
        aliased = bootstrap_rdm_comparison(candidates, seeds, correction=old, **kwargs)
    assert caught[0].filename == __file__
    spelled = bootstrap_rdm_comparison(candidates, seeds, correction=new, **kwargs)
    pd.testing.assert_frame_equal(aliased.table, spelled.table)


def test_rdm_bootstrap_dual_correction_is_the_default_and_changes_the_variance(seed_rdms):
    import pandas as pd

    candidates, seeds = seed_rdms
    kwargs = {"over": "both", "n_resamples": 30, "seed": 0}
    default = bootstrap_rdm_comparison(candidates, seeds, **kwargs).table
    dual = bootstrap_rdm_comparison(candidates, seeds, correction="dual", **kwargs).table
    plain = bootstrap_rdm_comparison(candidates, seeds, correction="none", **kwargs).table
    pd.testing.assert_frame_equal(default, dual)
    assert_array_equal(dual.estimate, plain.estimate)
    assert not np.allclose(dual.standard_error, plain.standard_error)


def test_rdm_bootstrap_correction_is_dual_or_none(seed_rdms):
    candidates, seeds = seed_rdms
    msg = "Unknown correction 'fdr_bh'. Available: 'dual', 'none'."
    with pytest.raises(ValueError, match=re.escape(msg)):
        bootstrap_rdm_comparison(candidates, seeds, correction="fdr_bh", n_resamples=10)


def test_analyses_take_the_registered_corrections():
    import pandas as pd

    # unit_anova and rep_vs_performance list the same names as the registry.
    X = np.random.default_rng(0).standard_normal((20, 3))
    groups = np.repeat([0, 1], 10)
    with pytest.raises(ValueError, match=re.escape(
            f"Unknown correction 'holms'. Did you mean 'holm'? {AVAILABLE}")):
        unit_anova(X, groups, correction="holms")
    names = ["a", "b", "c"]
    predictions = {n: np.repeat([0, 1], 10) for n in names}
    sim = pd.DataFrame(np.eye(3), index=names, columns=names)
    with pytest.raises(ValueError, match=re.escape(
            f"Unknown correction 'fdr'. Did you mean 'fdr_by'? {AVAILABLE}")):
        rep_vs_performance({"fc": sim}, predictions, np.repeat([0, 1], 10), correction="fdr")


def test_cli_mantel_correction_none(seed_store):
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        out = _invoke(["mantel", "--store", str(seed_store.path), "--model", "net_s0",
                       "--model", "net_s1", "--layer", "fc", "--n-permutations", "99",
                       "--correction", "none", "--seed", "0"])
    assert out.exit_code == 0, out.output
    table = pd.read_csv(seed_store.path / "tables" / "mantel.csv")
    assert len(table) == 1 and table.pvalue.iloc[0] == 0.01
    assert "pvalue_corrected" not in table.columns
