"""RDMs: many RDMs with a metadata table (one row per RDM, one column per provenance entry).

An ``RDMs`` built by hand holds RDMs over the same stimuli in the same order.
A stack (``compute_rdms(store, by=...)``) may hold RDMs over different rows,
one per group of stimuli; the members that need shared rows then say so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from .._deprecation import keyword_only
from ._objects import RDM, _flat_provenance, _rsatoolbox

__all__ = ["RDMs"]


class RDMs:
    """Many RDMs over the same stimuli, in the same order, with a metadata table.

    Parameters
    ----------
    rdms : sequence of RDM
        At least one; all with identical ``stimulus_ids``.

    Raises
    ------
    ValueError
        If ``rdms`` is empty or the RDMs' stimulus ids differ (the message
        names the first few differences).

    Notes
    -----
    A stack from :func:`compute_rdms` with ``by=`` may hold RDMs over
    different rows (each group's own stimuli, or entry labels that differ
    between groups). Its ``metadata`` and indexing work as usual;
    ``stimulus_ids``, ``vectors``, ``subset`` and ``to_rsatoolbox`` need
    shared rows and raise a ValueError naming the first difference. Select
    RDMs with equal rows first, e.g. ``stack[stack.metadata["obj"] == "cup"]``.

    Examples
    --------
    >>> a = RDM.from_vector([1, 2, 3], ["x", "y", "z"], {"layer": "conv1"})
    >>> b = RDM.from_vector([3, 2, 1], ["x", "y", "z"], {"layer": "conv2"})
    >>> rdms = RDMs([a, b])
    >>> rdms.metadata
       layer
    0  conv1
    1  conv2
    >>> rdms.vectors()
    array([[1., 2., 3.],
           [3., 2., 1.]])
    """

    def __init__(self, rdms):
        rdms = _checked(rdms)
        mismatch = _first_mismatch(rdms)
        if mismatch is not None:
            raise ValueError(_ids_mismatch(rdms[0].stimulus_ids, *mismatch))
        self._rdms = tuple(rdms)

    @classmethod
    def _stack(cls, rdms) -> RDMs:
        """RDMs whose rows may differ (a stack over groups of stimuli)."""
        out = object.__new__(cls)
        out._rdms = tuple(_checked(rdms))
        return out

    def __len__(self):
        return len(self._rdms)

    def __iter__(self):
        return iter(self._rdms)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self._rdms[index]
        if isinstance(index, slice):
            return RDMs._stack(self._rdms[index])
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"A boolean index needs {len(self)} entries, got "
                                 f"{index.shape}.")
            index = np.flatnonzero(index)
        return RDMs._stack([self._rdms[int(i)] for i in index])

    def __repr__(self):
        if _first_mismatch(self._rdms) is not None:
            return f"RDMs({len(self)} RDMs over different rows)"
        return f"RDMs({len(self)} RDMs, n_stimuli={len(self.stimulus_ids)})"

    @property
    def stimulus_ids(self) -> tuple[str, ...]:
        """The shared stimulus ids (or entry labels), in order.

        Raises
        ------
        ValueError
            If the RDMs are over different rows (a stack over groups).
        """
        mismatch = _first_mismatch(self._rdms)
        if mismatch is not None:
            raise ValueError(_ids_mismatch(self._rdms[0].stimulus_ids, *mismatch)
                             + " Select RDMs over the same rows first.")
        return self._rdms[0].stimulus_ids

    @property
    def metadata(self):
        """pandas DataFrame, one row per RDM, one column per provenance entry.

        ``params`` (and any other container) is a JSON string with sorted keys,
        so rows with equal parameters compare equal. RDMs over entries (from
        :func:`compute_rdms` with ``entries=``, ``by=``, ``units=`` or
        ``n_permutations=``) also get ``entry_labels``, their row labels as a
        JSON list.
        """
        import pandas as pd

        rows = []
        for r in self._rdms:
            row = _flat_provenance(r.provenance)
            if "entries" in r.provenance:
                row["entry_labels"] = json.dumps(list(r.stimulus_ids))
            rows.append(row)
        return pd.DataFrame(rows)

    @keyword_only("dtype")
    def vectors(self, *, dtype=None) -> np.ndarray:
        """Upper triangles stacked: ndarray of shape (n_rdms, n_pairs)."""
        _ = self.stimulus_ids  # raises for RDMs over different rows
        first = self._rdms[0].vector()
        out = np.empty((len(self), len(first)), dtype=dtype or np.result_type(
            *[r.vector().dtype for r in self._rdms]))
        for row, r in zip(out, self._rdms, strict=True):
            row[...] = r.vector()
        return out

    def subset(self, stimulus_ids: Sequence[str]) -> RDMs:
        """Every RDM restricted to, and reordered by, ``stimulus_ids``."""
        return RDMs([r.subset(stimulus_ids) for r in self._rdms])

    @classmethod
    def from_store(cls, store, **filters) -> RDMs:
        """All complete RDMs in ``store`` whose fields match ``filters`` (e.g. ``measure=``).

        Raises
        ------
        KeyError
            If no complete RDM matches, naming the values that are there.
        """
        table = store.select("rdms", **filters)
        if table.empty:
            raise KeyError(f"Store {str(store.path)!r} holds no RDMs; compute some with "
                           "compute_rdm(store, ...) or `deeprsa rdm`.")
        return cls([RDM.load(store, key) for key in table["key"]])

    def to_rsatoolbox(self):
        """These RDMs as one ``rsatoolbox.rdm.RDMs`` (needs ``deeprsa[rsatoolbox]``)."""
        rsatoolbox = _rsatoolbox()
        meta = self.metadata
        measures = meta["measure"].unique() if "measure" in meta else []
        return rsatoolbox.rdm.RDMs(
            self.vectors(dtype=np.float64),
            dissimilarity_measure=str(measures[0]) if len(measures) == 1 else None,
            rdm_descriptors={c: list(meta[c]) for c in meta.columns},
            pattern_descriptors={"stimulus_ids": list(self.stimulus_ids)},
        )

    @classmethod
    def from_rsatoolbox(cls, rdms, *, pattern_descriptor=None) -> RDMs:
        """An ``rsatoolbox.rdm.RDMs`` as deeprsa RDMs: the inverse of :meth:`to_rsatoolbox`.

        See :func:`deeprsa.rdm.from_rsatoolbox` (rdm descriptors become provenance).
        """
        from .io import from_rsatoolbox

        return from_rsatoolbox(rdms, pattern_descriptor=pattern_descriptor)


def _checked(rdms) -> list:
    rdms = list(rdms)
    if not rdms:
        raise ValueError("RDMs needs at least one RDM, got none.")
    for i, r in enumerate(rdms):
        if not isinstance(r, RDM):
            raise TypeError(f"RDMs holds RDM objects; item {i} is a {type(r).__name__}. "
                            "Wrap matrices with RDM(matrix, stimulus_ids).")
    return rdms


def _first_mismatch(rdms):
    """``(other ids, index)`` of the first RDM whose rows differ from the first's, or None."""
    ids = rdms[0].stimulus_ids
    for i, r in enumerate(rdms[1:], start=1):
        if r.stimulus_ids != ids:
            return r.stimulus_ids, i
    return None


def _ids_mismatch(ids, other, index) -> str:
    if set(ids) == set(other):
        return (f"RDM {index} has the same stimuli as RDM 0 in another order; align it "
                f"with rdm.subset(rdms[0].stimulus_ids).")
    missing = [s for s in ids if s not in set(other)]
    extra = [s for s in other if s not in set(ids)]
    return (f"RDM {index} has other stimulus ids than RDM 0 ({len(other)} vs {len(ids)} "
            f"stimuli): {len(missing)} missing, e.g. {missing[:3]}; {len(extra)} extra, e.g. "
            f"{extra[:3]}. Restrict both to shared ids with subset().")
