"""Analyses of layers: dimensionality, decoding, unit ANOVA, stimulus subsets, performance, MDS,
and comparisons with targets from outside (layer profiles, weighted RSA).

Each analysis is one function over an array or a store (every selected layer)
that returns a tidy pandas table with ``model`` and ``layer`` columns;
:func:`compute_mds`, which places the points of a map, returns an :class:`MDSResult`.
"""

from .class_structure import class_structure
from .decoding import decode, unit_anova, unit_selectivity
from .dimensionality import dimensionality, explained_variance, participation_ratio
from .mds import MDSResult, compute_mds
from .performance import rep_vs_performance
from .performance_measures import (
    describe_performance_measures,
    list_performance_measures,
    performance_similarity,
    register_performance_measure,
)
from .subsets import extreme_subset, target_subset
from .targets import LayerProfileResult, layer_profile
from .weighted import WeightedRSAResult, weighted_rsa
from .zoo_predictions import read_zoo_predictions

__all__ = [
    "LayerProfileResult",
    "MDSResult",
    "WeightedRSAResult",
    "class_structure",
    "compute_mds",
    "decode",
    "describe_performance_measures",
    "dimensionality",
    "explained_variance",
    "extreme_subset",
    "layer_profile",
    "list_performance_measures",
    "participation_ratio",
    "performance_similarity",
    "read_zoo_predictions",
    "register_performance_measure",
    "rep_vs_performance",
    "target_subset",
    "unit_anova",
    "unit_selectivity",
    "weighted_rsa",
]
