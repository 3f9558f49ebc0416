"""The Shared Response Model (SRM): map several networks into one shared space.

:class:`SRM` is a scikit-learn transformer over a list of (n_stimuli, n_units_i)
arrays, one per network, with the deterministic and the probabilistic model of
Chen et al. (2015); each algorithm is one fitting function in ``_ALGORITHMS``.
Lu et al. (2018) used it to show that networks trained from different seeds
share one representational geometry up to a rotation.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from .._validation import check_option, check_random_state

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
        fit = _ALGORITHMS[self.algorithm]
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


# The fitting function of each algorithm: (centred X, initial bases, n_iter, tol) ->
# (bases, shared response, objective trace, extra fitted attributes).
_ALGORITHMS = {"deterministic": _fit_deterministic, "probabilistic": _fit_probabilistic}


def _warn_not_converged(n_iter):
    warnings.warn(f"SRM did not converge in n_iter={n_iter} iterations; raise n_iter or tol.",
                  ConvergenceWarning, stacklevel=4)

