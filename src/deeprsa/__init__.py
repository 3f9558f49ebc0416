"""deeprsa: representational similarity analysis of deep networks.

stimuli -> extract -> store -> rdm -> compare/align/stats -> plots/report
"""

from ._version import __version__
from .datasets import digits
from .extract import extract, list_reductions
from .layers import list_layers, read_layer_file, select_layers, write_layer_file
from .models import LoadedModel, Preprocessing, list_sources, load_model
from .stimuli import StimulusSet
from .store import Store

__all__ = [
    "LoadedModel",
    "Preprocessing",
    "StimulusSet",
    "Store",
    "__version__",
    "digits",
    "extract",
    "list_layers",
    "list_reductions",
    "read_layer_file",
    "select_layers",
    "write_layer_file",
    "list_sources",
    "load_model",
]
