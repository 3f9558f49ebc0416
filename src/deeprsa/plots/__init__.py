"""Publication figures: RDM heatmaps, model RDMs, MDS maps, variance curves and image grids.

Every function takes plain arrays and tables (or, duck-typed, deeprsa's
:class:`~deeprsa.rdm.RDM`, :class:`~deeprsa.rdm.RDMs`, :class:`~deeprsa.StimulusSet`
and :class:`~deeprsa.compare.ComparisonResult`) and returns a
:class:`matplotlib.figure.Figure`. Given ``path``, it also saves the figure as
PNG (150 dpi) and SVG (editable text) next to each other. Figures are sized
for a journal page (3.5 or 7 inches wide, 7-9 pt text) and are built with
matplotlib's object API, never pyplot, so they need no display and leave no
global state behind.

The figures are the ones researchers draw by hand in the notebooks deeprsa
was designed from: RDMs (Kriegeskorte et al., 2008) sorted by class with
percentile colour scales (the ManteLab course notebook on representations in
deep networks and the RSA tutorial notebook), second-order and multi-model
RDMs (the object-classification RSA study and the RSA tutorial notebook), MDS
maps with pictures and trajectories through depth (pytorch_feature_analysis)
or lines coloured by dissimilarity (the RSA tutorial notebook), PCA variance
curves (the ManteLab course notebook) and activity trajectories before and
after SRM alignment (Lu et al., 2018).

One module per family of figures: :mod:`~deeprsa.plots.rdm`,
:mod:`~deeprsa.plots.second_order`, :mod:`~deeprsa.plots.mds`,
:mod:`~deeprsa.plots.variance`, :mod:`~deeprsa.plots.images`,
:mod:`~deeprsa.plots.srm`, :mod:`~deeprsa.plots.performance` and
:mod:`~deeprsa.plots.stacks` (stacks of RDMs over entries, values per layer),
:mod:`~deeprsa.plots.profiles` (layers against brain or behavioural targets); the style and
:func:`save_figure` are shared. The MDS embedding itself is
:func:`deeprsa.analyses.compute_mds`.
"""

from __future__ import annotations

from .._deprecation import moved_names
from ._base import (  # noqa: F401 - the artist ids are public, though not in __all__
    GID_CLASS_BOUNDARY,
    GID_CONSTANT,
    GID_EDGE,
    GID_KEY,
    GID_LABEL,
    GID_MODEL_BAND,
    GID_MODEL_BLOCK,
    GID_START,
    GID_STRESS,
    GID_THUMBNAIL,
    GID_TRAJECTORY,
    save_figure,
)
from .images import plot_images
from .mds import plot_mds
from .performance import plot_similarity_vs_performance
from .profiles import plot_layer_profile, plot_weights
from .rdm import plot_rdm, plot_rdms
from .second_order import plot_model_rdm
from .srm import plot_srm_trajectories
from .stacks import plot_layer_values, plot_rdm_stack
from .variance import plot_variance_explained

__all__ = [
    "plot_images",
    "plot_layer_profile",
    "plot_layer_values",
    "plot_mds",
    "plot_model_rdm",
    "plot_rdm",
    "plot_rdm_stack",
    "plot_rdms",
    "plot_similarity_vs_performance",
    "plot_srm_trajectories",
    "plot_variance_explained",
    "plot_weights",
    "save_figure",
]

#: Names that moved to :mod:`deeprsa.analyses`; importable from here for one more release.
__getattr__ = moved_names("deeprsa.plots", "deeprsa.analyses", ("MDSResult", "compute_mds"))
