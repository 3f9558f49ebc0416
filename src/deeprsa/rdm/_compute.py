"""Computing RDMs: from an array in memory, or from a layer in the store read in row tiles."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .._deprecation import merged_params
from ..store import open_store
from ._columns import ColumnGram, column_form
from ._engine import (
    _CACHE_BYTES,
    NonFiniteActivationsError,
    _compute_matrix,
    _constant_warning,
    _default_batch_size,
    _mirror,
    _Rows,
    check_nan_policy,
    computed,
    explain_nonfinite,
)
from ._layout import RDM_CODEC, UPPER, write_upper, write_upper_rows
from ._objects import _FROM_ACTIVATIONS, RDM, RDMs, _check_ids, _jsonable, _store_fields
from .measures import _MEASURES, _check_params

__all__ = ["compute_rdm", "compute_rdms"]

log = logging.getLogger(__name__)

def compute_rdm(X, *, measure="correlation", stimulus_ids=None, model=None, layer=None,
                reduction=None, key=None, dtype="float32", device=None, batch_size=None,
                progress=False, params=None, nan_policy="raise", **loose_params) -> RDM:
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
    params : mapping, optional
        Parameters of the measure, e.g. ``{"per_feature": True}`` for
        ``sqeuclidean``. (Loose keywords, ``per_feature=True``, still work for
        one release, with a DeprecationWarning.)
    nan_policy : {"raise", "omit"}, default="raise"
        Stimuli whose activations hold NaN or infinity: ``"raise"`` refuses
        them (naming the layer and their ids); ``"omit"`` computes the RDM of
        the other stimuli and gives those NaN dissimilarities (missing
        entries, which comparisons leave out). ``"omit"`` is part of the
        RDM's identity in the store.

    Returns
    -------
    RDM
        Of shape (n_stimuli, n_stimuli), with ``stimulus_ids`` and provenance
        (model, layer, measure, params, dtype, activations key, ...).

    Raises
    ------
    ValueError
        If ``measure``, a parameter, ``dtype``, ``device`` or ``batch_size`` is
        invalid, or ``X`` is not 2-D or has fewer than 2 rows.
    NonFiniteActivationsError
        A ValueError: the activations hold NaN or infinity (with
        ``nan_policy="raise"``), naming the model, layer and stimulus ids.
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
    >>> rdm.matrix.round(3)
    array([[0. , 2. , 0.5],
           [2. , 0. , 1.5],
           [0.5, 1.5, 0. ]], dtype=float32)
    >>> rdm.stimulus_ids
    ('a', 'b', 'c')
    >>> compute_rdm([[0, 0], [3, 4]], measure="euclidean", dtype="float64").vector()
    array([5.])
    """
    from ..store import Store

    if not isinstance(measure, str):
        raise ValueError(f"measure must be a str naming a registered measure, got "
                         f"{type(measure).__name__}; see list_measures().")
    meas = _MEASURES.get_checked(measure)
    params = _check_params(meas, merged_params(params, loose_params, "compute_rdm"))
    dtype = _check_dtype(dtype)
    device = _check_device(device, meas)
    nan_policy = check_nan_policy(nan_policy)
    if isinstance(X, (str, Store)) or hasattr(X, "__fspath__"):
        return _compute_from_store(
            X, meas, params, model=model, layer=layer, reduction=reduction, key=key,
            stimulus_ids=stimulus_ids, dtype=dtype, device=device, batch_size=batch_size,
            progress=progress, nan_policy=nan_policy)
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
    provenance.update(_run_provenance(meas, params, dtype, device, nan_policy))
    D, constant = computed(rows, meas, params, ids=ids, where=provenance,
                           nan_policy=nan_policy, dtype=dtype, batch_size=batch_size,
                           device=device, progress=progress)
    _constant_warning(meas, constant, ids, provenance)
    return RDM._new(D, ids, provenance)


def compute_rdms(store, *, measure="correlation", model=None, layer=None, stimuli=None,
                 dtype="float32", device=None, batch_size=None, progress=True,
                 params=None, nan_policy="raise", **loose_params) -> RDMs:
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
    dtype, device, batch_size, params, nan_policy
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

    params = merged_params(params, loose_params, "compute_rdms")
    store = open_store(store)
    table = store.select("activations", model=_listed(model), layer=_listed(layer),
                         stimuli=stimuli)
    if table.empty:
        raise KeyError(f"Store {str(store.path)!r} holds no complete activations; run "
                       "`deeprsa extract` first.")
    if table["stimuli"].nunique() > 1:
        raise ValueError(
            f"The selected activations use {table['stimuli'].nunique()} stimulus sets "
            f"({', '.join(sorted(table['stimuli'].unique()))}); choose one with stimuli= (`--stimuli-key KEY`).")
    results = []
    bar = tqdm(list(table.itertuples(index=False)), desc=f"{measure} RDMs", unit="layer",
               disable=not progress)
    for entry in bar:
        bar.set_postfix_str(f"{entry.model} {entry.layer}")
        results.append(compute_rdm(store, key=entry.key, measure=measure, dtype=dtype,
                                   device=device, batch_size=batch_size, progress=progress,
                                   params=params, nan_policy=nan_policy))
    return RDMs(results)


def _listed(value):
    """A filter value as select() takes it: None, or a list of the wanted values."""
    if value is None or isinstance(value, str):
        return value
    return list(value)


@dataclass(frozen=True)
class RDMTask:
    """One RDM to compute from stored activations: its key, provenance and tiles.

    Both executors derive an RDM's store entry with :func:`plan_rdm`, so they
    find and write the same key.

    Attributes
    ----------
    key : str
        The RDM's content key in the store.
    fields : dict
        Its identity fields (their hash is ``key``).
    provenance : dict
        Model, layer, reduction, measure, params, dtype, stimuli, activations key.
    activations : str
        The key of the activations it is computed from.
    stimulus_ids : tuple of str
    n_features : int
    batch_size : int
        Rows per tile (and the RDM array's tile size in the store).
    engine : {"rows", "columns"}
        How it is computed: row tiles (:func:`_compute_matrix`), or blocks of
        units read once each (:class:`~deeprsa.rdm._columns.ColumnGram`), for a
        layer much wider than the working memory.
    """

    key: str
    fields: dict
    provenance: dict
    activations: str
    stimulus_ids: tuple
    n_features: int
    batch_size: int
    engine: str = "rows"

    @property
    def tiles(self) -> list[tuple[int, int]]:
        """Row ranges ``[start, stop)`` of the tiles."""
        n = len(self.stimulus_ids)
        return [(s, min(n, s + self.batch_size)) for s in range(0, n, self.batch_size)]


def plan_rdm(store, activations: str, measure, params, *, dtype, device=None,
             batch_size=None, nan_policy="raise") -> RDMTask:
    """The store entry of the RDM of ``activations`` (a complete activations key)."""
    entry = store.entry(activations)
    if entry["kind"] != "activations":
        raise ValueError(f"Store entry {activations!r} holds {entry['kind']}, not activations.")
    if not entry["complete"]:
        raise ValueError(
            f"Activations {activations} ({entry['fields'].get('model')}, "
            f"{entry['fields'].get('layer')}) are incomplete: {entry['rows_done']} of "
            f"{entry['shape'][0]} rows. Re-run the same extraction to resume them.")
    fields = entry["fields"]
    ids = store.stimulus_ids(fields["stimuli"])
    n, n_features = entry["shape"]
    if n != len(ids):
        raise ValueError(f"Activations {activations} have {n} rows but their stimulus set has "
                         f"{len(ids)} ids; the store is inconsistent.")
    return rdm_task(activations, fields, ids, n_features, measure, params, dtype=dtype,
                    device=device, batch_size=batch_size, nan_policy=nan_policy)


def rdm_task(activations: str, fields, stimulus_ids, n_features, measure, params, *, dtype,
             device=None, batch_size=None, nan_policy="raise") -> RDMTask:
    """The RDM of the activations ``activations`` (their key and identity ``fields``).

    A pure function of its arguments, so a plan can name every RDM's key
    before anything is extracted.
    """
    from ..store import content_key

    measure = _MEASURES.get_checked(measure) if isinstance(measure, str) else measure
    params = _check_params(measure, dict(params or {}))
    dtype = _check_dtype(dtype)
    nan_policy = check_nan_policy(nan_policy)
    provenance = {k: fields[k] for k in _FROM_ACTIVATIONS if k in fields}
    provenance["stimuli"] = fields["stimuli"]
    provenance["activations"] = activations
    provenance.update(_run_provenance(measure, params, dtype, device, nan_policy))
    rdm_fields = _store_fields(provenance, stimulus_ids)
    n = len(stimulus_ids)
    batch_size = _check_batch_size(batch_size, _Rows(_Shape((n, n_features)), in_memory=False),
                                   dtype, measure)
    wide = int(n_features) * n * np.dtype(dtype).itemsize > _CACHE_BYTES and n_features > n
    engine = "columns" if wide and column_form(measure) is not None else "rows"
    return RDMTask(content_key({"kind": "rdms", **rdm_fields}), rdm_fields, provenance,
                   activations, tuple(stimulus_ids), int(n_features), batch_size, engine)


def create_rdm_array(store, task: RDMTask, dtype):
    """Create (or reopen to resume) the RDM's array, chunked by tiles; ``(array, rows_done)``.

    An array started with other chunks (another tile size) is restarted.
    """
    n = len(task.stimulus_ids)
    # The upper tiles only, byte-shuffled and lz4-compressed (rdm/_layout.py).
    create = dict(shape=(n, n), dtype=dtype, chunks=(task.batch_size, task.batch_size),
                  codec=RDM_CODEC, attrs={"provenance": _jsonable(task.provenance),
                                          "layout": UPPER})
    store.add_stimuli(task.stimulus_ids, task.fields["stimuli"])
    _, array, done = store.create("rdms", task.fields, **create)
    if tuple(array.chunks) != (task.batch_size, task.batch_size):
        log.info("RDM %s was started with chunks %s; restarting it in %d-row tiles.",
                 task.key, array.chunks, task.batch_size)
        store.delete(task.key)
        _, array, done = store.create("rdms", task.fields, **create)
    return array, done


class _Shape:
    """Stands in for an array where only its shape is needed (tile sizes)."""

    def __init__(self, shape):
        self.shape = shape


def _compute_from_store(store, measure, params, *, model, layer, reduction, key,
                        stimulus_ids, dtype, device, batch_size, progress, nan_policy):
    store = open_store(store)
    if stimulus_ids is not None:
        raise ValueError("stimulus_ids comes from the store for stored activations; to use "
                         "fewer stimuli, compute the RDM and call rdm.subset(stimulus_ids).")
    if key is None:
        selection = {k: v for k, v in (("model", model), ("layer", layer),
                                       ("reduction", reduction)) if v is not None}
        if "model" not in selection or "layer" not in selection:
            raise ValueError("Say which activations: pass key=, or model= and layer= (see "
                             "store.select('activations')). For every layer use "
                             "compute_rdms(store).")
        key = store.find("activations", **selection)
    task = plan_rdm(store, key, measure, params, dtype=dtype, device=device,
                    batch_size=batch_size, nan_policy=nan_policy)
    ids, provenance = task.stimulus_ids, task.provenance
    if store.mode != "r":
        store.claim(task.key)  # another process computing this RDM finishes first
    try:
        if store.has(task.key):
            log.info("RDM %s (%s, %s, %s) is already in the store.", task.key,
                     provenance.get("model"), provenance.get("layer"), measure.name)
            rdm = RDM.load(store, task.key)
            noted = store.entry(task.key)["attrs"].get("constant_rows", [])
            _constant_warning(measure, noted, ids, provenance)
            return rdm
        rows = _Rows(store.array(key), in_memory=False)
        recorded = store.entry(key)["attrs"].get("nonfinite_rows", [])
        if recorded and nan_policy == "raise":  # known from extraction: refuse before writing
            raise explain_nonfinite(None, rows, ids, provenance, recorded)
        try:
            return _stored_rdm(store, task, rows, measure, params, dtype=dtype,
                               device=device, progress=progress, recorded=recorded)
        except NonFiniteActivationsError as err:
            if store.mode != "r" and store.has(task.key, complete=False) \
                    and not store.entry(task.key)["rows_done"]:
                store.delete(task.key)  # no half-made entry of an RDM that cannot exist
            raise explain_nonfinite(err, rows, ids, provenance, recorded,
                                    batch_size=task.batch_size) from None
    finally:
        store.release(task.key)


def _stored_rdm(store, task, rows, measure, params, *, dtype, device, progress, recorded):
    ids, provenance, key = task.stimulus_ids, task.provenance, task.activations
    desc = f"{provenance.get('model')} {provenance.get('layer')}"
    whole = None  # an RDM computed at once, then written
    if provenance.get("nan_policy") == "omit":  # the stimuli's rows are dropped, not tiled
        whole = computed(rows, measure, params, ids=ids, where=provenance, nan_policy="omit",
                         dtype=dtype, batch_size=task.batch_size, device=device,
                         progress=progress, desc=desc, bad=recorded or None)
    elif task.engine == "columns":
        whole = compute_by_columns(store.array(key), measure, params, dtype=dtype,
                                   device=device, progress=progress, desc=desc)
    if whole is not None:
        D, constant = whole
        if store.mode == "r":
            _constant_warning(measure, constant, ids, provenance)
            return RDM._new(D, ids, provenance)
        array, done = create_rdm_array(store, task, dtype)
        write_upper(array, D)
    elif store.mode == "r":
        D, constant = _compute_matrix(rows, measure, params, dtype=dtype,
                                      batch_size=task.batch_size, device=device,
                                      progress=progress, desc=desc)
        _constant_warning(measure, constant, ids, provenance)
        return RDM._new(D, ids, provenance)
    else:
        D, constant = _resumable_rows(store, task, rows, measure, params, dtype=dtype,
                                      device=device, progress=progress, desc=desc)
    store.mark_progress(task.key, rows.n, complete=True,
                        attrs={"constant_rows": [int(i) for i in constant]})
    _constant_warning(measure, constant, ids, provenance)
    return RDM._new(D, ids, {**provenance, "key": task.key})


def _resumable_rows(store, task, rows, measure, params, *, dtype, device, progress, desc):
    """The row engine writing each finished row tile's upper part, resuming after the last."""
    array, done = create_rdm_array(store, task, dtype)
    D = np.empty((rows.n, rows.n), dtype=dtype)
    if done:
        log.info("Resuming RDM %s at row %d of %d.", task.key, done, rows.n)
        D[:done] = array[:done]
        _mirror(D, 0, done)

    def write(i0, i1, D):
        write_upper_rows(array, D, i0, i1)
        if i1 < rows.n:
            store.mark_progress(task.key, i1)

    return _compute_matrix(rows, measure, params, dtype=dtype, batch_size=task.batch_size,
                           device=device, progress=progress, out=D, start=done,
                           on_rows=write, desc=desc)


def compute_by_columns(array, measure, params, *, dtype, device=None, progress=False,
                       desc=None, block_bytes=256 << 20):
    """An RDM of stored activations from blocks of units, each read once (the column engine).

    Blocks follow the array's column chunks and hold about ``block_bytes``.
    Returns ``(D, constant_rows)``.
    """
    from tqdm.auto import tqdm

    n, p = array.shape
    chunk = int(array.chunks[1])
    width = max(chunk, (block_bytes // max(1, n * 8)) // chunk * chunk)
    gram = ColumnGram(n, measure, params, dtype=dtype, device=device)
    for c0 in tqdm(range(0, p, width), desc=desc or "RDM columns", unit="block",
                   disable=not progress, leave=False):
        gram.add(array[:, c0:c0 + width])
    return gram.finish()


def _run_provenance(measure, params, dtype, device, nan_policy="raise") -> dict:
    from .._version import __version__

    out = {"measure": measure.name, "params": _jsonable(params),
           "dtype": np.dtype(dtype).name, "deeprsa_version": __version__}
    if device is not None:
        out["device"] = str(device)
    if nan_policy != "raise":  # only then part of the RDM's identity (keys stay as they were)
        out["nan_policy"] = nan_policy
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
