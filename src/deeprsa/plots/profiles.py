"""Layers against a target: the layer profile of each model, and the weights of weighted RSA.

:func:`plot_layer_profile` draws, for each model, how well every layer
matches a target (brain or behavioural RDMs) against depth, with its
bootstrap confidence band, the target's noise ceiling and the layer chosen by
cross-validation (the table of :func:`deeprsa.analyses.layer_profile`).
:func:`plot_weights` draws the non-negative weights of
:func:`deeprsa.analyses.weighted_rsa`.
"""

from __future__ import annotations

import numpy as np

from ._base import (
    _METHOD_LABELS,
    _finish,
    _grid_columns,
    _group_colours,
    _new_figure,
    _short_names,
    _styled,
)

#: Ids of the artists tests and readers can look up (``artist.get_gid()``).
GID_NOISE_CEILING = "noise-ceiling"
GID_CI_BAND = "ci-band"
GID_BEST_LAYER = "best-layer"

_CEILING_GREY = "0.85"


def _method_label(method):
    return {"corr_cov": "whitened Pearson r", "cosine_cov": "whitened cosine"}.get(
        method, _METHOD_LABELS.get(method, method))


@_styled
def plot_layer_profile(profile, *, model=None, alpha=0.05, title=None, path=None):
    """Score against depth for each model: CI band, noise-ceiling band, best layer marked.

    Parameters
    ----------
    profile : LayerProfileResult
        From :func:`deeprsa.analyses.layer_profile`.
    model : str or list of str, optional
        Only these models (one panel each); default all.
    alpha : float, default=0.05
        Layers whose corrected p-value (``p_corrected``) is at most ``alpha``
        are drawn as filled circles, the others as open circles.
    title : str, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per model, layers along the bottom in depth order, the
        target named in the title; the line is the mean comparison with the
        target's RDMs, the band its
        confidence interval, the grey band the noise ceiling (lower to upper
        bound; absent for a single target RDM), the star the layer chosen by
        cross-validation over stimuli, labelled with its held-out score.

    Examples
    --------
    >>> from deeprsa import RDM
    >>> from deeprsa.analyses import layer_profile
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"s{i}" for i in range(10)]
    >>> layers = [RDM.from_vector(rng.random(45), ids, {"model": "net", "layer": f"l{k}"})
    ...           for k in range(3)]
    >>> brain = [RDM.from_vector(layers[2].vector() + rng.random(45), ids) for _ in range(3)]
    >>> fig = plot_layer_profile(layer_profile(layers, brain, n_resamples=50, cv=2, seed=0))
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['l0', 'l1', 'l2']
    """
    table, best = profile.table, profile.best.set_index("model")
    models = list(dict.fromkeys(table["model"]))
    if model is not None:
        wanted = [model] if isinstance(model, str) else list(model)
        unknown = [m for m in wanted if m not in models]
        if unknown:
            from .._validation import check_option

            check_option("model", unknown[0], models)
        models = wanted
    n_cols = _grid_columns(len(models)) if len(models) > 3 else len(models)
    n_rows = int(np.ceil(len(models) / n_cols))
    fig = _new_figure(min(7.0, 2.6 * n_cols + 0.6), 2.4 * n_rows + 0.4)
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, sharey=True, squeeze=False)).ravel()
    colours = _group_colours(models)
    for ax, name in zip(axes, models, strict=False):
        _profile_panel(ax, table[table["model"] == name], best.loc[name], colours[name], alpha)
        ax.set_title(name)
    for ax in axes[len(models):]:
        ax.set_visible(False)
    shown = table[table["model"].isin(models)]
    top = np.nanmax(np.r_[shown["ci_high"], shown["noise_ceiling_upper"], shown["estimate"]])
    bottom = min(np.nanmin(np.r_[shown["ci_low"], shown["estimate"]]), 0.0)
    margin = 0.08 * (top - bottom) if top > bottom else 0.1
    axes[0].set_ylim(bottom - 2.5 * margin, top + margin)  # room for the label at the bottom
    first = table.iloc[0]
    for ax in axes[::n_cols]:
        ax.set_ylabel(_method_label(first["method"]))
    _legend(fig, table, alpha)
    fig.suptitle(title or f"Layers against {first['target']}")
    return _finish(fig, path)


def _profile_panel(ax, rows, best, colour, alpha):
    depth = rows["depth"].to_numpy()
    estimate = rows["estimate"].to_numpy(dtype=float)
    lower, upper = rows["noise_ceiling_lower"].iloc[0], rows["noise_ceiling_upper"].iloc[0]
    if np.isfinite([lower, upper]).all():
        band = ax.axhspan(lower, upper, color=_CEILING_GREY, zorder=0, linewidth=0)
        band.set_gid(GID_NOISE_CEILING)
    ax.axhline(0, color="0.5", linewidth=0.6, zorder=1)
    ci = ax.fill_between(depth, rows["ci_low"].to_numpy(dtype=float),
                         rows["ci_high"].to_numpy(dtype=float), color=colour, alpha=0.25,
                         linewidth=0, zorder=2)
    ci.set_gid(GID_CI_BAND)
    ax.plot(depth, estimate, color=colour, linewidth=1.2, zorder=3)
    significant = rows["p_corrected"].to_numpy(dtype=float) <= alpha
    ax.scatter(depth[significant], estimate[significant], s=18, color=colour, zorder=4)
    ax.scatter(depth[~significant], estimate[~significant], s=18, facecolor="white",
               edgecolor=colour, linewidth=1, zorder=4)
    at = int(best["depth"])
    star = ax.scatter([at], [estimate[at]], marker="*", s=140, color="black", zorder=5)
    star.set_gid(GID_BEST_LAYER)
    ax.text(0.98, 0.03, f"★ {best['layer']}: held-out {best['held_out']:.2f}",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    ax.set_xticks(depth, _short_names(rows["layer"]), rotation=45 if len(depth) > 6 else 0,
                  ha="right" if len(depth) > 6 else "center")
    ax.set_xlim(depth.min() - 0.4, depth.max() + 0.4)
    ax.set_xlabel("layer (depth order)")


def _legend(fig, table, alpha):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    row = table.iloc[0]
    handles = [Line2D([], [], color="0.3", marker="o", markersize=4,
                      label=f"layer (filled: corrected p ≤ {alpha:g})"),
               Patch(color="0.3", alpha=0.25,
                     label=f"{row['confidence']:.0%} CI, bootstrap over {row['over']}"),
               Line2D([], [], color="black", marker="*", linestyle="none", markersize=8,
                      label="best layer (cross-validated)")]
    if np.isfinite(row["noise_ceiling_lower"]):
        handles.insert(2, Patch(color=_CEILING_GREY, label="noise ceiling"))
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)


@_styled
def plot_weights(weighted, *, title=None, path=None):
    """The non-negative weights of each layer RDM in a weighted-RSA fit.

    Parameters
    ----------
    weighted : WeightedRSAResult
        From :func:`deeprsa.analyses.weighted_rsa`.
    title : str, optional
    path : str or Path, optional
        Also save the figure there as PNG and SVG.

    Returns
    -------
    matplotlib.figure.Figure
        One bar per layer RDM (coloured by model, as are the layer names;
        dashed lines separate the models; in depth order), its weight
        fitted on every stimulus; the error bar is the standard deviation of
        the weights fitted in the cross-validation folds (cut at 0, as the
        weights are non-negative); the title gives the mean held-out score.

    Examples
    --------
    >>> from deeprsa import RDM
    >>> from deeprsa.analyses import weighted_rsa
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"s{i}" for i in range(10)]
    >>> parts = [rng.random(45) for _ in range(3)]
    >>> layers = [RDM.from_vector(p, ids, {"model": "net", "layer": f"l{k}"})
    ...           for k, p in enumerate(parts)]
    >>> fig = plot_weights(weighted_rsa(layers, RDM.from_vector(parts[0] + parts[2], ids),
    ...                                 cv=2, seed=0))
    >>> [round(float(bar.get_height()), 2) for bar in fig.axes[0].patches]
    [0.71, 0.0, 0.71]
    """
    weights = weighted.weights
    n = len(weights)
    fig = _new_figure(min(7.0, 1.6 + 0.35 * n), 2.6)
    ax = fig.subplots()
    models = [str(m) for m in weights["model"]]
    colours = _group_colours(models)
    x = np.arange(n)
    w = weights["weight"].to_numpy(dtype=float)
    sd = np.nan_to_num(weights["sd_weight"].to_numpy(dtype=float))
    ax.bar(x, w, color=[colours[m] for m in models], yerr=[np.minimum(sd, w), sd], capsize=2,
           error_kw={"linewidth": 0.8})  # weights are >= 0: the bar stops at 0
    ax.set_xticks(x, _short_names(weights["layer"]), rotation=45 if n > 4 else 0,
                  ha="right" if n > 4 else "center")
    if len(colours) > 1:
        from matplotlib.patches import Patch

        for label, m in zip(ax.get_xticklabels(), models, strict=True):
            label.set_color(colours[m])  # which model a layer belongs to, even at weight 0
        for k in range(1, n):
            if models[k] != models[k - 1]:
                ax.axvline(k - 0.5, color="0.7", linewidth=0.6, linestyle="--")

        ax.legend(handles=[Patch(color=c, label=m) for m, c in colours.items()],
                  title="model", frameon=False)
    ax.set_ylabel("weight (unit norm)")
    ax.set_ylim(0, max(1.0, float(np.max(w + sd))) * 1.05)
    method = _method_label(weighted.method)
    ax.set_title(title or f"Weighted RSA on {weighted.target}: held-out {method} "
                          f"{weighted.held_out:.2f}")
    return _finish(fig, path)
