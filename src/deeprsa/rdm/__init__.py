"""First-order representational dissimilarity matrices (RDMs).

- :class:`RDM` / :class:`RDMs` (``_objects``): matrices that know their stimuli
  and provenance, with store and rsatoolbox round trips.
- :mod:`.measures`: the registry of first-order measures.
- ``_engine``: the tiled kernel (row tiles, one matrix product per tile pair)
  that both executors run.
- ``_compute``: :func:`compute_rdm` and :func:`compute_rdms`, from arrays or
  from the store in row tiles.
"""

from ._compute import compute_rdm, compute_rdms
from ._engine import NonFiniteActivationsError
from ._objects import RDM, RDMs
from .measures import (
    ConstantPatternWarning,
    describe_measures,
    list_measures,
    register_measure,
)

__all__ = ["RDM", "RDMs", "ConstantPatternWarning", "NonFiniteActivationsError", "compute_rdm",
           "compute_rdms", "describe_measures", "list_measures", "register_measure"]

# The engine's interface for the executors (deeprsa.pipeline): not user API.
from ._compute import RDMTask as RDMTask  # noqa: E402
from ._compute import create_rdm_array as create_rdm_array  # noqa: E402
from ._compute import plan_rdm as plan_rdm  # noqa: E402
from ._compute import rdm_task as rdm_task  # noqa: E402
from ._objects import stimulus_key as stimulus_key  # noqa: E402
