"""Sketched layers with their error measured, not assumed (``[extract] sketch``).

A layer wider than k units can be stored as a very sparse random projection
to k dimensions (the ``sketch`` reduction; Li, Hastie & Church 2006), which
preserves inner products on average. ``sketch = "auto"`` chooses k per layer:
on a seeded calibration subset of the stimuli (default 500), one forward pass
computes each layer's exact RDM (the column engine, inside the hook) and the
RDMs of sketches of growing k, and keeps the smallest k whose Spearman
correlation with the exact RDM reaches the target fidelity (default 0.99);
a layer that no k below its width reaches stays exact. The chosen k and the
measured fidelity go into the layer's reduction, and so into the store key,
the provenance of its RDMs, the tidy tables and the report: an approximate
RDM is never shown as exact. The calibration is saved in the store (kind
``"calibrations"``), so a rerun does not repeat it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from .config import ConfigError

__all__ = ["LADDER", "calibration_indices", "calibrate", "sketch_plan"]

log = logging.getLogger("deeprsa.pipeline")

#: The k tried by ``sketch = "auto"``, smallest first.
LADDER = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
#: Measures a sketch preserves: linear in the activations (Spearman ranks every unit).
_SKETCHABLE = ("correlation", "cosine", "euclidean", "sqeuclidean", "normalized_euclidean")


def calibration_indices(n_stimuli: int, n: int, seed: int) -> np.ndarray:
    """Positions of the calibration subset: ``min(n, n_stimuli)`` drawn with ``seed``, sorted."""
    rng = np.random.default_rng([int(seed), 20060607])  # Li, Hastie & Church, KDD 2006
    return np.sort(rng.choice(n_stimuli, size=min(n, n_stimuli), replace=False))


def _centre(measures) -> bool:
    """Centre patterns before sketching when every measure centres them (correlation)."""
    return all(m == "correlation" for m in measures)


def _check_measures(measures) -> None:
    bad = [m for m in measures if m not in _SKETCHABLE]
    if bad:
        raise ConfigError("extract.sketch", f"config key 'extract.sketch': the {bad[0]!r} "
                                            "measure ranks every unit, which a sketch (a linear "
                                            "projection) does not keep; sketch with "
                                            f"{', '.join(_SKETCHABLE)} only, or drop the sketch.")


def calibrate(loaded, stimuli, layers: dict, measures, *, target=0.99, n=500, seed=0,
              device="cpu", ladder=LADDER) -> dict:
    """Choose k per layer by the fidelity of sketched RDMs on a calibration subset.

    Parameters
    ----------
    loaded : LoadedModel
    stimuli : StimulusSet
    layers : dict of str to int
        The candidate layers and their widths (units).
    measures : sequence of str
        The run's RDM measures; a k must reach ``target`` for each.
    target : float
        Spearman correlation between exact and sketched RDM to reach.
    n, seed : int
        Size and seed of the calibration subset (:func:`calibration_indices`).

    Returns
    -------
    dict
        ``{layer: {"k": k or None, "fidelity": f, "tried": {k: f}}}``; ``k`` is
        None where no k below the layer's width reaches the target (the layer
        stays exact).
    """
    import torch
    from scipy.stats import spearmanr

    from ..extract.reductions import _first_tensor, _sketch
    from ..layers import probe
    from ..rdm import compute_rdm
    from ..rdm._columns import ColumnGram
    from ..rdm.measures import _MEASURES

    index = calibration_indices(len(stimuli), n, seed)
    centre = _centre(measures)
    results = {}

    calls, seen = {}, dict.fromkeys(layers, 0)

    def hook(name):
        def measure_fidelity(_module, _inputs, output):
            seen[name] += 1
            if seen[name] < calls.get(name, 1):
                return  # a module called again later (a reused ReLU): extraction keeps its last
            out = _first_tensor(output).detach()
            flat = out.reshape(out.shape[0], -1)
            exact = {}
            for m in measures:
                gram = ColumnGram(len(flat), _MEASURES[m], dict(_MEASURES[m].params),
                                  dtype=np.float32, device=flat.device)
                for c0 in range(0, flat.shape[1], 16384):
                    gram.add(flat[:, c0:c0 + 16384])
                exact[m] = _upper(gram.finish()[0])
            tried = {}
            for k in (k for k in ladder if k < flat.shape[1]):
                Y = _sketch(out, k=k, seed=seed, centre=centre).cpu().numpy()
                scores = [spearmanr(exact[m], compute_rdm(Y, measure=m).vector())[0]
                          for m in measures]
                tried[k] = float(min(scores))
                if tried[k] >= target:
                    break
            reached = [k for k, f in tried.items() if f >= target]
            k = reached[0] if reached else None
            results[name] = {"k": k, "fidelity": tried[k] if k else 1.0, "tried": tried}
            log.info("Sketch calibration of %s %s: %s", loaded.name, name,
                     f"k = {k}, fidelity {tried[k]:.4f}" if k else
                     f"no k below {flat.shape[1]} units reaches {target}; stays exact")
        return measure_fidelity

    module = loaded.module.to(device)
    batch = torch.stack([loaded.preprocessing(stimuli.load(int(i))) for i in index]).to(device)
    calls.update({name: c for name, (c, _) in probe(module, batch[:1]).items()})
    handles = [module.get_submodule(name).register_forward_hook(hook(name)) for name in layers]
    try:
        with torch.inference_mode():
            module(batch)
    finally:
        for h in handles:
            h.remove()
    return results


def _upper(D):
    i, j = np.triu_indices(len(D), k=1)
    return D[i, j]


def sketch_plan(plan, store, *, progress: bool = True):
    """``plan`` with its wide layers sketched as ``[extract] sketch`` asks (calibrated once).

    Returns the plan unchanged when no sketch is asked for.
    """
    spec = plan.config.extract
    if spec.sketch is None:
        return plan
    measures = plan.config.rdm.measures
    _check_measures(measures)
    models = []
    for m in plan.models:
        wide = {layer: m.widths[layer] for layer in m.layers
                if m.reductions[layer]["name"] == "flatten"
                and m.widths[layer] > (LADDER[0] if spec.sketch == "auto" else spec.sketch)}
        if not wide:
            models.append(m)
            continue
        if spec.sketch == "auto":
            chosen = _calibration(plan, m, store, wide, measures)
        else:
            chosen = {layer: {"k": int(spec.sketch), "fidelity": None} for layer in wide}
        models.append(_with_sketches(m, chosen, plan, measures))
    from .plan import Plan, _tasks

    sketched = Plan(plan.config, plan.stimuli, tuple(models))
    return Plan(plan.config, plan.stimuli, sketched.models, tuple(_tasks(sketched)))


def _calibration(plan, m, store, wide, measures):
    """The calibration of model ``m``'s ``wide`` layers, from the store or computed (and saved)."""
    from ..models import load_model
    from ..store import content_key

    spec = plan.config.extract
    fields = {"model": m.model.name, "spec": m.model.spec,
              "weights_hash": m.info.get("weights_hash"), "stimuli": plan.stimuli.content_hash(),
              "layers": sorted(wide), "measures": list(measures), "target": spec.sketch_fidelity,
              "n": spec.sketch_calibration, "seed": spec.sketch_seed, "ladder": list(LADDER)}
    key = content_key({"kind": "calibrations", **fields})
    if store.has(key):
        return store.entry(key)["attrs"]["layers"]
    loaded = load_model(m.model.spec, weights=m.model.weights, seed=m.model.seed,
                        name=m.model.name)
    log.info("Calibrating sketches of %d layer(s) of %s on %d stimuli (target fidelity %s)",
             len(wide), m.model.name, min(spec.sketch_calibration, len(plan.stimuli)),
             spec.sketch_fidelity)
    results = calibrate(loaded, plan.stimuli, wide, measures, target=spec.sketch_fidelity,
                        n=spec.sketch_calibration, seed=spec.sketch_seed,
                        device=plan.config.extract.device)
    results = {layer: {**r, "tried": {str(k): f for k, f in r["tried"].items()}}
               for layer, r in results.items()}
    if store.mode != "r":
        store.write("calibrations", fields, np.zeros(1, dtype=np.float32),
                    attrs={"layers": results})
    return results


def _with_sketches(m, chosen, plan, measures):
    """Model ``m`` with the chosen layers reduced by a sketch (new widths, fields and keys)."""
    from ..store import content_key

    spec = plan.config.extract
    lp = m.layer_plan
    reductions, widths, fields, keys = (dict(lp.reductions), dict(lp.widths), dict(lp.fields),
                                        dict(lp.keys))
    for layer, choice in chosen.items():
        if choice["k"] is None:
            continue
        calibration = {"units": int(lp.widths[layer]), "fidelity": None}
        if choice["fidelity"] is not None:
            calibration.update(
                fidelity=round(float(choice["fidelity"]), 6), target=spec.sketch_fidelity,
                n_stimuli=min(spec.sketch_calibration, len(plan.stimuli)),
                seed=spec.sketch_seed, measures=list(measures))
        reduction = {"name": "sketch", "k": int(choice["k"]), "seed": spec.sketch_seed,
                     "centre": _centre(measures), "calibration": calibration}
        reductions[layer] = reduction
        widths[layer] = min(int(choice["k"]), lp.widths[layer])
        fields[layer] = {**lp.fields[layer], "reduction": reduction}
        keys[layer] = content_key({"kind": "activations", **fields[layer]})
    return replace(m, layer_plan=replace(lp, reductions=reductions, widths=widths,
                                         fields=fields, keys=keys))
