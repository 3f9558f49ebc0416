"""For tests that kill a real process at a chosen point: ``arm("pkg.mod.func", n)``.

A subprocess imports this module and arms a function: its ``n``-th call sends the
process SIGKILL (no cleanup, no ``finally``), as a killed job or an out-of-memory killer
would. The parent then checks what the store kept and that a rerun finishes the rest.
"""

import importlib
import os
import signal


def arm(target: str, n: int, *, after: bool = False) -> None:
    """SIGKILL this process at the ``n``-th call of ``target`` (before it runs, or after)."""
    module_name, _, name = target.rpartition(".")
    module = importlib.import_module(module_name)
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        out = real(*args, **kwargs)
        if calls["n"] == n and after:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    setattr(module, name, wrapper)
