"""RDM objects: a dissimilarity matrix that knows its stimuli and how it was made.

:class:`RDM` is one matrix with its stimulus ids and provenance; :class:`RDMs`
many over the same stimuli with a metadata table. Both save to and load from
the store, and export to rsatoolbox.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .._deprecation import keyword_only
from .._validation import suggest

__all__ = ["RDM", "RDMs"]

# Provenance entries that describe one stored copy or one run, not the numbers:
# left out of the store key.
_VOLATILE = ("key", "deeprsa_version", "device", "batch_size")
# Fields of an activations entry copied into the provenance of its RDMs.
_FROM_ACTIVATIONS = ("model", "spec", "weights", "weights_hash", "seed", "layer", "reduction")


def _rsatoolbox():
    try:
        import rsatoolbox
    except ImportError as err:
        raise ImportError(
            'Exporting to rsatoolbox needs the optional package rsatoolbox: '
            'pip install "deeprsa[rsatoolbox]"') from err
    return rsatoolbox


def _jsonable(value):
    """``value`` as plain JSON types (tuples become lists, odd objects strings)."""
    return json.loads(json.dumps(value, default=str))


def _ids_key(stimulus_ids) -> str:
    from ..store import content_key

    return "ids-" + content_key({"stimulus_ids": list(stimulus_ids)})


def stimulus_key(provenance: Mapping, stimulus_ids) -> str:
    """The key of the stimulus set behind an RDM: one identity from extraction to analyses.

    An RDM computed from stored activations carries their stimulus set's key
    (a content hash of the stimulus ids and images) as ``provenance["stimuli"]``;
    an RDM built from an array, or a subset, is keyed by its ids.
    """
    return provenance.get("stimuli") or _ids_key(stimulus_ids)


def _check_ids(stimulus_ids) -> tuple[str, ...]:
    if isinstance(stimulus_ids, str):
        raise TypeError(f"stimulus_ids must be a sequence of str, got the single string "
                        f"{stimulus_ids!r}.")
    ids = tuple(str(s) for s in stimulus_ids)
    if len(set(ids)) != len(ids):
        seen, dups = set(), []
        for s in ids:
            if s in seen and s not in dups:
                dups.append(s)
            seen.add(s)
        raise ValueError(f"stimulus_ids contains {len(dups)} duplicate id(s), e.g. "
                         f"{dups[:3]}; every stimulus needs its own id.")
    return ids


def _upper(matrix: np.ndarray) -> np.ndarray:
    """Upper triangle (k=1) row by row: the order of ``scipy.spatial.distance.squareform``."""
    n = len(matrix)
    if n < 2:
        return np.empty(0, dtype=matrix.dtype)
    return np.concatenate([matrix[i, i + 1:] for i in range(n - 1)])


def _square(vector: np.ndarray, n: int) -> np.ndarray:
    matrix = np.zeros((n, n), dtype=vector.dtype)
    start = 0
    for i in range(n - 1):
        stop = start + n - 1 - i
        matrix[i, i + 1:] = vector[start:stop]
        matrix[i + 1:, i] = vector[start:stop]
        start = stop
    return matrix


@dataclass(frozen=True, eq=False, init=False, repr=False)
class RDM:
    """A dissimilarity matrix that knows its stimuli and how it was made.

    Parameters
    ----------
    matrix : array-like of shape (n_stimuli, n_stimuli)
        Symmetric with a zero diagonal and finite entries. It is copied and
        stored read-only (float32 stays float32, anything else becomes float64).
        Asymmetry or a diagonal within rounding error (1e-6 of the largest
        entry) is repaired; more is an error.
    stimulus_ids : sequence of str
        Row (and column) labels, in order; unique.
    provenance : mapping, optional
        How the numbers were made: model, layer, reduction, measure, params,
        dtype, activations (store key of the activations), key (of this RDM
        in a store),
        deeprsa version. Never facts that can be read off the data.

    Attributes
    ----------
    stimulus_ids : tuple of str
    provenance : mappingproxy

    Raises
    ------
    ValueError
        If ``matrix`` is not square, does not match ``stimulus_ids``, is not
        symmetric, has a nonzero diagonal or NaN/infinite entries, or if the
        ids repeat or number fewer than 2.

    See Also
    --------
    compute_rdm : Compute an RDM from activations.
    RDMs : Many RDMs over the same stimuli.

    Examples
    --------
    >>> rdm = RDM([[0, 2, 1], [2, 0, 3], [1, 3, 0]], ["a", "b", "c"], {"measure": "toy"})
    >>> rdm
    RDM(n_stimuli=3, measure='toy')
    >>> rdm.vector()
    array([2., 1., 3.])
    >>> rdm.subset(["c", "a"]).matrix
    array([[0., 1.],
           [1., 0.]])
    >>> rdm.rank().vector()
    array([2., 1., 3.])
    """

    _matrix: np.ndarray
    stimulus_ids: tuple[str, ...]
    provenance: Mapping[str, Any]

    def __init__(self, matrix, stimulus_ids, provenance=None):
        m = np.asarray(matrix)
        if m.dtype != np.float32:
            m = m.astype(np.float64)  # also rejects strings and objects with a clear error
        self._set(np.array(m, order="C", copy=True), stimulus_ids, provenance, check=True)

    @classmethod
    def _new(cls, matrix, stimulus_ids, provenance=None, *, check=False) -> RDM:
        """Build without copying ``matrix`` (which the caller hands over)."""
        rdm = object.__new__(cls)
        rdm._set(matrix, stimulus_ids, provenance, check=check)
        return rdm

    def _set(self, matrix, stimulus_ids, provenance, *, check):
        ids = _check_ids(stimulus_ids)
        n = len(ids)
        if matrix.ndim != 2 or matrix.shape != (n, n):
            raise ValueError(
                f"matrix has shape {matrix.shape} but {n} stimulus ids were given; an RDM "
                f"needs a square matrix of shape (n_stimuli, n_stimuli) = ({n}, {n}).")
        if n < 2:
            raise ValueError(f"An RDM needs at least 2 stimuli, got {n}.")
        if check:
            matrix = _check_dissimilarities(matrix, ids)
        matrix.flags.writeable = False
        object.__setattr__(self, "_matrix", matrix)
        object.__setattr__(self, "stimulus_ids", ids)
        object.__setattr__(self, "provenance",
                           MappingProxyType(copy.deepcopy(dict(provenance or {}))))
        object.__setattr__(self, "_vector", None)

    def __repr__(self):
        shown = ", ".join(f"{k}={self.provenance[k]!r}" for k in
                          ("model", "layer", "measure", "transform") if k in self.provenance)
        return f"RDM(n_stimuli={self.n_stimuli}" + (f", {shown})" if shown else ")")

    @property
    def n_stimuli(self) -> int:
        """Number of stimuli (rows of the matrix)."""
        return len(self.stimulus_ids)

    @property
    def matrix(self) -> np.ndarray:
        """The square matrix of shape (n_stimuli, n_stimuli), read-only.

        An attribute, like :attr:`ComparisonResult.matrix`. Calling it
        (``rdm.matrix()``, the spelling of deeprsa 0.1) still works for one
        release, with a DeprecationWarning.
        """
        view = self._matrix.view(_Matrix)
        view.flags.writeable = False
        return view

    def vector(self) -> np.ndarray:
        """Upper triangle (above the diagonal) in ``scipy.spatial.distance.squareform`` order.

        Returns a read-only array of shape (n_stimuli * (n_stimuli - 1) // 2,).
        """
        if self._vector is None:
            v = _upper(self._matrix)
            v.flags.writeable = False
            object.__setattr__(self, "_vector", v)
        return self._vector

    @classmethod
    def from_vector(cls, vector, stimulus_ids, provenance=None) -> RDM:
        """Build an RDM from its upper triangle in ``squareform`` order.

        Raises
        ------
        ValueError
            If ``vector`` is not 1-D of length ``n * (n - 1) // 2`` for
            ``n = len(stimulus_ids)``, or holds NaN or infinity.

        Examples
        --------
        >>> RDM.from_vector([1, 2, 3], ["a", "b", "c"]).matrix
        array([[0., 1., 2.],
               [1., 0., 3.],
               [2., 3., 0.]])
        """
        v = np.asarray(vector)
        v = v.astype(np.float32 if v.dtype == np.float32 else np.float64)
        ids = _check_ids(stimulus_ids)
        n = len(ids)
        if v.ndim != 1 or len(v) != n * (n - 1) // 2:
            raise ValueError(
                f"vector has shape {v.shape}; {n} stimuli need a 1-D vector of "
                f"n * (n - 1) / 2 = {n * (n - 1) // 2} dissimilarities (the upper triangle).")
        if not np.isfinite(v).all():
            raise ValueError(f"vector holds NaN or infinity at {np.sum(~np.isfinite(v))} "
                             f"position(s), first at {int(np.flatnonzero(~np.isfinite(v))[0])}.")
        return cls._new(_square(v, n), ids, provenance)

    def _derived(self, **changes) -> dict:
        prov = {k: v for k, v in self.provenance.items() if k != "key"}
        prov.update(changes)
        return prov

    def subset(self, stimulus_ids: Sequence[str]) -> RDM:
        """Restrict to, and reorder by, ``stimulus_ids``.

        Raises
        ------
        KeyError
            If a requested id is not in this RDM.
        """
        ids = _check_ids(stimulus_ids)
        position = {s: i for i, s in enumerate(self.stimulus_ids)}
        missing = [s for s in ids if s not in position]
        if missing:
            raise KeyError(f"{len(missing)} requested stimulus id(s) are not in this RDM, e.g. "
                           f"{missing[:3]}.{suggest(missing[0], self.stimulus_ids)}")
        rows = np.array([position[s] for s in ids], dtype=np.intp)
        changes = {} if ids == self.stimulus_ids else {"stimuli": _ids_key(ids)}
        return RDM._new(self._matrix[np.ix_(rows, rows)], ids, self._derived(**changes))

    def rank(self) -> RDM:
        """Ranks (1 = most similar pair) of the off-diagonal entries; ties get their average.

        The diagonal stays 0 and provenance gains ``transform="rank"``.
        """
        from scipy.stats import rankdata

        ranks = rankdata(self.vector(), method="average")
        return RDM._new(_square(ranks, self.n_stimuli), self.stimulus_ids,
                        self._derived(transform="rank"))

    def percentile(self) -> RDM:
        """Percentile (0-100] of each off-diagonal entry among all of them.

        ``100 * rank / n_pairs`` with ties averaged, which is
        ``scipy.stats.percentileofscore(v, v, kind="rank")`` for ``v = self.vector()``
        (the RSA tutorial notebook's percentile heatmaps; there the diagonal is
        included).
        Provenance gains ``transform="percentile"``.
        """
        from scipy.stats import rankdata

        v = self.vector()
        pct = rankdata(v, method="average") * (100.0 / len(v))
        return RDM._new(_square(pct, self.n_stimuli), self.stimulus_ids,
                        self._derived(transform="percentile"))

    def to_frame(self):
        """One row per stimulus pair (upper triangle) with provenance columns.

        Columns: ``stimulus_a``, ``stimulus_b``, ``dissimilarity`` and one per
        provenance entry (``params`` as a JSON string).
        """
        import pandas as pd

        i, j = np.triu_indices(self.n_stimuli, k=1)
        ids = np.asarray(self.stimulus_ids, dtype=object)
        frame = pd.DataFrame({"stimulus_a": ids[i], "stimulus_b": ids[j],
                              "dissimilarity": self.vector()})
        for name, value in _flat_provenance(self.provenance).items():
            frame[name] = value
        return frame

    # ------------------------------------------------------------------ store
    def save(self, store) -> str:
        """Write this RDM into ``store`` (kind ``"rdms"``); return its key.

        The key is a content hash of the provenance and the stimulus ids, so
        saving the same RDM twice finds the same entry (an RDM whose
        provenance names no ``activations`` key also hashes its values).
        """
        fields = _store_fields(self.provenance, self.stimulus_ids,
                               data=None if "activations" in self.provenance else self._matrix)
        existing = _complete_key(store, fields)
        if existing is not None:
            return existing
        store.add_stimuli(self.stimulus_ids, fields["stimuli"])
        return store.write("rdms", fields, self._matrix,
                           attrs={"provenance": _jsonable(dict(self.provenance))})

    @classmethod
    def load(cls, store, key: str) -> RDM:
        """Read RDM ``key`` from ``store``; its provenance gains ``key``.

        Raises
        ------
        ValueError
            If ``key`` is not an RDM (another kind of array).
        """
        entry = store.entry(key)
        if entry["kind"] != "rdms":
            raise ValueError(f"Store entry {key!r} holds {entry['kind']}, not an RDM; list "
                             "the RDMs with store.select('rdms').")
        from ._layout import read_matrix

        ids = store.stimulus_ids(entry["fields"]["stimuli"])
        provenance = {**entry["attrs"].get("provenance", {}), "key": key}
        return cls._new(read_matrix(store, key, entry), ids, provenance)

    def to_rsatoolbox(self):
        """This RDM as a one-RDM ``rsatoolbox.rdm.RDMs`` (needs ``deeprsa[rsatoolbox]``).

        Provenance goes to ``rdm_descriptors`` and the ids to the pattern
        descriptor ``"stimulus_ids"``.
        """
        return RDMs([self]).to_rsatoolbox()


class _Matrix(np.ndarray):
    """An RDM's read-only matrix that can still be called, as the old method was."""

    def __call__(self):
        warnings.warn("RDM.matrix is an attribute now: write rdm.matrix, not rdm.matrix(); "
                      "calling it will stop working in the next release.",
                      DeprecationWarning, stacklevel=2)
        return self

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # Results of arithmetic are plain arrays (only the matrix itself is callable).
        array = array.view(np.ndarray)
        return array[()] if return_scalar else array

    def __repr__(self):
        return repr(self.view(np.ndarray))

    def __str__(self):
        return str(self.view(np.ndarray))

    def __reduce__(self):
        return self.view(np.ndarray).__reduce__()


def _check_dissimilarities(m: np.ndarray, ids) -> np.ndarray:
    """Validate (and repair rounding in) a user-given square matrix, in place."""
    finite = np.isfinite(m)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        raise ValueError(
            f"matrix holds NaN or infinity at {int(np.sum(~finite))} entries, first at "
            f"({i}, {j}) = ({ids[i]!r}, {ids[j]!r}). Remove those stimuli with subset().")
    scale = float(np.abs(m).max()) or 1.0
    tol = 1e-6 * scale
    asym = float(np.abs(m - m.T).max())
    if asym > tol:
        raise ValueError(
            f"matrix is not symmetric (largest |m - m.T| is {asym:.3g}); an RDM holds one "
            "dissimilarity per pair. Symmetrise it first, e.g. (m + m.T) / 2.")
    diag = float(np.abs(np.diagonal(m)).max())
    if diag > tol:
        raise ValueError(
            f"matrix has a nonzero diagonal (largest |entry| {diag:.3g}); the dissimilarity "
            "of a stimulus to itself is 0. Is this a similarity matrix? Use 1 - m.")
    if asym:
        m = (m + m.T) / 2
    np.fill_diagonal(m, 0)
    return m


def _flat_provenance(provenance: Mapping) -> dict:
    """Provenance as table columns: scalars unchanged, containers as JSON strings."""
    out = {}
    for name, value in provenance.items():
        if isinstance(value, (Mapping, list, tuple)):
            value = json.dumps(_jsonable(value), sort_keys=True)
        out[name] = value
    return out


def _store_fields(provenance: Mapping, stimulus_ids, *, data=None) -> dict:
    """Identity fields of an RDM in the store (their hash is its key)."""
    fields = {k: v for k, v in _jsonable(dict(provenance)).items() if k not in _VOLATILE}
    fields["stimuli"] = stimulus_key(provenance, stimulus_ids)
    if data is not None:
        import hashlib

        fields["digest"] = hashlib.blake2b(np.ascontiguousarray(data).tobytes(),
                                           digest_size=10).hexdigest()
    return fields


def _complete_key(store, fields) -> str | None:
    from ..store import content_key

    key = content_key({"kind": "rdms", **fields})
    return key if store.has(key) else None


class RDMs:
    """Many RDMs over the same stimuli, in the same order, with a metadata table.

    Parameters
    ----------
    rdms : sequence of RDM
        At least one; all with identical ``stimulus_ids``.

    Raises
    ------
    ValueError
        If ``rdms`` is empty or the RDMs' stimulus ids differ (the message
        names the first few differences).

    Examples
    --------
    >>> a = RDM.from_vector([1, 2, 3], ["x", "y", "z"], {"layer": "conv1"})
    >>> b = RDM.from_vector([3, 2, 1], ["x", "y", "z"], {"layer": "conv2"})
    >>> rdms = RDMs([a, b])
    >>> rdms.metadata
       layer
    0  conv1
    1  conv2
    >>> rdms.vectors()
    array([[1., 2., 3.],
           [3., 2., 1.]])
    """

    def __init__(self, rdms):
        rdms = list(rdms)
        if not rdms:
            raise ValueError("RDMs needs at least one RDM, got none.")
        for i, r in enumerate(rdms):
            if not isinstance(r, RDM):
                raise TypeError(f"RDMs holds RDM objects; item {i} is a {type(r).__name__}. "
                                "Wrap matrices with RDM(matrix, stimulus_ids).")
        ids = rdms[0].stimulus_ids
        for i, r in enumerate(rdms[1:], start=1):
            if r.stimulus_ids != ids:
                raise ValueError(_ids_mismatch(ids, r.stimulus_ids, i))
        self._rdms = tuple(rdms)

    def __len__(self):
        return len(self._rdms)

    def __iter__(self):
        return iter(self._rdms)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self._rdms[index]
        if isinstance(index, slice):
            return RDMs(self._rdms[index])
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"A boolean index needs {len(self)} entries, got "
                                 f"{index.shape}.")
            index = np.flatnonzero(index)
        return RDMs([self._rdms[int(i)] for i in index])

    def __repr__(self):
        return f"RDMs({len(self)} RDMs, n_stimuli={len(self.stimulus_ids)})"

    @property
    def stimulus_ids(self) -> tuple[str, ...]:
        """The shared stimulus ids, in order."""
        return self._rdms[0].stimulus_ids

    @property
    def metadata(self):
        """pandas DataFrame, one row per RDM, one column per provenance entry.

        ``params`` (and any other container) is a JSON string with sorted keys,
        so rows with equal parameters compare equal.
        """
        import pandas as pd

        return pd.DataFrame([_flat_provenance(r.provenance) for r in self._rdms])

    @keyword_only("dtype")
    def vectors(self, *, dtype=None) -> np.ndarray:
        """Upper triangles stacked: ndarray of shape (n_rdms, n_pairs)."""
        first = self._rdms[0].vector()
        out = np.empty((len(self), len(first)), dtype=dtype or np.result_type(
            *[r.vector().dtype for r in self._rdms]))
        for row, r in zip(out, self._rdms, strict=True):
            row[...] = r.vector()
        return out

    def subset(self, stimulus_ids: Sequence[str]) -> RDMs:
        """Every RDM restricted to, and reordered by, ``stimulus_ids``."""
        return RDMs([r.subset(stimulus_ids) for r in self._rdms])

    @classmethod
    def from_store(cls, store, **filters) -> RDMs:
        """All complete RDMs in ``store`` whose fields match ``filters`` (e.g. ``measure=``).

        Raises
        ------
        KeyError
            If no complete RDM matches, naming the values that are there.
        """
        table = store.select("rdms", **filters)
        if table.empty:
            raise KeyError(f"Store {str(store.path)!r} holds no RDMs; compute some with "
                           "compute_rdm(store, ...) or `deeprsa rdm`.")
        return cls([RDM.load(store, key) for key in table["key"]])

    def to_rsatoolbox(self):
        """These RDMs as one ``rsatoolbox.rdm.RDMs`` (needs ``deeprsa[rsatoolbox]``)."""
        rsatoolbox = _rsatoolbox()
        meta = self.metadata
        measures = meta["measure"].unique() if "measure" in meta else []
        return rsatoolbox.rdm.RDMs(
            self.vectors(dtype=np.float64),
            dissimilarity_measure=str(measures[0]) if len(measures) == 1 else None,
            rdm_descriptors={c: list(meta[c]) for c in meta.columns},
            pattern_descriptors={"stimulus_ids": list(self.stimulus_ids)},
        )

    @classmethod
    def from_rsatoolbox(cls, rdms, *, pattern_descriptor=None) -> RDMs:
        """An ``rsatoolbox.rdm.RDMs`` as deeprsa RDMs: the inverse of :meth:`to_rsatoolbox`.

        See :func:`deeprsa.rdm.from_rsatoolbox` (rdm descriptors become provenance).
        """
        from .io import from_rsatoolbox

        return from_rsatoolbox(rdms, pattern_descriptor=pattern_descriptor)


def _ids_mismatch(ids, other, index) -> str:
    if set(ids) == set(other):
        return (f"RDM {index} has the same stimuli as RDM 0 in another order; align it "
                f"with rdm.subset(rdms[0].stimulus_ids).")
    missing = [s for s in ids if s not in set(other)]
    extra = [s for s in other if s not in set(ids)]
    return (f"RDM {index} has other stimulus ids than RDM 0 ({len(other)} vs {len(ids)} "
            f"stimuli): {len(missing)} missing, e.g. {missing[:3]}; {len(extra)} extra, e.g. "
            f"{extra[:3]}. Restrict both to shared ids with subset().")
