"""Checks of compute_rdm's options and inputs, and the run provenance of an RDM."""

from __future__ import annotations

import numpy as np

from ._engine import _default_batch_size, _Rows
from ._objects import _jsonable


def _run_provenance(measure, params, dtype, device, nan_policy="raise") -> dict:
    from .._version import __version__

    out = {"measure": measure.name, "params": _jsonable(params),
           "dtype": np.dtype(dtype).name, "deeprsa_version": __version__}
    if device is not None:
        out["device"] = str(device)
    if nan_policy != "raise":  # only then part of the RDM's identity (keys stay as they were)
        out["nan_policy"] = nan_policy
    return out


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    return dt.type


def _check_device(device, measure):
    if device is None:
        return None
    import torch

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got "
                         f"{device!r}.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch finds no CUDA GPU here; leave device=None "
                         "to compute on the CPU.")
    if measure.pairwise is not None:
        raise ValueError(f"Measure {measure.name!r} is a user function that runs with "
                         "numpy; device= applies to the built-in measures only.")
    return device


def _check_activations(X, dtype) -> _Rows:
    streamed = (not isinstance(X, np.ndarray) and hasattr(X, "shape")
                and hasattr(X, "__getitem__") and hasattr(X, "dtype")
                and not type(X).__module__.startswith("torch"))
    if not streamed:
        if type(X).__module__.startswith("torch"):
            X = X.detach().cpu().numpy()
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"activations must be numbers, got dtype {X.dtype}.")
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(
            f"activations must be 2-D (n_stimuli, n_units), got shape {shape}. "
            "Flatten or pool the spatial dimensions first, e.g. X.reshape(len(X), -1).")
    if shape[0] < 2:
        raise ValueError(f"An RDM needs at least 2 stimuli, got {shape[0]}.")
    if shape[1] < 1:
        raise ValueError("activations have no units (0 columns).")
    if not streamed:
        X = np.asarray(X, dtype=dtype)
    return _Rows(X, in_memory=not streamed)


def _check_batch_size(batch_size, rows, dtype, measure):
    if batch_size is None:
        if measure.pairwise is not None:  # user functions may broadcast over tile pairs
            return min(rows.n, 256)
        if rows.in_memory:  # one product (BLAS syrk): tiles would save no memory here
            return rows.n
        return _default_batch_size(rows.n, rows.n_features, np.dtype(dtype).itemsize)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int (rows per tile), got "
                         f"{batch_size!r}.")
    return int(min(batch_size, rows.n))
