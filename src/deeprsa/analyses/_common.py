"""Input handling shared by the analyses: layers from arrays or stores, targets, seeds."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_random_state, suggest

# Rows read from a store at a time: about this many bytes of float64.
_TILE_BYTES = 16 << 20


@dataclass(frozen=True, eq=False)
class _Layer:
    """One layer's activations (in memory or a Zarr array) with ids and table labels."""

    data: Any
    stimulus_ids: tuple[str, ...]
    info: dict

    @property
    def n_stimuli(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_units(self) -> int:
        return int(self.data.shape[1])

    @property
    def where(self) -> str:
        """``"layer 'fc' of model 'net'"`` (or ``"X"`` for an unlabelled array), for errors."""
        parts = []
        if self.info.get("layer") is not None:
            parts.append(f"layer {self.info['layer']!r}")
        if self.info.get("model") is not None:
            parts.append(f"of model {self.info['model']!r}")
        return " ".join(parts) or "X"

    def tiles(self, columns=None) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, rows)`` in float64, a tile of rows at a time, optionally some columns."""
        # Whole rows are read, so the tile is sized by the layer's width; an in-memory
        # array is one tile.
        step = max(1, min(self.n_stimuli, _TILE_BYTES // (8 * self.n_units)))
        if isinstance(self.data, np.ndarray):
            step = self.n_stimuli
        for start in range(0, self.n_stimuli, step):
            block = self.data[start:start + step]
            if columns is not None:
                block = block[:, columns]
            block = np.asarray(block, dtype=np.float64)
            if not np.isfinite(block).all():
                row = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
                raise ValueError(f"The activations of {self.where} hold NaN or infinity, "
                                 f"first at row {row} (stimulus {self.stimulus_ids[row]!r}).")
            yield start, block

    def read(self, columns=None) -> np.ndarray:
        """All rows (of ``columns``) as one float64 array of shape (n_stimuli, n_columns)."""
        width = self.n_units if columns is None else len(columns)
        out = np.empty((self.n_stimuli, width), dtype=np.float64)
        for start, block in self.tiles(columns):
            out[start:start + len(block)] = block
        return out


def _is_store(X) -> bool:
    from ..store import Store

    return isinstance(X, (Store, str, os.PathLike))


def _open_store(store):
    from ..store import open_store

    return open_store(store, mode="r")


def _as_list(value) -> list | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _layers(X, *, model=None, layer=None, stimulus_ids=None, min_stimuli=2,
            filters: Mapping | None = None) -> list[_Layer]:
    """The layers an analysis runs on: ``X`` itself, or the selected store entries.

    For a store, ``model`` and ``layer`` (a str or a list) and ``filters``
    (other fields, e.g. ``reduction``) select complete activations entries, in
    the store's order. For an array they only label the output table.
    """
    if _is_store(X):
        if stimulus_ids is not None:
            raise ValueError("stimulus_ids labels the rows of an array; a store records its "
                             "own. Drop stimulus_ids.")
        return _store_layers(_open_store(X), model=model, layer=layer, filters=filters or {},
                             min_stimuli=min_stimuli)
    if filters:
        name = sorted(filters)[0]
        raise TypeError(f"Unexpected keyword argument {name!r}: store fields select "
                        "activations in a store, and X is an array.")
    for name, value in (("model", model), ("layer", layer)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} labels an array and must be a str, got "
                            f"{type(value).__name__}.")
    data = _check_array(X, min_stimuli=min_stimuli)
    if stimulus_ids is None:
        ids = tuple(str(i) for i in range(len(data)))
    else:
        if isinstance(stimulus_ids, str):
            raise TypeError(f"stimulus_ids must be a sequence of str, got the single string "
                            f"{stimulus_ids!r}.")
        ids = tuple(str(s) for s in stimulus_ids)
        if len(ids) != len(data):
            raise ValueError(f"Got {len(ids)} stimulus_ids for {len(data)} rows of X.")
        if len(set(ids)) != len(ids):
            raise ValueError("stimulus_ids contains duplicates; every stimulus needs its "
                             "own id.")
    return [_Layer(data, ids, {"model": model, "layer": layer})]


def _check_array(X, *, min_stimuli=2) -> np.ndarray:
    if type(X).__module__.startswith("torch"):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers, got dtype {X.dtype}.")
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_stimuli, n_units), got shape {X.shape}. Flatten or pool the "
            "spatial dimensions first, e.g. X.reshape(len(X), -1).")
    if X.shape[0] < min_stimuli:
        raise ValueError(f"X has {X.shape[0]} stimuli; this analysis needs at least "
                         f"{min_stimuli}.")
    if X.shape[1] < 1:
        raise ValueError("X has no units (0 columns).")
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise ValueError(f"X has NaN or infinity in {bad.size} rows, first at row {bad[0]}.")
    return X


def _store_layers(store, *, model, layer, filters, min_stimuli) -> list[_Layer]:
    table = store.entries("activations")
    if table.empty or not table["complete"].any():
        raise KeyError(f"Store {str(store.path)!r} holds no complete activations; run "
                       "`deeprsa extract` first.")
    table = table[table["complete"]]
    wanted = [("model", _as_list(model)), ("layer", _as_list(layer))]
    wanted += [(name, list(value) if isinstance(value, (list, tuple)) else [value])
               for name, value in filters.items()]  # a list means any of them, as in select
    for column, values in wanted:
        if values is None:
            continue
        if column not in table.columns:
            raise KeyError(f"Activations entries have no field {column!r}."
                           f"{suggest(column, map(str, table.columns))}")
        cells = [_reduction_name(v) if column == "reduction" else v for v in table[column]]
        have = sorted({str(v) for v in cells if v is not None and v == v})
        missing = [v for v in values if not any(c == v for c in cells)]
        if missing:
            raise KeyError(f"No complete activations with {column}={missing[0]!r}."
                           f"{suggest(missing[0], have)} Available: {have}.")
        table = table[[any(c == v for v in values) for c in cells]]
    entries = {key: store.entry(key) for key in table["key"]}
    # In the order the entries were made (network order for one extraction).
    table = table.sort_values("key", key=lambda k: k.map(lambda x: entries[x].get("created", 0)),
                              kind="stable")
    layers = []
    for row in table.itertuples(index=False):
        entry = entries[row.key]
        fields = entry["fields"]
        if int(entry["shape"][0]) < min_stimuli:
            raise ValueError(f"Layer {fields.get('layer')!r} of model {fields.get('model')!r} "
                             f"has {entry['shape'][0]} stimuli; this analysis needs at least "
                             f"{min_stimuli}.")
        info = {"model": fields.get("model"), "layer": fields.get("layer"),
                "reduction": _reduction_name(fields.get("reduction")), "key": row.key,
                "stimuli": fields.get("stimuli")}
        layers.append(_Layer(store.array(row.key), store.stimulus_ids(fields["stimuli"]), info))
    return layers


def _reduction_name(reduction) -> str | None:
    if isinstance(reduction, Mapping):
        return reduction.get("name")
    return reduction


def _check_int(name: str, value, *, low: int, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return int(value)


def _check_fraction(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    value = float(value)
    if not 0 < value <= 1:
        raise ValueError(f"{name} must lie in (0, 1], got {value}.")
    return value


def _seed_entropy(seed) -> int:
    """One draw from ``seed``, from which every layer derives its own generator."""
    return int(check_random_state(seed).integers(2**63 - 1))


def _layer_rng(entropy: int, info: Mapping) -> np.random.Generator:
    """A generator for one layer: the same seed gives a layer the same draws, whichever
    other layers are analysed with it."""
    name = f"{info.get('model')}\x00{info.get('layer')}".encode()
    salt = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "little")
    return np.random.default_rng([entropy, salt])


def _seed_column(seed):
    """How ``seed`` is recorded in a table: the int, else None (not reproducible)."""
    return int(seed) if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) \
        else None


def _targets(target, layer: _Layer, stimuli) -> tuple[np.ndarray, str]:
    """One value per stimulus of ``layer`` and the name recorded for it in tables."""
    if isinstance(target, str):
        if stimuli is None:
            raise ValueError(
                f"target={target!r} names a metadata column; pass stimuli= (a StimulusSet "
                "or a DataFrame indexed by stimulus id) to read it from.")
        meta = _metadata(stimuli)
        if target not in meta.columns:
            columns = sorted(map(str, meta.columns))
            raise KeyError(f"No metadata column {target!r}.{suggest(target, columns)} "
                           f"Columns: {columns}.")
        index = meta.index.map(str)
        position = {s: i for i, s in enumerate(index)}
        missing = [s for s in layer.stimulus_ids if s not in position]
        if missing:
            raise KeyError(
                f"{len(missing)} stimuli of {layer.where} are not in stimuli, e.g. "
                f"{missing[:3]}. Pass the StimulusSet the activations were extracted from.")
        values = meta[target].to_numpy()[[position[s] for s in layer.stimulus_ids]]
        name = target
    else:
        values = np.asarray(target)
        if values.ndim != 1 or len(values) != layer.n_stimuli:
            raise ValueError(f"target has shape {values.shape}; {layer.where} has "
                             f"{layer.n_stimuli} stimuli, so it needs one value per stimulus, "
                             f"shape ({layer.n_stimuli},).")
        name = None
    missing = _isnull(values)
    if missing.any():
        first = layer.stimulus_ids[int(np.flatnonzero(missing)[0])]
        label = f"Column {name!r}" if name else "target"
        raise ValueError(f"{label} is missing for {int(missing.sum())} stimuli, e.g. {first!r}; "
                         "drop them (stimuli.subset) or fill in a value.")
    return values, name


def _metadata(stimuli):
    import pandas as pd

    from ..stimuli import StimulusSet

    if isinstance(stimuli, StimulusSet):
        return stimuli.metadata
    if isinstance(stimuli, pd.DataFrame):
        return stimuli
    raise TypeError(f"stimuli must be a StimulusSet or a DataFrame indexed by stimulus id, "
                    f"got {type(stimuli).__name__}.")


def _isnull(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.asarray(pd.isna(values), dtype=bool).reshape(len(values))


def _frame(rows: Sequence[Mapping], columns: Sequence[str]):
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(columns))


def _labelled(table, inputs, analysis: str, **params):
    """``table`` with its stimulus ids and provenance in ``table.attrs``.

    ``inputs`` are the layers (or RDMs) the analysis read. ``attrs["stimulus_ids"]``
    is their shared tuple of ids (None when they differ; then
    ``attrs["provenance"]["stimulus_ids_by_input"]`` has each); the provenance
    names the analysis, its parameters, the stimulus set's key and the store keys
    of the inputs. (Table attributes stay with the DataFrame, not in a CSV.)
    """
    from .._version import __version__

    inputs = list(inputs)
    ids = [tuple(item.stimulus_ids) for item in inputs]
    shared = ids[0] if ids and all(i == ids[0] for i in ids) else None
    infos = [getattr(item, "info", None) or dict(getattr(item, "provenance", {}))
             for item in inputs]
    stimuli = sorted({str(info["stimuli"]) for info in infos if info.get("stimuli")})
    provenance = {"analysis": analysis, "params": params, "deeprsa_version": __version__,
                  "stimuli": stimuli[0] if len(stimuli) == 1 else stimuli,
                  "inputs": [info.get("key") for info in infos]}
    if shared is None and ids:
        provenance["stimulus_ids_by_input"] = ids
    table.attrs["stimulus_ids"] = shared
    table.attrs["provenance"] = provenance
    return table
