"""Reductions: how a layer's output becomes one row of features per stimulus (a registry).

A reduction runs inside the forward hook, on the device of the forward pass,
so only reduced rows leave it. ``deeprsa reductions`` and the README table
list the registry.
"""

from __future__ import annotations

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


def _canonical_reduction(spec, layer) -> dict:
    """``"flatten"``, ``"subsample_units:1000"`` or ``{"name": ..., **params}`` -> dict."""
    if isinstance(spec, str):
        name, _, arg = spec.partition(":")
        params = {}
        if arg:
            if name != "subsample_units":
                raise ValueError(f"Reduction {name!r} takes no ':' argument (layer {layer!r}).")
            params["k"] = int(arg)
        spec = {"name": name, **params}
    elif not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(
            f"A reduction is a name such as 'flatten' or a dict with a 'name' key; got "
            f"{spec!r} for layer {layer!r}.")
    REDUCTIONS.get_checked(spec["name"])
    out = dict(spec)
    if out["name"] == "subsample_units":
        out.setdefault("k", 1000)
        out.setdefault("seed", 0)
        if int(out["k"]) < 1:
            raise ValueError(f"subsample_units needs k >= 1, got {out['k']} (layer {layer!r}).")
    return out


def _reduce(output, reduction: dict, layer: str):
    import torch

    t = _first_tensor(output)
    if t is None:
        raise TypeError(f"Layer {layer!r} returned {type(output).__name__} with no tensor in it.")
    params = {k: v for k, v in reduction.items() if k != "name"}
    try:
        out = REDUCTIONS[reduction["name"]](t, **params)
    except ValueError as err:
        raise ValueError(f"Layer {layer!r}: {err}") from None
    return out.detach().to("cpu", torch.float32)


def _per_layer_reductions(reduction, names) -> dict:
    if isinstance(reduction, dict) and "name" not in reduction:
        unknown = [k for k in reduction if k not in names]
        if unknown:
            raise ValueError(
                f"reduction names layer {unknown[0]!r}, which is not selected."
                f"{suggest(unknown[0], names)} Selected: {names}.")
        return {n: _canonical_reduction(reduction.get(n, "flatten"), n) for n in names}
    return {n: _canonical_reduction(reduction, n) for n in names}
