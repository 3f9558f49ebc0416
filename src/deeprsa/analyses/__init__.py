"""Analyses of layers: dimensionality, decoding, unit ANOVA, stimulus subsets, performance.

Each analysis is one function over an array or a store (every selected layer)
that returns a tidy pandas table with ``model`` and ``layer`` columns.
"""

from .decoding import decode, unit_anova, unit_selectivity
from .dimensionality import dimensionality, explained_variance, participation_ratio
from .subsets import extreme_subset, target_subset

__all__ = [
    "decode",
    "dimensionality",
    "explained_variance",
    "extreme_subset",
    "participation_ratio",
    "target_subset",
    "unit_anova",
    "unit_selectivity",
]
