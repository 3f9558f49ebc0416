"""Input checks shared by every stage: one place for did-you-mean errors and seeds."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np

__all__ = ["check_option", "suggest", "check_random_state", "read_json", "Registry"]


def suggest(value: object, choices: Iterable[str], *, n: int = 1) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(value), sorted(choices), n=n, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def check_option(parameter: str, value, allowed: Iterable[str]):
    """Return ``value`` if it is in ``allowed``, else raise a ValueError that helps.

    Examples
    --------
    >>> check_option("measure", "cosine", ["cosine", "correlation"])
    'cosine'
    >>> check_option("measure", "corelation", ["cosine", "correlation"])
    Traceback (most recent call last):
    ...
    ValueError: Unknown measure 'corelation'. Did you mean 'correlation'? Available: 'correlation', 'cosine'.
    """
    allowed = list(allowed)
    if isinstance(value, str) and value in allowed:
        return value
    choices = sorted(allowed)
    raise ValueError(
        f"Unknown {parameter} {value!r}.{suggest(value, choices)} "
        f"Available: {', '.join(map(repr, choices))}."
    )


def read_json(path, what: str, *, invalid: str | None = None):
    """The parsed JSON file ``path``; errors name the file as ``what`` (e.g. "Layer file").

    Raises
    ------
    FileNotFoundError
        "<what> '<path>' does not exist."
    ValueError
        "<invalid or what '<path>'> is not valid JSON: <where>." (also for a file
        that is not UTF-8 text, or a directory)
    """
    import json
    from pathlib import Path

    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {str(path)!r} is a directory, not a JSON file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        shown = invalid if invalid is not None else f"{what} {str(path)!r}"
        raise ValueError(f"{shown} is not valid JSON: {err}.") from None


def check_random_state(seed) -> np.random.Generator:
    """Turn ``None``, an int or a Generator into a ``numpy.random.Generator``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(
        f"seed must be None, an int or a numpy.random.Generator, got {type(seed).__name__}."
    )


class Registry(dict):
    """A name -> object mapping whose lookups give did-you-mean errors.

    ``kind`` names what is registered ("measure", "model source", ...) and
    appears in every error message.

    Examples
    --------
    >>> reg = Registry("reduction")
    >>> @reg.register("flatten")
    ... def _flatten(x):
    ...     '''Keep every unit.'''
    ...     return x
    >>> sorted(reg)
    ['flatten']
    >>> reg.get_checked("flaten")
    Traceback (most recent call last):
    ...
    ValueError: Unknown reduction 'flaten'. Did you mean 'flatten'? Available: 'flatten'.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str):
        """Decorator registering ``obj`` under ``name``; a duplicate name is an error."""

        def decorator(obj):
            if name in self:
                raise ValueError(
                    f"A {self.kind} named {name!r} is already registered by "
                    f"{getattr(self[name], '__module__', '?')}."
                )
            self[name] = obj
            return obj

        return decorator

    def register_function(self, name: str, func=None, *, by: str):
        """Register the callable ``func`` under ``name``; without ``func``, a decorator.

        ``by`` names the public function that registers, for the error raised when
        ``func`` is not callable.
        """

        def decorator(f):
            if not callable(f):
                raise TypeError(f"{by} needs a callable, got {type(f).__name__}.")
            return self.register(name)(f)

        return decorator if func is None else decorator(func)

    def get_checked(self, name: str):
        """Look ``name`` up, raising a ValueError with suggestions when unknown."""
        check_option(self.kind, name, self)
        return self[name]

    def describe(self) -> dict[str, str]:
        """Name -> first docstring line, sorted by name (for CLI and README tables)."""
        out = {}
        for name in sorted(self):
            doc = (getattr(self[name], "__doc__", None) or "").strip()
            out[name] = doc.splitlines()[0] if doc else ""
        return out
