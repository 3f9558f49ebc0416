"""Computing RDMs: from an array in memory, or from a layer in the store read in row tiles."""

from __future__ import annotations

import logging

from .._deprecation import merged_params
from ..store import open_store
from ._checks import (
    _check_activations,
    _check_batch_size,
    _check_device,
    _check_dtype,
    _run_provenance,
)
from ._collection import RDMs
from ._engine import _constant_warning, check_nan_policy, computed
from ._objects import RDM, _check_ids
from ._stored import (  # noqa: F401  (re-exported for the package and the executors)
    RDMTask,
    _compute_from_store,
    compute_by_columns,
    create_rdm_array,
    plan_rdm,
    rdm_task,
)
from .measures import _MEASURES, _check_params

__all__ = ["compute_rdm", "compute_rdms"]

log = logging.getLogger("deeprsa.rdm")


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
                 by=None, entries=None, combine=None, units=None, n_permutations=0,
                 seed=None, dtype="float32", device=None, batch_size=None, progress=True,
                 params=None, nan_policy="raise", **loose_params) -> RDMs:
    """Compute (or load, when already there) the RDM of every layer in a store, or a stack.

    Without ``by``, ``entries``, ``combine``, ``units`` and ``n_permutations``
    this is one RDM per layer over every stimulus. With any of them it is a
    *stack* (the pytorch_feature_analysis workflow): per layer and measure, one
    RDM per group of ``by``, per unit subset and per label permutation, each
    over the group's entries, all from one read of the layer; see
    docs/stacks.md.

    Parameters
    ----------
    store : Store or path
        Holds the activations; receives the RDMs (kind ``"rdms"``; a stack's
        observed RDMs, kind ``"rdm_stacks"``, one entry per layer and measure).
    measure : str or sequence of str, default="correlation"
        A registered measure (see :func:`list_measures`), or several: the RDMs
        of each, in this order (a stack reads each layer once for all).
    model, layer : str or sequence of str, optional
        Only these models / layers (default: every complete activations entry).
    stimuli : str, StimulusSet or pandas.DataFrame, optional
        A stimulus set's key (content hash) selects its activations when the
        store holds several. A StimulusSet (or a DataFrame indexed by stimulus
        id) also gives the metadata columns that ``by`` and ``entries`` name;
        only the stimuli it lists are used.
    by : str or sequence of str, optional
        Metadata columns: one RDM per group of stimuli sharing their values
        (pytorch_feature_analysis' image sets), e.g. ``["obj"]``.
    entries : str or sequence of str, optional
        Metadata columns labelling the rows: the stimuli of a group sharing
        their values are one entry, whose pattern is their mean (rsatoolbox's
        ``calc_rdm(..., descriptor=)``); labels join the values with ``"|"``.
        Default: one entry per stimulus, labelled by its id. Entries keep the
        order in which their labels first appear among the stimuli, the same
        in every group, so RDMs over the same labels compare (their stimuli
        may differ).
    combine : mapping of str to sequence of str, optional
        Extra entries that are the mean pattern of other entries of the same
        group, e.g. ``{"000+180": ["000", "180"]}``; appended after the entries.
    units : str, mapping or sequence of those, optional
        Unit subsets, one RDM each: a rule (``"channels:0-31"``,
        ``"random_channels:16x10"``; see :mod:`deeprsa.rdm.units`), a mapping
        ``{name: indices}`` for every layer or ``{layer: {name: indices}}``,
        or a list of them (``"all"`` is every unit). Default: every unit.
    n_permutations : int, default=0
        Label permutations per RDM: ``permutation`` 0 is the observed RDM,
        1 to ``n_permutations`` relabel its entries (rows and columns
        together), a null distribution for any statistic of the stack.
    seed : int, numpy.random.Generator or None, default=None
        Seeds the random unit subsets and the permutations; with an int, each
        layer and group gets the same draws whichever others are computed.
    dtype, device, batch_size, params, nan_policy
        As in :func:`compute_rdm` (a stack takes only ``nan_policy="raise"``).
    progress : bool, default=True
        Show a progress bar over layers (and row tiles).

    Returns
    -------
    RDMs
        One RDM per activations entry, in the store's order. A stack: per
        layer, measure, unit subset, group and permutation, with ``metadata``
        columns for the ``by`` values, model, layer, measure, params,
        ``unit_set``, ``units_hash``, ``permutation``, ``entries``,
        ``entry_labels``, ``stimuli`` (the key of the RDM's rows) and
        ``stimulus_set`` (the key of the stimulus set it came from). Groups
        may have different rows; select equal ones before ``vectors()``.

    Raises
    ------
    KeyError
        If no complete activations match, or a column is not in the metadata.
    ValueError
        If the selected activations use more than one stimulus set, a group
        has fewer than two entries, or a unit subset is invalid.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from deeprsa import Store, StimulusSet, extract, load_model
    >>> images = np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)
    >>> stim = StimulusSet.from_arrays(images, metadata={"obj": list("aaaabbbb"),
    ...                                                  "color": ["r", "g", "b", "y"] * 2})
    >>> store = Store(tempfile.mkdtemp())
    >>> _ = extract(load_model("zoo:mlp_s0"), stim, ["fc1"], store, progress=False)
    >>> stack = compute_rdms(store, stimuli=stim, by="obj", entries="color", progress=False)
    >>> stack.metadata[["obj", "layer", "measure", "entry_labels"]]
      obj layer      measure          entry_labels
    0   a   fc1  correlation  ["r", "g", "b", "y"]
    1   b   fc1  correlation  ["r", "g", "b", "y"]
    """
    params = merged_params(params, loose_params, "compute_rdms")
    if _is_stack(by, entries, combine, units, n_permutations):
        from .stacks import compute_stack

        if check_nan_policy(nan_policy) != "raise":
            raise ValueError("nan_policy='omit' is not available for a stack of RDMs (by, "
                             "entries, combine, units, n_permutations); drop the stimuli "
                             "whose activations hold NaN from the stimulus set instead.")

        return compute_stack(store, measure=measure, model=model, layer=layer, stimuli=stimuli,
                             by=by, entries=entries, combine=combine, units=units,
                             n_permutations=n_permutations, seed=seed, dtype=dtype,
                             device=device, batch_size=batch_size, progress=progress,
                             params=params)
    if hasattr(stimuli, "content_hash"):  # a StimulusSet: its key
        stimuli = stimuli.content_hash()
    if not isinstance(measure, str):
        return RDMs([rdm for m in _measure_list(measure) for rdm in compute_rdms(
            store, measure=m, model=model, layer=layer, stimuli=stimuli, dtype=dtype,
            device=device, batch_size=batch_size, progress=progress, params=params,
            nan_policy=nan_policy)])
    return _plain_rdms(store, measure=measure, model=model, layer=layer, stimuli=stimuli,
                       dtype=dtype, device=device, batch_size=batch_size, progress=progress,
                       params=params, nan_policy=nan_policy)


def _is_stack(by, entries, combine, units, n_permutations) -> bool:
    return (by is not None or entries is not None or combine is not None
            or units not in (None, "all") or n_permutations not in (0, None))


def _measure_list(measure) -> list:
    names = list(measure) if isinstance(measure, (list, tuple)) else None
    if not names or not all(isinstance(m, str) for m in names):
        raise ValueError(f"measure must be a registered measure name or a non-empty list of "
                         f"them, got {measure!r}; see list_measures().")
    return list(dict.fromkeys(names))


def _plain_rdms(store, *, measure, model, layer, stimuli, dtype, device, batch_size, progress,
                params, nan_policy) -> RDMs:
    """One RDM per layer over every stimulus (compute_rdms without a stack's options)."""
    from tqdm.auto import tqdm

    store = open_store(store)
    table = store.select("activations", model=_listed(model), layer=_listed(layer),
                         stimuli=stimuli)
    if table.empty:
        raise KeyError(f"Store {str(store.path)!r} holds no complete activations; run "
                       "`deeprsa extract` first.")
    if table["stimuli"].nunique() > 1:
        raise ValueError(
            f"The selected activations use {table['stimuli'].nunique()} stimulus sets "
            f"({', '.join(sorted(table['stimuli'].unique()))}); choose one with stimuli= "
            "(`--stimuli-key KEY`).")
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
