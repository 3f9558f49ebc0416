"""Reaching a Dask cluster (start a local one, or join one) and the result of a plan run on it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["PlanResult", "start_cluster"]

# The executor's logger: the dashboard link is logged (and shown by `deeprsa run`) there.
log = logging.getLogger("deeprsa.pipeline.dask")

_STAGES = ("extract", "rdm", "compare")


def _distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError('Running on a Dask cluster needs the optional package '
                          'dask.distributed: pip install "deeprsa[dask]"') from err
    return distributed


def start_cluster(cluster: str = "local", *, threads_per_worker: int = 1, **kwargs):
    """Start a local Dask cluster, or connect to a running one; return its client.

    Parameters
    ----------
    cluster : str, default="local"
        ``"local"`` starts a ``dask.distributed.LocalCluster`` with one
        single-threaded worker process per core; ``"local:N"`` starts N of
        them. Anything else is the address of a running scheduler
        (``"tcp://10.0.0.5:8786"``) or the path of its scheduler file
        (``scheduler.json``, as ``dask scheduler --scheduler-file`` and
        dask-jobqueue write it).
    threads_per_worker : int, default=1
        Threads of each local worker. One thread per process keeps torch's
        and BLAS's own threads from competing.
    **kwargs
        Passed to ``LocalCluster`` (e.g. ``memory_limit="4GiB"``,
        ``dashboard_address=":8787"``).

    Returns
    -------
    distributed.Client
        Closing it (``client.close()``, or leaving a ``with`` block) also
        stops a local cluster started here.

    Raises
    ------
    ValueError
        If ``cluster`` is ``"local:N"`` with N not a positive int.
    ImportError
        If dask.distributed is not installed.

    Notes
    -----
    The dashboard link is logged (logger ``deeprsa.pipeline.dask``, level INFO);
    ``deeprsa cluster-run`` prints it. Serving the dashboard needs bokeh
    (``pip install bokeh``).

    See Also
    --------
    run_plan : Run a plan on the cluster.
    """
    if not isinstance(cluster, str):
        raise TypeError(f"cluster must be a str ('local', 'local:N' or a scheduler address), "
                        f"got {type(cluster).__name__}.")
    distributed = _distributed()
    if cluster == "local" or cluster.startswith("local:"):
        count = cluster.partition(":")[2]
        if cluster != "local" and (not count.isdigit() or int(count) < 1):
            raise ValueError(f"cluster must be 'local', 'local:N' with N a positive number of "
                             f"workers, or a scheduler address; got {cluster!r}.")
        n_workers = int(count) if count else max(1, (os.cpu_count() or 1) // threads_per_worker)
        client = distributed.Client(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                    processes=True, **kwargs)
        what = f"local cluster of {n_workers} worker(s)"
    elif cluster.endswith(".json") and os.path.isfile(cluster):
        client = distributed.Client(scheduler_file=cluster)
        what = f"scheduler of {cluster}"
    else:
        client = distributed.Client(cluster)
        what = f"scheduler at {cluster}"
    log.info("Dask %s; dashboard: %s%s", what, client.dashboard_link, _dashboard_note())
    return client


def _dashboard_note() -> str:
    import importlib.util

    return "" if importlib.util.find_spec("bokeh") else " (pip install bokeh to serve it)"


@dataclass(frozen=True, eq=False)
class PlanResult:
    """What :func:`run_plan` did, and the comparisons it made.

    Attributes
    ----------
    work : pandas.DataFrame
        One row per store array (activations of a layer, an RDM) and per
        comparison: ``stage`` (``"extract"``, ``"rdm"``, ``"compare"``),
        ``model``, ``layer``, ``measure``, ``method``, ``key`` (in the store),
        ``blocks`` (shards, tiles or comparison tasks it takes),
        ``computed`` (how many this run computed) and ``status``
        (``"computed"``, ``"resumed"`` when earlier blocks were reused,
        ``"skipped"`` when it was complete).
    comparisons : mapping of str to ComparisonResult
        The multi-model comparison of every layer of every model, per method
        (also saved in the store as ``"multi_model_rdm"``).
    """

    work: Any
    comparisons: Any = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "comparisons", MappingProxyType(dict(self.comparisons)))

    def __repr__(self):
        counts = self.work.groupby("stage", sort=False)["computed"].sum()
        shown = ", ".join(f"{stage} {int(counts.get(stage, 0))}" for stage in _STAGES)
        return f"PlanResult(blocks computed: {shown}; methods={list(self.comparisons)})"
