"""deeprsa: representational similarity analysis of deep networks.

stimuli -> models/layers -> extract -> store -> rdm -> compare/align/stats
-> analyses -> plots/report, with pipeline/ (``deeprsa run``) and cli/ on top.

``import deeprsa`` is cheap: every public name below is imported from its
stage on first use (numpy, pandas, torch and matplotlib load only then).
"""

from . import zoo as _zoo  # noqa: F401  (registers the zoo: model source; imports no torch)
from ._version import __version__

# Bound now, not lazily: the name is also a subpackage's, and importing the subpackage
# later (deeprsa.extract.forward_batches) must not replace the function by the module.
from .extract import extract  # noqa: E402

# Public name -> the module that defines it (relative to this package).
_HOMES = {
    # stimuli
    "StimulusSet": "stimuli", "digits": "stimuli", "load_stimuli": "stimuli",
    "ImageConversionWarning": "stimuli",
    "list_loaders": "stimuli", "register_loader": "stimuli",
    # models and layers
    "LoadedModel": "models", "Preprocessing": "models", "list_sources": "models",
    "load_model": "models", "register_source": "models",
    "list_layers": "layers", "select_layers": "layers", "read_layer_file": "layers",
    "write_layer_file": "layers",
    # extraction and the store
    "list_reductions": "extract", "register_reduction": "extract",
    "NonFiniteActivationsWarning": "extract",
    "Store": "store",
    # first-order RDMs
    "RDM": "rdm", "RDMs": "rdm", "ConstantPatternWarning": "rdm", "compute_rdm": "rdm",
    "NonFiniteActivationsError": "rdm",
    "compute_rdms": "rdm", "describe_measures": "rdm", "list_measures": "rdm",
    "load_rdms": "rdm", "register_measure": "rdm",
    # comparisons
    "ComparisonResult": "compare", "compare_rdms": "compare",
    "compare_representations": "compare", "compute_meta_rdms": "compare",
    "describe_methods": "compare", "list_methods": "compare", "register_method": "compare",
    "model_rdm": "compare", "multi_model_rdm": "compare",
    # alignment
    "SRM": "align", "evaluate_alignment": "align", "evaluate_n_components": "align",
    # statistics
    "BootstrapResult": "stats", "ComparisonBootstrapResult": "stats",
    "MantelResult": "stats", "NoiseCeilingResult": "stats", "bootstrap_ci": "stats",
    "bootstrap_rdm_comparison": "stats", "correct_pvalues": "stats", "mantel": "stats",
    "noise_ceiling": "stats", "pairwise_mantel": "stats",
    # analyses
    "compute_mds": "analyses", "decode": "analyses", "dimensionality": "analyses",
    "extreme_subset": "analyses", "rep_vs_performance": "analyses",
    "target_subset": "analyses", "unit_anova": "analyses",
    # runs and reports
    "RunConfig": "pipeline", "load_config": "pipeline", "run_config": "pipeline",
    "run_demo": "demo", "write_report": "report",
}
_SUBPACKAGES = ("analyses", "plots", "pipeline", "stats", "align", "compare", "rdm", "store",
                "extract", "stimuli", "models", "layers", "report", "demo", "cli")

__all__ = ["__version__", "extract", *sorted(_HOMES), "analyses", "plots"]


def __getattr__(name):
    import importlib

    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'deeprsa' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
