"""Direct chunk-file access to uncompressed Zarr arrays: the fast path for passing activations.

An uncompressed Zarr v3 array (``codec="none"``) keeps each chunk as a file of
its raw little-endian bytes, full size even at the edges, at
``<array>/c/<i>/<j>``. Zarr's own codec pipeline reads and writes such files
at a few hundred MB/s; reading and writing them directly with numpy runs at
memory speed from the page cache. The files stay valid Zarr: any Zarr reader
opens the array. :class:`RawArray` is used for the activations of a pass that
are deleted once their RDMs are computed (``keep = "rdms"``).

In store format 2 each chunk file ends with the CRC-32C of its bytes (Zarr's
``crc32c`` codec), checked on every read (at memory speed too): a missing,
truncated or changed chunk is an :class:`~deeprsa.store.IntegrityError`
naming the entry, the chunk and its rows; a failed write a
:class:`~deeprsa.store.StoreWriteError`.
"""

from __future__ import annotations

import contextlib
import os
from itertools import product
from pathlib import Path

import numpy as np

__all__ = ["RawArray"]


class RawArray:
    """An uncompressed 1-D or 2-D Zarr v3 array read and written chunk file by chunk file.

    Supports the slicing the engine uses: ``array[rows]``, ``array[rows, cols]``
    with step-1 slices (or ``...``) to read, and ``array[r0:r1] = block`` to
    write whole rows starting at a chunk boundary.
    """

    def __init__(self, path, shape, chunks, dtype, *, checksum=False, store=None, label=None):
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.chunks = tuple(int(c) for c in chunks)
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.ndim = len(self.shape)
        self.checksum = bool(checksum)
        self.store = Path(store) if store is not None else self.path.parent
        self.label = label or f"array {self.path.name}"
        self._chunk_bytes = int(np.prod(self.chunks, dtype=np.int64)) * self.dtype.itemsize

    def __repr__(self):
        return f"<RawArray {str(self.path)!r} shape={self.shape} chunks={self.chunks}>"

    def _chunk_file(self, index) -> Path:
        return self.path.joinpath("c", *map(str, index))

    def _bounds(self, index):
        if index is Ellipsis:
            index = ()
        if not isinstance(index, tuple):
            index = (index,)
        index = tuple(i for i in index if i is not Ellipsis)
        index += (slice(None),) * (self.ndim - len(index))
        bounds, squeeze = [], []
        for axis, (s, n) in enumerate(zip(index, self.shape, strict=True)):
            if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
                s = int(s) + n if s < 0 else int(s)
                s, _ = slice(s, s + 1), squeeze.append(axis)
            if not isinstance(s, slice) or s.step not in (None, 1):
                raise IndexError(f"RawArray reads step-1 slices and ints only, got {s!r}")
            start, stop, _ = s.indices(n)
            bounds.append((start, max(start, stop)))
        self._squeeze = tuple(squeeze)
        return bounds

    def __getitem__(self, index):
        out = self._read(self._bounds(index))
        return out.squeeze(self._squeeze) if self._squeeze else out

    def _read(self, bounds):
        out = np.empty([b - a for a, b in bounds], dtype=self.dtype)
        ranges = [range(a // c, -(-b // c)) for (a, b), c in zip(bounds, self.chunks,
                                                                   strict=True)]
        for chunk in product(*ranges):
            data = self._chunk(chunk)
            source, target = [], []
            for k, ((a, b), c) in enumerate(zip(bounds, self.chunks, strict=True)):
                lo, hi = max(a, chunk[k] * c), min(b, (chunk[k] + 1) * c)
                source.append(slice(lo - chunk[k] * c, hi - chunk[k] * c))
                target.append(slice(lo - a, hi - a))
            out[tuple(target)] = data[tuple(source)]
        return out

    def _chunk(self, chunk):
        """One chunk's values, its size and checksum checked."""
        from ._integrity import damaged

        def fail(what):
            return damaged(self.store, self.label, self.path, chunk, self.chunks, self.shape,
                           what)

        try:
            data = np.fromfile(self._chunk_file(chunk), dtype=np.uint8)
        except FileNotFoundError:
            raise fail("is missing") from None
        size = self._chunk_bytes + (4 if self.checksum else 0)
        if len(data) != size:
            raise fail(f"is truncated ({len(data)} of {size} bytes)")
        if self.checksum:
            import google_crc32c

            if google_crc32c.value(data[:-4]) != int(data[-4:].view("<u4")[0]):
                raise fail("fails its checksum (a changed file)")
        return data[:self._chunk_bytes].view(self.dtype).reshape(self.chunks)

    def __setitem__(self, index, value):
        (r0, r1), *rest = self._bounds(index)
        if r0 % self.chunks[0] or any(b - a != n for (a, b), n in zip(rest, self.shape[1:],
                                                                       strict=True)):
            raise IndexError("RawArray writes whole rows from a chunk boundary; got "
                             f"{index!r} for chunks {self.chunks}")
        value = np.asarray(value, dtype=self.dtype).reshape((r1 - r0,) + self.shape[1:])
        rows = self.chunks[0]
        for i in range(r0 // rows, -(-r1 // rows)):
            block = value[i * rows - r0:(i + 1) * rows - r0]
            if len(block) < rows and (i + 1) * rows < self.shape[0] and r1 < self.shape[0]:
                raise IndexError("RawArray writes whole chunks of rows (or the last rows)")
            for j in range(-(-self.shape[1] // self.chunks[1]) if self.ndim > 1 else 1):
                tile = np.zeros(self.chunks, dtype=self.dtype)
                if self.ndim > 1:
                    part = block[:, j * self.chunks[1]:(j + 1) * self.chunks[1]]
                    tile[:part.shape[0], :part.shape[1]] = part
                    self._write((i, j), tile)
                else:
                    tile[:len(block)] = block
                    self._write((i,), tile)

    def _write(self, chunk, tile):
        try:
            _write_atomically(self._chunk_file(chunk), tile, self.checksum)
        except OSError as err:
            from ._integrity import write_error

            row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
            left = (self.shape[0] - chunk[0] * self.chunks[0]) * row_bytes
            raise write_error(err, self.store, self.label, left) from None


def _write_atomically(path: Path, tile: np.ndarray, checksum: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(tile.data)
            if checksum:
                import google_crc32c

                fh.write(np.array([google_crc32c.value(tile)], dtype="<u4").tobytes())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
