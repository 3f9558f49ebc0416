"""Placing labels and thumbnails next to their points without overlaps.

:func:`place_boxes` does what adjustText does for matplotlib, deterministically:
each box (a label or a thumbnail) is tried at positions on rings of growing
radius around its point, 16 directions per ring, and goes to the first
position that overlaps no box placed before it, no point (its own included)
and stays inside the axes; when no position is free within the largest
ring, it goes where it overlaps least. Boxes far from their point get a thin
leader line. :func:`place_annotations` applies it to text labels of an axes
and :func:`spread_markers` moves coincident markers apart on a small circle
(the true position stays marked by the line that starts there).

Everything works in display units (points of 1/72 inch) of an axes that has
been laid out, so the result does not depend on the figure's dpi.
"""

from __future__ import annotations

import numpy as np

# Directions tried on each ring, in order of preference: upper right first (where a reader
# looks for a label), then the other diagonals and sides, then the directions in between.
_ANGLES = np.deg2rad([45, 0, 90, 135, 180, 315, 270, 225,
                      22.5, 67.5, 112.5, 157.5, 202.5, 247.5, 292.5, 337.5])


def _root(ax):
    """The figure an axes is drawn in, also when it sits in a subfigure."""
    return ax.figure.figure


def _layout(ax):
    """Run the figure's layout once, so that display positions are final."""
    _root(ax).draw_without_rendering()


def _renderer(fig):
    """The renderer the figure is laid out with (Agg when it has no canvas of its own)."""
    return fig._get_renderer()


def _points_per_pixel(fig):
    return 72.0 / fig.dpi


def display_points(ax, xy):
    """Data coordinates (n, 2) -> display positions in points (n, 2) of a laid-out axes."""
    scale = _points_per_pixel(_root(ax))
    return ax.transData.transform(np.asarray(xy, dtype=float)) * scale


def axes_box(ax, pad=2.0):
    """(x0, y0, x1, y1) of the axes in display points, shrunk by ``pad``."""
    scale = _points_per_pixel(_root(ax))
    box = ax.get_window_extent()
    return (box.x0 * scale + pad, box.y0 * scale + pad, box.x1 * scale - pad,
            box.y1 * scale - pad)


def _overlap(ax0, ay0, ax1, ay1, boxes):
    """Overlap areas of one box with each of ``boxes`` (m, 4)."""
    if len(boxes) == 0:
        return np.zeros(0)
    w = np.minimum(ax1, boxes[:, 2]) - np.maximum(ax0, boxes[:, 0])
    h = np.minimum(ay1, boxes[:, 3]) - np.maximum(ay0, boxes[:, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def place_boxes(anchors, sizes, *, points, point_radius, bounds, occupied=None, gap=2.0,
                radii=None, point_weight=1.0, distance_weight=0.0):
    """Centres for boxes near their anchors that overlap nothing placed so far.

    Parameters
    ----------
    anchors : array of shape (n, 2)
        Where each box belongs (display points).
    sizes : array of shape (n, 2)
        Width and height of each box (display points).
    points : array of shape (m, 2)
        Markers the boxes must not cover (display points).
    point_radius : float
        Radius of a marker, in points.
    bounds : (x0, y0, x1, y1)
        The boxes stay inside.
    occupied : array of shape (k, 4), optional
        Boxes (x0, y0, x1, y1) already taken, e.g. thumbnails under labels.
    gap : float, default=2.0
        Clearance between a box and its point, and between boxes.
    radii : sequence of float, optional
        Rings tried, in points from the point to the nearest edge of the box;
        default 2 to 60 points.
    point_weight : float, default=1.0
        How much covering a marker costs relative to covering another box,
        when nothing is free (thumbnails over a dense cloud: less than 1).
    distance_weight : float, default=0.0
        Cost per point of distance, when nothing is free: above 0, a box
        prefers a small overlap near its point to a free spot far away.

    Returns
    -------
    centres : ndarray of shape (n, 2)
    free : ndarray of bool, shape (n,)
        Whether each box found a position that overlaps nothing.
    """
    anchors = np.asarray(anchors, dtype=float).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=float).reshape(-1, 2)
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if radii is None:
        radii = (2, 5, 9, 14, 20, 28, 38, 50, 64)
    r = point_radius + gap / 2
    markers = np.column_stack([points - r, points + r]) if len(points) else np.zeros((0, 4))
    x0, y0, x1, y1 = bounds
    placed = np.zeros((0, 4)) if occupied is None else np.asarray(occupied, float).reshape(-1, 4)
    centres = np.empty_like(anchors)
    free = np.zeros(len(anchors), dtype=bool)
    for k, ((ax_, ay_), (w, h)) in enumerate(zip(anchors, sizes, strict=True)):
        best, best_cost = None, np.inf
        for ring in radii:
            d = point_radius + gap + ring
            for angle in _ANGLES:
                c, s = np.cos(angle), np.sin(angle)
                # the box's edge at distance d from the point, along the direction
                reach = min(w / 2 / abs(c) if abs(c) > 1e-9 else np.inf,
                            h / 2 / abs(s) if abs(s) > 1e-9 else np.inf)
                cx, cy = ax_ + c * (d + reach), ay_ + s * (d + reach)
                bx0, by0, bx1, by1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
                outside = (max(x0 - bx0, 0) + max(bx1 - x1, 0)) * h + \
                          (max(y0 - by0, 0) + max(by1 - y1, 0)) * w
                boxes = _overlap(bx0 - gap / 2, by0 - gap / 2, bx1 + gap / 2, by1 + gap / 2,
                                 placed).sum()
                dots = _overlap(bx0, by0, bx1, by1, markers).sum()
                cost = 10 * outside + boxes + point_weight * dots
                if cost > 1e-9:
                    cost += distance_weight * ring
                if cost <= 1e-9:
                    best, best_cost = (cx, cy), 0.0
                    break
                if cost < best_cost - 1e-9:
                    best, best_cost = (cx, cy), cost
            if best_cost == 0.0:
                break
        centres[k] = best
        free[k] = best_cost == 0.0
        placed = np.vstack([placed, [best[0] - w / 2, best[1] - h / 2, best[0] + w / 2,
                                     best[1] + h / 2]])
    return centres, free


def text_size(text, fontsize):
    """Width and height of one line of ``text`` at ``fontsize`` (the current font), in points."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, height, _ = TextToPath().get_text_width_height_descent(
        str(text), FontProperties(size=fontsize), ismath=False)
    return width, height


def place_annotations(ax, xy, texts, *, fontsize=6.5, fontweight="normal", colours=None,
                      points=None, point_radius=3.0, occupied=None, gid=None):
    """Label the points ``xy`` (data coordinates) without overlaps; return the annotations.

    Labels avoid each other, every point of ``points`` (default ``xy``) and
    the axes' edges; a label that had to move away from its point is joined
    to it by a thin line. Labels are placed in the order given, and one that
    finds no free position within 64 points of its point is left out, so
    put the ones that matter most first.
    """
    _layout(ax)
    anchors = display_points(ax, xy)
    obstacles = anchors if points is None else display_points(ax, points)
    bold = 1.1 if fontweight == "bold" else 1.0
    sizes = np.array([text_size(t, fontsize) for t in texts]).reshape(-1, 2) * [bold, 1] + 1.0
    centres, free = place_boxes(anchors, sizes, points=obstacles, point_radius=point_radius,
                                bounds=axes_box(ax), occupied=occupied)
    annotations = []
    for k, text in enumerate(texts):
        if not free[k]:  # no room left near its point: better no label than one on another
            continue
        offset = centres[k] - anchors[k]
        # the label's nearest edge more than 10 points from its point: join them by a line
        far = max(abs(offset[0]) - sizes[k, 0] / 2, abs(offset[1]) - sizes[k, 1] / 2) > 10
        colour = colours[k] if colours is not None else "0.15"
        arrow = ({"arrowstyle": "-", "color": colour, "lw": 0.4, "alpha": 0.7,
                  "shrinkA": 0, "shrinkB": point_radius} if far else None)
        annotation = ax.annotate(text, xy[k], xytext=tuple(offset), textcoords="offset points",
                                 ha="center", va="center", fontsize=fontsize, color=colour,
                                 fontweight=fontweight,
                                 arrowprops=arrow, zorder=6, annotation_clip=False)
        annotation.set_in_layout(False)
        if gid is not None:
            annotation.set_gid(gid)
        annotations.append(annotation)
    return annotations


def spread_markers(ax, xy, *, radius=5.0, min_distance=4.0):
    """Positions (data coordinates) that move markers closer than ``min_distance`` apart.

    Markers within ``min_distance`` points of each other are put on a circle
    of ``radius`` points around their mean position, in their order; the
    others stay where they are.
    """
    _layout(ax)
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    pts = display_points(ax, xy)
    cluster = np.arange(len(pts))
    for i in range(len(pts)):  # single-linkage clusters of close markers
        for j in range(i):
            if np.hypot(*(pts[i] - pts[j])) < min_distance and cluster[i] != cluster[j]:
                cluster[cluster == cluster[i]] = cluster[j]
    out = pts.copy()
    for c in np.unique(cluster):
        members = np.flatnonzero(cluster == c)
        if len(members) < 2:
            continue
        centre = pts[members].mean(axis=0)
        step = 2 * np.pi / len(members)
        spread = max(radius, min_distance * len(members) / (2 * np.pi) + 1)
        for n, m in enumerate(members):
            out[m] = centre + spread * np.array([np.cos(np.pi / 2 + n * step),
                                                 np.sin(np.pi / 2 + n * step)])
    scale = _points_per_pixel(_root(ax))
    return ax.transData.inverted().transform(out / scale)


def boxes_of(artists):
    """Display-point boxes (n, 4) of drawn artists (labels, thumbnails), for checks."""
    if not artists:
        return np.zeros((0, 4))
    fig = artists[0].figure.figure
    renderer = _renderer(fig)
    scale = _points_per_pixel(fig)
    from matplotlib.offsetbox import AnnotationBbox
    from matplotlib.text import Annotation, Text

    out = []
    for artist in artists:
        if isinstance(artist, Annotation):  # the text, not its leader line
            box = Text.get_window_extent(artist, renderer)
        elif isinstance(artist, AnnotationBbox):  # the framed picture, not its line
            box = artist.patch.get_window_extent(renderer)
        else:
            box = artist.get_window_extent(renderer)
        out.append([box.x0 * scale, box.y0 * scale, box.x1 * scale, box.y1 * scale])
    return np.array(out)
