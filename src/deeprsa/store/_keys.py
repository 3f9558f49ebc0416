"""Content keys, library versions and atomic text writes: what every store file relies on."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .._version import __version__


def versions() -> dict[str, str]:
    """Versions of deeprsa and the libraries that shape its numbers (no heavy imports)."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:  # looked up once per process (importlib.metadata is slow)
    from importlib.metadata import PackageNotFoundError, version

    out = {"deeprsa": __version__}
    for package in ("numpy", "zarr", "torch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover - all are hard dependencies
            pass
    return out


def content_key(fields: Mapping) -> str:
    """Hash of ``fields`` as canonical JSON (sorted keys): 20 hex characters.

    Examples
    --------
    >>> content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    True
    """
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
