"""Run plans: a TOML file (or a dict) checked once and turned into a frozen :class:`RunConfig`.

A config names everything a run needs: the stimuli, the models and their
weights, the layers and reductions, the RDM measures, the comparison
methods, the analyses and the outputs. ``deeprsa run config.toml`` executes
it (see :func:`deeprsa.demo.run_config`); the same plan is a Python object,
built with :meth:`RunConfig.from_dict` or :func:`load_config`.

A minimal config::

    [stimuli]
    source = "digits:test"       # digits[:train|test], a folder, a .csv or a meta.json
    n_per_class = 10

    [[models]]
    spec = "zoo:convnet_s{seed}"  # {seed} expands over `seeds`
    seeds = [0, 1, 2]
    weights = ["trained", "random"]

Every key is checked: an unknown key, or a value outside the allowed ones,
raises :class:`ConfigError` naming the key (``models[1].weights``), what was
given, the closest allowed value and the full list.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ._validation import suggest

__all__ = [
    "ConfigError",
    "FIGURES",
    "ModelPlan",
    "RunConfig",
    "load_config",
]

#: The figures a run can draw, by name, with what each shows.
FIGURES = {
    "images": "the stimuli, one row per class",
    "rdms": "the RDM of every layer of each focus model, sorted by class",
    "rdm": "the last layer's RDM of each focus model, raw and as percentiles",
    "model_rdm": "the model RDM (layers x layers) of each focus model",
    "multi_model_rdm": "the multi-model RDM of all layers of all models",
    "mds_layers": "MDS of all layers of all models, with a trajectory through each model",
    "mds_model": "MDS of a focus model's layers, lines coloured by dissimilarity",
    "mds_stimuli": "MDS of the stimuli in a focus model's last layer, with thumbnails",
    "dimensionality": "PCA variance curves and components to reach the threshold",
    "srm": "activity trajectories before and after SRM alignment",
    "performance": "representational against performance similarity of model pairs",
}

_WEIGHT_KINDS = ("trained", "random")
_LAYER_SHORTCUTS = ("last", "penultimate")
_PREDICTIONS = ("zoo", "argmax")
_FORMATS = ("png", "svg", "pdf")
_DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type.

    Attributes
    ----------
    key : str
        Dotted path of the offending key, e.g. ``"models[1].weights"``.
    """

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


# ============================================================================ plan objects


@dataclass(frozen=True)
class StimuliPlan:
    """Which stimuli, how many per class, and their order.

    Attributes
    ----------
    source : str
        ``"digits"``, ``"digits:train"``, ``"digits:test"``, a folder of images
        (flat or one subfolder per class), a ``.csv`` or a seed-000 ``meta.json``.
    n_per_class : int or None
        Draw this many stimuli per class (None: all).
    seed : int
        Seeds the draw.
    label : str
        Metadata column holding the classes.
    sort_by : tuple of str
        Columns the stimuli are sorted by (default the classes).
    """

    source: str
    n_per_class: int | None = None
    seed: int = 0
    label: str = "label"
    sort_by: tuple[str, ...] = ("label",)


@dataclass(frozen=True)
class ModelPlan:
    """One network of the run (after ``seeds`` / ``weights`` lists are expanded).

    Attributes
    ----------
    spec : str
        ``"<source>:<name>"``, e.g. ``"zoo:convnet_s0"`` or ``"torchvision:alexnet"``.
    weights : str
        ``"trained"``, ``"random"`` or the path of a state dict.
    seed : int or None
        Seed of random weights (None: the source's default).
    name : str
        Label in the store, tables and figures.
    group : str
        Architecture label: colours, and which models SRM aligns.
    layers : str or tuple
        Layer selectors (names, globs, types, ordinals) or a preset.
    reduction : str or mapping
        How each layer's output becomes (n_stimuli, n_features).
    """

    spec: str
    weights: str = "trained"
    seed: int | None = None
    name: str = ""
    group: str = ""
    layers: str | tuple = "top_level"
    reduction: str | Mapping = "flatten"


@dataclass(frozen=True)
class ExtractPlan:
    """Forward passes: ``batch_size`` stimuli at a time on ``device``."""

    batch_size: int = 64
    device: str = "cpu"


@dataclass(frozen=True)
class RDMPlan:
    """First-order RDMs: every layer with each measure; the first one is drawn."""

    measures: tuple[str, ...] = ("correlation",)
    dtype: str = "float32"


@dataclass(frozen=True)
class ComparePlan:
    """Second-order comparisons (model and multi-model RDMs); the first method is drawn."""

    methods: tuple[str, ...] = ("spearman",)


@dataclass(frozen=True)
class MDSPlan:
    """MDS maps: metric or not, 2-D or 3-D, thumbnails per class on the stimulus map."""

    metric: bool = True
    n_components: int = 2
    thumbnails_per_class: int = 4


@dataclass(frozen=True)
class DimensionalityPlan:
    """PCA of every layer: components to reach ``threshold``, on ``n_units`` sampled units."""

    threshold: float = 0.8
    n_units: int | None = 1000


@dataclass(frozen=True)
class SRMPlan:
    """SRM across models of one group (architecture) and weights, at ``layer``."""

    layer: str = "penultimate"
    n_components: int = 10


@dataclass(frozen=True)
class PerformancePlan:
    """Representational (at ``layer``) against performance similarity of model pairs."""

    predictions: str = "zoo"
    layer: str = "last"
    measure: str = "error_consistency"
    n_permutations: int = 2000


@dataclass(frozen=True)
class DecodingPlan:
    """Cross-validated linear SVM decoding of a metadata ``column`` from every layer."""

    column: str = "label"
    cv: int = 5


@dataclass(frozen=True)
class AnalysesPlan:
    """Analyses to run; None switches one off (decoding is off unless asked for)."""

    mds: MDSPlan | None = field(default_factory=MDSPlan)
    dimensionality: DimensionalityPlan | None = field(default_factory=DimensionalityPlan)
    srm: SRMPlan | None = field(default_factory=SRMPlan)
    performance: PerformancePlan | None = field(default_factory=PerformancePlan)
    decoding: DecodingPlan | None = None


@dataclass(frozen=True)
class OutputsPlan:
    """Where results go, which figures are drawn, for which (focus) models."""

    dir: str | None = None
    figures: tuple[str, ...] = tuple(FIGURES)
    formats: tuple[str, ...] = ("png", "svg")
    report: bool = True
    focus: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    """A validated run plan: what ``deeprsa run`` executes.

    Build it with :meth:`from_dict` or :func:`load_config`; both check every
    key. Sections mirror the TOML file.

    Attributes
    ----------
    title : str
    stimuli : StimuliPlan
    models : tuple of ModelPlan
        Expanded: one entry per network, with unique names.
    extract : ExtractPlan
    rdm : RDMPlan
    compare : ComparePlan
    analyses : AnalysesPlan
    outputs : OutputsPlan
    base_dir : str or None
        Folder relative paths are resolved against (the TOML file's folder).

    Examples
    --------
    >>> config = RunConfig.from_dict({
    ...     "stimuli": {"source": "digits:test", "n_per_class": 5},
    ...     "models": [{"spec": "zoo:mlp_s{seed}", "seeds": [0, 1]},
    ...                {"spec": "zoo:mlp_s0", "weights": "random"}]})
    >>> [(m.name, m.group, m.weights) for m in config.models]
    [('mlp_s0', 'mlp', 'trained'), ('mlp_s1', 'mlp', 'trained'), ('mlp_s0 (random)', 'mlp', 'random')]
    >>> config.rdm.measures, config.outputs.focus
    (('correlation',), ('mlp_s0', 'mlp_s0 (random)'))
    >>> RunConfig.from_dict({"stimuli": {"source": "digits"}, "modles": []})
    Traceback (most recent call last):
    ...
    deeprsa.config.ConfigError: Unknown config key 'modles'. Did you mean 'models'? Allowed keys at the top level: 'analyses', 'compare', 'extract', 'models', 'outputs', 'rdm', 'stimuli', 'title'.
    """

    stimuli: StimuliPlan
    models: tuple[ModelPlan, ...]
    title: str = "deeprsa run"
    extract: ExtractPlan = field(default_factory=ExtractPlan)
    rdm: RDMPlan = field(default_factory=RDMPlan)
    compare: ComparePlan = field(default_factory=ComparePlan)
    analyses: AnalysesPlan = field(default_factory=AnalysesPlan)
    outputs: OutputsPlan = field(default_factory=OutputsPlan)
    base_dir: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping, *, base_dir=None) -> RunConfig:
        """Check ``data`` (the parsed TOML) and build the plan.

        Parameters
        ----------
        data : mapping
            Sections ``stimuli`` and ``models`` are required; see the module
            docstring and ``examples/*.toml``.
        base_dir : str or Path, optional
            Folder that relative paths (stimuli, weights, outputs) refer to.

        Raises
        ------
        ConfigError
            Naming the key, the value given and the allowed values.
        """
        return _build(data, base_dir=None if base_dir is None else str(base_dir))

    def to_dict(self) -> dict:
        """The plan as plain data (round-trips through :meth:`from_dict`, minus expansion)."""
        out = {}
        for f in fields(self):
            if f.name == "base_dir":
                continue
            value = getattr(self, f.name)
            if f.name == "models":
                out["models"] = [_plain(asdict(m)) for m in value]
            elif f.name == "analyses":
                out["analyses"] = {k: (False if v is None else _plain(v))
                                   for k, v in asdict(value).items()}
            elif hasattr(value, "__dataclass_fields__"):
                out[f.name] = _plain(asdict(value))
            else:
                out[f.name] = value
        return out

    def resolve(self, path) -> Path:
        """``path`` relative to the config's folder (absolute paths unchanged)."""
        path = Path(path).expanduser()
        if path.is_absolute() or self.base_dir is None:
            return path
        return Path(self.base_dir) / path


def _plain(value):
    """Tuples -> lists, None dropped, for TOML/JSON round trips."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_config(path) -> RunConfig:
    """Read and check a TOML run config.

    Relative paths in the file (stimulus folders, weight files, the output
    directory) are taken relative to the file's folder.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    RunConfig

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ConfigError
        If the file is not valid TOML, or a key or value is not allowed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = path.write_text('[stimuli]\\nsource = "digits:test"\\n\\n'
    ...                     '[[models]]\\nspec = "zoo:convnet_s0"\\n')
    >>> config = load_config(path)
    >>> config.models[0].name, config.outputs.dir == str(path.parent / "run_results")
    ('convnet_s0', True)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file {str(path)!r} does not exist.")
    text = path.read_text()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError("Reading TOML on Python 3.10 needs tomli: pip install tomli."
                              ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("", f"{str(path)!r} is not valid TOML: {err}.") from None
    config = _build(data, base_dir=str(path.parent))
    if config.outputs.dir is None:
        # Absolute, so that resolve() does not put the config's folder in front twice.
        outputs = replace(config.outputs,
                          dir=str(path.parent.absolute() / f"{path.stem}_results"))
        config = replace(config, outputs=outputs)
    return config


# ============================================================================ checking


_TOP = ("title", "stimuli", "models", "extract", "rdm", "compare", "analyses", "outputs")
_MODEL_KEYS = ("spec", "weights", "seed", "seeds", "name", "group", "layers", "reduction")
_ANALYSES = {"mds": MDSPlan, "dimensionality": DimensionalityPlan, "srm": SRMPlan,
             "performance": PerformancePlan, "decoding": DecodingPlan}
_OFF_BY_DEFAULT = ("decoding",)


def _check_keys(table, allowed, where):
    if not isinstance(table, Mapping):
        key = where or "config"
        raise ConfigError(key, f"config key {key!r} must be a table ([{key}]), got "
                               f"{type(table).__name__} {table!r}.")
    for key in table:
        if key not in allowed:
            full = f"{where}.{key}" if where else key
            close = suggest(key, allowed)
            if close:
                close = close.replace("'", "'" + (where + "." if where else ""), 1)
            scope = f"in [{where}]" if where else "at the top level"
            raise ConfigError(full, f"Unknown config key {full!r}.{close} Allowed keys {scope}: "
                                    f"{', '.join(map(repr, sorted(allowed)))}.")


def _option(key, value, allowed, what):
    """Check one registered name; prefix the shared did-you-mean message with the key."""
    from ._validation import check_option

    try:
        return check_option(what, value, allowed)
    except ValueError as err:
        raise ConfigError(key, f"config key {key!r}: {err}") from None


def _int(key, value, *, low=None, optional=False):
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
        bound = "an int" if low is None else "a positive int" if low == 1 else f"an int >= {low}"
        raise ConfigError(key, f"config key {key!r} must be {bound}, got {value!r}.")
    return value


def _bool(key, value):
    if not isinstance(value, bool):
        raise ConfigError(key, f"config key {key!r} must be true or false, got {value!r}.")
    return value


def _str(key, value):
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"config key {key!r} must be a non-empty string, got {value!r}.")
    return value


def _strings(key, value):
    """A string or a list of strings -> tuple of str."""
    return tuple(v for _, v in _each(key, value))


def _each(key, value):
    """``(key of the item, item)`` of a string or a non-empty list of strings."""
    if isinstance(value, str):
        return [(key, _str(key, value))]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(key, f"config key {key!r} must be a string or a non-empty list of "
                               f"strings, got {value!r}.")
    return [(f"{key}[{i}]", _str(f"{key}[{i}]", v)) for i, v in enumerate(value)]


def _fraction(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(key, f"config key {key!r} must be a number in (0, 1], got {value!r}.")
    return float(value)


def _build(data, *, base_dir):
    _check_keys(data, _TOP, "")
    title = _str("title", data.get("title", "deeprsa run"))
    if "stimuli" not in data:
        raise ConfigError("stimuli", "config key 'stimuli' is missing: add a [stimuli] table "
                                     "with e.g. source = \"digits:test\".")
    stimuli = _stimuli(data["stimuli"])
    if "models" not in data:
        raise ConfigError("models", "config key 'models' is missing: add at least one "
                                    "[[models]] table, e.g. spec = \"zoo:convnet_s0\".")
    models = _models(data["models"])
    extract = _section(data, "extract", {"batch_size": lambda k, v: _int(k, v, low=1),
                                          "device": _str}, ExtractPlan)
    rdm = _section(data, "rdm", {"measures": _measures, "dtype":
                                 lambda k, v: _option(k, v, _DTYPES, "dtype")}, RDMPlan)
    compare = _section(data, "compare", {"methods": _methods}, ComparePlan)
    analyses = _analyses(data.get("analyses", {}))
    outputs = _outputs(data.get("outputs", {}), models)
    return RunConfig(title=title, stimuli=stimuli, models=models, extract=extract, rdm=rdm,
                     compare=compare, analyses=analyses, outputs=outputs, base_dir=base_dir)


def _section(data, name, checks, cls, where=None):
    table = data.get(name, {})
    where = where or name
    _check_keys(table, checks, where)
    return cls(**{k: checks[k](f"{where}.{k}", v) for k, v in table.items()})


def _stimuli(table):
    checks = {"source": _str, "n_per_class": lambda k, v: _int(k, v, low=1),
              "seed": lambda k, v: _int(k, v, low=0), "label": _str, "sort_by": _strings}
    _check_keys(table, checks, "stimuli")
    if "source" not in table:
        raise ConfigError("stimuli.source", "config key 'stimuli.source' is missing: name the "
                                            "stimuli, e.g. source = \"digits:test\" or a folder "
                                            "of images.")
    values = {k: checks[k](f"stimuli.{k}", v) for k, v in table.items()}
    if "sort_by" not in values:
        values["sort_by"] = (values.get("label", "label"),)
    return StimuliPlan(**values)


def _measures(key, value):
    from .rdm import list_measures

    return tuple(_option(k, v, list_measures(), "measure") for k, v in _each(key, value))


def _methods(key, value):
    from .compare import list_methods

    return tuple(_option(k, v, list_methods(), "method") for k, v in _each(key, value))


def _models(value):
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError("models", "config key 'models' must hold at least one [[models]] "
                                    f"table, got {value!r}.")
    from .extract import list_reductions
    from .models import list_sources

    models, seen = [], {}
    for i, table in enumerate(value):
        where = f"models[{i}]"
        _check_keys(table, _MODEL_KEYS, where)
        if "spec" not in table:
            raise ConfigError(f"{where}.spec", f"config key '{where}.spec' is missing: name the "
                                               "network, e.g. spec = \"zoo:convnet_s0\".")
        spec = _str(f"{where}.spec", table["spec"])
        source, sep, target = spec.partition(":")
        if not sep or not target:
            raise ConfigError(f"{where}.spec", f"config key '{where}.spec' must be "
                                               f"'<source>:<name>', e.g. 'zoo:convnet_s0'; got "
                                               f"{spec!r}.")
        _option(f"{where}.spec", source, list_sources(), "model source")
        weights = _weights(f"{where}.weights", table.get("weights", "trained"))
        if "seed" in table and "seeds" in table:
            raise ConfigError(f"{where}.seeds", f"config keys '{where}.seed' and '{where}.seeds' "
                                                "exclude each other; use seeds = [...] for "
                                                "several.")
        seeds = _seeds(where, table)
        templated = "{seed}" in spec
        if templated and seeds == (None,):
            raise ConfigError(f"{where}.seeds", f"config key '{where}.spec' contains {{seed}}; "
                                                "give the seeds, e.g. seeds = [0, 1, 2].")
        layers = table.get("layers", "top_level")
        if isinstance(layers, list):
            layers = tuple(layers)
        elif not isinstance(layers, (str, int)):
            raise ConfigError(f"{where}.layers", f"config key '{where}.layers' must be a "
                                                 "string or a list, got {layers!r}.")
        reduction = table.get("reduction", "flatten")
        for k, r in ([(f"{where}.reduction", reduction)] if isinstance(reduction, str) else
                     [(f"{where}.reduction.{n}", r) for n, r in _table(
                         f"{where}.reduction", reduction).items()]):
            _option(k, _str(k, r).partition(":")[0], list_reductions(), "reduction")
        for seed in seeds:
            for w in weights:
                target_name = target.format(seed=seed) if templated else target
                model_spec = f"{source}:{target_name}"
                init_seed = None if templated else seed
                name = _model_name(table.get("name"), where, target_name, w, init_seed, seed)
                group = table.get("group") or _architecture(target)
                plan = ModelPlan(spec=model_spec, weights=w, seed=init_seed, name=name,
                                 group=_str(f"{where}.group", group), layers=layers,
                                 reduction=reduction)
                if name in seen:
                    raise ConfigError(f"{where}.name", f"config key 'models': two models are "
                                                       f"named {name!r} ({seen[name]} and "
                                                       f"{where}); give each a distinct name.")
                seen[name] = where
                models.append(plan)
    return tuple(models)


def _table(key, value):
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"config key {key!r} must be a string or a table, got {value!r}.")
    return value


def _weights(key, value):
    items = _each(key, value)
    for k, w in items:
        if w in _WEIGHT_KINDS or w.endswith((".pt", ".pth", ".bin", ".safetensors")) \
                or "/" in w:
            continue
        raise ConfigError(k, f"config key {k!r} must be 'trained', 'random' or the path of a "
                             f"state dict; got {w!r}.{suggest(w, _WEIGHT_KINDS)}")
    return tuple(w for _, w in items)


def _seeds(where, table):
    if "seeds" in table:
        value = table["seeds"]
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{where}.seeds", f"config key '{where}.seeds' must be a "
                                                f"non-empty list of ints, got {value!r}.")
        return tuple(_int(f"{where}.seeds[{i}]", s, low=0) for i, s in enumerate(value))
    if "seed" in table:
        return (_int(f"{where}.seed", table["seed"], low=0),)
    return (None,)


def _architecture(target):
    """``convnet_s{seed}`` / ``convnet_s0_epoch3`` / ``alexnet`` -> the architecture label."""
    name = re.sub(r"_s(\d+|\{seed\})(_epoch\d+)?$", "", target)
    return name or target


def _model_name(template, where, target, weights, init_seed, seed):
    if template is not None:
        name = _str(f"{where}.name", template)
        try:
            return name.format(seed=seed, weights=weights)
        except (KeyError, IndexError, ValueError):
            raise ConfigError(f"{where}.name", f"config key '{where}.name' may use {{seed}} and "
                                               f"{{weights}} only; got {name!r}.") from None
    if weights == "trained":
        return target
    if weights == "random":
        return f"{target} (random)" if init_seed is None else f"{target} (random, seed {seed})"
    return f"{target} ({Path(weights).stem})"


def _analyses(table):
    _check_keys(table, _ANALYSES, "analyses")
    checks = {
        "mds": {"metric": _bool, "n_components": _n_components,
                "thumbnails_per_class": lambda k, v: _int(k, v, low=0)},
        "dimensionality": {"threshold": _fraction, "n_units": lambda k, v: _int(k, v, low=2)},
        "srm": {"layer": _str, "n_components": lambda k, v: _int(k, v, low=2)},
        "performance": {"predictions": lambda k, v: _option(k, v, _PREDICTIONS, "predictions"),
                        "layer": _str, "measure": _performance_measure,
                        "n_permutations": lambda k, v: _int(k, v, low=1)},
        "decoding": {"column": _str, "cv": lambda k, v: _int(k, v, low=2)},
    }
    values = {}
    for name, cls in _ANALYSES.items():
        value = table.get(name, name not in _OFF_BY_DEFAULT)
        key = f"analyses.{name}"
        if isinstance(value, bool):
            values[name] = cls() if value else None
        else:
            values[name] = _section(table, name, checks[name], cls, where=key)
    return AnalysesPlan(**values)


def _n_components(key, value):
    if value not in (2, 3) or isinstance(value, bool):
        raise ConfigError(key, f"config key {key!r} must be 2 or 3 (a 2-D or 3-D map), got "
                               f"{value!r}.")
    return value


def _performance_measure(key, value):
    from .analyses import describe_performance_measures

    names = describe_performance_measures()["name"].tolist()
    return _option(key, value, names, "performance measure")


def _outputs(table, models):
    checks = {"dir": _str, "figures": _figures, "formats": _formats, "report": _bool,
              "focus": _strings}
    _check_keys(table, checks, "outputs")
    values = {k: checks[k](f"outputs.{k}", v) for k, v in table.items()}
    names = [m.name for m in models]
    if "focus" in values:
        for k, name in _each("outputs.focus", table["focus"]):
            _option(k, name, names, "model")
    else:
        first = models[0]
        other = next((m for m in models if m.weights != first.weights), None)
        values["focus"] = (first.name,) + ((other.name,) if other else ())
    return OutputsPlan(**values)


def _figures(key, value):
    if value == "all":
        return tuple(FIGURES)
    return tuple(_option(k, v, FIGURES, "figure") for k, v in _each(key, value))


def _formats(key, value):
    return tuple(_option(k, v, _FORMATS, "format") for k, v in _each(key, value))

