"""How the store's Zarr arrays are made: codecs (with checksums), chunks, groups, labels."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np

from .._validation import suggest
from ._labels import (
    coordinates,
    dimension_names,
    entry_group,
    value_name,
    write_coordinates,
    xarray_attrs,
)

CODECS = ("zstd", "shuffle-lz4", "bitshuffle-lz4", "none")


def compressors(codec: str, level: int, itemsize: int, *, checksum: bool = True) -> list:
    """The Zarr bytes-to-bytes codecs of a named compression, then the chunk checksum."""
    from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

    makers = {
        "zstd": lambda: [ZstdCodec(level=level)] if level else [],
        "shuffle-lz4": lambda: [BloscCodec(typesize=itemsize, cname="lz4", clevel=5,
                                           shuffle="shuffle")],
        "bitshuffle-lz4": lambda: [BloscCodec(typesize=itemsize, cname="lz4", clevel=5,
                                              shuffle="bitshuffle")],
        "none": lambda: [],
    }
    if codec not in makers:
        raise ValueError(f"Unknown codec {codec!r}{suggest(codec, makers)}; one of "
                         f"{sorted(makers)}.")
    return makers[codec]() + ([Crc32cCodec()] if checksum else [])


def default_chunks(shape, dtype, *, target_bytes=8 << 20, rows=None):
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


def make_entry_array(root, key, record, *, stimulus_ids, compression_level):
    """Create the entry's group (its value array and coordinates), overwriting a stale one.

    ``record`` is the manifest record (kind, fields, attrs, shape, dtype,
    chunks, codec); its ``path`` and ``group`` are set here. Returns the
    Zarr value array.
    """
    import zarr

    kind, fields = record["kind"], record["fields"]
    group_path = entry_group(kind, fields, key)
    record["group"] = group_path
    record["path"] = f"{group_path}/{value_name(kind)}"
    shutil.rmtree(Path(root) / group_path, ignore_errors=True)
    group = zarr.open_group(Path(root), mode="a").require_group(group_path)
    shape, dtype = tuple(record["shape"]), np.dtype(record["dtype"])
    codecs = compressors(record["codec"], compression_level, dtype.itemsize)
    array = group.create_array(
        value_name(kind), shape=shape, chunks=tuple(record["chunks"]), dtype=dtype,
        compressors=codecs, dimension_names=dimension_names(kind, len(shape)),
        config={"write_empty_chunks": True}, overwrite=True, fill_value=0,
        attributes=xarray_attrs(kind, fields, _public({**record, "key": key})))
    write_coordinates(group, coordinates(kind, shape, record.get("attrs"), stimulus_ids))
    return array


def update_record(root, record) -> None:
    """Refresh the record kept in the value array's attributes (e.g. once it is complete)."""
    import zarr

    with contextlib.suppress(FileNotFoundError, OSError):
        array = zarr.open_array(Path(root) / record["path"], mode="r+")
        array.update_attributes({"deeprsa": xarray_attrs(record["kind"], record["fields"],
                                                         _public(record))["deeprsa"]})


def _public(record) -> dict:
    return {k: v for k, v in record.items() if k not in ("rows_done",)}


def remove_partial_files(directory: Path) -> None:
    """Remove the temporary files a killed writer left in an array's folder."""
    for dirpath, _, files in os.walk(directory):
        for name in files:
            if name.endswith((".partial", ".tmp")):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, name))
