"""MDS maps of layers or stimuli: labels, trajectories through depth, edges, thumbnails.

:func:`plot_mds` embeds the dissimilarities with
:func:`deeprsa.analyses.compute_mds` and draws the map: points coloured by
group (one colour family per architecture, a shade per seed), trajectories
through the layers of each model and pictures near the points (as in
pytorch_feature_analysis), lines between every pair coloured by
dissimilarity on request (as in the RSA tutorial notebook), and Kruskal's
stress-1 in a corner. Labels and thumbnails are placed so that they overlap
neither each other nor the points (:mod:`._placement`), and long layer names
are shortened the same way everywhere, with a key.
"""

from __future__ import annotations

import numpy as np

from .._validation import suggest
from ..analyses.mds import _check_square_dissimilarity, _is_comparison, _is_rdm, compute_mds
from ._base import (
    GID_EDGE,
    GID_LABEL,
    GID_START,
    GID_STRESS,
    GID_THUMBNAIL,
    GID_TRAJECTORY,
    _abbreviate,
    _darker,
    _draw_name_key,
    _family_palette,
    _finish,
    _group_colours,
    _measure_label,
    _new_figure,
    _rdm_parts,
    _short_names,
    _styled,
)
from ._placement import (
    axes_box,
    boxes_of,
    display_points,
    place_annotations,
    place_boxes,
    spread_markers,
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
def plot_mds(dissimilarity, *, labels=None, groups=None, families=None, trajectories=None,
             images=None, edges=False, metric=True, n_components=2, annotate=None, seed=0,
             palette=None, linestyles=None, image_zoom=None, legend_title=None, title=None,
             ax=None, path=None):
    """MDS map of layers or stimuli: labels, trajectories through depth, thumbnails, stress.

    Parameters
    ----------
    dissimilarity : array-like of shape (n_points, n_points), RDM or ComparisonResult
        Between layers (a model or multi-model RDM: labels default to the
        layers, groups to the models) or between stimuli (an RDM).
    labels : sequence of str, optional
        Text beside each point. Labels never overlap each other or a point;
        one that had to move away from its point is joined to it by a thin
        line, and one that finds no free place near its point is left out
        (the first and last layers of each trajectory are placed first).
        Layer names are shortened to what tells them apart within their
        group (``encoder.layers.encoder_layer_1`` -> ``encoder_layer_1``),
        names still longer than 22 characters to ``…tail``; a key under the
        map gives the full names.
    groups : sequence, optional
        Colour of each point, with a legend (e.g. the model, or the class).
    families : sequence, optional
        The colour family of each point (e.g. the architecture): the groups
        of one family get shades of one hue, one per group in order of
        appearance (e.g. one per seed). Default: a distinct colour per group.
    trajectories : bool or sequence, optional
        Join points in their order: True joins the points of each group (the
        layers of each model in depth order); a sequence gives each point's
        trajectory id. A square marks the first point (squares that would sit
        on each other are spread on a small circle around their position) and
        an arrowhead the last step of each trajectory.
    images : sequence of image or None, optional
        A thumbnail near each point, as pytorch_feature_analysis draws them,
        in the same grey scale as :func:`plot_images` (white ink on black);
        thumbnails do not overlap each other and sit beside their point,
        joined to it by a thin line. None entries get a marker only.
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
        Colours of the groups (any matplotlib colour); default from
        ``families``, else tab10/tab20 in order of appearance.
    linestyles : mapping of group -> linestyle, optional
        Line style of each group's trajectory (e.g. dashed for random
        weights); default solid.
    image_zoom : float, optional
        Thumbnail height in points / image height; default about 18 pt.
    legend_title : str, optional
    title : str, optional
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (a 3-D axes for ``n_components=3``). Labels and
        thumbnails are placed for the figure's layout at the time of the
        call.
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        The stress (Kruskal's stress-1) is written in the lower right corner.

    Raises
    ------
    ValueError
        If labels, groups, families, trajectories or images do not give one
        entry per point, ``edges`` is asked for more than 60 points, or
        thumbnails for a 3-D map.

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
    from_layers = labels is None and default_labels is not None
    labels = default_labels if labels is None else labels
    groups = default_groups if groups is None else groups
    labels = None if labels is None else [str(s) for s in labels]
    groups = None if groups is None else [str(g) for g in groups]
    families = None if families is None else [str(f) for f in families]
    for name, values in (("labels", labels), ("groups", groups), ("families", families),
                         ("images", images)):
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
        many = n > 40 or (groups is not None and len(set(groups)) > 8)
        fig = _new_figure(*((6.4, 4.8) if many else (4.8, 3.8)))
        ax = fig.add_subplot(projection="3d" if three_d else None)
        own_figure = True
    else:
        fig, own_figure = ax.figure, False
    colours = _colours(groups, families, palette)
    point_colours = [colours[g] for g in groups] if colours else ["0.2"] * n
    styles = {} if linestyles is None else dict(linestyles)

    if edges:
        _draw_edges(fig, ax, X, D, what, three_d)
    starts, arrows = [], []
    if traj is not None:
        starts, arrows = _draw_trajectories(ax, X, traj, groups, colours, styles, three_d)
    coords = X.T if three_d else (X[:, 0], X[:, 1])
    size = 12 if n > 40 else 22
    ax.scatter(*coords, c=point_colours, s=size, zorder=3, edgecolors="white",
               linewidths=0.4)
    _mds_legend(ax, colours, styles, traj, legend_title,
                "layer" if points == "layers" else "point")
    shown = []
    if labels is not None and annotate != "none":
        shown = list(range(n))
        if annotate == "ends" and traj is not None:
            shown = sorted({idx for t in dict.fromkeys(traj)
                            for idx in _ends([i for i in range(n) if traj[i] == t])})
    texts = _label_texts(labels, groups, from_layers) if labels is not None else None
    if shown and not three_d:
        _draw_name_key(fig, ax, [labels[i] for i in shown], [texts[i] for i in shown],
                       own_figure=own_figure)
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
        stress = ax.text(0.99, 0.01, stress_text, transform=ax.transAxes, ha="right",
                         va="bottom", fontsize=7, color="0.3", gid=GID_STRESS)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("MDS dimension 1")
        ax.set_ylabel("MDS dimension 2")
        ax.margins(0.08 if images is None else 0.14)
    if title is None:
        title = f"MDS of {points} ({what})" if points else f"MDS ({what})"
    ax.set_title(title)

    if three_d:
        if starts:
            ax.scatter(*X[starts].T, c=[point_colours[i] for i in starts], marker="s",
                       s=size * 1.6, zorder=3, edgecolors="black", linewidths=0.5,
                       gid=GID_START)
        for i in shown:
            ax.text(*X[i], f" {texts[i]}", fontsize=6.5)
        return _finish(fig, path)
    # Everything that takes space is drawn: lay the figure out once and keep its limits,
    # then place the markers, thumbnails and labels that must not overlap.
    fig.figure.draw_without_rendering()  # the root figure, also from a subfigure
    limits = ax.get_xlim(), ax.get_ylim()
    ax.set_aspect("auto")  # the limits found keep the equal aspect in this layout
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_autoscale_on(False)
    if starts:
        spread = spread_markers(ax, X[starts], radius=4.5, min_distance=5.0)
        for i, (x, y) in zip(starts, spread, strict=True):
            if not np.allclose((x, y), X[i, :2]):
                ax.plot([X[i, 0], x], [X[i, 1], y], color="0.3", linewidth=0.4, zorder=3)
        ax.scatter(spread[:, 0], spread[:, 1], c=[point_colours[i] for i in starts],
                   marker="s", s=size * 1.5, zorder=4, edgecolors="black", linewidths=0.5,
                   gid=GID_START)
    occupied = boxes_of([stress])  # nothing goes on the stress either
    if images is not None:
        thumbnails = _draw_thumbnails(ax, X, images, image_zoom,
                                      point_colours if colours else None, size, occupied)
        occupied = np.vstack([occupied, boxes_of(thumbnails)])
    if shown:
        keep = _distinct_labels(ax, X, texts, _ends_first(shown, traj))
        obstacles = [X[:, :2], _arrowhead_points(ax, X, arrows)]
        if traj is not None and n <= _MAX_EDGES_POINTS:  # few lines: labels avoid them too
            obstacles.append(_line_points(ax, X, traj))
        obstacles = np.vstack(obstacles)
        place_annotations(ax, X[keep, :2], [texts[i] for i in keep], fontsize=6.5,
                          colours=[_darker(point_colours[i]) if colours else "0.15"
                                   for i in keep],
                          points=obstacles, point_radius=np.sqrt(size) / 2 + 0.5,
                          occupied=occupied, gid=GID_LABEL)
    return _finish(fig, path)


def _colours(groups, families, palette):
    """group -> colour, from the palette, the families or tab10/tab20."""
    if groups is None:
        return None
    if palette is not None:
        missing = [g for g in dict.fromkeys(groups) if g not in palette]
        if missing:
            raise ValueError(f"palette has no colour for group {missing[0]!r}.")
        return {g: palette[g] for g in dict.fromkeys(groups)}
    if families is not None:
        return _family_palette(groups, families)
    return _group_colours(groups)


def _label_texts(labels, groups, from_layers):
    """What each label says: layer names shortened within their group, then abbreviated."""
    if from_layers:
        texts = list(labels)
        by_group: dict = {}
        for i, g in enumerate(groups if groups is not None else ["all"] * len(labels)):
            by_group.setdefault(g, []).append(i)
        for members in by_group.values():
            for i, short in zip(members, _short_names([labels[i] for i in members]),
                                strict=True):
                texts[i] = short
    else:
        texts = list(labels)
    return _abbreviate(texts)


def _ends_first(shown, traj):
    """The points to label, the first and last of each trajectory first (placed first)."""
    if traj is None:
        return list(shown)
    ends = {i for t in dict.fromkeys(traj) for i in _ends([k for k in range(len(traj))
                                                             if traj[k] == t])}
    return [i for i in shown if i in ends] + [i for i in shown if i not in ends]


def _distinct_labels(ax, X, texts, shown, *, distance=12.0):
    """The labelled points, less those whose label repeats one a few points away.

    The same layer of twin models (seeds) often lands at one place: one label says it.
    """
    pts = display_points(ax, X[:, :2])
    keep = []
    for i in shown:
        if any(texts[k] == texts[i] and np.hypot(*(pts[k] - pts[i])) < distance for k in keep):
            continue
        keep.append(i)
    return keep


def _ends(indices):
    return [indices[0], indices[-1]] if indices else []


def _mds_legend(ax, colours, styles, traj, legend_title, noun):
    from matplotlib.lines import Line2D

    handles = []
    if colours is not None and len(colours) > 1:
        handles = [Line2D([], [], marker="o", linestyle=styles.get(g, "-") if traj else "",
                          color=c, label=g, markersize=4, linewidth=1.2)
                   for g, c in colours.items()]
    if traj is not None:
        handles += [Line2D([], [], marker="s", linestyle="", color="0.6", markersize=4.5,
                           markeredgecolor="black", markeredgewidth=0.5, label=f"first {noun}"),
                    Line2D([], [], marker=">", linestyle="", color="0.35", markersize=6,
                           label=f"last {noun} (arrowhead)")]
    if handles:
        ax.legend(handles=handles, title=legend_title, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), frameon=False,
                  ncols=2 if len(handles) > 24 else 1)


def _line_points(ax, X, traj, *, spacing=4.0):
    """Points (data coordinates) every ``spacing`` points along each trajectory."""
    out = []
    for t in dict.fromkeys(traj):
        pts = display_points(ax, X[[i for i in range(len(X)) if traj[i] == t], :2])
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            k = int(np.hypot(*(b - a)) // spacing)
            out += [a + (b - a) * f for f in np.linspace(0, 1, k + 2)[1:-1]]
    if not out:
        return np.zeros((0, 2))
    scale = 72.0 / ax.figure.figure.dpi
    return ax.transData.inverted().transform(np.array(out) / scale)


def _arrowhead_points(ax, X, arrows, *, length=11.0):
    """Points (data coordinates) along each arrowhead, so that no label covers one."""
    out = []
    for last, previous in arrows:
        tip, back = display_points(ax, X[[last, previous], :2])
        direction = back - tip
        norm = np.hypot(*direction)
        if norm == 0:
            continue
        for d in np.linspace(2.5, 2.5 + length, 4):
            out.append(tip + direction / norm * min(d, norm))
    if not out:
        return np.zeros((0, 2))
    scale = 72.0 / ax.figure.figure.dpi
    return ax.transData.inverted().transform(np.array(out) / scale)


def _draw_trajectories(ax, X, traj, groups, colours, styles, three_d):
    """Join the points of each trajectory in order.

    Returns the index of each first point, and (last, previous) indices of each arrowhead.
    """
    starts, arrows = [], []
    for t in dict.fromkeys(traj):
        idx = [i for i in range(len(X)) if traj[i] == t]
        starts.append(idx[0])
        if len(idx) < 2:
            continue
        group = groups[idx[0]] if groups is not None else None
        colour = colours[group] if colours else "0.35"
        style = styles.get(group, "-")
        pts = X[idx]
        (line,) = ax.plot(*pts.T, color=colour, linewidth=1.1, alpha=0.85, zorder=2,
                          linestyle=style)
        line.set_gid(GID_TRAJECTORY)
        line.set_label(str(t))
        if not three_d:
            ax.annotate("", xy=pts[-1], xytext=pts[-2], zorder=5,
                        arrowprops={"arrowstyle": "-|>,head_length=0.5,head_width=0.28",
                                    "color": colour, "lw": 1.1, "shrinkA": 0, "shrinkB": 2.5,
                                    "mutation_scale": 14})
            arrows.append((idx[-1], idx[-2]))
    return starts, arrows


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


def _draw_thumbnails(ax, X, images, zoom, frame_colours, size, occupied):
    """Thumbnails beside their points: none on another, none on its own point."""
    from matplotlib.colors import Normalize
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    index = [k for k, image in enumerate(images) if image is not None]
    arrays = [_as_image(images[k]) for k in index]
    zooms = [zoom if zoom is not None else 18.0 / arr.shape[0] for arr in arrays]
    pad = 1.6  # points of frame around each picture
    sizes = np.array([(arr.shape[1] * z + 2 * pad, arr.shape[0] * z + 2 * pad)
                      for arr, z in zip(arrays, zooms, strict=True)]).reshape(-1, 2)
    anchors = display_points(ax, X[index, :2])
    centres, _ = place_boxes(anchors, sizes, points=display_points(ax, X[:, :2]),
                             point_radius=np.sqrt(size) / 2, bounds=axes_box(ax, pad=1.0),
                             occupied=occupied, gap=1.0, radii=(1, 4, 8, 13, 19, 26, 34), point_weight=0.02,
                             distance_weight=0.5)
    artists = []
    for k, arr, z, centre, anchor in zip(index, arrays, zooms, centres, anchors, strict=True):
        grey = arr.ndim == 2
        box = OffsetImage(arr, zoom=z, cmap="gray" if grey else None,
                          norm=Normalize(0.0, 1.0) if grey else None,  # as plot_images
                          interpolation="nearest" if arr.shape[0] <= 32 else "antialiased")
        edge = frame_colours[k] if frame_colours is not None else "0.5"
        bbox = AnnotationBbox(box, X[k, :2], xybox=tuple(centre - anchor),
                              boxcoords="offset points", frameon=True, pad=0.15,
                              bboxprops={"edgecolor": edge, "linewidth": 0.9},
                              arrowprops={"arrowstyle": "-", "color": edge, "lw": 0.5,
                                          "shrinkA": 0, "shrinkB": 0})
        bbox.set_gid(GID_THUMBNAIL)
        bbox.set_zorder(4)
        bbox.set_in_layout(False)
        ax.add_artist(bbox)
        artists.append(bbox)
    return artists
