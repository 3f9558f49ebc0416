"""Reductions: how a layer's output becomes one row of features per stimulus (a registry).

A reduction runs inside the forward hook, on the device of the forward pass,
so only reduced rows leave it. ``deeprsa reductions`` and the README table
list the registry.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from .._validation import Registry, suggest
from ..layers import _first_tensor

__all__ = ["REDUCTIONS", "list_reductions", "register_reduction"]

REDUCTIONS = Registry("reduction")


def register_reduction(name: str):
    """Register ``func(output, **params) -> (batch, n_features) tensor`` as a reduction."""
    return REDUCTIONS.register(name)


def list_reductions() -> list[str]:
    """Names of the registered reductions, sorted."""
    return sorted(REDUCTIONS)


@register_reduction("flatten")
def _flatten(x):
    """Every unit: the output flattened to (batch, channels x height x width)."""
    return x.reshape(x.shape[0], -1)


@register_reduction("spatial_mean")
def _spatial_mean(x):
    """Mean over the spatial axes of a (batch, channels, ...) map: one value per channel."""
    if x.ndim == 3:
        raise ValueError(
            "spatial_mean needs a (batch, channels, height, width) map; this layer gives "
            f"{tuple(x.shape)} tokens. Use 'cls_token' or 'token_mean' for transformers.")
    return x.reshape(x.shape[0], -1) if x.ndim <= 2 else x.flatten(2).mean(dim=2)


@register_reduction("cls_token")
def _cls_token(x):
    """The class token (position 0) of a (batch, tokens, features) transformer output."""
    if x.ndim != 3:
        raise ValueError(f"cls_token needs (batch, tokens, features); got {tuple(x.shape)}.")
    return x[:, 0]


@register_reduction("token_mean")
def _token_mean(x):
    """Mean over the tokens of a (batch, tokens, features) transformer output."""
    if x.ndim != 3:
        raise ValueError(f"token_mean needs (batch, tokens, features); got {tuple(x.shape)}.")
    return x.mean(dim=1)


@lru_cache(maxsize=64)
def _subsample_indices(n_units: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_units, size=k, replace=False))


@register_reduction("subsample_units")
def _subsample_units(x, k=1000, seed=0):
    """A seeded random subset of k units of the flattened output (ManteLab notebook: 1,000).

    The ManteLab course notebook on representations in deep networks samples
    1,000 units of each layer before its PCA.
    """
    import torch

    flat = x.reshape(x.shape[0], -1)
    n = flat.shape[1]
    if k >= n:
        return flat
    idx = torch.from_numpy(_subsample_indices(n, int(k), int(seed))).to(flat.device)
    return flat.index_select(1, idx)


@lru_cache(maxsize=256)
def _sketch_matrix(n_units: int, k: int, seed: int):
    """The very sparse projection of Li, Hastie & Church (2006), as (rows, cols, values).

    Entry (i, j) of the ``n_units x k`` matrix is ``+-sqrt(s / k)`` with
    probability ``1 / s`` (each sign half of it) and 0 otherwise, with
    ``s = sqrt(n_units)``: the expected inner product of two projected rows is
    the inner product of the rows. Drawn from ``seed`` (and the sizes) alone,
    so the same seed gives the same matrix on every machine and device.
    """
    rng = np.random.default_rng([int(seed), int(n_units), int(k)])
    s = np.sqrt(n_units)
    counts = rng.binomial(n_units, 1.0 / s, size=k)
    rows = np.concatenate([rng.choice(n_units, m, replace=False) for m in counts])
    cols = np.repeat(np.arange(k), counts)
    values = rng.choice(np.array([-1.0, 1.0]), size=len(rows)) * np.sqrt(s / k)
    return rows, cols, values


@lru_cache(maxsize=64)
def _sketch_operator(n_units: int, k: int, seed: int, device: str):
    """The projection's transpose as a sparse CSR tensor on ``device``, and its column sums."""
    import torch

    rows, cols, values = _sketch_matrix(n_units, k, seed)
    with _quiet_sparse():
        transpose = torch.sparse_coo_tensor(
            np.vstack([cols, rows]), torch.tensor(values, dtype=torch.float32), (k, n_units),
        ).coalesce().to_sparse_csr().to(device)
    sums = np.zeros(k)
    np.add.at(sums, cols, values)
    return transpose, torch.tensor(sums, dtype=torch.float32, device=device)


@contextmanager
def _quiet_sparse():
    """torch warns that sparse CSR support is beta on first use; the use here is plain."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse.*", category=UserWarning)
        yield


@register_reduction("sketch")
def _sketch(x, k=1024, seed=0, centre=True):
    """A very sparse random projection of the units to k dimensions (Li, Hastie & Church 2006).

    Layers with at most ``k`` units are kept whole. Inner products (and so
    Euclidean distances) are preserved on average; with ``centre=True`` each
    stimulus' pattern is centred over its units first, as the correlation
    measure does, so correlation RDMs are approximated. Seeded: the same seed
    gives the same projection everywhere. An approximation: ``sketch="auto"``
    in a run measures its fidelity (docs/scaling.md).
    """
    flat = x.reshape(x.shape[0], -1)
    n = flat.shape[1]
    if n <= k:
        return flat
    transpose, sums = _sketch_operator(n, int(k), int(seed), str(flat.device))
    flat32 = flat.float()
    with _quiet_sparse():
        projected = (transpose @ flat32.T).T
    if centre:
        projected = projected - flat32.mean(dim=1, keepdim=True) * sums
    return projected


# Keys of a reduction's dict that record how it was chosen, not arguments of its function.
_RECORD_KEYS = ("name", "calibration")


def _defaults(func) -> dict:
    """The keyword parameters (with their defaults) of a reduction function, after ``x``."""
    import inspect

    return {p.name: p.default for p in list(inspect.signature(func).parameters.values())[1:]
            if p.default is not inspect.Parameter.empty}


def _canonical_reduction(spec, layer) -> dict:
    """``"flatten"``, ``"subsample_units:1000"``, ``"sketch:2048"`` or a dict -> a full dict.

    The dict holds the name and every parameter, defaults filled in (so that
    equal reductions give equal store keys); ``"name:K"`` sets the first
    parameter (``k``).
    """
    if isinstance(spec, str):
        name, _, arg = spec.partition(":")
        func = REDUCTIONS.get_checked(name)
        params = {}
        if arg:
            first = next(iter(_defaults(func)), None)
            if first is None:
                raise ValueError(f"Reduction {name!r} takes no ':' argument (layer {layer!r}).")
            try:
                params[first] = int(arg)
            except ValueError:
                raise ValueError(f"Reduction {name!r} takes an int after ':', got {arg!r} "
                                 f"(layer {layer!r}).") from None
        spec = {"name": name, **params}
    elif not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(
            f"A reduction is a name such as 'flatten' or a dict with a 'name' key; got "
            f"{spec!r} for layer {layer!r}.")
    defaults = _defaults(REDUCTIONS.get_checked(spec["name"]))
    unknown = [k for k in spec if k not in defaults and k not in _RECORD_KEYS]
    if unknown:
        raise ValueError(f"Reduction {spec['name']!r} has no parameter {unknown[0]!r}"
                         f"{suggest(unknown[0], defaults)} (layer {layer!r}); it takes "
                         f"{sorted(defaults) or 'none'}.")
    out = {"name": spec["name"], **defaults, **{k: v for k, v in spec.items() if k != "name"}}
    for name in ("k",):
        if name in out and (isinstance(out[name], bool) or not isinstance(out[name], int)
                            or out[name] < 1):
            raise ValueError(f"{out['name']} needs {name} >= 1, got {out[name]} "
                             f"(layer {layer!r}).")
    return out


def _reduce_tensor(output, reduction: dict, layer: str):
    """``output`` reduced to ``(batch, n_features)``, on its own device and dtype."""
    t = _first_tensor(output)
    if t is None:
        raise TypeError(f"Layer {layer!r} returned {type(output).__name__} with no tensor in it.")
    params = {k: v for k, v in reduction.items() if k not in _RECORD_KEYS}
    try:
        return REDUCTIONS[reduction["name"]](t, **params)
    except ValueError as err:
        raise ValueError(f"Layer {layer!r}: {err}") from None


def _reduce(output, reduction: dict, layer: str):
    """``output`` reduced, as a float32 CPU tensor (what the store receives)."""
    import torch

    return _reduce_tensor(output, reduction, layer).detach().to("cpu", torch.float32)


def _per_layer_reductions(reduction, names) -> dict:
    if isinstance(reduction, dict) and "name" not in reduction:
        unknown = [k for k in reduction if k not in names]
        if unknown:
            raise ValueError(
                f"reduction names layer {unknown[0]!r}, which is not selected."
                f"{suggest(unknown[0], names)} Selected: {names}.")
        return {n: _canonical_reduction(reduction.get(n, "flatten"), n) for n in names}
    return {n: _canonical_reduction(reduction, n) for n in names}
