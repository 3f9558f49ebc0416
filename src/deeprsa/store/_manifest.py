"""The manifest: a JSON snapshot and an append-only journal, locked, cached and indexed.

What every array of a store is lives in two files::

    manifest.json      the snapshot: {"format", "versions", "journal", "entries"}
    manifest.journal   one JSON line per change since: {"put": {key: entry}, "drop": [key]}

A change appends one line under the store's lock (``.lock``), so writing an
entry costs the same in a store of 10 entries as in one of 100,000; when the
journal outgrows the snapshot it is folded into a new snapshot (written
atomically, then a new journal). A reader checks both files with ``stat``
and parses only what is new: the snapshot once per version, then the
journal's new lines. The journal's first line names it (``{"journal": id}``)
and the snapshot names the journal it continues, so a reader that catches a
fold half done reads the snapshot alone (it holds everything at that point).

A torn last line (a writer killed mid-line) is ignored by readers and cut by
the next writer. A snapshot or journal that does not parse is a
:class:`ManifestError` naming the file and the fix (``deeprsa store repair``);
nothing overwrites it. A snapshot of a newer format is refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import uuid
from pathlib import Path

from . import _query
from ._errors import ManifestError, StoreFormatError
from ._keys import _atomic_write_text, versions

SNAPSHOT = "manifest.json"
JOURNAL = "manifest.journal"
LOCK = ".lock"
FORMAT_VERSION = 2  # 2: journal, checksummed chunks, entries as labelled Zarr groups
_FOLD_AT = 256 << 10  # journal bytes past which (and past the snapshot's size) it is folded
# What a store directory holds besides its manifest (a folder with these is a store).
_STORE_PARTS = ("activations", "rdms", "comparisons", "prepared", "calibrations", JOURNAL)

_REPAIR = ("`deeprsa store check {path}` lists the damage; `deeprsa store repair {path}` "
           "rebuilds the manifest from the arrays.")


class Manifest:
    """The entries of one store directory, as the files on disk say now."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.snapshot = self.root / SNAPSHOT
        self.journal = self.root / JOURNAL
        self.data: dict | None = None
        self._snapshot_stat = None
        self._journal_at = None  # (inode, offset) read so far, or (inode, None): not ours
        self.index = _Index()

    # ------------------------------------------------------------------ reading
    def load(self) -> dict:
        """The manifest ``{"format", "versions", "entries", ...}``, refreshed from disk."""
        for _ in range(50):
            if self._read_journal(self._refresh_snapshot()):
                return self.data
        raise ManifestError(f"Store {str(self.root)!r}: the manifest kept changing while it "
                            "was read; try again.")

    def _refresh_snapshot(self) -> bool:
        """Parse the snapshot if it changed on disk; whether it was parsed now."""
        try:
            st = os.stat(self.snapshot)
        except FileNotFoundError:
            raise ManifestError(f"Store {str(self.root)!r} has no {SNAPSHOT}. "
                                + _REPAIR.format(path=self.root)) from None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._snapshot_stat:
            return False
        text = self.snapshot.read_bytes()
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ManifestError(
                f"Store {str(self.root)!r}: {SNAPSHOT} is damaged ({len(text)} bytes; "
                f"{err}). " + _REPAIR.format(path=self.root)) from None
        check_format(data, self.root)
        self.data, self._snapshot_stat, self._journal_at = data, stamp, None
        self.index.rebuild(data["entries"])
        return True

    def _read_journal(self, fresh: bool) -> bool:
        """Apply the journal's new lines; False when the snapshot must be read again first."""
        try:
            fh = open(self.journal, "rb")
        except FileNotFoundError:
            return True  # a store of format 1, or a fold that crashed: the snapshot is all
        with fh:
            st = os.fstat(fh.fileno())
            inode, offset = self._journal_at or (None, None)
            if inode == st.st_ino and offset is None:
                return True  # a journal that does not continue this snapshot (see below)
            if inode != st.st_ino:
                header = fh.readline()
                if _journal_id(header, self.journal) != self.data.get("journal"):
                    if not fresh:  # the snapshot may be stale: read it once more
                        self._snapshot_stat = None
                        return False
                    # A fold half done (new snapshot, old journal) or crashed: the snapshot
                    # holds everything; the next writer starts a journal that continues it.
                    self._journal_at = (st.st_ino, None)
                    return True
                offset = len(header)
            elif st.st_size < offset:  # cut: read it all again
                self._snapshot_stat = None
                return False
            fh.seek(offset)
            tail = fh.read(st.st_size - offset)
        complete = tail[:tail.rfind(b"\n") + 1]
        self._apply_lines(complete, offset)
        self._journal_at = (st.st_ino, offset + len(complete))
        return True

    def _apply_lines(self, text: bytes, offset: int):
        for line in text.splitlines():
            try:
                change = json.loads(line)
                puts, drops = change.get("put", {}), change.get("drop", [])
                if not isinstance(puts, dict) or not isinstance(drops, list):
                    raise ValueError("not a change record")
            except (ValueError, AttributeError) as err:
                raise ManifestError(
                    f"Store {str(self.root)!r}: {JOURNAL} is damaged near byte {offset} "
                    f"({err}). " + _REPAIR.format(path=self.root)) from None
            self._apply(puts, drops)
            offset += len(line) + 1

    def _apply(self, puts, drops):
        entries = self.data["entries"]
        for key in drops:
            entries.pop(key, None)
            self.index.drop(key)
        for key, entry in puts.items():
            entries[key] = entry
            self.index.put(key, entry)

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def locked(self):
        """The store's exclusive lock (across processes) for a read-modify-write."""
        with open(self.root / LOCK, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def unwritable_reason(self) -> str | None:
        """Why the store cannot be written here (None when it can)."""
        if not os.access(self.root, os.W_OK):
            return "its directory is not writable"
        try:
            with open(self.root / LOCK, "a"):
                pass
        except OSError as err:
            return ("it is on a read-only file system" if err.errno == errno.EROFS
                    else f"its lock file cannot be written ({err.strerror})")
        return None

    def remove_stale_temporary_files(self) -> None:
        """Temporary manifest files of writers killed mid-write (made only under the lock)."""
        stale = [p for p in self.root.glob("*.tmp")
                 if p.name.startswith((SNAPSHOT, f".{JOURNAL}"))]
        if not stale:
            return
        with self.locked():
            for p in stale:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()

    def new_store(self, mode) -> None:
        """A store where there is no manifest: refuse a foreign or damaged one, else create it."""
        where = str(self.root)
        if self.root.is_file():
            raise StoreFormatError(f"{where!r} is a file, not a store directory.")
        parts = [p for p in _STORE_PARTS if (self.root / p).exists()]
        if parts:
            raise ManifestError(
                f"Store {where!r} holds arrays ({', '.join(parts)}) but no {SNAPSHOT}. "
                f"`deeprsa store repair {where}` rebuilds it from the arrays.")
        if (self.root / "zarr.json").exists():
            raise StoreFormatError(
                f"{where!r} is a Zarr store without a deeprsa {SNAPSHOT}: not a deeprsa store. "
                "Give deeprsa a directory of its own.")
        if mode == "r":
            raise FileNotFoundError(
                f"No deeprsa store at {where!r} (no {SNAPSHOT}). Run "
                "`deeprsa extract ... --store PATH` first.")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.create()
        except OSError as err:
            from ._errors import StoreWriteError

            error = StoreWriteError(f"Cannot create a store at {where!r}: "
                                    f"{err.strerror or err}. Choose a directory you can write.")
            error.errno = err.errno
            raise error from None

    def create(self) -> None:
        """Write the manifest of a new, empty store (under the lock)."""
        with self.locked():
            if not self.snapshot.exists():
                self._fold({"format": FORMAT_VERSION, "versions": versions(), "entries": {}})

    def commit(self, change) -> dict:
        """Apply ``change(entries) -> (puts, drops)`` under the lock; return the puts.

        ``change`` sees the current entries (read under the lock, so no other
        writer's change is lost) and must not modify them: it returns new
        entry records to put and keys to drop.
        """
        with self.locked():
            self.load()
            puts, drops = change(self.data["entries"])
            drops = [k for k in drops if k in self.data["entries"]]
            if not puts and not drops:
                return {}
            if self.data.get("format") != FORMAT_VERSION or not self._journal_is_ours():
                self._fold(self.data)  # start a journal (a format-1 store, a crashed fold)
            line = (json.dumps({"put": puts, "drop": drops}, sort_keys=True) + "\n").encode()
            self._append(line)
            self._apply(puts, drops)
            if self._journal_at[1] > max(_FOLD_AT, self._snapshot_stat[1]):
                self._fold(self.data)
            return puts

    def _journal_is_ours(self) -> bool:
        return self._journal_at is not None and self._journal_at[1] is not None

    def _append(self, line: bytes):
        inode, offset = self._journal_at
        with open(self.journal, "r+b") as fh:
            if os.fstat(fh.fileno()).st_size != offset:  # a torn line from a killed writer
                fh.truncate(offset)
            fh.seek(offset)
            try:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            except BaseException:
                with contextlib.suppress(OSError):
                    fh.truncate(offset)
                raise
        self._journal_at = (inode, offset + len(line))

    def _fold(self, data):
        """Write ``data`` as the new snapshot with a new, empty journal (under the lock)."""
        journal_id = uuid.uuid4().hex
        data = {**data, "format": FORMAT_VERSION, "journal": journal_id}
        header = (json.dumps({"journal": journal_id}) + "\n").encode()
        tmp = self.root / f".{JOURNAL}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(header)
                fh.flush()
                os.fsync(fh.fileno())
            # No indent: json.dumps with indent falls back to the slow pure-Python encoder.
            _atomic_write_text(self.snapshot, json.dumps(data, sort_keys=True))
            os.replace(tmp, self.journal)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        st = os.stat(self.snapshot)
        self.data, self._snapshot_stat = data, (st.st_ino, st.st_size, st.st_mtime_ns)
        self._journal_at = (os.stat(self.journal).st_ino, len(header))
        self.index.rebuild(data["entries"])

    def replace(self, data) -> None:
        """Write ``data`` as the whole manifest (``deeprsa store repair``), under the lock."""
        with self.locked():
            self._fold({"versions": versions(), **data})


def check_format(data, root) -> None:
    """Refuse a manifest that is not a deeprsa manifest, or of a newer format."""
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise ManifestError(
            f"Store {str(root)!r}: {SNAPSHOT} is not a deeprsa manifest (no 'entries' "
            "table). " + _REPAIR.format(path=root))
    made = data.get("format", 1)
    if not isinstance(made, int) or made > FORMAT_VERSION:
        by = data.get("versions", {}).get("deeprsa", "a newer deeprsa")
        from .._version import __version__

        raise StoreFormatError(
            f"Store {str(root)!r} was written in store format {made} (by deeprsa {by}); this "
            f"deeprsa {__version__} reads formats 1 to {FORMAT_VERSION}. Upgrade deeprsa "
            "(pip install -U deeprsa) to read it.")


def _journal_id(header: bytes, path) -> str | None:
    try:
        return json.loads(header)["journal"]
    except (ValueError, KeyError, TypeError):
        raise ManifestError(f"{str(path)!r} has a damaged first line. "
                            + _REPAIR.format(path=Path(path).parent)) from None


class _Index:
    """Rows of the entries by kind, and by model within a kind: queries scan only those."""

    def __init__(self):
        self.kind_of: dict = {}
        self.rows: dict = {}      # kind -> {key: row}
        self._sorted: dict = {}   # kind -> rows in creation order (cache)
        self._models: dict = {}   # kind -> {model: {key: row}} (cache)

    def rebuild(self, entries):
        self.kind_of, self.rows, self._sorted, self._models = {}, {}, {}, {}
        for key, entry in entries.items():
            self.put(key, entry)

    def put(self, key, entry):
        self.drop(key)
        row = _query.entry_row(key, entry)
        self.kind_of[key] = row["kind"]
        self.rows.setdefault(row["kind"], {})[key] = row
        self._forget(row["kind"])

    def drop(self, key):
        kind = self.kind_of.pop(key, None)
        if kind is not None:
            self.rows[kind].pop(key, None)
            self._forget(kind)

    def _forget(self, kind):
        self._sorted.pop(kind, None)
        self._models.pop(kind, None)

    def of_kind(self, kind) -> list[dict]:
        """Rows of ``kind`` (None: every kind) in creation order."""
        if kind is None:
            return sorted((r for rows in self.rows.values() for r in rows.values()),
                          key=_query.creation_order)
        if kind not in self._sorted:
            self._sorted[kind] = sorted(self.rows.get(kind, {}).values(),
                                        key=_query.creation_order)
        return self._sorted[kind]

    def of_models(self, kind, models) -> list[dict] | None:
        """Rows of ``kind`` whose model is one of ``models``; None if one is not there."""
        if kind not in self._models:
            by_model: dict = {}
            for key, row in self.rows.get(kind, {}).items():
                model = row.get("model")
                if isinstance(model, str):
                    by_model.setdefault(model, {})[key] = row
            self._models[kind] = by_model
        buckets = self._models[kind]
        if any(m not in buckets for m in models):
            return None
        return sorted((r for m in dict.fromkeys(models) for r in buckets[m].values()),
                      key=_query.creation_order)
