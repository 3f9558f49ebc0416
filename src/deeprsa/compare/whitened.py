"""Whitened RDM comparisons: ``cosine_cov`` and ``corr_cov`` (Diedrichsen et al., 2021).

The dissimilarities of an RDM are not independent: every distance to a noisy
pattern shares that pattern's noise. Diedrichsen et al. (2021) whiten the RDM
vector by the covariance of its entries under independent, equal noise on
the patterns, ``V = (C C^T) o (C C^T)`` (``C`` the pairwise contrasts), before
taking a cosine (``cosine_cov``) or a correlation (``corr_cov``, after
removing the mean of the entries). ``d_a^T V^-1 d_b`` is, up to a constant,
the Frobenius product of the double-centred second-moment matrices
``G = -H D H / 2`` (the linear-CKA form of the same comparison), which is
how rsatoolbox computes it and how it is computed here, in O(n_entries)
per RDM with no n_entries x n_entries matrix.

Each RDM is prepared once into a vector ``q`` of the same length as its
upper triangle, with ``q_a . q_b`` the Frobenius product of the two ``G``:
``q = sqrt(2) (u + c_i + c_j)`` for the upper triangle ``u`` of ``G``, where
``c`` is a per-stimulus correction from the row sums of ``u`` (the square
root of the metric ``2 I + E^T E``, ``E`` the stimulus-pair incidence, whose
spectrum is known). ``q`` follows the stimuli (relabelling them permutes its
entries as it permutes the RDM's), so the Mantel test and the dot-product
blocks of :mod:`deeprsa.compare` use it as they use ranks.

RDMs with missing entries (NaN, or a stimulus paired with its own copy in a
bootstrap resample) are prepared as rsatoolbox prepares them: the row and
column effects are projected out of the observed entries and the diagonal
(:meth:`_CosineCov.prepare_masked`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["METHODS"]

_REFERENCE = ("Diedrichsen, J., Berlot, E., Mur, M., Schuett, H. H., Shahbazi, M., & "
              "Kriegeskorte, N. (2021). Comparing representational geometries using whitened "
              "unbiased-distance-matrix similarity. Neurons Behav. Data Anal. Theory. "
              "(rsatoolbox 'cosine_cov' / 'corr_cov')")


def _n_stimuli(n_entries: int) -> int:
    n = int(round((1 + np.sqrt(1 + 8 * n_entries)) / 2))
    if n * (n - 1) // 2 != n_entries or n < 3:
        raise ValueError(
            f"Whitened comparisons need the complete upper triangle of an RDM of at least 3 "
            f"stimuli; got {n_entries} entries, which is no n * (n - 1) / 2.")
    return n


def _pairs(n):
    return np.triu_indices(n, k=1)


def whiten(v: np.ndarray) -> np.ndarray:
    """The whitened vector ``q`` of the upper triangle ``v`` (squareform order).

    ``q_a . q_b`` equals the Frobenius product of the double-centred
    ``G = -H D H / 2`` of the two RDMs.
    """
    n = _n_stimuli(len(v))
    i, j = _pairs(n)
    # row sums of -D/2 (the zero diagonal included in the means)
    half = -0.5 * np.asarray(v, dtype=np.float64)
    row = np.bincount(i, half, minlength=n) + np.bincount(j, half, minlength=n)
    mean_row = row / n
    grand = row.sum() / (n * n)
    u = half - mean_row[i] - mean_row[j] + grand  # upper triangle of G
    # q = sqrt(2) (I + E^T E / 2)^(1/2) u, with E E^T = (n - 2) I + 1 1^T
    r = np.bincount(i, u, minlength=n) + np.bincount(j, u, minlength=n)
    r_mean = r.mean()
    c = _h(n - 2) * (r - r_mean) + _h(2 * n - 2) * r_mean
    return np.sqrt(2.0) * (u + c[i] + c[j])


def _h(lam):
    """``(sqrt(1 + lam / 2) - 1) / lam``: the square root of ``I + E^T E / 2`` on one eigenspace."""
    return (np.sqrt(1.0 + lam / 2.0) - 1.0) / lam


def whiten_masked(v: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """rsatoolbox's whitened vector of an RDM with missing entries.

    ``v`` is the full upper triangle (any values where ``valid`` is False),
    ``valid`` marks the observed entries. The result has one entry per
    observed pair and one per stimulus (the diagonal of ``G``), off-diagonal
    entries times sqrt(2), as rsatoolbox's ``_cov_weighting`` with NaN.
    """
    n = _n_stimuli(len(valid))
    i, j = (k[valid] for k in _pairs(n))
    half = -0.5 * np.asarray(v, dtype=np.float64)[valid]
    # S^T v: each stimulus sums its observed pairs (the diagonal entries are 0)
    t = np.bincount(i, half, minlength=n) + np.bincount(j, half, minlength=n)
    beta = _masked_solver(n, valid.tobytes())(t)
    out = np.empty(len(half) + n)
    out[:len(half)] = np.sqrt(2.0) * (half - 0.5 * (beta[i] + beta[j]))
    out[len(half):] = -beta
    return out


@lru_cache(maxsize=4)
def _masked_solver(n, valid_bytes):
    """Solve ``(S^T W S) beta = t`` for one mask (S: row + column indicators, W: 1/2, 1)."""
    from scipy.linalg import cho_factor, cho_solve

    valid = np.frombuffer(valid_bytes, dtype=bool)
    i, j = (k[valid] for k in _pairs(n))
    gram = np.eye(n)
    np.add.at(gram, (i, j), 0.5)
    np.add.at(gram, (j, i), 0.5)
    degree = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    gram[np.diag_indices(n)] += 0.5 * degree
    factor = cho_factor(gram)
    return lambda t: cho_solve(factor, t)


def _inverse_norm(q):
    norm = float(np.sqrt(q @ q))
    return 1.0 / norm if norm > 0 else float("nan")


class _CosineCov:
    """Whitened cosine: cosine of the double-centred second moments (Diedrichsen et al., 2021)."""

    name, input, kind, dot, defaults = "cosine_cov", "rdm", "similarity", True, {}
    formula = ("a^T V^-1 b / sqrt(a^T V^-1 a · b^T V^-1 b), V the covariance of RDM entries "
               "under i.i.d. pattern noise (the cosine of the double-centred H A H and H B H)")
    value_range = "[-1, 1]"
    reference = _REFERENCE
    invariances = ("scaling",)

    def _centre(self, v):
        return v

    def prepare(self, v):
        q = whiten(self._centre(v))
        return q, _inverse_norm(q)

    def prepare_masked(self, v, valid):
        """Prepare an RDM whose entries are observed only where ``valid`` (rsatoolbox's NaN rule)."""
        v = np.asarray(v, dtype=np.float64)
        observed = v[valid]
        full = np.zeros(len(valid))
        full[valid] = self._centre(observed)
        q = whiten_masked(full, valid)
        return q, _inverse_norm(q)


class _CorrCov(_CosineCov):
    """Whitened correlation: the whitened cosine after removing the mean dissimilarity."""

    name = "corr_cov"
    formula = "cosine_cov of a - mean(a) and b - mean(b)"
    invariances = ("scaling", "shift")

    def _centre(self, v):
        return v - v.mean()


METHODS = (_CosineCov, _CorrCov)
