"""What the report sections of one run share: the run context and small helpers."""

from __future__ import annotations

import numpy as np

# Report sections, in the order they appear.
S_STIMULI = "Stimuli"
S_RDMS = "First-order RDMs"
S_COMPARE = "Comparing layers and models"
S_MDS = "MDS maps"
S_DIM = "Dimensionality"
S_SRM = "Shared Response Model across seeds"
S_PERF = "Representational vs performance similarity"
S_DECODE = "Decoding"

CORRELATION_NAMES = {"spearman": "Spearman ρ", "pearson": "Pearson r"}


class RunContext:
    """One run's plan, store and record, and what earlier sections found.

    Attributes
    ----------
    plan : Plan
    config : RunConfig
    store : Store
    record : RunRecord
    stimuli : StimulusSet
    labels : pandas.Series or None
        The stimuli's classes, indexed by stimulus id.
    layers : dict of str to list of str
        Each model's layers, in network order, without the failed ones.
    failed : dict
        ``(model, layer) -> reason`` of the layers whose RDMs could not be
        computed (activations holding NaN or infinity): left out of every
        section, and explained in the report.
    rdms : dict
        ``(model, layer, measure) -> RDM``, filled by the RDM section.
    comparison : ComparisonResult or None
        The multi-model comparison of the first method, filled by the
        comparison section.
    stack : RDMs or None
        The stack of RDMs over entries ([rdm] by, entries, ...), filled by
        the stack section.
    measure : str
        The first RDM measure (the one drawn and compared).
    """

    def __init__(self, plan, store, record, *, progress: bool, failed=None):
        self.plan = plan
        self.config = plan.config
        self.store = store
        self.record = record
        self.progress = progress
        self.stimuli = plan.stimuli
        self.labels = plan.labels
        self.failed = dict(failed or {})
        self.layers = {m.model.name: [la for la in m.layers if (m.model.name, la) not in
                                      self.failed] for m in plan.models}
        self.rdms: dict = {}
        self.comparison = None
        self.stack = None
        self.measure = self.config.rdm.measures[0]
        self.figures = set(self.config.outputs.figures)

    @property
    def names(self) -> list[str]:
        """The models' names, in config order."""
        return [m.name for m in self.config.models]

    def intact(self, models) -> dict:
        """Store filters that leave out the failed layers of ``models`` ({} when none failed)."""
        if not self.failed:
            return {}
        models = [models] if isinstance(models, str) else list(models)
        return {"key": [m.keys[layer] for m in self.plan.models if m.model.name in models
                        for layer in m.layers if (m.model.name, layer) not in self.failed]}

    def wants(self, figure: str) -> bool:
        """Whether the config asks for ``figure``."""
        return figure in self.figures


class Skip(Exception):
    """An analysis that does not apply to this run (the reason goes into the report)."""


def method_name(method) -> str:
    """``"spearman"`` -> ``"Spearman"`` for captions (other names unchanged)."""
    return {"spearman": "Spearman", "pearson": "Pearson", "kendall_tau_a": "Kendall τa",
            "kendall_tau_b": "Kendall τb", "rho_a": "Spearman ρa"}.get(method, method)


def slug(name) -> str:
    """A file-name-safe form of a model name."""
    return "".join(c if c.isalnum() else "_" for c in str(name)).strip("_").lower()


def model_palette(models):
    """Colours and line styles of the models: one colour family per architecture, a shade
    per seed (the n-th model of an architecture and weights gets the n-th shade); where
    a run mixes weights, solid lines for trained weights and dashed for any other (the
    random-weight twins).

    Returns ``(palette, linestyles)``, both keyed by model name.
    """
    from ...plots._base import _family_shades

    architectures = list(dict.fromkeys(m.group for m in models))
    rank: dict = {}
    order = {}
    for m in models:
        key = (m.group, m.weights)
        order[m.name] = rank.get(key, 0)
        rank[key] = order[m.name] + 1
    shades = {g: _family_shades(k, max(n for (a, _), n in rank.items() if a == g))
              for k, g in enumerate(architectures)}
    palette = {m.name: shades[m.group][order[m.name]] for m in models}
    mixed = len({m.weights == "trained" for m in models}) > 1
    linestyles = {m.name: "--" if mixed and m.weights != "trained" else "-" for m in models}
    return palette, linestyles


def defined_part(result):
    """Drop the entries of a symmetric comparison whose values are undefined (NaN).

    Returns the comparison without them and their "model · layer" labels.
    """
    keep = np.ones(len(result.matrix), dtype=bool)
    bad = np.isnan(result.matrix)
    while bad[np.ix_(keep, keep)].any():  # drop the entry with most undefined values first
        counts = np.where(keep, (bad & keep[None, :]).sum(axis=1), -1)
        keep[int(np.argmax(counts))] = False
    if keep.all():
        return result, []
    meta = result.metadata_a
    dropped = [f"{m} · {layer}" for m, layer in zip(meta["model"][~keep], meta["layer"][~keep],
                                                     strict=True)]
    index = np.flatnonzero(keep)
    return result._part(index, index, True), dropped
