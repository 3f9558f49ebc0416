"""deeprsa: representational similarity analysis of deep networks.

stimuli -> extract -> store -> rdm -> compare/align/stats -> plots/report
"""

from ._version import __version__
from .datasets import digits
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
    "list_sources",
    "load_model",
]
