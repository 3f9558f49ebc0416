"""How an entry looks to Zarr and xarray users: a readable path, named dimensions, labels.

Each entry of store format 2 is a Zarr group at a readable path::

    activations/<model>/<layer>/<key>/activations   (stimulus, unit)
                                     /stimulus      the stimulus ids
    rdms/<model>/<layer>/<key>/rdm                  (stimulus_a, stimulus_b), upper tiles
                              /stimulus_a, /stimulus_b
    comparisons/<name>/<key>/comparison             (entry_a, entry_b)
                            /entry_a, /entry_b      "model/layer" of each row and column
    <kind>/<key>/<kind>                             everything else

(model and layer names made file-name-safe). The value array's attributes
hold its model, layer, reduction, measure and parameters (flat, for xarray),
and under ``"deeprsa"`` the entry's whole manifest record, from which
``deeprsa store repair`` rebuilds a lost manifest. So
``xarray.open_zarr(store, group="activations/<model>/<layer>/<key>",
consolidated=False)`` is a labelled dataset, and ``Store.to_xarray`` the
DataArray.
"""

from __future__ import annotations

import json

import numpy as np

__all__ = ["coordinates", "dimension_names", "entry_group", "value_name", "xarray_attrs"]

_VALUE = {"activations": "activations", "rdms": "rdm", "comparisons": "comparison",
          "prepared": "prepared", "calibrations": "calibration"}
_DIMS = {"activations": ("stimulus", "unit"), "rdms": ("stimulus_a", "stimulus_b"),
         "comparisons": ("entry_a", "entry_b"), "prepared": ("pair",)}
# Identity fields shown as flat attributes (JSON values where they are tables).
_LABELS = ("model", "layer", "reduction", "measure", "params", "method", "name", "spec",
           "weights", "seed", "dtype", "stimuli")


def value_name(kind: str) -> str:
    """Name of an entry's value array in its group."""
    return _VALUE.get(kind, kind)


def slug(text) -> str:
    """A file-name-safe form of a model or layer name (letters, digits, ``.``, ``-``, ``_``)."""
    out = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text)).strip(".")
    return ("_" + out if out.startswith("__") else out) or "_"


def entry_group(kind: str, fields, key: str) -> str:
    """The readable group path of an entry: kind, model, layer (or name), then the key."""
    if fields.get("model") is not None and fields.get("layer") is not None:
        return f"{kind}/{slug(fields['model'])}/{slug(fields['layer'])}/{key}"
    if kind == "comparisons" and fields.get("name"):
        return f"{kind}/{slug(fields['name'])}/{key}"
    return f"{kind}/{key}"


def dimension_names(kind: str, ndim: int) -> tuple:
    dims = _DIMS.get(kind)
    if dims is None or len(dims) != ndim:
        return tuple(f"dim_{i}" for i in range(ndim))
    return dims


def coordinates(kind: str, shape, attrs, stimulus_ids) -> dict:
    """``{name: values}`` of the coordinate arrays stored next to an entry's values."""
    if kind == "activations" and stimulus_ids is not None and len(stimulus_ids) == shape[0]:
        return {"stimulus": list(stimulus_ids)}
    if kind == "rdms" and stimulus_ids is not None and len(shape) == 2 \
            and len(stimulus_ids) == shape[0] == shape[1]:
        return {"stimulus_a": list(stimulus_ids), "stimulus_b": list(stimulus_ids)}
    if kind == "comparisons" and len(shape) == 2:
        out = {}
        for side, n in (("a", shape[0]), ("b", shape[1])):
            records = (attrs or {}).get(f"metadata_{side}") or []
            if len(records) == n:
                out[f"entry_{side}"] = ["/".join(str(r[k]) for k in ("model", "layer")
                                                 if r.get(k) is not None) or str(r.get("key"))
                                        for r in records]
        return out
    return {}


def xarray_attrs(kind: str, fields, record) -> dict:
    """The value array's attributes: flat labels, then the whole record under "deeprsa"."""
    out = {"kind": kind}
    for name in _LABELS:
        if name in fields and fields[name] is not None:
            value = fields[name]
            out[name] = value if isinstance(value, (str, int, float, bool)) else json.loads(
                json.dumps(value, default=str))
    out["deeprsa"] = json.loads(json.dumps(record, default=str))
    return out


def write_coordinates(group, coords: dict) -> None:
    """Write each coordinate as a 1-D string array of the group (checksummed).

    Zarr warns that fixed-length strings have no Zarr V3 specification yet;
    they are labels for xarray and other readers, never read back by deeprsa
    (its stimulus ids live in the manifest), so the warning is not the user's.
    """
    import warnings

    from zarr.codecs import Crc32cCodec

    for name, values in coords.items():
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification")
            group.create_array(name, data=np.asarray([str(v) for v in values], dtype=str),
                               dimension_names=(name,), compressors=[Crc32cCodec()],
                               overwrite=True)
