"""The store: a Zarr v3 directory of labelled arrays plus a JSON manifest. Content-keyed.

Layout of a store directory::

    store/
      zarr.json              Zarr v3 root group
      manifest.json          what every array is: a snapshot ...
      manifest.journal       ... and one line per change since (store/_manifest.py)
      activations/<model>/<layer>/<key>/   one Zarr group per entry: the values
      rdms/<model>/<layer>/<key>/          (named dimensions, labels as attributes)
      comparisons/<name>/<key>/            and their coordinates (store/_labels.py)
      stimuli/<hash>.json    the ordered stimulus ids of each stimulus set
      progress/<key>/        one marker file per finished block of an array
                             written out of order (by several workers)
      locks/<key>.lock       held while a process writes that array

Every array is named by a *content key*: a hash of everything that determines
its values (model source and weights hash, layer, reduction, preprocessing,
stimulus ids and content hash, ...). Asking for the same inputs again finds
the same key, so finished arrays are skipped; changed stimuli or weights give
a new key and never reuse stale numbers. Progress is recorded per block of
rows after the rows are on disk, so a run killed at any point resumes from
the last complete block. One process writes an array at a time
(store/_locks.py): a second one asked for it waits, then skips it. No pickle
anywhere: arrays are Zarr, metadata JSON. Every chunk carries a checksum
that is verified when it is read (store/_integrity.py).

Workers that write blocks of one array in any order (a Dask cluster, see
:mod:`deeprsa.pipeline`) each write disjoint, chunk-aligned regions and then
record a block marker (:meth:`Store.mark_blocks_done`), a small file of its
own, so no worker rewrites the manifest per block; :meth:`Store.mark_complete`
finishes the array once every block is there.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._validation import suggest
from .._version import __version__
from . import _locks, _query
from ._arrays import CODECS, default_chunks, make_entry_array, remove_partial_files, update_record
from ._blocks import BlockMarkers, EntryViews
from ._errors import (
    IntegrityError,
    ManifestError,
    ReadOnlyStoreError,
    describe_entry,
)
from ._integrity import CHECKSUM, CheckedArray, write_error
from ._keys import _atomic_write_text, content_key, versions
from ._manifest import FORMAT_VERSION, SNAPSHOT, Manifest

__all__ = ["Store", "open_store"]

log = logging.getLogger(__name__)
MANIFEST = SNAPSHOT


class Store(BlockMarkers, EntryViews):
    """A directory of Zarr arrays described by a JSON manifest.

    Parameters
    ----------
    path : str or Path
        The store directory; created when missing.
    mode : {"a", "r"}, default="a"
        ``"r"`` refuses every write. A store whose directory cannot be
        written (a read-only share, another user's files) opens read-only
        even with ``"a"``: everything reads, computations that would be saved
        in it are returned without saving, and a write is one
        :class:`~deeprsa.store.ReadOnlyStoreError`.

    Raises
    ------
    FileNotFoundError
        With ``mode="r"``, if there is no store at ``path``.
    StoreFormatError
        If the store was written by a newer deeprsa (its format number is
        higher), or the directory is a Zarr store that deeprsa did not write.
    ManifestError
        If the manifest is damaged (truncated, hand-edited): run ``deeprsa
        store check`` and ``deeprsa store repair``.

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
        if mode not in ("a", "r"):
            raise ValueError(f"mode must be 'a' or 'r', got {mode!r}.")
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"A store is a directory: pass its path (str or Path), got "
                            f"{type(path).__name__}.")
        self.path = Path(path)
        self.mode = mode
        self.read_only_reason = "it was opened read-only (mode='r')" if mode == "r" else None
        self._manifest = Manifest(self.path)
        self._ids: dict = {}
        if not (self.path / MANIFEST).exists():
            self._manifest.new_store(mode)
        reason = self._manifest.unwritable_reason() if self.mode == "a" else None
        if reason is not None:
            log.info("Store %s is read-only (%s): results are computed, not saved.",
                     self.path, reason)
            self.mode, self.read_only_reason = "r", reason
        manifest = self._load()
        if self.mode == "a":
            self._manifest.remove_stale_temporary_files()
        made_with = manifest.get("versions", {}).get("deeprsa")
        if made_with and made_with != __version__:
            warnings.warn(
                f"Store {str(self.path)!r} was written by deeprsa {made_with}; this is "
                f"deeprsa {__version__}. Arrays are reused only where their content keys match.",
                UserWarning, stacklevel=2)

    def __repr__(self):
        return f"<Store {str(self.path)!r}: {len(self._load()['entries'])} arrays>"

    # ------------------------------------------------------------------ manifest
    def _locked(self):
        """Exclusive lock across processes for read-modify-write of the manifest."""
        return self._manifest.locked()

    def _load(self) -> dict:
        """The manifest as it is on disk now (do not modify the result).

        Two ``stat`` calls when nothing changed; otherwise only what changed
        is parsed (store/_manifest.py).
        """
        return self._manifest.load()

    def _rows(self, kind=None) -> list[dict]:
        """Flat rows of the entries of ``kind`` (see :meth:`select`), in creation order."""
        self._load()
        return self._manifest.index.of_kind(kind)

    def _commit(self, change, *, key=None) -> dict:
        """Change the manifest under the lock (``change(entries) -> (puts, drops)``)."""
        self._check_writable()
        try:
            return self._manifest.commit(change)
        except OSError as err:
            label = describe_entry(key, self._load()["entries"].get(key)) if key else \
                "the manifest"
            raise write_error(err, self.path, label, None) from None

    def _check_writable(self):
        if self.mode == "r":
            raise ReadOnlyStoreError(
                f"Store {str(self.path)!r} is read-only ({self.read_only_reason}); nothing "
                "can be written into it. Read from it and write results elsewhere (a table "
                "path, another --out), or copy the store somewhere writable.")

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
            try:
                path.parent.mkdir(exist_ok=True)
                _atomic_write_text(path, json.dumps([str(s) for s in stimulus_ids]))
            except OSError as err:
                raise write_error(err, self.path, f"the ids of stimulus set {content_hash}",
                                  None) from None
        return content_hash

    def stimulus_ids(self, stimuli: str) -> tuple[str, ...]:
        """The ordered stimulus ids recorded under content hash ``stimuli``.

        The file is named by the ids' content hash and never changes, so it is
        read once per store object.
        """
        if stimuli in self._ids:
            return self._ids[stimuli]
        path = self.path / "stimuli" / f"{stimuli}.json"
        if not path.exists():
            raise KeyError(f"No stimulus set {stimuli!r} in store {str(self.path)!r}.")
        try:
            ids = json.loads(path.read_text())
            if not isinstance(ids, list):
                raise ValueError("not a list of ids")
        except ValueError as err:
            raise ManifestError(
                f"Store {str(self.path)!r}: the stimulus ids {path.name} are damaged ({err}). "
                f"`deeprsa store check {self.path}` lists what depends on them.") from None
        self._ids[stimuli] = tuple(str(i) for i in ids)
        return self._ids[stimuli]

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
        rows = _query.select_rows(self._candidates(kind, filters.get("model")), kind,
                                  complete=complete, filters=filters, strict=strict,
                                  where=repr(str(self.path)))
        return _query.frame(rows)

    def _candidates(self, kind, model) -> list[dict]:
        """Rows a query can match: those of its models when it names them (the index)."""
        self._load()
        models = [model] if isinstance(model, str) else model
        if kind is not None and isinstance(models, (list, tuple)) and models \
                and all(isinstance(m, str) for m in models):
            rows = self._manifest.index.of_models(kind, models)
            if rows is not None:
                return rows
        return self._manifest.index.of_kind(kind)

    def entries(self, kind: str | None = None, **filters):
        """Table of entries (one row per array, complete or not), filtered by field values.

        :meth:`select` with ``complete=None``: columns include ``key``,
        ``kind``, ``complete``, ``rows_done``, ``shape``, ``created`` (a Unix
        time; rows are sorted by it, so layers come in extraction order) and
        every identity field (``model``, ``layer``, ...). A filter value that
        no entry has gives an empty table; an unknown field a KeyError.
        """
        rows = self._rows(kind)
        if not rows:
            return _query.frame([])
        for column in filters:
            if not any(column in r for r in rows):
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
        ``"none"``. Every chunk also gets a CRC-32C checksum.

        This process holds the array's lock from here until it is complete
        (:meth:`mark_progress` with ``complete=True``, :meth:`mark_complete`),
        deleted or :meth:`release`-d; another process creating the same array
        meanwhile waits, then finds it complete (``rows_done`` = all rows).
        """
        self._check_writable()
        if codec not in CODECS:
            raise ValueError(f"Unknown codec {codec!r}{suggest(codec, CODECS)}; one of "
                             f"{sorted(CODECS)}.")
        fields = dict(fields)
        key = content_key({"kind": kind, **fields})
        _locks.acquire(self.path, key, what=describe_entry(key, {"kind": kind, "fields": fields}))
        try:
            return self._create(key, kind, fields, shape=tuple(shape), dtype=dtype,
                                chunks=chunks, attrs=attrs, compression_level=compression_level,
                                codec=codec)
        except BaseException:
            _locks.release(self.path, key)
            raise

    def _create(self, key, kind, fields, *, shape, dtype, chunks, attrs, compression_level,
                codec):
        existing = copy.deepcopy(self._load()["entries"].get(key))  # read under the lock
        if existing is not None and tuple(existing["shape"]) == shape:
            try:
                array = self._open(key, existing, writable=True)
            except FileNotFoundError:  # zarr's NodeNotFoundError is one
                log.warning("Array %s listed in the manifest is missing; recreating it.", key)
            else:
                if existing["complete"]:
                    _locks.release(self.path, key)  # nothing to write
                else:
                    remove_partial_files(self.path / existing["path"])
                return key, array, existing["rows_done"]
        chunks = tuple(chunks) if chunks is not None else default_chunks(shape, dtype)
        self._clear_blocks(key)  # markers of an earlier array under this key are stale
        record = {
            "kind": kind, "fields": fields, "attrs": dict(attrs or {}), "shape": list(shape),
            "dtype": str(np.dtype(dtype)), "chunks": list(chunks), "rows_done": 0,
            "complete": False, "created": time.time(), "versions": versions(),
            "codec": codec if compression_level or codec != "zstd" else "none",
            "checksum": CHECKSUM, "format": FORMAT_VERSION}
        ids = self._ids_if_recorded(fields.get("stimuli"))
        try:
            make_entry_array(self.path, key, record, stimulus_ids=ids,
                             compression_level=compression_level)
        except OSError as err:
            nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            raise write_error(err, self.path, describe_entry(key, record), nbytes) from None
        try:
            self._commit(lambda entries: ({key: record}, []), key=key)
        except BaseException:
            _remove_files(self.path, record)  # not in the manifest: no orphan array stays
            raise
        if existing is not None and existing.get("path") != record["path"]:
            _remove_files(self.path, existing)
        return key, self._open(key, record, writable=True), 0

    def _ids_if_recorded(self, stimuli):
        if not isinstance(stimuli, str):
            return None
        try:
            return self.stimulus_ids(stimuli)
        except (KeyError, ManifestError):
            return None

    def claim(self, key: str) -> None:
        """Take the lock for writing array ``key``, waiting while another process writes it.

        Check :meth:`has` afterwards: the other process may have finished it.
        Released by completing, deleting or :meth:`release`.
        """
        self._check_writable()
        _locks.acquire(self.path, key, what=describe_entry(key, self._load()["entries"].get(key)))

    def release(self, *keys: str) -> None:
        """Give up this process's lock on arrays ``keys`` (after a failed write)."""
        for key in keys:
            _locks.release(self.path, key)

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

        def set_progress(entries):
            puts = {}
            for key, rows in rows_done.items():
                if key not in entries:
                    raise KeyError(f"No array {key!r} in store {str(self.path)!r} (deleted "
                                   "while it was written?).")
                e = {**entries[key], "attrs": dict(entries[key]["attrs"])}
                e["rows_done"] = int(rows)
                e["complete"] = bool(complete.get(key, False))
                if attrs.get(key):
                    e["attrs"].update(attrs[key])
                if e["complete"]:
                    e["finished"] = time.time()
                puts[key] = e
            return puts, []

        puts = self._commit(set_progress, key=next(iter(rows_done), None))
        for key, entry in puts.items():
            if entry["complete"]:
                update_record(self.path, {**entry, "key": key})
                _locks.release(self.path, key)

    def write(self, kind: str, fields: Mapping, data, *, attrs: Mapping | None = None,
              chunks=None, compression_level: int = 1, codec: str = "zstd") -> str:
        """Write a whole array in one go (complete when this returns); return its key.

        ``compression_level`` and ``codec`` as in :meth:`create`.
        """
        data = np.asarray(data)
        key, array, _ = self.create(kind, fields, shape=data.shape, dtype=data.dtype,
                                    chunks=chunks, attrs=attrs,
                                    compression_level=compression_level, codec=codec)
        if self.has(key):
            return key  # another process wrote it while this one waited for its lock
        try:
            array[...] = data
            self.mark_progress(key, data.shape[0] if data.ndim else 1, complete=True)
        finally:
            _locks.release(self.path, key)
        return key

    def array(self, key: str):
        """Array ``key`` opened read-only (read row tiles with slicing), its chunks checked.

        Reading a missing, truncated or changed chunk raises an
        :class:`~deeprsa.store.IntegrityError` naming the entry, the chunk
        and its rows. An uncompressed array comes as a
        :class:`~deeprsa.store._raw.RawArray`, which reads its chunk files
        directly (memory speed).
        """
        entry = self.entry(key)
        try:
            return self._open(key, entry, writable=False)
        except FileNotFoundError:
            from ._integrity import _FIX

            raise IntegrityError(
                f"Store {str(self.path)!r}: {describe_entry(key, entry)} is damaged: its "
                f"array folder {entry['path']} is missing. " + _FIX.format(store=self.path)
            ) from None

    def writable(self, key: str):
        """Array ``key`` opened for writing (a worker's disjoint blocks); no lock is taken."""
        self._check_writable()
        return self._open(key, self.entry(key), writable=True)

    def _open(self, key, entry, *, writable):
        import zarr

        from ._raw import RawArray

        label = describe_entry(key, entry)
        path = self.path / entry["path"]
        if entry.get("codec") == "none" and 1 <= len(entry["shape"]) <= 2:
            if not (path / "zarr.json").exists():
                raise FileNotFoundError(path)
            return RawArray(path, entry["shape"], entry["chunks"], entry["dtype"],
                            checksum=entry.get("checksum") == CHECKSUM, store=self.path,
                            label=label)
        array = zarr.open_array(path, mode="r+" if writable else "r")
        return CheckedArray(array, path, store=self.path, label=label,
                            layout=entry.get("attrs", {}).get("layout"))

    def read(self, key: str, rows=None) -> np.ndarray:
        """Read array ``key`` (or a slice of its rows) into memory, every chunk verified.

        Raises
        ------
        ValueError
            If the array is incomplete (an interrupted run): resume it first.
        IntegrityError
            If a chunk it covers is missing, truncated or fails its checksum.
        """
        entry = self.entry(key)
        if not entry["complete"]:
            raise ValueError(
                f"Array {key} ({entry['fields'].get('model')}, {entry['fields'].get('layer')}) "
                f"is incomplete: {entry['rows_done']} of {entry['shape'][0]} rows. Re-run the "
                "same extraction to resume it.")
        arr = self.array(key)
        return np.asarray(arr[...] if rows is None else arr[rows])

    def delete(self, key: str) -> None:
        """Remove array ``key`` and its manifest record."""
        entry = self.entry(key)
        self._commit(lambda entries: ({}, [key]), key=key)
        _remove_files(self.path, entry)
        self._clear_blocks(key)
        _locks.release(self.path, key)

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
    if not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store must be a deeprsa Store or the path of one, got "
                        f"{type(store).__name__}.")
    if not (Path(store) / MANIFEST).exists():
        return Store(store, mode="r")  # raises FileNotFoundError saying what to run
    return Store(store, mode=mode)


def _remove_files(root: Path, entry) -> None:
    """Remove an entry's folder (its group, or the bare array of format 1)."""
    import shutil

    shutil.rmtree(Path(root) / entry.get("group", entry["path"]), ignore_errors=True)
