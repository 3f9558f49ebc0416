"""What a layer encodes about the stimuli: linear SVM decoding and per-unit ANOVA.

pytorch_feature_analysis runs ANOVAs within CNN units and SVMs on CNN activations. Here
:func:`decode` cross-validates a linear SVM that predicts any metadata column
(or given labels) from a layer, and :func:`unit_anova` tests every unit for a
difference between the groups of a column; :func:`unit_selectivity`
summarises that per layer (fraction of selective units, effect sizes).
"""

from __future__ import annotations

import logging

import numpy as np

from .._validation import check_option
from ..stats import correct_pvalues, list_corrections
from ._common import (
    _check_fraction,
    _check_int,
    _frame,
    _labelled,
    _layer_rng,
    _layers,
    _seed_column,
    _seed_entropy,
    _targets,
)

__all__ = ["decode", "unit_anova", "unit_selectivity"]

log = logging.getLogger(__name__)

_LABELS = ("model", "layer", "reduction")


def decode(X, target, *, stimuli=None, cv=5, C=1.0, n_permutations=0, seed=None,
           n_jobs=None, model=None, layer=None, stimulus_ids=None, **filters):
    """Cross-validated accuracy of a linear SVM predicting ``target`` from each layer.

    Units are standardised within each training fold (no information from
    the test fold), then ``sklearn.svm.SVC(kernel="linear", C=C)`` is fitted;
    folds are stratified by class and shuffled with ``seed``.

    Parameters
    ----------
    X : array-like of shape (n_stimuli, n_units), Store or path to a store
        One row per stimulus, or a store (every layer selected by ``model``,
        ``layer`` and ``filters``).
    target : str or array-like of shape (n_stimuli,)
        A metadata column of ``stimuli`` (e.g. ``"label"``), matched to the
        activations by stimulus id; or one class per row of the activations.
    stimuli : StimulusSet or pandas.DataFrame, optional
        Metadata indexed by stimulus id; needed when ``target`` is a column.
    cv : int, default=5
        Number of folds (at least 2). Every class needs at least ``cv`` stimuli.
    C : float, default=1.0
        Inverse regularisation strength of the SVM.
    n_permutations : int, default=0
        When positive, also refit on this many label permutations and report
        the permutation p-value ``(b + 1) / (n_permutations + 1)``, with ``b``
        the permutations scoring at least the real accuracy.
    seed : int, numpy.random.Generator or None, default=None
        Seeds the fold assignment and the label permutations. With an int, each
        layer gets the same folds whichever other layers are analysed with it.
    n_jobs : int, optional
        Folds (and permutations) fitted in parallel, as in scikit-learn.
    model, layer : str or sequence of str, optional
        For a store: which activations (default all). For an array: labels for
        the table.
    stimulus_ids : sequence of str, optional
        Ids of the rows of an array, to match a ``target`` column by id.
        Default: the rows are in the order of ``stimuli``.
    **filters
        Other store fields selecting activations, e.g. ``reduction="flatten"``.

    Returns
    -------
    pandas.DataFrame
        One row per layer: ``model``, ``layer``, ``reduction``, ``target``
        (the column name, None for given labels), ``accuracy`` (mean over
        folds), ``accuracy_sd`` (over folds), ``chance`` (share of the most
        frequent class), ``pvalue`` (None without permutations),
        ``n_stimuli``, ``n_units``, ``n_classes``, ``cv``, ``C``,
        ``n_permutations`` and ``seed``.

    Raises
    ------
    ValueError
        If ``target`` has missing values, fewer than 2 classes or a class with
        fewer than ``cv`` stimuli; if a parameter is out of range; or if the
        activations are not 2-D or hold NaN or infinity.
    KeyError
        If ``target`` names no column of ``stimuli`` (with a did-you-mean), if
        stimuli of the layer are missing from ``stimuli``, or if the store
        holds no matching activations.

    See Also
    --------
    unit_anova : Which single units differ between the classes.

    Notes
    -----
    Memory: a layer is held in float64 (``n_stimuli * n_units * 8`` bytes);
    the SVM's cost grows with ``n_stimuli ** 2 * n_units``.

    References
    ----------
    .. [1] Cortes, C., & Vapnik, V. (1995). Support-vector networks. Machine
       Learning, 20(3), 273-297.
    .. [2] Ojala, M., & Garriga, G. C. (2010). Permutation tests for studying
       classifier performance. JMLR, 11, 1833-1863.

    Examples
    --------
    Decoding the digit from the pixels of scikit-learn's 1797 digits:

    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> table = decode(X, y, seed=0, layer="pixels")
    >>> table[["layer", "accuracy", "chance", "n_classes"]].round(2)
        layer  accuracy  chance  n_classes
    0  pixels      0.98     0.1         10
    """
    from sklearn.model_selection import (
        StratifiedKFold,
        cross_val_score,
        permutation_test_score,
    )

    cv = _check_int("cv", cv, low=2)
    n_permutations = _check_int("n_permutations", n_permutations, low=0)
    C = _check_positive("C", C)
    layers = _layers(X, model=model, layer=layer, stimulus_ids=_ids(X, stimulus_ids, stimuli),
                     filters=filters)
    entropy = _seed_entropy(seed)
    rows = []
    for layer_ in layers:
        y, name = _targets(target, layer_, stimuli)
        classes, counts = np.unique(y.astype(str) if y.dtype == object else y,
                                    return_counts=True)
        _check_classes(classes, counts, name, cv=cv, kind=y.dtype.kind)
        rng = _layer_rng(entropy, layer_.info)
        folds = StratifiedKFold(n_splits=cv, shuffle=True,
                                random_state=int(rng.integers(2**31 - 1)))
        data = layer_.read()
        estimator = _svm(C)
        scores = cross_val_score(estimator, data, y, cv=folds, n_jobs=n_jobs)
        pvalue = None
        if n_permutations:
            _, _, pvalue = permutation_test_score(
                estimator, data, y, cv=folds, n_permutations=n_permutations, n_jobs=n_jobs,
                random_state=int(rng.integers(2**31 - 1)))
            pvalue = float(pvalue)
        log.info("Decoded %s from %s: accuracy %.3f", name, layer_.where, scores.mean())
        rows.append({**{k: layer_.info.get(k) for k in _LABELS}, "target": name,
                     "accuracy": float(scores.mean()), "accuracy_sd": float(scores.std()),
                     "chance": float(counts.max() / counts.sum()), "pvalue": pvalue,
                     "n_stimuli": layer_.n_stimuli, "n_units": layer_.n_units,
                     "n_classes": len(classes), "cv": cv, "C": C,
                     "n_permutations": n_permutations, "seed": _seed_column(seed)})
    table = _frame(rows, [*_LABELS, "target", "accuracy", "accuracy_sd", "chance", "pvalue",
                          "n_stimuli", "n_units", "n_classes", "cv", "C", "n_permutations",
                          "seed"])
    return _labelled(table, layers, "decode", target=name, cv=cv, C=C,
                     n_permutations=n_permutations, seed=_seed_column(seed))


def _svm(C):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(kernel="linear", C=C))


def _ids(X, stimulus_ids, stimuli):
    """Row ids of an array: given, else those of ``stimuli`` (which must have one per row)."""
    from ._common import _is_store, _metadata

    if stimulus_ids is not None or stimuli is None or _is_store(X):
        return stimulus_ids
    index = _metadata(stimuli).index
    if len(index) != len(X):
        raise ValueError(f"X has {len(X)} rows but stimuli has {len(index)}; pass "
                         "stimulus_ids= to say which stimulus each row is.")
    return [str(s) for s in index]


def _check_positive(name, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value}.")
    return float(value)


def _check_classes(classes, counts, name, *, cv=None, kind="i"):
    label = f"column {name!r}" if name else "target"
    classes = [c.item() if isinstance(c, np.generic) else c for c in classes]
    if len(classes) < 2:
        raise ValueError(f"The {label} has a single class ({classes[0]!r}); decoding and "
                         "ANOVA need at least 2.")
    if cv is not None and counts.min() < cv:
        few = classes[int(np.argmin(counts))]
        hint = (" Decoding classifies: bin a continuous column first, e.g. with pandas.qcut."
                if kind == "f" else "")
        raise ValueError(f"Class {few!r} of the {label} has {counts.min()} stimuli; cv={cv} "
                         f"folds need at least {cv} per class. Lower cv or drop the class."
                         f"{hint}")


# ====================================================================== ANOVA


def unit_anova(X, target, *, stimuli=None, alpha=0.05, correction="fdr_bh", model=None,
               layer=None, stimulus_ids=None, **filters):
    """One-way ANOVA of every unit over the groups of ``target``.

    Parameters
    ----------
    X : array-like of shape (n_stimuli, n_units), Store or path to a store
        One row per stimulus, or a store (every layer selected by ``model``,
        ``layer`` and ``filters``), read a tile of rows at a time (twice).
    target : str or array-like of shape (n_stimuli,)
        The grouping: a metadata column of ``stimuli`` (e.g. ``"label"``),
        matched by stimulus id, or one group per row of the activations.
    stimuli : StimulusSet or pandas.DataFrame, optional
        Metadata indexed by stimulus id; needed when ``target`` is a column.
    alpha : float, default=0.05
        A unit is selective when its adjusted p-value is below ``alpha``.
    correction : str, default="fdr_bh"
        Correction for testing every unit of a layer, per layer, a registered
        name (``"fdr_bh"``, ``"fdr_by"``, ``"bonferroni"``, ``"holm"``, or
        ``"none"`` to leave the p-values as they are); see
        :func:`deeprsa.stats.correct_pvalues` and
        :func:`deeprsa.stats.list_corrections`.
    model, layer : str or sequence of str, optional
        For a store: which activations (default all). For an array: labels.
    stimulus_ids : sequence of str, optional
        Ids of the rows of an array, to match a ``target`` column by id.
        Default: the rows are in the order of ``stimuli``.
    **filters
        Other store fields selecting activations, e.g. ``reduction="flatten"``.

    Returns
    -------
    pandas.DataFrame
        One row per unit of each layer: ``model``, ``layer``, ``reduction``,
        ``target``, ``unit`` (column index in the layer), ``F``, ``pvalue``,
        ``pvalue_adjusted``, ``eta_squared``, ``omega_squared`` and
        ``selective``. A constant unit has NaN statistics and is not selective.

    Raises
    ------
    ValueError
        If ``target`` has missing values or fewer than 2 groups, if there are
        no more stimuli than groups, if ``alpha`` or ``correction`` is invalid,
        or if the activations are not 2-D or hold NaN or infinity.
    KeyError
        As :func:`decode`.

    See Also
    --------
    unit_selectivity : The per-layer summary.
    scipy.stats.f_oneway : The same F and p-value for one unit.

    Notes
    -----
    With ``k`` groups and ``n`` stimuli, ``F = (SSB / (k - 1)) / (SSW / (n - k))``,
    ``eta_squared = SSB / SST`` and ``omega_squared = (SSB - (k - 1) MSW) /
    (SST + MSW)``, the less biased estimate of the variance explained. A unit
    constant within every group but not across groups has ``F = inf`` and
    ``p = 0``, as in ``scipy.stats.f_oneway``.

    References
    ----------
    .. [1] Fisher, R. A. (1925). Statistical Methods for Research Workers.
       Oliver & Boyd.
    .. [2] Olejnik, S., & Algina, J. (2003). Generalized eta and omega squared
       statistics. Psychological Methods, 8(4), 434-447.
    .. [3] Benjamini, Y., & Hochberg, Y. (1995). Controlling the false
       discovery rate. J. R. Stat. Soc. B, 57(1), 289-300.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(["a", "b", "c"], 20)
    >>> X = rng.standard_normal((60, 4))
    >>> X[:, 0] += 2.0 * (groups == "a")          # unit 0 responds to group "a"
    >>> table = unit_anova(X, groups, layer="toy")
    >>> table[["unit", "F", "eta_squared", "selective"]].round(2)
       unit      F  eta_squared  selective
    0     0  27.29         0.49       True
    1     1   0.22         0.01      False
    2     2   3.55         0.11      False
    3     3   0.42         0.01      False
    """
    import pandas as pd

    frames = []
    seen = []
    for layer_, name, stats in _anova_layers(X, target, stimuli=stimuli, alpha=alpha,
                                             correction=correction, model=model, layer=layer,
                                             stimulus_ids=stimulus_ids, filters=filters):
        seen.append(layer_)
        frame = pd.DataFrame({"unit": np.arange(layer_.n_units), **stats})
        for i, col in enumerate([*_LABELS, "target"]):
            frame.insert(i, col, name if col == "target" else layer_.info.get(col))
        frames.append(frame)
    columns = [*_LABELS, "target", "unit", "F", "pvalue", "pvalue_adjusted", "eta_squared",
               "omega_squared", "selective"]
    table = pd.concat(frames, ignore_index=True)[columns] if frames else _frame([], columns)
    return _labelled(table, seen, "unit_anova", alpha=alpha, correction=correction)


def unit_selectivity(X, target, *, stimuli=None, alpha=0.05, correction="fdr_bh",
                     model=None, layer=None, stimulus_ids=None, **filters):
    """Per layer: the fraction of units selective for ``target``, and their effect sizes.

    Runs :func:`unit_anova` and summarises each layer; see there for the
    parameters.

    Returns
    -------
    pandas.DataFrame
        One row per layer: ``model``, ``layer``, ``reduction``, ``target``,
        ``n_selective``, ``fraction_selective`` (of all units),
        ``mean_eta_squared``, ``median_eta_squared`` and
        ``mean_omega_squared`` (over non-constant units), ``n_units``,
        ``n_constant``, ``n_stimuli``, ``n_groups``, ``alpha`` and
        ``correction``.

    Raises
    ------
    ValueError, KeyError
        As :func:`unit_anova`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat([0, 1], 50)
    >>> X = rng.standard_normal((100, 200))
    >>> X[:, :50] += 2.0 * groups[:, None]     # a quarter of the units are selective
    >>> unit_selectivity(X, groups, correction="bonferroni")[["n_selective",
    ...                                                      "fraction_selective"]]
       n_selective  fraction_selective
    0           50                0.25
    >>> int(unit_selectivity(X, groups, correction="none").n_selective[0])  # 8 false positives
    58
    """
    rows, seen = [], []
    for layer_, name, stats in _anova_layers(X, target, stimuli=stimuli, alpha=alpha,
                                             correction=correction, model=model, layer=layer,
                                             stimulus_ids=stimulus_ids, filters=filters):
        seen.append(layer_)
        defined = ~np.isnan(stats["eta_squared"])
        n_selective = int(stats["selective"].sum())
        eta, omega = stats["eta_squared"][defined], stats["omega_squared"][defined]
        rows.append({**{k: layer_.info.get(k) for k in _LABELS}, "target": name,
                     "n_selective": n_selective,
                     "fraction_selective": n_selective / layer_.n_units,
                     "mean_eta_squared": float(eta.mean()) if eta.size else np.nan,
                     "median_eta_squared": float(np.median(eta)) if eta.size else np.nan,
                     "mean_omega_squared": float(omega.mean()) if omega.size else np.nan,
                     "n_units": layer_.n_units, "n_constant": int((~defined).sum()),
                     "n_stimuli": layer_.n_stimuli, "n_groups": stats["n_groups"],
                     "alpha": alpha, "correction": correction})
    table = _frame(rows, [*_LABELS, "target", "n_selective", "fraction_selective",
                          "mean_eta_squared", "median_eta_squared", "mean_omega_squared",
                          "n_units", "n_constant", "n_stimuli", "n_groups", "alpha",
                          "correction"])
    return _labelled(table, seen, "unit_selectivity", alpha=alpha, correction=correction)


def _anova_layers(X, target, *, stimuli, alpha, correction, model, layer, stimulus_ids,
                  filters):
    """Yield ``(layer, target name, per-unit statistics)`` for every selected layer."""
    import pandas as pd

    alpha = _check_fraction("alpha", alpha)
    check_option("correction", correction, list_corrections())
    layers = _layers(X, model=model, layer=layer, stimulus_ids=_ids(X, stimulus_ids, stimuli),
                     filters=filters)
    for layer_ in layers:
        y, name = _targets(target, layer_, stimuli)
        codes, groups = pd.factorize(y, sort=True)
        counts = np.bincount(codes, minlength=len(groups))
        _check_classes(np.asarray(groups), counts, name)
        if layer_.n_stimuli <= len(groups):
            raise ValueError(f"{layer_.where} has {layer_.n_stimuli} stimuli in "
                             f"{len(groups)} groups; an ANOVA needs more stimuli than groups.")
        stats = _anova(layer_, codes, counts)
        stats["pvalue_adjusted"] = correct_pvalues(stats["pvalue"], method=correction)
        with np.errstate(invalid="ignore"):
            stats["selective"] = stats["pvalue_adjusted"] < alpha
        stats["n_groups"] = len(groups)
        yield layer_, name, stats


def _anova(layer_, codes, counts) -> dict:
    """F, p, eta^2 and omega^2 of every unit, in two passes over row tiles."""
    from scipy.special import fdtrc

    k, n, p = len(counts), layer_.n_stimuli, layer_.n_units
    sums = np.zeros((k, p))
    for start, block in layer_.tiles():
        sums += _indicator(codes[start:start + len(block)], k) @ block
    means = sums / counts[:, None]
    grand = sums.sum(axis=0) / n
    ss_within = np.zeros(p)
    low = np.full((k, p), np.inf)
    high = np.full((k, p), -np.inf)
    for start, block in layer_.tiles():
        c = codes[start:start + len(block)]
        ss_within += ((block - means[c]) ** 2).sum(axis=0)
        for g in np.unique(c):
            rows = block[c == g]
            low[g] = np.minimum(low[g], rows.min(axis=0))
            high[g] = np.maximum(high[g], rows.max(axis=0))
    ss_between = (counts[:, None] * (means - grand) ** 2).sum(axis=0)
    flat_within = (low == high).all(axis=0)
    constant = flat_within & (low == low[0]).all(axis=0)
    ss_within[flat_within] = 0.0
    ss_between[constant] = 0.0
    df_between, df_within = k - 1, n - k
    ms_within = ss_within / df_within
    ss_total = ss_between + ss_within
    with np.errstate(divide="ignore", invalid="ignore"):
        F = (ss_between / df_between) / ms_within
        eta = ss_between / ss_total
        omega = (ss_between - df_between * ms_within) / (ss_total + ms_within)
    F[flat_within & ~constant] = np.inf
    pvalue = fdtrc(df_between, df_within, F)
    for values in (F, pvalue, eta, omega):
        values[constant] = np.nan
    return {"F": F, "pvalue": pvalue, "eta_squared": eta, "omega_squared": omega}


def _indicator(codes, k) -> np.ndarray:
    out = np.zeros((k, len(codes)))
    out[codes, np.arange(len(codes))] = 1.0
    return out
