"""RSA before and after SRM alignment, variance explained, and loading networks.

:func:`evaluate_alignment` repeats the analysis of Lu et al. (2018): the
inter-network RSM against the mean within-network RSM, in native and in shared
space. :func:`evaluate_n_components` gives held-out variance explained as a
function of the number of shared features. :func:`load_networks` reads the
activations of one layer of several models from a store.
"""

from __future__ import annotations

import logging

import numpy as np

from .._deprecation import renamed_keywords
from .._validation import check_option, check_random_state
from .srm import SRM, _check_networks

log = logging.getLogger(__name__)

_NATIVE = ("pca", "truncate")


@renamed_keywords(models="model")
def load_networks(store, model, layer, **fields):
    """Activations of one layer of several models, over the same stimuli.

    Parameters
    ----------
    store : Store or path
        A store holding the activations (``deeprsa extract``).
    model : sequence of str
        Model names as in the store (e.g. ``zoo:convnet_s0`` ... ``zoo:convnet_s4``),
        at least two.
    layer : str
        The layer, present in every model.
    **fields
        Further entry fields to choose among several matches (``reduction``, ...).

    Returns
    -------
    X : list of ndarray of shape (n_stimuli, n_units_i)
        One array per model, in the order of ``model``.
    stimulus_ids : tuple of str

    Raises
    ------
    ValueError
        If fewer than 2 models are named or they were shown different stimuli.
    KeyError
        If the store holds no (or several) activations for a model and layer.
    """
    from ..store import Store

    models = [model] if isinstance(model, str) else list(model)
    if len(models) < 2:
        raise ValueError(f"Aligning networks needs at least 2 models, got {len(models)}.")
    store = store if isinstance(store, Store) else Store(store, mode="r")
    X, ids = [], None
    for model in models:
        x, model_ids = store.load_activations(model, layer, **fields)
        if ids is not None and tuple(model_ids) != ids:
            raise ValueError(f"Model {model!r} was shown other stimuli (or another order) "
                             f"than {models[0]!r}; extract both on the same stimulus set.")
        ids = tuple(model_ids)
        X.append(np.asarray(x, dtype=np.float64))
    return X, ids



def _split(n, test, rng):
    """(train, test) row indices from a fraction or an index array."""
    if isinstance(test, (float, int, np.floating)) and not isinstance(test, bool):
        if not 0 <= test < 1:
            raise ValueError(f"test must be a fraction in [0, 1) of the stimuli or their "
                             f"indices, got {test!r}.")
        n_test = int(round(test * n))
        order = rng.permutation(n)
        return np.sort(order[n_test:]), np.sort(order[:n_test])
    idx = np.asarray(test)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ValueError(f"A boolean test mask needs {n} entries, got {idx.shape}.")
        idx = np.flatnonzero(idx)
    idx = np.unique(idx.astype(np.intp))
    if idx.size and (idx[0] < 0 or idx[-1] >= n):
        raise ValueError(f"test indices must lie in 0 to {n - 1}.")
    return np.setdiff1d(np.arange(n), idx), idx


def _row_correlations(X, Y):
    """Pearson r between every row of ``X`` and every row of ``Y``: (n_x, n_y)."""
    def unit(Z):
        Z = Z - Z.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(Z, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return Z / norm
    return unit(X) @ unit(Y).T


def _native(train, test, native, n_train):
    """Each network in a common unit space of ``d`` units (see evaluate_alignment)."""
    d = min(x.shape[1] for x in train)
    if native == "truncate":
        return [x[:, :d] for x in test]
    from sklearn.decomposition import PCA

    d = min(d, n_train - 1)
    return [PCA(d, svd_solver="full").fit(tr).transform(te) for tr, te in zip(train, test,
                                                                              strict=True)]


def _rsa_rows(Z, space, names):
    """Inter-network RSM of each pair against the mean within-network RSM."""
    n = len(Z[0])
    iu = np.triu_indices(n, k=1)
    within = np.mean([_row_correlations(z, z) for z in Z], axis=0)
    rows = []
    for a in range(len(Z)):
        for b in range(a + 1, len(Z)):
            inter = _row_correlations(Z[a], Z[b])
            sym = (inter + inter.T) / 2  # the same pair seen from either network
            r = np.corrcoef(sym[iu], within[iu])[0, 1]
            rows.append({"space": space, "network_a": names[a], "network_b": names[b],
                         "rsm_correlation": float(r),
                         "same_stimulus_correlation": float(np.mean(np.diag(inter)))})
    return rows


def _check_names(names, n):
    if names is None:
        return [str(i) for i in range(n)]
    names = [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"Got {len(names)} names for {n} networks.")
    return names


def evaluate_alignment(X, *, n_components=10, algorithm="probabilistic", test=0.5,
                       native="truncate", names=None, n_iter=100, tol=1e-5, seed=None):
    """RSA before and after SRM alignment: are the networks' geometries shared?

    SRM is fitted on the training stimuli; on the test stimuli, for every
    pair of networks ``(i, j)``, the inter-network RSM (stimulus ``s`` in
    network ``i`` correlated with stimulus ``t`` in network ``j``) is compared
    with the mean within-network RSM, once in the native unit space and once
    in the shared space (Lu et al., 2018).

    Parameters
    ----------
    X : list of array-like of shape (n_stimuli, n_units_i)
        Responses of each network to the same stimuli.
    n_components : int, default=10
        Dimension of the shared space (at least 2, for row correlations).
    algorithm : {"probabilistic", "deterministic"}, default="probabilistic"
        The SRM algorithm; see :class:`SRM`.
    test : float or array-like of int or bool, default=0.5
        Fraction of stimuli held out (drawn with ``seed``), or their indices.
        ``0`` evaluates on the training stimuli.
    native : {"truncate", "pca"}, default="truncate"
        The common unit space of the native comparison, needed because an
        inter-network correlation pairs unit ``u`` of one network with unit
        ``u`` of the other. ``"truncate"`` keeps the first ``d`` units of each
        network, ``d`` the smallest unit count: all units when the counts are
        equal (then nothing is aligned). ``"pca"`` projects each network on its
        own ``d`` leading principal components (fitted on the training
        stimuli, ``d`` at most their number minus 1); this partly aligns the
        networks (components ordered by variance, up to sign), so it is a
        milder baseline.
    names : sequence of str, optional
        Network labels for the table (default ``"0"``, ``"1"``, ...).
    n_iter, tol
        As in :class:`SRM`.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the random generator: an int gives the same result on every run,
        a Generator is used (and advanced) as is, None draws fresh entropy.
        Here it draws the split, then SRM's initial bases.

    Returns
    -------
    pandas.DataFrame
        One row per space (``"native"``, ``"shared"``) and pair of networks:
        ``space``, ``network_a``, ``network_b``, ``rsm_correlation`` (Pearson r
        between the off-diagonal entries of the inter-network RSM, averaged
        with its transpose, and of the mean within-network RSM),
        ``same_stimulus_correlation`` (mean diagonal of the inter-network RSM:
        how well one stimulus matches itself across networks), and the
        settings ``n_components``, ``algorithm``, ``native``, ``stimuli``
        (``"test"`` or ``"train"``) and ``n_stimuli``.

    Raises
    ------
    ValueError
        If the networks do not fit SRM (see :meth:`SRM.fit`), ``n_components``
        is below 2, or ``test`` leaves fewer than 3 stimuli on either side.

    References
    ----------
    .. [1] Lu, Q., Chen, P.-H., Pillow, J. W., Ramadge, P. J., Norman, K. A., &
       Hasson, U. (2018). Shared representational geometry across neural
       networks. arXiv:1811.11684.
    .. [2] Chen, P.-H., et al. (2015). A reduced-dimension fMRI shared response
       model. Advances in Neural Information Processing Systems 28.
    .. [3] Kriegeskorte, N., Mur, M., & Bandettini, P. (2008). Representational
       similarity analysis. Front. Syst. Neurosci. 2:4.

    Examples
    --------
    Three networks whose units are permuted copies of one response:

    >>> rng = np.random.default_rng(0)
    >>> base = rng.standard_normal((120, 40))
    >>> X = [base[:, rng.permutation(40)] + 0.1 * rng.standard_normal((120, 40))
    ...      for _ in range(3)]
    >>> table = evaluate_alignment(X, n_components=10, seed=0)
    >>> table.groupby("space")["rsm_correlation"].mean().round(2)
    space
    native   -0.05
    shared    1.00
    Name: rsm_correlation, dtype: float64
    """
    import pandas as pd

    check_option("native", native, _NATIVE)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or n_components < 2:
        raise ValueError(f"n_components must be an int >= 2 (patterns are correlated across "
                         f"components), got {n_components!r}.")
    Xs = _check_networks(X)
    names = _check_names(names, len(Xs))
    rng = check_random_state(seed)
    train, test_idx = _split(len(Xs[0]), test, rng)
    held_out = len(test_idx) > 0
    evaluate = test_idx if held_out else train
    if len(train) < 3 or len(evaluate) < 3:
        raise ValueError(f"test leaves {len(train)} training and {len(test_idx)} test "
                         "stimuli; each side needs at least 3.")
    srm = SRM(n_components, algorithm=algorithm, n_iter=n_iter, tol=tol, seed=rng)
    srm.fit([x[train] for x in Xs])
    shared = srm.transform([x[evaluate] for x in Xs])
    native_z = _native([x[train] for x in Xs], [x[evaluate] for x in Xs], native, len(train))
    rows = _rsa_rows(native_z, "native", names) + _rsa_rows(shared, "shared", names)
    table = pd.DataFrame(rows)
    table["n_components"] = int(n_components)
    table["algorithm"] = algorithm
    table["native"] = native
    table["stimuli"] = "test" if held_out else "train"
    table["n_stimuli"] = len(evaluate)
    return table


def evaluate_n_components(X, *, n_components=(1, 2, 5, 10, 20, 50), algorithm="probabilistic",
                          test=0.5, names=None, n_iter=100, tol=1e-5, seed=None):
    """Held-out variance explained as a function of the number of shared features.

    For each ``n_components``, SRM is fitted on the training stimuli and each
    network's held-out responses (centred with the training means) are
    explained in three ways.

    Parameters
    ----------
    X : list of array-like of shape (n_stimuli, n_units_i)
        Responses of each network to the same stimuli.
    n_components : sequence of int, default=(1, 2, 5, 10, 20, 50)
        Sizes of the shared space; those above the smallest unit count or
        the training stimuli minus one are skipped (with a log message).
    algorithm : {"probabilistic", "deterministic"}, default="probabilistic"
    test : float or array-like of int or bool, default=0.5
        Fraction of stimuli held out (drawn with ``seed``), or their indices.
    names : sequence of str, optional
        Network labels (default ``"0"``, ``"1"``, ...).
    n_iter, tol
        As in :class:`SRM`.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the random generator: an int gives the same result on every run,
        a Generator is used (and advanced) as is, None draws fresh entropy.

    Returns
    -------
    pandas.DataFrame
        One row per ``n_components`` and network: ``n_components``,
        ``network``, ``variance_explained`` (fraction of the network's
        held-out variance inside its own shared subspace,
        ``||X_i W_i||^2 / ||X_i||^2``), ``variance_predicted`` (``1 -
        ||X_i - S_-i W_i.T||^2 / ||X_i||^2`` with ``S_-i`` the mean shared
        response of the other networks: how well the others predict this
        one), ``variance_explained_pca`` (the same fraction for the network's
        own leading ``n_components`` principal components of the training
        stimuli, an upper reference for one network alone), ``algorithm`` and
        ``n_stimuli`` (held-out).

    Raises
    ------
    ValueError
        If the networks do not fit SRM, or ``test`` leaves no test stimuli or
        fewer than 3 training stimuli, or no ``n_components`` fits.

    References
    ----------
    .. [1] Chen, P.-H., et al. (2015). A reduced-dimension fMRI shared response
       model. Advances in Neural Information Processing Systems 28.
    .. [2] Lu, Q., Chen, P.-H., Pillow, J. W., Ramadge, P. J., Norman, K. A., &
       Hasson, U. (2018). Shared representational geometry across neural
       networks. arXiv:1811.11684.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> base = rng.standard_normal((100, 3)) @ rng.standard_normal((3, 12))
    >>> X = [base @ np.linalg.qr(rng.standard_normal((12, 12)))[0]
    ...      + 0.1 * rng.standard_normal((100, 12)) for _ in range(3)]
    >>> table = evaluate_n_components(X, n_components=[1, 3], seed=0)
    >>> table.groupby("n_components")["variance_predicted"].mean().round(2)
    n_components
    1    0.66
    3    1.00
    Name: variance_predicted, dtype: float64
    """
    import pandas as pd
    from sklearn.decomposition import PCA

    Xs = _check_networks(X)
    names = _check_names(names, len(Xs))
    ks = [n_components] if isinstance(n_components, (int, np.integer)) else list(n_components)
    rng = check_random_state(seed)
    train, test_idx = _split(len(Xs[0]), test, rng)
    if len(test_idx) == 0 or len(train) < 3:
        raise ValueError(f"test leaves {len(train)} training and {len(test_idx)} test "
                         "stimuli; variance explained needs held-out stimuli and at least 3 "
                         "training stimuli.")
    limit = min(min(x.shape[1] for x in Xs), len(train) - 1)
    fitted = [k for k in ks if k <= limit]
    if len(fitted) < len(ks):
        log.info("Skipping n_components %s: above %d (the smallest unit count or the "
                 "training stimuli minus one).", [k for k in ks if k > limit], limit)
    if not fitted:
        raise ValueError(f"No n_components in {ks} is at most {limit} (the smallest unit "
                         "count, or the training stimuli minus one).")
    train_x = [x[train] for x in Xs]
    test_x = [x[test_idx] for x in Xs]
    # leading principal axes of each network's training stimuli, sliced per n_components
    axes = [PCA(max(fitted), svd_solver="full").fit(x).components_ for x in train_x]
    seeds = rng.spawn(len(fitted))
    rows = []
    for k, k_rng in zip(fitted, seeds, strict=True):
        srm = SRM(k, algorithm=algorithm, n_iter=n_iter, tol=tol, seed=k_rng).fit(train_x)
        shared = srm.transform(test_x)
        total = sum(shared)
        for i, x in enumerate(test_x):
            centred = x - srm.means_[i]
            norm = float(np.sum(centred ** 2))
            others = (total - shared[i]) / (len(Xs) - 1)
            residual = centred - others @ srm.bases_[i].T
            projected = centred @ axes[i][:k].T
            rows.append({"n_components": int(k), "network": names[i],
                         "variance_explained": float(np.sum(shared[i] ** 2)) / norm,
                         "variance_predicted": 1 - float(np.sum(residual ** 2)) / norm,
                         "variance_explained_pca": float(np.sum(projected ** 2)) / norm,
                         "algorithm": algorithm, "n_stimuli": len(test_idx)})
    return pd.DataFrame(rows)

