"""Stimulus subsets chosen by their dissimilarities in a layer.

pytorch_feature_analysis picks, from 1000 objects, the 50 that are as different as
can be (``get_extreme_dissims_total``), or a subset whose mean dissimilarity is as
close as possible to a target. :func:`extreme_subset` and
:func:`target_subset` do this for an RDM, an array or every layer of a store:
a greedy start, then swaps of one stimulus in for one out while they improve
the subset, from several starts.
"""

from __future__ import annotations

import logging

import numpy as np

from .._validation import check_option
from ._common import (
    _check_int,
    _frame,
    _is_store,
    _labelled,
    _layer_rng,
    _layers,
    _seed_column,
    _seed_entropy,
)

__all__ = ["extreme_subset", "target_subset"]

log = logging.getLogger(__name__)

_MODES = ("max", "min")
_ROWS = 1024  # rows of the RDM scanned at a time for its extremes and mean
_COLUMNS = ("model", "layer", "measure", "mode", "target", "k", "stimulus_id", "subset_mean",
            "rdm_mean", "n_stimuli", "n_restarts", "seed")


def extreme_subset(rdm, k, *, mode="max", n_restarts=20, seed=None, measure="correlation",
                   stimulus_ids=None, model=None, layer=None, **filters):
    """The ``k`` stimuli with the largest (or smallest) total dissimilarity among them.

    Finds a subset ``S`` of size ``k`` maximising (or minimising) the sum of
    ``rdm[i, j]`` over pairs in ``S``. The search starts greedily (the most
    dissimilar pair, then the stimulus adding most) and from ``n_restarts``
    random subsets; each start is refined by swapping one stimulus in and one
    out while the total improves. The best subset found is returned.

    Parameters
    ----------
    rdm : RDM, RDMs, array-like of shape (n_stimuli, n_stimuli), Store or path
        Dissimilarities; a square array must be symmetric with a zero
        diagonal. A store gives the RDM (``measure``) of every layer selected
        by ``model``, ``layer`` and ``filters``, computed when it is not
        stored yet (and saved, unless the store was opened with ``mode="r"``).
    k : int
        Stimuli in the subset, from 2 to ``n_stimuli``.
    mode : {"max", "min"}, default="max"
        Most dissimilar (``"max"``) or most similar (``"min"``) subset.
    n_restarts : int, default=20
        Random starting subsets refined besides the greedy one.
    seed : int, numpy.random.Generator or None, default=None
        Seeds the random starts. With an int, each layer gets the same draws
        whichever other layers are analysed with it.
    measure : str, default="correlation"
        For a store: the first-order measure of the RDMs.
    stimulus_ids : sequence of str, optional
        Ids of a square array's rows; default ``"0"``, ``"1"``, ...
    model, layer : str or sequence of str, optional
        For a store: which layers (default all). Otherwise labels for the
        table when the RDM's provenance has none.
    **filters
        Other store fields selecting activations, e.g. ``reduction="flatten"``.

    Returns
    -------
    pandas.DataFrame
        One row per chosen stimulus (in the RDM's order) of each RDM:
        ``model``, ``layer``, ``measure``, ``mode``, ``target`` (None here),
        ``k``, ``stimulus_id``, ``subset_mean`` (mean dissimilarity of the
        pairs in the subset), ``rdm_mean`` (of all pairs), ``n_stimuli``,
        ``n_restarts`` and ``seed``. ``rdm.subset(table.stimulus_id)`` is
        the subset's RDM. For the RDMs of a stack (:func:`deeprsa.compute_rdms`
        with ``by``, ``entries``, ...), columns for the ``by`` values,
        ``unit_set`` and ``permutation`` come first, and ``stimulus_id`` is
        the entry label: each RDM's most dissimilar entries
        (pytorch_feature_analysis' ``dissim_rankings``).

    Raises
    ------
    ValueError
        If ``k`` or ``n_restarts`` is out of range, ``mode`` is unknown, or a
        square array is not a valid RDM.
    KeyError
        If the store holds no activations matching the selection.

    See Also
    --------
    target_subset : A subset whose mean dissimilarity is close to a target.

    Notes
    -----
    Finding the best subset exactly is NP-hard (the maximum dispersion, or
    maximum-weight k-subgraph, problem). Every subset returned is a local
    optimum: no single swap improves it. Each refinement step costs
    ``k * (n_stimuli - k)`` operations; the RDM is used in place, not copied.

    References
    ----------
    .. [1] Kuby, M. J. (1987). Programming models for facility dispersion: the
       p-dispersion and maxisum dispersion problems. Geographical Analysis,
       19(4), 315-329.
    .. [2] Ravi, S. S., Rosenkrantz, D. J., & Tayi, G. K. (1994). Heuristic and
       special case algorithms for dispersion problems. Operations Research,
       42(2), 299-310.

    Examples
    --------
    Three corners of a triangle and three points near its centre:

    >>> points = np.array([[0, 0], [4, 0], [0, 4], [1, 1], [1.2, 1], [1, 1.2]])
    >>> D = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    >>> table = extreme_subset(D, 3, stimulus_ids=list("abcdef"), seed=0)
    >>> table[["stimulus_id", "subset_mean", "rdm_mean"]].round(2)
      stimulus_id  subset_mean  rdm_mean
    0           a         4.55      2.51
    1           b         4.55      2.51
    2           c         4.55      2.51
    >>> extreme_subset(D, 3, mode="min", stimulus_ids=list("abcdef"), seed=0).stimulus_id.tolist()
    ['d', 'e', 'f']
    """
    check_option("mode", mode, _MODES)
    return _subsets(rdm, k, mode=mode, target=None, n_restarts=n_restarts, seed=seed,
                    measure=measure, stimulus_ids=stimulus_ids, model=model, layer=layer,
                    filters=filters)


def target_subset(rdm, k, target, *, n_restarts=20, seed=None, measure="correlation",
                  stimulus_ids=None, model=None, layer=None, **filters):
    """``k`` stimuli whose mean pairwise dissimilarity is as close as possible to ``target``.

    The search starts greedily (the pair closest to ``target``, then the
    stimulus bringing the mean closest to it) and from ``n_restarts`` random
    subsets; each start is refined by single swaps while they bring the mean
    closer. The closest subset found is returned.

    Parameters
    ----------
    rdm : RDM, RDMs, array-like of shape (n_stimuli, n_stimuli), Store or path
        As in :func:`extreme_subset`.
    k : int
        Stimuli in the subset, from 2 to ``n_stimuli``.
    target : float
        The wanted mean dissimilarity, within the range of the RDM's entries
        (e.g. 0.3 for a mean correlation of 0.7 with ``measure="correlation"``).
    n_restarts, seed, measure, stimulus_ids, model, layer, **filters
        As in :func:`extreme_subset`.

    Returns
    -------
    pandas.DataFrame
        As :func:`extreme_subset`, with ``mode="target"`` and ``target``;
        ``subset_mean - target`` is the miss.

    Raises
    ------
    ValueError
        If ``target`` is not a finite number within the range of the RDM's
        off-diagonal entries, or as :func:`extreme_subset`.
    KeyError
        As :func:`extreme_subset`.

    Examples
    --------
    >>> points = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    >>> D = np.abs(points[:, None] - points[None, :])
    >>> table = target_subset(D, 3, 2.0, seed=0)
    >>> round(float(table.subset_mean.iloc[0]), 6)
    2.0
    """
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, float, np.number)) \
            or not np.isfinite(target):
        raise ValueError(f"target must be a finite number (a mean dissimilarity), got "
                         f"{target!r}.")
    return _subsets(rdm, k, mode="target", target=float(target), n_restarts=n_restarts,
                    seed=seed, measure=measure, stimulus_ids=stimulus_ids, model=model,
                    layer=layer, filters=filters)


def _subsets(rdm, k, *, mode, target, n_restarts, seed, measure, stimulus_ids, model, layer,
             filters):
    n_restarts = _check_int("n_restarts", n_restarts, low=0)
    _check_int("k", k, low=2)
    rdms = _rdms(rdm, measure=measure, stimulus_ids=stimulus_ids, model=model, layer=layer,
                 filters=filters)
    entropy = _seed_entropy(seed)
    rows, stack_columns = [], {}
    for item in rdms:
        D = item.matrix
        n = len(D)
        labels = {**_stack_labels(item.provenance),
                  "model": item.provenance.get("model", None if _is_store(rdm) else model),
                  "layer": item.provenance.get("layer", None if _is_store(rdm) else layer),
                  "measure": item.provenance.get("measure")}
        stack_columns.update(dict.fromkeys(_stack_labels(item.provenance)))
        if k > n:
            raise ValueError(f"k={k} but the RDM of {_where(labels)} has only {n} stimuli.")
        low, high, total = _scan(D)
        if mode == "target" and not low <= target <= high:
            raise ValueError(
                f"target={target} is outside the range of the dissimilarities in the RDM of "
                f"{_where(labels)}, [{low:.6g}, {high:.6g}]; no subset has that mean.")
        rng = _layer_rng(entropy, labels)
        chosen = _search(D, k, mode=mode, target=target, n_restarts=n_restarts, rng=rng)
        chosen = np.sort(chosen)
        n_pairs = k * (k - 1) / 2
        subset_mean = float(D[np.ix_(chosen, chosen)].sum(dtype=np.float64) / 2 / n_pairs)
        log.info("%s subset of %d from %s: mean %.4g", mode, k, _where(labels), subset_mean)
        for i in chosen:
            rows.append({**labels, "mode": mode, "target": target, "k": k,
                         "stimulus_id": item.stimulus_ids[i], "subset_mean": subset_mean,
                         "rdm_mean": total / (n * (n - 1) / 2), "n_stimuli": n,
                         "n_restarts": n_restarts, "seed": _seed_column(seed)})
    columns = [c for c in stack_columns if c not in _COLUMNS] + list(_COLUMNS)
    return _labelled(_frame(rows, columns), rdms, f"{mode}_subset", k=k, target=target,
                     n_restarts=n_restarts, seed=_seed_column(seed))


def _stack_labels(provenance) -> dict:
    """What tells the RDMs of a stack apart: its group (``by`` values), unit subset and
    permutation (none for an RDM that is not from a stack)."""
    if "entries" not in provenance:
        return {}
    names = [*(provenance.get("by") or []), "unit_set", "permutation"]
    return {name: provenance.get(name) for name in names}


def _where(labels) -> str:
    parts = [f"{k} {labels[k]!r}" for k in ("layer", "model") if labels.get(k) is not None]
    return ", ".join(parts) or "the input"


def _rdms(rdm, *, measure, stimulus_ids, model, layer, filters) -> list:
    """The RDMs to search: given, built from a square array, or from a store's layers."""
    from ..rdm import RDM, RDMs, compute_rdm
    from ..store import Store

    if _is_store(rdm):
        if not isinstance(rdm, Store):
            Store(rdm, mode="r")  # a missing store is an error, not a new empty one
            rdm = Store(rdm)
        store = rdm
        layers = _layers(store, model=model, layer=layer, stimulus_ids=stimulus_ids,
                         filters=filters)
        return [compute_rdm(store, key=item.info["key"], measure=measure)
                for item in layers]
    if filters:
        name = sorted(filters)[0]
        raise TypeError(f"Unexpected keyword argument {name!r}: store fields select layers "
                        "in a store, and rdm is not a store.")
    if isinstance(rdm, RDM):
        return [rdm]
    if isinstance(rdm, RDMs) or (isinstance(rdm, (list, tuple)) and rdm
                                 and all(isinstance(r, RDM) for r in rdm)):
        return list(rdm)
    matrix = np.asarray(rdm)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"rdm must be an RDM or a square matrix of shape (n_stimuli, "
                         f"n_stimuli), got shape {matrix.shape}.")
    ids = [str(i) for i in range(len(matrix))] if stimulus_ids is None else stimulus_ids
    return [RDM(matrix, ids)]


def _scan(D) -> tuple[float, float, float]:
    """Smallest and largest off-diagonal entry and the sum over pairs, a block of rows at a
    time (no copy of the matrix)."""
    n = len(D)
    low, high, total = np.inf, -np.inf, 0.0
    for r0 in range(0, n, _ROWS):
        block = np.array(D[r0:r0 + _ROWS], dtype=np.float64)
        rows = np.arange(len(block))
        total += block.sum()
        block[rows, r0 + rows] = np.inf
        low = min(low, float(block.min()))
        block[rows, r0 + rows] = -np.inf
        high = max(high, float(block.max()))
    return low, high, total / 2


def _search(D, k, *, mode, target, n_restarts, rng) -> np.ndarray:
    """Best subset over the greedy start and ``n_restarts`` random ones."""
    n = len(D)
    if k == n:
        return np.arange(n)
    sign = -1.0 if mode == "min" else 1.0
    n_pairs = k * (k - 1) / 2
    tol = 1e-12 * max(1.0, float(np.abs(D).max())) * n_pairs

    def score(subset):  # larger is better
        t = D[np.ix_(subset, subset)].sum(dtype=np.float64) / 2
        return sign * t if mode != "target" else -abs(t - target * n_pairs)

    starts = [_greedy(D, k, mode=mode, target=target)]
    starts += [rng.choice(n, size=k, replace=False) for _ in range(n_restarts)]
    best, best_score = None, -np.inf
    for start in starts:
        subset = _refine(D, start, sign=sign, goal=None if mode != "target" else
                         target * n_pairs, tol=tol)
        s = score(subset)
        if s > best_score + tol:
            best, best_score = subset, s
    return best


def _sums(D, subset) -> np.ndarray:
    """Each stimulus's summed dissimilarity to the members of ``subset``."""
    return D[:, subset].sum(axis=1, dtype=np.float64)


def _greedy(D, k, *, mode, target) -> np.ndarray:
    n = len(D)
    first = _best_pair(D, mode=mode, target=target)
    inside = np.zeros(n, dtype=bool)
    inside[list(first)] = True
    s = _sums(D, list(first))
    total = float(D[first[0], first[1]])
    for size in range(2, k):
        candidates = np.flatnonzero(~inside)
        if mode == "target":
            pairs = (size + 1) * size / 2
            j = candidates[np.argmin(np.abs((total + s[candidates]) / pairs - target))]
        elif mode == "min":
            j = candidates[np.argmin(s[candidates])]
        else:
            j = candidates[np.argmax(s[candidates])]
        total += s[j]
        inside[j] = True
        s += D[:, j]
    return np.flatnonzero(inside)


def _best_pair(D, *, mode, target) -> tuple[int, int]:
    """The most (least, closest to target) dissimilar pair, a block of rows at a time."""
    n = len(D)
    best, best_value = (0, 1), np.inf
    for r0 in range(0, n, _ROWS):
        block = np.array(D[r0:r0 + _ROWS], dtype=np.float64)
        if mode == "max":
            block = -block
        elif mode == "target":
            block = np.abs(block - target)
        rows = np.arange(len(block))
        block[rows, r0 + rows] = np.inf
        i, j = np.unravel_index(np.argmin(block), block.shape)
        if block[i, j] < best_value:
            best, best_value = (r0 + int(i), int(j)), block[i, j]
    return best


def _refine(D, start, *, sign, goal, tol) -> np.ndarray:
    """Swap one member for one non-member while that improves the subset (a local optimum).

    Swapping ``i`` out and ``j`` in changes the total by ``s[j] - s[i] - D[i, j]``,
    with ``s`` each stimulus's summed dissimilarity to the current members.
    """
    n = len(D)
    inside = np.zeros(n, dtype=bool)
    inside[start] = True
    while True:
        members, others = np.flatnonzero(inside), np.flatnonzero(~inside)
        s = _sums(D, members)
        change = s[others][None, :] - s[members][:, None] - D[np.ix_(members, others)]
        if goal is None:
            gain = sign * change
        else:
            total = s[members].sum() / 2
            gain = abs(total - goal) - np.abs(total + change - goal)
        a, b = np.unravel_index(np.argmax(gain), gain.shape)
        if gain[a, b] <= tol:
            return members
        inside[members[a]] = False
        inside[others[b]] = True
