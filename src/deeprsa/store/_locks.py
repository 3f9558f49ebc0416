"""One writer per entry: a lock file per array while a process writes it.

Two processes asked for the same array (two runs of one model into one
store) must not both write it: the second waits until the first has
finished, then finds the array complete and skips it. :func:`acquire` takes
an exclusive ``flock`` on ``locks/<key>.lock``; the operating system drops it
when the process dies (SIGKILL included), so a killed writer never blocks
anyone. The file is removed on release (safely: a waiter that locked a file
already unlinked tries again), so a store holds lock files only while
arrays are being written, or after a kill.

Within one process the lock is held once (taking it again is a no-op), so a
retry after an error never waits for itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path

__all__ = ["acquire", "release", "held"]

log = logging.getLogger("deeprsa.store")

_HELD: dict = {}  # (store root, key) -> fd
_GUARD = threading.Lock()


def _path(root: Path, key: str) -> Path:
    return Path(root) / "locks" / f"{key}.lock"


def held(root, key) -> bool:
    """Whether this process holds the lock of ``key``."""
    return (os.path.realpath(root), key) in _HELD


def acquire(root, key: str, *, what: str = "") -> None:
    """Lock array ``key`` of the store at ``root`` for writing; wait while another holds it."""
    ident = (os.path.realpath(root), key)
    with _GUARD:
        if ident in _HELD:
            return
    path = _path(root, key)
    path.parent.mkdir(exist_ok=True)
    waited = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    log.warning("Another process is writing %s into %s; waiting for it to "
                                "finish.", what or key, root)
                    waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)  # the holder removed this file as it released it: lock the new one
    with _GUARD:
        _HELD[ident] = fd


def release(root, key: str) -> None:
    """Release this process's lock of ``key`` and remove its lock file (if held)."""
    with _GUARD:
        fd = _HELD.pop((os.path.realpath(root), key), None)
    if fd is None:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_path(root, key))
    os.close(fd)
