"""RDM heatmaps: one RDM (:func:`plot_rdm`) or the RDMs of several layers (:func:`plot_rdms`).

Stimuli are sorted by class, with white lines between classes and class names
as tick labels, and the colour scale is either the raw dissimilarity or its
percentile among all pairs, as the ManteLab course notebook on representations
in deep networks and the RSA tutorial notebook draw them; the RDM method
itself is Kriegeskorte et al. (2008).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._validation import suggest
from ._base import (
    GID_CLASS_BOUNDARY,
    GID_CONSTANT,
    _class_order,
    _finish,
    _grid_columns,
    _is_constant,
    _measure_label,
    _new_figure,
    _rdm_parts,
    _short_names,
    _styled,
)

_MAX_TICK_LABELS = 40


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


def _blocks(sorted_codes):
    """(start, stop) of each run of equal codes."""
    change = np.flatnonzero(np.diff(sorted_codes)) + 1
    starts = np.r_[0, change]
    stops = np.r_[change, len(sorted_codes)]
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _percentile(M):
    """Percentiles of the off-diagonal entries, as in the RSA tutorial notebook (diagonal 0)."""
    from scipy.stats import rankdata

    n = len(M)
    i, j = np.triu_indices(n, k=1)
    pct = rankdata(M[i, j], method="average") * (100.0 / max(len(i), 1))
    out = np.zeros_like(M)
    out[i, j] = pct
    out[j, i] = pct
    return out


def _rdm_title(provenance):
    parts = [str(provenance[k]) for k in ("model", "layer") if provenance.get(k) is not None]
    return " · ".join(parts) if parts else None


def _constant_text(M):
    """What a constant RDM holds, for its flat panel."""
    n = len(M)
    values = np.asarray(M, dtype=float)[~np.eye(n, dtype=bool)]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "constant: no structure\n(every pair undefined)"
    return f"constant: no structure\n(every pair {values[0]:.3g})"


def _draw_rdm(ax, M, classes, *, cmap, vmin, vmax, show_x=True, show_y=True, constant=None):
    """Heatmap of ``M`` (already sorted) with class boundaries and class tick labels.

    With ``constant`` (the text for a constant RDM), a flat grey panel that
    says so instead: no colour, so nothing suggests a structure. Returns the
    image, or None for a flat panel.
    """
    if constant is not None:
        from matplotlib.colors import ListedColormap

        ax.imshow(np.zeros_like(M), cmap=ListedColormap(["0.9"]), interpolation="nearest")
        width = ax.get_position().width * ax.figure.get_figwidth() * 72  # points, about
        if width < 110:  # a small panel: the words on lines of their own
            constant = constant.replace(": ", ":\n", 1)
        text = ax.text(0.5, 0.5, constant, transform=ax.transAxes, ha="center", va="center",
                       fontsize=float(np.clip(width / 14, 5.0, 7.0)), color="0.25",
                       gid=GID_CONSTANT, wrap=False)
        text.set_in_layout(False)
        image = None
    else:
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
        as the RSA tutorial notebook does: structure stands out, but small
        differences can look large; show the raw RDM alongside. A constant
        RDM (every pair equally dissimilar, or undefined) is drawn either way
        as a flat grey panel marked "constant: no structure", without a
        colour bar.
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

    A constant RDM is drawn as a flat panel that says so, without a colour bar:

    >>> fig = plot_rdm(1 - np.eye(4))
    >>> len(fig.axes), fig.axes[0].texts[0].get_text()
    (1, 'constant: no structure\\n(every pair 1)')
    """
    M, ids, provenance = _rdm_parts(rdm, stimulus_ids)
    classes = _class_labels(labels, ids, column=label_column)
    constant = _constant_text(M) if _is_constant(M) else None
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
    image = _draw_rdm(ax, M, classes_sorted, cmap=cmap, vmin=vmin, vmax=vmax,
                      constant=constant)
    ax.set_title(title if title is not None else _rdm_title(provenance) or "")
    if classes is not None:
        ax.set_xlabel("stimuli, sorted by class")
        ax.set_ylabel("stimuli, sorted by class")
    if image is None:  # a constant RDM: no colour bar
        return _finish(fig, path)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.85, aspect=25)
    colorbar.set_label(_measure_label(provenance, percentile=percentile))
    colorbar.outline.set_visible(False)
    return _finish(fig, path)


def _panel_titles(titles, width):
    """Font size and text of panel titles that fit ``width`` points: 8 pt down to 5.5 pt,
    then a long name on two lines, broken at the ``.`` or ``_`` nearest its middle."""
    from ._placement import text_size

    room = 0.85 * width  # the rest keeps neighbouring titles apart
    widest = max(text_size(t, 8)[0] for t in titles)
    size = float(np.clip(8 * room / widest, 5.5, 8.0)) if widest else 8.0
    out = []
    for title in titles:
        if text_size(title, size)[0] <= room:
            out.append(title)
            continue
        cuts = [i + 1 for i, c in enumerate(title[:-1]) if c in "._"]
        if not cuts:
            out.append(title)
            continue
        cut = min(cuts, key=lambda i: abs(i - len(title) / 2))
        out.append(f"{title[:cut]}\n{title[cut:]}")
    return size, out


def _crowded(names, width):
    """Whether class names, side by side under a panel ``width`` points wide, would touch."""
    from ._placement import text_size

    per_class = width / max(len(names), 1)
    return any(text_size(name, 7)[0] + 2 > per_class for name in names)


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
        Colour each panel by percentiles (as the RSA tutorial notebook does),
        so layers whose dissimilarities differ in scale share one colourbar.
        With False, the panels share the raw scale 0 to the largest value over
        all of them.
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
        One axes per RDM, then the colourbar. A constant RDM (e.g. the
        zero-initialised head of an untrained network) is a flat grey panel
        marked "constant: no structure", outside the colour scale.

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
    constants = [_constant_text(M) if _is_constant(M) else None for _, M, _, _ in items]
    matrices = [(_percentile(M) if percentile else M)[np.ix_(order, order)]
                for _, M, _, _ in items]
    varying = [M for M, c in zip(matrices, constants, strict=True) if c is None]
    vmax = 100.0 if percentile else max((float(np.nanmax(M)) for M in varying),
                                        default=1.0) or 1.0
    ncols = min(ncols or _grid_columns(n), n)
    nrows = int(np.ceil(n / ncols))
    panel = min(1.75, 6.3 / ncols)
    fig = _new_figure(panel * ncols + 0.9, panel * nrows + 0.45)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    titles = _short_names([t if t is not None else f"RDM {k}" for k, (t, *_) in
                           enumerate(items)])
    title_size, titles = _panel_titles(titles, 72 * panel)
    turn = classes_sorted is not None and _crowded(classes_sorted[1], 72 * panel)
    image = None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        row, col = divmod(k, ncols)
        last_in_col = k + ncols >= n
        drawn = _draw_rdm(ax, matrices[k], classes_sorted, cmap=cmap, vmin=0.0, vmax=vmax,
                          show_x=last_in_col, show_y=col == 0, constant=constants[k])
        image = drawn if drawn is not None else image
        if not last_in_col:
            ax.set_xticks([])
        elif turn:  # class names side by side would run into each other
            ax.tick_params(axis="x", labelrotation=90)
        if col != 0:
            ax.set_yticks([])
        ax.set_title(titles[k], fontsize=title_size)
    models = {str(p.get("model")) for *_, p in items if p.get("model") is not None}
    if suptitle is None and len(models) == 1:
        suptitle = models.pop()
    if suptitle:
        fig.suptitle(suptitle)
    if image is None:  # every RDM is constant: nothing to put on a colour bar
        return _finish(fig, path)
    colorbar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, aspect=30)
    colorbar.set_label(_measure_label(items[0][3], percentile=percentile))
    colorbar.outline.set_visible(False)
    return _finish(fig, path)
