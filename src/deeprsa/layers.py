"""The layer address book: list a network's layers and select them by name, ordinal or type.

A *layer* is any submodule of the network, addressed by its module path
(``"layer1.0.conv1"``), exactly as ``model.named_modules()`` names it. Its
activation is the module's output (the first tensor when a module returns a
tuple). A module called more than once per forward pass (a ReLU object reused
inside a block) is listed with its number of ``calls``; extraction records its
last call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._validation import read_json, suggest

__all__ = ["list_layers", "select_layers", "write_layer_file", "read_layer_file", "PRESETS"]

PRESETS = ("all", "leaf", "top_level")


def _as_loaded(model):
    from .models import load_model

    return load_model(model, weights="random") if isinstance(model, str) else load_model(model)


def _first_tensor(out):
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            t = _first_tensor(item)
            if t is not None:
                return t
    if isinstance(out, dict):
        for item in out.values():
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def probe(module, example):
    """Run ``example`` (a batch) through ``module``; return {name: (calls, output shape)}."""
    import torch

    record: dict[str, list] = {}
    handles = []

    def make_hook(name):
        def hook(_mod, _inp, out):
            t = _first_tensor(out)
            shape = tuple(t.shape[1:]) if t is not None else None
            entry = record.setdefault(name, [0, None])
            entry[0] += 1
            entry[1] = shape

        return hook

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(make_hook(name)))
    try:
        with torch.inference_mode():
            module(example)
    finally:
        for h in handles:
            h.remove()
    return record


def list_layers(model, *, input_shape=None):
    """Table of every layer of a network, with its output shape for the model's input.

    Parameters
    ----------
    model : str, torch.nn.Module or LoadedModel
        A spec such as ``"torchvision:resnet18"`` (loaded with random weights:
        only the architecture matters here), a module, or a loaded model.
    input_shape : tuple of int, optional
        (channels, height, width) of one input. Defaults to the model's
        preprocessing (e.g. 3 x 224 x 224 for ImageNet models).

    Returns
    -------
    pandas.DataFrame
        One row per submodule, in ``named_modules()`` order, with columns
        ``ordinal`` (0-based), ``layer`` (module path), ``type`` (class name),
        ``output_shape`` (without the batch axis; None if never called),
        ``n_units`` (product of the output shape), ``calls`` (times called
        in one forward pass), ``leaf`` (has no children) and ``depth``
        (1 for top-level children).

    Examples
    --------
    >>> table = list_layers("torchvision:alexnet")
    >>> table.loc[table.layer == "features.0", ["ordinal", "type", "output_shape", "n_units"]]
       ordinal    type  output_shape  n_units
    1        1  Conv2d  (64, 55, 55)   193600
    """
    import pandas as pd
    import torch

    loaded = _as_loaded(model)
    shape = tuple(input_shape) if input_shape is not None else loaded.input_shape
    if shape is None:
        raise ValueError(
            f"The input size of {loaded.name} is unknown. Pass input_shape=(channels, height, "
            "width) (`deeprsa layers --input-shape C,H,W`).")
    device = next((p.device for p in loaded.module.parameters()), torch.device("cpu"))
    record = probe(loaded.module, torch.zeros((1, *shape), device=device))
    return _table(loaded.module, record, pd)


def _table(module, record, pd):
    rows = []
    ordinal = 0
    for name, sub in module.named_modules():
        if not name:
            continue
        calls, shape = record.get(name, (0, None))
        rows.append({
            "ordinal": ordinal, "layer": name, "type": type(sub).__name__,
            "output_shape": shape,
            "n_units": int(np.prod(shape)) if shape is not None else 0,
            "calls": calls, "leaf": next(sub.children(), None) is None,
            "depth": name.count(".") + 1,
        })
        ordinal += 1
    return pd.DataFrame(rows, columns=["ordinal", "layer", "type", "output_shape", "n_units",
                                       "calls", "leaf", "depth"])


def _check_table(table, layers):
    """``table`` if it is a :func:`list_layers` table; else a TypeError saying what to pass."""
    import pandas as pd

    columns = {"layer", "type", "calls", "leaf", "depth"}
    if isinstance(table, pd.DataFrame) and columns <= set(table.columns):
        return table
    got = (f"the str {table!r}" if isinstance(table, str) else
           f"a DataFrame with columns {sorted(map(str, table.columns))}"
           if isinstance(table, pd.DataFrame) else f"a {type(table).__name__}")
    spec = repr(table) if isinstance(table, str) else "model"
    raise TypeError(f"select_layers takes the layer table of a model (from list_layers), not "
                    f"{got}: write select_layers(list_layers({spec}), {layers!r}).")


def select_layers(table, layers) -> list[str]:
    """Resolve layer selectors against a :func:`list_layers` table.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`list_layers`.
    layers : str, int or sequence of str and int
        A preset (``"all"``: every module called in the forward pass,
        ``"leaf"``: called modules without children, ``"top_level"``: the
        model's direct children), or selectors, each of which is an exact
        module path, an ordinal (negative counts from the end), a module type
        (``"Conv2d"``, ``"ReLU"``) or a glob pattern (``"layer*.1"``,
        ``"features.[0-3]"``).

    Returns
    -------
    list of str
        Selected module paths, in model order, each once.

    Raises
    ------
    ValueError
        For a selector that matches nothing, with the closest layer names.
    TypeError
        If ``table`` is not a :func:`list_layers` table (a model spec, say).

    Examples
    --------
    >>> table = list_layers("torchvision:resnet18")
    >>> select_layers(table, ["layer*", "fc"])
    ['layer1', 'layer2', 'layer3', 'layer4', 'fc']
    >>> select_layers(table, "conv1x")
    Traceback (most recent call last):
    ...
    ValueError: No layer matches 'conv1x'. Did you mean 'conv1'? Selectors are module paths, ordinals (0-66), types (e.g. 'Conv2d'), glob patterns or presets ('all', 'leaf', 'top_level'); see deeprsa.list_layers.
    """
    table = _check_table(table, layers)
    called = table[table["calls"] > 0]
    if isinstance(layers, str) and layers in PRESETS:
        if layers == "all":
            chosen = called
        elif layers == "leaf":
            chosen = called[called["leaf"]]
        else:
            chosen = called[called["depth"] == 1]
        return chosen["layer"].tolist()
    selectors = [layers] if isinstance(layers, (str, int, np.integer)) else list(layers)
    if not selectors:
        raise ValueError("No layers selected: pass at least one layer name, ordinal, type, "
                         "pattern or preset.")
    names = table["layer"].tolist()
    types = set(table["type"])
    picked: set[str] = set()
    for sel in selectors:
        if isinstance(sel, (int, np.integer)) and not isinstance(sel, bool):
            n = len(names)
            if not -n <= sel < n:
                raise ValueError(f"Layer ordinal {sel} is out of range: this model has {n} "
                                 f"layers (ordinals 0-{n - 1}).")
            picked.add(names[int(sel)])
            continue
        if not isinstance(sel, str):
            raise TypeError(f"Layer selectors are str or int, got {type(sel).__name__}: {sel!r}.")
        if sel in names:
            picked.add(sel)
        elif sel in PRESETS:
            picked.update(select_layers(table, sel))
        elif sel in types:
            picked.update(called.loc[called["type"] == sel, "layer"])
        elif any(ch in sel for ch in "*?["):
            pattern = _glob_to_regex(sel)
            hits = [n for n in names if pattern.fullmatch(n)]
            if not hits:
                raise ValueError(f"The pattern {sel!r} matches no layer.{suggest(sel, names)}")
            picked.update(hits)
        else:
            raise ValueError(
                f"No layer matches {sel!r}.{suggest(sel, names + sorted(types))} Selectors are "
                f"module paths, ordinals (0-{len(names) - 1}), types (e.g. 'Conv2d'), glob "
                f"patterns or presets ({', '.join(map(repr, PRESETS))}); see "
                "deeprsa.list_layers.")
    order = {n: i for i, n in enumerate(names)}
    chosen = sorted(picked, key=order.__getitem__)
    never = [n for n in chosen if n not in set(called["layer"])]
    if never:
        raise ValueError(
            f"Layer(s) {never} are not called in the forward pass, so they have no activation "
            "(e.g. an auxiliary head used only in training). Choose other layers.")
    return chosen


def _glob_to_regex(pattern: str) -> re.Pattern:
    """Compile a layer glob: ``**`` any text, ``*``/``?`` within one dotted part, ``[..]``."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append(r"[^.]*")
        elif ch == "?":
            out.append(r"[^.]")
        elif ch == "[" and "]" in pattern[i + 1:]:
            j = pattern.index("]", i + 1)
            body = pattern[i + 1:j]
            negate = body.startswith("!")
            body = re.escape(body[1:] if negate else body).replace(r"\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def write_layer_file(path, layers: dict[str, Sequence[str]] | None = None, *, table=None,
                     model: str | None = None) -> Path:
    """Write a layer file: a JSON list of ``{"model": ..., "layer": ...}`` records.

    The format of the object-classification RSA study's layer selection step.

    Either pass ``layers`` as ``{model name: [layer, ...]}`` (the selected
    layers), or a :func:`list_layers` ``table`` plus the ``model`` name (all
    layers, with their type and output shape as extra keys). An existing
    file's records for other models are kept, so one file can gather many
    models.
    """
    path = Path(path)
    records = []
    if path.exists():
        records = json.loads(path.read_text())
    if table is not None:
        if model is None:
            raise ValueError("Pass model= (its name) together with table=.")
        new = [{"model": model, "layer": r.layer, "ordinal": int(r.ordinal), "type": r.type,
                "output_shape": list(r.output_shape) if r.output_shape is not None else None,
                "n_units": int(r.n_units)} for r in table.itertuples()]
    elif layers is not None:
        new = [{"model": m, "layer": lay} for m, names in layers.items() for lay in names]
    else:
        raise ValueError("Pass layers={model: [layer, ...]} or table= with model=.")
    replaced = {r["model"] for r in new}
    records = [r for r in records if r.get("model") not in replaced] + new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1))
    return path


def read_layer_file(path, *, model: str | None = None) -> dict[str, list[str]]:
    """Read a layer file into ``{model name: [layer, ...]}`` (one model with ``model=``).

    Raises
    ------
    ValueError
        If the file is not a list of records with ``model`` and ``layer`` keys,
        or ``model`` is not in it.
    """
    path = Path(path)
    records = read_json(path, "Layer file")
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and "model" in r and "layer" in r for r in records):
        raise ValueError(f"Layer file {str(path)!r} must be a JSON list of records with "
                         "'model' and 'layer' keys.")
    out: dict[str, list[str]] = {}
    for r in records:
        out.setdefault(r["model"], []).append(r["layer"])
    if model is not None:
        if model not in out:
            raise ValueError(f"Layer file {str(path)!r} has no model {model!r}."
                             f"{suggest(model, out)} Models: {sorted(out)}.")
        return {model: out[model]}
    return out
