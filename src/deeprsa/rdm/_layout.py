"""How an RDM sits in the store: its upper triangle, in square tiles, compressed.

An RDM is symmetric with a zero diagonal, so the store keeps only the tiles at
and above the diagonal of its ``(n, n)`` array (``chunks=(tile, tile)``): the
tiles below are never written, take no disk, and read as zeros. The entry's
attribute ``layout = "upper"`` says so; :func:`read_matrix` mirrors the upper
triangle back into the full matrix. A 10,000-stimulus float32 RDM takes about
150 MB instead of 400 MB (half the tiles, then byte-shuffle + lz4). Arrays
written before this layout (no attribute) hold the full matrix and read as
they are.
"""

from __future__ import annotations

import numpy as np

__all__ = ["UPPER", "RDM_CODEC", "read_matrix", "write_upper", "write_upper_rows"]

UPPER = "upper"
RDM_CODEC = "bitshuffle-lz4"


def write_upper_rows(array, D, i0: int, i1: int) -> None:
    """Write rows ``i0:i1`` of ``D`` from column ``i0`` on (their upper tiles) into ``array``."""
    array[i0:i1, i0:] = D[i0:i1, i0:]


def write_upper(array, D) -> None:
    """Write the tiles of ``D`` at and above the diagonal into ``array`` (chunked by tiles)."""
    tile = int(array.chunks[0])
    for i0 in range(0, len(D), tile):
        write_upper_rows(array, D, i0, min(len(D), i0 + tile))


def read_matrix(store, key: str, entry=None) -> np.ndarray:
    """The full square RDM ``key`` from the store (mirrored from its upper tiles)."""
    entry = store.entry(key) if entry is None else entry
    matrix = np.ascontiguousarray(store.read(key))
    if entry["attrs"].get("layout") == UPPER:
        lower = np.tril_indices(len(matrix), k=-1)
        matrix[lower] = matrix.T[lower]
    return matrix
