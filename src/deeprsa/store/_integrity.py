"""Integrity on read: every chunk is there, whole, and matches its checksum.

Arrays of store format 2 end their Zarr codec chain with ``crc32c``: each
chunk file carries the CRC-32C of its bytes, which Zarr (and any Zarr
reader) checks when it decodes the chunk. :class:`CheckedArray` wraps a
store array so that reading it also checks that every chunk it covers
exists (Zarr would silently give zeros for a missing one) and turns a
failed decode into an :class:`IntegrityError` naming the entry, the chunk
file and its rows, never a wrong number. Writes that fail (a full disk, an
I/O error) become a :class:`StoreWriteError` naming the entry and the bytes
it still needs.

:func:`verify` checks a whole entry chunk by chunk (``deeprsa store
check``, ``extract(..., verify=True)``): presence and the CRC of the stored
bytes, without decompressing; arrays written before checksums (format 1)
are decoded instead.
"""

from __future__ import annotations

import errno
import os
import shutil
from itertools import product
from pathlib import Path

import numpy as np

from ._errors import IntegrityError, StoreWriteError

__all__ = ["CheckedArray", "chunk_file", "verify", "write_error"]

CHECKSUM = "crc32c"
_FIX = ("`deeprsa store check {store}` lists every damaged entry; `deeprsa store repair "
        "{store}` keeps what is intact, and running the same command again recomputes the "
        "rest.")


def chunk_file(array_dir: Path, index) -> Path:
    """The file of chunk ``index`` of the Zarr v3 array at ``array_dir`` ('/'-separated keys)."""
    return Path(array_dir).joinpath("c", *map(str, index))


def n_chunks(shape, chunks) -> tuple:
    return tuple(-(-int(s) // int(c)) for s, c in zip(shape, chunks, strict=True))


def expected(index, layout: str | None) -> bool:
    """Whether chunk ``index`` is written: all are, except below an RDM's diagonal."""
    return not (layout == "upper" and len(index) == 2 and index[1] < index[0])


def rows_of(index, chunks, shape) -> tuple[int, int]:
    """Rows ``[start, stop)`` chunk ``index`` covers."""
    if not index:
        return 0, 1
    start = int(index[0]) * int(chunks[0])
    return start, min(int(shape[0]), start + int(chunks[0]))


def _chunk_ranges(index, shape, chunks):
    """Per axis, the range of chunk indices that ``index`` (ints, slices, ...) touches."""
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is Ellipsis for i in index):
        at = next(k for k, i in enumerate(index) if i is Ellipsis)
        fill = (slice(None),) * (len(shape) - len(index) + 1)
        index = index[:at] + fill + index[at + 1:]
    index = index + (slice(None),) * (len(shape) - len(index))
    ranges = []
    for i, n, c in zip(index, shape, chunks, strict=False):
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            k = int(i) + n if i < 0 else int(i)
            ranges.append(range(k // c, k // c + 1))
        elif isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step != 1 or stop <= start:
                ranges.append(range(-(-n // c)) if stop > start or step != 1 else range(0))
            else:
                ranges.append(range(start // c, -(-stop // c)))
        else:
            ranges.append(range(-(-n // c)))
    return ranges


class CheckedArray:
    """A store array whose reads check each chunk and whose write errors name the entry.

    Slicing reads as from the Zarr array; attributes not defined here come
    from it. ``label`` names the entry in messages.
    """

    def __init__(self, array, path, *, store, label: str, layout=None, rows_done=None):
        self.array = array
        self.path = Path(path)
        self.store, self.label, self.layout = store, label, layout
        self.shape, self.dtype = tuple(array.shape), array.dtype
        self.chunks, self.ndim = tuple(array.chunks), array.ndim

    def __repr__(self):
        return f"<CheckedArray {self.label} shape={self.shape} chunks={self.chunks}>"

    def __getattr__(self, name):
        return getattr(self.array, name)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        ranges = _chunk_ranges(index, self.shape, self.chunks) if self.ndim else []
        for chunk in product(*ranges):
            if expected(chunk, self.layout) and not chunk_file(self.path, chunk).exists():
                raise self._damaged(chunk, "is missing")
        try:
            return self.array[index]
        except Exception as err:
            for chunk in product(*ranges):
                if expected(chunk, self.layout):
                    self._decode(chunk)
            raise err

    def _decode(self, chunk):
        region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(chunk, self.chunks,
                                                                  strict=True))
        try:
            self.array[region]
        except Exception as err:
            what = ("fails its checksum (a changed or truncated file)" if "checksum" in str(err)
                    else f"cannot be decoded ({type(err).__name__}: {err}; a changed or "
                    "truncated file)")
            raise self._damaged(chunk, what) from None

    def _damaged(self, chunk, what) -> IntegrityError:
        return damaged(self.store, self.label, self.path, chunk, self.chunks, self.shape, what)

    def __setitem__(self, index, value):
        try:
            self.array[index] = value
        except OSError as err:
            start = _chunk_ranges(index, self.shape, self.chunks)[0].start * self.chunks[0] \
                if self.ndim else 0
            itemsize = np.dtype(self.dtype).itemsize
            row_bytes = itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
            raise write_error(err, self.store, self.label,
                              (self.shape[0] - start) * row_bytes if self.ndim else itemsize
                              ) from None


def damaged(store, label, path, chunk, chunks, shape, what) -> IntegrityError:
    """The error of a damaged chunk: the entry, the chunk file, its rows, the fix."""
    r0, r1 = rows_of(chunk, chunks, shape)
    rel = os.path.relpath(chunk_file(path, chunk), store)
    return IntegrityError(
        f"Store {str(store)!r}: {label} is damaged: chunk {rel} (rows {r0}-{r1 - 1}) {what}. "
        + _FIX.format(store=store))


def write_error(err: OSError, store, label: str, needed: int | None) -> StoreWriteError:
    """A failed write as one message: the store, the entry, the bytes needed, the fix."""
    if isinstance(err, StoreWriteError):
        return err
    try:
        free = shutil.disk_usage(store).free
    except OSError:
        free = None
    why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
           errno.EIO: "an input/output error (a failing disk or network file system)",
           errno.EROFS: "the file system is read-only",
           errno.EACCES: "permission denied"}.get(err.errno, err.strerror or str(err))
    need = ""
    if needed:
        need = f" It needs about {_size(needed)} more"
        need += f" ({_size(free)} free there)." if free is not None else "."
    error = StoreWriteError(
        f"Writing {label} into store {str(store)!r} failed: {why} ({err}).{need} "
        "Entries finished before stay complete and readable; this one is not marked "
        "complete. Free some space (or fix the disk) and run the same command again: it "
        "resumes where it stopped.")
    error.errno = err.errno  # the message stays as written (no "[Errno n]" in front)
    return error


def _size(n) -> str:
    n = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def verify(store_path, entry, *, label: str, open_array=None) -> list[tuple[int, str]]:
    """Every problem of one entry's data: missing, truncated or corrupt chunks, shape.

    Returns ``(first damaged row, message)`` pairs, empty when the entry is
    intact. With a checksum, the stored bytes of each chunk are checked
    against it; without (format 1), each chunk is decoded through
    ``open_array()``.
    """
    import json

    path = Path(store_path) / entry["path"]
    meta_file = path / "zarr.json"
    try:
        meta = json.loads(meta_file.read_text())
    except FileNotFoundError:
        return [(0, f"{label}: its array {entry['path']} is missing.")]
    except ValueError as err:
        return [(0, f"{label}: {entry['path']}/zarr.json is damaged ({err}).")]
    shape, chunks = list(meta.get("shape", [])), _grid_chunks(meta)
    if shape != list(entry["shape"]):
        return [(0, f"{label}: the array has shape {tuple(shape)} but the manifest says "
                    f"{tuple(entry['shape'])}.")]
    layout = entry.get("attrs", {}).get("layout")
    done = entry["rows_done"] if not entry["complete"] else shape[0] if shape else 1
    array = None
    problems = []
    for chunk in product(*(range(n) for n in n_chunks(shape, chunks))):
        if not expected(chunk, layout) or (chunk and chunk[0] * chunks[0] >= done):
            continue
        file = chunk_file(path, chunk)
        what = _check_file(file, entry, chunks, np.dtype(entry["dtype"]).itemsize)
        if what is None and not entry.get("checksum"):
            array = array if array is not None else open_array()
            what = _decode_error(array, chunk, chunks)
        if what is not None:
            r0, r1 = rows_of(chunk, chunks, shape)
            problems.append((r0, f"{label}: chunk {os.path.relpath(file, store_path)} (rows "
                                 f"{r0}-{r1 - 1}) {what}."))
    return problems


def _grid_chunks(meta) -> list:
    grid = meta.get("chunk_grid", {}).get("configuration", {})
    return list(grid.get("chunk_shape", meta.get("shape", [])))


def _check_file(file: Path, entry, chunks, itemsize) -> str | None:
    try:
        data = np.fromfile(file, dtype=np.uint8)
    except FileNotFoundError:
        return "is missing"
    if entry.get("codec") == "none":
        raw = int(np.prod(chunks, dtype=np.int64)) * itemsize
        size = raw + (4 if entry.get("checksum") else 0)
        if len(data) != size:
            return f"is truncated ({len(data)} of {size} bytes)"
    if entry.get("checksum") == CHECKSUM:
        import google_crc32c

        if len(data) < 4 or google_crc32c.value(data[:-4]) != int(data[-4:].view("<u4")[0]):
            return "fails its checksum (a changed or truncated file)"
    return None


def _decode_error(array, chunk, chunks) -> str | None:
    region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(chunk, chunks, strict=True))
    try:
        array[region]
    except Exception as err:
        return f"cannot be decoded ({type(err).__name__}: {err})"
    return None
