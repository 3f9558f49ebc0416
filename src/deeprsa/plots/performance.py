"""Representational against performance similarity of model pairs, with a fit and its CI.

:func:`plot_similarity_vs_performance` draws the scatter of the
object-classification RSA study's question (do models that behave alike
represent alike?): one point per pair of models, a least-squares line and a
percentile-bootstrap band.
"""

from __future__ import annotations

import numpy as np

from .._deprecation import renamed_keywords
from .._validation import check_random_state, suggest
from ._base import _finish, _group_colours, _new_figure, _styled

_N_RESAMPLES = 2000  # default of plot_similarity_vs_performance


@renamed_keywords(n_boot="n_resamples", ci="confidence")
@_styled
def plot_similarity_vs_performance(table, *, x="performance_similarity",
                                   y="representational_similarity", hue=None, confidence=0.95,
                                   n_resamples=_N_RESAMPLES, seed=0, xlabel=None, ylabel=None,
                                   title=None, ax=None, path=None):
    """Representational against performance similarity of model pairs, with a fit and its CI.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per pair of models.
    x, y : str
        Columns for the horizontal (performance) and vertical
        (representational) similarity.
    hue : str, optional
        Column colouring the points (e.g. whether the pair shares an
        architecture).
    confidence : float, default=0.95
        Level of the band around the least-squares line: a percentile
        bootstrap over rows. Pairs that share a model are not independent, so
        read the band as descriptive; test with a Mantel test instead.
    n_resamples : int, default=2000
        Bootstrap resamples (each draws as many rows as the table has, with
        replacement).
    seed : int, numpy.random.Generator or None, default=0
    xlabel, ylabel, title : str, optional
    ax : matplotlib.axes.Axes, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.
    n_boot, ci
        Deprecated names of ``n_resamples`` and ``confidence``; they will be
        removed in the next release.

    Returns
    -------
    matplotlib.figure.Figure
        The legend gives Spearman's ρ and the number of pairs.

    Raises
    ------
    ValueError
        If a column is missing (with a did-you-mean) or there are fewer than
        3 rows with both values.
    TypeError
        If both a parameter and its deprecated name are given.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"performance_similarity": [.1, .2, .3, .4, .5],
    ...                   "representational_similarity": [.2, .25, .5, .55, .7]})
    >>> fig = plot_similarity_vs_performance(t, n_resamples=200)
    >>> fig.axes[0].get_legend().get_texts()[0].get_text()
    'least squares, Spearman ρ = 1.00 (n = 5)'
    """
    from scipy.stats import spearmanr

    columns = sorted(map(str, table.columns))
    for name, col in (("x", x), ("y", y), ("hue", hue)):
        if col is not None and col not in table.columns:
            raise ValueError(f"table has no column {col!r} for {name}.{suggest(col, columns)} "
                             f"Columns: {columns}.")
    data = table.dropna(subset=[x, y])
    if len(data) < 3:
        raise ValueError(f"Need at least 3 pairs with both {x!r} and {y!r}; got {len(data)}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
    xs = data[x].to_numpy(dtype=float)
    ys = data[y].to_numpy(dtype=float)
    fig = ax.figure if ax is not None else _new_figure(3.8, 3.2)
    ax = ax if ax is not None else fig.add_subplot()
    if hue is not None:
        colours = _group_colours([str(h) for h in data[hue]])
        for value, colour in colours.items():
            mask = (data[hue].astype(str) == value).to_numpy()
            ax.scatter(xs[mask], ys[mask], s=14, color=colour, label=value, alpha=0.85,
                       edgecolors="white", linewidths=0.3, zorder=3)
    else:
        ax.scatter(xs, ys, s=14, color="0.25", alpha=0.85, edgecolors="white",
                   linewidths=0.3, zorder=3)
    grid = np.linspace(xs.min(), xs.max(), 100)
    slope, intercept = np.polyfit(xs, ys, 1)
    rng = check_random_state(seed)
    boot = np.empty((n_resamples, len(grid)))
    for b in range(n_resamples):
        idx = rng.integers(0, len(xs), len(xs))
        if np.ptp(xs[idx]) == 0:
            boot[b] = np.mean(ys[idx])
            continue
        s, i = np.polyfit(xs[idx], ys[idx], 1)
        boot[b] = s * grid + i
    lo, hi = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    rho = spearmanr(xs, ys).statistic
    ax.fill_between(grid, lo, hi, color="tab:blue", alpha=0.18, linewidth=0,
                    label=f"{confidence:.0%} bootstrap CI".replace("%", " %"))
    ax.plot(grid, slope * grid + intercept, color="tab:blue", linewidth=1.2,
            label=f"least squares, Spearman ρ = {rho:.2f} (n = {len(xs)})")
    handles, texts = ax.get_legend_handles_labels()
    first = [t.startswith("least squares") for t in texts].index(True)
    order = [first] + [k for k in range(len(texts)) if k != first]
    ax.legend([handles[k] for k in order], [texts[k] for k in order], frameon=False,
              loc="best")
    ax.set_xlabel(xlabel or x.replace("_", " "))
    ax.set_ylabel(ylabel or y.replace("_", " "))
    ax.set_title(title if title is not None else "representational vs performance similarity")
    return _finish(fig, path)
