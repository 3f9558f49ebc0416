"""Variance-explained curves: how many principal components each layer needs.

:func:`plot_variance_explained` draws the cumulative PCA variance of each layer
and the number of components that reach a threshold (80 %, as in the ManteLab
course notebook on representations in deep networks), from a mapping of
ratios or the table of :func:`deeprsa.analyses.explained_variance`.
"""

from __future__ import annotations

import numpy as np

from .._validation import suggest
from ._base import _finish, _new_figure, _short_names, _styled


def _variance_table(variance):
    """Mapping layer -> ratios, or a table with layer / explained_variance_ratio columns."""
    import pandas as pd

    if isinstance(variance, pd.DataFrame):
        needed = ("layer", "explained_variance_ratio")
        for col in needed:
            if col not in variance.columns:
                columns = sorted(map(str, variance.columns))
                raise ValueError(f"variance has no column {col!r}.{suggest(col, columns)} "
                                 f"Columns: {columns}.")
        if "model" in variance.columns and variance["model"].nunique() > 1:
            models = sorted(map(str, variance["model"].unique()))
            raise ValueError(f"variance holds {len(models)} models ({', '.join(models)}); plot "
                             "one at a time, e.g. variance[variance.model == name].")
        sort = ["component"] if "component" in variance.columns else []
        out = {}
        for layer, part in variance.groupby("layer", sort=False):
            part = part.sort_values(sort) if sort else part
            out[str(layer)] = part["explained_variance_ratio"].to_numpy(dtype=float)
        return out
    return {str(k): np.asarray(v, dtype=float).ravel() for k, v in variance.items()}


def _cumulative(ratios):
    """Cumulative explained variance ratio; variances (summing above 1) are normalised first."""
    ratios = np.asarray(ratios, dtype=float)
    total = ratios.sum()
    return np.cumsum(ratios / total if total > 1 + 1e-6 else ratios)


def _components_to_reach(ratios, threshold=0.8):
    """Number of leading principal components whose explained variance reaches ``threshold``.

    Parameters
    ----------
    ratios : array-like of shape (n_components,)
        Explained variance ratios in decreasing order (or variances, which
        are normalised to sum to 1).
    threshold : float, default=0.8

    Returns
    -------
    int or None
        None when the components never reach the threshold (a truncated
        spectrum) or the ratios are undefined (a constant layer).

    Examples
    --------
    >>> _components_to_reach([0.5, 0.2, 0.2, 0.1], 0.8)
    3
    >>> _components_to_reach([0.5, 0.2], 0.8) is None
    True
    """
    cumulative = _cumulative(ratios)
    reached = np.flatnonzero(cumulative >= threshold - 1e-10)
    return int(reached[0]) + 1 if reached.size else None


def _every(n, length, spacing=6.5):
    """Indices of n evenly spread names along ``length`` points that stay ``spacing`` apart:
    all of them when they fit, else every k-th (the first and the last always)."""
    step = max(1, int(np.ceil(spacing * n / length)))
    shown = list(range(0, n, step))
    if shown[-1] != n - 1:  # the last layer instead of a name too close to it
        if n - 1 - shown[-1] < step and len(shown) > 1:
            shown[-1] = n - 1
        else:
            shown.append(n - 1)
    return shown


@_styled
def plot_variance_explained(variance, *, threshold=0.8, title=None, path=None):
    """Cumulative PCA variance per layer, and the components each layer needs to reach 80 %.

    Parameters
    ----------
    variance : mapping of layer -> array-like, or pandas.DataFrame
        Explained variance ratio of each principal component (sklearn's
        ``PCA.explained_variance_ratio_``), one entry per layer in depth
        order; or a table with columns ``layer``, ``explained_variance_ratio``
        (and optionally ``component``), one row per component, as
        :func:`deeprsa.analyses.explained_variance` returns.
    threshold : float, default=0.8
        Fraction of variance for the right panel (the ManteLab course
        notebook on representations in deep networks uses 80 %).
    title : str, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        Left: cumulative variance explained against the number of components
        (log axis), one curve per layer, early layers dark, late layers
        yellow, keyed by a colour bar of layer names. Right: components needed
        to reach ``threshold`` per layer (a layer that never reaches it, or
        is constant, has no point). With many layers, every k-th layer is
        named (the first and the last always), so the names stay legible.

    Examples
    --------
    >>> fig = plot_variance_explained({"conv1": [.5, .3, .2], "fc": [.9, .05, .05]})
    >>> [t.get_text() for t in fig.axes[1].get_xticklabels()]
    ['conv1', 'fc']
    >>> fig.axes[1].get_ylabel()
    'components to reach 80 %'
    """
    import matplotlib as mpl
    from matplotlib.ticker import MaxNLocator

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}.")
    table = _variance_table(variance)
    if not table:
        raise ValueError("variance holds no layers.")
    layers = list(table)
    names = _short_names(layers)
    many = len(layers) > 14
    height = 4.4 if many else 3.0
    fig = _new_figure(7.0, height)
    left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])
    colours = mpl.colormaps["viridis"](np.linspace(0, 0.92, len(layers)))
    needed = []
    for layer, name, colour in zip(layers, names, colours, strict=True):
        ratios = table[layer]
        left.plot(np.arange(1, len(ratios) + 1), _cumulative(ratios), color=colour,
                  linewidth=1.2, label=name)
        needed.append(_components_to_reach(ratios, threshold))
    left.axhline(threshold, color="0.4", linestyle="--", linewidth=0.8)
    left.set_xscale("log")
    left.set_ylim(0, 1.02)
    left.set_xlabel("number of principal components")
    left.set_ylabel("cumulative variance explained")
    key = mpl.cm.ScalarMappable(norm=mpl.colors.BoundaryNorm(np.arange(len(layers) + 1) - 0.5,
                                                             len(layers)),
                                cmap=mpl.colors.ListedColormap(colours))
    # name every k-th layer where all names would not stay 6.5 points apart
    shown = _every(len(layers), 72 * 0.5 * height)
    colorbar = fig.colorbar(key, ax=left, aspect=max(12, min(2.5 * len(layers), 40)),
                            pad=0.02)
    colorbar.set_ticks(shown, labels=[names[k] for k in shown],
                       fontsize=6.5 if len(layers) > 10 else 7)
    colorbar.ax.invert_yaxis()  # input at the top, as read
    colorbar.ax.tick_params(length=0)
    colorbar.outline.set_visible(False)
    xs = [x for x, v in enumerate(needed) if v is not None]
    values = [needed[x] for x in xs]
    right.plot(xs, values, color="0.2", linewidth=1.0)
    right.scatter(xs, values, c=[colours[x] for x in xs], s=14, zorder=3)
    columns = _every(len(layers), 72 * 2.9)
    right.set_xticks(columns, [names[k] for k in columns], rotation=90 if many else 45,
                     ha="center" if many else "right",
                     fontsize=6.5 if len(layers) > 10 else 7)
    right.set_xlim(-0.5, len(layers) - 0.5)
    right.set_ylim(bottom=0)
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_ylabel(f"components to reach {threshold:.0%}".replace("%", " %"))
    right.set_xlabel("layer (input → output)")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
