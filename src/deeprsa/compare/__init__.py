"""Second-order comparisons: RDMs with RDMs, representations with representations.

- :func:`compare_rdms` compares every pair between two collections of RDMs;
  :func:`compare_representations` two activation matrices directly (CKA,
  Procrustes, shape metrics, CCA, SVCCA, mutual k-NN).
- :func:`model_rdm` and :func:`multi_model_rdm` compare the layers of one or
  many models straight from a store, holding only blocks of RDM vectors.
- :func:`compute_meta_rdms` builds higher-order RDMs over any metadata.
- :mod:`.registry` holds the methods (:mod:`.rdm_methods`,
  :mod:`.representation_methods`, and any added with :func:`register_method`).

Every method is prepared once per input (an RDM is ranked or sorted once, a
representation centred or decomposed once) and then combined pair by pair, or
by one matrix product for the correlation-type methods.
"""

from ._compare import compare_rdms, compare_representations
from ._store import model_rdm, multi_model_rdm
from .meta import compute_meta_rdms
from .registry import describe_methods, list_methods, register_method
from .result import ComparisonResult

__all__ = ["ComparisonResult", "compare_rdms", "compare_representations", "compute_meta_rdms",
           "describe_methods", "list_methods", "model_rdm", "multi_model_rdm",
           "register_method"]

# For the other stages and the executors (stats, deeprsa.pipeline): not user API.
from .registry import _METHODS as _METHODS  # noqa: E402
from .registry import _check_method as _check_method  # noqa: E402
