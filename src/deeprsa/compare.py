"""Second-order comparisons: RDMs with RDMs, representations with representations.

- :func:`compare_rdms` compares every pair between two collections of RDMs.
- :func:`compare_representations` compares two activation matrices directly
  (CKA, Procrustes, shape metrics, CCA, SVCCA, mutual k-NN).
- :func:`model_rdm` and :func:`multi_model_rdm` compare the layers of one or
  many models straight from a store, holding only blocks of RDM vectors.
- :func:`compute_meta_rdms` builds higher-order RDMs over any metadata.

Every method is prepared once per input (an RDM is ranked or sorted once, a
representation centred or decomposed once) and then combined pair by pair, or
by one matrix product for the correlation-type methods.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from . import _compare_rdm, _compare_repr
from ._compare_pairs import (
    _MIB,
    _check_n_jobs,
    _check_same_stimuli,
    _flat,
    _Item,
    _pairwise,
    _rdm_items,
    _upper,
    _warn_undefined,
)
from ._validation import Registry, suggest
from .rdm import RDM, RDMs
from .store import open_store

__all__ = ["ComparisonResult", "compare_rdms", "compare_representations", "compute_meta_rdms",
           "describe_methods", "list_methods", "model_rdm", "multi_model_rdm"]

_METHODS = Registry("comparison method")
# Columns describing one level of a (meta-)RDM: they gain "_sub" one order up.
_LEVEL_COLUMNS = ("measure", "params", "entry_variables", "transform", "stimuli")


for _cls in _compare_rdm.METHODS + _compare_repr.METHODS:
    _METHODS.register(_cls.name)(_cls())


def list_methods(input: str | None = None) -> list[str]:
    """Names of the registered comparison methods, sorted.

    Parameters
    ----------
    input : {"rdm", "representation"}, optional
        Only methods that compare RDMs, or only those that compare
        representations (activations) directly.

    Examples
    --------
    >>> list_methods("rdm")
    ['cosine', 'kendall_tau_a', 'kendall_tau_b', 'pearson', 'rho_a', 'spearman']
    """
    if input not in (None, "rdm", "representation"):
        raise ValueError(f"input must be None, 'rdm' or 'representation', got {input!r}.")
    return sorted(n for n, m in _METHODS.items() if input in (None, m.input))


def describe_methods():
    """Table of the registered comparison methods, sorted by name.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``input`` (``"rdm"`` or ``"representation"``),
        ``kind`` (``"similarity"`` or ``"distance"``), ``description``,
        ``formula``, ``range``, ``params`` and ``reference``.
    """
    import pandas as pd

    return pd.DataFrame([
        {"name": name, "input": m.input, "kind": m.kind, "description": doc,
         "formula": m.formula, "range": m.value_range,
         "params": ", ".join(f"{k}={v!r}" for k, v in m.defaults.items()),
         "reference": m.reference}
        for (name, doc), m in zip(_METHODS.describe().items(),
                                  (_METHODS[n] for n in sorted(_METHODS)), strict=True)])


def _check_method(method, params, input):
    """Return the registered method and its full parameter dict, or raise helpfully."""
    spec = _METHODS.get_checked(method)
    if spec.input != input:
        other = ("compare_representations(X, Y, method=...) on activations"
                 if spec.input == "representation" else "compare_rdms(a, b, method=...)")
        raise ValueError(
            f"Method {method!r} compares {spec.input}s, not {input}s; use {other}. "
            f"Methods for {input}s: {', '.join(map(repr, list_methods(input)))}.")
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        allowed = sorted(spec.defaults)
        raise ValueError(
            f"Unknown parameter {unknown[0]!r} for method {method!r}."
            f"{suggest(unknown[0], allowed)} "
            + (f"It takes: {', '.join(map(repr, allowed))}." if allowed
               else "It takes no parameters."))
    return spec, {**spec.defaults, **params}


# ============================================================================ result


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

    def __post_init__(self):
        matrix = np.array(self.matrix, dtype=np.float64)
        matrix.flags.writeable = False
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __repr__(self):
        return (f"ComparisonResult(method={self.method!r}, kind={self.kind!r}, "
                f"shape={self.matrix.shape}, n_stimuli={self.n_stimuli})")

    @property
    def dissimilarity(self) -> np.ndarray:
        """``1 - matrix`` for similarities (seed 000's model RDM), ``matrix`` for distances."""
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
        return ComparisonResult(
            self.matrix[np.ix_(rows, cols)], self.method, self.params, self.kind,
            self.metadata_a.iloc[rows].reset_index(drop=True),
            self.metadata_b.iloc[cols].reset_index(drop=True), self.n_stimuli,
            self.n_entries, self.symmetric)

    def to_rdm(self, labels: Sequence[str] = ("model", "layer")) -> RDM:
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

        The fields name the method, its parameters and both sides' metadata,
        so the same comparison finds the same key. ``attrs`` keep the
        metadata tables, ``kind``, ``n_stimuli`` and ``n_entries``.
        """
        from .store import content_key

        records_a = self.metadata_a.astype(object).where(self.metadata_a.notna(), None)
        records_b = self.metadata_b.astype(object).where(self.metadata_b.notna(), None)
        records_a, records_b = records_a.to_dict("records"), records_b.to_dict("records")
        fields = {"name": name, "method": self.method,
                  "params": json.loads(json.dumps(dict(self.params), default=str)),
                  "rows": content_key({"r": records_a}), "columns": content_key({"c": records_b})}
        attrs = json.loads(json.dumps(
            {"kind": self.kind, "n_stimuli": self.n_stimuli, "n_entries": self.n_entries,
             "symmetric": self.symmetric, "metadata_a": records_a, "metadata_b": records_b},
            default=str))
        return store.write("comparisons", fields, self.matrix, attrs=attrs)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _sub(column):
    return f"{column}_sub" if column in _LEVEL_COLUMNS or column.endswith("_sub") else column


def _frame(records):
    import pandas as pd

    return pd.DataFrame(list(records))


# ============================================================================ public API


def compare_rdms(a, b=None, *, method: str = "spearman", working_memory: float = 1024,
                 n_jobs: int | None = None) -> ComparisonResult:
    """Compare every RDM of ``a`` with every RDM of ``b`` (or of ``a`` when ``b`` is None).

    Parameters
    ----------
    a : RDM, RDMs, list of RDM, or array-like of shape (n_rdms, n_entries)
        RDMs, or their upper triangles in ``scipy.spatial.distance.squareform``
        order (then without stimulus ids, so only lengths are checked).
    b : same types as ``a``, optional
        The second collection; None compares ``a`` with itself.
    method : str, default="spearman"
        A registered RDM comparison method; see :func:`list_methods`. All of
        them are similarities: ``value`` is r (or tau), ``dissimilarity`` is
        ``1 - r``.
    working_memory : float, default=1024
        MiB for prepared (ranked or sorted) RDMs; beyond it they are spilled
        to temporary files and read back in blocks.
    n_jobs : int or None, default=None
        Threads that prepare inputs and compute pairs at the same time; None
        means 1 and -1 all cores. Results do not depend on it.

    Returns
    -------
    ComparisonResult
        ``.matrix`` of shape (n_a, n_b) and ``.table`` with one row per pair.

    Raises
    ------
    ValueError
        If the method is unknown or compares representations, if the RDMs
        are over different stimuli (the message names ids that differ) or
        hold infinite entries, or if fewer than 2 entries are left.

    Warns
    -----
    UserWarning
        When some RDMs have NaN entries: those stimulus pairs are left out of
        every comparison in the call (listwise deletion), so all values use
        the same entries. Also when a comparison is undefined (a constant RDM).

    See Also
    --------
    compare_representations : Compare activations without an RDM.
    multi_model_rdm : The same comparison for every layer in a store.

    Notes
    -----
    Spearman and rho-a rank each RDM once (ties get their average rank),
    Pearson and cosine centre or scale it once; then one matrix product in
    column chunks gives all pairs. Kendall's tau sorts each RDM once, then
    counts discordant pairs for each pair of RDMs in O(n log n) with a
    Fenwick tree (Knight, 1966), ties handled as in ``scipy.stats.kendalltau``.

    References
    ----------
    .. [1] Kriegeskorte, N., Mur, M., & Bandettini, P. (2008). Representational
       similarity analysis. Front. Syst. Neurosci.
    .. [2] Nili, H. et al. (2014). A toolbox for representational similarity
       analysis. PLoS Comput. Biol.
    .. [3] Knight, W. R. (1966). A computer method for calculating Kendall's
       tau with ungrouped data. J. Am. Stat. Assoc.

    Examples
    --------
    >>> ids = ["a", "b", "c", "d"]
    >>> x = RDM.from_vector([1, 2, 3, 4, 5, 6], ids, {"layer": "conv1"})
    >>> y = RDM.from_vector([2, 1, 3, 4, 6, 5], ids, {"layer": "conv2"})
    >>> result = compare_rdms([x, y], method="spearman")
    >>> result.matrix.round(3)
    array([[1.   , 0.886],
           [0.886, 1.   ]])
    >>> result.table[["layer_a", "layer_b", "value", "dissimilarity"]].round(3)
      layer_a layer_b  value  dissimilarity
    0   conv1   conv2  0.886          0.114
    """
    spec, params = _check_method(method, None, "rdm")
    sides = [("a", _rdm_items(a, "a"))]
    if b is not None:
        sides.append(("b", _rdm_items(b, "b")))
    lengths = {len(items[0].load()) if items[0].stimulus_ids is None else
               len(items[0].stimulus_ids) * (len(items[0].stimulus_ids) - 1) // 2
               for _, items in sides}
    if len(lengths) > 1:
        raise ValueError(f"a and b have RDMs of different sizes ({sorted(lengths)} entries); "
                         "they must be over the same stimuli.")
    _check_same_stimuli(sides)
    values, n_entries = _pairwise(spec, params, sides, working_memory=working_memory,
                                  n_jobs=_check_n_jobs(n_jobs))
    _warn_undefined(values, sides)
    n_entries_all = lengths.pop()
    return ComparisonResult(
        values, method, params, spec.kind, _frame(i.metadata for i in sides[0][1]),
        _frame(i.metadata for i in sides[-1][1]),
        int(round((1 + np.sqrt(1 + 8 * n_entries_all)) / 2)), n_entries, b is None)


def compare_representations(X, Y, method: str = "linear_cka", **params) -> float:
    """Compare two representations of the same stimuli directly, without an RDM.

    Parameters
    ----------
    X : array-like of shape (n_stimuli, n_units_x)
        One row per stimulus.
    Y : array-like of shape (n_stimuli, n_units_y)
        The same stimuli in the same order; ``n_units_y`` may differ.
    method : str, default="linear_cka"
        A registered representation method; see :func:`list_methods`.
    **params
        The method's parameters: ``threshold`` (``rbf_cka``, default 1.0),
        ``alpha`` (``shape_metric``, in [0, 1], default 1.0), ``k``
        (``mutual_knn``, default 10), ``n_components`` and
        ``variance_threshold`` (``svcca``), ``batch_size``
        (``minibatch_linear_cka``, default 256).

    Returns
    -------
    float
        A similarity (CKA, CCA, SVCCA, mutual k-NN) or an angular distance in
        radians (``procrustes``, ``shape_metric``); docs/comparisons.md lists
        each formula and range.

    Raises
    ------
    ValueError
        If the method or a parameter is unknown or out of range, or if ``X``
        and ``Y`` are not 2-D, have different numbers of rows, fewer than 4
        rows, or NaN or infinite entries.

    See Also
    --------
    compare_rdms : Compare RDMs.
    multi_model_rdm : Any of these methods over every layer in a store.

    Notes
    -----
    Linear CKA uses the feature-space form ``||Yc^T Xc||_F^2`` when there
    are more stimuli than units (no n x n Gram matrix), the Gram form
    otherwise; ``minibatch_linear_cka`` averages unbiased HSIC over
    consecutive batches of stimuli for very many stimuli (Nguyen et al.,
    2021). All methods centre the columns except ``mutual_knn``, which
    compares cosine neighbourhoods (Huh et al., 2024).

    References
    ----------
    .. [1] Kornblith, S., Norouzi, M., Lee, H., & Hinton, G. (2019).
       Similarity of neural network representations revisited. ICML.
    .. [2] Williams, A. H., Kunz, E., Kornblith, S., & Linderman, S. W.
       (2021). Generalized shape metrics on neural representations. NeurIPS.
    .. [3] Raghu, M., Gilmer, J., Yosinski, J., & Sohl-Dickstein, J. (2017).
       SVCCA. NeurIPS.
    .. [4] Nguyen, T., Raghu, M., & Kornblith, S. (2021). Do wide and deep
       networks learn the same things? ICLR.
    .. [5] Huh, M., Cheung, B., Wang, T., & Isola, P. (2024). The platonic
       representation hypothesis. ICML.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 8))
    >>> Q = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    >>> round(compare_representations(X, 3 * X @ Q + 1, "linear_cka"), 6)
    1.0
    >>> round(compare_representations(X, 3 * X @ Q + 1, "procrustes"), 6)
    0.0
    """
    spec, params = _check_method(method, params, "representation")
    X = _check_representation(X, "X")
    Y = _check_representation(Y, "Y")
    if len(X) != len(Y):
        raise ValueError(f"X and Y must hold the same stimuli: X has {len(X)} rows, Y has "
                         f"{len(Y)}.")
    if hasattr(spec, "check"):
        spec.check(len(X), **params)
    return float(spec.pair(spec.prepare(X, **params), spec.prepare(Y, **params), **params))


def _check_representation(X, name):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_stimuli, n_units), got shape {X.shape}. "
                         f"Flatten or pool the spatial dimensions first, e.g. "
                         f"{name}.reshape(len({name}), -1).")
    if len(X) < 4:
        raise ValueError(f"{name} has {len(X)} stimuli; comparing representations needs at "
                         "least 4.")
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise ValueError(f"{name} has NaN or infinity in {bad.size} rows, first at row "
                         f"{bad[0]}.")
    return X


# ============================================================================ store


def model_rdm(store, model: str, *, method: str = "spearman", params: Mapping | None = None,
              layers: Sequence[str] | None = None, working_memory: float = 1024,
              n_jobs: int | None = None, **filters) -> ComparisonResult:
    """Layers x layers comparison of one model, from the store (seed 000's model RDM).

    Same as :func:`multi_model_rdm` with ``models=[model]``; see there.

    Examples
    --------
    >>> import tempfile
    >>> from deeprsa import Store
    >>> store = Store(tempfile.mkdtemp() + "/s.zarr")
    >>> ids = ["a", "b", "c", "d"]
    >>> for layer, v in [("conv1", [1, 2, 3, 4, 5, 6]), ("conv2", [2, 1, 3, 4, 6, 5])]:
    ...     _ = RDM.from_vector(v, ids, {"model": "net", "layer": layer}).save(store)
    >>> result = model_rdm(store, "net", method="spearman")
    >>> result.dissimilarity.round(3)
    array([[0.   , 0.114],
           [0.114, 0.   ]])
    """
    return multi_model_rdm(store, [model], method=method, params=params, layers=layers,
                           working_memory=working_memory, n_jobs=n_jobs, **filters)


def multi_model_rdm(store, models: Sequence[str] | None = None, *, method: str = "spearman",
                    params: Mapping | None = None, layers: Sequence[str] | None = None,
                    working_memory: float = 1024, n_jobs: int | None = None,
                    **filters) -> ComparisonResult:
    """All layers of all models in one symmetric comparison, read from the store in blocks.

    RDM methods compare the stored RDMs (kind ``"rdms"``); representation
    methods (CKA, Procrustes, ...) compare the stored activations (kind
    ``"activations"``). Inter-model blocks are included: the result is seed
    000's multi-model RDM, labelled by model and layer.

    Parameters
    ----------
    store : Store or path
        The store holding the RDMs or activations.
    models : sequence of str, optional
        Models to include, in this order; default all, in store order.
    method : str, default="spearman"
        A registered comparison method; see :func:`list_methods`.
    params : mapping, optional
        Parameters of a representation method, e.g. ``{"threshold": 0.5}``.
    layers : sequence of str, optional
        Layers to include, in this order; default every layer, in the order
        the entries were created (network order for ``deeprsa extract``).
    working_memory : float, default=1024
        MiB for blocks: RDMs are read a few rows of the matrix at a time and
        prepared RDM vectors beyond this budget are spilled to temporary files.
    n_jobs : int or None, default=None
        Threads that prepare inputs and compute pairs at the same time; None
        means 1 and -1 all cores. Results do not depend on it.
    **filters
        Store fields that select the entries, e.g. ``measure="correlation"``.
        Each (model, layer) must match exactly one entry.

    Returns
    -------
    ComparisonResult
        Symmetric; ``.dissimilarity`` is the multi-model RDM (1 - r for
        similarities), ``.metadata_a`` its model, layer and key labels.

    Raises
    ------
    KeyError
        If no entry matches, naming the values that are there.
    ValueError
        If several entries match one (model, layer), naming the fields that
        tell them apart, or if entries are over different stimuli.
    """
    spec, params = _check_method(method, params, _METHODS.get_checked(method).input)
    kind = "rdms" if spec.input == "rdm" else "activations"
    store = open_store(store)
    table = _select(store, kind, models, layers, filters)
    stimuli = table["stimuli"].unique()
    if len(stimuli) > 1:
        items = [_Item(None, {"model": r.model, "layer": r.layer},
                       store.stimulus_ids(r.stimuli)) for r in table.itertuples()]
        _check_same_stimuli([("entries", items)])
    n = len(store.stimulus_ids(stimuli[0]))
    budget = float(working_memory) * _MIB
    rows_per_read = int(max(1, min(n, budget / 16 / (n * 8))))

    def loader(key):
        if kind == "rdms":
            return lambda: _upper(store.array(key), n, rows_per_read)
        return lambda: _read_activations(store.array(key), rows_per_read)

    meta = table.drop(columns=[c for c in ("kind", "complete", "rows_done", "shape", "created")
                               if c in table.columns])
    items = [_Item(loader(key), _flat(row), None, kind == "rdms")
             for key, row in zip(table["key"], meta.to_dict("records"), strict=True)]
    if spec.input == "representation" and hasattr(spec, "check"):
        spec.check(n, **params)
    sides = [("entries", items)]
    values, n_entries = _pairwise(spec, params, sides, working_memory=working_memory,
                                  n_jobs=_check_n_jobs(n_jobs))
    _warn_undefined(values, sides)
    metadata = _frame(i.metadata for i in items)
    return ComparisonResult(values, method, params, spec.kind, metadata, metadata, n,
                            n_entries, True)


def _read_activations(array, rows_per_read):
    out = np.empty(array.shape, dtype=np.float64)
    for r0 in range(0, array.shape[0], rows_per_read):
        out[r0:r0 + rows_per_read] = array[r0:r0 + rows_per_read]
    if not np.isfinite(out).all():
        raise ValueError("Stored activations hold NaN or infinity; re-extract them.")
    return out


def _select(store, kind, models, layers, filters):
    """Complete ``kind`` entries matching the filters: one per (model, layer), in order."""
    table = store.entries(kind)  # callers pass a Store (see open_store)
    if table.empty:
        raise KeyError(f"Store {str(store.path)!r} holds no {kind}; compute them first "
                       f"(`deeprsa extract`, `deeprsa rdm`).")
    table = table[table["complete"].astype(bool)]
    for col, value in {**filters, **({} if models is None else {"model": list(models)}),
                       **({} if layers is None else {"layer": list(layers)})}.items():
        if col not in table.columns:
            raise KeyError(f"{kind} entries have no field {col!r}."
                           f"{suggest(col, map(str, table.columns))}")
        have = sorted({str(v) for v in table[col] if v is not None and v == v})
        wanted = value if isinstance(value, list) else [value]
        missing = [w for w in wanted if not any(v == w for v in table[col])]
        if missing:
            raise KeyError(f"No complete {kind} with {col}={missing[0]!r}."
                           f"{suggest(missing[0], have)} Available: {have}.")
        table = table[[any(v == w for w in wanted) for v in table[col]]]
    entries = store.manifest["entries"]
    table = table.assign(created=[entries[k].get("created", 0.0) for k in table["key"]])
    table = table.sort_values(["created", "key"], kind="stable")
    model_order = list(models) if models is not None else list(dict.fromkeys(table["model"]))
    layer_rank = {name: i for i, name in enumerate(layers or [])}
    table = table.assign(
        _m=[model_order.index(m) for m in table["model"]],
        _l=[layer_rank.get(name, 0) for name in table["layer"]])
    table = table.sort_values(["_m", "_l", "created", "key"], kind="stable").drop(
        columns=["_m", "_l"]).reset_index(drop=True)
    dup = table[table.duplicated(["model", "layer"], keep=False)]
    if len(dup):
        first = dup[(dup["model"] == dup["model"].iloc[0]) & (dup["layer"] == dup["layer"].iloc[0])]
        differ = [c for c in first.columns if c not in ("key", "created")
                  and first[c].astype(str).nunique() > 1]
        raise ValueError(
            f"{len(first)} {kind} entries match model {first['model'].iloc[0]!r} layer "
            f"{first['layer'].iloc[0]!r}; they differ in {differ}. Choose one with a filter, "
            f"e.g. {differ[0] if differ else 'measure'}=...")
    return table


# ============================================================================ meta-RDMs


def compute_meta_rdms(table, *, entry_variables: Sequence[str],
                      grouping_variables: Sequence[str] = (), method="spearman",
                      rdm_column: str = "rdm"):
    """Higher-order RDMs over any metadata (seed 002's meta-RDMs).

    Within each group of ``grouping_variables``, the RDMs whose
    ``entry_variables`` differ are compared with each other; the
    dissimilarities (``1 - r``) form one meta-RDM per group and method, whose
    entries are labelled by the entry variables. Feed the result back in for
    a third-order RDM (an RDM of meta-RDMs), and so on.

    Parameters
    ----------
    table : RDMs or pandas.DataFrame
        RDMs with their metadata, or a DataFrame with one RDM per row in
        ``rdm_column`` and metadata columns (such as this function returns).
    entry_variables : sequence of str
        Columns whose values become the entries (rows) of each meta-RDM, e.g.
        ``["obj"]`` to compare objects, ``["obj", "layer"]`` for both.
    grouping_variables : sequence of str, default=()
        Columns fixed within one meta-RDM; one meta-RDM per combination.
    method : str or sequence of str, default="spearman"
        RDM comparison method(s); one meta-RDM per method and group.
    rdm_column : str, default="rdm"
        The column holding the RDMs.

    Returns
    -------
    pandas.DataFrame
        One row per group and method: the grouping variables, ``measure``
        (the method of this order), ``order``, ``entry_variables``, the other
        columns that are constant within the group, and ``rdm_column`` with
        the meta-RDM. Ids join the entry values with ``"|"``.

    Raises
    ------
    KeyError
        If a variable is not a column (with a suggestion).
    ValueError
        If a variable is both an entry and a grouping variable, if a group
        has two RDMs with the same entries (name what tells them apart), or
        fewer than two entries.

    Notes
    -----
    The ``_sub`` convention of seed 002: columns that describe one level
    (``measure``, ``params``, ``entry_variables``, ``transform``, and any
    ``*_sub`` column) gain ``_sub`` one order up. A second-order RDM has
    ``measure`` (its method) and ``measure_sub`` (the first-order measure);
    a third-order one adds ``measure_sub_sub``. Entries keep the order in
    which they first appear in ``table``.

    Examples
    --------
    >>> import pandas as pd
    >>> ids, rng = ["s1", "s2", "s3", "s4"], np.random.default_rng(0)
    >>> rows = [{"obj": o, "layer": layer, "measure": "correlation",
    ...          "rdm": RDM.from_vector(rng.random(6), ids)}
    ...         for layer in ("conv1", "fc") for o in ("cup", "car", "dog")]
    >>> meta = compute_meta_rdms(pd.DataFrame(rows), entry_variables=["obj"],
    ...                          grouping_variables=["layer"])
    >>> meta[["layer", "measure", "measure_sub", "order"]]
       layer   measure  measure_sub  order
    0  conv1  spearman  correlation      2
    1     fc  spearman  correlation      2
    >>> meta["rdm"][0].stimulus_ids
    ('cup', 'car', 'dog')
    """
    import pandas as pd

    frame = _rdm_frame(table, rdm_column)
    entry_variables, grouping_variables = list(entry_variables), list(grouping_variables)
    if not entry_variables:
        raise ValueError("entry_variables must name at least one column.")
    for col in entry_variables + grouping_variables:
        if col not in frame.columns:
            raise KeyError(f"No column {col!r} in the table."
                           f"{suggest(col, map(str, frame.columns))} Columns: "
                           f"{sorted(map(str, frame.columns))}.")
    both = sorted(set(entry_variables) & set(grouping_variables))
    if both:
        raise ValueError(f"{both[0]!r} is both an entry and a grouping variable; entries vary "
                         "within a meta-RDM, groups are fixed within it.")
    methods = [method] if isinstance(method, str) else list(method)
    for m in methods:
        _check_method(m, None, "rdm")
    entries = [tuple(str(v) for v in row)
               for row in frame[entry_variables].itertuples(index=False)]
    first_seen = {e: i for i, e in reversed(list(enumerate(entries)))}
    frame = frame.assign(_entry=entries, _seen=[first_seen[e] for e in entries])
    order = int(frame["order"].max()) + 1 if "order" in frame.columns else 2
    rest = [c for c in frame.columns if c not in entry_variables + grouping_variables
            + [rdm_column, "_entry", "_seen", "key", "order"]]
    groups = (frame.groupby(grouping_variables, sort=False, dropna=False)
              if grouping_variables else [((), frame)])
    out = []
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        group = group.sort_values("_seen", kind="stable")
        _check_unique_entries(group, entry_variables, rest, dict(zip(grouping_variables,
                                                                      values, strict=True)))
        base = {}
        for col in grouping_variables + rest:
            cells = group[col].astype(str) if col in rest else None
            if cells is None or cells.nunique() == 1:
                base[_sub(col)] = _plain(group[col].iloc[0])
        rdms = list(group[rdm_column])
        from .store import content_key

        base["stimuli_sub"] = content_key({"stimulus_ids": list(rdms[0].stimulus_ids)})
        ids = ["|".join(e) for e in group["_entry"]]
        for m in methods:
            result = compare_rdms(rdms, method=m)
            d = result.dissimilarity
            if np.isnan(d).any():
                where = dict(zip(grouping_variables, values, strict=True))
                raise ValueError(f"The {m} meta-RDM for {where} has undefined entries (a "
                                 "constant RDM); drop that RDM first.")
            np.fill_diagonal(d, 0.0)
            provenance = {**base, "measure": m, "order": order,
                          "entry_variables": entry_variables}
            out.append({**_flat(provenance), rdm_column: RDM(d, ids, provenance)})
    return pd.DataFrame(out)


def _rdm_frame(table, rdm_column):
    import pandas as pd

    if isinstance(table, RDMs):
        frame = table.metadata
        frame[rdm_column] = list(table)
        return frame
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be RDMs or a pandas DataFrame, got "
                        f"{type(table).__name__}.")
    if rdm_column not in table.columns:
        raise KeyError(f"No column {rdm_column!r} holding RDMs.{suggest(rdm_column, table)} "
                       "Pass rdm_column=... to name it.")
    bad = [i for i, r in enumerate(table[rdm_column]) if not isinstance(r, RDM)]
    if bad:
        raise TypeError(f"Column {rdm_column!r} must hold RDM objects; row {bad[0]} holds a "
                        f"{type(table[rdm_column].iloc[bad[0]]).__name__}.")
    return table.reset_index(drop=True)


def _check_unique_entries(group, entry_variables, rest, where):
    dup = group[group["_entry"].duplicated(keep=False)]
    if dup.empty:
        if len(group) < 2:
            raise ValueError(f"The group {where} has only one entry "
                             f"({group['_entry'].iloc[0]}); a meta-RDM needs at least two. "
                             "Move a variable from grouping_variables to entry_variables.")
        return
    same = dup[dup["_entry"] == dup["_entry"].iloc[0]]
    differ = [c for c in rest if same[c].astype(str).nunique() > 1]
    raise ValueError(
        f"The group {where} has {len(same)} RDMs for the entry "
        f"{dict(zip(entry_variables, same['_entry'].iloc[0], strict=True))}; they differ in "
        f"{differ or 'nothing recorded'}. Add {differ[0] if differ else 'a column'!r} to "
        "grouping_variables or entry_variables.")
