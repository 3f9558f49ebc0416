"""First-order measures: a registry of how activation patterns become dissimilarities.

A built-in measure prepares each row tile once (centred, normalised, ranked)
and finishes the tile pair's matrix product in place; a measure registered
by a user is a function of two row tiles. ``deeprsa measures`` and the README
table list the registry, with each measure's invariances: transforms of the
activations (:data:`INVARIANCES`) that leave every dissimilarity unchanged.
The tests check the stated ones for every registered measure.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import numpy as np

from .._validation import Registry, suggest

__all__ = ["ConstantPatternWarning", "INVARIANCES", "describe_measures", "list_measures",
           "register_measure"]

INVARIANCES = {
    "rotation": "X -> X Q, Q orthogonal (n_units x n_units)",
    "unit_permutation": "X -> X[:, perm], the units reordered",
    "scaling": "X -> c X, c > 0",
    "shift": "X -> X + b, one vector b added to every stimulus (each unit shifted by a "
             "constant)",
    "invertible_linear": "X -> X A, A invertible (n_units x n_units)",
    "pattern_scaling": "each stimulus's pattern multiplied by its own c_i > 0",
    "pattern_shift": "each stimulus's pattern shifted by its own constant c_i",
    "pattern_monotone": "each stimulus's values passed through its own strictly increasing "
                        "function",
}
"""Transforms of activations X of shape (n_stimuli, n_units) that a measure (or a method
comparing representations) may be invariant to: every value stays the same."""


def _check_invariances(invariances, vocabulary, what):
    """``invariances`` as a tuple of names from ``vocabulary``; a did-you-mean error if not.

    ``what`` names the registered kind in the message, e.g. "a measure".
    """
    if isinstance(invariances, str):
        invariances = (invariances,)
    for name in invariances:
        if name not in vocabulary:
            raise ValueError(
                f"Unknown invariance {name!r} for {what}.{suggest(name, vocabulary)} "
                f"Available: {', '.join(map(repr, sorted(vocabulary)))}.")
    return tuple(invariances)

class ConstantPatternWarning(UserWarning):
    """Some stimuli have constant activations, so a measure is undefined for them.

    The message names the stimulus ids; the RDM holds the documented
    fallback values (see :func:`compute_rdm`).
    """


_MEASURES = Registry("measure")


class _Measure:
    """A registered measure: how to prepare rows and turn their products into dissimilarities."""

    def __init__(self, name, description, *, formula, range, notes="", params=None,
                 prepare=None, finish=None, pairwise=None, constant=None, references="",
                 invariances=()):
        self.name = name
        self.invariances = _check_invariances(invariances, INVARIANCES, "a measure")
        self.__doc__ = description
        self.formula = formula
        self.range = range
        self.notes = notes
        self.params = dict(params or {})
        self.prepare = prepare    # (X, column_mean) -> (Z, row_term, constant_mask, check)
        self.finish = finish      # (G, row_term_i, row_term_j, n_features, **params), in place
        self.pairwise = pairwise  # user measure: func(A, B, **params) -> (len(A), len(B))
        self.constant = constant  # what constant rows mean, for the warning; None: no issue
        self.references = references

    @property
    def centres_columns(self) -> bool:
        return self.prepare is _prepare_squared


def register_measure(name: str, func=None, *, invariances=()):
    """Register a measure ``func(A, B, **params) -> ndarray of shape (len(A), len(B))``.

    ``A`` and ``B`` are float arrays of shape (n_a, n_features) and (n_b, n_features),
    row tiles of the activations; ``func`` returns the dissimilarity of every row of
    ``A`` to every row of ``B``. deeprsa keeps the upper triangle, mirrors it and
    sets the diagonal to 0; it does not clip. Keyword parameters of ``func`` (with
    defaults) become the measure's parameters: ``compute_rdm(X, measure=name, p=3)``.
    Tiles have ``batch_size`` rows (default 256), so ``func`` may broadcast.
    The first line of the docstring is the description shown by ``deeprsa measures``.
    Use it as a decorator, or call it with ``func``.

    Parameters
    ----------
    name : str
        The measure's name in ``measure=`` arguments; must be new.
    func : callable, optional
        The measure; omit it to use ``register_measure`` as a decorator.
    invariances : sequence of str, default=()
        Transforms of the activations that leave every dissimilarity unchanged,
        names from :data:`INVARIANCES` (``"rotation"``, ``"scaling"``, ``"shift"``,
        ...). Shown by ``deeprsa measures``; the test suite checks the stated
        ones for every registered measure, this one included.

    Raises
    ------
    ValueError
        If a measure called ``name`` already exists, or an invariance is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from deeprsa import compute_rdm
    >>> @register_measure("manhattan_demo")
    ... def manhattan(A, B):
    ...     '''Sum of absolute differences (cityblock).'''
    ...     return np.abs(A[:, None, :] - B[None, :, :]).sum(-1)
    >>> compute_rdm([[0, 0], [1, 2], [3, 3]], measure="manhattan_demo").vector()
    array([3., 6., 3.], dtype=float32)
    >>> _ = _MEASURES.pop("manhattan_demo")  # leave the registry as it was
    """
    invariances = _check_invariances(invariances, INVARIANCES, "a measure")

    def decorator(f):
        if not callable(f):
            raise TypeError(f"register_measure needs a callable, got {type(f).__name__}.")
        sig = inspect.signature(f)
        params = {p.name: p.default for p in list(sig.parameters.values())[2:]
                  if p.default is not inspect.Parameter.empty}
        doc = (f.__doc__ or "").strip()
        measure = _Measure(name, doc.splitlines()[0] if doc else "", formula="user function",
                           range="", params=params, pairwise=f, invariances=invariances)
        _MEASURES.register(name)(measure)
        return f

    return decorator if func is None else decorator(func)


def list_measures() -> list[str]:
    """Names of all registered measures, sorted.

    Examples
    --------
    >>> list_measures()
    ['correlation', 'cosine', 'euclidean', 'normalized_euclidean', 'spearman', 'sqeuclidean']
    """
    return sorted(_MEASURES)


def describe_measures():
    """Table of the registered measures: name, description, formula, range, params, notes.

    The ``invariances`` column names the transforms of the activations (see
    :data:`INVARIANCES`) that leave the measure's values unchanged.

    Returns
    -------
    pandas.DataFrame
        One row per measure, sorted by name.
    """
    import pandas as pd

    rows = []
    for name in list_measures():
        m = _MEASURES[name]
        rows.append({"name": name, "description": m.__doc__, "formula": m.formula,
                     "range": m.range, "params": ", ".join(f"{k}={v!r}"
                                                           for k, v in m.params.items()),
                     "invariances": ", ".join(m.invariances), "notes": m.notes})
    return pd.DataFrame(rows)


def _centre_normalise(X):
    """Rows to zero mean and unit norm; constant rows become zero rows.

    Returns ``(Z, None, constant, norm)``; a NaN or infinite ``norm`` marks a bad row.
    """
    mean = X.mean(axis=1, keepdims=True)
    Z = X - mean
    norm = np.sqrt(np.einsum("ij,ij->i", Z, Z))
    # A constant row centres to rounding noise far below 1e-3 |mean| per unit; only
    # such candidates get the exact (and slower) test that all their values are equal.
    constant = norm <= 1e-3 * np.abs(mean[:, 0]) * np.sqrt(X.shape[1])
    candidates = np.flatnonzero(constant)
    constant[candidates] = np.ptp(X[candidates], axis=1) == 0
    scale = np.where(constant, 1, norm)
    Z *= (1 / scale)[:, None]
    Z[constant] = 0
    return Z, None, constant, norm


def _prepare_pearson(X, column_mean):
    return _centre_normalise(X)


def _prepare_spearman(X, column_mean):
    from scipy.stats import rankdata

    ranks = np.empty_like(X)
    for start in range(0, len(X), 256):  # rank in slabs: rankdata works in float64
        ranks[start:start + 256] = rankdata(X[start:start + 256], axis=1, method="average")
    Z, _, constant, norm = _centre_normalise(ranks)
    return Z, None, constant, np.where(np.isfinite(X).all(axis=1), norm, np.nan)


def _prepare_cosine(X, column_mean):
    norm = np.sqrt(np.einsum("ij,ij->i", X, X))
    zero = norm == 0
    return X * (1 / np.where(zero, 1, norm))[:, None], None, zero, norm


def _prepare_squared(X, column_mean):
    Z = X - column_mean  # distances ignore a shift; centring avoids cancellation
    term = np.einsum("ij,ij->i", Z, Z)
    return Z, term, None, term


def _finish_one_minus(G, ri, rj, n_features):
    np.subtract(1, G, out=G)
    np.clip(G, 0, 2, out=G)


def _finish_squared(G, ri, rj, n_features, per_feature=False):
    G *= -2
    G += ri[:, None]
    G += rj[None, :]
    np.maximum(G, 0, out=G)
    if per_feature:
        G *= 1 / n_features


def _finish_euclidean(G, ri, rj, n_features):
    _finish_squared(G, ri, rj, n_features)
    np.sqrt(G, out=G)


def _finish_normalized(G, ri, rj, n_features):
    _finish_squared(G, ri, rj, n_features, per_feature=True)
    np.sqrt(G, out=G)


# correlation-type measures ignore an affine change of each pattern; distances a rigid motion
_PATTERN_AFFINE = ("unit_permutation", "scaling", "pattern_scaling", "pattern_shift")
_RIGID = ("rotation", "unit_permutation", "shift")
_NO_SIMILARITY = ("dissimilarity 1 (no similarity) to every other stimulus and 0 between "
                  "two {what} rows")
for _name, _description, _kw in [
    ("correlation", "1 - Pearson correlation between stimulus patterns.", dict(
        formula="1 - r(x, y), r = (x - mean x)·(y - mean y) / (|x - mean x| |y - mean y|)",
        range="[0, 2]", prepare=_prepare_pearson, finish=_finish_one_minus,
        constant=("constant", _NO_SIMILARITY.format(what="constant")),
        notes="The input RDM of Kriegeskorte et al. (2008); rsatoolbox 'correlation'. "
              "Constant rows: 1 to "
              "others, 0 to each other.",
        references="Kriegeskorte, Mur & Bandettini (2008), Front. Syst. Neurosci. 2:4.",
        invariances=_PATTERN_AFFINE)),
    ("spearman", "1 - Spearman correlation (Pearson of the ranked values of each pattern).",
     dict(formula="1 - r(rank x, rank y), ties ranked by their average",
          range="[0, 2]", prepare=_prepare_spearman, finish=_finish_one_minus,
          constant=("constant", _NO_SIMILARITY.format(what="constant")),
          notes="Constant rows: 1 to others, 0 to each other.",
          references="Spearman (1904), Am. J. Psychol. 15:72-101.",
          invariances=_PATTERN_AFFINE + ("pattern_monotone",))),
    ("cosine", "1 - cosine similarity between stimulus patterns (no centring).", dict(
        formula="1 - x·y / (|x| |y|)", range="[0, 2]", prepare=_prepare_cosine,
        finish=_finish_one_minus, constant=("all-zero", _NO_SIMILARITY.format(what="all-zero")),
        notes="All-zero rows (e.g. silenced by a ReLU): 1 to others, 0 to each other.",
        references="scipy.spatial.distance.cosine.",
        invariances=("rotation", "unit_permutation", "scaling", "pattern_scaling"))),
    ("euclidean", "Euclidean distance between stimulus patterns.", dict(
        formula="|x - y|", range="[0, inf)", prepare=_prepare_squared,
        finish=_finish_euclidean,
        notes="The RSA tutorial notebook uses normalized_euclidean; rsatoolbox's 'euclidean' is "
              "sqeuclidean with per_feature=True.",
        references="scipy.spatial.distance.euclidean.", invariances=_RIGID)),
    ("sqeuclidean", "Squared Euclidean distance (per_feature=True divides by n_features).",
     dict(formula="|x - y|^2, or |x - y|^2 / n_features with per_feature=True",
          range="[0, inf)", prepare=_prepare_squared, finish=_finish_squared,
          params={"per_feature": False},
          notes="per_feature=True is rsatoolbox's calc_rdm(method='euclidean').",
          references="Nili et al. (2014), PLoS Comput. Biol. 10:e1003553 (rsatoolbox).",
          invariances=_RIGID)),
    ("normalized_euclidean", "Euclidean distance divided by sqrt(n_features).",
     dict(formula="|x - y| / sqrt(n_features) = sqrt(mean((x - y)^2))", range="[0, inf)",
          prepare=_prepare_squared, finish=_finish_normalized,
          notes="The root-mean-square difference per unit; comparable across layers of "
                "different width.",
          references="The RSA tutorial notebook (compute_rdm with normalize_distances=True).",
          invariances=_RIGID)),
]:
    _MEASURES.register(_name)(_Measure(_name, _description, **_kw))


def _check_params(measure: _Measure, params: Mapping) -> dict:
    """All parameters of ``measure`` (defaults filled in), checked."""
    unknown = [p for p in params if p not in measure.params]
    if unknown:
        if not measure.params:
            raise ValueError(f"Measure {measure.name!r} takes no parameters, got "
                             f"{unknown[0]!r}.")
        raise ValueError(
            f"Unknown parameter {unknown[0]!r} for measure {measure.name!r}."
            f"{suggest(unknown[0], measure.params)} Available: "
            f"{', '.join(map(repr, sorted(measure.params)))}.")
    full = {**measure.params, **params}
    if measure.pairwise is None and not isinstance(full.get("per_feature", False), bool):
        raise ValueError(f"per_feature must be True or False, got {full['per_feature']!r}.")
    return full
