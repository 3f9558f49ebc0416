"""Tests of deeprsa.compare: second-order comparisons, model RDMs and meta-RDMs."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import ortho_group

from deeprsa.compare import (
    compare_rdms,
    compare_representations,
    compute_meta_rdms,
    describe_methods,
    list_methods,
    model_rdm,
    multi_model_rdm,
)
from deeprsa.compare.rdm_methods import _discordant, _discordant_numpy, _inversions
from deeprsa.rdm import RDM, RDMs
from deeprsa.store import Store

RTOL = 1e-6  # agreement with float64 references
IDS = [f"s{i}" for i in range(12)]
N_ENTRIES = len(IDS) * (len(IDS) - 1) // 2


def _vectors(seed, n_rdms=4, *, ties=False):
    """Upper triangles of ``n_rdms`` random RDMs over IDS; with ties, coarse values."""
    rng = np.random.default_rng(seed)
    v = rng.random((n_rdms, N_ENTRIES))
    if ties:
        v[1:] = np.round(v[1:] * 4)  # keep row 0 tie-free, the others heavily tied
    return v


def _rdms(vectors, **provenance):
    return [RDM.from_vector(v, IDS, {"layer": f"l{i}", **provenance})
            for i, v in enumerate(vectors)]


def _slow_tau_a(x, y):
    """O(n^2) reference: (concordant - discordant) / all pairs."""
    n = len(x)
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
            for i in range(n) for j in range(i + 1, n))
    return s / (n * (n - 1) / 2)


# ---------------------------------------------------------------- RDM methods vs references


SCIPY = {
    "spearman": lambda x, y: scipy.stats.spearmanr(x, y)[0],
    "pearson": lambda x, y: scipy.stats.pearsonr(x, y)[0],
    "kendall_tau_b": lambda x, y: scipy.stats.kendalltau(x, y)[0],  # tau-b is scipy's default
    "kendall_tau_a": _slow_tau_a,
}


def _rho_a(x, y):
    n = len(x)
    rx, ry = scipy.stats.rankdata(x) - (n + 1) / 2, scipy.stats.rankdata(y) - (n + 1) / 2
    return 12 * np.dot(rx, ry) / (n ** 3 - n)


def _whitened(x, y, keep=None, *, centre):
    """Diedrichsen et al. (2021): x^T V^-1 y normalised, V the covariance of RDM entries
    under i.i.d. pattern noise, restricted to the entries in ``keep``."""
    n = int(round((1 + np.sqrt(1 + 8 * len(x))) / 2))
    i, j = np.triu_indices(n, 1)
    contrasts = np.zeros((len(i), n))
    contrasts[np.arange(len(i)), i], contrasts[np.arange(len(i)), j] = 1, -1
    V = (contrasts @ contrasts.T) ** 2
    keep = np.ones(len(x), dtype=bool) if keep is None else keep
    x, y, V = x[keep], y[keep], V[np.ix_(keep, keep)]
    if centre:
        x, y = x - x.mean(), y - y.mean()
    inner = lambda a, b: a @ np.linalg.solve(V, b)  # noqa: E731
    return inner(x, y) / np.sqrt(inner(x, x) * inner(y, y))


# plain formulas for every method, used where a library reference does not fit
FORMULAS = {**SCIPY, "rho_a": _rho_a,
            "cosine": lambda x, y: x @ y / (np.linalg.norm(x) * np.linalg.norm(y)),
            "cosine_cov": lambda x, y, keep=None: _whitened(x, y, keep, centre=False),
            "corr_cov": lambda x, y, keep=None: _whitened(x, y, keep, centre=True)}
# Whitened methods keep the layout of the RDM: a missing entry is left out of V too.
WHITENED = ("corr_cov", "cosine_cov")


@pytest.mark.parametrize("ties", [False, True], ids=["no_ties", "ties"])
@pytest.mark.parametrize("method", sorted(SCIPY))
def test_rdm_methods_match_scipy(method, ties):
    v = _vectors(0, ties=ties)
    result = compare_rdms(_rdms(v), method=method)
    expected = np.array([[SCIPY[method](x, y) for y in v] for x in v])
    if method == "kendall_tau_a":  # tau-a of a tied RDM with itself is below 1
        np.fill_diagonal(expected, [_slow_tau_a(x, x) for x in v])
    assert_allclose(result.matrix, expected, rtol=RTOL, atol=1e-12)


RSATOOLBOX = {"spearman": "spearman", "pearson": "corr", "cosine": "cosine",
              "kendall_tau_a": "tau-a", "kendall_tau_b": "kendall", "rho_a": "rho-a",
              "corr_cov": "corr_cov", "cosine_cov": "cosine_cov"}


@pytest.mark.parametrize("ties", [False, True], ids=["no_ties", "ties"])
@pytest.mark.parametrize("method", sorted(RSATOOLBOX))
def test_rdm_methods_match_rsatoolbox(method, ties):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    v = _vectors(1, ties=ties)
    a, b = v[:2], v[2:]
    expected = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(a), rsatoolbox.rdm.RDMs(b),
                                      method=RSATOOLBOX[method])
    assert_allclose(compare_rdms(a, b, method=method).matrix, expected, rtol=RTOL, atol=1e-12)


def test_every_rdm_method_is_checked_against_a_reference():
    assert set(list_methods(input="rdm")) <= set(SCIPY) | set(RSATOOLBOX)


@pytest.mark.parametrize("method", list_methods(input="rdm"))
def test_rdm_compared_with_itself_gives_one(method):
    v = _vectors(2)[:1]  # no ties: every method gives exactly 1
    assert_allclose(compare_rdms(v, v, method=method).matrix, [[1.0]], rtol=RTOL)


@pytest.mark.parametrize("method", list_methods(input="rdm"))
def test_within_equals_between_and_is_symmetric(method):
    v = _vectors(3, 5, ties=True)
    within = compare_rdms(v, method=method).matrix
    between = compare_rdms(v[:2], v[2:], method=method).matrix
    assert_allclose(within, within.T, rtol=0, atol=1e-15)
    assert_allclose(within[:2, 2:], between, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", list_methods(input="rdm"))
def test_result_does_not_depend_on_working_memory(method):
    # A tiny budget spills the prepared RDMs to disk and reads them in small blocks.
    v = _vectors(4, 5, ties=True)
    plain = compare_rdms(v, method=method).matrix
    spilled = compare_rdms(v, method=method, working_memory=1e-3).matrix
    assert_allclose(spilled, plain, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- Kendall internals


@pytest.mark.parametrize("seed", range(3))
def test_discordant_counts_match_a_slow_loop(seed):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.integers(1, 15, 200)).astype(np.intp)  # sorted, with ties
    y = rng.integers(1, 10, 200).astype(np.intp)
    slow = sum(1 for i in range(200) for j in range(i + 1, 200) if x[i] < x[j] and y[i] > y[j])
    assert _discordant(x, y) == slow
    assert _discordant_numpy(x, y) == slow


def test_inversions_match_a_slow_loop():
    y = np.random.default_rng(5).integers(0, 50, 300)
    slow = sum(1 for i in range(300) for j in range(i + 1, 300) if y[i] > y[j])
    assert _inversions(y) == slow


def test_tau_a_with_ties_matches_a_slow_loop_on_larger_rdms():
    rng = np.random.default_rng(6)
    x, y = np.round(rng.random((2, 190)) * 6)
    result = compare_rdms(np.stack([x, y]), method="kendall_tau_a").matrix
    assert_allclose(result[0, 1], _slow_tau_a(x, y), rtol=RTOL)
    assert_allclose(result[0, 0], _slow_tau_a(x, x), rtol=RTOL)


# ---------------------------------------------------------------- inputs, errors, NaN


def test_accepts_a_single_rdm_rdms_and_lists():
    rdms = _rdms(_vectors(7, 3))
    expected = compare_rdms(rdms).matrix
    assert_allclose(compare_rdms(RDMs(rdms)).matrix, expected, rtol=1e-15)
    assert_allclose(compare_rdms(rdms[0], rdms).matrix, expected[:1], rtol=1e-15)


def test_refuses_rdms_over_other_stimuli():
    a = RDM.from_vector(_vectors(8)[0], IDS, {"layer": "l0"})
    b = RDM.from_vector(_vectors(8)[1], IDS[:-1] + ["x"], {"layer": "l1"})
    msg = ("RDMs compare only over the same stimuli: b[0] (layer='l1') and a[0] (layer='l0') "
           "differ; 1 id(s) only in b[0], e.g. ['x']; 1 only in a[0], e.g. ['s11'].")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms(a, b)


def test_refuses_rdms_in_another_stimulus_order():
    a = RDM.from_vector(_vectors(9)[0], IDS)
    b = a.subset(IDS[::-1])
    msg = ("RDMs compare only over the same stimuli in the same order: a[1] and a[0] hold the "
           "same 12 stimuli in another order (first difference at position 0: 's11' vs 's0').")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms([a, b])


def test_unknown_method_suggests_the_closest():
    msg = "Unknown comparison method 'spearmann'. Did you mean 'spearman'?"
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms(_vectors(0), method="spearmann")


def test_representation_method_on_rdms_points_to_compare_representations():
    msg = ("Method 'linear_cka' compares representations, not rdms; use "
           "compare_representations(X, Y, method=...) on activations.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms(_vectors(0), method="linear_cka")


def test_array_input_must_be_upper_triangles():
    msg = ("a must be an RDM, RDMs, a list of RDM, or an array of upper triangles of shape "
           "(n_rdms, n_stimuli * (n_stimuli - 1) / 2) with n_stimuli >= 3; got shape (2, 7).")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms(np.ones((2, 7)))


@pytest.mark.parametrize("method", list_methods(input="rdm"))
def test_nan_entries_are_left_out_of_every_comparison_and_reported(method):
    v = _vectors(10, ties=True)
    v[1, [3, 7]] = np.nan
    v[2, 7] = np.nan
    msg = ("2 RDM(s) have NaN entries (a[1]: 2; a[2]: 1). Those stimulus pairs are left out of "
           f"every comparison in this call, leaving {N_ENTRIES - 2} of {N_ENTRIES} entries")
    with pytest.warns(UserWarning, match=re.escape(msg)):
        result = compare_rdms(v, method=method)
    keep = np.ones(N_ENTRIES, dtype=bool)
    keep[[3, 7]] = False
    # the same numbers as comparing the clean entries only
    if method in WHITENED:
        expected = [[FORMULAS[method](np.nan_to_num(x), np.nan_to_num(y), keep) for y in v]
                    for x in v]
    else:
        expected = [[FORMULAS[method](x[keep], y[keep]) for y in v] for x in v]
    assert_allclose(result.matrix, expected, rtol=RTOL)
    assert result.n_entries == N_ENTRIES - 2
    assert (result.table["n_entries"] == N_ENTRIES - 2).all()


def test_infinite_entries_are_refused():
    v = _vectors(11)
    v[2, 0] = np.inf
    msg = "a[2] holds infinite entries; a dissimilarity must be finite (NaN marks a missing entry)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms(v)


def test_constant_rdm_gives_nan_and_a_warning():
    v = _vectors(12, 3)
    v[1] = 0.5
    with pytest.warns(UserWarning, match=re.escape("5 of 9 comparisons are undefined (NaN)")):
        result = compare_rdms(v, method="pearson")
    assert np.isnan(result.matrix[1]).all() and np.isnan(result.matrix[:, 1]).all()
    assert np.isfinite(result.matrix[np.ix_([0, 2], [0, 2])]).all()


# ---------------------------------------------------------------- result and table


def test_table_has_one_row_per_pair_with_both_sides():
    rdms = [RDM.from_vector(v, IDS, {"model": "net", "layer": f"l{i}", "measure": "correlation"})
            for i, v in enumerate(_vectors(13, 3))]
    result = compare_rdms(rdms, method="spearman")
    table = result.table
    assert len(table) == 3  # unordered pairs of 3 RDMs
    assert {"model_a", "layer_a", "measure_a", "model_b", "layer_b", "measure_b", "method",
            "params", "value", "kind", "dissimilarity", "n_stimuli", "n_entries"} <= set(table)
    assert_array_equal(table[["layer_a", "layer_b"]].to_numpy(),
                       [["l0", "l1"], ["l0", "l2"], ["l1", "l2"]])
    assert_allclose(table["value"], result.matrix[[0, 0, 1], [1, 2, 2]], rtol=0)
    assert_allclose(table["dissimilarity"], 1 - table["value"], rtol=0)
    assert (table["kind"] == "similarity").all() and (table["n_stimuli"] == len(IDS)).all()
    between = compare_rdms(rdms[:1], rdms, method="spearman").table
    assert len(between) == 3 and list(between["layer_b"]) == ["l0", "l1", "l2"]


def test_to_rdm_labels_entries_by_model_and_layer():
    rdms = [RDM.from_vector(v, IDS, {"model": "net", "layer": f"l{i}", "measure": "correlation"})
            for i, v in enumerate(_vectors(14, 3))]
    rdm = compare_rdms(rdms).to_rdm()
    assert rdm.stimulus_ids == ("net|l0", "net|l1", "net|l2")
    assert rdm.provenance["measure"] == "spearman"
    assert rdm.provenance["measure_sub"] == "correlation"
    assert_allclose(rdm.matrix, 1 - compare_rdms(rdms).matrix, atol=1e-12)


# ---------------------------------------------------------------- representations


@pytest.fixture
def kornblith():
    """The demo data of Kornblith et al. (2019)."""
    np.random.seed(1337)
    X = np.random.randn(100, 10)
    Y = np.random.randn(100, 10) + X
    return X, Y


@pytest.mark.parametrize("method, params, expected", [
    ("linear_cka", {}, 0.55761),
    ("rbf_cka", {"threshold": 0.5}, 0.65483),
    ("debiased_linear_cka", {}, 0.51346),
    ("cca", {}, 0.54540),  # columns centred
])
def test_kornblith_reference_values(kornblith, method, params, expected):
    # the reference is printed to 5 decimals
    assert round(compare_representations(*kornblith, method=method, params=params), 5) == expected


def test_linear_cka_gram_and_feature_forms_agree():
    # X has more stimuli than units (feature form), Y fewer (Gram form).
    rng = np.random.default_rng(15)
    X, Y = rng.standard_normal((30, 5)), rng.standard_normal((30, 60))
    K = (X - X.mean(0)) @ (X - X.mean(0)).T
    L = (Y - Y.mean(0)) @ (Y - Y.mean(0)).T
    expected = np.vdot(K, L) / (np.linalg.norm(K) * np.linalg.norm(L))
    assert_allclose(compare_representations(X, Y), expected, rtol=1e-10)
    assert_allclose(compare_representations(Y, X), expected, rtol=1e-10)


@pytest.mark.parametrize("method", ["linear_cka", "rbf_cka", "debiased_linear_cka", "cca"])
def test_cka_unchanged_by_orthogonal_maps_and_isotropic_scaling(method):
    rng = np.random.default_rng(16)
    X = rng.standard_normal((60, 8))
    Y = X @ rng.standard_normal((8, 6)) + rng.standard_normal((60, 6))
    Q = ortho_group.rvs(8, random_state=17)
    base = compare_representations(X, Y, method=method)
    assert_allclose(compare_representations(3.5 * X @ Q, Y, method=method), base, rtol=1e-8)


@pytest.mark.parametrize("method, changed", [("linear_cka", True), ("cca", False)])
def test_random_invertible_map_changes_cka_but_not_cca(method, changed):
    rng = np.random.default_rng(18)
    X = rng.standard_normal((60, 8))
    Y = X @ rng.standard_normal((8, 6)) + rng.standard_normal((60, 6))
    A = rng.standard_normal((8, 8))  # invertible with probability 1
    base = compare_representations(X, Y, method=method)
    mapped = compare_representations(X @ A, Y, method=method)
    assert (abs(mapped - base) > 1e-3) == changed


@pytest.mark.parametrize("method", list_methods(input="representation"))
def test_representation_compared_with_itself(method):
    X = np.random.default_rng(19).standard_normal((40, 6))
    kind = describe_methods().set_index("name").loc[method, "kind"]
    expected = 1.0 if kind == "similarity" else 0.0
    assert_allclose(compare_representations(X, X, method=method), expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("alpha, scale", [(0.0, 2.5), (0.5, 1.0), (1.0, 2.5)])
def test_procrustes_and_shape_metric_are_zero_for_a_rotated_scaled_shifted_copy(alpha, scale):
    # Partial whitening (0 < alpha < 1) weighs (Xc^T Xc)^(-1/2) against I, so it depends on
    # the overall scale, as in netrep (Williams et al., 2021); only the ends are scale-free.
    rng = np.random.default_rng(20)
    X = rng.standard_normal((50, 7))
    Y = scale * X @ ortho_group.rvs(7, random_state=21) + rng.standard_normal(7)
    assert_allclose(compare_representations(X, 2.5 * Y, method="procrustes"), 0, atol=1e-12)
    assert_allclose(compare_representations(X, Y, method="shape_metric", params={"alpha": alpha}), 0, atol=1e-12)


def test_shape_metric_ends_are_procrustes_and_mean_canonical_correlation():
    rng = np.random.default_rng(22)
    X = rng.standard_normal((80, 5))
    Y = X @ rng.standard_normal((5, 5)) + 2 * rng.standard_normal((80, 5))
    assert_allclose(compare_representations(X, Y, method="shape_metric", params={"alpha": 1.0}),
                    compare_representations(X, Y, method="procrustes"), rtol=1e-12)
    qx = np.linalg.qr(X - X.mean(0))[0]
    qy = np.linalg.qr(Y - Y.mean(0))[0]
    rho = np.linalg.svd(qx.T @ qy, compute_uv=False)
    assert_allclose(compare_representations(X, Y, method="shape_metric", params={"alpha": 0.0}),
                    np.arccos(rho.mean()), rtol=1e-8)
    assert_allclose(compare_representations(X, Y, method="svcca", params={"n_components": 5}), rho.mean(),
                    rtol=1e-8)
    assert_allclose(compare_representations(X, Y, method="cca"), np.mean(rho ** 2), rtol=1e-8)


def test_procrustes_matches_the_definition():
    rng = np.random.default_rng(23)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((30, 6))
    Xn = (X - X.mean(0)) / np.linalg.norm(X - X.mean(0))
    Yn = (Y - Y.mean(0)) / np.linalg.norm(Y - Y.mean(0))
    nuclear = np.linalg.svd(Xn.T @ Yn, compute_uv=False).sum()
    assert_allclose(compare_representations(X, Y, method="procrustes"), np.arccos(nuclear), rtol=1e-8)


def test_minibatch_cka_with_one_batch_is_debiased_cka(kornblith):
    assert_allclose(compare_representations(*kornblith, method="minibatch_linear_cka",
                                            params={"batch_size": 100}),
                    compare_representations(*kornblith, method="debiased_linear_cka"), rtol=1e-10)


def test_mutual_knn_counts_shared_neighbours():
    # Points on a line: each point's 2 nearest neighbours by cosine are the adjacent angles.
    angles = np.linspace(0.1, 1.4, 8)
    X = np.c_[np.cos(angles), np.sin(angles)]
    Y = X[:, ::-1]  # a reflection keeps every neighbourhood
    assert compare_representations(X, Y, method="mutual_knn", params={"k": 2}) == 1.0
    Z = X[np.random.default_rng(24).permutation(8)]
    expected = np.mean([len(set(_knn(X, i)) & set(_knn(Z, i))) / 2 for i in range(8)])
    assert_allclose(compare_representations(X, Z, method="mutual_knn", params={"k": 2}), expected, rtol=0)


def _knn(X, i, k=2):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    s = Xn @ Xn[i]
    s[i] = -np.inf
    return np.argsort(-s)[:k]


@pytest.mark.parametrize("method, params, msg", [
    ("shape_metric", {"alpha": 2}, "alpha must be a number in [0, 1] (1 = Procrustes, 0 = "
                                   "full whitening), got 2."),
    ("mutual_knn", {"k": 40}, "k must be an int in [1, n_stimuli - 1] = [1, 39], got 40."),
    ("rbf_cka", {"treshold": 1}, "Unknown parameter 'treshold' for method 'rbf_cka'. Did you "
                                 "mean 'threshold'? It takes: 'threshold'."),
    ("linear_cka", {"k": 1}, "Unknown parameter 'k' for method 'linear_cka'. It takes no "
                             "parameters."),
])
def test_bad_parameters_are_refused(method, params, msg):
    X = np.random.default_rng(25).standard_normal((40, 3))
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_representations(X, X, method=method, params=params)


def test_representations_must_share_stimuli():
    rng = np.random.default_rng(26)
    with pytest.raises(ValueError, match=re.escape("X and Y must hold the same stimuli: X has "
                                                   "10 rows, Y has 9.")):
        compare_representations(rng.random((10, 3)), rng.random((9, 3)))


def test_cca_warns_when_every_canonical_correlation_is_one():
    X = np.random.default_rng(27).standard_normal((10, 20))
    with pytest.warns(UserWarning, match="every canonical correlation is 1"):
        assert_allclose(compare_representations(X, X[:, ::-1], method="cca"), 1.0)


# ---------------------------------------------------------------- from the store


def _store_with_rdms(tmp_path, models=("alexnet", "vgg"), n_layers=3):
    store = Store(tmp_path / "s.zarr")
    rdms = []
    for m, model in enumerate(models):
        for i, v in enumerate(_vectors(30 + m, n_layers)):
            rdm = RDM.from_vector(v, IDS, {"model": model, "layer": f"layer{i}",
                                           "measure": "correlation"})
            rdm.save(store)
            rdms.append(rdm)
    return store, rdms


class _Guarded:
    """A store array that refuses reads of more than ``max_rows`` rows at once."""

    def __init__(self, array, max_rows, log):
        self.array, self.max_rows, self.log = array, max_rows, log
        self.shape = array.shape

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise AssertionError(f"read {index!r}: only row slices are allowed")
        rows = len(range(*index.indices(self.shape[0])))
        self.log.append(rows)
        if rows > self.max_rows:
            raise AssertionError(f"read {rows} rows at once; the block is {self.max_rows}")
        return self.array[index]


@pytest.mark.parametrize("method", ["spearman", "kendall_tau_a"])
def test_multi_model_rdm_reads_the_store_in_blocks(tmp_path, method):
    store, rdms = _store_with_rdms(tmp_path)
    reads, array = [], store.array
    store.array = lambda key: (_Guarded(array(key), 2, reads)
                               if store.entry(key)["kind"] == "rdms" else array(key))
    # 0.001 MiB: 1 row per read, and the prepared vectors spill to disk (Kendall) or are
    # ranked once into the store (Spearman)
    result = multi_model_rdm(store, method=method, working_memory=1e-3)
    assert reads and max(reads) <= 2
    assert_allclose(result.matrix, compare_rdms(rdms, method=method).matrix, rtol=1e-12)
    assert list(result.metadata_a["model"]) == ["alexnet"] * 3 + ["vgg"] * 3
    assert list(result.metadata_a["layer"]) == ["layer0", "layer1", "layer2"] * 2
    assert result.symmetric and result.n_entries == N_ENTRIES


@pytest.mark.parametrize("method", ["spearman", "pearson", "cosine", "rho_a", "corr_cov"])
def test_a_comparison_too_big_for_memory_ranks_each_rdm_once_into_the_store(tmp_path, method):
    store, rdms = _store_with_rdms(tmp_path)
    in_memory = compare_rdms(rdms, method=method)
    result = multi_model_rdm(store, method=method, working_memory=1e-3)  # out of core
    assert_allclose(result.matrix, in_memory.matrix, rtol=0, atol=1e-12)
    prepared = store.select("prepared")
    assert len(prepared) == len(rdms)  # each RDM prepared once
    assert set(prepared["of"]) == set(store.select("rdms")["key"])
    # Another comparison of the same RDMs reuses the prepared vectors.
    store.delete(result.provenance["key"])
    again = multi_model_rdm(store, method=method, working_memory=1e-3)
    assert len(store.select("prepared")) == len(rdms)
    assert_array_equal(again.matrix, result.matrix)


def test_model_rdm_is_the_block_of_one_model(tmp_path):
    store, rdms = _store_with_rdms(tmp_path)
    single = model_rdm(store, "vgg")
    assert_allclose(single.matrix, multi_model_rdm(store).select(model="vgg").matrix,
                    rtol=1e-12)
    assert_allclose(single.dissimilarity, 1 - compare_rdms(rdms[3:]).matrix, rtol=1e-12)
    ordered = multi_model_rdm(store, ["vgg"], layer=["layer2", "layer0"])
    assert list(ordered.metadata_a["layer"]) == ["layer2", "layer0"]


def test_store_selection_errors_name_what_is_there(tmp_path):
    store, _ = _store_with_rdms(tmp_path)
    with pytest.raises(KeyError, match=re.escape("No complete RDM with model='alexnt'. Did "
                                                 "you mean 'alexnet'?")):
        multi_model_rdm(store, ["alexnt"])
    RDM.from_vector(_vectors(40)[0], IDS, {"model": "vgg", "layer": "layer0",
                                           "measure": "euclidean"}).save(store)
    msg = ("2 rdms entries match model 'vgg' layer 'layer0'; they differ in ['digest', "
           "'measure']. Choose one with a filter")
    with pytest.raises(ValueError, match=re.escape(msg)):
        multi_model_rdm(store)
    assert multi_model_rdm(store, measure="euclidean").matrix.shape == (1, 1)


def test_representation_methods_compare_stored_activations(tmp_path):
    store = Store(tmp_path / "s.zarr")
    store.add_stimuli(IDS, "h")
    rng = np.random.default_rng(41)
    acts = {}
    for layer, width in (("conv", 5), ("fc", 20)):
        acts[layer] = rng.standard_normal((len(IDS), width)).astype(np.float32)
        store.write("activations", {"model": "net", "layer": layer, "reduction": "flatten",
                                    "stimuli": "h"}, acts[layer])
    result = model_rdm(store, "net", method="rbf_cka", params={"threshold": 0.5})
    expected = compare_representations(acts["conv"], acts["fc"], method="rbf_cka", params={"threshold": 0.5})
    assert_allclose(result.matrix[0, 1], expected, rtol=1e-12)
    assert result.table["params"].iloc[0] == '{"threshold": 0.5}'


def test_saved_comparison_is_found_again(tmp_path):
    store, _ = _store_with_rdms(tmp_path)
    result = multi_model_rdm(store)
    key = result.save(store, name="multi_model_rdm")
    assert result.save(store, name="multi_model_rdm") == key
    assert_allclose(store.read(key), result.matrix, rtol=0)
    assert store.entry(key)["attrs"]["metadata_a"][4]["layer"] == "layer1"


# ------------------------------------------------ meta-RDMs (pytorch_feature_analysis)


def _color_table():
    """4 objects x 2 layers, each an RDM over 4 colours (pytorch_feature_analysis' example)."""
    colours = ["000", "090", "180", "270"]
    rng = np.random.default_rng(50)
    rows = []
    for layer in ("conv1", "fc"):
        for obj in ("obj1", "obj2", "obj3", "obj4"):
            rows.append({"model": "alexnet", "layer": layer, "obj": obj,
                         "measure": "correlation",
                         "rdm": RDM.from_vector(rng.random(6), colours)})
    return pd.DataFrame(rows)


def test_second_order_meta_rdms_compare_entries_within_groups():
    table = _color_table()
    meta = compute_meta_rdms(table, entry_variables=["obj"],
                             grouping_variables=["model", "layer"],
                             method=["spearman", "pearson"])
    assert len(meta) == 4  # 2 layers x 2 methods
    assert list(meta["measure"]) == ["spearman", "pearson"] * 2
    assert (meta["measure_sub"] == "correlation").all() and (meta["order"] == 2).all()
    rdm = meta["rdm"][2]  # fc, spearman
    assert rdm.stimulus_ids == ("obj1", "obj2", "obj3", "obj4")
    expected = 1 - compare_rdms(list(table["rdm"][4:]), method="spearman").matrix
    assert_allclose(rdm.matrix, expected, atol=1e-12)
    assert rdm.provenance["layer"] == "fc" and rdm.provenance["measure_sub"] == "correlation"


def test_third_order_rdm_of_meta_rdms_shifts_the_sub_suffix():
    meta = compute_meta_rdms(_color_table(), entry_variables=["obj"],
                             grouping_variables=["model", "layer", "measure"],
                             method=["spearman", "pearson"])
    third = compute_meta_rdms(meta, entry_variables=["layer"],
                              grouping_variables=["model", "measure", "measure_sub"])
    assert list(third["measure_sub"]) == ["spearman", "pearson"]
    assert (third["measure_sub_sub"] == "correlation").all() and (third["order"] == 3).all()
    assert third["rdm"][0].stimulus_ids == ("conv1", "fc")
    expected = 1 - compare_rdms(list(meta["rdm"][meta["measure"] == "spearman"])).matrix[0, 1]
    assert_allclose(third["rdm"][0].matrix[0, 1], expected, rtol=1e-12)


def test_meta_rdm_entries_can_combine_variables():
    meta = compute_meta_rdms(_color_table(), entry_variables=["obj", "layer"])
    assert len(meta) == 1 and meta["rdm"][0].n_stimuli == 8
    assert meta["rdm"][0].stimulus_ids[:2] == ("obj1|conv1", "obj2|conv1")


def test_meta_rdm_refuses_ambiguous_entries():
    msg = ("The group {'model': 'alexnet'} has 2 RDMs for the entry {'obj': 'obj1'}; they "
           "differ in ['layer']. Add 'layer' to grouping_variables or entry_variables.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_meta_rdms(_color_table(), entry_variables=["obj"], grouping_variables=["model"])


def test_meta_rdm_unknown_column_suggests():
    with pytest.raises(KeyError, match=re.escape("No column 'layr' in the table. Did you mean "
                                                 "'layer'?")):
        compute_meta_rdms(_color_table(), entry_variables=["obj"], grouping_variables=["layr"])


# ---------------------------------------------------------------- CLI


def test_cli_compare_writes_matrices_and_table(tmp_path):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    store, rdms = _store_with_rdms(tmp_path)
    out = CliRunner().invoke(cli, ["compare", "--store", str(store.path),
                                   "--method", "kendall_tau_b"])
    assert out.exit_code == 0, out.output
    table = pd.read_parquet(store.path / "tables" / "compare-kendall_tau_b.parquet")
    assert len(table) == 15  # 6 layers -> 15 unordered pairs
    expected = compare_rdms(rdms, method="kendall_tau_b").matrix
    assert_allclose(table["value"], expected[np.triu_indices(6, 1)], rtol=1e-12)
    names = Store(store.path).entries("comparisons")["name"]
    assert sorted(names) == ["model_rdm", "model_rdm", "multi_model_rdm"]


def test_cli_compare_reports_unknown_methods(tmp_path):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    store, _ = _store_with_rdms(tmp_path)
    out = CliRunner().invoke(cli, ["compare", "--store", str(store.path), "--method", "pearsn"])
    assert out.exit_code != 0
    assert "Unknown comparison method 'pearsn'. Did you mean 'pearson'?" in out.output


def test_no_warning_for_clean_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_rdms(_rdms(_vectors(60)), method="kendall_tau_b")


@pytest.mark.parametrize("method", ["kendall_tau_b", "spearman"])
def test_threads_give_the_same_numbers(method):
    v = _vectors(61, 6, ties=True)
    assert_array_equal(compare_rdms(v, method=method, n_jobs=2).matrix,
                       compare_rdms(v, method=method).matrix)


def test_n_jobs_is_checked():
    with pytest.raises(ValueError, match=re.escape("n_jobs must be None, -1 or a positive "
                                                   "int, got 0.")):
        compare_rdms(_vectors(62), n_jobs=0)
