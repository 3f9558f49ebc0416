"""Pieces shared by the statistics: input checks, read-only arrays and the comparator.

Every test and interval of :mod:`deeprsa.stats` compares many small sets of RDM
entries with a registered method of :mod:`deeprsa.compare`; :class:`_Comparator`
prepares each RDM once for that. The checks here turn counts and collections of
RDMs into a canonical form once, at the top of each public function.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..rdm import RDM, RDMs

# bytes of gathered permuted entries per block of the Mantel null
_BLOCK_BYTES = 32 << 20


def _readonly(x) -> np.ndarray:
    x = np.array(x, dtype=np.float64)
    x.flags.writeable = False
    return x


def _check_count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


class _Comparator:
    """A registered comparison method of :mod:`deeprsa.compare`, for many small comparisons.

    Uses the registry's protocol: ``prepare(vector) -> prepared`` once per RDM,
    then ``pair(prepared_a, prepared_b)``, or for correlation-type methods
    (``dot``) a prepared vector and a scale whose products give the values.
    Ranks and centring commute with a permutation of the entries, so for a
    Mantel test ``b`` is prepared once and each permutation only gathers entries.
    """

    def __init__(self, method):
        from .. import compare

        self.method = method
        self.spec, self.params = compare._check_method(method, None, "rdm")

    def _prepare(self, v):
        return self.spec.prepare(v, **self.params)

    def matrix(self, VA, VB, valid=None):
        """Values for every pair of rows of ``VA`` (n_a, m) and ``VB`` (n_b, m).

        ``valid`` (a mask of the m entries) leaves the others out of every
        comparison; a whitened method keeps the RDM's layout, as rsatoolbox does.
        """
        if valid is not None and valid.all():
            valid = None
        if valid is not None and hasattr(self.spec, "prepare_masked"):
            def prepare(v):
                return self.spec.prepare_masked(v, valid, **self.params)
        else:
            def prepare(v):
                return self._prepare(v if valid is None else v[valid])
        pa = [prepare(v) for v in VA]
        pb = [prepare(v) for v in VB]
        if self.spec.dot:
            ma = np.array([p[0] for p in pa], dtype=np.float64)
            mb = np.array([p[0] for p in pb], dtype=np.float64)
            scales = np.outer([p[1] for p in pa], [p[1] for p in pb])
            out = (ma @ mb.T) * scales
        else:
            out = np.array([[self.spec.pair(x, y, **self.params) for y in pb] for x in pa],
                           dtype=np.float64)
        return np.clip(out, -1.0, 1.0)

    def permuted(self, A, B, perms):
        """Value for each row of ``perms`` (n_perm, n): ``B`` with stimuli relabelled by it."""
        n = len(A)
        i, j = np.triu_indices(n, k=1)
        if not self.spec.dot:
            pa = self._prepare(A[i, j])
            return np.clip([self.spec.pair(pa, self._prepare(B[p[i], p[j]]), **self.params)
                            for p in perms], -1.0, 1.0)
        pa, scale_a = self._prepare(A[i, j])
        pb, scale_b = self._prepare(B[i, j])
        square = np.zeros((n, n))
        square[i, j] = pb
        square[j, i] = pb
        pa = np.asarray(pa, dtype=np.float64)
        out = np.empty(len(perms))
        block = max(1, _BLOCK_BYTES // (8 * len(pa)))
        for s in range(0, len(perms), block):
            p = perms[s:s + block]
            out[s:s + block] = square[p[:, i], p[:, j]] @ pa
        return np.clip(out * (scale_a * scale_b), -1.0, 1.0)


def _collection(x, name):
    if isinstance(x, RDM):
        return RDMs([x])
    if isinstance(x, RDMs):
        return x
    if isinstance(x, (list, tuple)):
        return RDMs(x)
    raise TypeError(f"{name} must be an RDM, RDMs or a list of RDM, got {type(x).__name__}.")


def _deprecated_value(parameter, old, new):
    """Warn that ``parameter=old`` is a deprecated spelling of ``parameter=new``; return ``new``.

    The warning points at the caller of the public function that checks the value.
    """
    warnings.warn(f"{parameter}={old!r} is deprecated and will stop working in the next "
                  f"release; use {parameter}={new!r}, which behaves the same.",
                  DeprecationWarning, stacklevel=4)
    return new
