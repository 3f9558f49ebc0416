"""Stimuli: the :class:`StimulusSet`, the loaders that build one, and bundled datasets.

- :class:`StimulusSet` (``_set``): ordered stimulus ids, a metadata table and
  the images, loaded on demand as float tensors in [0, 1].
- :mod:`.loaders`: the registry of sources (``digits:test``, a folder, a CSV,
  a ``meta.json``) behind configs and the CLI.
- :mod:`.datasets`: real stimuli that ship with the installed packages.
"""

from ._set import IMAGE_EXTENSIONS, ImageConversionWarning, StimulusSet
from .datasets import digits, digits_split
from .loaders import describe_loaders, list_loaders, load_stimuli, register_loader

__all__ = ["IMAGE_EXTENSIONS", "ImageConversionWarning", "StimulusSet", "describe_loaders", "digits", "digits_split",
           "list_loaders", "load_stimuli", "register_loader"]
