"""The rows of a stack of RDMs: groups of stimuli (``by``) and their entries (``entries``).

An *entry* is one row of an RDM: by default one stimulus; with ``entries``,
the stimuli sharing the values of those metadata columns, whose patterns are
averaged (rsatoolbox's ``calc_rdm(..., descriptor=)``); or a named
combination of entries (their mean pattern). A *group* is the stimuli sharing
the values of the ``by`` columns; each group gets its own RDM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import suggest

# Provenance fields of a stack's RDMs: a `by` column may not take one of these names.
RESERVED = ("model", "spec", "weights", "weights_hash", "seed", "layer", "reduction", "stimuli",
            "stimulus_set", "activations", "measure", "params", "dtype", "deeprsa_version",
            "device", "by", "entries", "combine", "unit_set", "units_hash", "permutation",
            "n_permutations", "stack_seed", "stack", "key", "transform", "order",
            "entry_labels")


@dataclass(frozen=True)
class Group:
    """One RDM's rows: the ``by`` values, the entry labels and the stimuli behind each.

    Attributes
    ----------
    values : dict
        The ``by`` columns' values (empty without ``by``).
    labels : tuple of str
        Entry labels, in order: the entries, then the combinations.
    members : tuple of ndarray
        For each entry (not the combinations): positions of its stimuli among
        the activations' rows.
    combos : tuple of tuple of int
        For each combination: the positions of its entries in ``labels``.
    """

    values: dict
    labels: tuple
    members: tuple
    combos: tuple

    def describe(self) -> str:
        """``"obj='cup'"`` (or ``"all stimuli"``), for messages."""
        return ", ".join(f"{k}={v!r}" for k, v in self.values.items()) or "all stimuli"


@dataclass(frozen=True)
class Layout:
    """Every group of a stack, and what identifies the layout (for store keys)."""

    groups: tuple
    by: list | None
    entries: list | None
    combine: dict | None
    stimulus_ids: tuple

    def rows_keys(self, stimulus_set: str) -> list[str]:
        """The key of each group's rows: the stimulus set, the group and each entry's stimuli.

        It is the RDM's ``stimuli``: RDMs over the same rows share it, and it
        differs from the stimulus set's own key, so a stack's RDMs are never
        taken for the plain RDMs of the whole set.
        """
        from ..store import content_key

        return ["rows-" + content_key({
            "stimulus_set": stimulus_set, "group": group.values, "entries": self.entries,
            "rows": [[label, [self.stimulus_ids[i] for i in m]]
                     for label, m in zip(group.labels, group.members, strict=False)],
            "combine": self.combine}) for group in self.groups]


def check_columns(by, entries, combine):
    """``by`` and ``entries`` as lists of column names (or None), ``combine`` as a dict."""
    by, entries = _names(by, "by"), _names(entries, "entries")
    both = sorted(set(by or []) & set(entries or []))
    if both:
        raise ValueError(f"{both[0]!r} is both a by column and an entries column; by splits the "
                         "stimuli into RDMs, entries labels the rows within one RDM.")
    for col in by or []:
        if col in RESERVED:
            raise ValueError(f"The by column {col!r} has the name of a field every RDM of a "
                             f"stack records; rename the metadata column (reserved: "
                             f"{', '.join(RESERVED)}).")
    if combine is not None:
        if not isinstance(combine, Mapping) or not combine:
            raise TypeError(f"combine must be a non-empty mapping of a new entry label to the "
                            f"entry labels it averages, got {combine!r}.")
        combine = {str(name): _combo(name, members) for name, members in combine.items()}
    return by, entries, combine


def _names(value, what):
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    if not names or not all(isinstance(v, str) and v for v in names):
        raise TypeError(f"{what} must name metadata columns: a str or a non-empty list of str, "
                        f"got {value!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names a column twice: {names}.")
    return names


def _combo(name, members):
    members = [members] if isinstance(members, str) else list(members)
    if len(members) < 2 or not all(isinstance(m, str) for m in members):
        raise ValueError(f"The combination {name!r} must list at least two entry labels "
                         f"(str), got {members!r}.")
    return [str(m) for m in members]


def plan_layout(stimulus_ids: Sequence[str], metadata, *, by, entries, combine) -> Layout:
    """The groups and entries of a stack over the stimuli ``stimulus_ids`` (activation rows).

    ``metadata`` (a DataFrame indexed by stimulus id, or None) gives the
    columns. Only stimuli it lists are used. Entries keep the order in which
    their labels first appear among the stimuli, in every group alike, so
    groups with the same labels have RDMs over the same rows in the same order.
    """
    ids = tuple(stimulus_ids)
    rows = np.arange(len(ids))
    used = None  # the metadata of the used stimuli, in the activations' order
    if metadata is not None:
        rows = _rows_with_metadata(ids, metadata)
        used = metadata.set_axis([str(s) for s in metadata.index]).loc[[ids[i] for i in rows]]
        for col in (by or []) + (entries or []):
            _check_column(used, col)
    elif by or entries:
        raise ValueError(f"{by or entries} name metadata columns; pass stimuli= (the "
                         "StimulusSet the activations were extracted from, or a DataFrame "
                         "indexed by stimulus id) to read them from.")
    group_of = _labels(used, by) if by else [""] * len(rows)
    entry_of = _labels(used, entries) if entries else [ids[i] for i in rows]
    order = {label: n for n, label in enumerate(dict.fromkeys(entry_of))}
    grouped: dict = {}  # group -> entry label -> positions, in order of first appearance
    for n, (group, label) in enumerate(zip(group_of, entry_of, strict=True)):
        grouped.setdefault(group, {}).setdefault(label, []).append(n)
    groups = []
    for members in grouped.values():
        labels = sorted(members, key=order.__getitem__)
        first = members[labels[0]][0]
        values = {col: _plain(used[col].iat[first]) for col in by} if by else {}
        group = Group(values, tuple(labels),
                      tuple(rows[np.asarray(members[lb])] for lb in labels), ())
        groups.append(_with_combinations(group, combine))
    return Layout(tuple(groups), by, entries, combine, ids)


def _rows_with_metadata(ids, metadata) -> np.ndarray:
    index = [str(s) for s in metadata.index]
    known = set(index)
    present = set(ids)
    extra = [s for s in index if s not in present]
    if extra:
        raise KeyError(f"{len(extra)} stimuli of stimuli= are not in the activations, e.g. "
                       f"{extra[:3]}. Pass the StimulusSet the activations were extracted from "
                       "(or a subset of it).")
    return np.asarray([i for i, s in enumerate(ids) if s in known], dtype=np.intp)


def _check_column(used, col):
    if col not in used.columns:
        columns = sorted(map(str, used.columns))
        raise KeyError(f"No metadata column {col!r}.{suggest(col, columns)} Columns: "
                       f"{columns}.")
    import pandas as pd

    missing = pd.isna(used[col].to_numpy())
    if missing.any():
        first = used.index[int(np.flatnonzero(missing)[0])]
        raise ValueError(f"Column {col!r} is missing for {int(missing.sum())} stimuli, e.g. "
                         f"{first!r}; drop them (stimuli.subset) or fill in a value.")


def _labels(used, columns) -> list[str]:
    """One label per used stimulus: the columns' values joined with ``"|"``."""
    cells = used[columns].astype(str)
    return ["|".join(row) for row in cells.itertuples(index=False)]


def _plain(value):
    """A numpy scalar as the Python value (for JSON and table cells)."""
    return value.item() if isinstance(value, np.generic) else value


def _with_combinations(group: Group, combine) -> Group:
    if not combine:
        return group
    position = {label: i for i, label in enumerate(group.labels)}
    combos = []
    for name, members in combine.items():
        if name in position:
            raise ValueError(f"The combination {name!r} has the label of an entry of the group "
                             f"{group.describe()}; name it differently.")
        missing = [m for m in members if m not in position]
        if missing:
            raise KeyError(f"The combination {name!r} averages entry {missing[0]!r}, which the "
                           f"group {group.describe()} does not have."
                           f"{suggest(missing[0], group.labels)} Its entries: "
                           f"{list(group.labels)}.")
        combos.append(tuple(position[m] for m in members))
    return Group(group.values, group.labels + tuple(combine), group.members, tuple(combos))


def entry_patterns(sums: np.ndarray, counts: np.ndarray, group: Group, offset: int):
    """A group's entry patterns: its rows of ``sums / counts``, then the combinations."""
    n = len(group.members)
    means = sums[offset:offset + n] / counts[offset:offset + n, None]
    if not group.combos:
        return means
    extra = np.stack([means[list(c)].mean(axis=0) for c in group.combos])
    return np.concatenate([means, extra])
