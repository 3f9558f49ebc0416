"""Deprecated: the Dask executor moved to :mod:`deeprsa.pipeline.dask`.

``deeprsa.cluster.run_plan``, ``start_cluster`` and ``PlanResult`` keep
working for one release, with a DeprecationWarning.
"""

import warnings

_MOVED = ("PlanResult", "run_plan", "start_cluster")


def __getattr__(name):
    if name in _MOVED:
        warnings.warn(f"deeprsa.cluster.{name} moved to deeprsa.pipeline.dask.{name}; "
                      "deeprsa.cluster will be removed in the next release.",
                      DeprecationWarning, stacklevel=2)
        from .pipeline import dask

        return getattr(dask, name)
    raise AttributeError(f"module 'deeprsa.cluster' has no attribute {name!r}")
