"""Deprecated: run configs moved to :mod:`deeprsa.pipeline.config`.

``deeprsa.config.load_config``, ``RunConfig``, ``ConfigError`` and the other
names keep working for one release, with a DeprecationWarning.
"""

import warnings


def __getattr__(name):
    from .pipeline import config

    if hasattr(config, name) and not name.startswith("__"):
        warnings.warn(f"deeprsa.config.{name} moved to deeprsa.pipeline.config.{name}; "
                      "deeprsa.config will be removed in the next release.",
                      DeprecationWarning, stacklevel=2)
        return getattr(config, name)
    raise AttributeError(f"module 'deeprsa.config' has no attribute {name!r}")
