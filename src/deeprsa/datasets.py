"""Deprecated: the bundled datasets moved to :mod:`deeprsa.stimuli.datasets`.

``deeprsa.datasets.digits`` and ``digits_split`` keep working for one release,
with a DeprecationWarning.
"""

from ._deprecation import moved_names

__getattr__ = moved_names("deeprsa.datasets", "deeprsa.stimuli.datasets",
                          ("digits", "digits_split"))
