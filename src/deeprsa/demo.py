"""The demo: real digits, the bundled zoo, every figure, one report.

:func:`run_demo` (``deeprsa demo``) runs the plan of :func:`demo_config` with
:func:`deeprsa.pipeline.run_config`: the held-out digits, sampled per class,
shown to the zoo's convnets, resnets and MLPs (three seeds each, trained, and
the same seeds' untrained twins: the random-weight baseline).
"""

from __future__ import annotations

from pathlib import Path

from .pipeline import RunConfig, run_config

__all__ = ["demo_config", "run_demo"]

_DEMO_ARCHITECTURES = ("convnet", "resnet", "mlp")


def demo_config(*, quick: bool = False) -> RunConfig:
    """The demo's plan: zoo networks on the held-out digits.

    Parameters
    ----------
    quick : bool, default=False
        A smaller plan for CI: 8 digits per class and 4 networks (two
        convnet seeds, one MLP, one untrained convnet), with the per-model
        figures drawn for convnet_s0 only; instead of 20 per class and 18
        networks (convnet, resnet and MLP, seeds 0-2, trained and untrained:
        the random-weight twins are the baseline of every comparison and of
        the SRM alignment), drawn for convnet_s0 and its untrained twin.

    Returns
    -------
    RunConfig

    Examples
    --------
    >>> [m.name for m in demo_config(quick=True).models]
    ['convnet_s0', 'convnet_s1', 'mlp_s0', 'convnet_s0 (random)']
    >>> len(demo_config().models), demo_config().stimuli.n_per_class
    (18, 20)
    """
    if quick:
        models = [{"spec": "zoo:convnet_s{seed}", "seeds": [0, 1]},
                  {"spec": "zoo:mlp_s0"},
                  {"spec": "zoo:convnet_s0", "weights": "random"}]
        n_per_class = 8
    else:
        models = [{"spec": f"zoo:{arch}_s{{seed}}", "seeds": [0, 1, 2]}
                  for arch in _DEMO_ARCHITECTURES]
        models += [{"spec": f"zoo:{arch}_s{{seed}}", "seeds": [0, 1, 2], "weights": "random"}
                   for arch in _DEMO_ARCHITECTURES]
        n_per_class = 20
    return RunConfig.from_dict({
        "title": "deeprsa demo: the digits zoo" + (" (quick)" if quick else ""),
        "stimuli": {"source": "digits:test", "n_per_class": n_per_class, "seed": 0},
        "models": models,
        "rdm": {"measures": ["correlation"]},
        "compare": {"methods": ["spearman"]},
        "analyses": {"srm": {"layer": "penultimate", "n_components": 10},
                     "performance": {"predictions": "zoo", "layer": "last"},
                     "decoding": {"column": "label", "cv": 5}},
        "outputs": {"focus": ["convnet_s0"] if quick else ["convnet_s0", "convnet_s0 (random)"]},
    })


def run_demo(out_dir="deeprsa-demo", *, quick: bool = False, progress: bool = True) -> Path:
    """Run the demo end to end and write its report.

    Parameters
    ----------
    out_dir : str or Path, default="deeprsa-demo"
        The run directory (figures, tables, store, report). Running again
        reuses the activations and RDMs already in its store.
    quick : bool, default=False
        The smaller CI plan; see :func:`demo_config`.
    progress : bool, default=True
        Show progress bars.

    Returns
    -------
    Path
        The HTML report.
    """
    return run_config(demo_config(quick=quick), out_dir=out_dir, progress=progress,
                      command=f"deeprsa demo --out {out_dir}" + (" --quick" if quick else ""))
