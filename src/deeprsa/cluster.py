"""Deprecated: the Dask executor moved to :mod:`deeprsa.pipeline.dask`.

``deeprsa.cluster.run_plan``, ``start_cluster`` and ``PlanResult`` keep
working for one release, with a DeprecationWarning.
"""

from ._deprecation import moved_names

__getattr__ = moved_names("deeprsa.cluster", "deeprsa.pipeline.dask",
                          ("PlanResult", "run_plan", "start_cluster"))
