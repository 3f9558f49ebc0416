"""Run a plan end to end, and the demo: real digits, the bundled zoo, every figure, one report.

:func:`run_config` executes a :class:`~deeprsa.config.RunConfig` (``deeprsa run
config.toml``): load and sort the stimuli, extract every model's layers in one
pass each into a store, compute the RDMs, compare all layers of all models,
run the analyses (MDS, dimensionality, SRM across seeds, representational vs
performance similarity), draw the figures and write the report.

:func:`run_demo` (``deeprsa demo``) runs the plan of :func:`demo_config`: the
held-out digits, sampled per class, shown to the zoo's convnets, resnets and
MLPs (three seeds each, trained, plus each architecture's untrained twin).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .config import ConfigError, RunConfig, load_config
from .report import RunRecord, write_report
from .store import Store

__all__ = ["demo_config", "run_config", "run_demo"]

log = logging.getLogger(__name__)

_DEMO_ARCHITECTURES = ("convnet", "resnet", "mlp")


def demo_config(*, quick: bool = False) -> RunConfig:
    """The demo's plan: zoo networks on the held-out digits.

    Parameters
    ----------
    quick : bool, default=False
        A smaller plan for CI: 8 digits per class and 4 networks (two
        convnet seeds, one MLP, one untrained convnet), with the per-model
        figures drawn for convnet_s0 only; instead of 20 per class and 12
        networks (convnet, resnet and MLP, seeds 0-2 trained and seed 0
        untrained), drawn for convnet_s0 and its untrained twin.

    Returns
    -------
    RunConfig

    Examples
    --------
    >>> [m.name for m in demo_config(quick=True).models]
    ['convnet_s0', 'convnet_s1', 'mlp_s0', 'convnet_s0 (random)']
    >>> len(demo_config().models), demo_config().stimuli.n_per_class
    (12, 20)
    """
    if quick:
        models = [{"spec": "zoo:convnet_s{seed}", "seeds": [0, 1]},
                  {"spec": "zoo:mlp_s0"},
                  {"spec": "zoo:convnet_s0", "weights": "random"}]
        n_per_class = 8
    else:
        models = [{"spec": f"zoo:{arch}_s{{seed}}", "seeds": [0, 1, 2]}
                  for arch in _DEMO_ARCHITECTURES]
        models += [{"spec": f"zoo:{arch}_s0", "weights": "random"}
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


def run_config(config, *, out_dir=None, progress: bool = True, command: str | None = None
               ) -> Path:
    """Execute a run plan: stimuli, extraction, RDMs, comparisons, analyses, figures, report.

    Parameters
    ----------
    config : RunConfig, mapping, or str or Path of a TOML file
        The plan; a mapping or file is checked first (:func:`deeprsa.load_config`).
    out_dir : str or Path, optional
        The run directory; default the config's ``outputs.dir``.
    progress : bool, default=True
        Show progress bars (extraction, RDMs).
    command : str, optional
        The command line, recorded in the provenance.

    Returns
    -------
    Path
        The HTML report, or the run directory when ``outputs.report`` is false.

    Raises
    ------
    ConfigError
        If the plan is invalid or names layers or models that are not there.
    """
    config_file = None
    if isinstance(config, (str, Path)):
        config_file = Path(config)
        config = load_config(config_file)
    elif not isinstance(config, RunConfig):
        config = RunConfig.from_dict(config)
    out = Path(out_dir) if out_dir is not None else config.resolve(
        config.outputs.dir or "deeprsa_results")
    pipeline = _Pipeline(config, out, progress=progress)
    if command:
        pipeline.record.provenance["command"] = command
    if config_file is not None:
        pipeline.record.provenance["config_file"] = str(config_file.resolve())
        pipeline.record.provenance["config_text"] = config_file.read_text()
    pipeline.run()
    run_dir = pipeline.record.save()
    if not config.outputs.report:
        return run_dir
    return write_report(run_dir)


# ============================================================================ the pipeline


_S_STIMULI = "Stimuli"
_S_RDMS = "First-order RDMs"
_S_COMPARE = "Comparing layers and models"
_S_MDS = "MDS maps"
_S_DIM = "Dimensionality"
_S_SRM = "Shared Response Model across seeds"
_S_PERF = "Representational vs performance similarity"
_S_DECODE = "Decoding"


class _Pipeline:
    """The stages of one run, sharing the stimuli, store and results."""

    def __init__(self, config: RunConfig, out: Path, *, progress: bool):
        self.config = config
        self.out = out
        self.progress = progress
        self.record = RunRecord(out, title=config.title, formats=config.outputs.formats)
        self.record.provenance["config"] = config.to_dict()
        self.figures = set(config.outputs.figures)
        self.layers: dict[str, list[str]] = {}
        self.rdms: dict[tuple[str, str, str], object] = {}
        self.comparison = None

    def run(self):
        steps = [("stimuli", self.stimuli_stage), ("extraction", self.extract_stage),
                 ("RDMs", self.rdm_stage), ("comparisons", self.compare_stage),
                 ("MDS", self.mds_stage)]
        analyses = self.config.analyses
        if analyses.dimensionality is not None:
            steps.append(("dimensionality", self.dimensionality_stage))
        if analyses.srm is not None:
            steps.append(("SRM", self.srm_stage))
        if analyses.performance is not None:
            steps.append(("performance", self.performance_stage))
        if analyses.decoding is not None:
            steps.append(("decoding", self.decoding_stage))
        for name, stage in steps:
            with self.record.step(name):
                stage()
        self.record.provenance["store"] = str(self.store.path)
        entries = self.store.entries()
        columns = [c for c in ("kind", "model", "layer", "measure", "key") if c in entries]
        entries = entries.sort_values([c for c in ("kind", "model") if c in entries],
                                      kind="stable")
        self.record.provenance["store_keys"] = entries[columns].astype(object).where(
            entries[columns].notna(), "").to_dict("records")

    def wants(self, figure):
        return figure in self.figures

    # ------------------------------------------------------------------ stimuli
    def stimuli_stage(self):
        plan = self.config.stimuli
        stimuli = _load_stimuli(self.config)
        label = plan.label
        columns = list(stimuli.metadata.columns)
        if plan.n_per_class is not None:
            if label not in columns:
                raise ConfigError("stimuli.label", f"config key 'stimuli.n_per_class' draws per "
                                                   f"class, but the stimuli have no column "
                                                   f"{label!r}; columns: {columns}.")
            stimuli = stimuli.sample(plan.n_per_class, seed=plan.seed, column=label)
        for i, col in enumerate(plan.sort_by):
            if col not in columns:
                raise ConfigError(f"stimuli.sort_by[{i}]", f"config key 'stimuli.sort_by[{i}]': "
                                                           f"no stimulus column {col!r}; "
                                                           f"columns: {columns}.")
        if plan.sort_by:
            stimuli = stimuli.sort_by(list(plan.sort_by))
        self.stimuli = stimuli
        meta = stimuli.metadata
        self.labels = meta[label] if label in meta.columns else None
        n_classes = int(self.labels.nunique()) if self.labels is not None else None
        self.record.provenance["stimuli"] = {
            "source": plan.source, "n_stimuli": len(stimuli), "classes": n_classes,
            "n_per_class": plan.n_per_class, "sample seed": plan.seed,
            "sorted by": ", ".join(plan.sort_by), "content_hash": stimuli.content_hash()}
        self.store = Store(self.out / "store")
        if self.wants("images"):
            from .plots import plot_images

            fig = plot_images(stimuli, label_column=label, n_per_class=10)
            per = f"{plan.n_per_class} per class, " if plan.n_per_class else ""
            rows = "one row per class (the first 10 of each)" if self.labels is not None \
                else "in order"
            self.record.add_figure(
                fig, "stimuli", section=_S_STIMULI, title="The stimuli",
                caption=f"{len(stimuli)} stimuli from {plan.source} ({per}sample seed "
                        f"{plan.seed}), shown {rows}. Every network sees exactly these "
                        "images, in this order, which is also the order of every RDM's rows.")

    # ------------------------------------------------------------------ extraction
    def extract_stage(self):
        from tqdm.auto import tqdm

        from .extract import extract
        from .models import load_model

        rows = []
        bar = tqdm(self.config.models, desc="extract", unit="model", disable=not self.progress)
        for plan in bar:
            bar.set_postfix_str(plan.name)
            loaded = load_model(plan.spec, weights=plan.weights, seed=plan.seed, name=plan.name)
            table = extract(loaded, self.stimuli, _selectors(plan.layers), self.store,
                            reduction=plan.reduction, batch_size=self.config.extract.batch_size,
                            device=self.config.extract.device, progress=False)
            self.layers[plan.name] = table["layer"].tolist()
            info = dict(loaded.info)
            rows.append({"name": plan.name, "group": plan.group, "spec": plan.spec,
                         "weights": plan.weights, "seed": loaded.seed,
                         "weights_hash": loaded.weights_hash, "layers": len(table),
                         "test_accuracy": info.get("test_accuracy"),
                         "extraction": ", ".join(f"{s} {n}" for s, n in
                                                 table["status"].value_counts().items())})
        self.record.provenance["models"] = rows
        self.models = rows

    # ------------------------------------------------------------------ RDMs
    def rdm_stage(self):
        from tqdm.auto import tqdm

        from .rdm import compute_rdms

        names = [m.name for m in self.config.models]
        stimulus_hash = self.stimuli.content_hash()
        summary = []
        bar = tqdm(self.config.rdm.measures, desc="RDMs", unit="measure",
                   disable=not self.progress)
        for measure in bar:  # one call per measure: the store is read once for all layers
            bar.set_postfix_str(measure)
            rdms = compute_rdms(self.store, measure=measure, model=names, stimuli=stimulus_hash,
                                dtype=self.config.rdm.dtype, progress=False)
            for rdm in rdms:
                p = rdm.provenance
                self.rdms[(p["model"], p["layer"], measure)] = rdm
                if self.labels is not None:
                    summary.append({"model": p["model"], "layer": p["layer"],
                                    "measure": measure, **_class_structure(rdm, self.labels)})
        self.measure = self.config.rdm.measures[0]
        first = self.rdms[(names[0], self.layers[names[0]][0], self.measure)]
        self.rdm_stimuli = self.store.entry(first.provenance["key"])["fields"]["stimuli"]
        if summary:
            import pandas as pd

            self.class_table = pd.DataFrame(summary)
            self.record.add_table(
                self.class_table, "class_structure", section=_S_RDMS,
                title="Class structure of every RDM",
                caption="Mean dissimilarity of stimulus pairs from the same class (within) "
                        "and from different classes (between), and their ratio: above 1, "
                        "same-class stimuli are closer than different-class ones.")
            self._class_highlights()
        for name in self.config.outputs.focus:
            self._focus_rdm_figures(name)

    def _class_highlights(self):
        table = self.class_table[self.class_table["measure"] == self.measure]
        for name in self.config.outputs.focus:
            rows = table[table["model"] == name]
            if rows.empty:
                continue
            first, last = rows.iloc[0], rows.iloc[-1]
            self.record.highlights.append(
                f"{name}: between/within-class dissimilarity ratio {first['ratio']:.2f} in its "
                f"first layer ({first['layer']}) and {last['ratio']:.2f} in its last "
                f"({last['layer']}); within {last['within_class']:.3f} vs between "
                f"{last['between_class']:.3f} in the last layer ({self.measure}).")

    def _focus_rdm_figures(self, name):
        from matplotlib.figure import Figure

        from .plots import plot_rdm, plot_rdms

        rdms = [self.rdms[(name, layer, self.measure)] for layer in self.layers[name]]
        labels = self.labels
        slug = _slug(name)
        sorted_note = ("Stimuli are sorted by class; white lines separate classes and the "
                       "tick labels name them. " if labels is not None else "")
        if self.wants("rdms"):
            fig = plot_rdms(rdms, labels=labels, percentile=True)
            self.record.add_figure(
                fig, f"rdms_{slug}", section=_S_RDMS, title=f"RDMs of every layer of {name}",
                caption=f"One {self.measure} RDM per layer, input (top left) to output. "
                        f"{sorted_note}Colour is the percentile of each stimulus pair's "
                        "dissimilarity within its own RDM (seed 003), so layers of different "
                        "scales share one colour bar: dark pairs are the most similar. Blocks "
                        "of dark squares along the diagonal mean the layer groups stimuli by "
                        "class; percentiles exaggerate small differences, so compare with "
                        "the raw RDM below.")
        if self.wants("rdm"):
            import matplotlib

            from .plots._base import _STYLE

            with matplotlib.rc_context(_STYLE):
                fig = Figure(figsize=(7.2, 3.1), layout="constrained")
                left, right = fig.subplots(1, 2)
            plot_rdm(rdms[-1], labels=labels, ax=left, title=f"{name} · {rdms[-1].provenance['layer']}")
            plot_rdm(rdms[-1], labels=labels, ax=right, percentile=True, title="as percentiles")
            self.record.add_figure(
                fig, f"rdm_{slug}", section=_S_RDMS,
                title=f"RDM of the last layer of {name}: raw and as percentiles",
                caption=f"Left: the {self.measure} dissimilarity of every pair of stimuli in "
                        f"the last layer ({rdms[-1].provenance['layer']}), on its own scale. "
                        f"Right: the same RDM as percentiles. {sorted_note}")

    # ------------------------------------------------------------------ comparisons
    def compare_stage(self):
        from .compare import multi_model_rdm

        names = [m.name for m in self.config.models]
        tables = []
        for method in self.config.compare.methods:
            result = multi_model_rdm(self.store, names, method=method, measure=self.measure,
                                     stimuli=self.rdm_stimuli)
            result.save(self.store, name="multi_model_rdm")
            if self.comparison is None:
                self.comparison = result
            table = result.table
            keep = [c for c in ("model_a", "layer_a", "model_b", "layer_b", "method", "value",
                                "dissimilarity", "n_stimuli") if c in table.columns]
            tables.append(table[keep])
        import pandas as pd

        self.record.add_table(
            pd.concat(tables, ignore_index=True), "layer_comparisons", section=_S_COMPARE,
            title="Every pair of layers compared",
            caption=f"Second-order comparison of the {self.measure} RDMs of every pair of "
                    "layers (all models): value is the similarity (e.g. Spearman ρ), "
                    "dissimilarity is 1 - value. These are the entries of the model and "
                    "multi-model RDMs.")
        method = _method_name(self.config.compare.methods[0])
        result = self.comparison
        if self.wants("model_rdm"):
            from .plots import plot_model_rdm

            for name in self.config.outputs.focus:
                fig = plot_model_rdm(result.select(model=name))
                self.record.add_figure(
                    fig, f"model_rdm_{_slug(name)}", section=_S_COMPARE,
                    title=f"Model RDM of {name}",
                    caption=f"1 - {method} correlation between the RDMs of every pair of "
                            f"layers of {name} (seed 000's model RDM), input at the top "
                            "left. Dark cells: two layers order the stimulus pairs alike. "
                            "Neighbouring layers are usually similar; a bright band marks "
                            "where the representation changes.")
        if self.wants("multi_model_rdm"):
            from .plots import plot_model_rdm

            fig = plot_model_rdm(result)
            self.record.add_figure(
                fig, "multi_model_rdm", section=_S_COMPARE,
                title="Multi-model RDM of all layers of all models",
                caption=f"1 - {method} correlation between the RDMs of every pair of layers "
                        "of every model; white outlines mark each model's own block (its "
                        "model RDM), the other blocks compare layers across models. Models "
                        "named across the top, layers along both axes, in depth order.")
        self._similarity_highlight()

    def _similarity_highlight(self):
        result = self.comparison
        meta = result.metadata_a
        last = [self.layers[m.name][-1] for m in self.config.models]
        index = [int(np.flatnonzero((meta["model"] == m.name) & (meta["layer"] == layer))[0])
                 for m, layer in zip(self.config.models, last, strict=True)]
        groups = [(m.group, m.weights) for m in self.config.models]
        same, other = [], []
        for a in range(len(index)):
            for b in range(a + 1, len(index)):
                value = result.matrix[index[a], index[b]]
                (same if groups[a] == groups[b] else other).append(value)
        if same and other:
            self.record.highlights.append(
                f"Last layers: mean {_method_name(result.method)} similarity "
                f"{np.nanmean(same):.2f} between "
                f"models of the same architecture and weights (different seeds), "
                f"{np.nanmean(other):.2f} between other models.")

    # ------------------------------------------------------------------ MDS
    def mds_stage(self):
        plan = self.config.analyses.mds
        if plan is None:
            return
        from .plots import plot_mds

        result, dropped = _defined_part(self.comparison)
        if dropped:
            self.record.add_note(
                f"Left out of the MDS maps, because their comparisons are undefined (a "
                f"constant RDM, e.g. the zero-initialised head of an untrained network): "
                f"{', '.join(dropped)}.", section=_S_MDS)
        if len(result.matrix) < 3:
            self.record.add_note("MDS was skipped: fewer than 3 layers have defined "
                                 "comparisons.", section=_S_MDS)
            return
        method = _method_name(result.method)
        opts = {"metric": plan.metric, "n_components": plan.n_components}
        kind = "metric" if plan.metric else "non-metric (ordinal)"
        stress_note = ("Kruskal's stress-1 (lower right) says how much the map distorts the "
                       "dissimilarities: below 0.1 is a faithful map, above 0.2 a rough one.")
        if self.wants("mds_layers"):
            kinds = {m.name: m.group + ("" if m.weights == "trained" else f" ({m.weights})")
                     for m in self.config.models}
            one_each = len(set(kinds.values())) == len(kinds)
            models = result.metadata_a["model"].astype(str).tolist()
            fig = plot_mds(result, groups=models if one_each else [kinds[m] for m in models],
                           trajectories=models, palette=None if one_each else
                           _paired_palette(self.config.models),
                           legend_title="model" if one_each else "architecture", **opts)
            self.record.add_figure(
                fig, "mds_layers", section=_S_MDS,
                title="MDS of all layers of all models, with a trajectory through each model",
                caption=f"Each point is one layer, placed by {kind} MDS so that distances "
                        f"approximate 1 - {method} correlation between layer RDMs (the "
                        "multi-model RDM). Lines join each model's layers in depth order, from "
                        "a square (first layer) to an arrow (last layer), one line per model, coloured by "
                        "model, or by architecture (and weights) when several models share "
                        "one. "
                        "Where trajectories run together, the models transform the stimuli "
                        f"alike. {stress_note}")
        focus = self.config.outputs.focus[0]
        if self.wants("mds_model"):
            sub = result.select(model=focus)
            if 3 <= len(sub.matrix) <= 60:
                fig = plot_mds(sub, edges=True, **opts)
                self.record.add_figure(
                    fig, f"mds_model_{_slug(focus)}", section=_S_MDS,
                    title=f"MDS of the layers of {focus}, lines coloured by dissimilarity",
                    caption=f"Each point is a layer of {focus}; every pair is joined by a line "
                            f"coloured by their 1 - {method} dissimilarity (seed 003): dark "
                            "lines join layers with similar RDMs. The map places similar "
                            f"layers close; the colours show what the map distorts. "
                            f"{stress_note}")
        if self.wants("mds_stimuli") and plan.n_components == 2:
            self._stimulus_mds(focus, plot_mds, opts, kind, stress_note)

    def _stimulus_mds(self, focus, plot_mds, opts, kind, stress_note):
        layer = self.layers[focus][-1]
        rdm = self.rdms[(focus, layer, self.measure)]
        if np.ptp(rdm.vector()) == 0:
            self.record.add_note(f"The MDS of the stimuli was skipped: every pair of stimuli "
                                 f"is equally dissimilar in {focus} · {layer}.", section=_S_MDS)
            return
        plan = self.config.analyses.mds
        images = None
        if plan.thumbnails_per_class:
            images = [None] * len(self.stimuli)
            if self.labels is not None:
                codes = self.labels.to_numpy()
                for value in dict.fromkeys(codes):
                    for i in np.flatnonzero(codes == value)[:plan.thumbnails_per_class]:
                        images[i] = self.stimuli.load(int(i))
            else:
                for i in range(min(len(images), 40)):
                    images[i] = self.stimuli.load(i)
        groups = None if self.labels is None else self.labels.astype(str).tolist()
        label = self.config.stimuli.label
        fig = plot_mds(rdm, groups=groups, images=images,
                       legend_title="class" if label == "label" else label, **opts)
        shown = (f"{plan.thumbnails_per_class} stimuli per class are drawn as thumbnails framed "
                 "in their class colour. " if images is not None else "")
        self.record.add_figure(
            fig, f"mds_stimuli_{_slug(focus)}", section=_S_MDS,
            title=f"MDS of the stimuli in the last layer of {focus}",
            caption=f"Each point is a stimulus, placed by {kind} MDS of the {self.measure} RDM "
                    f"of {focus}'s last layer ({layer}) and coloured by class (seed 002). "
                    f"{shown}Tight, separate clusters mean the layer represents the classes "
                    f"distinctly; mixed clusters show which classes it confuses. {stress_note}")

    # ------------------------------------------------------------------ dimensionality
    def dimensionality_stage(self):
        from .analyses import dimensionality, explained_variance

        plan = self.config.analyses.dimensionality
        names = [m.name for m in self.config.models]
        stimulus_hash = self.stimuli.content_hash()
        table = dimensionality(self.store, threshold=plan.threshold, n_units=plan.n_units,
                               seed=0, model=names, stimuli=stimulus_hash)
        keep = [c for c in ("model", "layer", "threshold", "n_components", "participation_ratio",
                            "n_units", "n_units_used") if c in table.columns]
        self.record.add_table(
            table[keep], "dimensionality", section=_S_DIM,
            title=f"Components needed to explain {plan.threshold:.0%} of the variance",
            caption="Per layer: the fewest principal components whose cumulative explained "
                    "variance reaches the threshold (seed 001), and the participation ratio "
                    f"(an effective dimensionality). Computed on at most {plan.n_units} "
                    "randomly sampled units per layer.")
        if not self.wants("dimensionality"):
            return
        from .plots import plot_variance_explained

        for name in self.config.outputs.focus:
            spectrum = explained_variance(self.store, n_units=plan.n_units, seed=0, model=name,
                                          stimuli=stimulus_hash)
            fig = plot_variance_explained(spectrum, threshold=plan.threshold, title=name)
            self.record.add_figure(
                fig, f"dimensionality_{_slug(name)}", section=_S_DIM,
                title=f"Variance explained per layer of {name}",
                caption=f"Left: cumulative variance explained against the number of principal "
                        f"components (log scale), one curve per layer from dark (input) to "
                        f"yellow (output); the dashed line is {plan.threshold:.0%}. Right: "
                        "the components each layer needs to reach it. A curve that rises "
                        "fast belongs to a low-dimensional layer.")
            rows = table[table["model"] == name]
            if len(rows):
                self.record.highlights.append(
                    f"{name} needs {rows['n_components'].iloc[0]} components for "
                    f"{plan.threshold:.0%} of the variance in its first layer and "
                    f"{rows['n_components'].iloc[-1]} in its last.")

    # ------------------------------------------------------------------ decoding
    def decoding_stage(self):
        from .analyses import decode

        plan = self.config.analyses.decoding
        names = list(self.config.outputs.focus) or [m.name for m in self.config.models]
        # decode's stimuli= is the StimulusSet; rows are matched to it by stimulus id.
        table = decode(self.store, plan.column, stimuli=self.stimuli, cv=plan.cv, seed=0,
                       model=names)
        self.record.add_table(
            table, "decoding", section=_S_DECODE,
            title=f"Linear decoding of {plan.column!r} from every layer",
            caption=f"Cross-validated ({plan.cv}-fold, stratified) accuracy of a linear SVM "
                    f"predicting the stimulus' {plan.column!r} from each layer's activations "
                    "(units standardised within each training fold), with chance for "
                    "comparison (seed 002's SVM analysis).")
        for name in names:
            rows = table[table["model"] == name]
            if len(rows):
                best = rows.loc[rows["accuracy"].idxmax()]
                self.record.highlights.append(
                    f"{name}: {plan.column!r} is decoded best from {best['layer']} "
                    f"(accuracy {best['accuracy']:.2f}).")

    # ------------------------------------------------------------------ SRM
    def srm_stage(self):
        from .align import SRM, evaluate_alignment

        plan = self.config.analyses.srm
        groups: dict[tuple[str, str], list[str]] = {}
        for m in self.config.models:
            groups.setdefault((m.group, m.weights), []).append(m.name)
        groups = {k: v for k, v in groups.items() if len(v) >= 2}
        if not groups:
            self.record.add_note("SRM was skipped: it needs at least two models of the same "
                                 "architecture and weights (e.g. several seeds).",
                                 section=_S_SRM)
            return
        tables = []
        for (group, weights), names in groups.items():
            layers = [_resolve_layer(plan.layer, self.layers[n], n, "analyses.srm.layer")
                      for n in names]
            X = [self.store.load_activations(n, layer, stimuli=self.stimuli.content_hash())[0]
                 for n, layer in zip(names, layers, strict=True)]
            k = min(plan.n_components, *(x.shape[1] for x in X), len(X[0]) // 2 - 1)
            table = evaluate_alignment(X, n_components=k, names=names, seed=0)
            table.insert(0, "group", f"{group} ({weights})")
            table.insert(1, "layer", ", ".join(dict.fromkeys(layers)))
            tables.append(table)
            means = table.groupby("space")["rsm_correlation"].mean()
            self.record.highlights.append(
                f"SRM, {group} ({weights}, {len(names)} seeds, layer "
                f"{', '.join(dict.fromkeys(layers))}): held-out inter-network RSM correlation "
                f"{means.get('native', np.nan):.2f} in the native unit spaces, "
                f"{means.get('shared', np.nan):.2f} after alignment into a {k}-dimensional "
                "shared space.")
            if self.wants("srm"):
                from .plots import plot_srm_trajectories

                after = SRM(k, seed=0).fit(X).transform(X)
                fig = plot_srm_trajectories(X, after, labels=self.labels, names=names)
                self.record.add_figure(
                    fig, f"srm_{_slug(group)}_{weights}", section=_S_SRM,
                    title=f"{group} ({weights}): trajectories before and after SRM alignment",
                    caption=f"The responses of {len(names)} {group} networks (layer "
                            f"{', '.join(dict.fromkeys(layers))}) to the same stimuli, as "
                            "trajectories through the class means in class order (seed 004); "
                            "faint dots are single stimuli. Left: each network in its own "
                            "principal components (native spaces), so the paths look "
                            "unrelated. Right: after fitting a Shared Response Model with "
                            f"{k} components, all networks in the shared space: overlapping "
                            "paths mean the networks share one representational geometry up "
                            "to a rotation.")
        import pandas as pd

        self.record.add_table(
            pd.concat(tables, ignore_index=True), "srm_alignment", section=_S_SRM,
            title="RSA before and after SRM alignment",
            caption="For each pair of networks, on held-out stimuli (half, drawn with seed 0): "
                    "rsm_correlation compares the inter-network similarity matrix with the "
                    "within-network one, in the native unit space and in the shared space "
                    "(Lu et al., 2018). Values near 1 after alignment mean a shared geometry.")

    # ------------------------------------------------------------------ performance
    def performance_stage(self):
        plan = self.config.analyses.performance
        try:
            predictions, labels, scope = self._predictions(plan)
        except _Skip as skip:
            self.record.add_note(f"Representational vs performance similarity was skipped: "
                                 f"{skip}", section=_S_PERF)
            return
        from .analyses import performance_similarity, rep_vs_performance

        names = list(predictions)
        layers = {n: _resolve_layer(plan.layer, self.layers[n], n, "analyses.performance.layer")
                  for n in names}
        similarity = self._model_similarity(layers)
        label = plan.layer if plan.layer not in ("last", "penultimate") else f"{plan.layer} layer"
        test = rep_vs_performance({label: similarity}, predictions, labels,
                                  performance=plan.measure, n_permutations=plan.n_permutations,
                                  seed=0)
        perf = performance_similarity(predictions, labels)
        groups = {m.name: m.group for m in self.config.models}
        perf["representational_similarity"] = [
            similarity.loc[a, b] for a, b in zip(perf["model_a"], perf["model_b"], strict=True)]
        perf["pair"] = ["same architecture" if groups[a] == groups[b] else
                        "different architectures"
                        for a, b in zip(perf["model_a"], perf["model_b"], strict=True)]
        self.record.add_table(
            perf, "performance_pairs", section=_S_PERF,
            title="Performance and representational similarity of every pair of models",
            caption=f"Accuracies and performance similarities on {scope}; "
                    f"representational_similarity is the {_method_name(self.comparison.method)} "
                    "correlation "
                    f"of the two models' {label} RDMs.")
        self.record.add_table(
            test, "rep_vs_performance", section=_S_PERF,
            title="Does representational similarity track performance similarity?",
            caption="Correlation across model pairs, with a Mantel test that permutes the "
                    "models (pairs sharing a model are not independent) and a bootstrap "
                    "interval over models.")
        row = test.iloc[0]
        self.record.highlights.append(
            f"Across {int(row['n_models'])} models ({int(row['n_pairs'])} pairs), "
            f"representational similarity ({label}) and {plan.measure.replace('_', ' ')} "
            f"correlate with {_CORRELATION_NAMES.get(row['correlation'], row['correlation'])} = "
            f"{row['statistic']:.2f} (Mantel p = {row['pvalue']:.3g}, {row['confidence']:.0%} "
            f"CI {row['ci_low']:.2f} to {row['ci_high']:.2f}).")
        if self.wants("performance"):
            from .plots import plot_similarity_vs_performance

            fig = plot_similarity_vs_performance(
                perf, x=plan.measure, y="representational_similarity", hue="pair",
                xlabel=f"performance similarity ({plan.measure.replace('_', ' ')})",
                ylabel=f"representational similarity ({_method_name(self.comparison.method)}, "
                       f"{label})")
            self.record.add_figure(
                fig, "rep_vs_performance", section=_S_PERF,
                title="Representational against performance similarity",
                caption=f"Each point is a pair of models: how alike they perform on {scope} "
                        f"({plan.measure.replace('_', ' ')}) against how alike their "
                        f"{label} RDMs are. The line is a least-squares fit with a bootstrap "
                        "band; pairs that share a model are not independent, so read the "
                        "Mantel test in the table below for the p-value (seed 000's "
                        "question).")

    def _predictions(self, plan):
        models = [m for m in self.config.models if m.weights == "trained"]
        if plan.predictions == "zoo":
            models = [m for m in models if m.spec.startswith("zoo:")]
            if len(models) < 3:
                raise _Skip("it needs at least 3 trained zoo models (their cards hold the "
                            f"test-set predictions); this run has {len(models)}.")
            from .analyses import read_zoo_predictions

            by_spec, labels = read_zoo_predictions([m.spec for m in models])
            predictions = {m.name: by_spec[m.spec] for m in models}
            return predictions, labels, f"all {len(labels)} held-out digits"
        if self.labels is None:
            raise _Skip("predictions='argmax' needs class labels on the stimuli.")
        if len(models) < 3:
            raise _Skip(f"it needs at least 3 trained models; this run has {len(models)}.")
        labels = self.labels.to_numpy()
        predictions = {}
        for m in models:
            X, _ = self.store.load_activations(m.name, self.layers[m.name][-1],
                                               stimuli=self.stimuli.content_hash())
            predictions[m.name] = np.argmax(X, axis=1)
        return predictions, labels, f"the run's {len(labels)} stimuli (argmax of the last layer)"

    def _model_similarity(self, layers):
        import pandas as pd

        result = self.comparison
        meta = result.metadata_a
        names = list(layers)
        index = []
        for n in names:
            hit = np.flatnonzero((meta["model"] == n) & (meta["layer"] == layers[n]))
            index.append(int(hit[0]))
        values = result.matrix[np.ix_(index, index)]
        if result.kind != "similarity":
            values = -values  # a distance: larger means less similar
        return pd.DataFrame(values, index=names, columns=names)


def _paired_palette(models):
    """One hue per architecture: dark for trained weights, light for any other weights."""
    import matplotlib as mpl

    pairs = mpl.colormaps["tab20"]
    architectures = list(dict.fromkeys(m.group for m in models))
    palette = {}
    for m in models:
        hue = 2 * (architectures.index(m.group) % 10)
        trained = m.weights == "trained"
        palette[m.group + ("" if trained else f" ({m.weights})")] = pairs(hue + (0 if trained
                                                                                  else 1))
    return palette


def _defined_part(result):
    """Drop the entries of a symmetric comparison whose values are undefined (NaN).

    Returns the comparison without them and their "model · layer" labels.
    """
    from .compare import ComparisonResult

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
    sub_meta = meta.iloc[index].reset_index(drop=True)
    return ComparisonResult(result.matrix[np.ix_(index, index)], result.method, result.params,
                            result.kind, sub_meta, sub_meta, result.n_stimuli,
                            result.n_entries, True), dropped


class _Skip(Exception):
    """An analysis that does not apply to this run (the reason goes into the report)."""


def _load_stimuli(config: RunConfig):
    from .datasets import digits
    from .stimuli import StimulusSet

    source = config.stimuli.source
    if source == "digits" or source.startswith("digits:"):
        split = source.partition(":")[2] or "all"
        try:
            return digits(split=split)
        except ValueError as err:
            raise ConfigError("stimuli.source", f"config key 'stimuli.source': {err}") from None
    path = config.resolve(source)
    if path.is_dir():
        return StimulusSet.from_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return StimulusSet.from_csv(path)
    if suffix == ".json":
        return StimulusSet.from_meta_json(path)
    raise ConfigError("stimuli.source", f"config key 'stimuli.source' must be 'digits[:train|"
                                        f"test]', a folder, a .csv or a meta .json; got "
                                        f"{source!r} (resolved to {str(path)!r}, which "
                                        f"{'does not exist' if not path.exists() else 'is none'}"
                                        ").")


def _selectors(layers):
    if isinstance(layers, tuple):
        return list(layers)
    return layers


def _resolve_layer(spec, layers, model, key):
    if spec == "last":
        return layers[-1]
    if spec == "penultimate":
        return layers[-2] if len(layers) > 1 else layers[-1]
    if spec not in layers:
        from ._validation import suggest

        raise ConfigError(key, f"config key {key!r}: model {model!r} has no extracted layer "
                               f"{spec!r}.{suggest(spec, layers)} Use 'last', 'penultimate' or "
                               f"one of: {', '.join(layers)}.")
    return spec


def _class_structure(rdm, labels) -> dict:
    """Mean within- and between-class dissimilarity of an RDM (labels indexed by stimulus id)."""
    classes = labels.loc[list(rdm.stimulus_ids)].to_numpy()
    i, j = np.triu_indices(len(classes), k=1)
    values = rdm.vector()
    same = classes[i] == classes[j]
    within = float(values[same].mean()) if same.any() else float("nan")
    between = float(values[~same].mean()) if (~same).any() else float("nan")
    return {"within_class": within, "between_class": between,
            "ratio": between / within if within > 0 else float("nan")}


_CORRELATION_NAMES = {"spearman": "Spearman ρ", "pearson": "Pearson r"}


def _method_name(method) -> str:
    """``"spearman"`` -> ``"Spearman"`` for captions (other names unchanged)."""
    return {"spearman": "Spearman", "pearson": "Pearson", "kendall_tau_a": "Kendall τa",
            "kendall_tau_b": "Kendall τb", "rho_a": "Spearman ρa"}.get(method, method)


def _slug(name) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(name)).strip("_").lower()

