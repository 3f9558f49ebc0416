"""Checks of the ``[[targets]]`` tables of a run config (brain or behavioural RDMs)."""

from __future__ import annotations

from .config import ConfigError


def target_checks() -> dict:
    """Key -> check(key, value) of a ``[[targets]]`` table."""
    from ..analyses.targets import _OVER
    from ..analyses.weighted import _FITS
    from ..compare import list_methods
    from ..rdm.io import _FORMATS
    from ..stats import list_corrections
    from ._parse import _int, _option, _str, _strings

    def weighted(key, value):
        if value is False:
            return None
        if value is True:
            return "cosine"
        return _option(key, value, _FITS, "method for weighted RSA")

    def labels(key, value):
        return _str(key, value) if isinstance(value, str) else _strings(key, value)

    return {
        "path": _str, "name": _str, "key": _str,
        "format": lambda k, v: _option(k, v, _FORMATS, "format"),
        "labels": labels,
        "method": lambda k, v: _option(k, v, list_methods(input="rdm"), "method"),
        "over": lambda k, v: _option(k, v, _OVER, "over"),
        "n_resamples": lambda k, v: _int(k, v, low=2),
        "confidence": _confidence,
        "correction": lambda k, v: _option(k, v, list_corrections(), "correction"),
        "cv": lambda k, v: _int(k, v, low=2),
        "weighted": weighted,
    }


def _confidence(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(key, f"config key {key!r} must be a number strictly between 0 and "
                               f"1, e.g. 0.95; got {value!r}.")
    return float(value)
