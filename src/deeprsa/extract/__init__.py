"""Extraction: one forward pass per batch for all selected layers, streamed into the store.

- :func:`extract` (``_extract``): select the layers, create one store array
  per layer and run the stimuli through the network once, resumably.
- :mod:`.reductions`: the registry of per-layer reductions.
- ``_engine``: the forward-pass kernel both executors run, and the writer.
"""

from ._extract import NonFiniteActivationsWarning, extract
from .reductions import REDUCTIONS, list_reductions, register_reduction

__all__ = ["NonFiniteActivationsWarning", "extract", "list_reductions", "register_reduction",
           "REDUCTIONS"]

# The engine's interface for the executors (deeprsa.pipeline): not user API.
from ._engine import forward_batches as forward_batches  # noqa: E402
from ._extract import LayerPlan as LayerPlan  # noqa: E402
from ._extract import _plan as _plan  # noqa: E402
from ._extract import create_arrays as create_arrays  # noqa: E402
from ._extract import probe_layers as probe_layers  # noqa: E402
from .reductions import _reduce as _reduce  # noqa: E402
