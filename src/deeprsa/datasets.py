"""Deprecated: the bundled datasets moved to :mod:`deeprsa.stimuli.datasets`.

``deeprsa.datasets.digits`` and ``digits_split`` keep working for one release,
with a DeprecationWarning.
"""

import warnings

_MOVED = ("digits", "digits_split")


def __getattr__(name):
    if name in _MOVED:
        warnings.warn(f"deeprsa.datasets.{name} moved to deeprsa.stimuli.{name}; "
                      "deeprsa.datasets will be removed in the next release.",
                      DeprecationWarning, stacklevel=2)
        from .stimuli import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'deeprsa.datasets' has no attribute {name!r}")
