"""Activity trajectories of several networks before and after SRM alignment.

:func:`plot_srm_trajectories` shows each network in its own principal
components and then in the shared space of a Shared Response Model, the
figure of Lu et al. (2018), Shared Representational Geometry Across Neural
Networks; with several sets of networks (the trained networks and their
random-weight twins), one row per set, so the twins are a baseline beside
them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._base import (
    GID_TRAJECTORY,
    _class_order,
    _darker,
    _finish,
    _group_colours,
    _new_figure,
    _styled,
)
from ._placement import place_annotations


def _pca_2d(X, n_components):
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float64)
    k = min(n_components, *X.shape)
    Y = PCA(n_components=k, svd_solver="full").fit_transform(X)
    if k < n_components:
        Y = np.hstack([Y, np.zeros((len(Y), n_components - k))])
    return Y


def _rows(before, after, names):
    """(title or None, before, after, names) per row: one row, or one per key of a mapping."""
    if isinstance(before, Mapping) != isinstance(after, Mapping):
        raise ValueError("before and after must both be sequences of networks, or both "
                         "mappings of a row title to such sequences.")
    if not isinstance(before, Mapping):
        return [(None, before, after, names)]
    if list(before) != list(after):
        raise ValueError(f"before and after must have the same rows; got {list(before)} and "
                         f"{list(after)}.")
    if names is not None and (not isinstance(names, Mapping) or list(names) != list(before)):
        raise ValueError("With rows (mappings), names must be a mapping with the same keys.")
    return [(str(key), before[key], after[key], None if names is None else names[key])
            for key in before]


def _check_row(before, after, names):
    before = [np.asarray(x, dtype=np.float64) for x in before]
    after = [np.asarray(x, dtype=np.float64) for x in after]
    if len(before) != len(after) or len(before) < 2:
        raise ValueError(f"before and after must hold the same networks (at least 2); got "
                         f"{len(before)} and {len(after)}.")
    n = before[0].shape[0]
    for i, x in enumerate(before + after):
        if x.ndim != 2 or x.shape[0] != n:
            raise ValueError(f"Every response must be (n_stimuli, n_units) with {n} stimuli; "
                             f"input {i} has shape {x.shape}.")
    names = [f"network {i}" for i in range(len(before))] if names is None else list(names)
    if len(names) != len(before):
        raise ValueError(f"names has {len(names)} entries for {len(before)} networks.")
    return before, after, names


@_styled
def plot_srm_trajectories(before, after, *, labels=None, names=None, n_components=2,
                          title=None, path=None):
    """Activity trajectories of several networks before and after SRM alignment (Lu et al., 2018).

    Every network sees the same sequence of stimuli. Left: each network's
    responses projected on its own first principal components (native spaces:
    the paths look unrelated). Right: the aligned responses in the shared
    space, all projected on the same principal components of the mean shared
    response (the paths overlap when the networks share a geometry). Each
    network's projection is scaled to unit root-mean-square, so networks of
    different sizes are drawn at one scale.

    Parameters
    ----------
    before : sequence of array-like of shape (n_stimuli, n_units_i), or mapping
        Each network's responses (units may differ between networks). A
        mapping of row titles to such sequences draws one row per set of
        networks, e.g. ``{"trained": [...], "random weights": [...]}``: the
        random-weight twins as a baseline beside the trained networks.
    after : sequence of array-like of shape (n_stimuli, n_components_srm), or mapping
        The same networks in the shared space (``SRM(...).transform``), with
        the same rows as ``before``.
    labels : sequence, optional
        Class of each stimulus. With labels, each trajectory runs through the
        class means, in sorted class order, over a faint cloud of the single
        stimuli, and the classes are named: at each network's own class means
        before alignment, at their mean position in the shared space after.
        Without, it runs through the stimuli in their order. A square marks
        where each trajectory starts.
    names : sequence of str, or mapping, optional
        Name of each network (legend). Default "network 0", ...
    n_components : {2, 3}, default=2
    title : str, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes titled "before alignment ..." and "after alignment ...", one
        trajectory per network in each; with rows, one subfigure per row
        (``fig.subfigs``), titled by the row.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> S = rng.normal(size=(30, 3))
    >>> before = [S @ rng.normal(size=(3, 12)) for _ in range(3)]
    >>> fig = plot_srm_trajectories(before, [S, S, S], labels=np.arange(30) % 3)
    >>> [ax.get_title() for ax in fig.axes]
    ['before alignment (native spaces)', 'after alignment (shared space)']
    >>> sum(line.get_gid() == "trajectory" for line in fig.axes[1].lines)
    3
    """
    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3, got {n_components!r}.")
    rows = [(row, *_check_row(b, a, nm)) for row, b, a, nm in _rows(before, after, names)]
    n = rows[0][1][0].shape[0]
    for row, b, _, _ in rows:
        if b[0].shape[0] != n:
            raise ValueError(f"Every row must have the same {n} stimuli; row {row!r} has "
                             f"{b[0].shape[0]}.")
    classes = None
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries for {n} stimuli.")
        order, codes, class_names = _class_order(np.asarray(labels, dtype=object))
        classes = (np.empty_like(codes), class_names)
        classes[0][order] = codes
    three_d = n_components == 3
    fig = _new_figure(7.0, 3.3 * len(rows) + (0.2 if title else 0.0))
    kw = {"projection": "3d"} if three_d else {}
    # one row: the figure itself; several: a subfigure per row, titled by the row
    panels = [fig] if len(rows) == 1 else list(fig.subfigures(len(rows), 1))
    native_labels = []  # (axes, points, names, colours) labelled once the layout is done
    for panel_fig, (row, row_before, row_after, row_names) in zip(panels, rows, strict=True):
        native, shared = _projections(row_before, row_after, n_components)
        axes = [panel_fig.add_subplot(1, 2, 1, **kw), panel_fig.add_subplot(1, 2, 2, **kw)]
        if row is not None:
            panel_fig.suptitle(row, fontweight="bold", x=0.02, ha="left")
        colours = _group_colours(row_names)
        for ax, paths, panel in ((axes[0], native, "before alignment (native spaces)"),
                                 (axes[1], shared, "after alignment (shared space)")):
            means = _draw_paths(ax, paths, row_names, colours, classes, n_components)
            if classes is not None and paths is shared and three_d:
                _class_centres(ax, paths, classes)
            elif classes is not None and paths is shared:  # one position per class
                native_labels.append((ax, [np.mean(means, axis=0)], None, None))
            elif classes is not None and not three_d:  # each network its own positions
                native_labels.append((ax, means, row_names, colours))
            ax.set_title(panel)
            if not three_d:
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_xlabel("PC 1")
                ax.set_ylabel("PC 2")
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        fig.suptitle(title)
    if native_labels:
        _label_native_classes(fig, native_labels, classes[1])
    return _finish(fig, path)


def _projections(before, after, n_components):
    """Each network on its own PCs; all networks on the PCs of the mean shared response."""
    from sklearn.decomposition import PCA

    n = before[0].shape[0]
    native = [_unit_rms(_pca_2d(x, n_components)) for x in before]
    mean_shared = np.mean(after, axis=0)
    k = min(n_components, *mean_shared.shape)
    pca = PCA(n_components=k, svd_solver="full").fit(mean_shared)
    shared = [np.hstack([pca.transform(x), np.zeros((n, n_components - k))]) for x in after]
    return native, [_unit_rms(y) for y in shared]


def _draw_paths(ax, paths, names, colours, classes, n_components):
    """One trajectory per network; returns the points each runs through."""
    through = []
    for name, Y in zip(names, paths, strict=True):
        path_points = Y
        if classes is not None:
            ax.scatter(*Y.T[:n_components], color=colours[name], s=3, alpha=0.18,
                       linewidths=0)
            path_points = np.array([Y[classes[0] == c].mean(axis=0)
                                    for c in range(len(classes[1]))])
        (line,) = ax.plot(*path_points.T[:n_components], color=colours[name],
                          linewidth=1.1, alpha=0.9, label=name, marker="o",
                          markersize=2.5 if classes is not None else 1.5)
        line.set_gid(GID_TRAJECTORY)
        ax.scatter(*path_points[:1].T[:n_components], color=colours[name], marker="s",
                   s=16, edgecolors="black", linewidths=0.5, zorder=4)
        through.append(path_points)
    return through


def _label_native_classes(fig, panels, class_names):
    """Name the classes without overlaps: at every network's class means in its native
    space, once at the mean position in the shared space."""
    fig.draw_without_rendering()
    for ax, means, names, colours in panels:
        limits = ax.get_xlim(), ax.get_ylim()
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
        ax.set_autoscale_on(False)
        xy = np.vstack([m[:, :2] for m in means])
        texts = [str(c) for _ in means for c in class_names]
        if names is None:  # the shared space: one bold name at each class's mean position
            place_annotations(ax, xy, texts, fontsize=7.5, fontweight="bold",
                              colours=["0.1"] * len(texts), point_radius=2.0)
            continue
        text_colours = [_darker(colours[name]) for name in names for _ in class_names]
        place_annotations(ax, xy, texts, fontsize=6.5, colours=text_colours, point_radius=2.0)


def _unit_rms(Y):
    Y = Y - Y.mean(axis=0)
    rms = np.sqrt(np.mean(np.sum(Y**2, axis=1)))
    return Y / rms if rms > 0 else Y


def _class_centres(ax, paths, classes):
    """Name each class at its mean position in a 3-D shared space."""
    codes, names = classes
    stacked = np.mean(paths, axis=0)
    for c, name in enumerate(names):
        centre = stacked[codes == c].mean(axis=0)
        ax.text(*centre[:3], name, fontsize=7.5, fontweight="bold", ha="center",
                va="center", color="0.1")
