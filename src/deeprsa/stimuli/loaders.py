"""Stimulus loaders: the registry behind ``stimuli.source`` in a config and ``--stimuli``.

A *source* is ``"<loader>:<argument>"`` (``"digits:test"``, ``"csv:images.csv"``)
or a path, whose loader is found from what it is: a folder, or a file ending
in one of a loader's suffixes (``.csv``, ``.json``). ``deeprsa loaders`` lists
the registry; :func:`register_loader` adds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._validation import Registry

__all__ = ["describe_loaders", "list_loaders", "load_stimuli", "register_loader"]

LOADERS = Registry("stimulus loader")


@dataclass(frozen=True)
class _Loader:
    func: Callable
    suffixes: tuple[str, ...]
    folder: bool
    takes_path: bool

    @property
    def __doc__(self):  # the registry's description is the function's docstring
        return self.func.__doc__


def register_loader(name: str, *, suffixes=(), folder: bool = False, takes_path: bool = True):
    """Register ``func(argument) -> StimulusSet`` as the stimulus loader ``name``.

    Parameters
    ----------
    name : str
        Used as ``"name:argument"`` in a source.
    suffixes : sequence of str, optional
        File endings (``".csv"``) that choose this loader for a bare path.
    folder : bool, default=False
        Whether a bare path to a folder chooses this loader.
    takes_path : bool, default=True
        Whether the argument is a path (made absolute against the config's
        folder before the call); False for names such as a split.

    Examples
    --------
    >>> import numpy as np
    >>> from deeprsa import StimulusSet
    >>> @register_loader("noise_demo", takes_path=False)
    ... def _noise(argument):
    ...     "Random images: noise_demo:N gives N of them."
    ...     images = np.random.default_rng(0).random((int(argument), 8, 8))
    ...     return StimulusSet.from_arrays(images)
    >>> len(load_stimuli("noise_demo:5"))
    5
    >>> _ = LOADERS.pop("noise_demo")  # leave the registry as it was
    """
    def decorator(func):
        LOADERS.register(name)(_Loader(func, tuple(s.lower() for s in suffixes), folder,
                                       takes_path))
        return func

    return decorator


def list_loaders() -> list[str]:
    """Names of the registered stimulus loaders, sorted."""
    return sorted(LOADERS)


def describe_loaders() -> dict[str, str]:
    """Loader name -> first line of its description, sorted by name."""
    return LOADERS.describe()


def load_stimuli(source: str, *, base_dir=None):
    """The :class:`StimulusSet` a source names.

    Parameters
    ----------
    source : str
        ``"<loader>:<argument>"``, a bare loader name (``"digits"``), or a path
        to a folder, a ``.csv`` or a ``meta.json``; see :func:`list_loaders`.
    base_dir : str or Path, optional
        Relative paths are taken from here (a config's folder); default the
        working directory.

    Raises
    ------
    ValueError
        If no loader takes the source, naming what it was resolved to and the
        loaders there are.

    Examples
    --------
    >>> len(load_stimuli("digits:test"))
    450
    """
    if not isinstance(source, str) or not source:
        raise ValueError(f"A stimulus source is a non-empty str, got {source!r}.")
    name, sep, argument = source.partition(":")
    if name in LOADERS and (sep or not LOADERS[name].takes_path):
        loader = LOADERS[name]
        if loader.takes_path:
            argument = _resolve(argument, base_dir)
        return loader.func(argument)
    path = _resolve(source, base_dir)
    for loader in LOADERS.values():
        if (loader.folder and path.is_dir()) or (path.is_file()
                                                 and path.suffix.lower() in loader.suffixes):
            return loader.func(path)
    state = ("does not exist" if not path.exists() else
             "is a file of a kind no loader reads" if path.is_file() else "is not a file")
    ways = ", ".join(f"{n}:..." for n in list_loaders())
    raise ValueError(
        f"{source!r} is not 'digits[:train|test]', a folder, a .csv or a meta .json file "
        f"(resolved to {str(path)!r}, which {state}); or name a stimulus loader: {ways}.")


def _resolve(path, base_dir) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


@register_loader("digits", takes_path=False)
def _digits(argument):
    """scikit-learn's bundled handwritten digits: digits, digits:train or digits:test."""
    from .datasets import digits

    return digits(split=argument or "all")


@register_loader("folder", folder=True)
def _folder(path):
    """A folder of images, flat or one subfolder per class (the class is the label)."""
    from ._set import StimulusSet

    return StimulusSet.from_folder(path)


@register_loader("csv", suffixes=(".csv",))
def _csv(path):
    """A CSV with one row per image: path (relative to the CSV), label, any metadata."""
    from ._set import StimulusSet

    return StimulusSet.from_csv(path)


@register_loader("meta_json", suffixes=(".json",))
def _meta_json(path):
    """A meta.json of records with filename and class (the object-classification RSA study)."""
    from ._set import StimulusSet

    return StimulusSet.from_meta_json(path)
