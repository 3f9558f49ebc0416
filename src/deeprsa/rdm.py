"""First-order representational dissimilarity matrices (RDMs).

``compute_rdm`` turns activations (an array, or a layer in the store read in
row tiles) into an :class:`RDM`; :class:`RDMs` holds many RDMs over the same
stimuli with a metadata table. Measures live in a registry.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from ._validation import Registry, suggest
from .store import open_store

__all__ = ["RDM", "RDMs", "ConstantPatternWarning", "compute_rdm", "compute_rdms",
           "describe_measures", "list_measures", "register_measure"]

log = logging.getLogger(__name__)

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
    from .store import content_key

    return "ids-" + content_key({"stimulus_ids": list(stimulus_ids)})


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
    >>> rdm.subset(["c", "a"]).matrix()
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

    def matrix(self) -> np.ndarray:
        """The square matrix of shape (n_stimuli, n_stimuli), read-only."""
        return self._matrix

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
        >>> RDM.from_vector([1, 2, 3], ["a", "b", "c"]).matrix()
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
        return RDM._new(self._matrix[np.ix_(rows, rows)], ids, self._derived())

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
        (seed 003's percentile heatmaps; there the diagonal is included).
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
                             "the RDMs with store.entries('rdms').")
        ids = store.stimulus_ids(entry["fields"]["stimuli"])
        provenance = {**entry["attrs"].get("provenance", {}), "key": key}
        return cls._new(np.ascontiguousarray(store.read(key)), ids, provenance)

    def to_rsatoolbox(self):
        """This RDM as a one-RDM ``rsatoolbox.rdm.RDMs`` (needs ``deeprsa[rsatoolbox]``).

        Provenance goes to ``rdm_descriptors`` and the ids to the pattern
        descriptor ``"stimulus_ids"``.
        """
        return RDMs([self]).to_rsatoolbox()


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
    fields["stimuli"] = _ids_key(stimulus_ids)
    if data is not None:
        import hashlib

        fields["digest"] = hashlib.blake2b(np.ascontiguousarray(data).tobytes(),
                                           digest_size=10).hexdigest()
    return fields


def _complete_key(store, fields) -> str | None:
    from .store import content_key

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

    def vectors(self, dtype=None) -> np.ndarray:
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
        table = store.entries("rdms")
        if table.empty:
            raise KeyError(f"Store {str(store.path)!r} holds no RDMs; compute some with "
                           "compute_rdm(store, ...) or `deeprsa rdm`.")
        table = table[table["complete"]]
        for col, value in filters.items():
            if col not in table.columns:
                raise KeyError(f"RDM entries have no field {col!r}."
                               f"{suggest(col, map(str, table.columns))}")
            have = sorted({json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v)
                           for v in table[col] if v is not None and v == v})
            table = table[[v == value for v in table[col]]]
            if table.empty:
                raise KeyError(f"No complete RDM with {col}={value!r}."
                               f"{suggest(value, have)} Available: {have}.")
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


def _ids_mismatch(ids, other, index) -> str:
    if set(ids) == set(other):
        return (f"RDM {index} has the same stimuli as RDM 0 in another order; align it "
                f"with rdm.subset(rdms[0].stimulus_ids).")
    missing = [s for s in ids if s not in set(other)]
    extra = [s for s in other if s not in set(ids)]
    return (f"RDM {index} has other stimulus ids than RDM 0 ({len(other)} vs {len(ids)} "
            f"stimuli): {len(missing)} missing, e.g. {missing[:3]}; {len(extra)} extra, e.g. "
            f"{extra[:3]}. Restrict both to shared ids with subset().")


# ====================================================================== measures
class ConstantPatternWarning(UserWarning):
    """Some stimuli have constant activations, so a measure is undefined for them.

    The message names the stimulus ids; the RDM holds the documented
    fallback values (see :func:`compute_rdm`).
    """


_MEASURES = Registry("measure")


class _Measure:
    """A registered measure: how to prepare rows and turn their products into dissimilarities."""

    def __init__(self, name, description, *, formula, range, notes="", params=None,
                 prepare=None, finish=None, pairwise=None, constant=None, references=""):
        self.name = name
        self.__doc__ = description
        self.formula = formula
        self.range = range
        self.notes = notes
        self.params = dict(params or {})
        self.prepare = prepare    # (X, column_mean) -> (Z, row_term, constant_mask, check)
        self.finish = finish      # (G, row_term_i, row_term_j, n_features, **params), in place
        self.pairwise = pairwise  # user measure: func(A, B, **params) -> (len(A), len(B))
        self.constant = constant  # what constant rows mean, for the warning; None: no issue
        self.references = references

    @property
    def centres_columns(self) -> bool:
        return self.prepare is _prepare_squared


def register_measure(name: str, func=None):
    """Register a measure ``func(A, B, **params) -> ndarray of shape (len(A), len(B))``.

    ``A`` and ``B`` are float arrays of shape (n_a, n_features) and (n_b, n_features),
    row tiles of the activations; ``func`` returns the dissimilarity of every row of
    ``A`` to every row of ``B``. deeprsa keeps the upper triangle, mirrors it and
    sets the diagonal to 0; it does not clip. Keyword parameters of ``func`` (with
    defaults) become the measure's parameters: ``compute_rdm(X, measure=name, p=3)``.
    Tiles have ``batch_size`` rows (default 256), so ``func`` may broadcast.
    The first line of the docstring is the description shown by ``deeprsa measures``.
    Use it as a decorator, or call it with ``func``.

    Raises
    ------
    ValueError
        If a measure called ``name`` already exists.

    Examples
    --------
    >>> import numpy as np
    >>> @register_measure("manhattan_demo")
    ... def manhattan(A, B):
    ...     '''Sum of absolute differences (cityblock).'''
    ...     return np.abs(A[:, None, :] - B[None, :, :]).sum(-1)
    >>> compute_rdm([[0, 0], [1, 2], [3, 3]], measure="manhattan_demo").vector()
    array([3., 6., 3.], dtype=float32)
    >>> _ = _MEASURES.pop("manhattan_demo")  # leave the registry as it was
    """
    def decorator(f):
        if not callable(f):
            raise TypeError(f"register_measure needs a callable, got {type(f).__name__}.")
        sig = inspect.signature(f)
        params = {p.name: p.default for p in list(sig.parameters.values())[2:]
                  if p.default is not inspect.Parameter.empty}
        doc = (f.__doc__ or "").strip()
        measure = _Measure(name, doc.splitlines()[0] if doc else "", formula="user function",
                           range="", params=params, pairwise=f)
        _MEASURES.register(name)(measure)
        return f

    return decorator if func is None else decorator(func)


def list_measures() -> list[str]:
    """Names of all registered measures, sorted.

    Examples
    --------
    >>> list_measures()
    ['correlation', 'cosine', 'euclidean', 'normalized_euclidean', 'spearman', 'sqeuclidean']
    """
    return sorted(_MEASURES)


def describe_measures():
    """Table of the registered measures: name, description, formula, range, params, notes.

    Returns
    -------
    pandas.DataFrame
        One row per measure, sorted by name.
    """
    import pandas as pd

    rows = []
    for name in list_measures():
        m = _MEASURES[name]
        rows.append({"name": name, "description": m.__doc__, "formula": m.formula,
                     "range": m.range, "params": ", ".join(f"{k}={v!r}"
                                                           for k, v in m.params.items()),
                     "notes": m.notes})
    return pd.DataFrame(rows)


def _centre_normalise(X):
    """Rows to zero mean and unit norm; constant rows become zero rows.

    Returns ``(Z, None, constant, norm)``; a NaN or infinite ``norm`` marks a bad row.
    """
    mean = X.mean(axis=1, keepdims=True)
    Z = X - mean
    norm = np.sqrt(np.einsum("ij,ij->i", Z, Z))
    # A constant row centres to rounding noise far below 1e-3 |mean| per unit; only
    # such candidates get the exact (and slower) test that all their values are equal.
    constant = norm <= 1e-3 * np.abs(mean[:, 0]) * np.sqrt(X.shape[1])
    candidates = np.flatnonzero(constant)
    constant[candidates] = np.ptp(X[candidates], axis=1) == 0
    scale = np.where(constant, 1, norm)
    Z *= (1 / scale)[:, None]
    Z[constant] = 0
    return Z, None, constant, norm


def _prepare_pearson(X, column_mean):
    return _centre_normalise(X)


def _prepare_spearman(X, column_mean):
    from scipy.stats import rankdata

    ranks = np.empty_like(X)
    for start in range(0, len(X), 256):  # rank in slabs: rankdata works in float64
        ranks[start:start + 256] = rankdata(X[start:start + 256], axis=1, method="average")
    Z, _, constant, norm = _centre_normalise(ranks)
    return Z, None, constant, np.where(np.isfinite(X).all(axis=1), norm, np.nan)


def _prepare_cosine(X, column_mean):
    norm = np.sqrt(np.einsum("ij,ij->i", X, X))
    zero = norm == 0
    return X * (1 / np.where(zero, 1, norm))[:, None], None, zero, norm


def _prepare_squared(X, column_mean):
    Z = X - column_mean  # distances ignore a shift; centring avoids cancellation
    term = np.einsum("ij,ij->i", Z, Z)
    return Z, term, None, term


def _finish_one_minus(G, ri, rj, n_features):
    np.subtract(1, G, out=G)
    np.clip(G, 0, 2, out=G)


def _finish_squared(G, ri, rj, n_features, per_feature=False):
    G *= -2
    G += ri[:, None]
    G += rj[None, :]
    np.maximum(G, 0, out=G)
    if per_feature:
        G *= 1 / n_features


def _finish_euclidean(G, ri, rj, n_features):
    _finish_squared(G, ri, rj, n_features)
    np.sqrt(G, out=G)


def _finish_normalized(G, ri, rj, n_features):
    _finish_squared(G, ri, rj, n_features, per_feature=True)
    np.sqrt(G, out=G)


_NO_SIMILARITY = ("dissimilarity 1 (no similarity) to every other stimulus and 0 between "
                  "two {what} rows")
for _name, _description, _kw in [
    ("correlation", "1 - Pearson correlation between stimulus patterns.", dict(
        formula="1 - r(x, y), r = (x - mean x)·(y - mean y) / (|x - mean x| |y - mean y|)",
        range="[0, 2]", prepare=_prepare_pearson, finish=_finish_one_minus,
        constant=("constant", _NO_SIMILARITY.format(what="constant")),
        notes="Seed 000's input RDM; rsatoolbox 'correlation'. Constant rows: 1 to "
              "others, 0 to each other.",
        references="Kriegeskorte, Mur & Bandettini (2008), Front. Syst. Neurosci. 2:4.")),
    ("spearman", "1 - Spearman correlation (Pearson of the ranked values of each pattern).",
     dict(formula="1 - r(rank x, rank y), ties ranked by their average",
          range="[0, 2]", prepare=_prepare_spearman, finish=_finish_one_minus,
          constant=("constant", _NO_SIMILARITY.format(what="constant")),
          notes="Constant rows: 1 to others, 0 to each other.",
          references="Spearman (1904), Am. J. Psychol. 15:72-101.")),
    ("cosine", "1 - cosine similarity between stimulus patterns (no centring).", dict(
        formula="1 - x·y / (|x| |y|)", range="[0, 2]", prepare=_prepare_cosine,
        finish=_finish_one_minus, constant=("all-zero", _NO_SIMILARITY.format(what="all-zero")),
        notes="All-zero rows (e.g. silenced by a ReLU): 1 to others, 0 to each other.",
        references="scipy.spatial.distance.cosine.")),
    ("euclidean", "Euclidean distance between stimulus patterns.", dict(
        formula="|x - y|", range="[0, inf)", prepare=_prepare_squared,
        finish=_finish_euclidean,
        notes="Seed 003 uses normalized_euclidean; rsatoolbox's 'euclidean' is "
              "sqeuclidean with per_feature=True.",
        references="scipy.spatial.distance.euclidean.")),
    ("sqeuclidean", "Squared Euclidean distance (per_feature=True divides by n_features).",
     dict(formula="|x - y|^2, or |x - y|^2 / n_features with per_feature=True",
          range="[0, inf)", prepare=_prepare_squared, finish=_finish_squared,
          params={"per_feature": False},
          notes="per_feature=True is rsatoolbox's calc_rdm(method='euclidean').",
          references="Nili et al. (2014), PLoS Comput. Biol. 10:e1003553 (rsatoolbox).")),
    ("normalized_euclidean", "Euclidean distance divided by sqrt(n_features) (seed 003).",
     dict(formula="|x - y| / sqrt(n_features) = sqrt(mean((x - y)^2))", range="[0, inf)",
          prepare=_prepare_squared, finish=_finish_normalized,
          notes="The root-mean-square difference per unit; comparable across layers of "
                "different width.",
          references="Seed 003 RSA tutorial (compute_rdm with normalize_distances=True).")),
]:
    _MEASURES.register(_name)(_Measure(_name, _description, **_kw))


def _check_params(measure: _Measure, params: Mapping) -> dict:
    """All parameters of ``measure`` (defaults filled in), checked."""
    unknown = [p for p in params if p not in measure.params]
    if unknown:
        if not measure.params:
            raise ValueError(f"Measure {measure.name!r} takes no parameters, got "
                             f"{unknown[0]!r}.")
        raise ValueError(
            f"Unknown parameter {unknown[0]!r} for measure {measure.name!r}."
            f"{suggest(unknown[0], measure.params)} Available: "
            f"{', '.join(map(repr, sorted(measure.params)))}.")
    full = {**measure.params, **params}
    if measure.pairwise is None and not isinstance(full.get("per_feature", False), bool):
        raise ValueError(f"per_feature must be True or False, got {full['per_feature']!r}.")
    return full


# ====================================================================== engine
class _Rows:
    """Row tiles of activations: an in-memory array, or a lazily sliced one (Zarr)."""

    def __init__(self, X, *, in_memory: bool):
        self.X = X
        self.in_memory = in_memory
        self.n, self.n_features = X.shape

    def read(self, start, stop, dtype):
        """Rows ``start:stop`` as ``dtype`` (a view for in-memory arrays: do not modify)."""
        tile = np.asarray(self.X[start:stop], dtype=dtype)
        if tile.shape != (stop - start, self.n_features):
            raise ValueError(f"Reading rows {start}:{stop} gave shape {tile.shape}.")
        return tile


def _check_finite(check, start, dtype):
    """Raise if a row's check value (a norm or sum) is NaN or infinite."""
    bad = ~np.isfinite(check)
    if bad.any():
        raise ValueError(
            f"activations hold NaN or infinity (or values too large for "
            f"{np.dtype(dtype).name}), first at row {start + int(np.flatnonzero(bad)[0])}. "
            "Drop those stimuli or fix the layer.")


def _default_batch_size(n, n_features, itemsize):
    """Rows per tile: about 256 MB of activations, between 128 and 2048 rows."""
    rows = (256 << 20) // max(1, n_features * itemsize)
    return int(min(n, max(128, min(2048, rows))))


def _column_mean(rows: _Rows, batch_size, dtype):
    total = np.zeros(rows.n_features, dtype=np.float64)
    for start in range(0, rows.n, batch_size):
        tile = rows.read(start, min(rows.n, start + batch_size), dtype)
        total += tile.sum(axis=0, dtype=np.float64)
        if not np.isfinite(total).all():
            _check_finite(tile.sum(axis=1, dtype=np.float64), start, dtype)
    return (total / rows.n).astype(dtype)


def _gram_function(device, dtype):
    """``gram(A, B) -> A @ B.T`` as numpy, or on a torch device."""
    if device is None:
        return None

    import torch

    tdtype = torch.float32 if dtype == np.float32 else torch.float64

    def to_device(Z):
        return torch.from_numpy(np.ascontiguousarray(Z)).to(device=device, dtype=tdtype)

    def gram(A, B, out):
        out[...] = (A @ B.T).cpu().numpy()

    return to_device, gram


def _compute_matrix(rows: _Rows, measure: _Measure, params, *, dtype, batch_size, device,
                    progress=False, out=None, start=0, on_rows=None, desc=None):
    """The engine: row tiles, a matrix product per tile pair, finished in place.

    Fills the upper triangle tile by tile (``D[i-tile, j >= i]``), mirrors it
    into the lower one and zeroes the diagonal. When row tile ``i`` is done its
    rows are complete, and ``on_rows(i0, i1, D)`` is called (the store path
    writes them); ``start`` resumes after rows already in ``out``.
    Returns ``(D, constant_row_indices)``.
    """
    from tqdm.auto import tqdm

    n, p = rows.n, rows.n_features
    D = np.empty((n, n), dtype=dtype) if out is None else out
    column_mean = (_column_mean(rows, batch_size, dtype) if measure.centres_columns
                   else None)
    torch_path = _gram_function(device, dtype)
    pairwise = measure.pairwise is not None

    def prepared(a, b):
        tile = rows.read(a, b, dtype)
        if pairwise:
            _check_finite(tile.sum(axis=1, dtype=np.float64), a, dtype)
            return tile, None, None
        with np.errstate(invalid="ignore", over="ignore"):
            Z, term, constant, check = measure.prepare(tile, column_mean)
        _check_finite(check, a, dtype)
        if torch_path is not None:
            Z = torch_path[0](Z)
        return Z, term, constant

    if rows.in_memory:
        whole = prepared(0, n)

    def tile(a, b):
        if rows.in_memory:
            Z, term, constant = whole
            return (Z[a:b], None if term is None else term[a:b],
                    None if constant is None else constant[a:b])
        if (a, b) in cache:
            return cache[a, b]
        result = prepared(a, b)
        if cache_room[0] >= _nbytes(result[0]):
            cache[a, b] = result
            cache_room[0] -= _nbytes(result[0])
        return result

    cache, cache_room = {}, [_CACHE_BYTES]
    constant_rows = []
    starts = range(start, n, batch_size)
    for i0 in tqdm(starts, desc=desc or "RDM rows", unit="tile", disable=not progress,
                   leave=False):
        i1 = min(n, i0 + batch_size)
        Zi, ti, ci = tile(i0, i1)
        if ci is not None:
            constant_rows.extend(i0 + np.flatnonzero(ci))
        # In memory one product covers every column right of i0; else one per tile pair.
        blocks = [(i0, n)] if rows.in_memory and not pairwise else [
            (j0, min(n, j0 + batch_size)) for j0 in range(i0, n, batch_size)]
        for j0, j1 in blocks:
            Zj, tj, cj = (Zi, ti, ci) if (j0, j1) == (i0, i1) else tile(j0, j1)
            block = D[i0:i1, j0:j1]
            if pairwise:
                _pairwise_block(measure, Zi, Zj, block, params)
                continue
            if torch_path is not None:
                torch_path[1](Zi, Zj, block)
            else:
                np.matmul(Zi, Zj.T, out=block)
            measure.finish(block, ti, tj, p, **params)
            if ci is not None and ci.any() and cj.any():
                block[np.ix_(np.flatnonzero(ci), np.flatnonzero(cj))] = 0
        _mirror(D, i0, i1)
        cache.pop((i0, i1), None)
        if on_rows is not None:
            on_rows(i0, i1, D)
    return D, np.asarray(constant_rows, dtype=np.intp)


def _mirror(D, i0, i1, step=256):
    """Complete rows ``i0:i1``: lower triangle from the upper one, zero diagonal."""
    for a in range(i0, i1, step):
        a1 = min(i1, a + step)
        for c in range(0, a, step):  # small square blocks keep the transposed copy in cache
            c1 = min(a, c + step)
            D[a:a1, c:c1] = D[c:c1, a:a1].T
        square = D[a:a1, a:a1]
        for r in range(1, a1 - a):
            square[r, :r] = square[:r, r]
        np.fill_diagonal(square, 0)


_CACHE_BYTES = 1 << 30  # prepared tiles kept between passes of the streamed path


def _nbytes(Z):
    return Z.nbytes if isinstance(Z, np.ndarray) else Z.element_size() * Z.nelement()


def _pairwise_block(measure, A, B, block, params):
    result = np.asarray(measure.pairwise(A, B, **params))
    if result.shape != block.shape:
        raise ValueError(
            f"Measure {measure.name!r} returned shape {result.shape} for row tiles of "
            f"{len(A)} and {len(B)} stimuli; it must return (len(A), len(B)).")
    block[...] = result


def _constant_warning(measure, constant_rows, stimulus_ids):
    if not len(constant_rows) or measure.constant is None:
        return
    what, result = measure.constant
    ids = [stimulus_ids[i] for i in constant_rows]
    count = "1 stimulus has" if len(ids) == 1 else f"{len(ids)} stimuli have"
    warnings.warn(
        f"{count} {what} activations, for which the {measure.name} measure is undefined: "
        f"{ids[:5]}{f' and {len(ids) - 5} more' if len(ids) > 5 else ''}. They get {result}.",
        ConstantPatternWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside this module (the user's call)."""
    import sys

    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


# ====================================================================== public verbs
def compute_rdm(X, *, measure="correlation", stimulus_ids=None, model=None, layer=None,
                reduction=None, key=None, dtype="float32", device=None, batch_size=None,
                progress=False, **params) -> RDM:
    """Compute a first-order representational dissimilarity matrix.

    Rows are prepared once (centred, normalised or ranked, as the measure
    needs), then the RDM is built from a blocked matrix product over row tiles:
    only the upper triangle is computed, mirrored, and the diagonal set to
    exactly 0; values are clipped to the measure's range. Memory is the output
    plus a few tiles. From a store, the activations are read in row tiles
    (never the whole layer at once) and the RDM is written back (kind
    ``"rdms"``); asking again for the same inputs loads it instead, and an
    interrupted computation resumes from its last finished tile.

    Parameters
    ----------
    X : array-like of shape (n_stimuli, n_units), Store or path to a store
        One row per stimulus (reduce spatial dimensions first). An array-like
        that is not a numpy array or tensor but can be sliced (a Zarr or HDF5
        array) is read in row tiles. A :class:`~deeprsa.Store` (or its path)
        selects activations with ``key`` or ``model``/``layer``/``reduction``.
    measure : str, default="correlation"
        A registered measure; see :func:`list_measures` and :func:`describe_measures`.
    stimulus_ids : sequence of str, optional
        Label of each row, for an array. Defaults to ``"0"``, ``"1"``, ...
        A store supplies its own.
    model, layer, reduction : str, optional
        For a store: which activations. For an array: recorded in the provenance.
    key : str, optional
        For a store: the key of the activations (instead of model/layer).
    dtype : {"float32", "float64"}, default="float32"
        Precision of the computation and of the result.
    device : str or torch.device, optional
        Torch device for the matrix products, e.g. ``"cuda"``; the default
        (None) computes with numpy on the CPU. Results agree to about 1e-5.
    batch_size : int, optional
        Rows per tile. The result does not depend on it (beyond rounding).
        Default: one tile for an in-memory array (it costs no extra memory);
        for streamed activations about 256 MB per tile, 128 to 2048 rows;
        256 rows for measures registered as functions.
    progress : bool, default=False
        Show a progress bar over row tiles.
    **params
        Parameters of the measure, e.g. ``per_feature=True`` for ``sqeuclidean``.

    Returns
    -------
    RDM
        Of shape (n_stimuli, n_stimuli), with ``stimulus_ids`` and provenance
        (model, layer, measure, params, dtype, activations key, ...).

    Raises
    ------
    ValueError
        If ``measure``, a parameter, ``dtype``, ``device`` or ``batch_size`` is
        invalid, or ``X`` is not 2-D, has fewer than 2 rows or holds NaN or infinity.
    KeyError
        If the store holds no (or several) activations matching the selection.

    Warns
    -----
    ConstantPatternWarning
        When rows are constant (``correlation``, ``spearman``) or all zero
        (``cosine``), naming their stimulus ids. Those measures are undefined
        there; such a stimulus gets dissimilarity 1 ("no similarity", the
        value for uncorrelated patterns) to every other stimulus and 0 to
        another constant row. The Euclidean measures are defined everywhere.

    See Also
    --------
    compute_rdms : The RDMs of every layer in a store.
    RDM : The result.

    Notes
    -----
    ``correlation`` is ``scipy.spatial.distance.pdist(X, "correlation")`` and
    rsatoolbox's ``calc_rdm(method="correlation")``; ``sqeuclidean`` with
    ``per_feature=True`` is rsatoolbox's ``calc_rdm(method="euclidean")``. The
    Euclidean measures centre the columns first (distances ignore a common
    shift) to keep ``|x|^2 + |y|^2 - 2 x.y`` accurate.

    Memory is the output (``n_stimuli**2`` values of ``dtype``) plus the
    prepared rows: all of them for an array in memory; for streamed
    activations, the tiles in use plus up to 1 GiB of prepared tiles kept so
    that each tile is usually read once. A 10,000-stimulus float32 RDM of
    100,000-unit activations needs about 2.5 GB.

    References
    ----------
    .. [1] Kriegeskorte, N., Mur, M. & Bandettini, P. (2008). Representational
       similarity analysis - connecting the branches of systems neuroscience.
       Front. Syst. Neurosci. 2:4.

    Examples
    --------
    >>> rdm = compute_rdm([[1, 2, 3], [3, 2, 1], [1, 3, 2]], stimulus_ids=["a", "b", "c"])
    >>> rdm.matrix().round(3)
    array([[0. , 2. , 0.5],
           [2. , 0. , 1.5],
           [0.5, 1.5, 0. ]], dtype=float32)
    >>> rdm.stimulus_ids
    ('a', 'b', 'c')
    >>> compute_rdm([[0, 0], [3, 4]], measure="euclidean", dtype="float64").vector()
    array([5.])
    """
    from .store import Store

    if not isinstance(measure, str):
        raise ValueError(f"measure must be a str naming a registered measure, got "
                         f"{type(measure).__name__}; see list_measures().")
    meas = _MEASURES.get_checked(measure)
    params = _check_params(meas, params)
    dtype = _check_dtype(dtype)
    device = _check_device(device, meas)
    if isinstance(X, (str, Store)) or hasattr(X, "__fspath__"):
        return _compute_from_store(
            X, meas, params, model=model, layer=layer, reduction=reduction, key=key,
            stimulus_ids=stimulus_ids, dtype=dtype, device=device, batch_size=batch_size,
            progress=progress)
    if key is not None:
        raise ValueError("key= selects activations in a store; X is an array. Pass the "
                         "store as X, or drop key.")
    rows = _check_activations(X, dtype)
    ids = [str(i) for i in range(rows.n)] if stimulus_ids is None else stimulus_ids
    ids = _check_ids(ids)
    if len(ids) != rows.n:
        raise ValueError(f"Got {len(ids)} stimulus_ids for {rows.n} rows of activations.")
    batch_size = _check_batch_size(batch_size, rows, dtype, meas)
    provenance = {k: v for k, v in (("model", model), ("layer", layer),
                                    ("reduction", reduction)) if v is not None}
    provenance.update(_run_provenance(meas, params, dtype, device))
    D, constant = _compute_matrix(rows, meas, params, dtype=dtype, batch_size=batch_size,
                                  device=device, progress=progress)
    _constant_warning(meas, constant, ids)
    return RDM._new(D, ids, provenance)


def compute_rdms(store, *, measure="correlation", model=None, layer=None, stimuli=None,
                 dtype="float32", device=None, batch_size=None, progress=True,
                 **params) -> RDMs:
    """Compute (or load, when already there) the RDM of every layer in a store.

    Parameters
    ----------
    store : Store or path
        Holds the activations; receives the RDMs (kind ``"rdms"``).
    measure : str, default="correlation"
        A registered measure; see :func:`list_measures`.
    model, layer : str or sequence of str, optional
        Only these models / layers (default: every complete activations entry).
    stimuli : str, optional
        Only activations of this stimulus set (content hash), when the store
        holds several.
    dtype, device, batch_size, **params
        As in :func:`compute_rdm`.
    progress : bool, default=True
        Show a progress bar over layers (and row tiles).

    Returns
    -------
    RDMs
        One RDM per activations entry, in the store's order.

    Raises
    ------
    KeyError
        If no complete activations match.
    ValueError
        If the selected activations use more than one stimulus set.
    """
    from tqdm.auto import tqdm

    store = open_store(store)
    table = store.entries("activations")
    if table.empty or not table["complete"].any():
        raise KeyError(f"Store {str(store.path)!r} holds no complete activations; run "
                       "`deeprsa extract` first.")
    table = table[table["complete"]]
    created = {k: store.entry(k).get("created", 0) for k in table["key"]}
    table = table.sort_values("key", key=lambda keys: keys.map(created), kind="stable")
    for col, wanted in (("model", model), ("layer", layer), ("stimuli", stimuli)):
        if wanted is None:
            continue
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        have = sorted(map(str, table[col].unique()))
        missing = [w for w in wanted if w not in have]
        if missing:
            raise KeyError(f"No complete activations with {col}={missing[0]!r}."
                           f"{suggest(missing[0], have)} Available: {have}.")
        table = table[table[col].isin(wanted)]
    if table["stimuli"].nunique() > 1:
        raise ValueError(
            f"The selected activations use {table['stimuli'].nunique()} stimulus sets "
            f"({', '.join(sorted(table['stimuli'].unique()))}); choose one with stimuli=.")
    results = []
    bar = tqdm(list(table.itertuples(index=False)), desc=f"{measure} RDMs", unit="layer",
               disable=not progress)
    for entry in bar:
        bar.set_postfix_str(f"{entry.model} {entry.layer}")
        results.append(compute_rdm(store, key=entry.key, measure=measure, dtype=dtype,
                                   device=device, batch_size=batch_size, progress=progress,
                                   **params))
    return RDMs(results)


def _compute_from_store(store, measure, params, *, model, layer, reduction, key,
                        stimulus_ids, dtype, device, batch_size, progress):
    from .store import content_key

    store = open_store(store)
    if stimulus_ids is not None:
        raise ValueError("stimulus_ids comes from the store for stored activations; to use "
                         "fewer stimuli, compute the RDM and call rdm.subset(stimulus_ids).")
    if key is None:
        selection = {k: v for k, v in (("model", model), ("layer", layer),
                                       ("reduction", reduction)) if v is not None}
        if "model" not in selection or "layer" not in selection:
            raise ValueError("Say which activations: pass key=, or model= and layer= (see "
                             "store.entries('activations')). For every layer use "
                             "compute_rdms(store).")
        key = store.find("activations", **selection)
    entry = store.entry(key)
    if entry["kind"] != "activations":
        raise ValueError(f"Store entry {key!r} holds {entry['kind']}, not activations.")
    if not entry["complete"]:
        raise ValueError(
            f"Activations {key} ({entry['fields'].get('model')}, "
            f"{entry['fields'].get('layer')}) are incomplete: {entry['rows_done']} of "
            f"{entry['shape'][0]} rows. Re-run the same extraction to resume them.")
    fields = entry["fields"]
    ids = store.stimulus_ids(fields["stimuli"])
    provenance = {k: fields[k] for k in _FROM_ACTIVATIONS if k in fields}
    provenance["activations"] = key
    provenance.update(_run_provenance(measure, params, dtype, device))
    rdm_fields = _store_fields(provenance, ids)
    rdm_key = content_key({"kind": "rdms", **rdm_fields})
    if store.has(rdm_key):
        log.info("RDM %s (%s, %s, %s) is already in the store.", rdm_key,
                 fields.get("model"), fields.get("layer"), measure.name)
        rdm = RDM.load(store, rdm_key)
        noted = store.entry(rdm_key)["attrs"].get("constant_rows", [])
        _constant_warning(measure, noted, ids)
        return rdm

    rows = _Rows(store.array(key), in_memory=False)
    if rows.n != len(ids):
        raise ValueError(f"Activations {key} have {rows.n} rows but their stimulus set has "
                         f"{len(ids)} ids; the store is inconsistent.")
    batch_size = _check_batch_size(batch_size, rows, dtype, measure)
    desc = f"{fields.get('model')} {fields.get('layer')}"
    if store.mode == "r":
        D, constant = _compute_matrix(rows, measure, params, dtype=dtype,
                                      batch_size=batch_size, device=device,
                                      progress=progress, desc=desc)
        _constant_warning(measure, constant, ids)
        return RDM._new(D, ids, provenance)

    store.add_stimuli(ids, rdm_fields["stimuli"])
    attrs = {"provenance": _jsonable(provenance)}
    # Dissimilarities barely compress (zstd level 1 saves ~20 %) but cost time to: store raw.
    rdm_key, array, done = store.create("rdms", rdm_fields, shape=(rows.n, rows.n),
                                        dtype=dtype, attrs=attrs, compression_level=0)
    D = np.empty((rows.n, rows.n), dtype=dtype)
    if done:
        log.info("Resuming RDM %s at row %d of %d.", rdm_key, done, rows.n)
        D[:done] = array[:done]

    def write(i0, i1, D):
        array[i0:i1] = D[i0:i1]
        if i1 < rows.n:
            store.mark_progress(rdm_key, i1)

    D, constant = _compute_matrix(rows, measure, params, dtype=dtype, batch_size=batch_size,
                                  device=device, progress=progress, out=D, start=done,
                                  on_rows=write, desc=desc)
    store.mark_progress(rdm_key, rows.n, complete=True,
                        attrs={"constant_rows": [int(i) for i in constant]})
    _constant_warning(measure, constant, ids)
    return RDM._new(D, ids, {**provenance, "key": rdm_key})


def _run_provenance(measure, params, dtype, device) -> dict:
    from ._version import __version__

    out = {"measure": measure.name, "params": _jsonable(params),
           "dtype": np.dtype(dtype).name, "deeprsa_version": __version__}
    if device is not None:
        out["device"] = str(device)
    return out


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    return dt.type


def _check_device(device, measure):
    if device is None:
        return None
    import torch

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got "
                         f"{device!r}.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch finds no CUDA GPU here; leave device=None "
                         "to compute on the CPU.")
    if measure.pairwise is not None:
        raise ValueError(f"Measure {measure.name!r} is a user function that runs with "
                         "numpy; device= applies to the built-in measures only.")
    return device


def _check_activations(X, dtype) -> _Rows:
    streamed = (not isinstance(X, np.ndarray) and hasattr(X, "shape")
                and hasattr(X, "__getitem__") and hasattr(X, "dtype")
                and not type(X).__module__.startswith("torch"))
    if not streamed:
        if type(X).__module__.startswith("torch"):
            X = X.detach().cpu().numpy()
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"activations must be numbers, got dtype {X.dtype}.")
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(
            f"activations must be 2-D (n_stimuli, n_units), got shape {shape}. "
            "Flatten or pool the spatial dimensions first, e.g. X.reshape(len(X), -1).")
    if shape[0] < 2:
        raise ValueError(f"An RDM needs at least 2 stimuli, got {shape[0]}.")
    if shape[1] < 1:
        raise ValueError("activations have no units (0 columns).")
    if not streamed:
        X = np.asarray(X, dtype=dtype)
    return _Rows(X, in_memory=not streamed)


def _check_batch_size(batch_size, rows, dtype, measure):
    if batch_size is None:
        if measure.pairwise is not None:  # user functions may broadcast over tile pairs
            return min(rows.n, 256)
        if rows.in_memory:  # one product (BLAS syrk): tiles would save no memory here
            return rows.n
        return _default_batch_size(rows.n, rows.n_features, np.dtype(dtype).itemsize)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int (rows per tile), got "
                         f"{batch_size!r}.")
    return int(min(batch_size, rows.n))
