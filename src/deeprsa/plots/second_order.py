"""Model RDMs and multi-model RDMs: layers x layers heatmaps with each model's block outlined.

:func:`plot_model_rdm` shows the second-order comparison of the layers of one
model (the model RDM, 1 - Spearman between layer RDMs, of the
object-classification RSA study) or of several models at once (its multi-model
RDM), from a :class:`~deeprsa.compare.ComparisonResult`, an RDM over layers or
a square matrix. Its labels are hierarchical, so that they still read at
150 layers and more: a coloured band and the name of each model, and layer
names at the density the rows allow. :func:`model_rdm_view` gives the same
matrix as plain data (models, layers, values, colour scale) for the
interactive view of the HTML report, which names every layer.
"""

from __future__ import annotations

import numpy as np

from ..analyses.mds import _comparison_dissimilarity, _is_comparison
from ._base import (
    _METHOD_LABELS,
    GID_MODEL_BAND,
    GID_MODEL_BLOCK,
    _abbreviate,
    _draw_name_key,
    _finish,
    _group_colours,
    _measure_label,
    _new_figure,
    _rdm_parts,
    _short_names,
    _styled,
)
from ._placement import text_size

_MIN_TICK_SPACING = 6.5  # points between layer names on an axis


def _second_order_parts(comparison, labels, groups):
    """ComparisonResult / RDM / array -> (dissimilarity, layer labels, model groups, label)."""
    import pandas as pd

    if _is_comparison(comparison):
        D = _comparison_dissimilarity(comparison)
        meta = comparison.metadata_a
        method = comparison.method
        if labels is None:
            labels = (meta["layer"] if "layer" in meta else pd.Series(range(len(D)))).astype(str)
        if groups is None and "model" in meta:
            groups = meta["model"].astype(str)
        if comparison.kind == "similarity":
            what = f"1 − {_METHOD_LABELS.get(method, method)}"
        else:
            what = f"{method} distance"
        return D, labels, groups, what
    M, ids, provenance = _rdm_parts(comparison)
    if labels is None and all("|" in s for s in ids):
        split = [s.rsplit("|", 1) for s in ids]
        groups = [g for g, _ in split] if groups is None else groups
        labels = [layer for _, layer in split]
    labels = list(ids) if labels is None else labels
    what = _measure_label(provenance) if provenance else "dissimilarity"
    return M, labels, groups, what


def _blocks_of(groups, n):
    """(start, stop, model) of each model's contiguous rows; [] without groups."""
    if groups is None:
        return []
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} rows.")
    starts = [0] + [i for i in range(1, n) if groups[i] != groups[i - 1]]
    names = [groups[s] for s in starts]
    repeated = sorted({g for g in names if names.count(g) > 1})
    if repeated:
        raise ValueError(f"The rows of model {repeated[0]!r} are not contiguous; order "
                         "the rows model by model (multi_model_rdm does).")
    return [(s, e, groups[s]) for s, e in zip(starts, starts[1:] + [n], strict=True)]


def _layer_ticks(blocks, n, step):
    """Rows whose layer is named: every ``step``-th row of each model, its first one first."""
    spans = blocks or [(0, n, None)]
    rows = []
    for start, stop, _ in spans:
        rows += list(range(start, max(start + 1, stop - step + 1), step))
    return rows


def _parts(comparison, labels, groups):
    D, labels, groups, what = _second_order_parts(comparison, labels, groups)
    n = len(D)
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for {n} rows.")
    groups = None if groups is None else [str(g) for g in groups]
    blocks = _blocks_of(groups, n)
    return np.asarray(D, dtype=np.float64), labels, blocks, what


def _shown_names(labels, blocks):
    """Layer names shortened within each model, then abbreviated past 22 characters."""
    if blocks:
        short = [name for s, e, _ in blocks for name in _short_names(labels[s:e])]
    else:
        short = _short_names(labels)
    return _abbreviate(short)


@_styled
def plot_model_rdm(comparison, *, labels=None, groups=None, annotate=None, cmap="viridis",
                   vmax=None, palette=None, title=None, ax=None, path=None):
    """Heatmap of a model RDM or multi-model RDM: layers x layers, model blocks outlined.

    Parameters
    ----------
    comparison : ComparisonResult, RDM or array-like of shape (n_layers, n_layers)
        A symmetric result of :func:`deeprsa.compare.multi_model_rdm` or
        :func:`~deeprsa.compare.compare_rdms` (its ``dissimilarity`` is shown
        and its metadata give layer and model labels), an RDM over layers
        with ids ``"model|layer"`` (``ComparisonResult.to_rdm()``) or a
        square matrix.
    labels : sequence of str, optional
        Name of each row (default: the layers).
    groups : sequence of str, optional
        Model of each row (default: from the metadata). Rows of one model
        must be contiguous; each model's diagonal block is outlined, marked
        by a coloured band along the top and left edges, and named.
    annotate : bool, optional
        Write the value in each cell; default when there are at most 12 rows.
        Undefined comparisons (NaN, e.g. with a constant layer) are grey.
    cmap : str, default="viridis"
    vmax : float, optional
        Top of the colour scale; default the largest dissimilarity.
    palette : mapping of model -> colour, optional
        Colour of each model's band (e.g. the shades of
        :func:`plot_mds`'s ``families``); default tab10/tab20.
    title : str, optional
    ax : matplotlib.axes.Axes, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        Layer names run along the left and bottom edges: all of them when the
        rows leave 6.5 points each, else every k-th layer of each model
        (always its first), so that the names stay legible; model names run
        along the top and, beside the bands, the left.

    Raises
    ------
    ValueError
        If the rows of one model are not contiguous, or labels do not match.

    See Also
    --------
    model_rdm_view : The same matrix as data, for an interactive view.

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[0, .2, .7, .8], [.2, 0, .6, .7], [.7, .6, 0, .1], [.8, .7, .1, 0]])
    >>> fig = plot_model_rdm(D, labels=["conv", "fc", "conv", "fc"],
    ...                      groups=["alexnet", "alexnet", "vgg", "vgg"])
    >>> sum(p.get_gid() == "model-block" for p in fig.axes[0].patches)
    2
    """
    import matplotlib as mpl
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    D, labels, blocks, what = _parts(comparison, labels, groups)
    n = len(D)
    names = _shown_names(labels, blocks)
    annotate = n <= 12 if annotate is None else annotate
    many_models = len(blocks) > 1
    side = min(6.2, max(2.6, 0.13 * n + 1.4))  # inches of the matrix itself
    pitch = 72 * side / n  # points per row
    step = max(1, int(np.ceil(_MIN_TICK_SPACING / pitch)))
    ticks = _layer_ticks(blocks, n, step)
    size = float(np.clip(pitch * step * 0.85, 5.0, 7.0))
    longest = max(text_size(names[i], size)[0] for i in ticks) + 4  # points, with the pad
    band = 4.0 if many_models else 0.0  # points of the model band
    model_width = max(text_size(b[2], 7)[0] for b in blocks) + 8 if many_models else 0.0
    if ax is None:
        fig = _new_figure(side + (longest + band + model_width) / 72 + 1.3,
                          side + longest / 72 + (1.2 if many_models else 0.5))
        ax = fig.add_subplot()
        own_figure = True
    else:
        fig, own_figure = ax.figure, False
    finite = np.isfinite(D)
    if vmax is None:
        vmax = float(np.nanmax(D)) if finite.any() else 1.0
    colours = mpl.colormaps[cmap].with_extremes(bad="0.85")  # undefined comparisons: grey
    image = ax.imshow(np.ma.masked_invalid(D), cmap=colours, vmin=0.0,
                      vmax=vmax if vmax > 0 else 1.0)
    ax.spines[:].set_visible(True)
    ax.tick_params(length=0)
    ax.set_xticks(ticks, [names[i] for i in ticks], rotation=90, fontsize=size)
    ax.set_yticks(ticks, [names[i] for i in ticks], fontsize=size)
    for start, stop, _name in blocks:
        ax.add_patch(Rectangle((start - 0.5, start - 0.5), stop - start, stop - start,
                               fill=False, edgecolor="white", linewidth=1.2 if n < 80 else 0.8,
                               gid=GID_MODEL_BLOCK))
    rotated = len(blocks) > 3
    if many_models:
        band_colours = palette if palette is not None else _group_colours(
            [b[2] for b in blocks])
        missing = [b[2] for b in blocks if b[2] not in band_colours]
        if missing:
            raise ValueError(f"palette has no colour for model {missing[0]!r}.")
        for s, _, _ in blocks[1:]:
            for line in (ax.axhline(s - 0.5), ax.axvline(s - 0.5)):
                line.set(color="white", linewidth=0.8 if n < 80 else 0.5, gid=GID_MODEL_BLOCK)
        # the bands: thick lines just outside the top edge, and left of the layer names
        gap = longest + 4 + band / 2
        left = blended_transform_factory(
            ax.transAxes + ScaledTranslation(-gap / 72, 0, fig.dpi_scale_trans), ax.transData)
        top = blended_transform_factory(
            ax.transData, ax.transAxes + ScaledTranslation(0, (band / 2 + 1) / 72,
                                                           fig.dpi_scale_trans))
        for start, stop, name in blocks:
            colour = band_colours[name]
            for xs, ys, transform in (([0, 0], [start - 0.5, stop - 0.5], left),
                                      ([start - 0.5, stop - 0.5], [1, 1], top)):
                ax.add_line(mpl.lines.Line2D(xs, ys, transform=transform, color=colour,
                                             linewidth=band, solid_capstyle="butt",
                                             clip_on=False, gid=GID_MODEL_BAND))
        centres = [(s + e - 1) / 2 for s, e, _ in blocks]
        model_names = [name for *_, name in blocks]
        upper = ax.secondary_xaxis("top")
        upper.set_xticks(centres, model_names, rotation=45 if rotated else 0,
                         ha="left" if rotated else "center",
                         rotation_mode="anchor", fontsize=7)
        upper.tick_params(length=0, pad=band + 3)
        upper.spines[:].set_visible(False)
        fits = min(e - s for s, e, _ in blocks) * pitch >= 7
        if fits:
            beside = ax.secondary_yaxis("left")
            beside.set_yticks(centres, model_names, fontsize=7)
            beside.tick_params(length=0, pad=gap + band / 2 + 3)
            beside.spines[:].set_visible(False)
    if annotate:
        for i in range(n):
            for j in range(n):
                value = D[i, j]
                ax.text(j, i, f"{value:.2f}" if np.isfinite(value) else "n/a", ha="center",
                        va="center", fontsize=6,
                        color="black" if not value <= 0.6 * vmax else "white")
    if title is None and len(blocks) == 1:
        title = f"model RDM · {blocks[0][2]}"
    elif title is None:
        title = "multi-model RDM" if many_models else "second-order RDM"
    ax.set_title(title, pad=(band + 8 + (model_width * 0.72 if rotated else 10))
                 if many_models else 6)
    _draw_name_key(fig, ax, [labels[i] for i in ticks], [names[i] for i in ticks],
                   own_figure=own_figure)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8, aspect=30)
    label = what + " between RDMs" if "RDM" not in what else what
    if not finite.all():
        label += "\n(grey: undefined, e.g. a constant RDM)"
    colorbar.set_label(label)
    colorbar.outline.set_visible(False)
    return _finish(fig, path)


def model_rdm_view(comparison, *, labels=None, groups=None, cmap="viridis", vmax=None,
                   title=None):
    """A model or multi-model RDM as plain data, for an interactive view (the HTML report).

    Parameters
    ----------
    comparison, labels, groups, cmap, vmax
        As :func:`plot_model_rdm`, which draws the same matrix on the same
        colour scale.
    title : str, optional

    Returns
    -------
    dict
        JSON-ready: ``models`` (the model of each row, or None), ``layers``
        (full layer names), ``values`` (rounded to 4 decimals, None where
        undefined: row by row, and for a ``symmetric`` matrix only the upper
        triangle with the diagonal, half the size), ``label`` (what the values
        are), ``vmin``, ``vmax`` and ``colormap`` (64 hex colours from vmin to
        vmax).

    Examples
    --------
    >>> import numpy as np
    >>> view = model_rdm_view(np.array([[0, .5], [.5, 0]]), labels=["conv", "fc"])
    >>> view["layers"], view["symmetric"], view["values"], view["vmax"]
    (['conv', 'fc'], True, [0.0, 0.5, 0.0], 0.5)
    """
    import matplotlib as mpl

    D, labels, blocks, what = _parts(comparison, labels, groups)
    finite = np.isfinite(D)
    if vmax is None:
        vmax = float(np.nanmax(D)) if finite.any() else 1.0
    models = [None] * len(D)
    for start, stop, name in blocks:
        models[start:stop] = [name] * (stop - start)
    ramp = mpl.colormaps[cmap](np.linspace(0, 1, 64))
    symmetric = bool(np.allclose(D, D.T, rtol=0, atol=1e-12, equal_nan=True))
    values = D[np.triu_indices(len(D))] if symmetric else D.ravel()
    return {"title": title or ("multi-model RDM" if len(blocks) > 1 else "model RDM"),
            "models": models, "layers": list(labels), "symmetric": symmetric,
            "values": [round(float(v), 4) if np.isfinite(v) else None for v in values],
            "label": what + " between RDMs" if "RDM" not in what else what,
            "vmin": 0.0, "vmax": vmax if vmax > 0 else 1.0,
            "colormap": [mpl.colors.to_hex(c) for c in ramp]}
