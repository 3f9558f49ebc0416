"""The column engine: an RDM from blocks of units, every activation read once.

For a layer far wider than it has stimuli (a ResNet's first block: 802,816
units for 1,000 images, 3.2 GB), row tiles read each row many times. The
Gram matrix is a sum over units, ``X X^T = sum_b X[:, b] X[:, b]^T``, so the
RDM can instead be accumulated block of columns by block of columns, holding
one block and the ``(n, n)`` sums: memory ``n**2`` plus one block, each
activation read once. The measures whose rows are prepared by a linear
operation have a column form:

- ``correlation``: rows are centred over their units, which is not local to a
  block of units; ``Z Z^T = X X^T - p m m^T`` (``m`` the row means) is
  accumulated in float64 from the blocks' products;
- ``cosine``: the raw Gram matrix;
- the Euclidean measures: each block's columns are centred (local to the
  block), as the row engine centres them, then the squared distances follow
  from the Gram matrix and its diagonal.

The result agrees with the row engine to float rounding; the same finish
functions turn the normalised sums into dissimilarities.
"""

from __future__ import annotations

import numpy as np

from .measures import (
    _finish_one_minus,
    _Measure,
    _prepare_cosine,
    _prepare_pearson,
    _prepare_squared,
)

__all__ = ["ColumnGram", "column_form"]

# How each built-in preparation becomes a sum over blocks of units.
_FORMS = {_prepare_pearson: "row_centred", _prepare_cosine: "raw",
          _prepare_squared: "column_centred"}


def column_form(measure: _Measure) -> str | None:
    """``"row_centred"``, ``"raw"``, ``"column_centred"``, or None (Spearman, user measures)."""
    if measure.pairwise is not None:
        return None
    return _FORMS.get(measure.prepare)


class ColumnGram:
    """Accumulate an RDM from ``(n_stimuli, block)`` column blocks of the activations.

    Parameters
    ----------
    n : int
        Stimuli (rows).
    measure : registered measure with a :func:`column_form`
    params : dict
        The measure's parameters.
    dtype : numpy float type
        Precision of each block's product (the sums are float64) and of the result.
    device : torch device, optional
        Multiply on this device (torch) instead of with numpy.
    """

    def __init__(self, n, measure: _Measure, params, *, dtype, device=None):
        self.form = column_form(measure)
        if self.form is None:
            raise ValueError(f"Measure {measure.name!r} has no column form (it ranks or pairs "
                             "whole rows); use the row engine.")
        self.n, self.measure, self.params, self.dtype = n, measure, params, dtype
        self.device = device
        self.gram = np.zeros((n, n))
        self.row_sums = np.zeros(n)
        self.row_min = np.full(n, np.inf)
        self.row_max = np.full(n, -np.inf)
        self.n_features = 0
        self.shift = None  # per-row constant subtracted from every block (row_centred)

    def add(self, block) -> None:
        """Add the columns ``block`` (array or tensor of shape (n_stimuli, width))."""
        block = self._as_numpy_or_tensor(block)
        width = block.shape[1]
        if width == 0:
            return
        numpy = isinstance(block, np.ndarray)
        lo, hi = (block.min(1), block.max(1)) if numpy else (
            block.amin(1).cpu().numpy(), block.amax(1).cpu().numpy())
        if self.form == "column_centred":
            block = block - (block.mean(0, keepdims=True) if numpy else block.mean(0, keepdim=True))
        elif self.form == "row_centred":
            # Rows are centred over all their units, which no block knows; shifting each row
            # by a constant (its mean over the first block) changes no correlation and keeps
            # the products small, so float32 loses nothing to cancellation.
            if self.shift is None:
                self.shift = block.mean(1, keepdims=True) if numpy else block.mean(1, keepdim=True)
            block = block - self.shift
        product, sums = self._moments(block)
        if self.device is not None and isinstance(self.gram, np.ndarray):
            import torch  # the sums stay on the device until finish()

            self.gram = torch.zeros((self.n, self.n), dtype=torch.float64, device=product.device)
            self.row_sums = torch.zeros(self.n, dtype=torch.float64, device=product.device)
        self.gram += product
        self.row_sums += sums
        np.minimum(self.row_min, lo, out=self.row_min)
        np.maximum(self.row_max, hi, out=self.row_max)
        self.n_features += width

    def _as_numpy_or_tensor(self, block):
        if self.device is None:
            return np.asarray(block, dtype=self.dtype)
        import torch

        tdtype = torch.float32 if self.dtype == np.float32 else torch.float64
        if not isinstance(block, torch.Tensor):
            block = torch.from_numpy(np.ascontiguousarray(block))
        return block.to(device=self.device, dtype=tdtype)

    def _moments(self, block):
        """The block's Gram matrix and row sums (float64; on the device for a tensor)."""
        if isinstance(block, np.ndarray):
            with np.errstate(invalid="ignore", over="ignore"):
                return (block @ block.T).astype(np.float64), block.sum(1, dtype=np.float64)
        return (block @ block.T).double(), block.double().sum(1)

    def finish(self):
        """``(D, constant_rows)``: the RDM (``dtype``, zero diagonal) and the undefined rows.

        Raises
        ------
        ValueError
            If a block held NaN or infinity (naming the first bad row).
        """
        if not isinstance(self.gram, np.ndarray):  # sums on a device: fetch them once
            self.gram, self.row_sums = self.gram.cpu().numpy(), self.row_sums.cpu().numpy()
        self.finite = bool(np.isfinite(self.row_sums).all() and np.isfinite(self.gram).all())
        if not self.finite:
            from ._engine import NonFiniteActivationsError

            bad = ~np.isfinite(self.row_sums) | ~np.isfinite(np.diag(self.gram))
            rows = np.flatnonzero(bad) if bad.any() else np.array([0])
            raise NonFiniteActivationsError(
                f"activations hold NaN or infinity (or values too large for "
                f"{np.dtype(self.dtype).name}), first at row {int(rows[0])}. Drop those "
                "stimuli or fix the layer.", rows=rows)
        G, p = self.gram, self.n_features
        constant = None
        if self.form == "row_centred":
            m = self.row_sums / p
            G = G - p * np.outer(m, m)
            constant = self.row_max == self.row_min
        elif self.form == "raw":
            constant = (self.row_max == 0) & (self.row_min == 0)
        if self.measure.finish is _finish_one_minus:
            norm = np.sqrt(np.clip(np.diag(G), 0, None))
            scale = np.where(constant | (norm == 0), 1.0, norm)
            G = G / scale[:, None] / scale[None, :]
            G[constant, :] = 0
            G[:, constant] = 0
            D = G.astype(self.dtype)
            self.measure.finish(D, None, None, p, **self.params)
            D[np.ix_(constant, constant)] = 0
        else:
            diag = np.diag(G).copy()
            D = G.copy()
            self.measure.finish(D, diag, diag, p, **self.params)
            D = D.astype(self.dtype)
        D = (D + D.T) / 2  # exact symmetry (the sums are symmetric up to rounding)
        np.fill_diagonal(D, 0)
        rows = np.flatnonzero(constant) if constant is not None else np.array([], int)
        return D.astype(self.dtype, copy=False), rows.astype(np.intp)
