"""The registry of comparison methods: RDM methods and representation methods.

Every method is prepared once per input (an RDM is ranked or sorted once, a
representation centred or decomposed once) and then combined pair by pair, or
by one matrix product for the correlation-type methods. ``deeprsa methods``
and the README table list the registry, with each method's invariances:
transforms of one input that leave every value unchanged, from
:data:`RDM_INVARIANCES` (RDM methods) or :data:`deeprsa.rdm.measures.INVARIANCES`
(representation methods). The tests check the stated ones for every
registered method.
"""

from __future__ import annotations

import inspect

from .._deprecation import keyword_only
from .._validation import Registry, check_option, suggest
from ..rdm.measures import INVARIANCES, _check_invariances
from . import rdm_methods, representation_methods, whitened

__all__ = ["RDM_INVARIANCES", "describe_methods", "list_methods", "register_method"]

RDM_INVARIANCES = {
    "scaling": "a -> c a, c > 0 (every entry of one RDM multiplied by c)",
    "shift": "a -> a + c (a constant added to every entry of one RDM)",
    "monotone": "a -> f(a), f strictly increasing (only the order of the entries matters)",
}
"""Transforms of one RDM's entries that an RDM method may be invariant to."""
_VOCABULARIES = {"rdm": (RDM_INVARIANCES, "a method comparing RDMs"),
                 "representation": (INVARIANCES, "a method comparing representations")}

_METHODS = Registry("comparison method")
_INPUTS = ("rdm", "representation")
_KINDS = ("similarity", "distance")

for _cls in rdm_methods.METHODS + whitened.METHODS + representation_methods.METHODS:
    _check_invariances(_cls.invariances, *_VOCABULARIES[_cls.input])
    _METHODS.register(_cls.name)(_cls())


class _UserMethod:
    """A method registered with :func:`register_method`: one function per pair."""

    dot = False

    def __init__(self, name, func, *, input, kind, formula, value_range, reference,
                 invariances):
        self.name, self.func, self.input, self.kind = name, func, input, kind
        self.formula, self.value_range, self.reference = formula, value_range, reference
        self.invariances = invariances
        doc = (func.__doc__ or "").strip()
        self.__doc__ = doc.splitlines()[0] if doc else ""
        after_inputs = list(inspect.signature(func).parameters.values())[2:]
        self.defaults = {p.name: p.default for p in after_inputs
                         if p.default is not inspect.Parameter.empty}

    def prepare(self, x, **params):
        return (x,)

    def pair(self, a, b, **params):
        return float(self.func(a[0], b[0], **params))


def register_method(name: str, func=None, *, input: str = "rdm", kind: str = "similarity",
                    formula: str = "user function", value_range: str = "",
                    reference: str = "", invariances=()):
    """Register ``func(a, b, **params) -> float`` as a comparison method.

    For ``input="rdm"``, ``a`` and ``b`` are the upper triangles of two RDMs
    (float64 vectors in ``squareform`` order, finite, the same stimulus pairs);
    for ``input="representation"``, two activation matrices of shape
    (n_stimuli, n_units_a) and (n_stimuli, n_units_b). Keyword parameters of
    ``func`` with defaults become the method's parameters. The first line of
    the docstring is the description shown by ``deeprsa methods``. Use it as
    a decorator, or call it with ``func``.

    Parameters
    ----------
    name : str
        The method's name in ``method=`` arguments; must be new.
    func : callable, optional
        The comparison; omit it to use ``register_method`` as a decorator.
    input : {"rdm", "representation"}, default="rdm"
        What the method compares.
    kind : {"similarity", "distance"}, default="similarity"
        Whether larger values mean more alike (the model RDM is then
        ``1 - value``) or less alike (the value itself).
    formula, value_range, reference : str, optional
        Shown in the methods table.
    invariances : sequence of str, default=()
        Transforms of one input that leave every value unchanged: names from
        :data:`RDM_INVARIANCES` for ``input="rdm"`` (``"scaling"``, ``"shift"``,
        ``"monotone"``), from :data:`deeprsa.rdm.measures.INVARIANCES` for
        ``input="representation"`` (``"rotation"``, ``"scaling"``, ``"shift"``,
        ``"invertible_linear"``, ...). Shown by ``deeprsa methods``; the test
        suite checks the stated ones for every registered method, this one
        included.

    Raises
    ------
    ValueError
        If ``name`` is taken, or ``input``, ``kind`` or an invariance is unknown.

    Examples
    --------
    >>> from deeprsa import RDM, compare_rdms
    >>> @register_method("mean_ratio_demo")
    ... def mean_ratio(a, b):
    ...     "Ratio of the mean dissimilarities."
    ...     return a.mean() / b.mean()
    >>> x = RDM.from_vector([1, 2, 3], ["p", "q", "r"])
    >>> y = RDM.from_vector([2, 4, 6], ["p", "q", "r"])
    >>> float(compare_rdms(x, y, method="mean_ratio_demo").matrix[0, 0])
    0.5
    >>> _ = _METHODS.pop("mean_ratio_demo")  # leave the registry as it was
    """
    check_option("input", input, _INPUTS)
    check_option("kind", kind, _KINDS)
    invariances = _check_invariances(invariances, *_VOCABULARIES[input])

    def decorator(f):
        if not callable(f):
            raise TypeError(f"register_method needs a callable, got {type(f).__name__}.")
        _METHODS.register(name)(_UserMethod(name, f, input=input, kind=kind, formula=formula,
                                            value_range=value_range, reference=reference,
                                            invariances=invariances))
        return f

    return decorator if func is None else decorator(func)


@keyword_only("input")
def list_methods(*, input: str | None = None) -> list[str]:
    """Names of the registered comparison methods, sorted.

    Parameters
    ----------
    input : {"rdm", "representation"}, optional
        Only methods that compare RDMs, or only those that compare
        representations (activations) directly.

    Examples
    --------
    >>> list_methods(input="rdm")
    ['corr_cov', 'cosine', 'cosine_cov', 'kendall_tau_a', 'kendall_tau_b', 'pearson', 'rho_a', 'spearman']
    """
    if input not in (None, "rdm", "representation"):
        raise ValueError(f"input must be None, 'rdm' or 'representation', got {input!r}.")
    return sorted(n for n, m in _METHODS.items() if input in (None, m.input))


def describe_methods():
    """Table of the registered comparison methods, sorted by name.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``input`` (``"rdm"`` or ``"representation"``),
        ``kind`` (``"similarity"`` or ``"distance"``), ``description``,
        ``formula``, ``range``, ``params``, ``invariances`` (comma-separated
        names, see :data:`RDM_INVARIANCES` and
        :data:`deeprsa.rdm.measures.INVARIANCES`) and ``reference``.
    """
    import pandas as pd

    return pd.DataFrame([
        {"name": name, "input": m.input, "kind": m.kind, "description": doc,
         "formula": m.formula, "range": m.value_range,
         "params": ", ".join(f"{k}={v!r}" for k, v in m.defaults.items()),
         "invariances": ", ".join(m.invariances), "reference": m.reference}
        for (name, doc), m in zip(_METHODS.describe().items(),
                                  (_METHODS[n] for n in sorted(_METHODS)), strict=True)])


def _check_method(method, params, input):
    """Return the registered method and its full parameter dict, or raise helpfully."""
    spec = _METHODS.get_checked(method)
    if spec.input != input:
        other = ("compare_representations(X, Y, method=...) on activations"
                 if spec.input == "representation" else "compare_rdms(a, b, method=...)")
        raise ValueError(
            f"Method {method!r} compares {spec.input}s, not {input}s; use {other}. "
            f"Methods for {input}s: {', '.join(map(repr, list_methods(input=input)))}.")
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        allowed = sorted(spec.defaults)
        raise ValueError(
            f"Unknown parameter {unknown[0]!r} for method {method!r}."
            f"{suggest(unknown[0], allowed)} "
            + (f"It takes: {', '.join(map(repr, allowed))}." if allowed
               else "It takes no parameters."))
    return spec, {**spec.defaults, **params}
