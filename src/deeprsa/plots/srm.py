"""Activity trajectories of several networks before and after SRM alignment.

:func:`plot_srm_trajectories` shows each network in its own principal
components and then in the shared space of a Shared Response Model, the
figure of Lu et al. (2018), Shared Representational Geometry Across Neural
Networks.
"""

from __future__ import annotations

import numpy as np

from ._base import GID_TRAJECTORY, _class_order, _finish, _group_colours, _new_figure, _styled


def _pca_2d(X, n_components):
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float64)
    k = min(n_components, *X.shape)
    Y = PCA(n_components=k, svd_solver="full").fit_transform(X)
    if k < n_components:
        Y = np.hstack([Y, np.zeros((len(Y), n_components - k))])
    return Y


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
    before : sequence of array-like of shape (n_stimuli, n_units_i)
        Each network's responses (units may differ between networks).
    after : sequence of array-like of shape (n_stimuli, n_components_srm)
        The same networks in the shared space (``SRM(...).transform``).
    labels : sequence, optional
        Class of each stimulus. With labels, each trajectory runs through the
        class means, in sorted class order, over a faint cloud of the single
        stimuli, and the classes are named at their mean position in the
        shared space. Without, it runs through the stimuli in their order.
        A square marks where each trajectory starts.
    names : sequence of str, optional
        Name of each network (legend). Default "network 0", ...
    n_components : {2, 3}, default=2
    title : str, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes titled "before alignment ..." and "after alignment ...", one
        trajectory per network in each.

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
    from sklearn.decomposition import PCA

    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3, got {n_components!r}.")
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
    classes = None
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries for {n} stimuli.")
        order, codes, class_names = _class_order(np.asarray(labels, dtype=object))
        classes = (np.empty_like(codes), class_names)
        classes[0][order] = codes
    native = [_unit_rms(_pca_2d(x, n_components)) for x in before]
    mean_shared = np.mean(after, axis=0)
    k = min(n_components, *mean_shared.shape)
    pca = PCA(n_components=k, svd_solver="full").fit(mean_shared)
    shared = [np.hstack([pca.transform(x), np.zeros((n, n_components - k))]) for x in after]
    shared = [_unit_rms(y) for y in shared]
    three_d = n_components == 3
    fig = _new_figure(7.0, 3.3)
    kw = {"projection": "3d"} if three_d else {}
    axes = [fig.add_subplot(1, 2, 1, **kw), fig.add_subplot(1, 2, 2, **kw)]
    colours = _group_colours(names)
    for ax, paths, panel in ((axes[0], native, "before alignment (native spaces)"),
                             (axes[1], shared, "after alignment (shared space)")):
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
        if classes is not None and paths is shared:  # native spaces share no positions
            _class_centres(ax, paths, classes, three_d)
        ax.set_title(panel)
        if not three_d:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("PC 1")
            ax.set_ylabel("PC 2")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def _unit_rms(Y):
    Y = Y - Y.mean(axis=0)
    rms = np.sqrt(np.mean(np.sum(Y**2, axis=1)))
    return Y / rms if rms > 0 else Y


def _class_centres(ax, paths, classes, three_d):
    codes, names = classes
    stacked = np.mean(paths, axis=0)
    for c, name in enumerate(names):
        centre = stacked[codes == c].mean(axis=0)
        kw = {"fontsize": 7.5, "fontweight": "bold", "ha": "center", "va": "center",
              "color": "0.1"}
        if three_d:
            ax.text(*centre[:3], name, **kw)
        else:
            ax.text(*centre[:2], name, bbox={"boxstyle": "round,pad=0.15", "fc": "white",
                                             "ec": "none", "alpha": 0.75}, zorder=5, **kw)
