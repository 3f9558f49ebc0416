"""Comparing two RDMs: the methods behind :func:`deeprsa.compare_rdms`.

Each method prepares every RDM vector once and then combines prepared vectors:

- ``dot = True`` methods (Spearman, rho-a, Pearson, cosine) prepare a vector
  and a scale whose dot products give the value, so all pairs come from one
  matrix product in column chunks. Spearman keeps exact doubled ranks as
  int32, a quarter of the float64 square matrix it came from.
- Kendall's tau sorts each RDM once; ``pair`` then counts discordant pairs in
  O(n log n) without sorting again.

Inputs arrive finite and float64; the registry lives in :mod:`deeprsa.compare.registry`.
Each class states its ``invariances``: transforms of one RDM's entries
(``scaling`` a -> c a, ``shift`` a -> a + c, ``monotone`` a -> f(a) with f
strictly increasing) that leave every value unchanged; the tests check them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["METHODS"]


def _doubled_ranks(v):
    """``2 * rank(v) - (n + 1)`` with ties averaged: exact integers, mean zero."""
    n = len(v)
    order = np.argsort(v)
    s = v[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    del s
    dtype = np.int32 if n < 2 ** 30 else np.int64
    ranks = np.empty(n, dtype=dtype)
    if new.all():
        ranks[order] = np.arange(1 - n, n + 1, 2, dtype=dtype)
    else:  # a tie group at sorted positions start..end-1 has doubled rank start + end + 1
        starts = np.flatnonzero(new)
        doubled = starts + np.append(starts[1:], n) + 1 - (n + 1)
        ranks[order] = doubled.astype(dtype)[np.cumsum(new) - 1]
    return ranks


def _norm(v, chunk=1 << 20):
    total = 0.0
    for start in range(0, len(v), chunk):
        part = np.asarray(v[start:start + chunk], dtype=np.float64)
        total += float(part @ part)
    return np.sqrt(total)


def _inverse(x):
    return 1.0 / x if x > 0 else float("nan")


class _Spearman:
    """Spearman's rho: Pearson r of the ranks, ties averaged; each RDM is ranked once."""

    name, input, kind, dot, defaults = "spearman", "rdm", "similarity", True, {}
    formula = "Pearson r of rank(a) and rank(b), tied entries share their average rank"
    value_range = "[-1, 1]"
    reference = ("Spearman, C. (1904). The proof and measurement of association between two "
                 "things. Am. J. Psychol. Kriegeskorte, N., Mur, M., & Bandettini, P. (2008). "
                 "Representational similarity analysis. Front. Syst. Neurosci.")
    invariances = ("scaling", "shift", "monotone")

    def prepare(self, v):
        ranks = _doubled_ranks(v)
        return ranks, _inverse(_norm(ranks))


class _RhoA(_Spearman):
    """Spearman's rho-a: rank products over their no-tie maximum (ties lower it)."""

    name = "rho_a"
    formula = "12 sum((rank(a) - m)(rank(b) - m)) / (n^3 - n), n entries, m = (n + 1) / 2"
    reference = ("Nili, H., Wingfield, C., Walther, A., Su, L., Marslen-Wilson, W., & "
                 "Kriegeskorte, N. (2014). A toolbox for representational similarity analysis. "
                 "PLoS Comput. Biol. (rsatoolbox 'rho-a')")

    def prepare(self, v):
        n = len(v)
        # doubled ranks: sum(c_a c_b) = 4 sum(...), so the factor is 3 / (n^3 - n)
        return _doubled_ranks(v), float(np.sqrt(3.0 / (float(n) ** 3 - n)))


class _Pearson:
    """Pearson correlation of the RDM entries."""

    name, input, kind, dot, defaults = "pearson", "rdm", "similarity", True, {}
    formula = "sum((a - mean a)(b - mean b)) / (||a - mean a|| ||b - mean b||)"
    value_range = "[-1, 1]"
    reference = ("Pearson, K. (1895). Notes on regression and inheritance in the case of two "
                 "parents. Proc. R. Soc. Lond.")
    invariances = ("scaling", "shift")

    def prepare(self, v):
        v = v - v.mean()
        return v, _inverse(_norm(v))


class _Cosine:
    """Cosine similarity of the RDM entries (not centred)."""

    name, input, kind, dot, defaults = "cosine", "rdm", "similarity", True, {}
    formula = "sum(a b) / (||a|| ||b||)"
    value_range = "[-1, 1]; [0, 1] for nonnegative RDMs"
    reference = ("Diedrichsen, J., Berlot, E., Mur, M., Schuett, H. H., Shahbazi, M., & "
                 "Kriegeskorte, N. (2021). Comparing representational geometries using "
                 "whitened unbiased-distance-matrix similarity. Neurons Behav. Data Anal. "
                 "Theory.")
    invariances = ("scaling",)

    def prepare(self, v):
        return v, _inverse(_norm(v))


class _KendallTauA:
    """Kendall's tau-a: (concordant - discordant) / all pairs; each RDM is sorted once."""

    name, input, kind, dot, defaults = "kendall_tau_a", "rdm", "similarity", False, {}
    formula = "(n_c - n_d) / (n (n - 1) / 2), n entries; tied pairs count as neither"
    value_range = "[-1, 1]"
    reference = ("Kendall, M. G. (1938). A new measure of rank correlation. Biometrika. "
                 "Nili et al. (2014), PLoS Comput. Biol. (tau-a for RSA with tied models)")
    invariances = ("scaling", "shift", "monotone")

    def prepare(self, v):
        return _kendall_prepare(v)

    def pair(self, a, b):
        con_dis, total, _, _ = _kendall_counts(a, b)
        return con_dis / total


class _KendallTauB(_KendallTauA):
    """Kendall's tau-b: tau with the tie correction of scipy.stats.kendalltau."""

    name = "kendall_tau_b"
    formula = "(n_c - n_d) / sqrt((n_0 - t_a)(n_0 - t_b)), t = pairs tied in one RDM"
    reference = ("Kendall, M. G. (1945). The treatment of ties in ranking problems. "
                 "Biometrika.")

    def pair(self, a, b):
        con_dis, total, ties_a, ties_b = _kendall_counts(a, b)
        denominator = float(total - ties_a) * float(total - ties_b)
        return con_dis / np.sqrt(denominator) if denominator > 0 else float("nan")


def _kendall_prepare(v):
    """Sort once: the order, 1-based dense ranks, sorted dense ranks (if tied), tied pairs."""
    order = np.argsort(v)
    s = v[order]
    new = np.empty(len(v), dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    del s
    ranks = np.empty(len(v), dtype=np.intp)
    if new.all():  # no ties (continuous RDMs): the ranks are 1..n, nothing to count
        ranks[order] = _one_to(len(v))
        return order, ranks, None, 0
    dense = np.cumsum(new, dtype=np.intp)
    ranks[order] = dense
    counts = np.diff(np.append(np.flatnonzero(new), len(v)))
    ties = int(np.sum(counts * (counts - 1) // 2))
    return order, ranks, dense if ties else None, ties


@lru_cache(maxsize=1)
def _one_to(n):
    # writable because Cython memoryviews refuse read-only buffers; never modified
    return np.arange(1, n + 1, dtype=np.intp)


def _kendall_counts(a, b):
    """``(n_c - n_d, n_0, ties_a, ties_b)`` from two prepared RDMs in O(n log n)."""
    order_a, _, dense_a, ties_a = a
    _, ranks_b, _, ties_b = b
    n = len(order_a)
    total = n * (n - 1) // 2
    if a is b:
        return total - ties_a, total, ties_a, ties_a
    y = ranks_b[order_a]  # b's ranks in a's sorted order
    x = dense_a if dense_a is not None else _one_to(n)
    discordant = _discordant(x, y)
    joint = _joint_ties(x, y) if ties_a and ties_b else 0
    # n_0 = n_c + n_d + t_a + t_b - t_ab
    return total - ties_a - ties_b + joint - 2 * discordant, total, ties_a, ties_b


def _joint_ties(x, y):
    """Pairs tied in both x (sorted dense ranks) and y."""
    in_group = np.zeros(len(x), dtype=bool)
    same = x[1:] == x[:-1]
    in_group[1:] |= same
    in_group[:-1] |= same
    key = x[in_group].astype(np.int64) * (int(y.max()) + 1) + y[in_group]
    _, counts = np.unique(key, return_counts=True)
    return int(np.sum(counts * (counts - 1) // 2))


def _discordant(x, y):
    """Pairs i < j with x_i < x_j and y_i > y_j, for x sorted ascending (dense ranks >= 1).

    Uses the compiled Fenwick-tree count behind ``scipy.stats.kendalltau``; if a
    SciPy release drops that private function, a vectorised NumPy count takes over.
    """
    try:
        from scipy.stats._stats import _kendall_dis
    except ImportError:  # pragma: no cover - depends on the SciPy release
        return _discordant_numpy(x, y)
    return int(_kendall_dis(np.ascontiguousarray(x), np.ascontiguousarray(y)))


def _discordant_numpy(x, y):
    y = np.asarray(y, dtype=np.int64)
    if len(x) > 1 and np.any(x[1:] == x[:-1]):
        # sort y within each tie group of x, so that those pairs add no inversions
        width = int(y.max()) + 1
        y = np.sort(np.asarray(x, dtype=np.int64) * width + y) % width
    return _inversions(y)


def _inversions(y):
    """Pairs i < j with y_i > y_j: a most-significant-bit-first radix pass, O(n log max y)."""
    n = len(y)
    seq = np.asarray(y, dtype=np.int64)
    start = np.zeros(n, dtype=np.int64)  # each position's group: equal higher bits
    end = np.full(n, n, dtype=np.int64)
    pos = np.arange(n, dtype=np.int64)
    total = 0
    for b in range(int(seq.max(initial=0)).bit_length() - 1, -1, -1):
        bit = (seq >> b) & 1
        ones = np.concatenate(([0], np.cumsum(bit)))
        ones_before = ones[pos] - ones[start]
        zero = bit == 0
        total += int(ones_before[zero].sum())
        zeros = (end - start) - (ones[end] - ones[start])
        target = np.where(zero, pos - ones_before, start + zeros + ones_before)
        new_start = np.where(zero, start, start + zeros)
        new_end = np.where(zero, start + zeros, end)
        seq_next = np.empty_like(seq)
        seq_next[target] = seq
        start = np.empty_like(start)
        start[target] = new_start
        end_next = np.empty_like(end)
        end_next[target] = new_end
        seq, end = seq_next, end_next
    return total


METHODS = (_Spearman, _Pearson, _Cosine, _KendallTauA, _KendallTauB, _RhoA)
