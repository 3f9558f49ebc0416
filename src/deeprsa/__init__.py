"""deeprsa: representational similarity analysis of deep networks.

stimuli -> extract -> store -> rdm -> compare/align/stats -> plots/report
"""

from ._version import __version__
from .compare import (
    ComparisonResult,
    compare_rdms,
    compare_representations,
    compute_meta_rdms,
    describe_methods,
    list_methods,
    model_rdm,
    multi_model_rdm,
)
from .datasets import digits
from .extract import extract, list_reductions
from .layers import list_layers, read_layer_file, select_layers, write_layer_file
from .models import LoadedModel, Preprocessing, list_sources, load_model
from .rdm import (
    RDM,
    ConstantPatternWarning,
    RDMs,
    compute_rdm,
    compute_rdms,
    describe_measures,
    list_measures,
    register_measure,
)
from .stats import bootstrap_rdm_comparison, correct_pvalues, mantel, noise_ceiling
from .stimuli import StimulusSet
from .store import Store

__all__ = [
    "ComparisonResult",
    "ConstantPatternWarning",
    "RDM",
    "RDMs",
    "LoadedModel",
    "Preprocessing",
    "StimulusSet",
    "Store",
    "__version__",
    "bootstrap_rdm_comparison",
    "compare_rdms",
    "compare_representations",
    "compute_meta_rdms",
    "compute_rdm",
    "compute_rdms",
    "describe_measures",
    "describe_methods",
    "correct_pvalues",
    "digits",
    "extract",
    "list_layers",
    "list_measures",
    "list_methods",
    "list_reductions",
    "list_sources",
    "load_model",
    "mantel",
    "model_rdm",
    "multi_model_rdm",
    "noise_ceiling",
    "read_layer_file",
    "register_measure",
    "select_layers",
    "write_layer_file",
]
