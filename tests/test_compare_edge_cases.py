"""Numerical edge cases and conventions of the comparison methods, checked against other code.

Regression tests built from the inputs of issue 16 (minibatch CKA with large unit means,
RDMs of two stimuli, netrep's shape metric, tied mutual k-NN, Procrustes on reduced
representations), and properties across the whole registry: identical inputs, RDMs of
2 and 3 stimuli, constant inputs. Tolerances: float64 references agree to 1e-9 unless
a comment says why not.
"""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import ortho_group

from deeprsa.compare import compare_rdms, compare_representations, describe_methods, list_methods
from deeprsa.compare import representation_methods as rm
from deeprsa.rdm import RDM
from test_compare import FORMULAS

TOL = {"rtol": 1e-9, "atol": 1e-12}


def _kind(method):
    return describe_methods().set_index("name").loc[method, "kind"]


# ---------------------------------------------------------------- minibatch linear CKA


def _hsic1_reference(K, L):
    """Unbiased HSIC of Song et al. (2012), eq. 5, written out (zeroed diagonals)."""
    n = len(K)
    K, L = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ K @ L @ one) / (n * (n - 3))


def _minibatch_reference(X, Y, n_batches):
    """Nguyen et al. (2021): HSIC_1 summed over consecutive batches, linear kernels."""
    xy = xx = yy = 0.0
    for rows in np.array_split(np.arange(len(X)), n_batches):
        K, L = X[rows] @ X[rows].T, Y[rows] @ Y[rows].T
        xy += _hsic1_reference(K, L)
        xx += _hsic1_reference(K, K)
        yy += _hsic1_reference(L, L)
    return xy / np.sqrt(xx * yy)


@pytest.fixture
def large_means():
    """The issue's input: X = relu(N(0, 1)) + 1000 (120 x 16), Y = X |W| / 4 + noise."""
    rng = np.random.default_rng(0)
    X0 = np.maximum(rng.standard_normal((120, 16)), 0)
    W = np.abs(rng.standard_normal((16, 16))) / 4
    noise = rng.standard_normal((120, 16))
    return X0, X0 @ W + noise, 1000.0 + X0, (1000.0 + X0) @ W + noise


@pytest.mark.parametrize("batch_size, n_batches", [(120, 1), (256, 1), (50, 2), (10, 12)])
def test_minibatch_cka_is_exact_for_units_with_large_means(large_means, batch_size,
                                                           n_batches):
    # HSIC_1 ignores a shift of the features, so the reference is computed on the data
    # without the offset, where uncentred Gram matrices lose nothing. Before the fix the
    # offset of 1000 gave 0.253 for one batch (exact 0.242) and 0.194 with batch_size=10.
    X0, Y0, X, Y = large_means
    ours = compare_representations(X, Y, method="minibatch_linear_cka",
                                   params={"batch_size": batch_size})
    assert_allclose(ours, _minibatch_reference(X0, Y0, n_batches), **TOL)


def test_minibatch_cka_with_one_batch_is_debiased_cka_at_large_means(large_means):
    _, _, X, Y = large_means
    one_batch = compare_representations(X, Y, method="minibatch_linear_cka",
                                        params={"batch_size": len(X)})
    assert_allclose(one_batch, compare_representations(X, Y, method="debiased_linear_cka"),
                    **TOL)


@pytest.mark.parametrize("n, batch_size, sizes", [
    (120, 50, [60, 60]), (120, 10, [10] * 12), (103, 25, [26, 26, 26, 25]), (30, 64, [30])])
def test_minibatch_batches_are_n_over_batch_size_near_equal_parts(n, batch_size, sizes):
    # The documented split: n_stimuli // batch_size consecutive batches of near-equal size,
    # each of batch_size to 2 * batch_size - 1 stimuli (one batch if batch_size >= n).
    assert [len(b) for b in rm._batches(n, batch_size)] == sizes


# ---------------------------------------------------------------- shape metric = netrep


def _netrep_shape_metric(X, Y, alpha, eigval_tol=1e-7):
    """netrep's LinearMetric(alpha, center_columns=True, zero_pad=True).fit_score(X, Y).

    An independent numpy transcription of netrep (github.com/ahwillia/netrep, commit
    0186b8a): validation.check_equal_shapes zero-pads the narrower matrix, utils.whiten
    centres and partially whitens with Z = V diag(alpha + (1 - alpha) lam^(-1/2)) V^T,
    lam the eigenvalues of X^T X clipped at eigval_tol (no whitening at all for alpha >
    1 - eigval_tol), rescaled to preserve the variance; LinearMetric.finalize_fit aligns
    by the SVD of Xw^T Yw, and utils.angular_distance is arccos of the normalised inner
    product.
    """
    width = max(X.shape[1], Y.shape[1])
    X = np.pad(X, ((0, 0), (0, width - X.shape[1])))
    Y = np.pad(Y, ((0, 0), (0, width - Y.shape[1])))

    def whiten(A):
        A = A - A.mean(axis=0)
        if alpha > 1 - eigval_tol:
            return A
        lam, V = np.linalg.eigh(A.T @ A)
        lam = np.maximum(lam, eigval_tol)
        d = alpha + (1 - alpha) * lam ** (-1 / 2)
        new_var = np.sum(alpha ** 2 * lam + 2 * alpha * (1 - alpha) * lam ** 0.5
                         + (1 - alpha) ** 2 * np.ones_like(lam))
        d *= np.sqrt(np.sum(lam) / new_var)
        return A @ ((V * d[None, :]) @ V.T)

    Xw, Yw = whiten(X), whiten(Y)
    U, _, Vt = np.linalg.svd(Xw.T @ Yw)
    tx, ty = Xw @ U, Yw @ Vt.T
    corr = tx.ravel() @ ty.ravel() / (np.linalg.norm(tx) * np.linalg.norm(ty))
    return np.arccos(np.clip(corr, -1.0, 1.0))


def test_shape_metric_equals_netrep_on_the_issue_input():
    # netrep's own test style: check_random_state(1), two 31 x 30 randn matrices.
    rs = np.random.RandomState(1)
    X, Y = rs.randn(31, 30), rs.randn(31, 30)
    ours = compare_representations(X, Y, method="shape_metric", params={"alpha": 0.5})
    assert_allclose(ours, _netrep_shape_metric(X, Y, 0.5), **TOL)
    assert round(ours, 5) == 0.62353
    # The old definition whitened with C = Xc^T Xc / n: netrep's value at alpha' below.
    n, alpha = len(X), 0.5
    old = _netrep_shape_metric(X, Y, alpha / (alpha + (1 - alpha) * np.sqrt(n)))
    assert round(old, 5) == 0.37791


@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.3, 0.5, 0.8, 0.99, 1.0])
@pytest.mark.parametrize("shapes", [((60, 8), (60, 5)), ((25, 40), (25, 70)),
                                    ((31, 30), (31, 30))],
                         ids=["tall", "wide", "square"])
def test_shape_metric_equals_netrep(alpha, shapes):
    # Wide inputs (more units than stimuli) have zero eigenvalues that netrep clips at 1e-7
    # and weighs by up to 3e3: they multiply rounding noise, leaving ~1e-12.
    rng = np.random.default_rng(3)
    (n, p), (_, q) = shapes
    X = rng.standard_normal((n, p)) * rng.uniform(0.2, 3.0, p)
    Y = X[:, :min(p, q)] @ rng.standard_normal((min(p, q), q)) + rng.standard_normal((n, q))
    ours = compare_representations(X, Y, method="shape_metric", params={"alpha": alpha})
    assert_allclose(ours, _netrep_shape_metric(X, Y, alpha), **TOL)


def test_shape_metric_clips_small_eigenvalues_as_netrep():
    # Activations of size 1e-3 have eigenvalues of X^T X below netrep's 1e-7, which it
    # clips: the whitening then treats them as larger than they are.
    rng = np.random.default_rng(4)
    X = 1e-3 * rng.standard_normal((40, 6))
    Y = 1e-3 * (X @ rng.standard_normal((6, 6)) + rng.standard_normal((40, 6)))
    ours = compare_representations(X, Y, method="shape_metric", params={"alpha": 0.3})
    assert_allclose(ours, _netrep_shape_metric(X, Y, 0.3), **TOL)


@pytest.mark.parametrize("alpha, invariant", [(0.0, True), (0.5, False), (1.0, False)])
def test_shape_metric_invertible_maps_only_at_alpha_zero(alpha, invariant):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 5))
    Y = X @ rng.standard_normal((5, 5)) + rng.standard_normal((50, 5))
    A = np.eye(5) + rng.standard_normal((5, 5))
    params = {"alpha": alpha}
    base = compare_representations(X, Y, method="shape_metric", params=params)
    mapped = compare_representations(X @ A, Y, method="shape_metric", params=params)
    assert (abs(mapped - base) < 1e-9) == invariant


@pytest.mark.parametrize("alpha, scale_free", [(0.0, True), (0.5, False), (1.0, True)])
def test_shape_metric_depends_on_the_scale_only_for_partial_whitening(alpha, scale_free):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((50, 5))
    Y = X @ rng.standard_normal((5, 5)) + rng.standard_normal((50, 5))
    params = {"alpha": alpha}
    base = compare_representations(X, Y, method="shape_metric", params=params)
    scaled = compare_representations(7.0 * X, Y, method="shape_metric", params=params)
    assert (abs(scaled - base) < 1e-9) == scale_free


# ---------------------------------------------------------------- reduced representations


def _procrustes_definition(X, Y):
    """arccos ||Xn^T Yn||_* on the centred, unit-norm, zero-padded full matrices."""
    Xn = (X - X.mean(0)) / np.linalg.norm(X - X.mean(0))
    Yn = (Y - Y.mean(0)) / np.linalg.norm(Y - Y.mean(0))
    width = max(Xn.shape[1], Yn.shape[1])
    Xn = np.pad(Xn, ((0, 0), (0, width - Xn.shape[1])))
    Yn = np.pad(Yn, ((0, 0), (0, width - Yn.shape[1])))
    return np.arccos(min(1.0, np.linalg.svd(Xn.T @ Yn, compute_uv=False).sum()))


def _wide_pair(seed, *, low_rank=False):
    """Stimuli x units with more units than stimuli, as in convnet layers."""
    rng = np.random.default_rng(seed)
    if low_rank:  # rank 8 plus float32-sized noise: tiny singular values
        X = rng.standard_normal((30, 8)) @ rng.standard_normal((8, 200))
        X += 1e-7 * rng.standard_normal(X.shape)
    else:
        X = np.maximum(rng.standard_normal((30, 200)), 0)
    Y = X[:, :150] @ rng.standard_normal((150, 150)) * 0.1 + rng.standard_normal((30, 150))
    return X, Y


@pytest.mark.parametrize("low_rank", [False, True], ids=["relu", "low_rank"])
def test_procrustes_on_reduced_representations_equals_the_definition(low_rank):
    # prepare keeps R^T of a QR of Xc^T (30 columns instead of 200); rotation invariance
    # makes it exact: the value equals the definition on the full 200-unit matrices.
    X, Y = _wide_pair(7, low_rank=low_rank)
    ours = compare_representations(X, Y, method="procrustes")
    assert_allclose(ours, _procrustes_definition(X, Y), rtol=1e-10, atol=1e-12)
    assert rm.Procrustes().prepare(X)[0].shape == (30, 30)


@pytest.mark.parametrize("method", ["cca", "svcca"])
def test_cca_bases_from_reduced_representations_equal_the_full_svd(method):
    X, Y = _wide_pair(8)
    Y = Y[:, :20]  # rank 20 < 29: CCA is informative
    X = X[:, :25] @ np.random.default_rng(9).standard_normal((25, 200))  # rank 25, 200 units

    def basis(A, k=None):
        U, s, _ = np.linalg.svd(A - A.mean(0), full_matrices=False)
        r = int((s > s[0] * max(A.shape) * np.finfo(float).eps).sum())
        return U[:, :r if k is None else k]

    qx, qy = basis(X), basis(Y)
    rho = np.linalg.svd(qx.T @ qy, compute_uv=False)
    expected = np.mean(rho ** 2) if method == "cca" else np.mean(rho)
    params = {} if method == "cca" else {"n_components": 25}
    assert_allclose(compare_representations(X, Y, method=method, params=params), expected,
                    rtol=1e-10)


def test_procrustes_is_accurate_near_zero():
    # A rotated, scaled, shifted copy: 0 to 1e-12, where arccos(1 - eps) would give 1e-8.
    X, _ = _wide_pair(10)
    Q = ortho_group.rvs(200, random_state=11)
    assert_allclose(compare_representations(X, 2.5 * X @ Q + 3.0, method="procrustes"), 0,
                    atol=1e-12)
    # A near copy, against the residual form of the definition on the full matrices:
    # 2 arcsin(||Xn - Yn Q|| / 2), Q the best rotation (the arccos form loses 8 digits).
    close = X + 1e-6 * np.random.default_rng(12).standard_normal(X.shape)
    Xn = (X - X.mean(0)) / np.linalg.norm(X - X.mean(0))
    Yn = (close - close.mean(0)) / np.linalg.norm(close - close.mean(0))
    U, _, Vt = np.linalg.svd(Yn.T @ Xn)
    expected = 2 * np.arcsin(np.linalg.norm(Xn - Yn @ U @ Vt) / 2)
    assert_allclose(compare_representations(X, close, method="procrustes"), expected,
                    rtol=1e-8)  # the angle is 4e-7: 1e-8 of it is the residual's rounding


# ---------------------------------------------------------------- mutual k-NN ties


def _stable_knn(X, k):
    """Neighbours by cosine similarity, self excluded, ties to the lower index (stable)."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn @ Xn.T
    np.fill_diagonal(S, -np.inf)
    return [set(np.argsort(-S[i], kind="stable")[:k]) for i in range(len(X))]


@pytest.fixture
def prototypes():
    """Duplicated prototypes: every row of X repeats 4 times, so neighbours tie."""
    rng = np.random.default_rng(13)
    P = rng.standard_normal((6, 8))
    X = np.repeat(P, 4, axis=0)
    Y = X + 0.3 * rng.standard_normal(X.shape)
    return X, Y


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_mutual_knn_breaks_ties_by_stimulus_index(prototypes, k):
    X, Y = prototypes
    nx, ny = _stable_knn(X, k), _stable_knn(Y, k)
    expected = np.mean([len(a & b) / k for a, b in zip(nx, ny, strict=True)])
    assert compare_representations(X, Y, method="mutual_knn", params={"k": k}) == expected
    ours = rm.MutualKNN().prepare(X, k)[0]
    assert [set(row) for row in ours] == nx


def test_mutual_knn_does_not_depend_on_the_block_size(prototypes):
    X, _ = prototypes
    method = rm.MutualKNN()
    np.testing.assert_array_equal(method.prepare(X, 5, block_rows=3)[0],
                                  method.prepare(X, 5)[0])


# ---------------------------------------------------------------- the RDM methods' edge cases


RDM_METHODS = list_methods(input="rdm")
# The documented result of comparing a constant RDM with a tie-free one (docs/comparisons.md)
CONSTANT = {"pearson": "nan", "spearman": "nan", "kendall_tau_b": "nan",
            "kendall_tau_a": 0.0, "rho_a": 0.0, "cosine": "formula",
            "corr_cov": "nan", "cosine_cov": "formula"}


def test_every_rdm_method_documents_its_constant_result():
    assert set(RDM_METHODS) <= set(CONSTANT)


@pytest.mark.parametrize("method", RDM_METHODS)
def test_rdms_of_two_stimuli_are_refused_by_every_method(method):
    a = RDM.from_vector([0.3], ["p", "q"])
    msg = "a[0] is an RDM of 2 stimuli; comparing RDMs needs at least 3 stimuli (3 entries)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms([a, a], method=method)
    msg = "b[0] is an RDM of 2 stimuli"
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_rdms(RDM.from_vector([1, 2, 3], ["p", "q", "r"]), a, method=method)


@pytest.mark.parametrize("method", RDM_METHODS)
def test_rdms_of_three_stimuli_give_the_formula(method):
    ids = ["p", "q", "r"]
    vectors = [[1.0, 2.0, 4.0], [2.0, 1.0, 5.0], [3.0, 3.5, 0.5]]
    result = compare_rdms([RDM.from_vector(v, ids) for v in vectors], method=method)
    expected = [[FORMULAS[method](np.array(x), np.array(y)) for y in vectors] for x in vectors]
    assert_allclose(result.matrix, expected, **TOL)


@pytest.mark.parametrize("method", RDM_METHODS)
def test_identical_rdms_give_one(method):
    v = np.random.default_rng(14).random((1, 45))  # tie-free: tau-a and rho-a reach 1 too
    assert_allclose(compare_rdms(v, v, method=method).matrix, [[1.0]], **TOL)


@pytest.mark.parametrize("method", RDM_METHODS)
def test_a_constant_rdm_gives_the_documented_result(method):
    rng = np.random.default_rng(15)
    other = rng.random(45)
    constant = np.full(45, 0.7)
    expected = CONSTANT[method]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = compare_rdms(constant, other, method=method).matrix[0, 0]
    undefined = [w for w in caught if "undefined (NaN)" in str(w.message)]
    if expected == "nan":
        assert np.isnan(value) and len(undefined) == 1
    else:
        if expected == "formula":
            expected = FORMULAS[method](constant, other)
        assert_allclose(value, expected, **TOL)
        assert not undefined


def test_an_all_zero_rdm_has_no_cosine():
    with pytest.warns(UserWarning, match=re.escape("1 of 1 comparisons are undefined")):
        value = compare_rdms(np.zeros(45), np.random.default_rng(16).random(45),
                             method="cosine").matrix[0, 0]
    assert np.isnan(value)


# ---------------------------------------------------------------- the representation methods


REPRESENTATION_METHODS = list_methods(input="representation")


@pytest.mark.parametrize("method", REPRESENTATION_METHODS)
def test_representations_of_three_stimuli_are_refused_by_every_method(method):
    X = np.random.default_rng(17).standard_normal((3, 5))
    msg = "X has 3 stimuli; comparing representations needs at least 4."
    with pytest.raises(ValueError, match=re.escape(msg)):
        compare_representations(X, X, method=method)


@pytest.mark.parametrize("method", REPRESENTATION_METHODS)
def test_identical_representations_give_the_identity_value(method):
    X = np.random.default_rng(18).standard_normal((40, 6)) + 5.0
    expected = 1.0 if _kind(method) == "similarity" else 0.0
    assert_allclose(compare_representations(X, X.copy(), method=method), expected,
                    rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", [m for m in REPRESENTATION_METHODS if m != "mutual_knn"])
def test_a_constant_representation_gives_nan(method):
    # Every stimulus the same (all units constant, not exactly representable means):
    # nothing varies, so there is nothing to compare.
    X = np.full((20, 4), 0.1)
    Y = np.random.default_rng(19).standard_normal((20, 4))
    assert np.isnan(compare_representations(X, Y, method=method))


def test_a_constant_representation_ties_every_neighbour_for_mutual_knn():
    # All cosine similarities tie, so the neighbours are the lowest-index stimuli.
    X = np.full((20, 4), 0.1)
    Y = np.random.default_rng(20).standard_normal((20, 4))
    nx, ny = _stable_knn(X, 5), _stable_knn(Y, 5)
    assert nx[0] == {1, 2, 3, 4, 5} and nx[7] == {0, 1, 2, 3, 4}
    expected = np.mean([len(a & b) / 5 for a, b in zip(nx, ny, strict=True)])
    assert compare_representations(X, Y, method="mutual_knn", params={"k": 5}) == expected
