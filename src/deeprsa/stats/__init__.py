"""Statistics for RDM comparisons: permutation tests, bootstrap intervals, noise ceilings.

- :func:`mantel` tests one RDM comparison by permuting the stimulus labels of one RDM.
- :func:`pairwise_mantel` runs it for every pair of two collections (a tidy table with
  corrected p-values).
- :func:`bootstrap_ci` is a generic bootstrap: ``statistic(indices) -> float``.
- :func:`bootstrap_rdm_comparison` gives RDM comparisons a confidence interval by
  resampling stimuli, network seeds, or both (with rsatoolbox's variance correction).
- :func:`noise_ceiling` bounds how well any model can match RDMs from several seeds.
- :func:`correct_pvalues` applies FDR or family-wise corrections, from a registry
  (:func:`register_correction`, :func:`list_corrections`, :func:`describe_corrections`).

Every random step takes ``seed`` (None, an int or a ``numpy.random.Generator``), and every
result keeps its raw material (null or bootstrap distribution) next to the summary.
"""

from .bootstrap import (
    BootstrapResult,
    ComparisonBootstrapResult,
    bootstrap_ci,
    bootstrap_rdm_comparison,
)
from .corrections import (
    correct_pvalues,
    describe_corrections,
    list_corrections,
    register_correction,
)
from .mantel import MantelResult, mantel, pairwise_mantel
from .noise_ceiling import NoiseCeilingResult, noise_ceiling

__all__ = ["BootstrapResult", "ComparisonBootstrapResult", "MantelResult", "NoiseCeilingResult",
           "bootstrap_ci", "bootstrap_rdm_comparison", "correct_pvalues",
           "describe_corrections", "list_corrections", "mantel", "noise_ceiling",
           "pairwise_mantel", "register_correction"]
