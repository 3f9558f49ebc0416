"""``deeprsa store check`` and ``deeprsa store repair``: find damage, keep what is intact.

:func:`check_store` reads the manifest and every entry's chunks (their
presence and checksums), the stimulus ids, and what killed writers left
behind, and reports each problem naming the entry. :func:`repair_store`
rebuilds the manifest from what the arrays themselves record (each value
array keeps its manifest record in its attributes, store/_labels.py): an
intact entry is kept as it is; activations or an RDM with damaged chunks are
kept up to their first damaged row, so the same command as before resumes
there; any other damaged entry, and one whose array disagrees with its
record, is dropped (listed). Temporary files and stale locks are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import StoreError, describe_entry
from ._integrity import verify
from ._manifest import JOURNAL, SNAPSHOT, Manifest

__all__ = ["CheckReport", "check_store", "repair_store"]

_RESUMABLE = ("activations", "rdms")  # written row tile by row tile: resumable at a row
_SKIP = {"c", "stimuli", "progress", "locks"}


@dataclass
class CheckReport:
    """What :func:`check_store` found or :func:`repair_store` did; ``problems`` empty when sound."""

    store: str
    n_entries: int = 0
    problems: list = field(default_factory=list)   # (entry, message)
    notes: list = field(default_factory=list)      # (entry, message): not damage
    kept: list = field(default_factory=list)       # repair: entries kept whole
    resumed: list = field(default_factory=list)    # repair: kept up to a row
    dropped: list = field(default_factory=list)    # repair: entries removed

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The report as lines of text (what the command line prints)."""
        out = [f"{what}: {message}" for what, message in self.problems]
        out += [f"{what}: {message}" for what, message in self.notes]
        return out


def check_store(path, *, chunks: bool = True) -> CheckReport:
    """Every problem of the store at ``path``, each naming its entry.

    Parameters
    ----------
    path : str or Path
    chunks : bool, default=True
        Read every chunk's bytes and check its checksum (False: only that the
        files are there and the shapes agree, much faster for a large store).
    """
    root = Path(path)
    report = CheckReport(str(root))
    if not (root / SNAPSHOT).exists() and not (root / JOURNAL).exists():
        report.problems.append(("store", f"no {SNAPSHOT}: not a deeprsa store, or its manifest "
                                "was deleted (`deeprsa store repair` rebuilds it)"))
        return report
    try:
        entries = Manifest(root).load()["entries"]
    except StoreError as err:
        report.problems.append(("manifest", str(err)))
        entries = {}
    report.n_entries = len(entries)
    for key, entry in entries.items():
        label = describe_entry(key, entry)
        for _, message in _entry_problems(root, key, entry, chunks=chunks):
            report.problems.append((label, message.removeprefix(f"{label}: ")))
        if not entry["complete"]:
            report.notes.append((label, f"unfinished ({entry['rows_done']} of "
                                 f"{entry['shape'][0] if entry['shape'] else 1} rows): "
                                 "running the same command again resumes it"))
    for key, (where, _) in _recorded_arrays(root).items():
        if entries and key not in entries:
            report.problems.append((f"array {where}", "not in the manifest "
                                    "(`deeprsa store repair` adds it back)"))
    temporary = _temporary_files(root)
    if temporary:
        report.notes.append(("store", f"{len(temporary)} temporary file(s) left by "
                             "interrupted writers (`deeprsa store repair` removes them)"))
    return report


def _entry_problems(root, key, entry, *, chunks):
    """``(row, message)`` of one entry: its chunks, its stimulus ids."""
    label = describe_entry(key, entry)
    if chunks:
        problems = verify(root, entry, label=label, open_array=lambda: _open(root, entry))
    else:
        problems = _presence(root, entry, label)
    stimuli = entry["fields"].get("stimuli")
    if entry["kind"] in _RESUMABLE and isinstance(stimuli, str):
        ids = root / "stimuli" / f"{stimuli}.json"
        if not ids.exists():
            problems.append((None, f"{label}: its stimulus ids stimuli/{ids.name} are missing"))
    return problems


def _presence(root, entry, label):
    meta = root / entry["path"] / "zarr.json"
    if not meta.exists():
        return [(0, f"{label}: its array {entry['path']} is missing.")]
    shape = json.loads(meta.read_text()).get("shape")
    if list(shape) != list(entry["shape"]):
        return [(0, f"{label}: the array has shape {tuple(shape)} but the manifest says "
                    f"{tuple(entry['shape'])}.")]
    return []


def _open(root, entry):
    import zarr

    return zarr.open_array(Path(root) / entry["path"], mode="r")


def _recorded_arrays(root) -> dict:
    """``{key: (path, record)}`` of every value array that carries its manifest record."""
    found = {}
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP]
        if "zarr.json" not in files or Path(dirpath) == Path(root):
            continue
        try:
            meta = json.loads((Path(dirpath) / "zarr.json").read_text())
        except (OSError, ValueError):
            continue
        record = meta.get("attributes", {}).get("deeprsa") if isinstance(meta, dict) else None
        if meta.get("node_type") == "array" and isinstance(record, dict) and "key" in record:
            found[record["key"]] = (os.path.relpath(dirpath, root), record)
    return found


def _temporary_files(root) -> list[Path]:
    out = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("stimuli",)]
        out += [Path(dirpath) / f for f in files if f.endswith((".partial", ".tmp"))]
    return out


def repair_store(path) -> CheckReport:
    """Rebuild the manifest of the store at ``path`` from its arrays; drop only what is broken.

    Holds the store's lock throughout (writers wait). Returns what was kept,
    kept up to a row (``resumed``), and dropped, with the reason.

    Raises
    ------
    StoreFormatError
        If ``path`` holds no deeprsa arrays at all.
    """
    root = Path(path)
    report = CheckReport(str(root))
    manifest = Manifest(root)
    if not root.is_dir():
        raise FileNotFoundError(f"No store at {str(root)!r}.")
    with manifest.locked():
        try:
            old = manifest.load()
        except StoreError as err:
            report.notes.append(("manifest", f"unreadable, rebuilt from the arrays ({err})"))
            old = {"entries": {}}
        arrays = _recorded_arrays(root)
        entries = {}
        for key, (where, record) in arrays.items():
            entry = _entry_from_record(record, where)
            kept = _repaired(root, key, entry, report)
            if kept is not None:
                entries[key] = kept
        for key, entry in old.get("entries", {}).items():  # format-1 arrays keep no record
            if key not in entries and key not in arrays:
                kept = _repaired(root, key, entry, report)
                if kept is not None:
                    entries[key] = kept
        for file in _temporary_files(root):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
        _remove_stale_locks(root)
        report.n_entries = len(entries)
        data = {k: v for k, v in old.items() if k not in ("entries", "journal")}
        manifest._fold({**data, "entries": entries})
    return report


def _entry_from_record(record, where) -> dict:
    entry = {k: v for k, v in record.items() if k != "key"}
    entry["path"] = where
    entry.setdefault("rows_done", entry["shape"][0] if entry.get("complete") and entry["shape"]
                     else 0)
    return entry


def _repaired(root, key, entry, report):
    """The entry to keep (whole, or up to its first damaged row), or None (dropped)."""
    label = describe_entry(key, entry)
    whole = {**entry, "complete": True}
    problems = verify(root, whole, label=label, open_array=lambda: _open(root, entry))
    _restore_stimulus_ids(root, entry)
    n = entry["shape"][0] if entry["shape"] else 1
    first = min((row for row, _ in problems if row is not None), default=n)
    if not entry["complete"] and entry["kind"] in _RESUMABLE:
        chunk = int(entry["chunks"][0]) if entry["chunks"] else 1
        first = min(first, (n - 1) // chunk * chunk)  # redo the last batch: it may be partial
    if not problems and entry["complete"]:
        report.kept.append(label)
        return entry
    if entry["kind"] in _RESUMABLE and first > 0 and (root / entry["path"] / "zarr.json").exists():
        report.resumed.append((label, first, [m for _, m in problems]))
        from ._arrays import update_record

        entry = {**entry, "complete": False, "rows_done": int(first)}
        update_record(root, {**entry, "key": key})
        return entry
    if entry["kind"] in _RESUMABLE and not problems:
        report.resumed.append((label, 0, []))
        return {**entry, "complete": False, "rows_done": 0}
    reason = "; ".join(m.removeprefix(f"{label}: ") for _, m in problems) or "unfinished"
    report.dropped.append((label, reason))
    import shutil

    shutil.rmtree(root / entry.get("group", entry["path"]), ignore_errors=True)
    return None


def _restore_stimulus_ids(root, entry):
    """Write back a lost ``stimuli/<hash>.json`` from the entry's stimulus coordinate."""
    stimuli = entry["fields"].get("stimuli")
    target = root / "stimuli" / f"{stimuli}.json"
    if not isinstance(stimuli, str) or target.exists() or "group" not in entry:
        return
    for name in ("stimulus", "stimulus_a"):
        coordinate = root / entry["group"] / name
        if (coordinate / "zarr.json").exists():
            import zarr

            with contextlib.suppress(Exception):
                ids = [str(s) for s in zarr.open_array(coordinate, mode="r")[...]]
                target.parent.mkdir(exist_ok=True)
                from ._keys import _atomic_write_text

                _atomic_write_text(target, json.dumps(ids))
                return


def _remove_stale_locks(root):
    """Lock files no process holds (left by killed writers)."""
    directory = root / "locks"
    if not directory.is_dir():
        return
    for file in directory.glob("*.lock"):
        with contextlib.suppress(OSError), open(file, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being written now
            file.unlink()

