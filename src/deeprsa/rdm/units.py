"""Unit subsets: which units (columns) of a layer an RDM is computed from.

``compute_rdms(store, units=...)`` makes one RDM per unit subset (the
``kernel_inds`` and ``kernel_set_name`` of pytorch_feature_analysis). A
subset is given by hand (a named mapping of column indices, per layer or for
every layer) or by a registered rule written ``"name:argument"``:

- ``"all"``: every unit (the default).
- ``"units:0-31,64-95"``: columns, as inclusive ranges.
- ``"channels:0-31"``: channels. With a reduction that keeps one feature per
  channel (``spatial_mean``, ``cls_token``, ``token_mean``) the columns are
  the channels; a flattened layer (channels x positions) needs its number of
  channels, ``"channels:0-31/64"``, and channel ``c`` is the block of columns
  ``c * s`` to ``(c + 1) * s - 1`` with ``s = n_units / 64``.
- ``"random_units:KxR"``: ``R`` seeded random subsets of ``K`` units (``xR``
  optional, default 1), named ``"random_units:KxR#0"`` ...
- ``"random_channels:KxR"`` (``/C`` for flattened layers): the same for channels.

:func:`register_unit_rule` adds a rule; :func:`list_unit_rules` lists them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import Registry

__all__ = ["describe_unit_rules", "list_unit_rules", "register_unit_rule", "unit_sets"]

_RULES = Registry("unit rule")
# Reductions whose features are the layer's channels, one each.
_PER_CHANNEL = ("spatial_mean", "cls_token", "token_mean")


@dataclass(frozen=True)
class UnitSet:
    """One unit subset of one layer: its name, column indices (None: all) and hash."""

    name: str
    indices: np.ndarray | None
    hash: str

    def take(self, X: np.ndarray) -> np.ndarray:
        """The columns of ``X`` (all of it for ``"all"``)."""
        return X if self.indices is None else X[:, self.indices]


def register_unit_rule(name: str, func=None):
    """Register ``func(argument, *, n_units, reduction, rng) -> {suffix: indices}``.

    ``argument`` is the text after ``"name:"`` (``""`` when there is none);
    ``n_units`` is the layer's width and ``reduction`` its reduction's name.
    Each returned entry is one unit subset, named ``"name:argument"`` plus its
    suffix (``""`` for one subset, ``"#0"`` ... for repeated draws).

    Examples
    --------
    >>> @register_unit_rule("first_half_demo")
    ... def _first_half(argument, *, n_units, reduction, rng):
    ...     "The first half of the units."
    ...     return {"": np.arange(n_units // 2)}
    >>> [u.name for u in unit_sets("first_half_demo", layer="fc", n_units=10)]
    ['first_half_demo']
    >>> _ = _RULES.pop("first_half_demo")  # leave the registry as it was
    """
    return _RULES.register_function(name, func, by="register_unit_rule")


def list_unit_rules() -> list[str]:
    """Names of the registered unit rules, sorted."""
    return sorted(_RULES)


def describe_unit_rules() -> dict[str, str]:
    """Unit rule name -> first line of its description, sorted by name."""
    return _RULES.describe()


def unit_sets(units, *, layer: str, n_units: int, model=None, reduction=None,
              seed=None) -> list[UnitSet]:
    """The unit subsets ``units`` names for one layer, checked, in order.

    Parameters
    ----------
    units : None, str, mapping or sequence of those
        None or ``"all"``: every unit. A rule such as ``"channels:0-31"``. A
        mapping ``{name: indices}`` for every layer, or
        ``{layer: {name: indices}}`` per layer. A list combines them.
    layer, model : str
        Which layer (and model): the mapping's key, and the random draws'
        salt, so each layer draws its own subsets whichever others are drawn.
    n_units : int
        The layer's width (columns of its activations).
    reduction : str, optional
        The layer's reduction (for the channel rules).
    seed : int, numpy.random.Generator or None
        Seeds the random rules.

    Returns
    -------
    list of UnitSet

    Raises
    ------
    ValueError
        If a rule is unknown or malformed, indices are out of range or
        repeated, two subsets share a name, or no subset applies to ``layer``.

    Examples
    --------
    >>> [(u.name, u.indices.tolist()) for u in unit_sets("units:0-2,5", layer="fc", n_units=8)]
    [('units:0-2,5', [0, 1, 2, 5])]
    >>> unit_sets("channels:1/4", layer="conv", n_units=8, reduction="flatten")[0].indices
    array([2, 3])
    """
    items = [units] if units is None or isinstance(units, (str, Mapping)) else list(units)
    if not items:
        raise ValueError("units is an empty list; leave it out (None) for every unit.")
    out: list[UnitSet] = []
    for item in items:
        if item is None or item == "all":
            out.append(UnitSet("all", None, "all"))
        elif isinstance(item, str):
            out += _from_rule(item, layer=layer, model=model, n_units=n_units,
                              reduction=reduction, seed=seed)
        elif isinstance(item, Mapping):
            out += _from_mapping(item, layer=layer, n_units=n_units)
        else:
            raise TypeError(f"units items must be a rule (str) or a mapping of index sets, got "
                            f"{type(item).__name__} {item!r}.")
    names = [u.name for u in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ValueError(f"Two unit subsets are named {dup!r} for layer {layer!r}; give each "
                         "its own name.")
    if not out:
        raise ValueError(f"units names no unit subset for layer {layer!r}; add it to the "
                         "mapping, or select layers with layer=.")
    return out


def _from_mapping(mapping, *, layer, n_units) -> list[UnitSet]:
    if mapping and all(isinstance(v, Mapping) for v in mapping.values()):
        mapping = mapping.get(layer, {})  # per layer: other layers get nothing from it
    out = []
    for name, indices in mapping.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Unit subset names must be non-empty strings, got {name!r}.")
        out.append(_unit_set(name, _indices(indices, name, layer, n_units)))
    return out


def _from_rule(spec, *, layer, model, n_units, reduction, seed) -> list[UnitSet]:
    name, _, argument = spec.partition(":")
    func = _RULES.get_checked(name)
    salt = f"{model}\x00{layer}\x00{spec}".encode()
    rng = np.random.default_rng([_entropy(seed),
                                 int.from_bytes(hashlib.blake2b(salt, digest_size=8).digest(),
                                                "little")])
    try:
        sets = func(argument, n_units=n_units, reduction=reduction, rng=rng)
    except ValueError as err:
        raise ValueError(f"Unit rule {spec!r} for layer {layer!r}: {err}") from None
    return [_unit_set(spec + suffix, _indices(idx, spec + suffix, layer, n_units))
            for suffix, idx in sets.items()]


def _entropy(seed) -> int:
    from .._validation import check_random_state

    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        return int(seed)
    return int(check_random_state(seed).integers(2**63 - 1))


def _indices(indices, name, layer, n_units) -> np.ndarray:
    arr = np.asarray(indices)
    if arr.ndim != 1 or not len(arr) or arr.dtype.kind not in "iu":
        raise ValueError(f"Unit subset {name!r} of layer {layer!r} must be a non-empty list of "
                         f"int column indices, got {indices!r}.")
    bad = arr[(arr < 0) | (arr >= n_units)]
    if len(bad):
        raise ValueError(f"Unit subset {name!r} of layer {layer!r} holds index {int(bad[0])}, "
                         f"outside the layer's {n_units} units (0 to {n_units - 1}).")
    if len(np.unique(arr)) != len(arr):
        raise ValueError(f"Unit subset {name!r} of layer {layer!r} repeats an index.")
    return arr.astype(np.intp)


def _unit_set(name, indices) -> UnitSet:
    digest = hashlib.blake2b(np.asarray(indices, dtype=np.int64).tobytes(), digest_size=8)
    return UnitSet(name, indices, digest.hexdigest())


def _ranges(text: str, what: str) -> np.ndarray:
    """``"0-31,40"`` -> ``[0, ..., 31, 40]`` (inclusive ranges)."""
    out = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise ValueError(f"{what} must be ranges such as '0-31' or '0-31,64-95', got "
                             f"{text!r}.")
        lo, hi = int(match[1]), int(match[2] if match[2] is not None else match[1])
        if hi < lo:
            raise ValueError(f"range {part.strip()!r} runs backwards; write '{hi}-{lo}'.")
        out.extend(range(lo, hi + 1))
    return np.asarray(out, dtype=np.intp)


def _channel_width(argument: str, n_units: int, reduction, rule: str) -> tuple[str, int, int]:
    """``(argument without /C, n_channels, units per channel)``."""
    body, slash, count = argument.partition("/")
    if slash:
        if not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"the number of channels after '/' must be a positive int, got "
                             f"{count!r}.")
        n_channels = int(count)
        if n_units % n_channels:
            raise ValueError(f"{n_units} units do not split into {n_channels} channels.")
        return body, n_channels, n_units // n_channels
    if reduction in _PER_CHANNEL:
        return body, n_units, 1
    raise ValueError(
        f"the layer's reduction {reduction!r} keeps channels x positions, so its columns are "
        f"not channels; give the number of channels, e.g. '{rule}:{body}/64', or extract with "
        "reduction='spatial_mean' (one feature per channel).")


def _channel_columns(channels: np.ndarray, n_channels: int, per: int) -> np.ndarray:
    bad = channels[channels >= n_channels]
    if len(bad):
        raise ValueError(f"channel {int(bad[0])} is outside the layer's {n_channels} channels.")
    return (channels[:, None] * per + np.arange(per)[None, :]).reshape(-1)


def _draws(body: str) -> tuple[int, int]:
    """``"16x10"`` -> ``(16, 10)``; ``"16"`` -> ``(16, 1)``."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:x\s*(\d+)\s*)?", body)
    if not match or int(match[1]) < 1 or (match[2] is not None and int(match[2]) < 1):
        raise ValueError(f"write the size and the number of draws as 'KxR' (e.g. '16x10'), "
                         f"got {body!r}.")
    return int(match[1]), int(match[2] or 1)


@register_unit_rule("units")
def _units(argument, *, n_units, reduction, rng):
    """Columns given as inclusive ranges: units:0-31,64-95."""
    return {"": _ranges(argument, "units:")}


@register_unit_rule("channels")
def _channels(argument, *, n_units, reduction, rng):
    """Channels as inclusive ranges, channels:0-31 (channels:0-31/64 for a flattened layer)."""
    body, n_channels, per = _channel_width(argument, n_units, reduction, "channels")
    return {"": _channel_columns(_ranges(body, "channels:"), n_channels, per)}


@register_unit_rule("random_units")
def _random_units(argument, *, n_units, reduction, rng):
    """R seeded random subsets of K units: random_units:KxR."""
    if "/" in argument:
        raise ValueError("random_units takes no '/C'; that is for random_channels.")
    k, r = _draws(argument)
    if k > n_units:
        raise ValueError(f"cannot draw {k} of the layer's {n_units} units.")
    return _named_draws([np.sort(rng.choice(n_units, size=k, replace=False))
                         for _ in range(r)])


@register_unit_rule("random_channels")
def _random_channels(argument, *, n_units, reduction, rng):
    """R seeded random subsets of K channels: random_channels:KxR (/C when flattened)."""
    body, n_channels, per = _channel_width(argument, n_units, reduction, "random_channels")
    k, r = _draws(body)
    if k > n_channels:
        raise ValueError(f"cannot draw {k} of the layer's {n_channels} channels.")
    return _named_draws([_channel_columns(np.sort(rng.choice(n_channels, size=k, replace=False)),
                                          n_channels, per) for _ in range(r)])


def _named_draws(draws: Sequence[np.ndarray]) -> dict:
    return {f"#{i}": d for i, d in enumerate(draws)}
