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
    return X - X.mean(axis=0)


def _basis(Xc):
    """Left singular vectors and singular values of ``Xc``, numerical rank only."""
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return U[:, :0], s[:0]
    keep = s > s[0] * max(Xc.shape) * np.finfo(float).eps
    return U[:, keep], s[keep]


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
    """Linear CKA from unbiased HSIC averaged over consecutive minibatches of stimuli."""

    name = "minibatch_linear_cka"
    kind = "similarity"
    defaults = {"batch_size": 256}
    formula = "sum_b HSIC_1(K_b, L_b) / sqrt(sum_b HSIC_1(K_b, K_b) sum_b HSIC_1(L_b, L_b))"
    value_range = "about [-1, 1]; 1 for identical inputs"
    reference = ("Nguyen, T., Raghu, M., & Kornblith, S. (2021). Do wide and deep networks "
                 "learn the same things? ICLR.")

    def check(self, n_stimuli, batch_size):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 4:
            raise ValueError(f"batch_size must be an int >= 4 (unbiased HSIC needs 4 "
                             f"stimuli per batch), got {batch_size!r}.")

    def prepare(self, X, batch_size):
        grams = []
        for rows in np.array_split(np.arange(len(X)), max(1, len(X) // batch_size)):
            K = X[rows] @ X[rows].T
            np.fill_diagonal(K, 0.0)
            grams.append(K)
        return grams, np.sqrt(max(sum(_hsic1(K, K) for K in grams), 0.0))

    def pair(self, a, b, batch_size):
        return _ratio(sum(_hsic1(K, L) for K, L in zip(a[0], b[0], strict=True)), a[1] * b[1])


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

    def check(self, n_stimuli, threshold):
        if not isinstance(threshold, (int, float)) or not threshold > 0:
            raise ValueError(f"threshold must be a positive number, got {threshold!r}.")

    def prepare(self, X, threshold):
        G = X @ X.T
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


def _shape(X, alpha):
    """Centred, partially whitened and unit-norm X in the basis of its singular vectors.

    ``Xc (alpha I + (1 - alpha) C^{-1/2})`` with ``C = Xc^T Xc / n`` equals
    ``U diag(alpha s + (1 - alpha) sqrt(n)) V^T``; the trailing rotation V^T
    does not change any Procrustes distance, so it is dropped.
    """
    U, s = _basis(_center(X))
    Xt = U * (alpha * s + (1.0 - alpha) * np.sqrt(len(X)))
    norm = np.linalg.norm(Xt)
    return (Xt / norm if norm > 0 else Xt,)


def _angle(a, b):
    """``arccos ||X^T Y||_*`` for unit-norm X, Y, from the residual of the best rotation.

    ``2 arcsin(||X - Y Q|| / 2)`` equals the arccos but stays accurate near 0,
    where the arccos of a rounded 1 - eps would give sqrt(eps). The narrower
    side is zero-padded, as in Williams et al. (2021).
    """
    X, Y = a[0], b[0]
    if X.shape[1] == 0 or Y.shape[1] == 0:
        return float("nan")
    width = max(X.shape[1], Y.shape[1])
    X = np.pad(X, ((0, 0), (0, width - X.shape[1])))
    Y = np.pad(Y, ((0, 0), (0, width - Y.shape[1])))
    U, _, Vt = np.linalg.svd(Y.T @ X)
    residual = np.linalg.norm(X - Y @ (U @ Vt))
    return float(2.0 * np.arcsin(min(1.0, residual / 2.0)))


class Procrustes(_Method):
    """Angular Procrustes distance between centred, unit-norm representations."""

    name = "procrustes"
    kind = "distance"
    defaults: dict = {}
    formula = "arccos ||Xn^T Yn||_*, Xn = Xc / ||Xc||_F"
    value_range = "[0, pi/2] radians"
    reference = _WILLIAMS

    def prepare(self, X):
        return _shape(X, 1.0)

    def pair(self, a, b):
        return _angle(a, b)


class ShapeMetric(_Method):
    """Generalized shape metric: angular Procrustes distance after partial whitening (alpha)."""

    name = "shape_metric"
    kind = "distance"
    defaults = {"alpha": 1.0}
    formula = ("procrustes on Xc (alpha I + (1 - alpha) C^(-1/2)), C = Xc^T Xc / n; "
               "alpha=1 Procrustes, alpha=0 CCA-like")
    value_range = "[0, pi/2] radians"
    reference = _WILLIAMS

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
    """Mean fraction of shared k nearest neighbours (cosine similarity) per stimulus."""

    name = "mutual_knn"
    kind = "similarity"
    defaults = {"k": 10}
    formula = "mean_i |N_k^X(i) & N_k^Y(i)| / k, neighbours by cosine similarity, self excluded"
    value_range = "[0, 1]"
    reference = ("Huh, M., Cheung, B., Wang, T., & Isola, P. (2024). The platonic "
                 "representation hypothesis. ICML.")

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
            top = np.argpartition(-S, k - 1, axis=1)[:, :k]
            neighbours[start:start + len(S)] = np.sort(top, axis=1)
        return (neighbours,)

    def pair(self, a, b, k, *, block_rows=1024):
        shared = 0
        for start in range(0, len(a[0]), block_rows):
            A, B = a[0][start:start + block_rows], b[0][start:start + block_rows]
            shared += int((A[:, :, None] == B[:, None, :]).sum())
        return shared / (len(a[0]) * k)


METHODS = (LinearCKA, DebiasedLinearCKA, MinibatchLinearCKA, RbfCKA, Procrustes,
           ShapeMetric, MeanSquaredCCA, SVCCA, MutualKNN)
