"""RDMs from outside: brain, behavioural or other models' RDMs read from files.

:func:`load_rdms` reads one RDM per subject or session, square or condensed,
with the labels of its stimuli, from NumPy (``.npy``, ``.npz``), a labelled
CSV matrix, MATLAB (``.mat``, via ``scipy.io``) and rsatoolbox's HDF5 files
(``.h5``, ``.hdf5``, via h5py); :func:`from_rsatoolbox` converts an
in-memory ``rsatoolbox.rdm.RDMs`` (``RDMs.from_rsatoolbox``, the inverse of
``RDMs.to_rsatoolbox``). Nothing is ever unpickled: pickles can run code, so
pickled files are refused with a message that says how to save them instead.

:func:`match_stimuli` puts such RDMs in the order of a model's stimuli,
matching the labels by name; a label missing on either side is an error that
lists them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._validation import check_option
from ._collection import RDMs
from ._objects import RDM

__all__ = ["from_rsatoolbox", "load_rdms", "match_stimuli"]

# Names under which .npz and .mat files keep the stimulus labels and the RDMs' names.
_LABEL_KEYS = ("stimulus_ids", "labels", "stimuli", "conditions")
_SUBJECT_KEYS = ("subjects", "subject", "sessions", "names")
_PICKLE_SUFFIXES = (".pkl", ".pickle")
_SHOWN = 10  # labels listed in an error before "and N more"


class _Raw:
    """What a reader found: the RDMs (k, n, n) or (k, n_pairs), labels, names, extras."""

    def __init__(self, data, labels=None, names=None, descriptors=None, shared=None):
        self.data, self.labels, self.names = data, labels, names
        self.descriptors = descriptors or [{} for _ in range(len(data))]
        self.shared = shared or {}


# ============================================================================ the readers


def _read_npy(path, key):
    with _no_pickles(path):
        return _Raw(_stack(np.load(path, allow_pickle=False), path))


def _read_npz(path, key):
    with _no_pickles(path), np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    labels = _first(arrays, _LABEL_KEYS)
    names = _first(arrays, _SUBJECT_KEYS)
    data = _data_variable(path, arrays, key, skip=_LABEL_KEYS + _SUBJECT_KEYS)
    return _Raw(_stack(data, path), _strings(labels), _strings(names))


@contextmanager
def _no_pickles(path):
    """NumPy's refusal of an object array, as an error that says how to save the file."""
    try:
        yield
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise
        raise ValueError(
            f"{str(path)!r} holds a pickled (object) array; deeprsa never unpickles files, "
            "because a pickle can run code when it is read. Save the RDMs as numbers, e.g. "
            "np.save(path, np.asarray(rdms, dtype=float)), with the labels in an .npz: "
            "np.savez(path, rdms=..., stimulus_ids=np.array(labels, dtype=str)).") from None


def _read_csv(path, key):
    import pandas as pd

    frame = pd.read_csv(path, index_col=0)
    rows = [str(s) for s in frame.index]
    columns = [str(s) for s in frame.columns]
    if sorted(rows) != sorted(columns):
        only_rows = [s for s in rows if s not in set(columns)]
        only_columns = [s for s in columns if s not in set(rows)]
        raise ValueError(
            f"{str(path)!r} is not a labelled square matrix: its row labels (first column) "
            f"and column labels (header) differ; only in rows: {_listing(only_rows)}; only "
            f"in columns: {_listing(only_columns)}. Write the stimulus labels along both.")
    frame.columns = columns
    frame = frame[rows]
    try:
        matrix = frame.to_numpy(dtype=np.float64)
    except ValueError:
        raise ValueError(f"{str(path)!r} holds entries that are not numbers; a CSV RDM is a "
                         "header of labels, then one row per stimulus: its label, then its "
                         "dissimilarities.") from None
    return _Raw(matrix[None], rows)


def _read_mat(path, key):
    from scipy.io import loadmat

    try:
        contents = loadmat(path, squeeze_me=True, struct_as_record=False)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        raise ValueError(
            f"{str(path)!r} is a MATLAB v7.3 (HDF5) file, which scipy.io cannot read; save "
            "it with save(path, 'RDMs', 'labels', '-v7') or export an .npz.") from None
    arrays = {k: v for k, v in contents.items() if not k.startswith("__")}
    labels = _first(arrays, _LABEL_KEYS)
    names = _first(arrays, _SUBJECT_KEYS)
    data = _data_variable(path, arrays, key, skip=_LABEL_KEYS + _SUBJECT_KEYS, mat=True)
    if _is_struct(data):  # the RSA toolbox's struct array: RDMs(i).RDM and RDMs(i).name
        structs = np.atleast_1d(data)
        data = np.stack([np.asarray(s.RDM, dtype=np.float64) for s in structs])
        names = names if names is not None else [str(getattr(s, "name", i))
                                                 for i, s in enumerate(structs)]
        return _Raw(_stack(data, path), _strings(labels), _strings(names))
    data = np.asarray(data)
    if data.ndim == 3:  # MATLAB stacks RDMs along the last axis: (n, n, k)
        data = np.moveaxis(data, -1, 0)
    return _Raw(_stack(data, path), _strings(labels), _strings(names))


def _is_struct(value):
    from scipy.io.matlab import mat_struct

    return isinstance(value, mat_struct) or (
        isinstance(value, np.ndarray) and value.dtype == object and value.size
        and isinstance(value.flat[0], mat_struct))


def _read_hdf5(path, key):
    try:
        import h5py
    except ImportError:
        raise ImportError('Reading rsatoolbox HDF5 files needs h5py: pip install h5py '
                          '(or "deeprsa[rsatoolbox]").') from None
    with h5py.File(path, "r") as f:
        if "dissimilarities" not in f:
            raise ValueError(
                f"{str(path)!r} is not an rsatoolbox RDMs file: it has no 'dissimilarities' "
                f"dataset (it has {sorted(f.keys())}). Save RDMs with rsatoolbox's "
                "rdms.save(path, file_type='hdf5').")
        data = np.asarray(f["dissimilarities"], dtype=np.float64)
        patterns = _hdf5_group(f.get("pattern_descriptors"))
        rdm_descriptors = _hdf5_group(f.get("rdm_descriptors"))
        shared = {k: _scalar(v) for k, v in _hdf5_group(f.get("descriptors")).items()}
        measure = f.attrs.get("dissimilarity_measure")
    if measure is not None:
        shared["measure"] = _scalar(measure)
    return _from_descriptors(_stack(data, path), patterns, rdm_descriptors, shared, key)


def _hdf5_group(group) -> dict:
    if group is None:
        return {}
    out = {}
    for name, item in group.items():
        if hasattr(item, "shape") and item.shape is not None:
            value = np.asarray(item)
            out[name] = value.astype(str) if value.dtype.kind == "S" else value
    for name, value in group.attrs.items():
        out[name] = value
    return out


_READERS = {".npy": _read_npy, ".npz": _read_npz, ".csv": _read_csv, ".mat": _read_mat,
            ".h5": _read_hdf5, ".hdf5": _read_hdf5}
_FORMATS = {"npy": ".npy", "npz": ".npz", "csv": ".csv", "mat": ".mat", "hdf5": ".hdf5"}


# ============================================================================ shapes and labels


def _stack(data, path) -> np.ndarray:
    """``data`` as (k, n, n) squares or (k, n_pairs) upper triangles, float64."""
    data = np.asarray(data)
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{str(path)!r} holds {data.dtype} values; RDMs are numbers.")
    data = data.astype(np.float64)
    if data.ndim == 1:
        return data[None]
    if data.ndim == 2:
        width = data.shape[1]
        triangular = _is_triangular(width)
        if data.shape[0] == width and (_looks_square(data) or not triangular):
            return data[None]
        return data
    if data.ndim == 3 and data.shape[1] == data.shape[2]:
        return data
    raise ValueError(
        f"{str(path)!r} holds an array of shape {data.shape}; an RDM file holds one square "
        "RDM (n, n), a stack of them (n_rdms, n, n) (MATLAB: (n, n, n_rdms)), one upper "
        "triangle (n_pairs,) or a stack of them (n_rdms, n_pairs).")


def _looks_square(m):
    scale = float(np.nanmax(np.abs(m))) or 1.0
    return bool(np.nanmax(np.abs(m - m.T)) <= 1e-6 * scale
                and np.nanmax(np.abs(np.diagonal(m))) <= 1e-6 * scale)


def _is_triangular(n_pairs):
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    return n * (n - 1) // 2 == n_pairs


def _n_from_pairs(n_pairs, path):
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise ValueError(f"{str(path)!r} holds RDM vectors of {n_pairs} entries, which is no "
                         "upper triangle n * (n - 1) / 2; is the array square or stacked "
                         "along another axis?")
    return n


def _first(arrays, keys):
    return next((arrays[k] for k in keys if k in arrays), None)


def _strings(values):
    if values is None:
        return None
    return [_scalar(v) if not isinstance(v, str) else v
            for v in np.atleast_1d(np.asarray(values, dtype=object))]


def _scalar(value):
    """A plain Python value (bytes decoded, NumPy scalars unwrapped) for provenance."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_scalar(v) for v in value]
    return value


def _data_variable(path, arrays, key, *, skip, mat=False):
    if key is not None:
        if key not in arrays:
            check_option(f"variable of {str(path)!r}", key, list(arrays))
        return arrays[key]
    numeric = [k for k, v in arrays.items() if k not in skip and (
        (mat and _is_struct(v)) or np.asarray(v).dtype.kind in "biuf")]
    if len(numeric) != 1:
        raise ValueError(
            f"{str(path)!r} holds {len(numeric)} arrays that could be RDMs ({numeric}); name "
            "the one to read with key=... (config: key = \"...\").")
    return arrays[numeric[0]]


def _from_descriptors(data, patterns, rdm_descriptors, shared, key):
    """rsatoolbox's descriptors -> labels, names and per-RDM provenance."""
    descriptor = key or _pattern_descriptor(patterns)
    if descriptor not in patterns:
        check_option("pattern descriptor", descriptor, patterns)
    labels = [str(_scalar(v)) for v in np.atleast_1d(patterns[descriptor])]
    per_rdm = []
    for i in range(len(data)):
        row = {}
        for name, values in rdm_descriptors.items():
            values = np.atleast_1d(values)
            if name != "index" and len(values) == len(data):
                row[name] = _unflatten(_scalar(values[i]))
        per_rdm.append(row)
    names = [str(r.get("subject", i)) for i, r in enumerate(per_rdm)]
    return _Raw(data, labels, names, per_rdm, shared)


def _pattern_descriptor(patterns):
    """The descriptor that labels the stimuli: ``stimulus_ids``, else the only other one."""
    if "stimulus_ids" in patterns:
        return "stimulus_ids"
    others = [k for k in patterns if k != "index"]
    return others[0] if len(others) == 1 else "index"


def _unflatten(value):
    """JSON strings written by :meth:`RDMs.to_rsatoolbox` (``params``) back to containers."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _listing(labels):
    labels = list(labels)
    shown = ", ".join(repr(s) for s in labels[:_SHOWN])
    more = f" and {len(labels) - _SHOWN} more" if len(labels) > _SHOWN else ""
    return f"{len(labels)} ({shown}{more})" if labels else "none"


# ============================================================================ public functions


def load_rdms(path, *, stimulus_ids=None, name=None, key=None, format=None) -> RDMs:
    """Read RDMs (one per subject or session) from a file, with their stimulus labels.

    Parameters
    ----------
    path : str, Path, sequence of them, or rsatoolbox.rdm.RDMs
        The file: ``.npy``; ``.npz`` (the RDMs plus ``stimulus_ids`` or
        ``labels``, optionally ``subjects``); ``.csv`` (a labelled square
        matrix: a header of labels, then one row per stimulus, its label
        first); ``.mat`` (MATLAB v5/v7 via ``scipy.io``: an (n, n) matrix, an
        (n, n, n_rdms) stack, or the RSA toolbox's struct array with fields
        ``RDM`` and ``name``, plus a ``labels`` cell array); ``.h5`` or
        ``.hdf5`` (rsatoolbox's ``rdms.save(path, file_type="hdf5")``, read
        with h5py). Several files: their RDMs in order (e.g. one CSV per
        subject). An rsatoolbox ``RDMs`` object is converted as
        :func:`from_rsatoolbox` does.
    stimulus_ids : sequence of str, optional
        The labels of the RDMs' rows, for files that hold none (``.npy``, an
        ``.npz`` or ``.mat`` without labels), in the order of the rows.
    name : str, optional
        What the RDMs are (``provenance["target"]``, shown in tables and
        figures). Default: the file's stem.
    key : str, optional
        Which variable of an ``.npz`` or ``.mat`` file holds the RDMs, when
        there are several; for rsatoolbox files, which pattern descriptor
        labels the stimuli (default ``stimulus_ids``, else the only one).
    format : {"npy", "npz", "csv", "mat", "hdf5"}, optional
        Read the file as this format, whatever its suffix.

    Returns
    -------
    RDMs
        One RDM per subject or session, over the file's stimuli in its order;
        each provenance holds ``target``, ``subject`` (the RDM's name in the
        file, or its position), ``source`` (the file), ``format`` and what the
        file records (rsatoolbox's descriptors and ``measure``).

    Raises
    ------
    ValueError
        If the file is pickled (deeprsa never unpickles: pickles run code),
        its suffix is unknown, its array is not an RDM (square with a zero
        diagonal, or an upper triangle), it holds no labels and
        ``stimulus_ids`` is not given (or both are), or a label repeats.
    FileNotFoundError
        If a file does not exist.

    See Also
    --------
    match_stimuli : Put the RDMs in the order of a model's stimuli.
    RDMs.to_rsatoolbox, RDMs.from_rsatoolbox

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "behaviour.npz"
    >>> np.savez(path, rdms=np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 1.0]]),
    ...          stimulus_ids=np.array(["cat", "dog", "car"]))
    >>> rdms = load_rdms(path)
    >>> rdms, rdms.stimulus_ids, list(rdms.metadata["subject"])
    (RDMs(2 RDMs, n_stimuli=3), ('cat', 'dog', 'car'), ['0', '1'])
    """
    if hasattr(path, "get_vectors") and hasattr(path, "pattern_descriptors"):
        return from_rsatoolbox(path, pattern_descriptor=key, name=name)
    if not isinstance(path, (list, tuple)):
        return _load_one(Path(path), stimulus_ids, name, key, format, by_file=False)
    if not path:
        raise ValueError("load_rdms got an empty list of files.")
    paths = [Path(p) for p in path]
    name = name or paths[0].parent.name or paths[0].stem
    parts = [_load_one(p, stimulus_ids, name, key, format, by_file=True) for p in paths]
    first = parts[0].stimulus_ids
    rdms = [r for part, p in zip(parts, paths, strict=True) for r in match_stimuli(
        part, first, what=repr(str(p)), other=repr(str(paths[0])))]
    return RDMs(rdms)


def _load_one(path, stimulus_ids, name, key, format, *, by_file) -> RDMs:
    suffix = _FORMATS[check_option("format", format, _FORMATS)] if format else \
        path.suffix.lower()
    if suffix in _PICKLE_SUFFIXES:
        raise ValueError(
            f"{str(path)!r} is a pickle; deeprsa never unpickles files, because a pickle can "
            "run code when it is read. Save rsatoolbox RDMs with rdms.save(path, "
            "file_type='hdf5'), NumPy arrays with np.save or np.savez.")
    if suffix not in _READERS:
        raise ValueError(f"Cannot read RDMs from {str(path)!r}: unknown suffix "
                         f"{path.suffix!r}. Readable: {', '.join(sorted(_READERS))}; or pass "
                         "format=...")
    if not path.is_file():
        raise FileNotFoundError(f"RDM file {str(path)!r} does not exist.")
    if isinstance(stimulus_ids, str):
        raise TypeError(f"stimulus_ids must be a sequence of str, got the single string "
                        f"{stimulus_ids!r}.")
    with _naming(path, suffix):
        raw = _READERS[suffix](path, key)
        if raw.names is None and by_file:  # one file per subject: the file names them
            raw.names = [path.stem] if len(raw.data) == 1 else \
                [f"{path.stem}[{i}]" for i in range(len(raw.data))]
        labels = _labels(raw, stimulus_ids, path)
        shared = {"target": name or path.stem, "source": str(path),
                  "format": suffix.lstrip("."), **raw.shared}
        return _build(raw, labels, shared, path)


@contextmanager
def _naming(path, suffix):
    """Errors of the file's parser (NumPy, SciPy, h5py, csv) become one naming the file.

    A damaged file makes those libraries raise whatever their parsing meets
    (ValueError, TypeError, SyntaxError from a mangled .npy header, EOFError,
    zipfile.BadZipFile, ...), without the file's name. Ours name it already;
    a missing optional package (ImportError) is left as it is.
    """
    try:
        yield
    except (ImportError, FileNotFoundError):
        raise
    except Exception as err:
        if isinstance(err, (ValueError, TypeError)) and str(path) in str(err):
            raise
        raise ValueError(f"{str(path)!r} is not a readable {suffix.lstrip('.')} RDM file "
                         f"({type(err).__name__}: {err}). Is it damaged or cut short?"
                         ) from err


def _labels(raw, stimulus_ids, path):
    if raw.labels is not None and stimulus_ids is not None:
        raise ValueError(f"{str(path)!r} labels its stimuli already; drop stimulus_ids=, or "
                         "remove the labels from the file to relabel them.")
    labels = raw.labels if raw.labels is not None else stimulus_ids
    if labels is None:
        raise ValueError(
            f"{str(path)!r} holds no stimulus labels, and labels are how its rows are matched "
            "to a model's stimuli. Pass stimulus_ids=[...] in the order of its rows (config: "
            "labels = \"labels.txt\", one per line), or save an .npz with a stimulus_ids "
            "array.")
    return [str(s) for s in labels]


def _build(raw, labels, shared, path) -> RDMs:
    data = raw.data
    n = data.shape[1] if data.ndim == 3 else _n_from_pairs(data.shape[1], path)
    if len(labels) != n:
        raise ValueError(f"{str(path)!r} holds RDMs of {n} stimuli but {len(labels)} labels; "
                         "give one label per row.")
    names = raw.names if raw.names is not None and len(raw.names) == len(data) else \
        [str(i) for i in range(len(data))]
    rdms = []
    for i, values in enumerate(data):
        provenance = {**shared, "subject": str(names[i]), **raw.descriptors[i]}
        try:
            rdms.append(RDM(values, labels, provenance) if data.ndim == 3 else
                        RDM.from_vector(values, labels, provenance))
        except ValueError as err:
            raise ValueError(f"{str(path)!r}, RDM {i} (subject {names[i]!r}): {err}") from None
    return RDMs(rdms)


def from_rsatoolbox(rdms, *, pattern_descriptor=None, name=None) -> RDMs:
    """Convert an ``rsatoolbox.rdm.RDMs`` into :class:`RDMs` (the inverse of ``to_rsatoolbox``).

    Parameters
    ----------
    rdms : rsatoolbox.rdm.RDMs
    pattern_descriptor : str, optional
        The pattern descriptor that labels the stimuli; default
        ``stimulus_ids`` (what ``to_rsatoolbox`` writes), else the only
        descriptor besides ``index``, else ``index``.
    name : str, optional
        ``provenance["target"]`` of every RDM (default: none added).

    Returns
    -------
    RDMs
        The rdm descriptors (``index`` aside) become provenance entries, the
        descriptors and ``dissimilarity_measure`` (as ``measure``) too.
    """
    patterns = {k: np.asarray(v) for k, v in rdms.pattern_descriptors.items()}
    descriptors = {k: np.asarray(v, dtype=object) for k, v in rdms.rdm_descriptors.items()}
    shared = {k: _scalar(v) for k, v in (rdms.descriptors or {}).items()}
    if rdms.dissimilarity_measure is not None:
        shared["measure"] = rdms.dissimilarity_measure
    if name is not None:
        shared["target"] = name
    data = np.asarray(rdms.get_vectors(), dtype=np.float64)
    raw = _from_descriptors(data, patterns, descriptors, shared, pattern_descriptor)
    for d in raw.descriptors:  # cells missing from some RDMs come back as NaN: drop them
        for k in [k for k, v in d.items() if isinstance(v, float) and v != v]:
            del d[k]
    return _build(raw, raw.labels, shared, "the rsatoolbox RDMs")


def match_stimuli(rdms, stimulus_ids: Sequence[str], *, what: str = "the target RDMs",
                  other: str = "the model's stimuli") -> RDMs:
    """``rdms`` in the order of ``stimulus_ids``, matched by label.

    Parameters
    ----------
    rdms : RDM or RDMs
        E.g. brain RDMs from :func:`load_rdms`.
    stimulus_ids : sequence of str
        The labels to match, e.g. a model's stimuli (``StimulusSet.ids``).
    what, other : str
        How the two sides are named in the error.

    Returns
    -------
    RDMs
        Reordered; unchanged when already in this order.

    Raises
    ------
    ValueError
        If a label is on one side only; the message lists them, both ways.
    """
    if isinstance(rdms, RDM):
        rdms = RDMs([rdms])
    ids = [str(s) for s in stimulus_ids]
    if tuple(ids) == rdms.stimulus_ids:
        return rdms
    have = set(rdms.stimulus_ids)
    wanted = set(ids)
    only_rdms = [s for s in rdms.stimulus_ids if s not in wanted]
    only_ids = [s for s in ids if s not in have]
    if only_rdms or only_ids:
        raise ValueError(
            f"The stimulus labels of {what} and {other} differ (labels are matched by name): "
            f"{_listing(only_rdms)} only in {what}; {_listing(only_ids)} only in {other}. "
            "Rename the labels to match, or restrict both sides to the shared stimuli "
            "(rdms.subset(ids), stimuli.subset(...)).")
    return rdms.subset(ids)

