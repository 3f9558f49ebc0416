"""What can go wrong with a store, as exception types that say what happened and what to do.

Every error names the store and, where there is one, the entry (its kind,
model, layer and key), and ends with the fix. The command line prints any
:class:`StoreError` as one line, without a traceback
(:mod:`deeprsa.cli._common`). docs/reliability.md lists each fault with the
error it raises.
"""

from __future__ import annotations

__all__ = ["IntegrityError", "ManifestError", "ReadOnlyStoreError", "StoreError",
           "StoreFormatError", "StoreWriteError", "describe_entry"]


class StoreError(Exception):
    """Base class of the store's errors (each message names the store and the fix)."""


class StoreFormatError(StoreError, ValueError):
    """The directory is not a deeprsa store, or one written in a newer format."""


class ManifestError(StoreError, ValueError):
    """The manifest (``manifest.json`` or its journal) cannot be read: truncated or edited."""


class IntegrityError(StoreError, ValueError):
    """A chunk of an array is missing, truncated or fails its checksum."""


class StoreWriteError(StoreError, OSError):
    """A write into the store failed (the disk is full, an I/O error, no permission)."""


class ReadOnlyStoreError(StoreError, PermissionError):
    """A write was asked of a store opened read-only or on a read-only file system."""


def describe_entry(key: str, entry) -> str:
    """``"activations of zoo:mlp_s0 layer 'fc1' (key 0a1b...)"``: an entry, for messages."""
    if entry is None:
        return f"entry {key}"
    fields = entry.get("fields", {})
    what = {"activations": "activations", "rdms": "RDM", "comparisons": "comparison",
            "prepared": "prepared RDM vector", "calibrations": "sketch calibration"}.get(
        entry.get("kind"), str(entry.get("kind", "entry")))
    parts = [what]
    if fields.get("model") is not None:
        parts.append(f"of {fields['model']}")
    if fields.get("layer") is not None:
        parts.append(f"layer {fields['layer']!r}")
    if fields.get("measure") is not None:
        parts.append(f"({fields['measure']})")
    if entry.get("kind") == "comparisons" and fields.get("method") is not None:
        parts.append(f"by {fields['method']}")
    return " ".join(parts) + f" (key {key})"
