"""Multidimensional scaling: place layers or stimuli so their distances match dissimilarities.

:func:`compute_mds` runs scikit-learn's metric or non-metric MDS on a square
dissimilarity matrix, an RDM or a symmetric
:class:`~deeprsa.compare.ComparisonResult` (a model or multi-model RDM) and
returns an :class:`MDSResult` with the coordinates and Kruskal's stress-1.
:func:`deeprsa.plots.plot_mds` draws the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_random_state


@dataclass(frozen=True)
class MDSResult:
    """Points placed by multidimensional scaling and how well they fit.

    Attributes
    ----------
    coordinates : ndarray of shape (n_points, n_components)
    stress : float
        Kruskal's stress-1, ``sqrt(sum((d - dhat)^2) / sum(dhat^2))`` with
        ``d`` the distances between the placed points and ``dhat`` the
        dissimilarities (metric MDS) or their best monotone fit (non-metric).
        0 is a perfect fit; Kruskal (1964) calls 0.05 good and 0.2 poor.
    metric : bool
        Metric (True) or non-metric (ordinal) MDS.
    """

    coordinates: np.ndarray
    stress: float
    metric: bool

    @property
    def n_components(self) -> int:
        return self.coordinates.shape[1]


def _is_rdm(x) -> bool:
    """Whether ``x`` is an RDM (duck-typed: analyses never import rdm's objects here)."""
    return hasattr(x, "stimulus_ids") and hasattr(x, "matrix")


def _rdm_matrix(rdm):
    """RDM or array-like -> square float matrix."""
    M = np.asarray(rdm.matrix if _is_rdm(rdm) else rdm, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"An RDM must be a square matrix; got shape {M.shape}.")
    return M


def _is_comparison(result):
    """Whether ``result`` is a ComparisonResult (duck-typed: analyses never import compare)."""
    return hasattr(result, "dissimilarity") and hasattr(result, "metadata_a")


def _comparison_dissimilarity(comparison):
    """The dissimilarities of a collection compared with itself, with a zero diagonal."""
    if getattr(comparison, "symmetric", True) is False:
        raise ValueError("plot_model_rdm needs a collection compared with itself "
                         "(compare_rdms(a) or multi_model_rdm), not a rectangular result.")
    D = np.asarray(comparison.dissimilarity, dtype=np.float64).copy()
    np.fill_diagonal(D, 0.0)
    return D


def _mds_matrix(dissimilarity):
    """Square dissimilarities from an array, RDM or ComparisonResult."""
    if _is_comparison(dissimilarity):
        return _comparison_dissimilarity(dissimilarity)
    if not _is_rdm(dissimilarity):
        _check_square_dissimilarity(np.asarray(dissimilarity, dtype=np.float64))
    return _rdm_matrix(dissimilarity)


def _check_square_dissimilarity(D):
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"dissimilarity must be a square matrix; got shape {D.shape}.")
    if len(D) < 3:
        raise ValueError(f"MDS needs at least 3 points, got {len(D)}.")
    if not np.isfinite(D).all():
        raise ValueError("dissimilarity holds NaN or infinity; drop undefined comparisons "
                         "(e.g. constant layers) first.")
    if not np.allclose(D, D.T, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(D).max()))):
        raise ValueError("dissimilarity must be symmetric.")
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    if (D < 0).any():
        raise ValueError(f"dissimilarity must be non-negative; the smallest entry is "
                         f"{D.min():.3g}. Use 1 - similarity, not the similarity.")
    return D


def compute_mds(dissimilarity, *, n_components=2, metric=True, seed=0) -> MDSResult:
    """Place points in 2-D or 3-D so their distances match the dissimilarities (scikit-learn).

    Parameters
    ----------
    dissimilarity : array-like of shape (n_points, n_points), RDM or ComparisonResult
        Symmetric, non-negative. A comparison result contributes its
        ``dissimilarity`` (1 - similarity).
    n_components : {2, 3}, default=2
    metric : bool, default=True
        Metric MDS keeps the dissimilarities' values (as the RSA tutorial
        notebook does); non-metric MDS keeps only their order (as Kruskal,
        1964).
    seed : int, numpy.random.Generator or None, default=0
        Seeds the starting configuration (ignored where scikit-learn starts
        from classical MDS).

    Returns
    -------
    MDSResult

    Raises
    ------
    ValueError
        If the dissimilarities are not square, symmetric, finite and
        non-negative, or there are fewer than 3 points.

    References
    ----------
    Kruskal, J. B. (1964). Multidimensional scaling by optimizing goodness
    of fit to a nonmetric hypothesis. Psychometrika, 29, 1-27.
    Borg, I., & Groenen, P. J. F. (2005). Modern Multidimensional Scaling.
    Springer.

    Examples
    --------
    >>> import numpy as np
    >>> points = np.array([[0, 0], [3, 0], [0, 4], [3, 4.]])
    >>> D = np.linalg.norm(points[:, None] - points[None], axis=-1)
    >>> result = compute_mds(D)
    >>> result.coordinates.shape, round(result.stress, 3)
    ((4, 2), 0.0)
    """
    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3 (a plot), got {n_components!r}.")
    D = _mds_matrix(dissimilarity)
    D = _check_square_dissimilarity(np.array(D, dtype=np.float64))
    rng = check_random_state(seed)
    coordinates = _sklearn_mds(D, n_components=n_components, metric=bool(metric),
                               random_state=int(rng.integers(2**31 - 1)))
    return MDSResult(coordinates, _stress1(D, coordinates, metric=bool(metric)), bool(metric))


def _sklearn_mds(D, *, n_components, metric, random_state):
    import inspect
    import warnings

    from sklearn.manifold import MDS

    params = inspect.signature(MDS).parameters
    start = None
    if "metric_mds" in params:  # scikit-learn >= 1.8: SMACOF from the classical solution
        kwargs = {"metric_mds": metric, "metric": "precomputed", "init": "classical_mds"}
        start = _classical_start(D / (float(D.max()) or 1.0), n_components, random_state)
    else:
        kwargs = {"metric": metric, "dissimilarity": "precomputed", "n_init": 4}
    if "normalized_stress" in params:
        kwargs["normalized_stress"] = "auto"
    scale = float(D.max()) or 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        mds = MDS(n_components=n_components, random_state=random_state, max_iter=1000,
                  **kwargs)
        X = mds.fit_transform(D / scale, init=start)
    return X * scale


def _classical_start(D, n_components, random_state):
    """Classical (Torgerson) MDS, as scikit-learn's ``ClassicalMDS``, as SMACOF's start.

    Dissimilarities that break the triangle inequality (Spearman or CKA
    distances between a few layers) give negative eigenvalues, whose square
    roots scikit-learn turns into NaN. Here such a dimension starts instead
    as small seeded noise (a zero column would stay zero under SMACOF), so
    the map is still fitted in ``n_components`` dimensions.
    """
    from scipy import linalg
    from sklearn.utils.extmath import svd_flip

    B = D.astype(np.float64) ** 2
    B -= B.mean(axis=0)
    B -= B.mean(axis=1, keepdims=True)
    B *= -0.5
    w, U = linalg.eigh(B)
    w, U = w[::-1][:n_components], U[:, ::-1][:, :n_components]
    U, _ = svd_flip(U, None)
    X = np.sqrt(np.clip(w, 0.0, None)) * U
    flat = w <= 1e-12 * max(float(w[0]), 1e-12)
    if flat.any():
        noise = np.random.default_rng(random_state).standard_normal((len(D), int(flat.sum())))
        X[:, flat] = 1e-3 * noise * (float(np.sqrt(max(w[0], 0.0))) or 1.0)
    return X


def _stress1(D, X, *, metric):
    from scipy.spatial.distance import pdist, squareform

    delta = squareform(D, checks=False)
    d = pdist(X)
    if metric:
        target = delta
    else:
        from sklearn.isotonic import IsotonicRegression

        target = IsotonicRegression().fit_transform(delta, d)
    denominator = float(np.sum(target**2)) if metric else float(np.sum(d**2))
    return float(np.sqrt(np.sum((d - target) ** 2) / denominator)) if denominator else 0.0
