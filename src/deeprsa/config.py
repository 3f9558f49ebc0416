"""Deprecated: run configs moved to :mod:`deeprsa.pipeline.config`.

``deeprsa.config.load_config``, ``RunConfig``, ``ConfigError`` and the other
names keep working for one release, with a DeprecationWarning.
"""

from ._deprecation import moved_names

__getattr__ = moved_names("deeprsa.config", "deeprsa.pipeline.config")
