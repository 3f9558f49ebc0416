"""Checking the config keys of stacks and their analyses: [rdm] by / entries / combine / units /
n_permutations / seed, [analyses.meta_rdm], [analyses.anova], [analyses.subsets], [analyses.cka].

Each check takes ``(key, value)`` and returns the value in its plan's form, or raises
:class:`ConfigError` naming the dotted key; what needs the stimuli or the layers (columns,
unit indices) is checked by :func:`deeprsa.pipeline.build_plan`.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import ConfigError

# The meta-RDM's default grouping variables (after the stack's other `by` columns).
META_GROUPING = ("model", "layer", "measure", "unit_set", "permutation")
_SUBSET_MODES = ("max", "min")


def rdm_checks() -> dict:
    """Checks of the stack's keys in [rdm]."""
    return {"by": _columns, "entries": _columns, "combine": _combine, "units": _units,
            "n_permutations": lambda k, v: _count(k, v, low=0),
            "seed": lambda k, v: _count(k, v, low=0)}


def analyses_checks() -> dict:
    """Checks of [analyses.meta_rdm], [analyses.anova], [analyses.subsets], [analyses.cka]."""
    return {
        "meta_rdm": {"entry_variables": _columns, "grouping_variables": _columns,
                     "method": lambda k, v: _registered(k, v, "rdm"),
                     "third_order": _third_order},
        "anova": {"column": _name, "alpha": _alpha, "correction": _correction},
        "subsets": {"k": lambda k, v: _count(k, v, low=2), "mode": _mode,
                    "n_restarts": lambda k, v: _count(k, v, low=0)},
        "cka": {"method": lambda k, v: _registered(k, v, "representation"),
                "params": _params},
    }


def _option(key, value, allowed, what):
    from ._parse import _option

    return _option(key, value, allowed, what)


def _name(key, value):
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"config key {key!r} must be a non-empty string, got {value!r}.")
    return value


def _columns(key, value):
    """A column name or a list of them (an empty list: none) -> tuple of str."""
    if isinstance(value, str):
        return (_name(key, value),)
    if not isinstance(value, (list, tuple)):
        raise ConfigError(key, f"config key {key!r} must be a column name or a list of them, "
                               f"got {value!r}.")
    names = tuple(_name(f"{key}[{i}]", v) for i, v in enumerate(value))
    if len(set(names)) != len(names):
        raise ConfigError(key, f"config key {key!r} names a column twice: {list(names)}.")
    return names


def _count(key, value, *, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(key, f"config key {key!r} must be an int >= {low}, got {value!r}.")
    return value


def _combine(key, value):
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(key, f"config key {key!r} must be a table of new entry labels, each "
                               "the list of entry labels it averages, e.g. "
                               f"{{\"000+180\" = [\"000\", \"180\"]}}; got {value!r}.")
    out = {}
    for name, members in value.items():
        where = f"{key}.{name}"
        if not isinstance(members, (list, tuple)) or len(members) < 2 \
                or not all(isinstance(m, str) for m in members):
            raise ConfigError(where, f"config key {where!r} must list at least two entry "
                                     f"labels (strings), got {members!r}.")
        out[str(name)] = tuple(members)
    return out


def _units(key, value):
    """Unit subsets: a rule, a table of index lists (for every layer or per layer), or a list."""
    from ..rdm.units import list_unit_rules

    items = [(key, value)] if isinstance(value, (str, Mapping)) else None
    if items is None:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"config key {key!r} must be a rule such as "
                                   "\"channels:0-31\", a table of index lists or a list of "
                                   f"those, got {value!r}.")
        items = [(f"{key}[{i}]", v) for i, v in enumerate(value)]
    out = []
    for where, item in items:
        if isinstance(item, str):
            if item != "all":
                _option(where, item.partition(":")[0], list_unit_rules(), "unit rule")
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(_unit_table(where, item))
        else:
            raise ConfigError(where, f"config key {where!r} must be a rule (a string) or a "
                                     f"table of index lists, got {item!r}.")
    return tuple(out)


def _unit_table(key, table):
    per_layer = bool(table) and all(isinstance(v, Mapping) for v in table.values())
    out = {}
    for name, value in table.items():
        where = f"{key}.{name}"
        if per_layer:
            out[name] = _unit_table(where, value)
        elif not isinstance(value, (list, tuple)) or not value or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
            raise ConfigError(where, f"config key {where!r} must be a non-empty list of unit "
                                     f"indices (ints >= 0), got {value!r}.")
        else:
            out[name] = list(value)
    return out


def _third_order(key, value):
    if value is False:
        return ()
    return _columns(key, value)


def _registered(key, value, kind):
    from ..compare import list_methods

    return _option(key, value, list_methods(input=kind),
                   "RDM method" if kind == "rdm" else "representation method")


def _alpha(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(key, f"config key {key!r} must be a number in (0, 1), got {value!r}.")
    return float(value)


def _correction(key, value):
    from ..stats import list_corrections

    return _option(key, value, list_corrections(), "correction")


def _mode(key, value):
    return _option(key, value, _SUBSET_MODES, "mode")


def _params(key, value):
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"config key {key!r} must be a table of the method's "
                               f"parameters, e.g. {{threshold = 0.5}}; got {value!r}.")
    return dict(value)


# Fields of a stack's RDMs that meta-RDM variables may name besides the `by` columns.
_STACK_FIELDS = (*META_GROUPING, "reduction", "weights", "spec", "dtype", "stimulus_set")


def check_stack_plan(plan) -> None:
    """What the stack's keys name, checked against the drawn stimuli and probed layers.

    Called by :func:`deeprsa.pipeline.build_plan`, before any extraction.
    """
    config = plan.config
    spec, analyses = config.rdm, config.analyses
    columns = list(plan.stimuli.metadata.columns)
    for name in ("by", "entries"):
        for i, col in enumerate(getattr(spec, name)):
            _column(f"rdm.{name}[{i}]", col, columns)
    if analyses.anova is not None:
        _column("analyses.anova.column", analyses.anova.column, columns)
    if spec.stacked:
        _check_layout(plan)
        _check_units(plan)
    if analyses.meta_rdm is not None:
        allowed = [*spec.by, *_STACK_FIELDS]
        meta = analyses.meta_rdm
        for name in ("entry_variables", "grouping_variables"):
            for i, col in enumerate(getattr(meta, name)):
                _column(f"analyses.meta_rdm.{name}[{i}]", col, allowed, what="stack field")
        for i, col in enumerate(meta.third_order):
            _column(f"analyses.meta_rdm.third_order[{i}]", col, list(meta.grouping_variables),
                    what="grouping variable of the meta-RDMs")
    if analyses.cka is not None:
        from ..compare.registry import _check_method

        try:
            _check_method(analyses.cka.method, analyses.cka.params, "representation")
        except ValueError as err:
            raise ConfigError("analyses.cka.params",
                              f"config key 'analyses.cka.params': {err}") from None


def _column(key, col, columns, *, what="stimulus column"):
    from .._validation import suggest

    if col not in columns:
        raise ConfigError(key, f"config key {key!r}: no {what} {col!r}.{suggest(col, columns)} "
                               f"Available: {sorted(map(str, columns))}.")


def _check_layout(plan) -> None:
    from ..rdm._entries import check_columns, plan_layout
    from ..rdm.stacks import _check_groups

    spec = plan.config.rdm
    options = spec.stack_options()
    key = "rdm.combine" if spec.combine else "rdm.by" if spec.by else "rdm.entries"
    try:
        by, entries, combine = check_columns(options["by"], options["entries"],
                                             options["combine"])
        layout = plan_layout(plan.stimuli.stimulus_ids, plan.stimuli.metadata, by=by,
                             entries=entries, combine=combine)
        _check_groups(layout)
    except (KeyError, ValueError, TypeError) as err:
        message = err.args[0] if err.args else str(err)
        raise ConfigError(key, f"config key {key!r}: {message}") from None
    subsets = plan.config.analyses.subsets
    smallest = min(len(g.labels) for g in layout.groups)
    if subsets is not None and subsets.k > smallest:
        raise ConfigError("analyses.subsets.k",
                          f"config key 'analyses.subsets.k' is {subsets.k}, but a group of the "
                          f"stack has only {smallest} entries.")


def _check_units(plan) -> None:
    from ..rdm.units import unit_sets

    units = list(plan.config.rdm.units) or None
    for m in plan.models:
        for layer in m.layers:
            reduction = m.reductions[layer]
            try:
                unit_sets(units, layer=layer, model=m.model.name, n_units=m.widths[layer],
                          reduction=reduction.get("name") if isinstance(reduction, Mapping)
                          else reduction, seed=plan.config.rdm.seed)
            except (ValueError, TypeError) as err:
                raise ConfigError("rdm.units", f"config key 'rdm.units' (model "
                                               f"{m.model.name!r}): {err}") from None
