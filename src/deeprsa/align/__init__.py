"""Align networks trained from different seeds with the Shared Response Model (SRM).

- :class:`SRM` maps several networks shown the same stimuli into one shared space
  (scikit-learn style ``fit`` / ``transform``), with the probabilistic and the
  deterministic model of Chen et al. (2015).
- :func:`evaluate_alignment` is the RSA before and after alignment of Lu et al.
  (2018): the inter-network RSM against the mean within-network RSM, in native
  and in shared space.
- :func:`evaluate_n_components` gives held-out variance explained as a function
  of the number of shared features.
- :func:`load_networks` reads the activations of one layer of several models from
  a store.

Importing this package imports scikit-learn; ``import deeprsa`` reaches it lazily.
"""

from .evaluate import evaluate_alignment, evaluate_n_components, load_networks
from .srm import SRM

__all__ = ["SRM", "evaluate_alignment", "evaluate_n_components", "load_networks"]
