"""What every figure shares: style, saving, labels and the inputs they all accept.

The paper-size rc settings (``_STYLE``, applied by the ``_styled`` decorator),
new constrained-layout figures, :func:`save_figure` with reproducible file
metadata, the readable names of measures and methods, the artist ids
(``GID_*``) that tests and readers look up, and the small helpers several
figure modules use: RDM inputs, class order, group colours, short layer names
and grid shapes.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from .._validation import check_option
from ..analyses.mds import _rdm_matrix

_STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "image.interpolation": "nearest",
}

#: Readable names of first-order measures (colourbar labels).
_MEASURE_LABELS = {
    "correlation": "correlation distance (1 − Pearson r)",
    "cosine": "cosine distance (1 − cos)",
    "euclidean": "Euclidean distance",
    "normalized_euclidean": "normalised Euclidean distance",
    "spearman": "1 − Spearman ρ",
    "sqeuclidean": "squared Euclidean distance",
}

#: Readable names of second-order methods, as "1 - similarity" labels.
_METHOD_LABELS = {
    "spearman": "Spearman ρ",
    "pearson": "Pearson r",
    "kendall_tau_a": "Kendall τa",
    "kendall_tau_b": "Kendall τb",
    "rho_a": "Spearman ρa",
    "cosine": "cosine similarity",
    "linear_cka": "linear CKA",
    "debiased_linear_cka": "debiased linear CKA",
    "minibatch_linear_cka": "minibatch linear CKA",
    "rbf_cka": "RBF CKA",
    "cca": "mean squared CCA",
    "svcca": "SVCCA",
    "mutual_knn": "mutual k-NN",
}

#: Ids of the artists tests and readers can look up (``artist.get_gid()``).
GID_CLASS_BOUNDARY = "class-boundary"
GID_MODEL_BLOCK = "model-block"
GID_TRAJECTORY = "trajectory"
GID_EDGE = "dissimilarity-edge"
GID_THUMBNAIL = "thumbnail"
GID_STRESS = "mds-stress"
GID_LABEL = "point-label"
GID_START = "trajectory-start"
GID_KEY = "name-key"
GID_MODEL_BAND = "model-band"
GID_CONSTANT = "constant-rdm"

#: Longest layer name written in full on a figure; longer ones are shortened, with a key.
_MAX_LABEL_CHARS = 22

# One sequential colour map per family of groups (an architecture): a shade per member.
_FAMILY_MAPS = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys", "YlOrBr", "PuRd",
                "BuGn", "RdPu")


def _styled(func):
    """Build the figure inside deeprsa's paper-size rc settings."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return func(*args, **kwargs)

    return wrapper


def _new_figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig, path, *, formats=("png", "svg"), dpi=150) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix of ``formats``; return the files written.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
        File name; its suffix (if any) is replaced by each format's. Missing
        folders are created.
    formats : sequence of {"png", "svg", "pdf"}, default=("png", "svg")
    dpi : int, default=150
        Resolution of raster formats (and of images inside SVG/PDF files):
        sharp on a printed page; use 300 for a journal's final figures.

    Returns
    -------
    list of Path

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> files = save_figure(Figure(), tempfile.mkdtemp() + "/empty.png")
    >>> [f.suffix for f in files]
    ['.png', '.svg']
    """
    for fmt in formats:
        check_option("figure format", fmt, ("png", "svg", "pdf"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    engine = fig.get_layout_engine()
    try:
        for k, fmt in enumerate(formats):
            if k == 1 and engine is not None:
                fig.set_layout_engine("none")  # laid out once; later formats reuse it
            target = path.with_suffix(f".{fmt}")
            fig.savefig(target, dpi=dpi, format=fmt, metadata=_file_metadata(fmt))
            written.append(target)
    finally:
        if engine is not None and fig.get_layout_engine() is not engine:
            fig.set_layout_engine(engine)
    return written


def _file_metadata(fmt):
    # Reproducible files: no creation date in SVG/PDF, no software stamp in PNG.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return {"Software": None}


def _finish(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


def _rdm_parts(rdm, stimulus_ids=None):
    """RDM, array-like -> (square float matrix, ids, provenance dict)."""
    M = _rdm_matrix(rdm)
    ids = stimulus_ids if stimulus_ids is not None else getattr(rdm, "stimulus_ids", None)
    ids = tuple(str(s) for s in ids) if ids is not None else tuple(map(str, range(len(M))))
    if len(ids) != len(M):
        raise ValueError(f"Got {len(ids)} stimulus_ids for an RDM of {len(M)} stimuli.")
    provenance = dict(getattr(rdm, "provenance", None) or {})
    return M, ids, provenance


def _class_order(classes):
    """Stable order that groups equal labels, classes sorted; and the sorted class codes."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(classes), sort=True)
    order = np.argsort(codes, kind="stable")
    return order, codes[order], [str(u) for u in uniques]


def _measure_label(provenance, *, percentile=False):
    measure = provenance.get("measure")
    label = _MEASURE_LABELS.get(measure, measure or "dissimilarity")
    if provenance.get("order") == 2:  # a model RDM turned into an RDM
        label = f"1 − {_METHOD_LABELS.get(measure, measure)}"
    return f"percentile of {label}" if percentile else label


def _grid_columns(n):
    """About square, landscape, with as few empty cells as possible (12 -> 4, 10 -> 5)."""
    low = int(np.ceil(np.sqrt(n)))
    candidates = range(low, min(n, low + 2) + 1)
    return min(candidates, key=lambda c: (c * int(np.ceil(n / c)) - n, c))


def _short_names(names):
    """The shortest dotted suffixes that keep names apart and say what they are.

    ``encoder.layers.block_1`` -> ``block_1``; ``features.2`` and ``classifier.2``
    stay whole, and so does ``features.5`` next to ``classifier.1``: a bare
    index such as ``5`` would not say which part of the network it is.
    """
    names = [str(n) for n in names]
    depth = max(n.count(".") for n in names) + 1
    for k in range(1, depth + 1):
        short = [".".join(n.split(".")[-k:]) for n in names]
        bare_index = any(s.split(".")[0].isdigit() and s != n for s, n in zip(short, names, strict=True))
        if len(set(short)) == len(set(names)) and not bare_index:
            return short
    return names


def _group_colours(groups):
    import matplotlib as mpl

    names = list(dict.fromkeys(groups))
    cmap = mpl.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {g: cmap(i % cmap.N) for i, g in enumerate(names)}


def _family_shades(family, n):
    """``n`` distinct shades, dark to light, of the ``family``-th colour family."""
    import matplotlib as mpl

    cmap = mpl.colormaps[_FAMILY_MAPS[family % len(_FAMILY_MAPS)]]
    positions = [0.8] if n == 1 else np.linspace(0.95, 0.5 if n <= 4 else 0.38, n)
    return [cmap(float(p)) for p in positions]


def _family_palette(groups, families):
    """group -> colour: one hue per family, a distinct shade per group of that family.

    ``groups`` and ``families`` are parallel (one entry per point or per
    group); families and their groups keep their order of appearance.
    """
    members: dict = {}
    for g, f in zip(groups, families, strict=True):
        members.setdefault(f, [])
        if g not in members[f]:
            members[f].append(g)
    palette = {}
    for k, (_, names) in enumerate(members.items()):
        for name, colour in zip(names, _family_shades(k, len(names)), strict=True):
            palette.setdefault(name, colour)
    return palette


def _darker(colour, factor=0.7):
    """The colour, darkened towards black (readable text in a light shade)."""
    import matplotlib as mpl

    r, g, b, _ = mpl.colors.to_rgba(colour)
    return (r * factor, g * factor, b * factor, 1.0)


def _abbreviate(names, max_chars=_MAX_LABEL_CHARS):
    """Names longer than ``max_chars`` (22) as ``…tail`` (or ``head…tail``), still distinct.

    The same name always gives the same short form: the longest ending at a
    ``.`` or ``_`` that fits and that no other name shares, after a ``…``.
    ``encoder.layers.encoder_layer_11`` -> ``…encoder_layer_11``;
    with 14 characters at most, ``layer4.0.downsample.1`` next to
    ``layer3.0.downsample.1`` -> ``layer4…downsample.1``.

    Examples
    --------
    >>> _abbreviate(["conv1", "encoder.layers.encoder_layer_11"])
    ['conv1', '…encoder_layer_11']
    >>> _abbreviate(["layer3.0.downsample.1", "layer4.0.downsample.1"], max_chars=14)
    ['layer3…downsample.1', 'layer4…downsample.1']
    """
    names = [str(n) for n in names]
    unique = sorted(set(names))
    out = []
    for name in names:
        if len(name) <= max_chars:
            out.append(name)
            continue
        cuts = [m.end() for m in re.finditer(r"[._]", name)]
        tails = [name[c:] for c in cuts if name[c:]]
        distinct = [t for t in tails if sum(n.endswith(t) for n in unique) == 1]
        fitting = [t for t in distinct if len(t) + 1 <= max_chars]
        if fitting:
            out.append("…" + max(fitting, key=len))
            continue
        # no tail alone tells it apart: the first part, and the shortest tail that names a
        # kind of layer (holds a letter)
        head = name[:cuts[0] - 1] if cuts else name[:max_chars // 2]
        worded = [t for t in tails if re.search(r"[A-Za-z]", t)]
        tail = min(worded, key=len) if worded else name[-(max_chars // 2):]
        out.append(f"{head}…{tail}")
    shown: dict = {}
    for name, short in zip(names, out, strict=True):
        shown.setdefault(short, set()).add(name)
    return [short if len(shown[short]) == 1 else name for name, short in
            zip(names, out, strict=True)]


def _name_key(full, shown, *, limit=24):
    """The lines ``short = full name`` for every shortened name, in order, at most ``limit``."""
    pairs = list(dict.fromkeys((s, f) for f, s in zip(full, shown, strict=True) if s != f))
    lines = [f"{s} = {f}" for s, f in pairs[:limit]]
    if len(pairs) > limit:
        lines.append(f"… and {len(pairs) - limit} more")
    return lines


def _draw_name_key(fig, ax, full, shown, *, own_figure=True):
    """Under the figure (or the axes): the full names of the shortened ones, if any."""
    import textwrap

    lines = _name_key(full, shown)
    if not lines:
        return None
    text = "Names shortened: " + "; ".join(lines) + "."
    width = int(fig.get_figwidth() * 17) if own_figure else 80  # characters of 6 pt a line
    text = "\n".join(textwrap.wrap(text, width))
    if own_figure:  # the figure grows by the key's lines, so nothing above it is squeezed
        fig.set_figheight(fig.get_figheight() + (text.count("\n") + 1) * 7.5 / 72 + 0.05)
        artist = fig.supxlabel(text, fontsize=6, color="0.25", ha="left", x=0.01)
    else:
        artist = ax.text(0, -0.08, text, transform=ax.transAxes, fontsize=6, color="0.25",
                         va="top")
    artist.set_gid(GID_KEY)
    return artist


def _is_constant(matrix):
    """Whether the off-diagonal entries of a square matrix are all equal (or undefined)."""
    M = np.asarray(matrix, dtype=np.float64)
    n = len(M)
    if n < 2:
        return True
    values = M[~np.eye(n, dtype=bool)]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return True
    scale = max(1.0, float(np.abs(values).max()))
    return float(np.ptp(values)) <= 1e-12 * scale
