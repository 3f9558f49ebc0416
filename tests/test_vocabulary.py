"""One vocabulary across the API (docs/vocabulary.md): every public signature is walked."""

import importlib
import inspect

import pytest

MODULES = ["deeprsa", "deeprsa.stimuli", "deeprsa.models", "deeprsa.layers", "deeprsa.extract",
           "deeprsa.store", "deeprsa.rdm", "deeprsa.compare", "deeprsa.align", "deeprsa.stats",
           "deeprsa.analyses", "deeprsa.plots", "deeprsa.report", "deeprsa.pipeline",
           "deeprsa.zoo"]

# Spellings that mean a concept the vocabulary spells another way.
BANNED = {"n_boot": "n_resamples", "n_bootstrap": "n_resamples", "n_perm": "n_permutations",
          "ci": "confidence", "ci_level": "confidence", "level": "confidence",
          "n_threads": "n_jobs", "threads": "n_jobs", "num_workers": "n_jobs",
          "models": "model", "random_state": "seed", "rng": "seed", "metric": "measure",
          "comparator": "method", "ids": "stimulus_ids"}
# Where a banned word is another concept, on purpose.
BANNED_ALLOWED = {("plot_mds", "metric"), ("compute_mds", "metric")}  # metric vs ordinal MDS
# Functions that take a store but not first, and why.
STORE_NOT_FIRST = {
    "extract": "writes into the store; what to extract (model, stimuli, layers) comes first",
    "SerialExecutor.run": "an executor runs a plan (first) into a store",
}
# Positional parameters with defaults that are data, not options.
POSITIONAL_DATA = {("compare_rdms", "b"), ("pairwise_mantel", "b"), ("multi_model_rdm", "model"),
                   ("SRM.fit", "y"), ("SRM.transform", "networks"),
                   ("SRM.inverse_transform", "networks"), ("Store.entries", "kind"),
                   ("Store.select", "kind"), ("Store.read", "rows"),
                   ("write_layer_file", "layers"), ("run_demo", "out_dir"),
                   ("default_stimuli", "n_per_class"), ("read_zoo_predictions", "model")}


def _public_callables():
    out = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr, None)
            if attr.startswith("_") or obj is None or inspect.ismodule(obj):
                continue
            if inspect.isclass(obj):
                for method, func in vars(obj).items():
                    if callable(func) and not method.startswith("_"):
                        out.setdefault(f"{attr}.{method}", func)
            elif callable(obj):
                out.setdefault(attr, obj)
    return out


CALLABLES = _public_callables()


def _parameters(func):
    try:
        return [p for p in inspect.signature(func).parameters.values()
                if p.name not in ("self", "cls")]
    except (TypeError, ValueError):
        return []


def test_the_walk_sees_the_api():
    assert {"compute_rdm", "multi_model_rdm", "mantel", "Store.select", "extract",
            "plot_mds", "SRM.fit"} <= set(CALLABLES)


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_one_spelling_per_concept(name):
    bad = [(p.name, BANNED[p.name]) for p in _parameters(CALLABLES[name])
           if p.name in BANNED and (name, p.name) not in BANNED_ALLOWED]
    assert not bad, f"{name}: write {', '.join(f'{new} (not {old})' for old, new in bad)}"


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_the_store_comes_first(name):
    names = [p.name for p in _parameters(CALLABLES[name])]
    if "store" in names and name not in STORE_NOT_FIRST:
        assert names[0] == "store", f"{name}{names}: the store is the first argument"


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_options_are_keyword_only(name):
    positional_options = [p.name for p in _parameters(CALLABLES[name])
                          if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty
                          and (name.split(".")[-1], p.name) not in POSITIONAL_DATA
                          and (name, p.name) not in POSITIONAL_DATA]
    if name.startswith("register_"):  # register_x(name, func=None): the decorator form
        positional_options = [p for p in positional_options if p != "func"]
    assert not positional_options, f"{name}: put {positional_options} after a *"


def test_method_parameters_are_passed_one_way():
    # Every function that runs a measure or a method takes its parameters as params=.
    for name in ("compute_rdm", "compute_rdms", "compare_representations", "model_rdm",
                 "multi_model_rdm"):
        names = [p.name for p in _parameters(CALLABLES[name])]
        assert "params" in names, name


def test_rdm_matrix_and_comparison_matrix_are_the_same_kind_of_member():
    from deeprsa import RDM, compare_rdms

    rdm = RDM.from_vector([1, 2, 3], ["a", "b", "c"])
    result = compare_rdms([rdm, rdm])
    for value in (rdm.matrix, result.matrix):
        assert hasattr(value, "shape") and not value.flags.writeable
