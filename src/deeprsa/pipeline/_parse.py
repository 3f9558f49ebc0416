"""Checking a run config: every key, value and list, with errors that name the key.

:meth:`RunConfig.from_dict` and :func:`load_config` call :func:`_build`; each
check raises :class:`ConfigError` naming the dotted key (``models[1].weights``),
the value given, the closest allowed value and the full list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from .._validation import suggest
from ._parse_stacks import META_GROUPING, analyses_checks, rdm_checks
from .config import (
    _DTYPES,
    _FORMATS,
    _KEEP,
    _PREDICTIONS,
    _STORAGE_DTYPES,
    _WEIGHT_KINDS,
    FIGURES,
    AnalysesPlan,
    ANOVAPlan,
    CKAPlan,
    ComparePlan,
    ConfigError,
    DecodingPlan,
    DimensionalityPlan,
    ExtractPlan,
    MDSPlan,
    MetaRDMPlan,
    ModelPlan,
    OutputsPlan,
    PerformancePlan,
    RDMPlan,
    RunConfig,
    SRMPlan,
    StimuliPlan,
    SubsetsPlan,
    TargetPlan,
)

_TOP = ("title", "stimuli", "models", "extract", "rdm", "compare", "analyses", "outputs",
        "targets")
_MODEL_KEYS = ("spec", "weights", "seed", "seeds", "name", "group", "layers", "reduction")
_ANALYSES = {"mds": MDSPlan, "dimensionality": DimensionalityPlan, "srm": SRMPlan,
             "performance": PerformancePlan, "decoding": DecodingPlan,
             "meta_rdm": MetaRDMPlan, "anova": ANOVAPlan, "subsets": SubsetsPlan,
             "cka": CKAPlan}
_OFF_BY_DEFAULT = ("decoding", "meta_rdm", "anova", "subsets", "cka")


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
    from .._validation import check_option

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
    extract = _section(data, "extract", {
        "batch_size": lambda k, v: _int(k, v, low=1), "device": _str,
        "dtype": lambda k, v: _option(k, v, _STORAGE_DTYPES, "activations dtype"),
        "max_disk": _size, "max_memory": _size,
        "keep": lambda k, v: _option(k, v, _KEEP, "keep policy"),
        "sketch": _sketch, "sketch_fidelity": _fraction,
        "sketch_calibration": lambda k, v: _int(k, v, low=10),
        "sketch_seed": lambda k, v: _int(k, v, low=0)}, ExtractPlan)
    rdm = _section(data, "rdm", {"measures": _measures, "dtype":
                                 lambda k, v: _option(k, v, _DTYPES, "dtype"),
                                 **rdm_checks(),
                                 "nan_policy": lambda k, v: _option(k, v, ("raise", "omit"),
                                                                    "nan_policy")}, RDMPlan)
    compare = _section(data, "compare", {"methods": _methods}, ComparePlan)
    analyses = _analyses(data.get("analyses", {}), stimuli=stimuli, rdm=rdm)
    outputs = _outputs(data.get("outputs", {}), models)
    targets = _targets(data.get("targets", []))
    return RunConfig(title=title, stimuli=stimuli, models=models, extract=extract, rdm=rdm,
                     compare=compare, analyses=analyses, outputs=outputs, targets=targets,
                     base_dir=base_dir)


def _size(key, value):
    """Bytes from an int or a string such as "4GB", "500 MB", "1.5 GiB"."""
    from .budget import parse_size

    try:
        return parse_size(value)
    except ValueError as err:
        raise ConfigError(key, f"config key {key!r}: {err}") from None


def _sketch(key, value):
    if value is False or value is None:
        return None
    if value == "auto":
        return "auto"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ConfigError(key, f"config key {key!r} must be \"auto\", a number of dimensions k "
                           f"(e.g. 2048) or false; got {value!r}.")


def _section(data, name, checks, cls, where=None):
    table = data.get(name, {})
    where = where or name
    _check_keys(table, checks, where)
    return cls(**{k: checks[k](f"{where}.{k}", v) for k, v in table.items()})


def _stimuli(table):
    checks = {"source": _str, "n_per_class": lambda k, v: _int(k, v, low=1),
              "seed": lambda k, v: _int(k, v, low=0), "label": _str,
              "sort_by": lambda k, v: () if v in ([], False) else _strings(k, v)}
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
    from ..rdm import list_measures

    return tuple(_option(k, v, list_measures(), "measure") for k, v in _each(key, value))


def _methods(key, value):
    from ..compare import list_methods

    if isinstance(value, (list, tuple)) and not value:
        return ()  # no multi-model RDM (its sections are skipped, with a note)
    return tuple(_option(k, v, list_methods(), "method") for k, v in _each(key, value))


def _models(value):
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError("models", "config key 'models' must hold at least one [[models]] "
                                    f"table, got {value!r}.")
    from ..extract import list_reductions
    from ..models import list_sources

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
                                 reduction=reduction, index=i)
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


def _analyses(table, *, stimuli, rdm):
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
        **analyses_checks(),
    }
    values = {}
    for name, cls in _ANALYSES.items():
        value = table.get(name, name not in _OFF_BY_DEFAULT)
        key = f"analyses.{name}"
        if isinstance(value, bool):
            values[name] = cls() if value else None
        else:
            values[name] = _section(table, name, checks[name], cls, where=key)
    return AnalysesPlan(**_with_defaults(values, stimuli=stimuli, rdm=rdm))


def _with_defaults(values, *, stimuli, rdm):
    """Defaults that depend on other sections: the ANOVA's column, the meta-RDM's variables."""
    from dataclasses import replace

    if values["anova"] is not None and not values["anova"].column:
        values["anova"] = replace(values["anova"], column=stimuli.label)
    meta = values["meta_rdm"]
    if meta is not None and not rdm.stacked:
        raise ConfigError("analyses.meta_rdm",
                          "config key 'analyses.meta_rdm' compares the RDMs of a stack: set "
                          "rdm.by (one RDM per group of stimuli) and rdm.entries (its rows).")
    if meta is not None:
        entry = meta.entry_variables or rdm.by
        if not entry:
            raise ConfigError("analyses.meta_rdm.entry_variables",
                              "config key 'analyses.meta_rdm.entry_variables' is missing: name "
                              "the columns whose values become a meta-RDM's entries, e.g. "
                              "[\"obj\"], or set rdm.by (the default).")
        grouping = meta.grouping_variables or tuple(
            c for c in (*rdm.by, *META_GROUPING) if c not in entry)
        both = sorted(set(entry) & set(grouping))
        if both:
            raise ConfigError("analyses.meta_rdm.grouping_variables",
                              f"config key 'analyses.meta_rdm.grouping_variables': {both[0]!r} "
                              "is also an entry variable; entries vary within a meta-RDM, "
                              "groups are fixed within it.")
        values["meta_rdm"] = replace(meta, entry_variables=tuple(entry),
                                     grouping_variables=tuple(grouping))
    return values


def _n_components(key, value):
    if value not in (2, 3) or isinstance(value, bool):
        raise ConfigError(key, f"config key {key!r} must be 2 or 3 (a 2-D or 3-D map), got "
                               f"{value!r}.")
    return value


def _performance_measure(key, value):
    from ..analyses import describe_performance_measures

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



def _targets(value):
    """``[[targets]]`` tables: brain or behavioural RDMs every layer is compared with."""
    from ._parse_targets import target_checks

    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError("targets", "config key 'targets' must hold [[targets]] tables, got "
                                     f"{value!r}.")
    checks = target_checks()
    plans = []
    for i, table in enumerate(value):
        where = f"targets[{i}]"
        _check_keys(table, checks, where)
        if "path" not in table:
            raise ConfigError(f"{where}.path", f"config key '{where}.path' is missing: name the "
                                               "RDM file, e.g. path = \"fmri_it.npz\".")
        values = {k: checks[k](f"{where}.{k}", v) for k, v in table.items()}
        plans.append(TargetPlan(**values, index=i))
    return tuple(plans)
