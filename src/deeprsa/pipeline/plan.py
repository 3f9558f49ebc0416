"""From a checked config to a validated plan: what to compute, as tasks with content keys.

:func:`build_plan` does everything that can fail before the first forward
pass: it loads and draws the stimuli (their columns checked), loads every
model and probes its layers with one stimulus (every layer name checked
against the address book, every reduction against its layer's output), and
checks the analyses' options (layer names, metadata columns). A bad layer or
column fails in seconds. The plan then names every store array the run
writes (activations and RDMs, by content key), so both executors find the
same arrays and nothing is computed twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._validation import suggest
from .config import ConfigError, ModelPlan, RunConfig, load_config

__all__ = ["ModelLayers", "Plan", "Task", "build_plan"]


@dataclass(frozen=True)
class Task:
    """One array the run writes (or one comparison), named by its content key.

    Attributes
    ----------
    stage : {"extract", "rdm", "compare"}
    model, layer, measure, method : str or None
        What it is of.
    key : str or None
        Its key in the store (None for comparisons, keyed once their RDMs exist).
    n_bytes : int
        Size of the array on disk, uncompressed.
    """

    stage: str
    model: str | None
    layer: str | None
    measure: str | None
    method: str | None
    key: str | None
    n_bytes: int


@dataclass(frozen=True)
class ModelLayers:
    """One model of the plan, probed: its layers, their reductions, widths and keys.

    Attributes
    ----------
    model : ModelPlan
    layer_plan : deeprsa.extract.LayerPlan
        What probing the layers found (names, reductions, widths, store keys).
    info : mapping
        What loading told: ``seed``, ``weights_hash``, ``test_accuracy`` (zoo cards).
    """

    model: ModelPlan
    layer_plan: object
    info: Mapping = field(default_factory=dict)

    @property
    def layers(self) -> tuple:
        return self.layer_plan.names

    @property
    def reductions(self) -> Mapping:
        return self.layer_plan.reductions

    @property
    def widths(self) -> Mapping:
        return self.layer_plan.widths

    @property
    def fields(self) -> Mapping:
        return self.layer_plan.fields

    @property
    def keys(self) -> Mapping:
        return self.layer_plan.keys


@dataclass(frozen=True)
class Plan:
    """A validated run: the config, the drawn stimuli, every model's layers, the tasks.

    Attributes
    ----------
    config : RunConfig
    stimuli : StimulusSet
        Drawn per class and sorted as the config says: the rows of every array.
    models : tuple of ModelLayers
    tasks : tuple of Task
        Extraction (one per layer), RDMs (one per layer and measure) and
        comparisons (one per method), in the order they run.
    """

    config: RunConfig
    stimuli: object
    models: tuple
    tasks: tuple = field(default=())

    @property
    def labels(self):
        """The stimuli's class column (indexed by stimulus id), or None."""
        meta = self.stimuli.metadata
        label = self.config.stimuli.label
        return meta[label] if label in meta.columns else None

    def layers(self, model: str) -> list[str]:
        """The layers of ``model`` (its name in the config), in network order."""
        for m in self.models:
            if m.model.name == model:
                return list(m.layers)
        raise KeyError(f"No model {model!r} in the plan.{suggest(model, self.names)}")

    @property
    def names(self) -> list[str]:
        """The models' names, in config order."""
        return [m.model.name for m in self.models]

    def describe(self) -> str:
        """The plan in a few lines: what runs, how many arrays, how many bytes."""
        n = len(self.stimuli)
        lines = [f"Plan: {n} stimuli, {len(self.models)} model(s), "
                 f"{sum(len(m.layers) for m in self.models)} layer(s)."]
        for stage, what in (("extract", "activations"), ("rdm", "RDMs")):
            tasks = [t for t in self.tasks if t.stage == stage]
            total = sum(t.n_bytes for t in tasks)
            lines.append(f"  {stage:8s} {len(tasks):5d} {what:12s} {_size(total):>10s}")
        methods = [t.method for t in self.tasks if t.stage == "compare"]
        lines.append(f"  compare  {len(methods):5d} comparisons  ({', '.join(methods)})")
        for m in self.models:
            widths = [m.widths[layer] for layer in m.layers]
            lines.append(f"    {m.model.name}: {len(m.layers)} layers, "
                         f"{min(widths):,}-{max(widths):,} features")
        return "\n".join(lines)


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return ""  # pragma: no cover


def as_config(config) -> tuple[RunConfig, Path | None]:
    """A RunConfig from a RunConfig, a mapping, or the path of a TOML file (and that path)."""
    if isinstance(config, RunConfig):
        return config, None
    if isinstance(config, (str, Path)):
        return load_config(config), Path(config)
    if isinstance(config, Mapping):
        return RunConfig.from_dict(config), None
    raise TypeError(f"config must be a RunConfig, a mapping or the path of a TOML file, got "
                    f"{type(config).__name__}.")


def build_plan(config, *, stimuli=None) -> Plan:
    """Check a whole run before any work: stimuli, models, layers, measures, analyses.

    Parameters
    ----------
    config : RunConfig, mapping, or str or Path of a TOML file
    stimuli : StimulusSet, optional
        Use these stimuli instead of drawing them from ``config.stimuli``.

    Returns
    -------
    Plan

    Raises
    ------
    ConfigError
        Naming the config key at fault: a stimulus column that is not there,
        a model that does not load, a layer that is not in a network (with
        the closest names), an analysis layer or column that does not exist.
    """
    config, _ = as_config(config)
    stimuli = draw_stimuli(config) if stimuli is None else stimuli
    models = tuple(_probe(m, stimuli, config) for m in config.models)
    plan = Plan(config, stimuli, models)
    _check_analyses(plan)
    return Plan(config, stimuli, models, tuple(_tasks(plan)))


def draw_stimuli(config: RunConfig):
    """The config's stimuli: loaded, drawn per class and sorted (columns checked)."""
    from ..stimuli import load_stimuli

    spec = config.stimuli
    try:
        stimuli = load_stimuli(spec.source, base_dir=config.base_dir)
    except (ValueError, FileNotFoundError) as err:
        raise ConfigError("stimuli.source", f"config key 'stimuli.source': {err}") from None
    columns = list(stimuli.metadata.columns)
    if spec.n_per_class is not None:
        if spec.label not in columns:
            raise ConfigError("stimuli.label", f"config key 'stimuli.n_per_class' draws per "
                                               f"class, but the stimuli have no column "
                                               f"{spec.label!r}; columns: {columns}.")
        stimuli = stimuli.sample(spec.n_per_class, seed=spec.seed, column=spec.label)
    for i, col in enumerate(spec.sort_by):
        if col not in columns:
            raise ConfigError(f"stimuli.sort_by[{i}]", f"config key 'stimuli.sort_by[{i}]': "
                                                       f"no stimulus column {col!r}; "
                                                       f"columns: {columns}.")
    if spec.sort_by:
        stimuli = stimuli.sort_by(list(spec.sort_by))
    return stimuli


def _probe(model: ModelPlan, stimuli, config: RunConfig) -> ModelLayers:
    """Load ``model`` and probe its layers with one stimulus; errors name the config key."""
    from ..extract import probe_layers
    from ..models import WeightsUnavailableError, load_model

    try:
        loaded = load_model(model.spec, weights=model.weights, seed=model.seed,
                            name=model.name)
    except (ValueError, KeyError, ImportError, FileNotFoundError,
            WeightsUnavailableError) as err:
        raise ConfigError(f"{model.key}.spec", f"config key '{model.key}': model "
                                               f"{model.spec!r} ({model.weights} weights) "
                                               f"does not load: {_message(err)}") from None
    layers = list(model.layers) if isinstance(model.layers, tuple) else model.layers
    try:
        found = probe_layers(loaded, stimuli, layers, reduction=model.reduction,
                             device=config.extract.device, dtype=config.extract.dtype)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"{model.key}.layers", f"config key '{model.key}.layers' (model "
                                                 f"{model.name!r}): {_message(err)}") from None
    info = {"seed": loaded.seed, "weights_hash": loaded.weights_hash,
            "test_accuracy": dict(loaded.info).get("test_accuracy")}
    return ModelLayers(model, found, info)


def _message(err) -> str:
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def resolve_layer(spec: str, layers, model: str, key: str) -> str:
    """``"last"``, ``"penultimate"`` or a layer name, as one of ``model``'s ``layers``."""
    if spec == "last":
        return layers[-1]
    if spec == "penultimate":
        return layers[-2] if len(layers) > 1 else layers[-1]
    if spec not in layers:
        raise ConfigError(key, f"config key {key!r}: model {model!r} has no extracted layer "
                               f"{spec!r}.{suggest(spec, layers)} Use 'last', 'penultimate' or "
                               f"one of: {', '.join(layers)}.")
    return spec


def _check_analyses(plan: Plan) -> None:
    """Every analysis option that names a layer or a column, checked against the plan."""
    from .sections.targets import check_targets

    analyses, columns = plan.config.analyses, list(plan.stimuli.metadata.columns)
    check_targets(plan.config, plan.stimuli.stimulus_ids)  # they load and label the stimuli
    if analyses.srm is not None:
        for m in plan.models:
            resolve_layer(analyses.srm.layer, list(m.layers), m.model.name, "analyses.srm.layer")
    if analyses.performance is not None:
        for m in plan.models:
            if m.model.weights == "trained":
                resolve_layer(analyses.performance.layer, list(m.layers), m.model.name,
                              "analyses.performance.layer")
    from ._parse_stacks import check_stack_plan

    check_stack_plan(plan)  # the stack's columns, groups and unit subsets; its analyses
    if analyses.decoding is not None and analyses.decoding.column not in columns:
        column = analyses.decoding.column
        raise ConfigError("analyses.decoding.column",
                          f"config key 'analyses.decoding.column': no stimulus column "
                          f"{column!r}.{suggest(column, columns)} Columns: {columns}.")


def _tasks(plan: Plan):
    """The store arrays the run writes, in order: activations, RDMs, comparisons."""
    from ..rdm import rdm_task

    config, ids = plan.config, plan.stimuli.stimulus_ids
    n = len(ids)
    for m in plan.models:
        for layer in m.layers:
            yield Task("extract", m.model.name, layer, None, None, m.keys[layer],
                       4 * n * m.widths[layer])
    itemsize = 4 if config.rdm.dtype == "float32" else 8
    for measure in config.rdm.measures:
        for m in plan.models:
            for layer in m.layers:
                task = rdm_task(m.keys[layer], m.fields[layer], ids, m.widths[layer], measure,
                                {}, dtype=config.rdm.dtype, nan_policy=config.rdm.nan_policy)
                yield Task("rdm", m.model.name, layer, measure, None, task.key,
                           itemsize * n * n)
    for method in config.compare.methods:
        yield Task("compare", None, None, config.rdm.measures[0], method, None, 0)
