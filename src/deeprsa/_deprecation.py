"""Deprecated spellings, kept for one release: renamed keywords and options made keyword-only.

Every renamed public keyword or option keeps working for one release and says,
with a DeprecationWarning pointing at the caller, what to write instead.
"""

from __future__ import annotations

import functools
import inspect
import warnings

__all__ = ["keyword_only", "merged_params", "moved_names", "renamed_keywords"]


def renamed_keywords(**renames):
    """Decorator: ``old=`` keywords still work as their ``new`` name, with a warning.

    Examples
    --------
    >>> @renamed_keywords(n_boot="n_resamples")
    ... def f(*, n_resamples=10):
    ...     return n_resamples
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     print(f(n_boot=3), caught[0].message)
    3 f(n_boot=...) is deprecated: write f(n_resamples=...); the old name will stop working in the next release.
    """
    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{func.__name__}() got both {old}= and {new}=; {old} is "
                                    f"the deprecated name of {new}: give {new} only.")
                warnings.warn(f"{func.__name__}({old}=...) is deprecated: write "
                              f"{func.__name__}({new}=...); the old name will stop working in "
                              "the next release.", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorator


def keyword_only(*names):
    """Decorator: options that became keyword-only may still come positionally, with a warning.

    ``names`` are the options, in their old positional order after the
    function's positional parameters.

    Examples
    --------
    >>> @keyword_only("method")
    ... def correct(pvalues, *, method="fdr_bh"):
    ...     return method
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     print(correct([0.1], "holm"), caught[0].message)
    holm Pass method by keyword: correct(..., method='holm'); passing it by position will stop working in the next release.
    """
    def decorator(func):
        positional = [p for p in inspect.signature(func).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            extra = args[len(positional):]
            if extra:
                if len(extra) > len(names):
                    raise TypeError(f"{func.__name__}() takes {len(positional)} positional "
                                    f"argument(s) and the options {names} by keyword; got "
                                    f"{len(args)} positional arguments.")
                shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, extra, strict=False))
                for name, value in zip(names, extra, strict=False):
                    if name in kwargs:
                        raise TypeError(f"{func.__name__}() got multiple values for {name!r}.")
                    kwargs[name] = value
                warnings.warn(f"Pass {', '.join(names[:len(extra)])} by keyword: "
                              f"{func.__name__}(..., {shown}); passing it by position will "
                              "stop working in the next release.", DeprecationWarning,
                              stacklevel=2)
                args = args[:len(positional)]
            return func(*args, **kwargs)

        return wrapper

    return decorator


def merged_params(params, loose: dict, where: str) -> dict:
    """``params`` plus parameters given the old way, as loose keywords (with a warning).

    The one way to pass a measure's or method's parameters is ``params={...}``;
    ``where`` names the function for the message.
    """
    params = dict(params or {})
    if loose:
        shown = ", ".join(f"{k!r}: {v!r}" for k, v in loose.items())
        warnings.warn(f"Pass parameters as params={{{shown}}}: {where}(..., params=...). "
                      "Loose keywords will stop working in the next release.",
                      DeprecationWarning, stacklevel=3)
        both = sorted(set(params) & set(loose))
        if both:
            raise TypeError(f"{where}() got {both[0]!r} both in params and as a keyword.")
        params.update(loose)
    return params


def moved_names(module: str, home: str, names=None):
    """A module ``__getattr__`` for names that moved from ``module`` to ``home``.

    ``names`` lists them (None: every public name of ``home``). Each access
    warns and returns the object from its new home; anything else is an
    AttributeError.
    """
    def __getattr__(name):
        import importlib

        target = importlib.import_module(home)
        moved = names if names is not None else [n for n in dir(target)
                                                 if not n.startswith("_")]
        if name in moved:
            warnings.warn(f"{module}.{name} moved to {home}.{name}; import it from there "
                          "(the old name will stop working in the next release).",
                          DeprecationWarning, stacklevel=2)
            return getattr(target, name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
