"""The ``zoo:`` model source: the zoo registers itself with the model-source registry.

Importing :mod:`deeprsa.zoo` (which ``import deeprsa`` does) registers it;
:mod:`deeprsa.models` knows nothing of the zoo.
"""

from __future__ import annotations

from ..models import register_source


@register_source("zoo")
def _zoo(name, *, weights, seed):
    """deeprsa's bundled networks trained on scikit-learn's digits, e.g. zoo:convnet_s0."""
    import dataclasses

    from .catalog import _load_for_source

    result = _load_for_source(name, weights=weights, seed=seed)
    if result.preprocessing.input_shape is None:  # digits are 8 x 8: make the size explicit
        result.preprocessing = dataclasses.replace(result.preprocessing, resize=(8, 8))
    return result
