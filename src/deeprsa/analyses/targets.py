"""Layer profiles against a target: how well each layer matches brain or behavioural RDMs.

:func:`layer_profile` compares the RDM of every layer of every model with a
target (one RDM per subject or session, e.g. from :func:`deeprsa.load_rdms`):
the mean comparison over subjects with a bootstrap confidence interval (over
stimuli, subjects or both), a one-sided test against zero corrected across
layers, the noise ceiling of the target, and each model's best layer chosen
by cross-validation over stimuli. This is model evaluation as rsatoolbox does
it (Nili et al., 2014; Schuett et al., 2023), for every layer at once.

The best layer is never the maximum over layers of the same data, which is
biased upward: each fold chooses on its training stimuli and scores the
chosen layer on its held-out stimuli (the RDM entries among them), as
rsatoolbox's ``crossval`` with a ``ModelSelect`` model does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_option
from ._common import _is_store, _open_store, _seed_entropy

__all__ = ["LayerProfileResult", "layer_profile"]

# Who is resampled: the profile's word -> bootstrap_rdm_comparison's (subjects are its seeds).
_OVER = {"stimuli": "stimuli", "subjects": "seeds", "both": "both"}


@dataclass(frozen=True, eq=False)
class LayerProfileResult:
    """Result of :func:`layer_profile`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model and layer, in depth order: ``model``, ``layer``,
        ``depth`` (0 for the first selected layer), ``target``, ``method``,
        ``estimate`` (mean comparison with the target's RDMs), ``ci_low``,
        ``ci_high``, ``standard_error``, ``p_value`` (one-sided t-test of
        ``estimate > 0`` with the bootstrap standard error), ``p_corrected``
        (across every row), ``noise_ceiling_lower``, ``noise_ceiling_upper``
        (NaN for one target RDM), ``over``, ``interval``, ``confidence``,
        ``n_resamples``, ``n_subjects`` and ``n_stimuli``.
    best : pandas.DataFrame
        One row per model: ``layer`` (chosen in most folds; ties go to the
        shallower layer), ``depth``, ``n_chosen`` (folds that chose it),
        ``held_out`` (mean over folds of the held-out score of each fold's
        choice: the score of choosing by cross-validation), ``n_folds``.
    folds : pandas.DataFrame
        One row per model and fold: ``fold``, ``layer`` (chosen on the
        training stimuli), ``train_score``, ``held_out``, ``n_train``,
        ``n_test``.
    bootstrap : mapping of str to ComparisonBootstrapResult
        Each model's bootstrap (distributions and resampled indices); every
        model gets the same resamples.
    """

    table: Any
    best: Any
    folds: Any
    bootstrap: Any

    def __repr__(self):
        return (f"LayerProfileResult({len(self.table)} layers of {len(self.best)} models, "
                f"method={self.table['method'].iloc[0]!r})")


def layer_profile(rdms, target, *, model=None, layer=None, method: str = "spearman",
                  over: str = "stimuli", n_resamples: int = 1000, confidence: float = 0.95,
                  interval: str = "t", correction: str = "fdr_bh", cv=5, seed=None,
                  **filters) -> LayerProfileResult:
    """Compare every layer of every model with a target: scores, CIs, noise ceiling, best layer.

    Parameters
    ----------
    rdms : Store, path, RDMs or list of RDM
        The layers' RDMs: a store (every RDM matching ``model``, ``layer``
        and ``filters``) or RDMs whose provenance names ``model`` and ``layer``
        (in depth order).
    target : RDMs, RDM, list of RDM, or a path for :func:`deeprsa.load_rdms`
        One RDM per subject or session. Its labels are matched to the layers'
        stimuli by name (:func:`deeprsa.rdm.match_stimuli`).
    model, layer : str or list of str, optional
        Only these models and layers (from a store).
    method : str, default="spearman"
        A registered RDM comparison method (:func:`deeprsa.compare.list_methods`),
        e.g. ``"corr_cov"`` for the whitened correlation.
    over : {"stimuli", "subjects", "both"}, default="stimuli"
        What the bootstrap resamples: stimuli (generalise to new stimuli),
        the target's subjects (to new subjects; needs 2 or more), or both
        (with rsatoolbox's dual-bootstrap correction).
    n_resamples : int, default=1000
    confidence : float, default=0.95
    interval : {"t", "percentile", "basic", "bca", "normal"}, default="t"
        How the interval is formed; see :func:`deeprsa.stats.bootstrap_rdm_comparison`.
    correction : str, default="fdr_bh"
        Correction of the p-values across every layer of every model in the
        profile (:func:`deeprsa.stats.correct_pvalues`); ``"none"`` for none.
    cv : int or sequence of sequences of str, default=5
        The folds that choose the best layer: a number of folds (stimuli
        shuffled with ``seed``, then split), or the held-out stimulus ids of
        each fold. Every fold needs at least 3 training and 3 held-out stimuli.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the bootstrap and the folds: an int gives the same result on
        every run, a Generator is used (and advanced) as is, None draws fresh
        entropy.
    **filters
        Store fields that select the RDMs, e.g. ``measure="correlation"``.

    Returns
    -------
    LayerProfileResult
        ``.table`` (one row per layer), ``.best`` (one row per model),
        ``.folds`` and the bootstrap distributions.

    Raises
    ------
    ValueError
        If the target's labels and the stimuli differ (the message lists
        them), ``over`` needs more subjects than the target has, or a fold is
        too small.

    Notes
    -----
    The estimate of each layer is rsatoolbox's ``eval_fixed`` (the mean over
    subjects of ``compare``); the bootstrap draws and variances are those of
    ``eval_bootstrap_pattern``, ``eval_bootstrap_rdm`` and
    ``eval_dual_bootstrap`` on the same resamples; the noise ceiling is
    ``boot_noise_ceiling``. The ``t`` interval and the p-value are centred on
    the full-data estimate, where rsatoolbox centres on the mean of the
    bootstrap values.

    References
    ----------
    .. [1] Nili, H., Wingfield, C., Walther, A., Su, L., Marslen-Wilson, W., &
       Kriegeskorte, N. (2014). A toolbox for representational similarity
       analysis. PLoS Comput. Biol., 10(4), e1003553.
    .. [2] Schuett, H. H., Kipnis, A. D., Diedrichsen, J., & Kriegeskorte, N.
       (2023). Statistical inference on representational geometries. eLife,
       12, e82566.

    Examples
    --------
    >>> from deeprsa import RDM
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"s{i}" for i in range(12)]
    >>> X = rng.standard_normal((12, 5))
    >>> def rdm(noise, **provenance):
    ...     Y = X + noise * rng.standard_normal(X.shape)
    ...     return RDM(np.linalg.norm(Y[:, None] - Y[None], axis=-1), ids, provenance)
    >>> layers = [rdm(noise, model="net", layer=f"l{k}") for k, noise in enumerate([3, 1, 0.3])]
    >>> brain = [rdm(0.5, target="IT") for _ in range(4)]
    >>> result = layer_profile(layers, brain, n_resamples=100, cv=3, seed=0)
    >>> result.table[["layer", "estimate", "ci_low", "ci_high"]].round(2)
      layer  estimate  ci_low  ci_high
    0    l0     -0.03   -0.41     0.34
    1    l1      0.35   -0.02     0.73
    2    l2      0.63    0.44     0.83
    >>> result.best[["model", "layer", "n_chosen", "held_out"]].round(2)
      model layer  n_chosen  held_out
    0   net    l2         3      0.51
    """
    import pandas as pd

    from ..stats import bootstrap_rdm_comparison, correct_pvalues

    check_option("over", over, _OVER)
    models = _model_rdms(rdms, model=model, layer=layer, filters=filters)
    entropy = _seed_entropy(seed)
    rows, best, folds, boot = [], [], [], {}
    for name, layers in models.items():
        subjects = _target_rdms(target, layers.stimulus_ids)
        if over != "stimuli" and len(subjects) < 2:
            raise ValueError(f"Resampling subjects (over={over!r}) needs at least 2 target "
                             f"RDMs (one per subject or session); the target has "
                             f"{len(subjects)}. Use over='stimuli'.")
        result = bootstrap_rdm_comparison(layers, subjects, method=method, over=_OVER[over],
                                          n_resamples=n_resamples, confidence=confidence,
                                          interval=interval, seed=entropy)
        boot[name] = result
        rows += _profile_rows(name, layers, subjects, result, over)
        chosen = _choose_by_cv(layers, subjects, method, cv, np.random.default_rng(entropy))
        folds += [{"model": name, **f} for f in chosen]
        best.append(_best_row(name, layers, chosen))
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("p_value") + 1, "p_corrected",
                 correct_pvalues(table["p_value"].to_numpy(dtype=float), method=correction))
    return LayerProfileResult(table, pd.DataFrame(best), pd.DataFrame(folds), boot)


def _profile_rows(name, layers, subjects, result, over):
    from scipy import stats

    n_stimuli, n_subjects = len(layers.stimulus_ids), len(subjects)
    dof = {"stimuli": n_stimuli, "subjects": n_subjects, "both": min(n_stimuli, n_subjects)}
    rows = []
    for depth, (rdm, row) in enumerate(zip(layers, result.table.itertuples(), strict=True)):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = row.estimate / row.standard_error
        p = float(stats.t.sf(t, dof[over] - 1)) if np.isfinite(t) else np.nan
        rows.append({
            "model": name, "layer": rdm.provenance.get("layer", str(depth)), "depth": depth,
            "target": _target_name(subjects), "method": row.method,
            "estimate": row.estimate, "ci_low": row.ci_low, "ci_high": row.ci_high,
            "standard_error": row.standard_error, "p_value": p,
            "noise_ceiling_lower": getattr(row, "noise_ceiling_lower", np.nan),
            "noise_ceiling_upper": getattr(row, "noise_ceiling_upper", np.nan),
            "over": over, "interval": row.interval, "confidence": row.confidence,
            "n_resamples": row.n_resamples, "n_subjects": n_subjects,
            "n_stimuli": n_stimuli})
    return rows


def _target_name(subjects):
    names = {str(r.provenance["target"]) for r in subjects if "target" in r.provenance}
    return names.pop() if len(names) == 1 else "target"


# ============================================================================ cross-validation


def stimulus_folds(stimulus_ids, cv, rng) -> list[tuple[list[str], list[str]]]:
    """``[(training ids, held-out ids)]`` of each fold, both in the stimuli's order.

    ``cv`` is a number of folds (the stimuli shuffled by ``rng``, then split
    into near-equal parts) or the held-out ids of each fold.
    """
    ids = list(stimulus_ids)
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"cv must be a number of folds >= 2 or the held-out stimulus ids "
                             f"of each fold; got {cv}.")
        held_out = [[ids[i] for i in sorted(part)]
                    for part in np.array_split(rng.permutation(len(ids)), int(cv))]
    elif isinstance(cv, (list, tuple)) and cv and not isinstance(cv[0], str):
        held_out = [[str(s) for s in part] for part in cv]
        known = set(ids)
        for k, part in enumerate(held_out):
            unknown = [s for s in part if s not in known]
            if unknown:
                raise ValueError(f"Fold {k} holds out {len(unknown)} stimulus id(s) that are "
                                 f"not among the stimuli, e.g. {unknown[:3]}.")
    else:
        raise TypeError(f"cv must be a number of folds or a list of held-out id lists, got "
                        f"{type(cv).__name__} {cv!r:.60}.")
    out = []
    for k, part in enumerate(held_out):
        test = set(part)
        train = [s for s in ids if s not in test]
        if len(test) < 3 or len(train) < 3:
            raise ValueError(
                f"Fold {k} has {len(train)} training and {len(test)} held-out stimuli; each "
                f"needs at least 3 (the RDM entries among them are compared). Use fewer "
                f"folds (cv < {max(2, len(ids) // 3)}).")
        out.append((train, [s for s in ids if s in test]))
    return out


def _scores(layers, subjects, ids, method):
    """Mean comparison over subjects of each layer, on the RDM entries among ``ids``."""
    from ..compare import compare_rdms

    return compare_rdms(layers.subset(ids), subjects.subset(ids),
                        method=method).matrix.mean(axis=1)


def _choose_by_cv(layers, subjects, method, cv, rng):
    """Each fold's choice (best on its training stimuli) and that choice's held-out score."""
    folds = []
    for k, (train, test) in enumerate(stimulus_folds(layers.stimulus_ids, cv, rng)):
        train_scores = _scores(layers, subjects, train, method)
        if np.isnan(train_scores).all():
            choice = 0
        else:
            choice = int(np.nanargmax(train_scores))
        held_out = _scores(layers[[choice]], subjects, test, method)[0]
        folds.append({"fold": k, "layer": _layer_name(layers[choice], choice), "depth": choice,
                      "train_score": float(train_scores[choice]), "held_out": float(held_out),
                      "n_train": len(train), "n_test": len(test)})
    return folds


def _best_row(name, layers, folds):
    depths = [f["depth"] for f in folds]
    counts = np.bincount(depths, minlength=len(layers))
    depth = int(np.argmax(counts))  # ties: the shallower layer
    return {"model": name, "layer": _layer_name(layers[depth], depth), "depth": depth,
            "n_chosen": int(counts[depth]),
            "held_out": float(np.nanmean([f["held_out"] for f in folds])),
            "n_folds": len(folds)}


def _layer_name(rdm, depth):
    return str(rdm.provenance.get("layer", depth))


# ============================================================================ inputs


def _model_rdms(rdms, *, model, layer, filters) -> dict:
    """``{model: RDMs of its layers, in depth order}`` from a store or from RDMs."""
    from ..rdm import RDM, RDMs

    if _is_store(rdms):
        from ..compare._store import _select

        store = _open_store(rdms)
        table = _select(store, "rdms", _listed(model), _listed(layer), filters)
        loaded = [RDM.load(store, key) for key in table["key"]]
    else:
        if filters:
            raise TypeError(f"Unexpected keyword argument {sorted(filters)[0]!r}: store "
                            "fields select RDMs in a store, and rdms holds RDMs.")
        loaded = [rdms] if isinstance(rdms, RDM) else list(rdms)
        if not all(isinstance(r, RDM) for r in loaded) or not loaded:
            raise TypeError("rdms must be a Store, its path, or RDM objects whose provenance "
                            "names their model and layer.")
        wanted = [(k, _listed(v)) for k, v in (("model", model), ("layer", layer)) if v]
        loaded = [r for r in loaded if all(str(r.provenance.get(k)) in v for k, v in wanted)]
        if not loaded:
            raise KeyError(f"No RDM matches {dict(wanted)}.")
    grouped: dict = {}
    for r in loaded:
        grouped.setdefault(str(r.provenance.get("model", "model")), []).append(r)
    return {name: RDMs(group) for name, group in grouped.items()}


def _listed(value):
    return [value] if isinstance(value, str) else (None if value is None else list(value))


def _target_rdms(target, stimulus_ids):
    """The target as RDMs in the order of ``stimulus_ids`` (labels matched by name)."""
    from ..rdm import RDM, RDMs, load_rdms, match_stimuli

    if isinstance(target, (str, Path)):
        target = load_rdms(target)
    elif isinstance(target, RDM):
        target = RDMs([target])
    elif isinstance(target, (list, tuple)):
        target = RDMs(target)
    elif not isinstance(target, RDMs):
        raise TypeError(f"target must be RDMs, an RDM, a list of RDM or the path of an RDM "
                        f"file (deeprsa.load_rdms), got {type(target).__name__}.")
    return match_stimuli(target, stimulus_ids, what="the target")
