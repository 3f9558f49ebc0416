"""compare_rdms and compare_representations: every pair of two collections, or two arrays."""

from __future__ import annotations

import numpy as np

from .._deprecation import keyword_only, merged_params
from ..rdm import stimulus_key
from ._pairs import _check_n_jobs, _check_same_stimuli, _pairwise, _rdm_items, _warn_undefined
from .registry import _check_method
from .result import ComparisonResult, _frame

__all__ = ["compare_rdms", "compare_representations"]


def compare_rdms(a, b=None, *, method: str = "spearman", working_memory: float = 1024,
                 n_jobs: int | None = None) -> ComparisonResult:
    """Compare every RDM of ``a`` with every RDM of ``b`` (or of ``a`` when ``b`` is None).

    Parameters
    ----------
    a : RDM, RDMs, list of RDM, or array-like of shape (n_rdms, n_entries)
        RDMs, or their upper triangles in ``scipy.spatial.distance.squareform``
        order (then without stimulus ids, so only lengths are checked).
    b : same types as ``a``, optional
        The second collection; None compares ``a`` with itself.
    method : str, default="spearman"
        A registered RDM comparison method; see :func:`list_methods`. All of
        them are similarities: ``value`` is r (or tau), ``dissimilarity`` is
        ``1 - r``.
    working_memory : float, default=1024
        MiB for prepared (ranked or sorted) RDMs; beyond it they are spilled
        to temporary files and read back in blocks.
    n_jobs : int or None, default=None
        Threads that prepare inputs and compute pairs at the same time; None
        means 1 and -1 all cores. Results do not depend on it.

    Returns
    -------
    ComparisonResult
        ``.matrix`` of shape (n_a, n_b) and ``.table`` with one row per pair.

    Raises
    ------
    ValueError
        If the method is unknown or compares representations, if the RDMs
        are over different stimuli (the message names ids that differ), over
        fewer than 3 stimuli, or hold infinite entries, or if fewer than 2
        entries are finite in every RDM. The same rule holds for every method.

    Warns
    -----
    UserWarning
        When some RDMs have NaN entries: those stimulus pairs are left out of
        every comparison in the call (listwise deletion), so all values use
        the same entries. Also when a comparison is undefined (a constant RDM).

    See Also
    --------
    compare_representations : Compare activations without an RDM.
    multi_model_rdm : The same comparison for every layer in a store.

    Notes
    -----
    Spearman and rho-a rank each RDM once (ties get their average rank),
    Pearson and cosine centre or scale it once; then one matrix product in
    column chunks gives all pairs. Kendall's tau sorts each RDM once, then
    counts discordant pairs for each pair of RDMs in O(n log n) with a
    Fenwick tree (Knight, 1966), ties handled as in ``scipy.stats.kendalltau``.

    References
    ----------
    .. [1] Kriegeskorte, N., Mur, M., & Bandettini, P. (2008). Representational
       similarity analysis. Front. Syst. Neurosci.
    .. [2] Nili, H. et al. (2014). A toolbox for representational similarity
       analysis. PLoS Comput. Biol.
    .. [3] Knight, W. R. (1966). A computer method for calculating Kendall's
       tau with ungrouped data. J. Am. Stat. Assoc.

    Examples
    --------
    >>> from deeprsa import RDM
    >>> ids = ["a", "b", "c", "d"]
    >>> x = RDM.from_vector([1, 2, 3, 4, 5, 6], ids, {"layer": "conv1"})
    >>> y = RDM.from_vector([2, 1, 3, 4, 6, 5], ids, {"layer": "conv2"})
    >>> result = compare_rdms([x, y], method="spearman")
    >>> result.matrix.round(3)
    array([[1.   , 0.886],
           [0.886, 1.   ]])
    >>> result.table[["layer_a", "layer_b", "value", "dissimilarity"]].round(3)
      layer_a layer_b  value  dissimilarity
    0   conv1   conv2  0.886          0.114
    """
    spec, params = _check_method(method, None, "rdm")
    sides = [("a", _rdm_items(a, "a"))]
    if b is not None:
        sides.append(("b", _rdm_items(b, "b")))
    _check_same_stimuli(sides)
    lengths = {len(items[0].load()) if items[0].stimulus_ids is None else
               len(items[0].stimulus_ids) * (len(items[0].stimulus_ids) - 1) // 2
               for _, items in sides}
    if len(lengths) > 1:
        raise ValueError(f"a and b have RDMs of different sizes ({sorted(lengths)} entries); "
                         "they must be over the same stimuli.")
    values, n_entries = _pairwise(spec, params, sides, working_memory=working_memory,
                                  n_jobs=_check_n_jobs(n_jobs))
    _warn_undefined(values, sides)
    n_entries_all = lengths.pop()
    first = sides[0][1][0]
    provenance = ({} if first.stimulus_ids is None else
                  {"stimuli": stimulus_key(first.metadata, first.stimulus_ids)})
    return ComparisonResult(
        values, method, params, spec.kind, _frame(i.metadata for i in sides[0][1]),
        _frame(i.metadata for i in sides[-1][1]),
        int(round((1 + np.sqrt(1 + 8 * n_entries_all)) / 2)), n_entries, b is None,
        first.stimulus_ids, provenance)


@keyword_only("method")
def compare_representations(X, Y, *, method: str = "linear_cka", params=None,
                            **loose_params) -> float:
    """Compare two representations of the same stimuli directly, without an RDM.

    Parameters
    ----------
    X : array-like of shape (n_stimuli, n_units_x)
        One row per stimulus.
    Y : array-like of shape (n_stimuli, n_units_y)
        The same stimuli in the same order; ``n_units_y`` may differ.
    method : str, default="linear_cka"
        A registered representation method; see :func:`list_methods`.
    params : mapping, optional
        The method's parameters: ``threshold`` (``rbf_cka``, default 1.0),
        ``alpha`` (``shape_metric``, in [0, 1], default 1.0), ``k``
        (``mutual_knn``, default 10), ``n_components`` and
        ``variance_threshold`` (``svcca``), ``batch_size``
        (``minibatch_linear_cka``, default 256).

    Returns
    -------
    float
        A similarity (CKA, CCA, SVCCA, mutual k-NN) or an angular distance in
        radians (``procrustes``, ``shape_metric``); docs/comparisons.md lists
        each formula and range.

    Raises
    ------
    ValueError
        If the method or a parameter is unknown or out of range, or if ``X``
        and ``Y`` are not 2-D, have different numbers of rows, fewer than 4
        rows, or NaN or infinite entries.

    See Also
    --------
    compare_rdms : Compare RDMs.
    multi_model_rdm : Any of these methods over every layer in a store.

    Notes
    -----
    Linear CKA uses the feature-space form ``||Yc^T Xc||_F^2`` when there
    are more stimuli than units (no n x n Gram matrix), the Gram form
    otherwise; ``minibatch_linear_cka`` averages unbiased HSIC over
    consecutive batches of stimuli for very many stimuli (Nguyen et al.,
    2021). All methods centre the columns except ``mutual_knn``, which
    compares cosine neighbourhoods (Huh et al., 2024).

    References
    ----------
    .. [1] Kornblith, S., Norouzi, M., Lee, H., & Hinton, G. (2019).
       Similarity of neural network representations revisited. ICML.
    .. [2] Williams, A. H., Kunz, E., Kornblith, S., & Linderman, S. W.
       (2021). Generalized shape metrics on neural representations. NeurIPS.
    .. [3] Raghu, M., Gilmer, J., Yosinski, J., & Sohl-Dickstein, J. (2017).
       SVCCA. NeurIPS.
    .. [4] Nguyen, T., Raghu, M., & Kornblith, S. (2021). Do wide and deep
       networks learn the same things? ICLR.
    .. [5] Huh, M., Cheung, B., Wang, T., & Isola, P. (2024). The platonic
       representation hypothesis. ICML.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 8))
    >>> Q = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    >>> round(compare_representations(X, 3 * X @ Q + 1, method="linear_cka"), 6)
    1.0
    >>> round(compare_representations(X, 3 * X @ Q + 1, method="procrustes"), 6)
    0.0
    """
    params = merged_params(params, loose_params, "compare_representations")
    spec, params = _check_method(method, params, "representation")
    X = _check_representation(X, "X")
    Y = _check_representation(Y, "Y")
    if len(X) != len(Y):
        raise ValueError(f"X and Y must hold the same stimuli: X has {len(X)} rows, Y has "
                         f"{len(Y)}.")
    if hasattr(spec, "check"):
        spec.check(len(X), **params)
    return float(spec.pair(spec.prepare(X, **params), spec.prepare(Y, **params), **params))


def _check_representation(X, name):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_stimuli, n_units), got shape {X.shape}. "
                         f"Flatten or pool the spatial dimensions first, e.g. "
                         f"{name}.reshape(len({name}), -1).")
    if len(X) < 4:
        raise ValueError(f"{name} has {len(X)} stimuli; comparing representations needs at "
                         "least 4.")
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise ValueError(f"{name} has NaN or infinity in {bad.size} rows, first at row "
                         f"{bad[0]}.")
    return X
