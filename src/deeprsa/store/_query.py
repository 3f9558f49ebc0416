"""The one store query: a table of manifest entries, filtered by their fields.

:meth:`Store.select` is how every stage finds its inputs (activations of a
model's layers, the RDMs of a measure, a saved comparison). It works on one
read of the manifest: its rows are kept by kind and by model
(:class:`~deeprsa.store._manifest._Index`), updated entry by entry as the
manifest changes, so a query costs the rows it can match, not the store's size.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._validation import suggest

# What to run first when a store holds nothing of a kind (the end of an error message).
_MAKE = {
    "activations": "run `deeprsa extract` (or deeprsa.extract) first",
    "rdms": "compute some with compute_rdm(store, ...) or `deeprsa rdm`",
    "comparisons": "compare with deeprsa.multi_model_rdm or `deeprsa compare`",
}
# One entry of a kind, in messages ("No complete RDM with ...").
_NOUN = {"rdms": "RDM", "comparisons": "comparison"}
_PLURAL = {"rdms": "RDMs"}
# Columns every row has besides the entry's identity fields.
STATUS_COLUMNS = ("key", "kind", "complete", "rows_done", "shape", "created")


def entry_row(key: str, entry: Mapping) -> dict:
    """One flat row of a manifest entry: key, identity fields and status."""
    return {"key": key, **dict(sorted(entry["fields"].items())), "kind": entry["kind"],
            "complete": entry["complete"], "rows_done": entry["rows_done"],
            "shape": tuple(entry["shape"]), "created": entry.get("created", 0.0)}


def creation_order(row: Mapping):
    """Sort key of rows: creation time, then key (layers in extraction order)."""
    return (row["created"], row["key"])


def entry_rows(entries: Mapping) -> list[dict]:
    """One flat row per manifest entry, in creation order."""
    return sorted((entry_row(key, entry) for key, entry in entries.items()),
                  key=creation_order)


def matches(value, wanted) -> bool:
    """Whether a field's ``value`` is ``wanted`` (or one of a list of wanted values)."""
    if isinstance(wanted, (list, tuple, set, frozenset)):
        return any(_equal(value, w) for w in wanted)
    return _equal(value, wanted)


def _equal(value, wanted) -> bool:
    try:
        return bool(value == wanted)
    except (TypeError, ValueError):  # e.g. comparing arrays
        return False


def _shown(value) -> str:
    if isinstance(value, Mapping):
        import json

        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def select_rows(rows: list[dict], kind, *, complete, filters: Mapping, strict: bool,
                where: str) -> list[dict]:
    """Rows of ``kind`` (None: any) matching ``filters``; see :meth:`Store.select`."""
    what = kind or "entries"
    of_kind = [r for r in rows if kind is None or r["kind"] == kind]
    rows = of_kind if complete is None else [
        r for r in of_kind if bool(r["complete"]) == bool(complete)]
    if not rows:
        if strict and any(v is not None for v in filters.values()):
            hint = _MAKE.get(kind, "")
            if of_kind and complete:
                raise KeyError(f"Store {where} holds no complete {_PLURAL.get(kind, what)}: {len(of_kind)} "
                               "unfinished; run the same command again to resume them.")
            raise KeyError(f"Store {where} holds no {_PLURAL.get(kind, what)}"
                           + (f"; {hint}." if hint else "."))
        return rows
    for column, wanted in filters.items():
        if wanted is None:
            continue
        present = [r for r in rows if column in r]
        if not present:
            if not strict:
                return []
            columns = sorted({c for r in rows for c in r} - set(STATUS_COLUMNS))
            raise KeyError(f"{_NOUN.get(kind, what.capitalize())} entries have no field "
                           f"{column!r}.{suggest(column, columns)} Fields: {columns}.")
        kept = [r for r in present if matches(r[column], wanted)]
        if strict:
            values = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            missing = [w for w in values if not any(_equal(r[column], w) for r in present)]
            if missing:
                have = sorted({_shown(r[column]) for r in present
                               if r[column] is not None and r[column] == r[column]})
                state = "complete " if complete else ""
                raise KeyError(f"No {state}{_NOUN.get(kind, what)} with {column}="
                               f"{missing[0]!r}.{suggest(_shown(missing[0]), have)} "
                               f"Available: {have}.")
        rows = kept
    return rows


def frame(rows: list[dict]):
    """The selected rows as a pandas DataFrame (status columns always present)."""
    import pandas as pd

    table = pd.DataFrame(rows)
    for column in STATUS_COLUMNS:
        if column not in table.columns:
            table[column] = pd.Series(dtype=object)
    return table.reset_index(drop=True)
