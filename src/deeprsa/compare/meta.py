"""Meta-RDMs: higher-order RDMs over any metadata (the pytorch_feature_analysis workflow)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._validation import suggest
from ..rdm import RDM, RDMs
from ._compare import compare_rdms
from ._pairs import _flat, rows_mismatch
from .registry import _check_method
from .result import _plain, _sub

__all__ = ["compute_meta_rdms"]


def compute_meta_rdms(table, *, entry_variables: Sequence[str],
                      grouping_variables: Sequence[str] = (), method="spearman",
                      rdm_column: str = "rdm"):
    """Higher-order RDMs over any metadata (the meta-RDMs of pytorch_feature_analysis).

    Within each group of ``grouping_variables``, the RDMs whose
    ``entry_variables`` differ are compared with each other; the
    dissimilarities (``1 - r``) form one meta-RDM per group and method, whose
    entries are labelled by the entry variables. Feed the result back in for
    a third-order RDM (an RDM of meta-RDMs), and so on.

    Parameters
    ----------
    table : RDMs or pandas.DataFrame
        RDMs with their metadata, or a DataFrame with one RDM per row in
        ``rdm_column`` and metadata columns (such as this function returns).
    entry_variables : sequence of str
        Columns whose values become the entries (rows) of each meta-RDM, e.g.
        ``["obj"]`` to compare objects, ``["obj", "layer"]`` for both.
    grouping_variables : sequence of str, default=()
        Columns fixed within one meta-RDM; one meta-RDM per combination.
    method : str or sequence of str, default="spearman"
        RDM comparison method(s); one meta-RDM per method and group.
    rdm_column : str, default="rdm"
        The column holding the RDMs.

    Returns
    -------
    pandas.DataFrame
        One row per group and method: the grouping variables, ``measure``
        (the method of this order), ``order``, ``entry_variables``, the other
        columns that are constant within the group, and ``rdm_column`` with
        the meta-RDM. Ids join the entry values with ``"|"``.

    Raises
    ------
    KeyError
        If a variable is not a column (with a suggestion).
    ValueError
        If a variable is both an entry and a grouping variable, if a group
        has two RDMs with the same entries (name what tells them apart), or
        fewer than two entries.

    Notes
    -----
    The ``_sub`` convention of pytorch_feature_analysis: columns that describe one level
    (``measure``, ``params``, ``entry_variables``, ``transform``, and any
    ``*_sub`` column) gain ``_sub`` one order up. A second-order RDM has
    ``measure`` (its method) and ``measure_sub`` (the first-order measure);
    a third-order one adds ``measure_sub_sub``. Entries keep the order in
    which they first appear in ``table``.

    Examples
    --------
    >>> import pandas as pd
    >>> ids, rng = ["s1", "s2", "s3", "s4"], np.random.default_rng(0)
    >>> rows = [{"obj": o, "layer": layer, "measure": "correlation",
    ...          "rdm": RDM.from_vector(rng.random(6), ids)}
    ...         for layer in ("conv1", "fc") for o in ("cup", "car", "dog")]
    >>> meta = compute_meta_rdms(pd.DataFrame(rows), entry_variables=["obj"],
    ...                          grouping_variables=["layer"])
    >>> meta[["layer", "measure", "measure_sub", "order"]]
       layer   measure  measure_sub  order
    0  conv1  spearman  correlation      2
    1     fc  spearman  correlation      2
    >>> meta["rdm"][0].stimulus_ids
    ('cup', 'car', 'dog')
    """
    import pandas as pd

    frame = _rdm_frame(table, rdm_column)
    entry_variables, grouping_variables = list(entry_variables), list(grouping_variables)
    if not entry_variables:
        raise ValueError("entry_variables must name at least one column.")
    for col in entry_variables + grouping_variables:
        if col not in frame.columns:
            raise KeyError(f"No column {col!r} in the table."
                           f"{suggest(col, map(str, frame.columns))} Columns: "
                           f"{sorted(map(str, frame.columns))}.")
    both = sorted(set(entry_variables) & set(grouping_variables))
    if both:
        raise ValueError(f"{both[0]!r} is both an entry and a grouping variable; entries vary "
                         "within a meta-RDM, groups are fixed within it.")
    methods = [method] if isinstance(method, str) else list(method)
    for m in methods:
        _check_method(m, None, "rdm")
    entries = [tuple(str(v) for v in row)
               for row in frame[entry_variables].itertuples(index=False)]
    first_seen = {e: i for i, e in reversed(list(enumerate(entries)))}
    frame = frame.assign(_entry=entries, _seen=[first_seen[e] for e in entries])
    order = int(frame["order"].max()) + 1 if "order" in frame.columns else 2
    rest = [c for c in frame.columns if c not in entry_variables + grouping_variables
            + [rdm_column, "_entry", "_seen", "key", "order"]]
    groups = (frame.groupby(grouping_variables, sort=False, dropna=False)
              if grouping_variables else [((), frame)])
    out = []
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        group = group.sort_values("_seen", kind="stable")
        _check_unique_entries(group, entry_variables, rest, dict(zip(grouping_variables,
                                                                      values, strict=True)))
        base = {}
        for col in grouping_variables + rest:
            cells = group[col].astype(str) if col in rest else None
            if cells is None or cells.nunique() == 1:
                base[_level(col)] = _plain(group[col].iloc[0])
        rdms = list(group[rdm_column])
        _check_same_rows(rdms, group, entry_variables,
                         dict(zip(grouping_variables, values, strict=True)))
        from ..store import content_key

        base["stimuli_sub"] = content_key({"stimulus_ids": list(rdms[0].stimulus_ids)})
        ids = ["|".join(e) for e in group["_entry"]]
        for m in methods:
            result = compare_rdms(rdms, method=m)
            d = result.dissimilarity
            if np.isnan(d).any():
                where = dict(zip(grouping_variables, values, strict=True))
                raise ValueError(f"The {m} meta-RDM for {where} has undefined entries (a "
                                 "constant RDM); drop that RDM first.")
            np.fill_diagonal(d, 0.0)
            provenance = {**base, "measure": m, "order": order,
                          "entry_variables": entry_variables}
            out.append({**_flat(provenance), rdm_column: RDM(d, ids, provenance)})
    return pd.DataFrame(out)


def _level(column):
    """The name of ``column`` one order up: ``measure`` -> ``measure_sub``, and so on.

    The entries of a stack's RDMs (``entries``, ``entry_labels``) describe
    the level below too (pytorch_feature_analysis' ``entry_labels_sub``).
    """
    return f"{column}_sub" if column in ("entries", "entry_labels") else _sub(column)


def _check_same_rows(rdms, group, entry_variables, where):
    """The RDMs of one meta-RDM over entries (a stack's) must share their entry labels."""
    ref = rdms[0].stimulus_ids
    for i, rdm in enumerate(rdms[1:], start=1):
        if rdm.stimulus_ids == ref or not ("entries" in rdm.provenance
                                           or "entries" in rdms[0].provenance):
            continue
        entry = [dict(zip(entry_variables, group["_entry"].iloc[k], strict=True))
                 for k in (i, 0)]
        raise ValueError(rows_mismatch(
            ref, rdm.stimulus_ids, f"in the group {where} the RDMs of {entry[0]} and {entry[1]}",
            str(entry[0]), str(entry[1])))


def _rdm_frame(table, rdm_column):
    import pandas as pd

    if isinstance(table, RDMs):
        frame = table.metadata
        frame[rdm_column] = list(table)
        return frame
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be RDMs or a pandas DataFrame, got "
                        f"{type(table).__name__}.")
    if rdm_column not in table.columns:
        raise KeyError(f"No column {rdm_column!r} holding RDMs.{suggest(rdm_column, table)} "
                       "Pass rdm_column=... to name it.")
    bad = [i for i, r in enumerate(table[rdm_column]) if not isinstance(r, RDM)]
    if bad:
        raise TypeError(f"Column {rdm_column!r} must hold RDM objects; row {bad[0]} holds a "
                        f"{type(table[rdm_column].iloc[bad[0]]).__name__}.")
    return table.reset_index(drop=True)


def _check_unique_entries(group, entry_variables, rest, where):
    dup = group[group["_entry"].duplicated(keep=False)]
    if dup.empty:
        if len(group) < 2:
            raise ValueError(f"The group {where} has only one entry "
                             f"({group['_entry'].iloc[0]}); a meta-RDM needs at least two. "
                             "Move a variable from grouping_variables to entry_variables.")
        return
    same = dup[dup["_entry"] == dup["_entry"].iloc[0]]
    differ = [c for c in rest if same[c].astype(str).nunique() > 1]
    raise ValueError(
        f"The group {where} has {len(same)} RDMs for the entry "
        f"{dict(zip(entry_variables, same['_entry'].iloc[0], strict=True))}; they differ in "
        f"{differ or 'nothing recorded'}. Add {differ[0] if differ else 'a column'!r} to "
        "grouping_variables or entry_variables.")
