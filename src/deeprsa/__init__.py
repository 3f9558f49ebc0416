"""deeprsa: representational similarity analysis of deep networks.

stimuli -> extract -> store -> rdm -> compare/align/stats -> plots/report
"""

from . import analyses, plots
from ._version import __version__
from .analyses import (
    decode,
    dimensionality,
    extreme_subset,
    rep_vs_performance,
    target_subset,
    unit_anova,
)
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
from .config import RunConfig, load_config
from .datasets import digits
from .demo import run_config, run_demo
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
from .report import write_report
from .stats import (
    BootstrapResult,
    ComparisonBootstrapResult,
    MantelResult,
    NoiseCeilingResult,
    bootstrap_ci,
    bootstrap_rdm_comparison,
    correct_pvalues,
    mantel,
    noise_ceiling,
    pairwise_mantel,
)
from .stimuli import StimulusSet
from .store import Store

__all__ = [
    "__version__",
    "BootstrapResult",
    "ComparisonBootstrapResult",
    "ComparisonResult",
    "ConstantPatternWarning",
    "LoadedModel",
    "MantelResult",
    "NoiseCeilingResult",
    "Preprocessing",
    "RDM",
    "RDMs",
    "RunConfig",
    "SRM",
    "StimulusSet",
    "Store",
    "analyses",
    "bootstrap_ci",
    "bootstrap_rdm_comparison",
    "compare_rdms",
    "compare_representations",
    "compute_meta_rdms",
    "compute_rdm",
    "compute_rdms",
    "correct_pvalues",
    "decode",
    "describe_measures",
    "describe_methods",
    "digits",
    "dimensionality",
    "evaluate_alignment",
    "evaluate_n_components",
    "extract",
    "extreme_subset",
    "list_layers",
    "list_measures",
    "list_methods",
    "list_reductions",
    "list_sources",
    "load_config",
    "load_model",
    "mantel",
    "model_rdm",
    "multi_model_rdm",
    "noise_ceiling",
    "pairwise_mantel",
    "plots",
    "read_layer_file",
    "register_measure",
    "rep_vs_performance",
    "run_config",
    "run_demo",
    "select_layers",
    "target_subset",
    "unit_anova",
    "write_layer_file",
    "write_report",
]

_LAZY = {"SRM": "align", "evaluate_alignment": "align", "evaluate_n_components": "align"}


def __getattr__(name):
    # Alignment subclasses scikit-learn estimators: import it on first use so that
    # `import deeprsa` stays cheap.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'deeprsa' has no attribute {name!r}")
