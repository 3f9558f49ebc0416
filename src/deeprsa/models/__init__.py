"""Model sources (a registry), weights and preprocessing.

``load_model("torchvision:resnet18", weights="random")`` is the one verb; the
sources are listed by :func:`list_sources`.
"""

from . import hub_sources as _hub_sources  # noqa: F401  (hf: and open_clip:, imported lazily)
from . import sources as _sources  # noqa: F401  (registers the built-in sources)
from ._registry import (
    LoadedModel,
    SourceResult,
    WeightsUnavailableError,
    hash_weights,
    list_sources,
    load_model,
    register_source,
    save_checkpoint,
)
from .preprocessing import IMAGENET_DEFAULT, Preprocessing

__all__ = [
    "IMAGENET_DEFAULT",
    "LoadedModel",
    "Preprocessing",
    "SourceResult",
    "WeightsUnavailableError",
    "hash_weights",
    "list_sources",
    "load_model",
    "register_source",
    "save_checkpoint",
]
