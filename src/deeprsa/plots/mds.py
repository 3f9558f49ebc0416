"""MDS maps of layers or stimuli: labels, trajectories through depth, edges, thumbnails.

:func:`plot_mds` embeds the dissimilarities with
:func:`deeprsa.analyses.compute_mds` and draws the map: points coloured by
group, trajectories through the layers of each model and pictures at the
points (as in pytorch_feature_analysis), lines coloured by dissimilarity (as
in the RSA tutorial notebook), and Kruskal's stress-1 in a corner.
"""

from __future__ import annotations

import numpy as np

from .._validation import suggest
from ..analyses.mds import _check_square_dissimilarity, _is_comparison, _is_rdm, compute_mds
from ._base import (
    GID_EDGE,
    GID_STRESS,
    GID_THUMBNAIL,
    GID_TRAJECTORY,
    _finish,
    _group_colours,
    _measure_label,
    _new_figure,
    _rdm_parts,
    _styled,
)
from .images import _as_image
from .second_order import _second_order_parts

_MAX_EDGES_POINTS = 60


def _mds_input(dissimilarity):
    """Square dissimilarities from an array, RDM or ComparisonResult.

    Returns the matrix, default labels and groups, the name of the
    dissimilarity and what the points are ("layers", "stimuli" or None).
    """
    if _is_comparison(dissimilarity):
        D, labels, groups, what = _second_order_parts(dissimilarity, None, None)
        return D, labels, groups, f"{what} between RDMs", "layers"
    if not _is_rdm(dissimilarity):
        _check_square_dissimilarity(np.asarray(dissimilarity, dtype=np.float64))
    M, ids, prov = _rdm_parts(dissimilarity)
    if prov.get("order") == 2:
        split = [s.rsplit("|", 1) if "|" in s else (None, s) for s in ids]
        groups = [a for a, _ in split] if all(a is not None for a, _ in split) else None
        return M, [b for _, b in split], groups, _measure_label(prov) + " between RDMs", "layers"
    if prov:
        return M, None, None, _measure_label(prov), "stimuli"
    return M, None, None, "dissimilarity", None


def _trajectory_ids(trajectories, groups, n):
    if trajectories is None or trajectories is False:
        return None
    if trajectories is True:
        if groups is None:
            return ["all"] * n
        return list(groups)
    ids = list(trajectories)
    if len(ids) != n:
        raise ValueError(f"trajectories has {len(ids)} entries for {n} points; give the "
                         "trajectory (e.g. the model) of each point, in depth order.")
    return ids


@_styled
def plot_mds(dissimilarity, *, labels=None, groups=None, trajectories=None, images=None,
             edges=False, metric=True, n_components=2, annotate=None, seed=0,
             palette=None, image_zoom=None, legend_title=None, title=None, ax=None,
             path=None):
    """MDS map of layers or stimuli: labels, trajectories through depth, thumbnails, stress.

    Parameters
    ----------
    dissimilarity : array-like of shape (n_points, n_points), RDM or ComparisonResult
        Between layers (a model or multi-model RDM: labels default to the
        layers, groups to the models) or between stimuli (an RDM).
    labels : sequence of str, optional
        Text beside each point.
    groups : sequence, optional
        Colour of each point, with a legend (e.g. the model, or the class).
    trajectories : bool or sequence, optional
        Join points in their order: True joins the points of each group (the
        layers of each model in depth order); a sequence gives each point's
        trajectory id. An arrow marks the last step of each trajectory.
    images : sequence of image or None, optional
        A thumbnail at each point, as pytorch_feature_analysis draws them;
        None entries get a marker only.
        Images are (H, W), (C, H, W) or (H, W, C) arrays or tensors in [0, 1].
    edges : bool, default=False
        Draw a line between every pair of points coloured by their
        dissimilarity, with a colourbar, as in the RSA tutorial notebook. At
        most 60 points.
    metric : bool, default=True
        Metric or non-metric MDS; see :func:`compute_mds`.
    n_components : {2, 3}, default=2
        A 3-D map has no thumbnails.
    annotate : {"all", "ends", "none"}, optional
        Which points get their label: all, the first and last of each
        trajectory, or none. Default "all" up to 25 points, else "ends" with
        trajectories and "none" without.
    seed : int, numpy.random.Generator or None, default=0
    palette : mapping of group -> colour, optional
        Colours of the groups (any matplotlib colour); default tab10/tab20
        in order of appearance.
    image_zoom : float, optional
        Thumbnail height in points / image height; default about 18 pt.
    legend_title : str, optional
    title : str, optional
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (a 3-D axes for ``n_components=3``).
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        The stress (Kruskal's stress-1) is written in the lower right corner.

    Raises
    ------
    ValueError
        If labels, groups, trajectories or images do not give one entry per
        point, ``edges`` is asked for more than 60 points, or thumbnails for
        a 3-D map.

    See Also
    --------
    compute_mds : The embedding and its stress, without a figure.

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0.]])
    >>> fig = plot_mds(D, labels=["conv1", "conv2", "fc1", "fc2"], trajectories=True)
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "mds-stress"]
    ['metric MDS, stress-1 = 0.000']
    """
    allowed_annotate = ("all", "ends", "none")
    if annotate is not None and annotate not in allowed_annotate:
        raise ValueError(f"Unknown annotate {annotate!r}.{suggest(annotate, allowed_annotate)} "
                         f"Available: {', '.join(map(repr, allowed_annotate))}.")
    D, default_labels, default_groups, what, points = _mds_input(dissimilarity)
    D = _check_square_dissimilarity(np.array(D, dtype=np.float64))
    n = len(D)
    labels = default_labels if labels is None else labels
    groups = default_groups if groups is None else groups
    labels = None if labels is None else [str(s) for s in labels]
    groups = None if groups is None else [str(g) for g in groups]
    for name, values in (("labels", labels), ("groups", groups), ("images", images)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} points.")
    if edges and n > _MAX_EDGES_POINTS:
        raise ValueError(f"edges=True draws a line for each of the {n * (n - 1) // 2} pairs of "
                         f"{n} points; use it for at most {_MAX_EDGES_POINTS} points, e.g. the "
                         "layers of one model.")
    if images is not None and n_components == 3:
        raise ValueError("Thumbnails (images=) need a 2-D map; use n_components=2.")
    traj = _trajectory_ids(trajectories, groups, n)
    if annotate is None:
        annotate = "all" if n <= 25 else "ends" if traj is not None else "none"
    result = compute_mds(D, n_components=n_components, metric=metric, seed=seed)
    X = result.coordinates

    three_d = n_components == 3
    if ax is None:
        fig = _new_figure(4.6, 3.8)
        ax = fig.add_subplot(projection="3d" if three_d else None)
    else:
        fig = ax.figure
    colours = _group_colours(groups) if groups is not None else None
    if colours is not None and palette is not None:
        missing = [g for g in colours if g not in palette]
        if missing:
            raise ValueError(f"palette has no colour for group {missing[0]!r}.")
        colours = {g: palette[g] for g in colours}
    point_colours = [colours[g] for g in groups] if colours else ["0.2"] * n

    if edges:
        _draw_edges(fig, ax, X, D, what, three_d)
    starts = []
    if traj is not None:
        starts = _draw_trajectories(ax, X, traj, groups, colours, three_d)
    coords = X.T if three_d else (X[:, 0], X[:, 1])
    size = 14 if n > 40 else 22
    ax.scatter(*coords, c=point_colours, s=size, zorder=3, edgecolors="white",
               linewidths=0.4)
    if starts:  # the first layer of each trajectory: a square
        ax.scatter(*(X[starts].T if three_d else (X[starts, 0], X[starts, 1])),
                   c=[point_colours[i] for i in starts], marker="s", s=size * 1.6, zorder=3,
                   edgecolors="black", linewidths=0.5)
    _mds_legend(ax, colours, traj, legend_title, "layer" if points == "layers" else "point")
    if images is not None:
        _draw_thumbnails(ax, X, images, image_zoom, point_colours if colours else None)
    if labels is not None and annotate != "none":
        shown = list(range(n))
        if annotate == "ends" and traj is not None:
            shown = sorted({idx for t in dict.fromkeys(traj)
                            for idx in _ends([i for i in range(n) if traj[i] == t])})
        _annotate_points(ax, X, labels, shown, three_d)
    kind = "metric" if metric else "non-metric"
    stress_text = f"{kind} MDS, stress-1 = {result.stress:.3f}"
    if three_d:
        ax.text2D(0.99, 0.01, stress_text, transform=ax.transAxes, ha="right", va="bottom",
                  fontsize=7, color="0.3", gid=GID_STRESS)
        for setter in (ax.set_xticklabels, ax.set_yticklabels, ax.set_zticklabels):
            setter([])
        ax.set_xlabel("MDS 1")
        ax.set_ylabel("MDS 2")
        ax.set_zlabel("MDS 3")
    else:
        ax.text(0.99, 0.01, stress_text, transform=ax.transAxes, ha="right", va="bottom",
                fontsize=7, color="0.3", gid=GID_STRESS)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("MDS dimension 1")
        ax.set_ylabel("MDS dimension 2")
        ax.margins(0.06)
    if title is None:
        title = f"MDS of {points} ({what})" if points else f"MDS ({what})"
    ax.set_title(title)
    return _finish(fig, path)


def _ends(indices):
    return [indices[0], indices[-1]] if indices else []


def _mds_legend(ax, colours, traj, legend_title, noun):
    from matplotlib.lines import Line2D

    handles = []
    if colours is not None and len(colours) > 1:
        handles = [Line2D([], [], marker="o", linestyle="-" if traj else "", color=c,
                          label=g, markersize=4) for g, c in colours.items()]
    if traj is not None:
        handles += [Line2D([], [], marker="s", linestyle="", color="0.6", markersize=4.5,
                           markeredgecolor="black", markeredgewidth=0.5, label=f"first {noun}"),
                    Line2D([], [], marker=">", linestyle="", color="0.4", markersize=4.5,
                           label=f"last {noun} (arrow)")]
    if handles:
        ax.legend(handles=handles, title=legend_title, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), frameon=False)


def _annotate_points(ax, X, labels, shown, three_d):
    """Label points, nudging a label up when it would sit on one already placed."""
    span = np.ptp(X[:, :2], axis=0)
    span[span == 0] = 1.0
    placed = []  # (normalised position, text) of placed labels
    for i in shown:
        if three_d:
            ax.text(*X[i], f" {labels[i]}", fontsize=6.5)
            continue
        position = X[i, :2] / span
        if any(text == labels[i] and np.hypot(*(position - p)) < 0.02 for p, text in placed):
            continue  # the same name at the same place (the same layer of twin models)
        lift = sum(np.hypot(*(position - p)) < 0.04 for p, _ in placed)
        ax.annotate(labels[i], X[i, :2], xytext=(3, 3 + 7 * lift), textcoords="offset points",
                    fontsize=6.5, color="0.15")
        placed.append((position, labels[i]))


def _draw_trajectories(ax, X, traj, groups, colours, three_d):
    """Join the points of each trajectory in order; return the index of each first point."""
    starts = []
    for t in dict.fromkeys(traj):
        idx = [i for i in range(len(X)) if traj[i] == t]
        starts.append(idx[0])
        if len(idx) < 2:
            continue
        colour = colours[groups[idx[0]]] if colours else "0.35"
        pts = X[idx]
        (line,) = ax.plot(*pts.T, color=colour, linewidth=1.0, alpha=0.8, zorder=2)
        line.set_gid(GID_TRAJECTORY)
        line.set_label(str(t))
        if not three_d:
            ax.annotate("", xy=pts[-1], xytext=pts[-2],
                        arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.0,
                                    "shrinkA": 0, "shrinkB": 3, "mutation_scale": 8})
    return starts


def _draw_edges(fig, ax, X, D, what, three_d):
    import matplotlib as mpl
    from matplotlib.collections import LineCollection

    i, j = np.triu_indices(len(X), k=1)
    values = D[i, j]
    norm = mpl.colors.Normalize(vmin=0.0, vmax=float(values.max()) or 1.0)
    cmap = mpl.colormaps["viridis"]
    order = np.argsort(-values)  # similar (short) pairs drawn last, on top
    if three_d:
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        segments = np.stack([X[i], X[j]], axis=1)[order]
        collection = Line3DCollection(segments, colors=cmap(norm(values[order])),
                                      linewidths=0.8, gid=GID_EDGE)
        ax.add_collection3d(collection)
    else:
        segments = np.stack([X[i], X[j]], axis=1)[order]
        collection = LineCollection(segments, colors=cmap(norm(values[order])),
                                    linewidths=0.8, zorder=1, gid=GID_EDGE)
        ax.add_collection(collection)
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    colorbar = fig.colorbar(mappable, ax=ax, shrink=0.7, aspect=25, location="bottom")
    colorbar.set_label(f"line colour: {what}")
    colorbar.outline.set_visible(False)


def _draw_thumbnails(ax, X, images, zoom, frame_colours):
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    for k, image in enumerate(images):
        if image is None:
            continue
        arr = _as_image(image)
        z = zoom if zoom is not None else 18.0 / arr.shape[0]
        box = OffsetImage(arr, zoom=z, cmap="gray_r" if arr.ndim == 2 else None,
                          interpolation="nearest" if arr.shape[0] <= 32 else "antialiased")
        edge = frame_colours[k] if frame_colours is not None else "0.5"
        bbox = AnnotationBbox(box, X[k], frameon=True, pad=0.08,
                              bboxprops={"edgecolor": edge, "linewidth": 0.8})
        bbox.set_gid(GID_THUMBNAIL)
        bbox.set_zorder(4)
        ax.add_artist(bbox)
