"""Comparing two representations directly, without an RDM in between.

Each measure is a small class with two steps, so that a matrix over many
layers prepares every layer once and then compares the prepared forms pair by
pair (see :func:`deeprsa.compare.multi_model_rdm`):

- ``prepare(X, **params)`` turns activations of shape (n_stimuli, n_units)
  into a tuple (centred features, a Gram matrix, a basis, ...);
- ``pair(a, b, **params)`` compares two prepared tuples and returns a float.

Inputs arrive validated (float64, 2-D, finite, same number of rows), so the
functions here trust them. The registry and the public entry point live in
:mod:`deeprsa.compare`.

Each class states its ``invariances`` (names from
:data:`deeprsa.rdm.measures.INVARIANCES`): transforms of one representation
that leave every value unchanged at the default parameters. The tests check
the stated ones for every registered method.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["METHODS"]

_KORNBLITH = ("Kornblith, S., Norouzi, M., Lee, H., & Hinton, G. (2019). Similarity of "
              "neural network representations revisited. ICML.")
_WILLIAMS = ("Williams, A. H., Kunz, E., Kornblith, S., & Linderman, S. W. (2021). "
             "Generalized shape metrics on neural representations. NeurIPS.")


class _Method:
    """Shared attributes: representations in, no single matrix product for all pairs."""

    input = "representation"
    dot = False


def _center(X):
    """Columns centred; a unit that never varies becomes exactly 0 (not rounding noise)."""
    Xc = X - X.mean(axis=0)
    Xc[:, np.ptp(X, axis=0) == 0] = 0.0
    return Xc


def _centred_gram(X, chunk=4096):
    """``Xc Xc^T`` from column chunks of ``Xc``, without a centred copy of all of ``X``."""
    G = np.zeros((len(X), len(X)))
    for start in range(0, X.shape[1], chunk):
        Z = _center(X[:, start:start + chunk])
        G += Z @ Z.T
    return G


def _reduce(Xc):
    """A matrix of at most ``n_stimuli`` columns with the Gram matrix ``Xc Xc^T`` of ``Xc``.

    With more units than stimuli, ``R^T`` of the QR decomposition ``Xc^T = Q R``:
    ``Xc = R^T Q^T``, so ``R^T`` is ``Xc`` rotated (``Q`` has orthonormal columns)
    and every rotation-invariant comparison (Procrustes, the shape metrics, CCA)
    gives the same value on it. Householder QR is backward stable, as an SVD
    is, and costs a sixth of the thin SVD of ``Xc``.
    """
    if Xc.shape[1] <= Xc.shape[0]:
        return Xc
    return np.linalg.qr(Xc.T, mode="r").T


def _basis(Xc):
    """Left singular vectors and singular values of ``Xc``, numerical rank only.

    From the SVD of the reduced ``R^T`` (see :func:`_reduce`): the same ``U`` and
    singular values as the thin SVD of ``Xc`` itself, at the cost of an
    (n_stimuli x n_stimuli) SVD.
    """
    U, s, _ = np.linalg.svd(_reduce(Xc), full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return U[:, :0], s[:0]
    keep = s > s[0] * max(Xc.shape) * np.finfo(float).eps
    return U[:, keep], s[keep]


_GEOMETRY = ("rotation", "unit_permutation", "scaling", "shift")


# --------------------------------------------------------------------- linear CKA


def _linear_form(X):
    """Centred features when n_stimuli > n_units (feature space), else the Gram matrix."""
    Xc = _center(X)
    if Xc.shape[0] > Xc.shape[1]:
        return "features", Xc
    return "gram", Xc @ Xc.T


def _cross(form_a, A, form_b, B):
    """``||Xc^T Yc||_F^2 = <Kc, Lc>`` for prepared linear forms of X and Y."""
    if form_a == "features" and form_b == "features":
        return float(np.linalg.norm(A.T @ B) ** 2)
    if form_a == "gram" and form_b == "gram":
        return float(np.vdot(A, B))
    K, Y = (A, B) if form_a == "gram" else (B, A)
    return float(np.vdot(K @ Y, Y))


def _self_cross(form, A):
    return float(np.linalg.norm(A.T @ A) ** 2) if form == "features" else float(np.vdot(A, A))


def _ratio(num, den):
    return num / den if den > 0 else float("nan")


class LinearCKA(_Method):
    """Linear centred kernel alignment, <Kc, Lc> / (||Kc|| ||Lc||) with K = X X^T."""

    name = "linear_cka"
    kind = "similarity"
    defaults: dict = {}
    formula = "||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), columns centred"
    value_range = "[0, 1]"
    reference = _KORNBLITH
    invariances = _GEOMETRY

    def prepare(self, X):
        form, A = _linear_form(X)
        return form, A, np.sqrt(_self_cross(form, A))

    def pair(self, a, b):
        return _ratio(_cross(a[0], a[1], b[0], b[1]), a[2] * b[2])


def _debiased(xty, rows_x, rows_y, sq_x, sq_y, n):
    """Unbiased HSIC numerator (Song et al., 2012) in Kornblith et al.'s feature-space form."""
    return (xty - n / (n - 2.0) * float(rows_x @ rows_y)
            + sq_x * sq_y / ((n - 1.0) * (n - 2.0)))


class DebiasedLinearCKA(_Method):
    """Linear CKA with the unbiased HSIC estimator of Song et al. (2012)."""

    name = "debiased_linear_cka"
    kind = "similarity"
    defaults: dict = {}
    formula = "HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L)), K = Xc Xc^T"
    value_range = "about [-1, 1]; 1 for identical inputs"
    reference = _KORNBLITH + (" Song, L., Smola, A., Gretton, A., Bedo, J., & Borgwardt, K. "
                              "(2012). Feature selection via dependence maximization. JMLR.")
    invariances = _GEOMETRY

    def prepare(self, X):
        form, A = _linear_form(X)
        rows = np.einsum("ij,ij->i", A, A) if form == "features" else np.diagonal(A).copy()
        sq = float(rows.sum())
        n = len(X)
        norm = _debiased(_self_cross(form, A), rows, rows, sq, sq, n)
        return form, A, np.sqrt(norm) if norm > 0 else 0.0, rows, sq

    def pair(self, a, b):
        n = len(a[3])
        return _ratio(_debiased(_cross(a[0], a[1], b[0], b[1]), a[3], b[3], a[4], b[4], n),
                      a[2] * b[2])


class MinibatchLinearCKA(_Method):
    """Linear CKA from unbiased HSIC summed over consecutive minibatches of stimuli.

    The stimuli are split, in order, into ``n_stimuli // batch_size`` consecutive
    batches of near-equal size (``numpy.array_split``), so every batch holds
    ``batch_size`` to ``2 * batch_size - 1`` stimuli; with ``batch_size >=
    n_stimuli`` there is one batch and the value is ``debiased_linear_cka``'s.
    Each batch's columns are centred before its Gram matrix is formed: the
    unbiased HSIC of a batch does not change (it is invariant to a shift of
    the features), but large unit means no longer cancel in floating point.
    """

    name = "minibatch_linear_cka"
    kind = "similarity"
    defaults = {"batch_size": 256}
    formula = ("sum_b HSIC_1(K_b, L_b) / sqrt(sum_b HSIC_1(K_b, K_b) sum_b HSIC_1(L_b, L_b)), "
               "n_stimuli // batch_size consecutive near-equal batches")
    value_range = "about [-1, 1]; 1 for identical inputs"
    reference = ("Nguyen, T., Raghu, M., & Kornblith, S. (2021). Do wide and deep networks "
                 "learn the same things? ICLR.")
    invariances = _GEOMETRY

    def check(self, n_stimuli, batch_size):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 4:
            raise ValueError(f"batch_size must be an int >= 4 (unbiased HSIC needs 4 "
                             f"stimuli per batch), got {batch_size!r}.")

    def prepare(self, X, batch_size):
        grams = []
        for rows in _batches(len(X), batch_size):
            Xb = _center(X[rows])
            K = Xb @ Xb.T
            np.fill_diagonal(K, 0.0)
            grams.append(K)
        return grams, np.sqrt(max(sum(_hsic1(K, K) for K in grams), 0.0))

    def pair(self, a, b, batch_size):
        return _ratio(sum(_hsic1(K, L) for K, L in zip(a[0], b[0], strict=True)), a[1] * b[1])


def _batches(n, batch_size):
    """Row indices of ``n // batch_size`` consecutive near-equal batches (at least one)."""
    return np.array_split(np.arange(n), max(1, n // batch_size))


def _hsic1(K, L):
    """Unbiased HSIC of two Gram matrices with zeroed diagonals (Song et al., 2012)."""
    n = len(K)
    trace = float(np.vdot(K, L))
    sums = float(K.sum()) * float(L.sum()) / ((n - 1) * (n - 2))
    cross = 2.0 / (n - 2) * float(K.sum(axis=0) @ L.sum(axis=0))
    return (trace + sums - cross) / (n * (n - 3))


# --------------------------------------------------------------------- RBF CKA


class RbfCKA(_Method):
    """CKA with a Gaussian kernel whose width follows the median squared distance."""

    name = "rbf_cka"
    kind = "similarity"
    defaults = {"threshold": 1.0}
    formula = ("<Kc, Lc> / (||Kc|| ||Lc||), K_ij = exp(-d_ij^2 / (2 sigma^2)), "
               "sigma^2 = threshold^2 median(d^2)")
    value_range = "[0, 1]"
    reference = _KORNBLITH
    invariances = _GEOMETRY

    def check(self, n_stimuli, threshold):
        if not isinstance(threshold, (int, float)) or not threshold > 0:
            raise ValueError(f"threshold must be a positive number, got {threshold!r}.")

    def prepare(self, X, threshold):
        G = _centred_gram(X)  # distances ignore a shift; centring keeps them accurate
        sq = np.diagonal(G)
        D2 = sq[:, None] + sq[None, :] - 2.0 * G
        median = float(np.median(D2))
        if median > 0:
            K = np.exp(-D2 / (2.0 * threshold ** 2 * median))
        else:  # all stimuli identical: a constant kernel, centred to zero below
            K = np.ones_like(D2)
        means = K.mean(axis=0)
        K -= means[:, None]
        K -= means[None, :] - means.mean()
        return K, float(np.linalg.norm(K))

    def pair(self, a, b, threshold):
        return _ratio(float(np.vdot(a[0], b[0])), a[1] * b[1])


# --------------------------------------------------------------------- shape metrics

# netrep clips the eigenvalues of Xc^T Xc at this value before whitening, and does not
# whiten at all for alpha > 1 - _EIGVAL_TOL (netrep.utils.whiten, eigval_tol=1e-7).
_EIGVAL_TOL = 1e-7


def _unit(A):
    """``A / ||A||_F``; no columns when ``A`` is 0 (a constant representation: NaN)."""
    norm = np.linalg.norm(A)
    return A / norm if norm > 0 else A[:, :0]


def _shape(X, alpha):
    """Centred, partially whitened, unit-norm X with at most n_stimuli columns.

    Williams et al. (2021) as netrep's ``LinearMetric`` implements it: the
    centred ``Xc`` is multiplied by ``Z = alpha I + (1 - alpha) (Xc^T Xc)^(-1/2)``,
    the eigenvalues of ``Xc^T Xc`` clipped below at 1e-7, and not at all for
    ``alpha > 1 - 1e-7``. With ``Xc = U diag(s) V^T``, ``Xc Z`` is
    ``U diag(alpha s + (1 - alpha) s / max(s, sqrt(1e-7))) V^T``; the trailing
    rotation ``V^T`` changes no Procrustes distance, so it is dropped (as is
    netrep's rescaling to the original variance: an angle ignores the scale).
    For ``alpha = 1`` no SVD is needed: the reduced ``R^T`` of :func:`_reduce`
    is ``Xc`` rotated.
    """
    Xc = _center(X)
    if alpha > 1.0 - _EIGVAL_TOL:
        return (_unit(_reduce(Xc)),)
    U, s = _basis(Xc)
    t = s * (alpha + (1.0 - alpha) / np.sqrt(np.maximum(s ** 2, _EIGVAL_TOL)))
    return (_unit(U * t),)


def _angle(a, b):
    """``arccos ||X^T Y||_*`` for unit-norm X, Y of at most n_stimuli columns.

    The nuclear norm comes from the singular values of the small cross-product
    (backward stable: an absolute error of about 1e-15). Near 0, where the
    arccos of a rounded 1 - eps would give sqrt(eps), the angle is
    ``2 arcsin(||X - Y Q|| / 2)`` with ``Q`` the best rotation, the narrower side
    zero-padded as in Williams et al. (2021). Identical inputs give 0.
    """
    X, Y = a[0], b[0]
    if X.shape[1] == 0 or Y.shape[1] == 0:
        return float("nan")
    if a is b:
        return 0.0
    nuclear = float(np.linalg.svd(X.T @ Y, compute_uv=False).sum())
    if nuclear < _NEAR_ONE:  # the arccos is well conditioned here (angle > 0.14)
        return float(np.arccos(nuclear))
    width = max(X.shape[1], Y.shape[1])
    X = np.pad(X, ((0, 0), (0, width - X.shape[1])))
    Y = np.pad(Y, ((0, 0), (0, width - Y.shape[1])))
    U, _, Vt = np.linalg.svd(Y.T @ X)
    residual = np.linalg.norm(X - Y @ (U @ Vt))
    return float(2.0 * np.arcsin(min(1.0, residual / 2.0)))


_NEAR_ONE = 0.99


class Procrustes(_Method):
    """Angular Procrustes distance between centred, unit-norm representations."""

    name = "procrustes"
    kind = "distance"
    defaults: dict = {}
    formula = "arccos ||Xn^T Yn||_*, Xn = Xc / ||Xc||_F"
    value_range = "[0, pi/2] radians"
    reference = _WILLIAMS
    invariances = _GEOMETRY

    def prepare(self, X):
        return _shape(X, 1.0)

    def pair(self, a, b):
        return _angle(a, b)


class ShapeMetric(_Method):
    """Generalized shape metric of Williams et al. (2021), as netrep's LinearMetric (alpha)."""

    name = "shape_metric"
    kind = "distance"
    defaults = {"alpha": 1.0}
    formula = ("procrustes on Xc (alpha I + (1 - alpha) (Xc^T Xc)^(-1/2)), eigenvalues of "
               "Xc^T Xc clipped at 1e-7 (netrep); alpha=1 Procrustes, alpha=0 CCA-like")
    value_range = "[0, pi/2] radians"
    reference = _WILLIAMS + " netrep (github.com/ahwillia/netrep), LinearMetric."
    invariances = _GEOMETRY  # at alpha = 1; 0 < alpha < 1 is not scale-free, alpha = 0 is
    #                          also invariant to invertible linear maps (docs/comparisons.md)

    def check(self, n_stimuli, alpha):
        if not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be a number in [0, 1] (1 = Procrustes, 0 = full "
                             f"whitening), got {alpha!r}.")

    def prepare(self, X, alpha):
        return _shape(X, float(alpha))

    def pair(self, a, b, alpha):
        return _angle(a, b)


# --------------------------------------------------------------------- CCA


class MeanSquaredCCA(_Method):
    """Mean squared canonical correlation between the centred representations (R^2_CCA)."""

    name = "cca"
    kind = "similarity"
    defaults: dict = {}
    formula = "||Qx^T Qy||_F^2 / min(rank X, rank Y), Q orthonormal bases of Xc, Yc"
    value_range = "[0, 1]"
    reference = (_KORNBLITH + " Hotelling, H. (1936). Relations between two sets of "
                 "variates. Biometrika.")
    invariances = _GEOMETRY + ("invertible_linear",)

    def prepare(self, X):
        U, _ = _basis(_center(X))
        if U.shape[1] >= len(X) - 1:
            warnings.warn(
                f"cca: a representation has rank {U.shape[1]} with only {len(X)} stimuli, "
                "so every canonical correlation is 1. Reduce its dimension first (method="
                "'svcca') or use more stimuli.", UserWarning, stacklevel=4)
        return (U,)

    def pair(self, a, b):
        k = min(a[0].shape[1], b[0].shape[1])
        return _ratio(float(np.linalg.norm(a[0].T @ b[0]) ** 2), k)


class SVCCA(_Method):
    """Mean canonical correlation after keeping the top singular directions of each side."""

    name = "svcca"
    kind = "similarity"
    defaults = {"n_components": None, "variance_threshold": 0.99}
    formula = ("mean canonical correlation of Xc and Yc reduced by SVD to n_components "
               "(or to variance_threshold of the variance)")
    value_range = "[0, 1]"
    reference = ("Raghu, M., Gilmer, J., Yosinski, J., & Sohl-Dickstein, J. (2017). SVCCA: "
                 "Singular vector canonical correlation analysis for deep learning dynamics "
                 "and interpretability. NeurIPS.")
    invariances = _GEOMETRY

    def check(self, n_stimuli, n_components, variance_threshold):
        if n_components is not None and (not isinstance(n_components, (int, np.integer))
                                         or n_components < 1):
            raise ValueError(f"n_components must be None or an int >= 1, got "
                             f"{n_components!r}.")
        if not isinstance(variance_threshold, (int, float)) or not 0 < variance_threshold <= 1:
            raise ValueError(f"variance_threshold must be in (0, 1], got "
                             f"{variance_threshold!r}.")

    def prepare(self, X, n_components, variance_threshold):
        U, s = _basis(_center(X))
        if n_components is not None:
            k = min(int(n_components), U.shape[1])
        else:
            share = np.cumsum(s ** 2) / np.sum(s ** 2) if s.size else s
            k = int(np.searchsorted(share, variance_threshold - 1e-12) + 1)
        return (U[:, :min(k, U.shape[1])],)

    def pair(self, a, b, n_components, variance_threshold):
        if a[0].shape[1] == 0 or b[0].shape[1] == 0:
            return float("nan")
        rho = np.linalg.svd(a[0].T @ b[0], compute_uv=False)
        return float(np.clip(rho, 0.0, 1.0).mean())


# --------------------------------------------------------------------- mutual kNN


class MutualKNN(_Method):
    """Mean fraction of shared k nearest neighbours (cosine similarity) per stimulus.

    Tied similarities (duplicated stimuli, all-zero rows) are broken by the
    stimulus index: of the stimuli tied at the k-th largest similarity, those
    with the lowest indices are the neighbours, as a stable sort would order
    them. So the value is deterministic; it can change when tied stimuli are
    reordered.
    """

    name = "mutual_knn"
    kind = "similarity"
    defaults = {"k": 10}
    formula = ("mean_i |N_k^X(i) & N_k^Y(i)| / k, neighbours by cosine similarity, self "
               "excluded, ties to the lower stimulus index")
    value_range = "[0, 1]"
    reference = ("Huh, M., Cheung, B., Wang, T., & Isola, P. (2024). The platonic "
                 "representation hypothesis. ICML.")
    invariances = ("rotation", "unit_permutation", "scaling", "pattern_scaling")

    def check(self, n_stimuli, k):
        if not isinstance(k, (int, np.integer)) or not 1 <= k < n_stimuli:
            raise ValueError(f"k must be an int in [1, n_stimuli - 1] = [1, "
                             f"{n_stimuli - 1}], got {k!r}.")

    def prepare(self, X, k, *, block_rows=1024):
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        Xn = X / np.where(norms > 0, norms, 1.0)
        n = len(X)
        neighbours = np.empty((n, k), dtype=np.int64)
        for start in range(0, n, block_rows):
            S = Xn[start:start + block_rows] @ Xn.T
            S[np.arange(len(S)), np.arange(start, start + len(S))] = -np.inf
            neighbours[start:start + len(S)] = _top_k(S, k)
        return (neighbours,)

    def pair(self, a, b, k, *, block_rows=1024):
        if a is b:
            return 1.0
        shared = 0
        for start in range(0, len(a[0]), block_rows):
            A, B = a[0][start:start + block_rows], b[0][start:start + block_rows]
            shared += int((A[:, :, None] == B[:, None, :]).sum())
        return shared / (len(a[0]) * k)


def _top_k(S, k):
    """Column indices of the k largest entries of each row, sorted; ties to lower indices.

    Everything above the row's k-th largest value is in; of the entries equal to
    it, the leftmost fill the remaining places (what ``argsort(-S, kind="stable")``
    would pick, in O(n) per row instead of O(n log n)).
    """
    kth = -np.partition(-S, k - 1, axis=1)[:, k - 1:k]
    above = S > kth
    tied = S == kth
    room = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    return np.nonzero(chosen)[1].reshape(len(S), k)


METHODS = (LinearCKA, DebiasedLinearCKA, MinibatchLinearCKA, RbfCKA, Procrustes,
           ShapeMetric, MeanSquaredCCA, SVCCA, MutualKNN)
