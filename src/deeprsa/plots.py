"""Publication figures: RDM heatmaps, model RDMs, MDS maps, variance curves and image grids.

Every function takes plain arrays and tables (or, duck-typed, deeprsa's
:class:`~deeprsa.rdm.RDM`, :class:`~deeprsa.rdm.RDMs`, :class:`~deeprsa.StimulusSet`
and :class:`~deeprsa.compare.ComparisonResult`) and returns a
:class:`matplotlib.figure.Figure`. Given ``path``, it also saves the figure as
PNG (150 dpi) and SVG (editable text) next to each other. Figures are sized
for a journal page (3.5 or 7 inches wide, 7-9 pt text) and are built with
matplotlib's object API, never pyplot, so they need no display and leave no
global state behind.

The figures are the ones researchers draw by hand in the notebooks deeprsa
was designed from: RDMs sorted by class with percentile colour scales (seeds
001 and 003), second-order and multi-model RDMs (seeds 000 and 003), MDS maps
with pictures and trajectories through depth (seed 002) or lines coloured by
dissimilarity (seed 003), PCA variance curves (seed 001) and activity
trajectories before and after SRM alignment (seed 004).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._validation import check_option, check_random_state, suggest

__all__ = [
    "MDSResult",
    "compute_mds",
    "plot_images",
    "plot_mds",
    "plot_model_rdm",
    "plot_rdm",
    "plot_rdms",
    "plot_similarity_vs_performance",
    "plot_srm_trajectories",
    "plot_variance_explained",
    "save_figure",
]

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

_MAX_EDGES_POINTS = 60
_MAX_TICK_LABELS = 40


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


# ============================================================================ inputs


def _rdm_parts(rdm, stimulus_ids=None):
    """RDM, array-like -> (square float matrix, ids, provenance dict)."""
    matrix = getattr(rdm, "matrix", None)
    if callable(matrix):
        matrix = matrix()
    if matrix is None:
        matrix = rdm
    M = np.asarray(matrix, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"An RDM must be a square matrix; got shape {M.shape}.")
    ids = stimulus_ids if stimulus_ids is not None else getattr(rdm, "stimulus_ids", None)
    ids = tuple(str(s) for s in ids) if ids is not None else tuple(map(str, range(len(M))))
    if len(ids) != len(M):
        raise ValueError(f"Got {len(ids)} stimulus_ids for an RDM of {len(M)} stimuli.")
    provenance = dict(getattr(rdm, "provenance", None) or {})
    return M, ids, provenance


def _class_labels(labels, ids, *, column="label"):
    """Per-stimulus class labels in the order of ``ids``, or None."""
    import pandas as pd

    if labels is None:
        return None
    if hasattr(labels, "metadata") and not isinstance(labels, pd.DataFrame):
        labels = labels.metadata  # a StimulusSet
    if isinstance(labels, pd.DataFrame):
        if column not in labels.columns:
            columns = sorted(map(str, labels.columns))
            raise ValueError(f"labels has no column {column!r}.{suggest(column, columns)} "
                             f"Columns: {columns}.")
        labels = labels[column]
    if isinstance(labels, (pd.Series, Mapping)):
        series = labels if isinstance(labels, pd.Series) else pd.Series(dict(labels))
        series.index = series.index.map(str)
        missing = [s for s in ids if s not in series.index]
        if missing:
            raise ValueError(f"labels has no entry for {len(missing)} stimulus id(s), e.g. "
                             f"{missing[:3]}.")
        return series.loc[list(ids)].to_numpy()
    values = np.asarray(list(labels), dtype=object)
    if len(values) != len(ids):
        raise ValueError(f"labels has {len(values)} entries for {len(ids)} stimuli; give one "
                         "label per stimulus, in the RDM's order.")
    return values


def _class_order(classes):
    """Stable order that groups equal labels, classes sorted; and the sorted class codes."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(classes), sort=True)
    order = np.argsort(codes, kind="stable")
    return order, codes[order], [str(u) for u in uniques]


def _blocks(sorted_codes):
    """(start, stop) of each run of equal codes."""
    change = np.flatnonzero(np.diff(sorted_codes)) + 1
    starts = np.r_[0, change]
    stops = np.r_[change, len(sorted_codes)]
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _percentile(M):
    """Seed 003's percentile transform of the off-diagonal entries (diagonal stays 0)."""
    from scipy.stats import rankdata

    n = len(M)
    i, j = np.triu_indices(n, k=1)
    pct = rankdata(M[i, j], method="average") * (100.0 / max(len(i), 1))
    out = np.zeros_like(M)
    out[i, j] = pct
    out[j, i] = pct
    return out


def _measure_label(provenance, *, percentile=False):
    measure = provenance.get("measure")
    label = _MEASURE_LABELS.get(measure, measure or "dissimilarity")
    if provenance.get("order") == 2:  # a model RDM turned into an RDM
        label = f"1 − {_METHOD_LABELS.get(measure, measure)}"
    return f"percentile of {label}" if percentile else label


def _rdm_title(provenance):
    parts = [str(provenance[k]) for k in ("model", "layer") if provenance.get(k) is not None]
    return " · ".join(parts) if parts else None


# ============================================================================ RDM heatmaps


def _draw_rdm(ax, M, classes, *, cmap, vmin, vmax, show_x=True, show_y=True):
    """Heatmap of ``M`` (already sorted) with class boundaries and class tick labels."""
    image = ax.imshow(M, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.spines[:].set_visible(True)
    ax.tick_params(length=0)
    if classes is None:
        ax.set_xticks([])
        ax.set_yticks([])
        return image
    from matplotlib.collections import LineCollection

    codes, names = classes
    blocks = _blocks(codes)
    n, edge = len(M), len(M) - 0.5
    segments = [seg for start, _ in blocks[1:] for seg in
                (((-0.5, start - 0.5), (edge, start - 0.5)),
                 ((start - 0.5, -0.5), (start - 0.5, edge)))]
    if segments:
        ax.add_collection(LineCollection(segments, colors="white", linewidths=0.6,
                                         gid=GID_CLASS_BOUNDARY), autolim=False)
        ax.set_xlim(-0.5, n - 0.5)
        ax.set_ylim(n - 0.5, -0.5)
    centres = [(a + b - 1) / 2 for a, b in blocks]
    names = [names[codes[a]] for a, _ in blocks]
    if len(blocks) > _MAX_TICK_LABELS:
        centres, names = [], []
    ax.set_xticks(centres, names if show_x else [""] * len(names))
    ax.set_yticks(centres, names if show_y else [""] * len(names))
    if not show_x:
        ax.tick_params(axis="x", labelbottom=False)
    if not show_y:
        ax.tick_params(axis="y", labelleft=False)
    return image


@_styled
def plot_rdm(rdm, *, labels=None, stimulus_ids=None, percentile=False, sort=True,
             label_column="label", cmap="viridis", vmin=None, vmax=None, title=None,
             ax=None, path=None):
    """Heatmap of one RDM, stimuli sorted by class, with class boundaries and a named colourbar.

    Parameters
    ----------
    rdm : RDM or array-like of shape (n_stimuli, n_stimuli)
        A deeprsa :class:`~deeprsa.rdm.RDM` (its ``stimulus_ids`` and
        ``provenance`` give the order, title and measure) or a square matrix.
    labels : sequence, mapping, pandas.Series, DataFrame or StimulusSet, optional
        The class of each stimulus: a sequence in the RDM's order, or a
        mapping / Series keyed by stimulus id, or a table (a StimulusSet's
        metadata) with a ``label_column``. Stimuli are sorted by class, with
        white lines between classes and class names as tick labels.
    stimulus_ids : sequence of str, optional
        Ids of the rows of an array (an RDM brings its own).
    percentile : bool, default=False
        Colour by the percentile (0-100] of each dissimilarity among all pairs,
        as seed 003 does: structure stands out, but small differences can look
        large; show the raw RDM alongside.
    sort : bool, default=True
        Sort stimuli by class (stable: the order within a class is kept).
    label_column : str, default="label"
        Column of ``labels`` holding the classes when it is a table.
    cmap : str, default="viridis"
    vmin, vmax : float, optional
        Colour range; default 0 to the largest dissimilarity (0 to 100 for
        percentiles).
    title : str, optional
        Default: "model · layer" from the RDM's provenance.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (and its figure) instead of a new figure.
    path : str or Path, optional
        Also save the figure there as PNG and SVG; see :func:`save_figure`.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the matrix is not square, or ``labels`` does not give one class
        per stimulus.

    See Also
    --------
    plot_rdms : The RDMs of all layers of a model in one grid.

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[0, 1, 4, 4], [1, 0, 4, 4], [4, 4, 0, 1], [4, 4, 1, 0.]])
    >>> fig = plot_rdm(D, labels=["cat", "cat", "dog", "dog"])
    >>> ax = fig.axes[0]
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['cat', 'dog']
    >>> fig.axes[1].get_ylabel()
    'dissimilarity'
    """
    M, ids, provenance = _rdm_parts(rdm, stimulus_ids)
    classes = _class_labels(labels, ids, column=label_column)
    if percentile:
        M = _percentile(M)
    classes_sorted = None
    if classes is not None:
        order, codes, names = _class_order(classes)
        if not sort:  # keep the given order; boundaries wherever the class changes
            original = np.empty_like(codes)
            original[order] = codes
            codes, order = original, np.arange(len(M))
        M = M[np.ix_(order, order)]
        classes_sorted = (codes, names)
    if vmin is None:
        vmin = 0.0
    if vmax is None:
        vmax = 100.0 if percentile else float(M.max()) if M.max() > vmin else vmin + 1.0
    fig = ax.figure if ax is not None else _new_figure(3.6, 3.0)
    ax = ax if ax is not None else fig.add_subplot()
    image = _draw_rdm(ax, M, classes_sorted, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(title if title is not None else _rdm_title(provenance) or "")
    if classes is not None:
        ax.set_xlabel("stimuli, sorted by class")
        ax.set_ylabel("stimuli, sorted by class")
    colorbar = fig.colorbar(image, ax=ax, shrink=0.85, aspect=25)
    colorbar.set_label(_measure_label(provenance, percentile=percentile))
    colorbar.outline.set_visible(False)
    return _finish(fig, path)


def _grid_columns(n):
    """About square, landscape, with as few empty cells as possible (12 -> 4, 10 -> 5)."""
    low = int(np.ceil(np.sqrt(n)))
    candidates = range(low, min(n, low + 2) + 1)
    return min(candidates, key=lambda c: (c * int(np.ceil(n / c)) - n, c))


def _rdm_list(rdms):
    """RDMs, list of RDM/arrays or mapping title -> RDM -> list of (title, matrix, ids, prov)."""
    if isinstance(rdms, Mapping):
        items = [(str(k), *_rdm_parts(v)) for k, v in rdms.items()]
    else:
        items = []
        for r in rdms:
            M, ids, prov = _rdm_parts(r)
            items.append((prov.get("layer"), M, ids, prov))
    if not items:
        raise ValueError("plot_rdms needs at least one RDM, got none.")
    ids0 = items[0][2]
    for title, _, ids, _ in items[1:]:
        if ids != ids0:
            raise ValueError(f"All RDMs must share stimulus ids in the same order; RDM "
                             f"{title!r} differs from the first. Align them with "
                             "rdm.subset(first.stimulus_ids).")
    return items


@_styled
def plot_rdms(rdms, *, labels=None, percentile=True, label_column="label", ncols=None,
              cmap="viridis", suptitle=None, path=None):
    """The RDMs of several layers (or models) side by side, sorted by class, one colour scale.

    Parameters
    ----------
    rdms : RDMs, sequence of RDM or mapping of title -> RDM or array
        RDMs over the same stimuli, in the same order. Panel titles are the
        layers from the provenance (or the mapping's keys).
    labels : sequence, mapping, pandas.Series, DataFrame or StimulusSet, optional
        Class of each stimulus; see :func:`plot_rdm`.
    percentile : bool, default=True
        Colour each panel by percentiles (seed 003), so layers whose
        dissimilarities differ in scale share one colourbar. With False, the
        panels share the raw scale 0 to the largest value over all of them.
    label_column : str, default="label"
    ncols : int, optional
        Panels per row; default about square.
    cmap : str, default="viridis"
    suptitle : str, optional
        Default: the model, when all RDMs come from one.
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per RDM, then the colourbar.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> D = {f"layer{i}": np.abs(rng.normal(size=(6, 6))) for i in range(3)}
    >>> D = {k: (v + v.T) * (1 - np.eye(6)) for k, v in D.items()}
    >>> fig = plot_rdms(D, labels=[0, 0, 1, 1, 2, 2])
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['layer0', 'layer1', 'layer2']
    """
    items = _rdm_list(rdms)
    n = len(items)
    ids = items[0][2]
    classes = _class_labels(labels, ids, column=label_column)
    order = np.arange(len(ids))
    classes_sorted = None
    if classes is not None:
        order, codes, names = _class_order(classes)
        classes_sorted = (codes, names)
    matrices = [(_percentile(M) if percentile else M)[np.ix_(order, order)]
                for _, M, _, _ in items]
    vmax = 100.0 if percentile else max(float(M.max()) for M in matrices) or 1.0
    ncols = min(ncols or _grid_columns(n), n)
    nrows = int(np.ceil(n / ncols))
    panel = min(1.75, 6.3 / ncols)
    fig = _new_figure(panel * ncols + 0.9, panel * nrows + 0.45)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    titles = _short_names([t if t is not None else f"RDM {k}" for k, (t, *_) in
                           enumerate(items)])
    image = None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        row, col = divmod(k, ncols)
        last_in_col = k + ncols >= n
        image = _draw_rdm(ax, matrices[k], classes_sorted, cmap=cmap, vmin=0.0, vmax=vmax,
                          show_x=last_in_col, show_y=col == 0)
        if not last_in_col:
            ax.set_xticks([])
        if col != 0:
            ax.set_yticks([])
        ax.set_title(titles[k], fontsize=8)
    models = {str(p.get("model")) for *_, p in items if p.get("model") is not None}
    if suptitle is None and len(models) == 1:
        suptitle = models.pop()
    if suptitle:
        fig.suptitle(suptitle)
    colorbar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, aspect=30)
    colorbar.set_label(_measure_label(items[0][3], percentile=percentile))
    colorbar.outline.set_visible(False)
    return _finish(fig, path)


# ============================================================================ model RDMs


def _second_order_parts(comparison, labels, groups):
    """ComparisonResult / RDM / array -> (dissimilarity, layer labels, model groups, label)."""
    import pandas as pd

    if hasattr(comparison, "dissimilarity") and hasattr(comparison, "metadata_a"):
        if getattr(comparison, "symmetric", True) is False:
            raise ValueError("plot_model_rdm needs a collection compared with itself "
                             "(compare_rdms(a) or multi_model_rdm), not a rectangular result.")
        D = np.asarray(comparison.dissimilarity, dtype=np.float64).copy()
        np.fill_diagonal(D, 0.0)
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


# ============================================================================ MDS


@dataclass(frozen=True)
class MDSResult:
    """Points placed by multidimensional scaling and how well they fit.

    Attributes
    ----------
    coordinates : ndarray of shape (n_points, n_components)
    stress : float
        Kruskal's stress-1, ``sqrt(sum((d - dhat)^2) / sum(dhat^2))`` with
        ``d`` the distances between the placed points and ``dhat`` the
        dissimilarities (metric MDS) or their best monotone fit (non-metric).
        0 is a perfect fit; Kruskal (1964) calls 0.05 good and 0.2 poor.
    metric : bool
        Metric (True) or non-metric (ordinal) MDS.
    """

    coordinates: np.ndarray
    stress: float
    metric: bool

    @property
    def n_components(self) -> int:
        return self.coordinates.shape[1]


def _mds_input(dissimilarity):
    """Square dissimilarities from an array, RDM or ComparisonResult.

    Returns the matrix, default labels and groups, the name of the
    dissimilarity and what the points are ("layers", "stimuli" or None).
    """
    if hasattr(dissimilarity, "dissimilarity") and hasattr(dissimilarity, "metadata_a"):
        D, labels, groups, what = _second_order_parts(dissimilarity, None, None)
        return D, labels, groups, f"{what} between RDMs", "layers"
    if not callable(getattr(dissimilarity, "matrix", None)):
        _check_square_dissimilarity(np.asarray(dissimilarity, dtype=np.float64))
    M, ids, prov = _rdm_parts(dissimilarity)
    if prov.get("order") == 2:
        split = [s.rsplit("|", 1) if "|" in s else (None, s) for s in ids]
        groups = [a for a, _ in split] if all(a is not None for a, _ in split) else None
        return M, [b for _, b in split], groups, _measure_label(prov) + " between RDMs", "layers"
    if prov:
        return M, None, None, _measure_label(prov), "stimuli"
    return M, None, None, "dissimilarity", None


def _check_square_dissimilarity(D):
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"dissimilarity must be a square matrix; got shape {D.shape}.")
    if len(D) < 3:
        raise ValueError(f"MDS needs at least 3 points, got {len(D)}.")
    if not np.isfinite(D).all():
        raise ValueError("dissimilarity holds NaN or infinity; drop undefined comparisons "
                         "(e.g. constant layers) first.")
    if not np.allclose(D, D.T, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(D).max()))):
        raise ValueError("dissimilarity must be symmetric.")
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    if (D < 0).any():
        raise ValueError(f"dissimilarity must be non-negative; the smallest entry is "
                         f"{D.min():.3g}. Use 1 - similarity, not the similarity.")
    return D


def compute_mds(dissimilarity, *, n_components=2, metric=True, seed=0) -> MDSResult:
    """Place points in 2-D or 3-D so their distances match the dissimilarities (scikit-learn).

    Parameters
    ----------
    dissimilarity : array-like of shape (n_points, n_points), RDM or ComparisonResult
        Symmetric, non-negative. A comparison result contributes its
        ``dissimilarity`` (1 - similarity).
    n_components : {2, 3}, default=2
    metric : bool, default=True
        Metric MDS keeps the dissimilarities' values (as seed 003); non-metric
        MDS keeps only their order (as Kruskal, 1964).
    seed : int, numpy.random.Generator or None, default=0
        Seeds the starting configuration (ignored where scikit-learn starts
        from classical MDS).

    Returns
    -------
    MDSResult

    Raises
    ------
    ValueError
        If the dissimilarities are not square, symmetric, finite and
        non-negative, or there are fewer than 3 points.

    References
    ----------
    Kruskal, J. B. (1964). Multidimensional scaling by optimizing goodness
    of fit to a nonmetric hypothesis. Psychometrika, 29, 1-27.
    Borg, I., & Groenen, P. J. F. (2005). Modern Multidimensional Scaling.
    Springer.

    Examples
    --------
    >>> import numpy as np
    >>> points = np.array([[0, 0], [3, 0], [0, 4], [3, 4.]])
    >>> D = np.linalg.norm(points[:, None] - points[None], axis=-1)
    >>> result = compute_mds(D)
    >>> result.coordinates.shape, round(result.stress, 3)
    ((4, 2), 0.0)
    """
    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3 (a plot), got {n_components!r}.")
    D = _mds_input(dissimilarity)[0]
    D = _check_square_dissimilarity(np.array(D, dtype=np.float64))
    rng = check_random_state(seed)
    coordinates = _sklearn_mds(D, n_components=n_components, metric=bool(metric),
                               random_state=int(rng.integers(2**31 - 1)))
    return MDSResult(coordinates, _stress1(D, coordinates, metric=bool(metric)), bool(metric))


def _sklearn_mds(D, *, n_components, metric, random_state):
    import inspect
    import warnings

    from sklearn.manifold import MDS

    params = inspect.signature(MDS).parameters
    if "metric_mds" in params:  # scikit-learn >= 1.8
        kwargs = {"metric_mds": metric, "metric": "precomputed", "init": "classical_mds"}
    else:
        kwargs = {"metric": metric, "dissimilarity": "precomputed", "n_init": 4}
    if "normalized_stress" in params:
        kwargs["normalized_stress"] = "auto"
    scale = float(D.max()) or 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        mds = MDS(n_components=n_components, random_state=random_state, max_iter=1000,
                  **kwargs)
        X = mds.fit_transform(D / scale)
    return X * scale


def _stress1(D, X, *, metric):
    from scipy.spatial.distance import pdist, squareform

    delta = squareform(D, checks=False)
    d = pdist(X)
    if metric:
        target = delta
    else:
        from sklearn.isotonic import IsotonicRegression

        target = IsotonicRegression().fit_transform(delta, d)
    denominator = float(np.sum(target**2)) if metric else float(np.sum(d**2))
    return float(np.sqrt(np.sum((d - target) ** 2) / denominator)) if denominator else 0.0


def _as_image(image):
    """(C, H, W) / (H, W, C) / (H, W) tensor or array -> (H, W) or (H, W, 3) numpy."""
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise ValueError(f"An image must be (H, W), (C, H, W) or (H, W, C); got {arr.shape}.")
    return arr


def _group_colours(groups):
    import matplotlib as mpl

    names = list(dict.fromkeys(groups))
    cmap = mpl.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {g: cmap(i % cmap.N) for i, g in enumerate(names)}


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
        A thumbnail at each point (seed 002); None entries get a marker only.
        Images are (H, W), (C, H, W) or (H, W, C) arrays or tensors in [0, 1].
    edges : bool, default=False
        Draw a line between every pair of points coloured by their
        dissimilarity, with a colourbar (seed 003). At most 60 points.
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


# ============================================================================ dimensionality


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
        Fraction of variance for the right panel (seed 001 uses 80 %).
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
        is constant, has no point).

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
    fig = _new_figure(7.0, 3.0)
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
    colorbar = fig.colorbar(key, ax=left, aspect=max(12, 2.5 * len(layers)), pad=0.02)
    colorbar.set_ticks(range(len(layers)), labels=names,
                       fontsize=6.5 if len(layers) > 10 else 7)
    colorbar.ax.invert_yaxis()  # input at the top, as read
    colorbar.ax.tick_params(length=0)
    colorbar.outline.set_visible(False)
    xs = [x for x, v in enumerate(needed) if v is not None]
    values = [needed[x] for x in xs]
    right.plot(xs, values, color="0.2", linewidth=1.0)
    right.scatter(xs, values, c=[colours[x] for x in xs], s=14, zorder=3)
    right.set_xticks(range(len(layers)), names, rotation=45, ha="right")
    right.set_xlim(-0.5, len(layers) - 0.5)
    right.set_ylim(bottom=0)
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_ylabel(f"components to reach {threshold:.0%}".replace("%", " %"))
    right.set_xlabel("layer (input → output)")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


# ============================================================================ images


def _images_and_labels(stimuli, labels, label_column):
    if hasattr(stimuli, "load") and hasattr(stimuli, "metadata"):
        meta = stimuli.metadata
        if labels is None and label_column in meta.columns:
            labels = meta[label_column].to_numpy()
        return [stimuli.load(i) for i in range(len(stimuli))], labels
    arr = np.asarray(stimuli)
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must be (n, H, W), (n, C, H, W) or (n, H, W, C); got "
                         f"{arr.shape}.")
    return list(arr), labels


@_styled
def plot_images(stimuli, *, labels=None, n_per_class=8, label_column="label", ncols=None,
                title=None, path=None):
    """A grid of stimuli: one row per class (seed 001), or plain rows without labels.

    Parameters
    ----------
    stimuli : StimulusSet or array-like of shape (n, H, W), (n, C, H, W) or (n, H, W, C)
        Images in [0, 1]. A StimulusSet brings its labels (``label_column``).
    labels : sequence, optional
        Class of each image; rows are classes in sorted order, holding the
        first ``n_per_class`` images of the class.
    n_per_class : int, default=8
    label_column : str, default="label"
    ncols : int, optional
        Images per row without labels; default 10.
    title : str, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes showing the mosaic; with labels, its y tick labels are the
        classes, one per row. Images of other sizes are resized (nearest
        neighbour) to the first one's.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.default_rng(0).random((6, 8, 8))
    >>> fig = plot_images(images, labels=["a", "b", "a", "b", "a", "b"], n_per_class=2)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['a', 'b']
    """
    images, labels = _images_and_labels(stimuli, labels, label_column)
    if not images:
        raise ValueError("No images to plot.")
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}.")
    if labels is not None:
        if len(labels) != len(images):
            raise ValueError(f"labels has {len(labels)} entries for {len(images)} images.")
        order, codes, names = _class_order(np.asarray(labels, dtype=object))
        rows = [(name, [int(i) for i, code in zip(order, codes, strict=True) if code == c]
                 [:n_per_class]) for c, name in enumerate(names)]
        ncols = max(len(m) for _, m in rows)
    else:
        ncols = min(ncols or 10, len(images))
        rows = [(None, list(range(s, min(s + ncols, len(images)))))
                for s in range(0, len(images), ncols)]
    first = _as_image(images[0])
    h, w = first.shape[:2]
    rgb = any(_as_image(images[i]).ndim == 3 for _, m in rows for i in m)
    gap = max(1, h // 8)
    shape = (len(rows) * (h + gap) - gap, ncols * (w + gap) - gap) + ((3,) if rgb else ())
    mosaic = np.ones(shape, dtype=np.float32)
    for r, (_, members) in enumerate(rows):
        for c, index in enumerate(members):
            arr = _fit_image(_as_image(images[index]), h, w, rgb)
            mosaic[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = arr
    cell = min(0.5, 6.4 / ncols)
    fig = _new_figure(cell * ncols + (0.45 if labels is not None else 0.15),
                      cell * len(rows) * h / w + (0.4 if title else 0.15))
    ax = fig.add_subplot()
    ax.imshow(np.clip(mosaic, 0, 1), cmap=None if rgb else "gray", vmin=0, vmax=1,
              interpolation="nearest" if h <= 32 else "antialiased")  # pixels vs photos
    ax.spines[:].set_visible(False)
    ax.set_xticks([])
    if labels is not None:
        ax.set_yticks([r * (h + gap) + (h - 1) / 2 for r in range(len(rows))],
                      [name for name, _ in rows])
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def _fit_image(arr, h, w, rgb):
    """Nearest-neighbour resize to (h, w); grey to RGB when the mosaic is in colour."""
    if arr.shape[:2] != (h, w):
        rows = (np.arange(h) * arr.shape[0] / h).astype(int)
        cols = (np.arange(w) * arr.shape[1] / w).astype(int)
        arr = arr[rows][:, cols]
    if rgb and arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return arr


# ============================================================================ SRM


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
    """Activity trajectories of several networks before and after SRM alignment (seed 004).

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


# ============================================================================ scatter


@_styled
def plot_similarity_vs_performance(table, *, x="performance_similarity",
                                   y="representational_similarity", hue=None, ci=0.95,
                                   n_boot=2000, seed=0, xlabel=None, ylabel=None, title=None,
                                   ax=None, path=None):
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
    ci : float, default=0.95
        Level of the band around the least-squares line: a percentile
        bootstrap over rows. Pairs that share a model are not independent, so
        read the band as descriptive; test with a Mantel test instead.
    n_boot : int, default=2000
    seed : int, numpy.random.Generator or None, default=0
    xlabel, ylabel, title : str, optional
    ax : matplotlib.axes.Axes, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        The legend gives Spearman's ρ and the number of pairs.

    Raises
    ------
    ValueError
        If a column is missing (with a did-you-mean) or there are fewer than
        3 rows with both values.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"performance_similarity": [.1, .2, .3, .4, .5],
    ...                   "representational_similarity": [.2, .25, .5, .55, .7]})
    >>> fig = plot_similarity_vs_performance(t, n_boot=200)
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
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}.")
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
    boot = np.empty((n_boot, len(grid)))
    for b in range(n_boot):
        idx = rng.integers(0, len(xs), len(xs))
        if np.ptp(xs[idx]) == 0:
            boot[b] = np.mean(ys[idx])
            continue
        s, i = np.polyfit(xs[idx], ys[idx], 1)
        boot[b] = s * grid + i
    lo, hi = np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    rho = spearmanr(xs, ys).statistic
    ax.fill_between(grid, lo, hi, color="tab:blue", alpha=0.18, linewidth=0,
                    label=f"{ci:.0%} bootstrap CI".replace("%", " %"))
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
