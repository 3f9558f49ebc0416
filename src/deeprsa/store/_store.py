"""The store: a Zarr v3 directory of arrays plus a JSON manifest. Content-keyed, resumable.

Layout of a store directory::

    store/
      zarr.json              Zarr v3 root group
      manifest.json          what every array is (written atomically)
      activations/<key>      (n_stimuli, n_features) float32, chunked by rows
      rdms/<key>             arrays written by later stages (RDMs, ...)
      progress/<key>/        one marker file per finished block of an array
                             written out of order (by several workers)

Every array is named by a *content key*: a hash of everything that determines
its values (model source and weights hash, layer, reduction, preprocessing,
stimulus ids and content hash, ...). Asking for the same inputs again finds
the same key, so finished arrays are skipped; changed stimuli or weights give
a new key and never reuse stale numbers. Progress is recorded per block of
rows after the rows are on disk, so a run killed at any point resumes from
the last complete block. No pickle anywhere: arrays are Zarr, metadata JSON.

Workers that write blocks of one array in any order (a Dask cluster, see
:mod:`deeprsa.pipeline`) each write disjoint, chunk-aligned regions and then
record a block marker (:meth:`Store.mark_blocks_done`), a small file of its
own, so no worker rewrites the manifest per block; :meth:`Store.mark_complete`
finishes the array once every block is there.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._validation import suggest
from .._version import __version__
from . import _query
from ._keys import _atomic_write_text, content_key, versions

__all__ = ["Store", "open_store"]

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class Store:
    """A directory of Zarr arrays described by a JSON manifest.

    Parameters
    ----------
    path : str or Path
        The store directory; created when missing.
    mode : {"a", "r"}, default="a"
        ``"r"`` refuses every write.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> store = Store(tempfile.mkdtemp() + "/demo.zarr")
    >>> key = store.write("rdms", {"model": "m", "layer": "l"}, np.eye(3), attrs={"note": "x"})
    >>> store.read(key).shape
    (3, 3)
    >>> store.entries("rdms")[["model", "layer", "complete"]].to_dict("records")
    [{'model': 'm', 'layer': 'l', 'complete': True}]
    """

    def __init__(self, path, *, mode: str = "a"):
        import zarr

        if mode not in ("a", "r"):
            raise ValueError(f"mode must be 'a' or 'r', got {mode!r}.")
        self.path = Path(path)
        self.mode = mode
        self._cache: tuple = (None, None, None)  # manifest bytes, parsed, entry rows
        if mode == "r" and not (self.path / MANIFEST).exists():
            raise FileNotFoundError(
                f"No deeprsa store at {str(self.path)!r} (no {MANIFEST}). Run "
                "`deeprsa extract ... --store PATH` first.")
        if mode == "a":
            self.path.mkdir(parents=True, exist_ok=True)
            self._root = zarr.open_group(self.path, mode="a")
            if not (self.path / MANIFEST).exists():
                with self._locked():
                    if not (self.path / MANIFEST).exists():
                        self._save({"format": FORMAT_VERSION, "versions": versions(),
                                    "entries": {}})
        else:
            self._root = zarr.open_group(self.path, mode="r")
        manifest = self._load()
        made_with = manifest.get("versions", {}).get("deeprsa")
        if made_with and made_with != __version__:
            warnings.warn(
                f"Store {str(self.path)!r} was written by deeprsa {made_with}; this is "
                f"deeprsa {__version__}. Arrays are reused only where their content keys match.",
                UserWarning, stacklevel=2)

    def __repr__(self):
        m = self._load()
        return f"<Store {str(self.path)!r}: {len(m['entries'])} arrays>"

    # ------------------------------------------------------------------ manifest
    @contextlib.contextmanager
    def _locked(self):
        """Exclusive lock across processes for read-modify-write of the manifest."""
        with open(self.path / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _load(self) -> dict:
        """The manifest, parsed once per version on disk (do not modify the result).

        The file's bytes are read every time (a few milliseconds for thousands
        of entries) and compared with the last ones parsed, so another
        process's write is always seen, but JSON is parsed only when the
        manifest changed.
        """
        text = (self.path / MANIFEST).read_bytes()
        if text != self._cache[0]:
            self._cache = (text, json.loads(text), None)
        return self._cache[1]

    def _rows(self) -> list[dict]:
        """Flat rows of every entry (see :meth:`select`), built once per manifest version."""
        manifest = self._load()
        if self._cache[2] is None:
            self._cache = (*self._cache[:2], _query.entry_rows(manifest["entries"]))
        return self._cache[2]

    def _save(self, manifest: dict) -> None:
        # No indent: json.dumps with indent falls back to the slow pure-Python encoder.
        text = json.dumps(manifest, sort_keys=True)
        _atomic_write_text(self.path / MANIFEST, text)
        self._cache = (text.encode(), manifest, None)

    def _update(self, func):
        self._check_writable()
        with self._locked():
            manifest = json.loads((self.path / MANIFEST).read_bytes())
            func(manifest)
            self._save(manifest)

    def _check_writable(self):
        if self.mode == "r":
            raise PermissionError(f"Store {str(self.path)!r} was opened read-only (mode='r').")

    @property
    def manifest(self) -> dict:
        """A copy of the manifest (changing it changes nothing on disk)."""
        return copy.deepcopy(self._load())

    # ------------------------------------------------------------------ stimuli
    def add_stimuli(self, stimulus_ids, content_hash: str) -> str:
        """Record an ordered set of stimulus ids under its content hash; return the hash.

        The ids go to ``stimuli/<hash>.json`` (written atomically), so the
        manifest stays small however many stimuli there are.
        """
        self._check_writable()
        path = self.path / "stimuli" / f"{content_hash}.json"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            _atomic_write_text(path, json.dumps([str(s) for s in stimulus_ids]))
        return content_hash

    def stimulus_ids(self, stimuli: str) -> tuple[str, ...]:
        """The ordered stimulus ids recorded under content hash ``stimuli``."""
        path = self.path / "stimuli" / f"{stimuli}.json"
        if not path.exists():
            raise KeyError(f"No stimulus set {stimuli!r} in store {str(self.path)!r}.")
        return tuple(json.loads(path.read_text()))

    # ------------------------------------------------------------------ entries
    def select(self, kind: str | None = None, *, complete: bool | None = True,
               strict: bool = True, **filters):
        """The store's one query: entries of ``kind`` whose fields match ``filters``.

        Reads the manifest once. Every stage finds its inputs with it (the
        activations of a model's layers, the RDMs of a measure, a saved
        comparison).

        Parameters
        ----------
        kind : {"activations", "rdms", "comparisons", ...}, optional
            The kind of array; None selects every kind.
        complete : bool or None, default=True
            Only complete entries (True), only unfinished ones (False), or
            both (None).
        strict : bool, default=True
            Raise a KeyError when a filter names an unknown field or a value
            that no entry has (naming the values that are there). False
            returns an empty table instead.
        **filters
            Identity fields and their wanted values: ``model="zoo:mlp_s0"``,
            ``layer=["conv1", "fc"]`` (a list or tuple means any of them),
            ``measure=...``, ``stimuli=...`` (the stimulus set's key). A
            filter whose value is None is ignored.

        Returns
        -------
        pandas.DataFrame
            One row per entry, in the order the entries were created (layers
            in extraction order): ``key``, ``kind``, ``complete``,
            ``rows_done``, ``shape``, ``created`` and every identity field.

        Raises
        ------
        KeyError
            With ``strict=True``, if a filter's field or value is not in the
            store (the message lists what is there).

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> store = Store(tempfile.mkdtemp() + "/demo.zarr")
        >>> for layer in ("conv1", "fc"):
        ...     _ = store.write("rdms", {"model": "m", "layer": layer}, np.eye(3))
        >>> store.select("rdms", layer="fc")[["model", "layer"]].to_dict("records")
        [{'model': 'm', 'layer': 'fc'}]
        >>> store.select("rdms", layer="conv2")
        Traceback (most recent call last):
        ...
        KeyError: "No complete RDM with layer='conv2'. Did you mean 'conv1'? Available: ['conv1', 'fc']."
        """
        rows = _query.select_rows(self._rows(), kind, complete=complete, filters=filters,
                                  strict=strict, where=repr(str(self.path)))
        return _query.frame(rows)

    def entries(self, kind: str | None = None, **filters):
        """Table of entries (one row per array, complete or not), filtered by field values.

        :meth:`select` with ``complete=None``: columns include ``key``,
        ``kind``, ``complete``, ``rows_done``, ``shape``, ``created`` (a Unix
        time; rows are sorted by it, so layers come in extraction order) and
        every identity field (``model``, ``layer``, ...). A filter value that
        no entry has gives an empty table; an unknown field a KeyError.
        """
        if not any(kind is None or r["kind"] == kind for r in self._rows()):
            return _query.frame([])
        for column in filters:
            if not any(column in r for r in self._rows() if kind is None or r["kind"] == kind):
                columns = sorted({c for r in self._rows() for c in r})
                raise KeyError(f"No column {column!r} in the store's entries."
                               f"{suggest(column, columns)}")
        return self.select(kind, complete=None, strict=False, **filters)

    def entry(self, key: str) -> dict:
        """The manifest record of array ``key`` (a copy)."""
        entries = self._load()["entries"]
        if key not in entries:
            raise KeyError(f"No array {key!r} in store {str(self.path)!r}."
                           f"{suggest(key, entries)}")
        return copy.deepcopy(entries[key])

    def has(self, key: str, *, complete: bool = True) -> bool:
        """Whether array ``key`` exists (and, by default, is complete)."""
        e = self._load()["entries"].get(key)
        return e is not None and (e["complete"] or not complete)

    def find(self, kind: str, **fields) -> str:
        """Key of the one complete ``kind`` entry matching ``fields`` (e.g. model, layer).

        Raises KeyError naming what is there when none or several match.
        """
        table = self.select(kind, **fields)
        if table.empty:
            raise KeyError(f"Store {str(self.path)!r} holds no complete {kind}"
                           + (f" matching {fields}." if fields else "."))
        if len(table) > 1:
            identity = [c for c in table.columns if c not in _query.STATUS_COLUMNS]
            differ = [c for c in identity if table[c].astype(str).nunique() > 1]
            raise KeyError(f"{len(table)} {kind} entries match {fields}; they differ in "
                           f"{differ}: add one of those fields to choose one.")
        return table["key"].iloc[0]

    # ------------------------------------------------------------------ arrays
    def create(self, kind: str, fields: Mapping, *, shape, dtype="float32", chunks=None,
               attrs: Mapping | None = None, compression_level: int = 1,
               codec: str = "zstd"):
        """Create (or reopen, for resuming) the array whose content key ``fields`` give.

        Returns ``(key, array, rows_done)``. An existing incomplete array with
        the same key is reopened as it is, so writing resumes at ``rows_done``.
        ``codec`` is ``"zstd"`` (at ``compression_level``; 0 stores raw chunks),
        ``"shuffle-lz4"`` (byte shuffle and lz4: fast, and a fifth smaller for
        float RDMs, which zstd alone hardly compresses), ``"bitshuffle-lz4"``
        (bit shuffle and lz4: as fast, and smaller still for RDMs and ranks) or
        ``"none"``.
        """
        import zarr

        self._check_writable()
        fields = dict(fields)
        key = content_key({"kind": kind, **fields})
        path = f"{kind}/{key}"
        existing = copy.deepcopy(self._load()["entries"].get(key))
        if existing is not None and tuple(existing["shape"]) == tuple(shape):
            try:
                array = zarr.open_array(self.path / path, mode="r+")
                return key, self._fast(existing, array), existing["rows_done"]
            except FileNotFoundError:  # zarr's NodeNotFoundError is one
                log.warning("Array %s listed in the manifest is missing; recreating it.", key)
        chunks = tuple(chunks) if chunks is not None else _default_chunks(shape, dtype)
        self._clear_blocks(key)  # markers of an earlier array under this key are stale
        array = self._root.create_array(
            path, shape=tuple(shape), chunks=chunks, dtype=dtype,
            compressors=_compressor(codec, compression_level, np.dtype(dtype).itemsize),
            config={"write_empty_chunks": True}, overwrite=True, fill_value=0,
        )

        def add(m):
            m["entries"][key] = {
                "kind": kind, "path": path, "fields": fields, "attrs": dict(attrs or {}),
                "shape": list(shape), "dtype": str(np.dtype(dtype)), "chunks": list(chunks),
                "rows_done": 0, "complete": False, "created": time.time(),
                "versions": versions(), "codec": codec if compression_level or codec != "zstd"
                else "none",
            }

        self._update(add)
        return key, self._fast(self._load()["entries"][key], array), 0

    def mark_progress(self, key: str, rows_done: int, *, complete: bool = False,
                      attrs: Mapping | None = None) -> None:
        """Record that the first ``rows_done`` rows of ``key`` are on disk."""
        self.mark_progress_many({key: rows_done}, complete={key: complete},
                                attrs={key: attrs} if attrs else None)

    def mark_progress_many(self, rows_done: Mapping[str, int], *,
                           complete: Mapping[str, bool] | None = None,
                           attrs: Mapping[str, Mapping] | None = None) -> None:
        """:meth:`mark_progress` for several arrays in one manifest write."""
        complete = complete or {}
        attrs = attrs or {}

        def set_progress(m):
            for key, rows in rows_done.items():
                e = m["entries"][key]
                e["rows_done"] = int(rows)
                e["complete"] = bool(complete.get(key, False))
                if attrs.get(key):
                    e["attrs"].update(attrs[key])
                if e["complete"]:
                    e["finished"] = time.time()

        self._update(set_progress)

    def write(self, kind: str, fields: Mapping, data, *, attrs: Mapping | None = None,
              chunks=None, compression_level: int = 1, codec: str = "zstd") -> str:
        """Write a whole array in one go (complete when this returns); return its key.

        ``compression_level`` and ``codec`` as in :meth:`create`.
        """
        data = np.asarray(data)
        key, array, _ = self.create(kind, fields, shape=data.shape, dtype=data.dtype,
                                    chunks=chunks, attrs=attrs,
                                    compression_level=compression_level, codec=codec)
        array[...] = data
        self.mark_progress(key, data.shape[0] if data.ndim else 1, complete=True)
        return key

    def array(self, key: str):
        """The Zarr array ``key`` opened read-only (read row tiles with slicing).

        An uncompressed array comes as a :class:`~deeprsa.store._raw.RawArray`,
        which reads its chunk files directly (memory speed).
        """
        import zarr

        entry = self.entry(key)
        if entry.get("codec") == "none" and len(entry["shape"]) <= 2:
            from ._raw import RawArray

            return RawArray(self.path / entry["path"], entry["shape"], entry["chunks"],
                            entry["dtype"])
        return zarr.open_array(self.path / entry["path"], mode="r")

    def _fast(self, entry, array):
        """``array``, or its raw chunk-file view when it is stored uncompressed (2-D or 1-D)."""
        if entry.get("codec") != "none" or array.ndim > 2:
            return array
        from ._raw import RawArray

        return RawArray(self.path / entry["path"], array.shape, array.chunks, array.dtype)

    def read(self, key: str, rows=None) -> np.ndarray:
        """Read array ``key`` (or a slice of its rows) into memory.

        Raises
        ------
        ValueError
            If the array is incomplete (an interrupted run): resume it first.
        """
        entry = self.entry(key)
        if not entry["complete"]:
            raise ValueError(
                f"Array {key} ({entry['fields'].get('model')}, {entry['fields'].get('layer')}) "
                f"is incomplete: {entry['rows_done']} of {entry['shape'][0]} rows. Re-run the "
                "same extraction to resume it.")
        arr = self.array(key)
        return arr[...] if rows is None else arr[rows]

    def delete(self, key: str) -> None:
        """Remove array ``key`` and its manifest record."""
        import shutil

        entry = self.entry(key)
        self._update(lambda m: m["entries"].pop(key))
        shutil.rmtree(self.path / entry["path"], ignore_errors=True)
        self._clear_blocks(key)

    # ------------------------------------------------------------------ blocks
    def mark_blocks_done(self, key: str, blocks, *, info: Mapping | None = None) -> None:
        """Record that ``blocks`` of array ``key`` are on disk, in any order.

        For writers that finish blocks out of order (shards of rows, tiles
        of an RDM): each block gets its own marker file,
        ``progress/<key>/<block>.done``, written atomically, so concurrent
        workers never rewrite the manifest. Write the block's data first,
        then mark it.

        Parameters
        ----------
        key : str
            The array, as returned by :meth:`create`.
        blocks : iterable of str
            Block names chosen by the writer, e.g. ``"0-64"`` or ``"2-5"``:
            letters, digits, ``-`` and ``_``.
        info : mapping, optional
            ``{block: JSON-serialisable value}`` kept with a block's marker
            and returned by :meth:`blocks_done`.

        Raises
        ------
        ValueError
            If a block name holds other characters (it names a file).

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> store = Store(tempfile.mkdtemp() + "/demo.zarr")
        >>> key, array, _ = store.create("rdms", {"name": "x"}, shape=(4, 4), chunks=(2, 2))
        >>> array[:2, :2] = 1.0
        >>> store.mark_blocks_done(key, ["0-0"], info={"0-0": [1]})
        >>> store.blocks_done(key)
        {'0-0': [1]}
        """
        self._check_writable()
        info = info or {}
        directory = self.path / "progress" / key
        directory.mkdir(parents=True, exist_ok=True)
        for block in blocks:
            block = str(block)
            if not block or not all(c.isalnum() or c in "-_" for c in block):
                raise ValueError(f"Block names may hold letters, digits, '-' and '_' only "
                                 f"(they name marker files); got {block!r}.")
            _atomic_write_text(directory / f"{block}.done", json.dumps(info.get(block)))

    def blocks_done(self, key: str) -> dict:
        """Blocks of array ``key`` recorded by :meth:`mark_blocks_done`.

        Returns
        -------
        dict
            ``{block: info}`` (``info`` is None when none was given); empty
            when no block is marked, also after :meth:`mark_complete`.
        """
        directory = self.path / "progress" / key
        if not directory.is_dir():
            return {}
        out = {}
        for path in directory.glob("*.done"):
            try:
                out[path.name[:-len(".done")]] = json.loads(path.read_text())
            except FileNotFoundError:  # removed by mark_complete meanwhile
                continue
        return dict(sorted(out.items()))

    def mark_complete(self, key: str, *, attrs: Mapping | None = None) -> None:
        """Finish array ``key`` written in blocks: complete, all rows done, markers removed.

        ``attrs`` are merged into the entry's attributes (e.g. facts gathered
        from the blocks' info).
        """
        entry = self.entry(key)
        self.mark_progress(key, entry["shape"][0] if entry["shape"] else 1, complete=True,
                           attrs=attrs)
        self._clear_blocks(key)

    def _clear_blocks(self, key: str) -> None:
        import shutil

        shutil.rmtree(self.path / "progress" / key, ignore_errors=True)

    # ------------------------------------------------------------------ activations
    def load_activations(self, model: str, layer: str, **fields):
        """Activations of ``layer`` of ``model`` and their stimulus ids.

        Returns
        -------
        X : ndarray of shape (n_stimuli, n_features)
        stimulus_ids : tuple of str
        """
        key = self.find("activations", model=model, layer=layer, **fields)
        entry = self.entry(key)
        return self.read(key), self.stimulus_ids(entry["fields"]["stimuli"])


def open_store(store, *, mode: str = "a") -> Store:
    """``store`` itself if it is a :class:`Store`, else the existing store at that path.

    Every stage that reads a store accepts a ``Store`` or a path through this
    function, so a missing store gives one clear error.

    Raises
    ------
    FileNotFoundError
        If the path holds no store (no manifest), saying what to run first.
    """
    if isinstance(store, Store):
        return store
    if not (Path(store) / MANIFEST).exists():
        return Store(store, mode="r")  # raises FileNotFoundError saying what to run
    return Store(store, mode=mode)


def _compressor(codec: str, level: int, itemsize: int):
    """The Zarr codec of a named compression (a table, not a chain of ifs)."""
    from zarr.codecs import BloscCodec, ZstdCodec

    makers = {
        "zstd": lambda: ZstdCodec(level=level) if level else None,
        "shuffle-lz4": lambda: BloscCodec(typesize=itemsize, cname="lz4", clevel=5,
                                          shuffle="shuffle"),
        "bitshuffle-lz4": lambda: BloscCodec(typesize=itemsize, cname="lz4", clevel=5,
                                             shuffle="bitshuffle"),
        "none": lambda: None,
    }
    if codec not in makers:
        raise ValueError(f"Unknown codec {codec!r}{suggest(codec, makers)}; one of "
                         f"{sorted(makers)}.")
    return makers[codec]()


def _default_chunks(shape, dtype, *, target_bytes=8 << 20, rows=None):
    """Row blocks of whole rows where they fit ``target_bytes``, else split columns too."""
    shape = tuple(int(s) for s in shape)
    if not shape:
        return ()
    item = np.dtype(dtype).itemsize
    row_bytes = item * int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else item
    n_rows = rows or max(1, min(shape[0], target_bytes // max(row_bytes, 1)))
    if len(shape) == 1:
        return (max(1, min(shape[0], n_rows)),)
    cols = shape[1]
    if n_rows * row_bytes > target_bytes:
        cols = max(1, min(shape[1], target_bytes // (n_rows * item)))
    return (max(1, n_rows), cols, *shape[2:])
