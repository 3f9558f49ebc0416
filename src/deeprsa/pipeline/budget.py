"""Fitting a run into a disk budget: layers grouped into forward passes, sizes and time.

With ``keep = "rdms"`` a layer's activations are deleted once its RDMs are
computed, so only one pass's activations are on disk at a time: the planner
groups each model's layers, in network order, into passes whose activations
fit ``max_disk`` next to everything the run keeps (all its RDMs, and the
activations the analyses still need). ``keep = "activations"`` keeps
everything, so the whole run must fit. A layer that does not fit even alone
is an error that names it, its size and what would make it fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BudgetError", "Pass", "format_size", "pack_passes", "parse_size"]

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(value) -> int:
    """Bytes from an int or a string: ``"4GB"``, ``"500 MB"``, ``"1.5 GiB"``, ``"2e9"``.

    Examples
    --------
    >>> parse_size("4GB"), parse_size("1.5 GiB"), parse_size(1000)
    (4000000000, 1610612736, 1000)
    """
    if isinstance(value, bool):
        raise ValueError(f"a size is a number of bytes or a string such as '4GB', got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(f"a size is a number of bytes or a string such as '4GB', "
                             f"'500 MB' or '1.5 GiB'; got {value!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"a size must be positive, got {value!r}")
    return size


def format_size(n_bytes: float) -> str:
    """``3.2 GB``: decimal units, as disks are sold."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return ""  # pragma: no cover


class BudgetError(ValueError):
    """A budget cannot hold what the run needs; the message says what would make it fit."""


@dataclass(frozen=True)
class Pass:
    """One forward pass of one model: the layers it extracts and their bytes on disk."""

    model: str
    layers: tuple
    n_bytes: int


def pack_passes(model: str, sizes: dict, *, available: int, keep: str,
                describe=None) -> list[Pass]:
    """Group ``sizes`` (layer -> bytes, in network order) into passes that fit ``available``.

    ``keep="activations"`` puts every layer in one pass (they all stay).
    ``describe(layer)`` explains a layer's size in the error message.

    Raises
    ------
    BudgetError
        If one layer alone needs more than ``available``.

    Examples
    --------
    >>> [p.layers for p in pack_passes("net", {"a": 4, "b": 3, "c": 2, "d": 5},
    ...                                available=7, keep="rdms")]
    [('a', 'b'), ('c', 'd')]
    """
    biggest = max(sizes, key=sizes.get, default=None)
    if biggest is not None and sizes[biggest] > available:
        detail = describe(biggest) if describe else ""
        raise BudgetError(
            f"Layer {biggest!r} of model {model!r} needs {format_size(sizes[biggest])} of "
            f"activations{detail}, more than the budget leaves for one pass "
            f"({format_size(max(available, 0))}). Make it fit with a reduction (e.g. "
            f"'spatial_mean': one value per channel), a sketch ([extract] sketch = \"auto\", "
            f"or the reduction 'sketch:2048'), dtype = \"float16\" (half the bytes), or a "
            "larger max_disk.")
    if keep == "activations":
        return [Pass(model, tuple(sizes), sum(sizes.values()))] if sizes else []
    passes, current, used = [], [], 0
    for layer, size in sizes.items():
        if current and used + size > available:
            passes.append(Pass(model, tuple(current), used))
            current, used = [], 0
        current.append(layer)
        used += size
    if current:
        passes.append(Pass(model, tuple(current), used))
    return passes
