"""First-order representational dissimilarity matrices (RDMs).

- :class:`RDM` / :class:`RDMs` (``_objects``): matrices that know their stimuli
  and provenance, with store and rsatoolbox round trips.
- :mod:`.measures`: the registry of first-order measures.
- ``_engine``: the tiled kernel (row tiles, one matrix product per tile pair)
  that both executors run.
- ``_compute``: :func:`compute_rdm` and :func:`compute_rdms`, from arrays or
  from the store; ``_stored`` plans and runs one stored layer's RDM (row tiles,
  or the column engine of ``_columns`` for layers wider than memory);
  ``_checks`` holds the argument checks both share.
- :mod:`.stacks` (with ``_entries``): stacks of RDMs, one per group of stimuli,
  over entries (averaged conditions), unit subsets and label permutations.
- :mod:`.units`: the registry of unit-subset rules.
- :mod:`.io`: :func:`load_rdms` reads brain, behavioural or other RDMs from
  files (NumPy, CSV, MATLAB, rsatoolbox HDF5); :func:`match_stimuli` orders
  them by a model's stimulus labels.
"""

from ._collection import RDMs
from ._compute import compute_rdm, compute_rdms
from ._engine import NonFiniteActivationsError
from ._objects import RDM
from .io import from_rsatoolbox, load_rdms, match_stimuli
from .measures import (
    ConstantPatternWarning,
    describe_measures,
    list_measures,
    register_measure,
)
from .units import list_unit_rules, register_unit_rule

__all__ = ["RDM", "RDMs", "ConstantPatternWarning", "NonFiniteActivationsError", "compute_rdm",
           "compute_rdms", "describe_measures", "from_rsatoolbox", "list_measures",
           "list_unit_rules", "load_rdms", "match_stimuli", "register_measure",
           "register_unit_rule"]

# The engine's interface for the executors (deeprsa.pipeline): not user API.
from ._objects import stimulus_key as stimulus_key  # noqa: E402
from ._stored import RDMTask as RDMTask  # noqa: E402
from ._stored import create_rdm_array as create_rdm_array  # noqa: E402
from ._stored import plan_rdm as plan_rdm  # noqa: E402
from ._stored import rdm_task as rdm_task  # noqa: E402
