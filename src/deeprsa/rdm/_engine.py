"""The RDM engine: row tiles, one matrix product per tile pair, finished in place.

Both executors run these kernels: :func:`compute_rdm` loops over the tile
pairs of one RDM in this process; the Dask executor sends the same tiles to
workers (:mod:`deeprsa.pipeline.dask`). A tile pair is prepared and combined
by the same functions either way, so the numbers are the same.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from .measures import ConstantPatternWarning, _Measure


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


class NonFiniteActivationsError(ValueError):
    """Activations hold NaN or infinity, for which no dissimilarity is defined.

    Attributes
    ----------
    rows : list of int
        The rows (stimuli) that hold them, as far as they are known.
    stimulus_ids : list of str
        Their ids (empty when the caller gave none).
    model, layer : str or None
        Where the activations come from, when known.
    """

    def __init__(self, message, *, rows=(), stimulus_ids=(), model=None, layer=None):
        super().__init__(message)
        self.rows, self.stimulus_ids = [int(r) for r in rows], list(stimulus_ids)
        self.model, self.layer = model, layer


NAN_POLICIES = ("raise", "omit")


def _check_finite(check, start, dtype):
    """Raise if a row's check value (a norm or sum) is NaN or infinite."""
    bad = ~np.isfinite(check)
    if bad.any():
        rows = start + np.flatnonzero(bad)
        raise NonFiniteActivationsError(
            f"activations hold NaN or infinity (or values too large for "
            f"{np.dtype(dtype).name}), first at row {int(rows[0])}. Drop those stimuli or fix "
            "the layer.", rows=rows)


def nonfinite_error(rows, stimulus_ids, where=None, *, recorded=False, overflow=False):
    """The error of an RDM whose activations hold NaN or infinity in ``rows``: who and how."""
    where = dict(where or {})
    ids = [stimulus_ids[i] for i in rows]
    name = layer_name(where)
    what = f"Activations of {name}" if name else "The activations"
    shown = f"{ids[:5]}{f' and {len(ids) - 5} more' if len(ids) > 5 else ''}"
    if overflow:
        dtype = where.get("dtype", "float32")
        text = (f"{what} hold values too large for {dtype} products in {len(ids)} of "
                f"{len(stimulus_ids)} stimuli: {shown}. Compute in float64 (dtype='float64', "
                "`deeprsa rdm --dtype float64`), or drop those stimuli.")
    else:
        text = (f"{what} hold NaN or infinity in {len(ids)} of {len(stimulus_ids)} stimuli"
                f"{' (recorded at extraction)' if recorded else ''}: {shown}. No dissimilarity "
                "is defined there: drop those stimuli (StimulusSet.subset, RDM.subset), fix the "
                "layer, or compute with nan_policy='omit' (`deeprsa rdm --nan-policy omit`, "
                "config rdm.nan_policy), which gives those stimuli NaN dissimilarities that "
                "comparisons leave out.")
    return NonFiniteActivationsError(text, rows=rows, stimulus_ids=ids,
                                     model=where.get("model"), layer=where.get("layer"))


def layer_name(where) -> str:
    """``"<model> layer '<layer>'"`` from a provenance, or "" when it names neither."""
    where = where or {}
    parts = [str(where["model"])] if where.get("model") is not None else []
    if where.get("layer") is not None:
        parts.append(f"layer {where['layer']!r}")
    return " ".join(parts)


def find_nonfinite(rows: _Rows, batch_size: int) -> np.ndarray:
    """Every row holding NaN or infinity (one pass over the activations)."""
    bad = []
    for start in range(0, rows.n, batch_size):
        tile = np.asarray(rows.X[start:min(rows.n, start + batch_size)])
        bad.append(start + np.flatnonzero(~np.isfinite(tile.sum(axis=1, dtype=np.float64))))
    return np.concatenate(bad) if bad else np.array([], dtype=np.intp)


class _GoodRows(_Rows):
    """The rows of ``rows`` except ``bad``, renumbered (nan_policy='omit')."""

    def __init__(self, rows: _Rows, bad):
        self.base, self.X, self.in_memory = rows, rows.X, rows.in_memory
        self.good = np.setdiff1d(np.arange(rows.n), np.asarray(bad, dtype=np.intp))
        self.n, self.n_features = len(self.good), rows.n_features

    def read(self, start, stop, dtype):
        index = self.good[start:stop]
        if not len(index):
            return np.empty((0, self.n_features), dtype=dtype)
        tile = self.base.read(int(index[0]), int(index[-1]) + 1, dtype)
        return tile[index - index[0]]


def check_nan_policy(nan_policy) -> str:
    """``"raise"`` or ``"omit"``: what an RDM does with stimuli whose activations are NaN."""
    from .._validation import check_option

    return check_option("nan_policy", nan_policy, NAN_POLICIES)


def computed(rows: _Rows, measure, params, *, ids, where, nan_policy, bad=None, **kwargs):
    """:func:`_compute_matrix` under a NaN policy: ``(D, constant rows)``.

    ``"raise"``: a row holding NaN or infinity is an error naming the layer
    and every such stimulus. ``"omit"``: the RDM of the other rows, with NaN
    (missing) dissimilarities for those stimuli; ``bad`` (rows recorded at
    extraction) saves a pass over the activations to find them.
    """
    if nan_policy == "omit":
        bad = find_nonfinite(rows, kwargs["batch_size"]) if bad is None else np.asarray(bad)
        if len(bad):
            good = _GoodRows(rows, bad)
            if good.n < 2:
                raise nonfinite_error(bad, ids, where)
            D, constant = _compute_matrix(good, measure, params, **kwargs)
            return with_missing(D, good.good, rows.n), good.good[constant]
    try:
        return _compute_matrix(rows, measure, params, **kwargs)
    except NonFiniteActivationsError as err:
        raise explain_nonfinite(err, rows, ids, where, bad if bad is not None else (),
                                batch_size=kwargs["batch_size"]) from None


def explain_nonfinite(err, rows: _Rows, ids, where, recorded=(), *, batch_size=256):
    """The kernel's NaN error as one naming the layer and all the stimuli that hold them."""
    bad = np.asarray(recorded if len(recorded) else find_nonfinite(rows, batch_size),
                     dtype=np.intp)
    if not len(bad):  # finite, but too large for the dtype: the kernel's own rows
        return nonfinite_error(np.asarray(err.rows, dtype=np.intp), ids, where, overflow=True)
    return nonfinite_error(bad, ids, where, recorded=bool(len(recorded)))


def with_missing(D_good, good, n):
    """The ``(n, n)`` RDM with NaN (missing) rows and columns for the stimuli not in ``good``."""
    D = np.full((n, n), np.nan, dtype=D_good.dtype)
    D[np.ix_(good, good)] = D_good
    np.fill_diagonal(D, 0)
    return D


#: The most rows in a default tile (and in a stored RDM's chunk).
MAX_TILE_ROWS = 2048


def _default_batch_size(n, n_features, itemsize):
    """Rows per tile: about 256 MB of activations, between 128 and 2048 rows."""
    rows = (256 << 20) // max(1, n_features * itemsize)
    return int(min(n, max(128, min(MAX_TILE_ROWS, rows))))


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
        Z, term, constant = prepare_tile(rows.read(a, b, dtype), a, measure, column_mean, dtype)
        if torch_path is not None and not pairwise:
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
            right = (Zi, ti, ci) if (j0, j1) == (i0, i1) else tile(j0, j1)
            tile_block(measure, params, (Zi, ti, ci), right, D[i0:i1, j0:j1], p,
                       gram=None if torch_path is None else torch_path[1])
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


def prepare_tile(tile, start, measure: _Measure, column_mean, dtype):
    """Rows ``start:`` of the activations, prepared for ``measure``: ``(Z, term, constant)``.

    ``Z`` are the prepared rows (centred, normalised, ranked, ...), ``term``
    a per-row term of the finish step (squared norms) or None, ``constant`` a
    mask of rows for which the measure is undefined, or None. Raises naming
    the first row that holds NaN or infinity.
    """
    if measure.pairwise is not None:
        _check_finite(tile.sum(axis=1, dtype=np.float64), start, dtype)
        return tile, None, None
    with np.errstate(invalid="ignore", over="ignore"):
        Z, term, constant, check = measure.prepare(tile, column_mean)
    _check_finite(check, start, dtype)
    return Z, term, constant


def tile_block(measure: _Measure, params, left, right, block, n_features, *, gram=None):
    """Dissimilarities between two prepared tiles, written into ``block`` (the kernel).

    ``left`` and ``right`` are :func:`prepare_tile` results; ``block`` has
    shape (len(left rows), len(right rows)). ``gram(A, B, out)`` replaces
    numpy's matrix product (a torch device).
    """
    (Zi, ti, ci), (Zj, tj, cj) = left, right
    if measure.pairwise is not None:
        _pairwise_block(measure, Zi, Zj, block, params)
        return
    if gram is not None:
        gram(Zi, Zj, block)
    else:
        np.matmul(Zi, Zj.T, out=block)
    measure.finish(block, ti, tj, n_features, **params)
    if ci is not None and ci.any() and cj.any():
        block[np.ix_(np.flatnonzero(ci), np.flatnonzero(cj))] = 0


def _pairwise_block(measure, A, B, block, params):
    result = np.asarray(measure.pairwise(A, B, **params))
    if result.shape != block.shape:
        raise ValueError(
            f"Measure {measure.name!r} returned shape {result.shape} for row tiles of "
            f"{len(A)} and {len(B)} stimuli; it must return (len(A), len(B)).")
    block[...] = result


def _constant_warning(measure, constant_rows, stimulus_ids, where=None):
    """One warning for the constant (or all-zero) rows of one layer, naming their ids.

    ``where`` (a provenance with ``model`` and ``layer``) names the layer, so
    that the warnings of several layers stay apart.
    """
    if not len(constant_rows) or measure.constant is None:
        return
    what, result = measure.constant
    ids = [stimulus_ids[i] for i in constant_rows]
    count = "1 stimulus has" if len(ids) == 1 else f"{len(ids)} stimuli have"
    prefix = f"{layer_name(where)}: " if layer_name(where) else ""
    warnings.warn(
        f"{prefix}{count} {what} activations, for which the {measure.name} measure is "
        f"undefined: {ids[:5]}{f' and {len(ids) - 5} more' if len(ids) > 5 else ''}. They get "
        f"{result}.", ConstantPatternWarning, stacklevel=_caller_level())


_PACKAGE = os.path.dirname(__file__)


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside this package (the user's call)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == _PACKAGE:
        frame, level = frame.f_back, level + 1
    return level
