"""Align networks trained from different seeds with the Shared Response Model (SRM).

- :class:`SRM` maps several networks shown the same stimuli into one shared space
  (scikit-learn style ``fit`` / ``transform``), with the probabilistic and the
  deterministic model of Chen et al. (2015).
- :func:`evaluate_alignment` is the RSA before and after alignment of Lu et al.
  (2018): the inter-network RSM against the mean within-network RSM, in native
  and in shared space.
- :func:`evaluate_n_components` gives held-out variance explained as a function
  of the number of shared features.
- :func:`load_networks` reads the activations of one layer of several models from
  a store.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ._validation import check_option, check_random_state

__all__ = ["SRM", "evaluate_alignment", "evaluate_n_components", "load_networks"]

log = logging.getLogger(__name__)

_ALGORITHMS = ("deterministic", "probabilistic")
_NATIVE = ("pca", "truncate")
# Smallest noise variance of the probabilistic model, relative to the network's
# variance per unit: exact copies of one network would otherwise drive it to 0.
_RHO2_FLOOR = 1e-10


class SRM(TransformerMixin, BaseEstimator):
    """Shared Response Model: map several networks into one shared space.

    Each network ``i`` responds to the same stimuli with ``X_i`` of shape
    (n_stimuli, n_units_i). After removing each unit's mean, SRM finds an
    orthonormal basis ``W_i`` (n_units_i, n_components) per network and a
    shared response ``S`` (n_stimuli, n_components) with ``X_i ~ S W_i.T``.

    Parameters
    ----------
    n_components : int, default=10
        Dimension of the shared space; at most the smallest unit count and
        fewer than the number of stimuli.
    algorithm : {"probabilistic", "deterministic"}, default="probabilistic"
        ``"deterministic"`` minimises ``sum_i ||X_i - S W_i.T||^2`` by
        alternating least squares. ``"probabilistic"`` fits the generative
        model ``x_i = W_i s + noise`` with ``s ~ N(0, Sigma_s)`` and isotropic
        noise of variance ``rho2_i`` per network by expectation maximisation;
        networks with more noise weigh less in the shared response.
    n_iter : int, default=100
        Most iterations.
    tol : float, default=1e-5
        Stop when the objective falls by less than ``tol`` times its
        magnitude in one iteration.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the random generator: an int gives the same result on every run,
        a Generator is used (and advanced) as is, None draws fresh entropy.
        Here it draws the initial bases.

    Attributes
    ----------
    bases_ : list of ndarray of shape (n_units_i, n_components)
        Orthonormal map of each network (``W_i.T @ W_i`` is the identity).
    means_ : list of ndarray of shape (n_units_i,)
        Unit means of the training stimuli, removed before fitting and
        before every transform.
    shared_response_ : ndarray of shape (n_stimuli, n_components)
        Shared response of the training stimuli (the posterior mean for the
        probabilistic model).
    objective_ : ndarray of shape (n_iter_ + 1,)
        Objective after initialisation and after each iteration, never
        rising: the relative reconstruction error
        ``sum_i ||X_i - S W_i.T||^2 / sum_i ||X_i||^2`` (deterministic), or the
        negative log-likelihood (probabilistic).
    n_iter_ : int
        Iterations run.
    sigma_s_ : ndarray of shape (n_components, n_components)
        Covariance of the shared response (probabilistic only).
    rho2_ : ndarray of shape (n_networks,)
        Noise variance of each network (probabilistic only).

    See Also
    --------
    evaluate_alignment : RSA before and after alignment.
    evaluate_n_components : Held-out variance explained against n_components.

    Notes
    -----
    Both algorithms follow Chen et al. (2015) [1]_, with the data laid out as
    (stimuli, units) instead of (voxels, time points); BrainIAK's ``SRM`` and
    ``DetSRM`` [2]_ implement the same updates. Lu et al. (2018) [3]_ used SRM
    to show that networks trained from different seeds share one
    representational geometry up to a rotation.

    References
    ----------
    .. [1] Chen, P.-H., Chen, J., Yeshurun, Y., Hasson, U., Haxby, J. V., &
       Ramadge, P. J. (2015). A reduced-dimension fMRI shared response model.
       Advances in Neural Information Processing Systems 28.
    .. [2] Kumar, M., Anderson, M. J., Antony, J. W., et al. (2022). BrainIAK:
       the brain imaging analysis kit. Aperture Neuro, 1(4).
    .. [3] Lu, Q., Chen, P.-H., Pillow, J. W., Ramadge, P. J., Norman, K. A., &
       Hasson, U. (2018). Shared representational geometry across neural
       networks. arXiv:1811.11684.

    Examples
    --------
    Two networks whose units are rotated copies of one 3-D response:

    >>> rng = np.random.default_rng(0)
    >>> shared = rng.standard_normal((50, 3))
    >>> Q = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    >>> X = [shared @ rng.standard_normal((3, 8)), None]
    >>> X[1] = X[0] @ Q
    >>> srm = SRM(n_components=3, algorithm="deterministic", seed=0).fit(X)
    >>> a, b = srm.transform(X)
    >>> bool(np.allclose(a, b, atol=1e-6)), abs(float(srm.objective_[-1])) < 1e-6
    (True, True)
    """

    def __init__(self, n_components=10, *, algorithm="probabilistic", n_iter=100, tol=1e-5,
                 seed=None):
        self.n_components = n_components
        self.algorithm = algorithm
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed

    def _check_params(self):
        check_option("algorithm", self.algorithm, _ALGORITHMS)
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"n_components must be an int >= 1, got {k!r}.")
        n_iter = self.n_iter
        if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
            raise ValueError(f"n_iter must be an int >= 1, got {n_iter!r}.")
        if not isinstance(self.tol, (int, float, np.floating)) or self.tol < 0:
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}.")

    def fit(self, X, y=None):
        """Fit one basis per network.

        Parameters
        ----------
        X : list of array-like of shape (n_stimuli, n_units_i)
            Responses of each network to the same stimuli, in the same order.
        y : None
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If fewer than 2 networks are given, their stimulus counts differ,
            a network has fewer units than ``n_components`` or holds NaN, there
            are not more stimuli than ``n_components``, or a parameter is invalid.
        """
        self._check_params()
        Xs = _check_networks(X)
        k = int(self.n_components)
        n_stimuli = Xs[0].shape[0]
        if n_stimuli <= k:
            raise ValueError(
                f"SRM with n_components={k} needs more stimuli than components, got "
                f"{n_stimuli}. Use n_components <= {max(n_stimuli - 1, 1)} or more stimuli.")
        for i, x in enumerate(Xs):
            if x.shape[1] < k:
                raise ValueError(
                    f"Network {i} has {x.shape[1]} units, fewer than n_components={k}. Use "
                    f"n_components <= {min(x.shape[1] for x in Xs)} (the smallest unit count).")
        rng = check_random_state(self.seed)
        self.means_ = [x.mean(axis=0) for x in Xs]
        Xs = [x - m for x, m in zip(Xs, self.means_, strict=True)]
        W = [_nearest_orthonormal(rng.standard_normal((x.shape[1], k))) for x in Xs]
        fit = _fit_probabilistic if self.algorithm == "probabilistic" else _fit_deterministic
        W, S, objective, extra = fit(Xs, W, int(self.n_iter), float(self.tol))
        self.bases_ = W
        self.shared_response_ = S
        self.objective_ = np.asarray(objective)
        self.n_iter_ = len(objective) - 1
        for name, value in extra.items():
            setattr(self, name, value)
        return self

    def transform(self, X, networks=None):
        """Project each network's responses into the shared space.

        Parameters
        ----------
        X : list of array-like of shape (n_samples, n_units_i)
            Responses of the fitted networks (any stimuli, e.g. held-out ones).
        networks : sequence of int, optional
            Which fitted network each array of ``X`` belongs to; default all
            of them, in order.

        Returns
        -------
        list of ndarray of shape (n_samples, n_components)
            ``(X_i - means_[i]) @ bases_[i]``, with the training means.

        Raises
        ------
        ValueError
            If ``X`` does not match the fitted networks' unit counts.
        """
        check_is_fitted(self)
        Xs, networks = self._check_fitted_networks(X, networks)
        return [(x - self.means_[i]) @ self.bases_[i] for x, i in zip(Xs, networks,
                                                                     strict=True)]

    def inverse_transform(self, shared, networks=None):
        """Responses each network would give to a shared response.

        Parameters
        ----------
        shared : array-like of shape (n_samples, n_components)
        networks : sequence of int, optional
            Networks to reconstruct; default all.

        Returns
        -------
        list of ndarray of shape (n_samples, n_units_i)
            ``shared @ bases_[i].T + means_[i]``.
        """
        check_is_fitted(self)
        S = np.asarray(shared, dtype=np.float64)
        k = self.bases_[0].shape[1]
        if S.ndim != 2 or S.shape[1] != k:
            raise ValueError(f"shared must have shape (n_samples, {k}), got {S.shape}.")
        networks = range(len(self.bases_)) if networks is None else \
            self._check_indices(networks)
        return [S @ self.bases_[i].T + self.means_[i] for i in networks]

    def add_network(self, X):
        """Map a new network into the fitted space, keeping the shared response fixed.

        Parameters
        ----------
        X : array-like of shape (n_stimuli, n_units)
            The new network's responses to the training stimuli, in the
            training order.

        Returns
        -------
        self
            With the new network appended to ``bases_`` and ``means_`` (and
            ``rho2_``); transform it as network ``len(bases_) - 1``.

        Raises
        ------
        ValueError
            If ``X`` has another number of stimuli than the training data or
            fewer units than ``n_components``.

        Notes
        -----
        The basis solves the SRM update for one network given the shared
        response, ``W = argmin ||X - S W.T||`` over orthonormal ``W``, as
        BrainIAK's ``transform_subject``.
        """
        check_is_fitted(self)
        x = _check_networks([X], min_networks=1)[0]
        S = self.shared_response_
        if x.shape[0] != S.shape[0]:
            raise ValueError(
                f"The new network has responses to {x.shape[0]} stimuli, but SRM was fitted "
                f"on {S.shape[0]}; pass its responses to the training stimuli, in order.")
        if x.shape[1] < S.shape[1]:
            raise ValueError(f"The new network has {x.shape[1]} units, fewer than "
                             f"n_components={S.shape[1]}.")
        mean = x.mean(axis=0)
        x = x - mean
        W = _nearest_orthonormal(x.T @ S)
        self.means_ = [*self.means_, mean]
        self.bases_ = [*self.bases_, W]
        if hasattr(self, "rho2_"):
            rho2 = _noise_variance(x, W, S, len(S) * np.trace(self.sigma_s_))
            self.rho2_ = np.append(self.rho2_, rho2)
        return self

    def _check_indices(self, networks):
        n = len(self.bases_)
        out = [int(i) for i in networks]
        bad = [i for i in out if not 0 <= i < n]
        if bad:
            raise ValueError(f"networks holds {bad[0]}, but SRM has networks 0 to {n - 1}.")
        return out

    def _check_fitted_networks(self, X, networks):
        Xs = _check_networks(X, min_networks=1, same_stimuli=True)
        if networks is None:
            if len(Xs) != len(self.bases_):
                raise ValueError(f"SRM was fitted on {len(self.bases_)} networks; got "
                                 f"{len(Xs)}. Pass networks= to say which ones these are.")
            networks = list(range(len(Xs)))
        else:
            networks = self._check_indices(networks)
            if len(networks) != len(Xs):
                raise ValueError(f"Got {len(Xs)} arrays but {len(networks)} network indices.")
        for x, i in zip(Xs, networks, strict=True):
            units = self.bases_[i].shape[0]
            if x.shape[1] != units:
                raise ValueError(f"Network {i} was fitted with {units} units; got responses "
                                 f"with {x.shape[1]}.")
        return Xs, networks


def _nearest_orthonormal(A):
    """The orthonormal matrix closest to ``A`` (its polar factor)."""
    U, _, Vt = np.linalg.svd(A, full_matrices=False)
    return U @ Vt


def _check_networks(X, *, min_networks=2, same_stimuli=True):
    if isinstance(X, np.ndarray) and X.ndim == 2:
        raise ValueError("X must be a list of arrays, one (n_stimuli, n_units_i) array per "
                         "network; got one 2-D array. Wrap it: [X1, X2, ...].")
    try:
        Xs = [np.asarray(x, dtype=np.float64) for x in X]
    except TypeError as err:
        raise ValueError(f"X must be a list of arrays, one per network, got "
                         f"{type(X).__name__}.") from err
    if len(Xs) < min_networks:
        raise ValueError(f"SRM needs responses from at least {min_networks} networks, got "
                         f"{len(Xs)}.")
    for i, x in enumerate(Xs):
        if x.ndim != 2:
            raise ValueError(
                f"Network {i} has responses of shape {x.shape}; expected 2-D (n_stimuli, "
                "n_units). Flatten or pool the spatial dimensions first, e.g. "
                "X.reshape(len(X), -1).")
        if same_stimuli and x.shape[0] != Xs[0].shape[0]:
            raise ValueError(
                f"Network {i} has responses to {x.shape[0]} stimuli but network 0 to "
                f"{Xs[0].shape[0]}; every network must see the same stimuli in the same order.")
        if not np.isfinite(x).all():
            raise ValueError(f"Network {i} has NaN or infinite responses.")
    return Xs


def _fit_deterministic(Xs, W, n_iter, tol):
    """Alternate ``S = mean_i X_i W_i`` and ``W_i = polar(X_i.T S)`` (Chen et al., 2015)."""
    total = sum(float(np.sum(x * x)) for x in Xs)
    total = total if total > 0 else 1.0

    def shared(W):
        return np.mean([x @ w for x, w in zip(Xs, W, strict=True)], axis=0)

    def objective(W, S):
        # ||X - S W.T||^2 = ||X||^2 - 2 tr(W.T X.T S) + ||S||^2 since W.T W = I
        s2 = float(np.sum(S * S))
        return sum(float(np.sum(x * x)) - 2 * float(np.sum((x @ w) * S)) + s2
                   for x, w in zip(Xs, W, strict=True)) / total

    S = shared(W)
    trace = [objective(W, S)]
    for _ in range(n_iter):
        W = [_nearest_orthonormal(x.T @ S) for x in Xs]
        S = shared(W)
        trace.append(objective(W, S))
        if trace[-2] - trace[-1] <= tol * abs(trace[-2]):
            break
    else:
        _warn_not_converged(n_iter)
    return W, S, trace, {}


def _noise_variance(x, W, S, trace_ss):
    """``E||X - S W.T||^2 / (n_stimuli n_units)``, with ``trace_ss = tr(E[S.T S])``."""
    n, v = x.shape
    rho2 = (float(np.sum(x * x)) - 2 * float(np.sum((x @ W) * S)) + trace_ss) / (n * v)
    return max(rho2, _RHO2_FLOOR * float(np.sum(x * x)) / (n * v), np.finfo(float).tiny)


def _fit_probabilistic(Xs, W, n_iter, tol):
    """EM for ``x_i = W_i s + e_i``, ``s ~ N(0, Sigma_s)``, ``e_i ~ N(0, rho2_i I)``.

    E-step: the posterior of each stimulus's shared response has covariance
    ``A^-1 = (Sigma_s^-1 + sum_i rho2_i^-1 I)^-1`` and mean ``A^-1 sum_i W_i.T x_i / rho2_i``.
    M-step: ``Sigma_s = A^-1 + S.T S / n``, ``W_i = polar(X_i.T S)`` and ``rho2_i`` the
    expected squared residual per entry (Chen et al., 2015).
    """
    n = Xs[0].shape[0]
    k = W[0].shape[1]
    units = np.array([x.shape[1] for x in Xs])
    norms = np.array([float(np.sum(x * x)) for x in Xs])
    rho2 = np.maximum(norms / (n * units), np.finfo(float).tiny)
    sigma_s = np.eye(k) * float(np.mean(rho2))
    eye = np.eye(k)

    def e_step(W, rho2, sigma_s):
        precision = np.linalg.inv(sigma_s) + eye * np.sum(1.0 / rho2)
        cov = np.linalg.inv(precision)
        cov = (cov + cov.T) / 2
        B = sum(x @ w / r for x, w, r in zip(Xs, W, rho2, strict=True))  # (n, k)
        S = B @ cov
        # -log p(X) of the marginal x ~ N(0, W Sigma_s W.T + Psi), via Woodbury
        logdet = (np.linalg.slogdet(sigma_s)[1] + np.linalg.slogdet(precision)[1]
                  + float(np.sum(units * np.log(rho2))))
        nll = 0.5 * (n * (logdet + units.sum() * np.log(2 * np.pi))
                     + float(np.sum(norms / rho2)) - float(np.sum(S * B)))
        return S, cov, nll

    S, cov, nll = e_step(W, rho2, sigma_s)
    trace = [nll]
    for _ in range(n_iter):
        sigma_s = cov + S.T @ S / n
        trace_ss = n * float(np.trace(sigma_s))
        W = [_nearest_orthonormal(x.T @ S) for x in Xs]
        rho2 = np.array([_noise_variance(x, w, S, trace_ss) for x, w in zip(Xs, W,
                                                                            strict=True)])
        S, cov, nll = e_step(W, rho2, sigma_s)
        trace.append(nll)
        if trace[-2] - trace[-1] <= tol * abs(trace[-2]):
            break
    else:
        _warn_not_converged(n_iter)
    return W, S, trace, {"sigma_s_": sigma_s, "rho2_": rho2}


def _warn_not_converged(n_iter):
    warnings.warn(f"SRM did not converge in n_iter={n_iter} iterations; raise n_iter or tol.",
                  ConvergenceWarning, stacklevel=4)


# ============================================================================ store


def load_networks(store, models, layer, **fields):
    """Activations of one layer of several models, over the same stimuli.

    Parameters
    ----------
    store : Store or path
        A store holding the activations (``deeprsa extract``).
    models : sequence of str
        Model names as in the store (e.g. ``zoo:convnet_s0`` ... ``zoo:convnet_s4``).
    layer : str
        The layer, present in every model.
    **fields
        Further entry fields to choose among several matches (``reduction``, ...).

    Returns
    -------
    X : list of ndarray of shape (n_stimuli, n_units_i)
        One array per model, in the order of ``models``.
    stimulus_ids : tuple of str

    Raises
    ------
    ValueError
        If fewer than 2 models are named or they were shown different stimuli.
    KeyError
        If the store holds no (or several) activations for a model and layer.
    """
    from .store import Store

    models = [models] if isinstance(models, str) else list(models)
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


# ============================================================================ evaluation


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
