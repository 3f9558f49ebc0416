"""What a :class:`~deeprsa.store.Store` offers besides creating and reading arrays.

Block markers for writers that finish blocks of one array out of order (Dask
workers), and views of an entry: its activations with their stimulus ids, a
labelled xarray DataArray, and a check of every chunk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from ._errors import describe_entry
from ._keys import _atomic_write_text


class BlockMarkers:
    """Markers of finished blocks, one small file each (no manifest write per block)."""

    def mark_blocks_done(self, key: str, blocks, *, info: Mapping | None = None) -> None:
        """Record that ``blocks`` of array ``key`` are on disk, in any order.

        For writers that finish blocks out of order (shards of rows, tiles
        of an RDM): each block gets its own marker file,
        ``progress/<key>/<block>.done``, written atomically, so concurrent
        workers never rewrite the manifest. Write the block's data first,
        then mark it.

        Parameters
        ----------
        key : str
            The array, as returned by :meth:`create`.
        blocks : iterable of str
            Block names chosen by the writer, e.g. ``"0-64"`` or ``"2-5"``:
            letters, digits, ``-`` and ``_``.
        info : mapping, optional
            ``{block: JSON-serialisable value}`` kept with a block's marker
            and returned by :meth:`blocks_done`.

        Raises
        ------
        ValueError
            If a block name holds other characters (it names a file).

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from deeprsa import Store
        >>> store = Store(tempfile.mkdtemp() + "/demo.zarr")
        >>> key, array, _ = store.create("rdms", {"name": "x"}, shape=(4, 4), chunks=(2, 2))
        >>> array[:2, :2] = 1.0
        >>> store.mark_blocks_done(key, ["0-0"], info={"0-0": [1]})
        >>> store.blocks_done(key)
        {'0-0': [1]}
        """
        self._check_writable()
        info = info or {}
        directory = self.path / "progress" / key
        directory.mkdir(parents=True, exist_ok=True)
        for block in blocks:
            block = str(block)
            if not block or not all(c.isalnum() or c in "-_" for c in block):
                raise ValueError(f"Block names may hold letters, digits, '-' and '_' only "
                                 f"(they name marker files); got {block!r}.")
            _atomic_write_text(directory / f"{block}.done", json.dumps(info.get(block)))

    def blocks_done(self, key: str) -> dict:
        """Blocks of array ``key`` recorded by :meth:`mark_blocks_done`.

        Returns
        -------
        dict
            ``{block: info}`` (``info`` is None when none was given); empty
            when no block is marked, also after :meth:`mark_complete`.
        """
        directory = self.path / "progress" / key
        if not directory.is_dir():
            return {}
        out = {}
        for path in directory.glob("*.done"):
            try:
                out[path.name[:-len(".done")]] = json.loads(path.read_text())
            except FileNotFoundError:  # removed by mark_complete meanwhile
                continue
        return dict(sorted(out.items()))

    def mark_complete(self, key: str, *, attrs: Mapping | None = None) -> None:
        """Finish array ``key`` written in blocks: complete, all rows done, markers removed.

        ``attrs`` are merged into the entry's attributes (e.g. facts gathered
        from the blocks' info).
        """
        entry = self.entry(key)
        self.mark_progress(key, entry["shape"][0] if entry["shape"] else 1, complete=True,
                           attrs=attrs)
        self._clear_blocks(key)

    def _clear_blocks(self, key: str) -> None:
        import shutil

        shutil.rmtree(self.path / "progress" / key, ignore_errors=True)



class EntryViews:
    """An entry seen whole: activations and their ids, an xarray DataArray, its chunks checked."""

    def load_activations(self, model: str, layer: str, **fields):
        """Activations of ``layer`` of ``model`` and their stimulus ids.

        Returns
        -------
        X : ndarray of shape (n_stimuli, n_features)
        stimulus_ids : tuple of str
        """
        key = self.find("activations", model=model, layer=layer, **fields)
        entry = self.entry(key)
        return self.read(key), self.stimulus_ids(entry["fields"]["stimuli"])


    def verify(self, key: str) -> list[str]:
        """Every problem of array ``key``'s chunks (missing, truncated, failing their checksum).

        Reads each chunk's stored bytes once; an empty list means intact.
        """
        return [message for _, message in self._problems(key)]

    def first_damaged_row(self, key: str) -> int | None:
        """The first row of array ``key`` in a damaged chunk, or None when it is intact."""
        problems = self._problems(key)
        return min(row for row, _ in problems) if problems else None

    def _problems(self, key):
        from ._integrity import verify

        entry = self.entry(key)
        return verify(self.path, entry, label=describe_entry(key, entry),
                      open_array=lambda: self._open(key, entry, writable=False).array)

    def reopen(self, key: str, *, rows_done: int):
        """Mark array ``key`` incomplete from row ``rows_done`` on, to rewrite those rows.

        Takes the array's lock (as :meth:`create` does) and returns it opened
        for writing.
        """
        from . import _locks

        self._check_writable()
        entry = self.entry(key)
        _locks.acquire(self.path, key, what=describe_entry(key, entry))
        try:
            self.mark_progress(key, int(rows_done), complete=False)
            from ._arrays import update_record

            update_record(self.path, {**self.entry(key), "key": key})
            return self._open(key, self.entry(key), writable=True)
        except BaseException:
            _locks.release(self.path, key)
            raise

    def to_xarray(self, *, key: str | None = None, kind: str = "activations", model=None,
                  layer=None, **filters):
        """One entry as a labelled ``xarray.DataArray`` (needs ``pip install xarray``).

        Dimensions ``("stimulus", "unit")`` for activations and ``("stimulus_a",
        "stimulus_b")`` for an RDM (the full matrix, mirrored from its stored
        upper tiles), with the stimulus ids as coordinates and the entry's
        model, layer, reduction, measure and parameters as attributes. The
        same arrays open lazily with ``xarray.open_zarr(store.path,
        group=store.entry(key)["group"], consolidated=False)``.

        Parameters
        ----------
        key : str, optional
            The entry; else the one complete entry of ``kind`` that ``model``,
            ``layer`` and ``filters`` select (see :meth:`find`).
        """
        import xarray as xr

        from ._labels import coordinates, dimension_names, xarray_attrs

        key = key or self.find(kind, model=model, layer=layer, **filters)
        entry = self.entry(key)
        values = self.read(key)
        if entry["attrs"].get("layout") == "upper":
            lower = np.tril_indices(len(values), k=-1)
            values[lower] = values.T[lower]
        ids = self._ids_if_recorded(entry["fields"].get("stimuli"))
        dims = dimension_names(entry["kind"], values.ndim)
        coords = coordinates(entry["kind"], values.shape, entry["attrs"], ids)
        attrs = xarray_attrs(entry["kind"], entry["fields"], {"key": key, **entry})
        return xr.DataArray(values, dims=dims, coords={name: (name, np.asarray(v, dtype=object))
                                                       for name, v in coords.items()},
                            attrs=attrs, name=key)
