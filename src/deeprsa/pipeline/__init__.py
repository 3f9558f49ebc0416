"""Runs: config -> validated plan -> tasks, executed serially or on Dask, into one report.

- :mod:`.config`: the plan objects (:class:`RunConfig` and its sections) and
  :func:`load_config`; ``_parse`` checks every key.
- :mod:`.plan`: :func:`build_plan` validates a whole run before any work
  (stimuli, models, every layer, analysis options) and names every array it
  writes by content key.
- :mod:`.serial` and :mod:`.dask`: the two executors of a plan's store stages
  (extraction, RDMs, comparisons); they share the engine's kernels and key
  derivation, so either finds what the other computed.
- :mod:`.sections`: the report sections, which read the store.
- :func:`run_config` (``deeprsa run``) ties them together.
"""

from .config import FIGURES, ConfigError, ModelPlan, RunConfig, load_config
from .plan import Plan, Task, build_plan
from .run import run_config
from .serial import SerialExecutor

__all__ = ["FIGURES", "ConfigError", "ModelPlan", "Plan", "RunConfig", "SerialExecutor", "Task",
           "build_plan", "load_config", "run_config"]
