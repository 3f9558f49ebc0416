"""Figures of stacks of RDMs: small RDMs over entries side by side, and a value per layer.

:func:`plot_rdm_stack` draws RDMs over the same few entries (the colour RDM
of each object of pytorch_feature_analysis, or the meta-RDM of each layer)
in one grid on one colour scale, entries in their own order with their
labels on the axes. :func:`plot_layer_values` draws one value of a tidy
table per layer, a line per model (e.g. the fraction of units an ANOVA finds
selective).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._base import _finish, _grid_columns, _measure_label, _new_figure, _rdm_parts, _styled

_MAX_LABELS = 16  # entry labels on the axes of one panel


@_styled
def plot_rdm_stack(rdms, *, titles=None, ncols=None, cmap="viridis", vmax=None,
                   annotate=None, suptitle=None, path=None):
    """A grid of RDMs over the same entries, in their order, on one colour scale.

    Parameters
    ----------
    rdms : RDMs, sequence of RDM, or mapping of title -> RDM
        RDMs over the same entry labels in the same order (their stimuli may
        differ: one RDM per group of a stack).
    titles : sequence of str, optional
        One per panel; default the mapping's keys, else the RDMs' ``by``
        values (``"obj=cup"``), else their layers.
    ncols : int, optional
        Panels per row; default about square.
    cmap : str, default="viridis"
    vmax : float, optional
        Top of the shared colour scale; default the largest dissimilarity.
    annotate : bool, optional
        Print each dissimilarity in its cell; default when there are at most
        6 entries.
    suptitle : str, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per RDM, then the colourbar.

    Raises
    ------
    ValueError
        If there are no RDMs, or their entry labels differ.

    Examples
    --------
    >>> from deeprsa import RDM
    >>> a = RDM.from_vector([1, 2, 3], ["0", "90", "180"], {"label": 1, "by": ["label"]})
    >>> b = RDM.from_vector([3, 2, 1], ["0", "90", "180"], {"label": 2, "by": ["label"]})
    >>> fig = plot_rdm_stack([a, b])
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['label=1', 'label=2']
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['0', '90', '180']
    """
    if isinstance(rdms, Mapping):
        titles = list(rdms) if titles is None else titles
        rdms = list(rdms.values())
    parts = [_rdm_parts(r) for r in rdms]
    if not parts:
        raise ValueError("plot_rdm_stack needs at least one RDM, got none.")
    ids = parts[0][1]
    for k, (_, other, _) in enumerate(parts[1:], start=1):
        if other != ids:
            raise ValueError(f"RDM {k} has other entry labels than RDM 0 ({list(other)} vs "
                             f"{list(ids)}); a stack's grid needs the same entries in the same "
                             "order.")
    titles = list(titles) if titles is not None else [_title(p, k)
                                                      for k, (_, _, p) in enumerate(parts)]
    n, size = len(parts), len(ids)
    annotate = size <= 6 if annotate is None else annotate
    top = vmax if vmax is not None else max(float(M.max()) for M, _, _ in parts) or 1.0
    ncols = min(ncols or _grid_columns(n), n)
    nrows = int(np.ceil(n / ncols))
    panel = min(1.6, 6.3 / ncols)
    fig = _new_figure(panel * ncols + 0.9, panel * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    shown = size <= _MAX_LABELS
    image = None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        M = parts[k][0]
        image = ax.imshow(M, cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
        ax.spines[:].set_visible(True)
        ax.tick_params(length=0)
        row, col = divmod(k, ncols)
        bottom = k + ncols >= n
        ax.set_xticks(range(size), ids if shown and bottom else [""] * size,
                      rotation=90 if max(map(len, ids)) > 3 else 0)
        ax.set_yticks(range(size), ids if shown and col == 0 else [""] * size)
        if not shown:
            ax.set_xticks([])
            ax.set_yticks([])
        if annotate:
            for i in range(size):
                for j in range(size):
                    if i != j:
                        ax.text(j, i, f"{M[i, j]:.2g}", ha="center", va="center", fontsize=5,
                                color="white" if M[i, j] < 0.6 * top else "black")
        ax.set_title(titles[k], fontsize=8)
        entries = parts[k][2].get("entries") or parts[k][2].get("entry_variables")
        if entries and shown:  # what the rows are, on the outer axes
            ax.set_xlabel(", ".join(map(str, entries)) if bottom else "")
            ax.set_ylabel(", ".join(map(str, entries)) if col == 0 else "")
    if suptitle:
        fig.suptitle(suptitle)
    colorbar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, aspect=30)
    colorbar.set_label(_measure_label(parts[0][2]))
    colorbar.outline.set_visible(False)
    return _finish(fig, path)


def _title(provenance, k) -> str:
    by = provenance.get("by") or []
    if by:
        return ", ".join(f"{c}={provenance.get(c)}" for c in by)
    return str(provenance.get("layer", f"RDM {k}"))


@_styled
def plot_layer_values(table, *, y, ylabel=None, x="layer", group="model", ylim=None,
                       title=None, ax=None, path=None):
    """One value per layer, a line per model, layers in the order of the table.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy: one row per model and layer, e.g. :func:`deeprsa.analyses.unit_selectivity`.
    y : str
        The column drawn.
    ylabel : str, optional
        Default ``y``.
    x, group : str, default="layer", "model"
        The columns of the layers (in their order of first appearance in each
        group) and of the lines.
    ylim : tuple of float, optional
    title : str, optional
    ax : matplotlib.axes.Axes, optional
    path : str or Path, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    KeyError
        If a column is not in the table.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"model": ["a", "a", "b", "b"], "layer": ["c1", "fc"] * 2,
    ...                       "fraction_selective": [0.2, 0.8, 0.1, 0.5]})
    >>> fig = plot_layer_values(table, y="fraction_selective")
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['a', 'b']
    """
    for column in (x, y, group):
        if column not in table.columns:
            raise KeyError(f"The table has no column {column!r}; columns: "
                           f"{sorted(map(str, table.columns))}.")
    fig = ax.figure if ax is not None else _new_figure(3.6, 2.6)
    ax = ax if ax is not None else fig.add_subplot()
    lines = []
    for name, rows in table.groupby(group, sort=False):
        layers = list(dict.fromkeys(rows[x].astype(str)))
        values = rows.groupby(rows[x].astype(str), sort=False)[y].mean().loc[layers]
        lines.append((str(name), layers, values.to_numpy()))
    shared = all(layers == lines[0][1] for _, layers, _ in lines)
    for name, layers, values in lines:
        # Models with other layers share a relative depth axis (0 = first, 1 = last layer).
        where = np.arange(len(layers)) if shared else np.linspace(0, 1, len(layers))
        ax.plot(where, values, marker="o", markersize=3, linewidth=1.2, label=name)
    if shared:
        ax.set_xticks(range(len(lines[0][1])), lines[0][1], rotation=45, ha="right")
        ax.set_xlabel("layer (input to output)")
    else:
        ax.set_xticks([0, 1], ["first layer", "last layer"])
        ax.set_xlabel("relative depth (the models have different layers)")
    ax.set_ylabel(ylabel or y)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if table[group].nunique() > 1:
        ax.legend(frameon=False, title=group, fontsize=6)
    if title:
        ax.set_title(title)
    return _finish(fig, path)
