"""ComparisonResult: the values of one method for every pair of two collections."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .._deprecation import keyword_only
from .._validation import suggest
from ..rdm import RDM

__all__ = ["ComparisonResult"]

# Columns describing one level of a (meta-)RDM: they gain "_sub" one order up.
_LEVEL_COLUMNS = ("measure", "params", "entry_variables", "transform", "stimuli")


@dataclass(frozen=True, eq=False)
class ComparisonResult:
    """Values of one comparison method for every pair of two collections.

    Attributes
    ----------
    matrix : ndarray of shape (n_a, n_b)
        Read-only. Similarities (r, tau, CKA, ...) when ``kind`` is
        ``"similarity"``, distances (Procrustes, shape metric) when it is
        ``"distance"``. Symmetric when one collection was compared with itself.
    method : str
        The comparison method.
    params : mapping
        The method's parameters, defaults filled in.
    kind : {"similarity", "distance"}
        What ``matrix`` holds.
    metadata_a, metadata_b : pandas.DataFrame
        One row per compared RDM or representation (model, layer, measure,
        params, store key, ...), in the order of the rows and columns.
    n_stimuli : int
        Stimuli behind every compared input.
    n_entries : int or None
        Stimulus pairs used in each RDM comparison (fewer than
        ``n_stimuli * (n_stimuli - 1) / 2`` when NaN entries were left out);
        None for representations.
    symmetric : bool
        Whether one collection was compared with itself.
    stimulus_ids : tuple of str or None
        The stimuli behind every compared input, in order (None when the
        inputs were bare vectors without ids).
    provenance : mapping
        How the values were made: ``method``, ``params``, ``stimuli`` (the
        key of the stimulus set, shared with the activations and RDMs it
        came from), and ``key`` once saved in a store.
    """

    matrix: np.ndarray
    method: str
    params: Mapping[str, Any]
    kind: str
    metadata_a: Any
    metadata_b: Any
    n_stimuli: int
    n_entries: int | None
    symmetric: bool = field(default=False)
    stimulus_ids: tuple | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        matrix = np.array(self.matrix, dtype=np.float64)
        matrix.flags.writeable = False
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        ids = None if self.stimulus_ids is None else tuple(str(s) for s in self.stimulus_ids)
        object.__setattr__(self, "stimulus_ids", ids)
        provenance = {"method": self.method, "params": dict(self.params),
                      **dict(self.provenance)}
        object.__setattr__(self, "provenance", MappingProxyType(provenance))

    def __repr__(self):
        return (f"ComparisonResult(method={self.method!r}, kind={self.kind!r}, "
                f"shape={self.matrix.shape}, n_stimuli={self.n_stimuli})")

    @property
    def dissimilarity(self) -> np.ndarray:
        """``1 - matrix`` for similarities (the model RDM), ``matrix`` for distances."""
        return 1.0 - self.matrix if self.kind == "similarity" else self.matrix.copy()

    @property
    def table(self):
        """pandas DataFrame with one row per pair.

        Columns: every metadata column of each side with suffix ``_a`` / ``_b``
        (model, layer, measure, params, ...), ``index_a``, ``index_b``,
        ``method``, ``params`` (JSON), ``value`` (the entry of ``matrix``),
        ``kind`` (``"similarity"`` or ``"distance"``), ``dissimilarity``,
        ``n_stimuli`` and ``n_entries``. A symmetric result lists each
        unordered pair once (``index_a < index_b``).
        """
        import pandas as pd

        if self.symmetric:
            i, j = np.triu_indices(len(self.matrix), k=1)
        else:
            i, j = (g.ravel() for g in np.indices(self.matrix.shape))
        columns = {}
        first = ("model", "layer", "measure", "params")
        for side, meta, index in (("a", self.metadata_a, i), ("b", self.metadata_b, j)):
            columns[f"index_{side}"] = index
            for col in [c for c in first if c in meta] + [c for c in meta if c not in first]:
                columns[f"{col}_{side}"] = meta[col].to_numpy()[index]
        columns.update(method=self.method, params=json.dumps(dict(self.params), sort_keys=True),
                       value=self.matrix[i, j], kind=self.kind,
                       dissimilarity=self.dissimilarity[i, j], n_stimuli=self.n_stimuli,
                       n_entries=self.n_entries)
        return pd.DataFrame(columns)

    def select(self, **columns) -> ComparisonResult:
        """Keep the rows and columns whose metadata match, e.g. ``select(model="alexnet")``."""
        def keep(meta):
            mask = np.ones(len(meta), dtype=bool)
            for col, value in columns.items():
                if col not in meta.columns:
                    raise KeyError(f"No metadata column {col!r}."
                                   f"{suggest(col, map(str, meta.columns))}")
                mask &= (meta[col] == value).to_numpy()
            return np.flatnonzero(mask)

        rows, cols = keep(self.metadata_a), keep(self.metadata_b)
        return self._part(rows, cols, self.symmetric and list(rows) == list(cols))

    def _part(self, rows, cols, symmetric) -> ComparisonResult:
        """The rows and columns at positions ``rows`` and ``cols``, labels kept."""
        return ComparisonResult(
            self.matrix[np.ix_(rows, cols)], self.method, self.params, self.kind,
            self.metadata_a.iloc[rows].reset_index(drop=True),
            self.metadata_b.iloc[cols].reset_index(drop=True), self.n_stimuli,
            self.n_entries, symmetric, self.stimulus_ids,
            {k: v for k, v in self.provenance.items() if k != "key"})

    @keyword_only("labels")
    def to_rdm(self, *, labels: Sequence[str] = ("model", "layer")) -> RDM:
        """The dissimilarity matrix as an :class:`RDM` over the compared inputs.

        Ids join the ``labels`` metadata columns that exist with ``"|"``
        (``"alexnet|conv1"``). The diagonal is 0 by definition, also for
        tau-a and rho-a, whose self-comparison is below 1 when there are ties.

        Raises
        ------
        ValueError
            If the result is not symmetric or holds undefined (NaN) values.
        """
        if not self.symmetric:
            raise ValueError("Only a collection compared with itself (b=None) forms an RDM.")
        meta = self.metadata_a
        cols = [c for c in labels if c in meta.columns]
        ids = (["|".join(str(v) for v in row) for row in meta[cols].itertuples(index=False)]
               if cols else [str(i) for i in range(len(meta))])
        d = self.dissimilarity
        if np.isnan(d).any():
            raise ValueError("Some comparisons are undefined (NaN); drop the constant inputs "
                             "before forming an RDM.")
        np.fill_diagonal(d, 0.0)
        provenance = {"measure": self.method, "params": dict(self.params), "order": 2,
                      "entry_variables": cols}
        for col in meta.columns:
            values = meta[col].dropna().unique()
            if col not in cols and col != "key" and len(values) == 1 and meta[col].notna().all():
                provenance[_sub(col)] = _plain(values[0])
        return RDM(d, ids, provenance)

    def save(self, store, *, name: str = "comparison") -> str:
        """Write ``matrix`` into ``store`` (kind ``"comparisons"``); return its key.

        The fields name the method, its parameters and both sides' metadata
        (:func:`comparison_fields`), so the same comparison finds the same
        key. ``attrs`` keep the metadata tables, ``kind``, ``n_stimuli``,
        ``n_entries``, the stimulus set and the provenance.
        """
        fields = comparison_fields(name, self.method, self.params, self.metadata_a,
                                   self.metadata_b)
        records_a, records_b = _records(self.metadata_a), _records(self.metadata_b)
        if self.stimulus_ids is not None and self.provenance.get("stimuli"):
            store.add_stimuli(self.stimulus_ids, self.provenance["stimuli"])
        attrs = json.loads(json.dumps(
            {"kind": self.kind, "n_stimuli": self.n_stimuli, "n_entries": self.n_entries,
             "symmetric": self.symmetric, "metadata_a": records_a, "metadata_b": records_b,
             "columns_a": [str(c) for c in self.metadata_a.columns],
             "columns_b": [str(c) for c in self.metadata_b.columns],
             "provenance": {k: v for k, v in self.provenance.items() if k != "key"}},
            default=str))
        return store.write("comparisons", fields, self.matrix, attrs=attrs)

    @classmethod
    def load(cls, store, key: str) -> ComparisonResult:
        """Read comparison ``key`` from ``store``; its provenance gains ``key``.

        Raises
        ------
        ValueError
            If ``key`` holds another kind of array.
        """
        import pandas as pd

        entry = store.entry(key)
        if entry["kind"] != "comparisons":
            raise ValueError(f"Store entry {key!r} holds {entry['kind']}, not a comparison; "
                             "list them with store.select('comparisons').")
        attrs, fields = entry["attrs"], entry["fields"]
        provenance = dict(attrs.get("provenance", {}))
        stimuli = provenance.get("stimuli")
        ids = store.stimulus_ids(stimuli) if stimuli else None
        meta_a = pd.DataFrame(attrs["metadata_a"], columns=attrs.get("columns_a"))
        meta_b = pd.DataFrame(attrs["metadata_b"], columns=attrs.get("columns_b"))
        return cls(store.read(key), fields["method"], fields["params"], attrs["kind"],
                   meta_a, meta_b,
                   attrs["n_stimuli"], attrs["n_entries"], attrs["symmetric"], ids,
                   {**provenance, "key": key})


def _records(metadata) -> list[dict]:
    return metadata.astype(object).where(metadata.notna(), None).to_dict("records")


def comparison_fields(name, method, params, metadata_a, metadata_b) -> dict:
    """Identity fields of a saved comparison (their hash is its store key).

    Computable before the values are: the executors look a comparison up
    with them and skip it when it is there.
    """
    from ..store import content_key

    return {"name": name, "method": method,
            "params": json.loads(json.dumps(dict(params), default=str)),
            "rows": content_key({"r": _records(metadata_a)}),
            "columns": content_key({"c": _records(metadata_b)})}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _sub(column):
    return f"{column}_sub" if column in _LEVEL_COLUMNS or column.endswith("_sub") else column


def _frame(records):
    import pandas as pd

    return pd.DataFrame(list(records))
