"""Model RDMs and multi-model RDMs: layers x layers heatmaps with each model's block outlined.

:func:`plot_model_rdm` shows the second-order comparison of the layers of one
model (the model RDM, 1 - Spearman between layer RDMs, of the
object-classification RSA study) or of several models at once (its multi-model
RDM), from a :class:`~deeprsa.compare.ComparisonResult`, an RDM over layers or
a square matrix.
"""

from __future__ import annotations

import numpy as np

from ..analyses.mds import _comparison_dissimilarity, _is_comparison
from ._base import (
    _METHOD_LABELS,
    GID_MODEL_BLOCK,
    _finish,
    _measure_label,
    _new_figure,
    _rdm_parts,
    _short_names,
    _styled,
)


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


@_styled
def plot_model_rdm(comparison, *, labels=None, groups=None, annotate=None, cmap="viridis",
                   vmax=None, title=None, ax=None, path=None):
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
        must be contiguous; each model's diagonal block is outlined and named.
    annotate : bool, optional
        Write the value in each cell; default when there are at most 12 rows.
        Undefined comparisons (NaN, e.g. with a constant layer) are grey.
    cmap : str, default="viridis"
    vmax : float, optional
        Top of the colour scale; default the largest dissimilarity.
    title : str, optional
    ax : matplotlib.axes.Axes, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the rows of one model are not contiguous, or labels do not match.

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[0, .2, .7, .8], [.2, 0, .6, .7], [.7, .6, 0, .1], [.8, .7, .1, 0]])
    >>> fig = plot_model_rdm(D, labels=["conv", "fc", "conv", "fc"],
    ...                      groups=["alexnet", "alexnet", "vgg", "vgg"])
    >>> sum(p.get_gid() == "model-block" for p in fig.axes[0].patches)
    2
    """
    D, labels, groups, what = _second_order_parts(comparison, labels, groups)
    n = len(D)
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for {n} rows.")
    blocks = []
    if groups is not None:
        groups = [str(g) for g in groups]
        if len(groups) != n:
            raise ValueError(f"groups has {len(groups)} entries for {n} rows.")
        starts = [0] + [i for i in range(1, n) if groups[i] != groups[i - 1]]
        names = [groups[s] for s in starts]
        repeated = sorted({g for g in names if names.count(g) > 1})
        if repeated:
            raise ValueError(f"The rows of model {repeated[0]!r} are not contiguous; order "
                             "the rows model by model (multi_model_rdm does).")
        blocks = [(s, e, groups[s]) for s, e in zip(starts, starts[1:] + [n], strict=True)]
    if blocks:  # shortest unambiguous layer names within each model
        labels = [name for s, e, _ in blocks for name in _short_names(labels[s:e])]
    else:
        labels = _short_names(labels)
    annotate = n <= 12 if annotate is None else annotate
    many_models = len(blocks) > 1
    side = min(5.8, max(2.6, 0.13 * n + 1.4))  # inches of the matrix itself
    if ax is None:
        shown = labels if 72 * side / n >= 4.5 else [name for *_, name in blocks]
        longest = max(map(len, shown)) * 0.055  # inches of the longest tick label
        fig = _new_figure(side + longest + 1.0,
                          side + (longest if shown is labels else 0.2)
                          + (1.1 if many_models else 0.4))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    if vmax is None:
        vmax = float(np.nanmax(D)) if np.isfinite(D).any() else 1.0
    import matplotlib as mpl

    colours = mpl.colormaps[cmap].with_extremes(bad="0.85")  # undefined comparisons: grey
    image = ax.imshow(np.ma.masked_invalid(D), cmap=colours, vmin=0.0,
                      vmax=vmax if vmax > 0 else 1.0)
    ax.spines[:].set_visible(True)
    ax.tick_params(length=0)
    row_points = 72 * side / n
    show_layers = row_points >= 4.5
    if show_layers:
        size = min(7.0, row_points * 0.85)
        ax.set_xticks(range(n), labels, rotation=90, fontsize=size)
        ax.set_yticks(range(n), labels, fontsize=size)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    from matplotlib.patches import Rectangle

    for start, stop, _name in blocks:
        ax.add_patch(Rectangle((start - 0.5, start - 0.5), stop - start, stop - start,
                               fill=False, edgecolor="white", linewidth=1.2,
                               gid=GID_MODEL_BLOCK))
    if many_models:
        centres = [(s + e - 1) / 2 for s, e, _ in blocks]
        names = [name for *_, name in blocks]
        top = ax.secondary_xaxis("top")
        top.set_xticks(centres, names, rotation=30 if len(blocks) > 3 else 0,
                       ha="left" if len(blocks) > 3 else "center")
        top.tick_params(length=0)
        if not show_layers:
            ax.set_yticks(centres, names)
        for s, _, _ in blocks[1:]:
            for line in (ax.axhline(s - 0.5), ax.axvline(s - 0.5)):
                line.set(color="white", linewidth=0.8, gid=GID_MODEL_BLOCK)
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
    ax.set_title(title, pad=24 if many_models else 6)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8, aspect=30)
    colorbar.set_label(what + " between RDMs" if "RDM" not in what else what)
    colorbar.outline.set_visible(False)
    return _finish(fig, path)
