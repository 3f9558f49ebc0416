"""Run plans: a TOML file (or a dict) checked once and turned into a frozen :class:`RunConfig`.

A config names everything a run needs: the stimuli, the models and their
weights, the layers and reductions, the RDM measures, the comparison
methods, the analyses and the outputs. ``deeprsa run config.toml`` executes
it (see :func:`deeprsa.pipeline.run_config`); the same plan is a Python object,
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

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

__all__ = [
    "ConfigError",
    "FIGURES",
    "ModelPlan",
    "RunConfig",
    "TargetPlan",
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
    "rdm_stack": "the stack's RDMs over entries: one per group, in a focus model's last layer",
    "meta_rdm": "the meta-RDM across groups in each layer of a focus model, and its MDS",
    "third_order": "the third-order RDM: how alike the meta-RDMs of a focus model's layers are",
    "anova": "the fraction of units selective for a column (ANOVA) in every layer",
    "subsets": "the most dissimilar stimuli in the last layer of each focus model",
    "cka": "a representation method (CKA, ...) between every pair of a focus model's layers",
    "layer_profile": "each model's layers against each target: score by depth, CI, noise "
                     "ceiling, best layer",
    "target_weights": "weighted RSA: the weight of every layer fitted to each target",
}

_WEIGHT_KINDS = ("trained", "random")
_LAYER_SHORTCUTS = ("last", "penultimate")
_PREDICTIONS = ("zoo", "argmax")
_FORMATS = ("png", "svg", "pdf")
_DTYPES = ("float32", "float64")
_STORAGE_DTYPES = ("float32", "float16")
_KEEP = ("activations", "rdms")


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
        (flat or one subfolder per class), a ``.csv`` or a ``meta.json`` (records with ``filename`` and ``class``).
    n_per_class : int or None
        Draw this many stimuli per class (None: all).
    seed : int
        Seeds the draw.
    label : str
        Metadata column holding the classes.
    sort_by : tuple of str
        Columns the stimuli are sorted by (default the classes; an empty list
        or false keeps the source's order).
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
    index: int | None = field(default=None, compare=False, repr=False)
    """Position of the ``[[models]]`` table this model came from (for error messages)."""

    @property
    def key(self) -> str:
        """The config key of this model's table, e.g. ``"models[1]"``."""
        return "models" if self.index is None else f"models[{self.index}]"


@dataclass(frozen=True)
class ExtractPlan:
    """Forward passes and what they keep: batches, device, storage, budgets, sketches.

    Attributes
    ----------
    batch_size : int
        Stimuli per forward pass.
    device : str
        Where the forward passes run (``"cpu"``, ``"cuda"``).
    dtype : {"float32", "float16"}
        How activations are stored (RDMs are computed in ``rdm.dtype``).
    max_disk, max_memory : int or None
        Budgets in bytes (a config may write ``"4GB"``): the planner groups each
        model's layers into forward passes whose activations fit ``max_disk``;
        with ``keep = "rdms"`` and a device that can hold a pass
        (``max_memory``), the pass never touches the disk.
    keep : {"activations", "rdms"}
        ``"rdms"`` deletes a layer's activations once its RDMs are computed.
    sketch : None, "auto" or int
        Sketch layers wider than k units (the ``sketch`` reduction): ``"auto"``
        chooses k per layer by the measured fidelity on a calibration subset.
    sketch_fidelity : float
        Spearman correlation between exact and sketched RDMs that ``"auto"`` reaches.
    sketch_calibration : int
        Stimuli of the calibration subset (drawn with ``sketch_seed``).
    sketch_seed : int
        Seeds the projections and the calibration subset.
    """

    batch_size: int = 64
    device: str = "cpu"
    dtype: str = "float32"
    max_disk: int | None = None
    max_memory: int | None = None
    keep: str = "activations"
    sketch: str | int | None = None
    sketch_fidelity: float = 0.99
    sketch_calibration: int = 500
    sketch_seed: int = 0


@dataclass(frozen=True)
class RDMPlan:
    """First-order RDMs: every layer with each measure; the first one is drawn.

    With ``by``, ``entries``, ``combine``, ``units`` or ``n_permutations``
    the run also computes a stack of RDMs (see :func:`deeprsa.compute_rdms`):
    one per group of ``by``, over the group's ``entries``, per unit subset
    and label permutation (seeded by ``seed``).

    ``nan_policy``: ``"raise"`` (a layer whose activations hold NaN or
    infinity gets no RDM; the report marks it and says why) or ``"omit"``
    (those stimuli get NaN dissimilarities, which comparisons leave out).
    """

    measures: tuple[str, ...] = ("correlation",)
    dtype: str = "float32"
    by: tuple[str, ...] = ()
    entries: tuple[str, ...] = ()
    combine: Mapping | None = None
    units: tuple = ()
    n_permutations: int = 0
    seed: int = 0
    nan_policy: str = "raise"

    @property
    def stacked(self) -> bool:
        """Whether the run computes a stack of RDMs (any of the stack's keys is set)."""
        return bool(self.by or self.entries or self.combine or self.units
                    or self.n_permutations)

    def stack_options(self) -> dict:
        """The keywords of :func:`deeprsa.compute_rdms` that make this plan's stack."""
        return {"by": list(self.by) or None, "entries": list(self.entries) or None,
                "combine": None if self.combine is None else
                {k: list(v) for k, v in self.combine.items()},
                "units": list(self.units) or None, "n_permutations": self.n_permutations,
                "seed": self.seed}


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
class MetaRDMPlan:
    """Meta-RDMs over a stack (pytorch_feature_analysis): RDMs of RDMs, and of meta-RDMs.

    Within each group of ``grouping_variables`` the stack's RDMs whose
    ``entry_variables`` differ are compared (``method``); ``third_order``
    names the entry variables of the RDM of those meta-RDMs (empty: none).
    Empty ``entry_variables`` means the stack's ``by`` columns; empty
    ``grouping_variables`` means model, layer, measure, unit subset and
    permutation.
    """

    entry_variables: tuple[str, ...] = ()
    grouping_variables: tuple[str, ...] = ()
    method: str = "spearman"
    third_order: tuple[str, ...] = ("layer",)


@dataclass(frozen=True)
class ANOVAPlan:
    """One-way ANOVA of every unit over a metadata ``column`` (default the class label)."""

    column: str = ""
    alpha: float = 0.05
    correction: str = "fdr_bh"


@dataclass(frozen=True)
class SubsetsPlan:
    """The ``k`` most (``mode="max"``) or least dissimilar stimuli, or entries of a stack."""

    k: int = 5
    mode: str = "max"
    n_restarts: int = 20


@dataclass(frozen=True)
class CKAPlan:
    """A representation method (``deeprsa methods``) between every pair of layers."""

    method: str = "linear_cka"
    params: Mapping | None = None


@dataclass(frozen=True)
class AnalysesPlan:
    """Analyses to run; None switches one off (decoding, meta-RDMs, ANOVA, subsets and
    CKA are off unless asked for)."""

    mds: MDSPlan | None = field(default_factory=MDSPlan)
    dimensionality: DimensionalityPlan | None = field(default_factory=DimensionalityPlan)
    srm: SRMPlan | None = field(default_factory=SRMPlan)
    performance: PerformancePlan | None = field(default_factory=PerformancePlan)
    decoding: DecodingPlan | None = None
    meta_rdm: MetaRDMPlan | None = None
    anova: ANOVAPlan | None = None
    subsets: SubsetsPlan | None = None
    cka: CKAPlan | None = None


@dataclass(frozen=True)
class TargetPlan:
    """Brain or behavioural RDMs that every layer is compared with (a ``[[targets]]`` table).

    Attributes
    ----------
    path : str
        The file (``deeprsa.load_rdms``: .npy, .npz, .csv, .mat, .h5/.hdf5).
    name : str or None
        Its name in tables and figures (default: the file's stem).
    key, format : str or None
        Which variable of the file holds the RDMs; its format, whatever the suffix.
    labels : str, tuple of str or None
        The stimulus ids of the rows, for files without labels: a text file (one
        id per line) or a list.
    method : str
        The comparison of each layer with the target (a registered RDM method).
    over : {"stimuli", "subjects", "both"}
        What the bootstrap resamples.
    n_resamples, confidence, correction, cv
        Bootstrap resamples, interval coverage, p-value correction across layers,
        folds that choose the best layer.
    weighted : str or None
        Also fit weighted RSA with this method (``true`` in the config: cosine).
    """

    path: str
    name: str | None = None
    key: str | None = None
    format: str | None = None
    labels: str | tuple | None = None
    method: str = "spearman"
    over: str = "stimuli"
    n_resamples: int = 1000
    confidence: float = 0.95
    correction: str = "fdr_bh"
    cv: int = 5
    weighted: str | None = None
    index: int | None = field(default=None, compare=False, repr=False)
    """Position of the ``[[targets]]`` table (for error messages)."""

    @property
    def key_name(self) -> str:
        """The config key of this target's table, e.g. ``"targets[0]"``."""
        return "targets" if self.index is None else f"targets[{self.index}]"


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
    targets : tuple of TargetPlan
        Brain or behavioural RDMs every layer is compared with (``[[targets]]``).
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
    deeprsa.pipeline.config.ConfigError: Unknown config key 'modles'. Did you mean 'models'? Allowed keys at the top level: 'analyses', 'compare', 'extract', 'models', 'outputs', 'rdm', 'stimuli', 'targets', 'title'.
    """

    stimuli: StimuliPlan
    models: tuple[ModelPlan, ...]
    title: str = "deeprsa run"
    extract: ExtractPlan = field(default_factory=ExtractPlan)
    rdm: RDMPlan = field(default_factory=RDMPlan)
    compare: ComparePlan = field(default_factory=ComparePlan)
    analyses: AnalysesPlan = field(default_factory=AnalysesPlan)
    outputs: OutputsPlan = field(default_factory=OutputsPlan)
    targets: tuple[TargetPlan, ...] = ()
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
        from ._parse import _build

        return _build(data, base_dir=None if base_dir is None else str(base_dir))

    def to_dict(self) -> dict:
        """The plan as plain data (round-trips through :meth:`from_dict`, minus expansion)."""
        out = {}
        for f in fields(self):
            if f.name == "base_dir":
                continue
            value = getattr(self, f.name)
            if f.name in ("models", "targets"):
                out[f.name] = [_plain({k: v for k, v in asdict(m).items() if k != "index"})
                               for m in value]
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
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError("", f"{str(path)!r} is not a text file (TOML is UTF-8): {err}.") \
            from None
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
    from ._parse import _build

    try:
        config = _build(data, base_dir=str(path.parent))
    except ConfigError as err:  # name the file too
        raise ConfigError(err.key, f"{str(path)!r}: {err}") from None
    if config.outputs.dir is None:
        # Absolute, so that resolve() does not put the config's folder in front twice.
        outputs = replace(config.outputs,
                          dir=str(path.parent.absolute() / f"{path.stem}_results"))
        config = replace(config, outputs=outputs)
    return config
