"""Renamed public names keep working for one release, warn, and behave exactly as the new ones."""

import importlib
import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import deeprsa
from deeprsa import RDM, RDMs, Store, compare_rdms, compare_representations, compute_rdm

IDS = ["a", "b", "c", "d", "e"]
NEXT_RELEASE = "will stop working in the next release"


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    for model in ("alexnet", "vgg"):
        for layer in ("conv", "fc"):
            RDM.from_vector(rng.random(10), IDS, {"model": model, "layer": layer,
                                                  "measure": "correlation"}).save(store)
    return store


def test_multi_model_rdm_models_and_layers_are_model_and_layer(store):
    new = deeprsa.multi_model_rdm(store, model=["vgg"], layer=["fc", "conv"])
    with pytest.warns(DeprecationWarning) as caught:
        old = deeprsa.multi_model_rdm(store, models=["vgg"], layers=["fc", "conv"])
    messages = [str(w.message) for w in caught]
    assert any("write multi_model_rdm(model=...)" in m for m in messages)
    assert any("write multi_model_rdm(layer=...)" in m for m in messages)
    assert_array_equal(old.matrix, new.matrix)
    assert list(old.metadata_a["layer"]) == ["fc", "conv"]
    with pytest.warns(DeprecationWarning, match=re.escape("write model_rdm(layer=...)")):
        single = deeprsa.model_rdm(store, "vgg", layers=["fc", "conv"])
    assert_array_equal(single.matrix, new.matrix)
    with pytest.raises(TypeError, match="got both layers= and layer="):
        deeprsa.multi_model_rdm(store, layer=["fc"], layers=["fc"])


def test_measure_parameters_as_loose_keywords():
    X = np.random.default_rng(1).standard_normal((6, 4))
    new = compute_rdm(X, measure="sqeuclidean", params={"per_feature": True})
    with pytest.warns(DeprecationWarning, match=re.escape(
            "Pass parameters as params={'per_feature': True}: compute_rdm(..., params=...)")):
        old = compute_rdm(X, measure="sqeuclidean", per_feature=True)
    assert_array_equal(old.matrix, new.matrix)
    assert old.provenance["params"] == {"per_feature": True}
    with pytest.raises(TypeError, match="got 'per_feature' both in params and as a keyword"), \
            pytest.warns(DeprecationWarning):
        compute_rdm(X, measure="sqeuclidean", params={"per_feature": True}, per_feature=False)


def test_compare_representations_method_by_position_and_loose_parameters():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((30, 5)), rng.standard_normal((30, 4))
    new = compare_representations(X, Y, method="rbf_cka", params={"threshold": 0.5})
    with pytest.warns(DeprecationWarning) as caught:
        old = compare_representations(X, Y, "rbf_cka", threshold=0.5)
    messages = [str(w.message) for w in caught]
    assert any("Pass method by keyword" in m for m in messages)
    assert any("params={'threshold': 0.5}" in m for m in messages)
    assert old == new


@pytest.mark.parametrize("call, expected", [
    (lambda: deeprsa.correct_pvalues([0.01, 0.04], "bonferroni"),
     lambda: deeprsa.correct_pvalues([0.01, 0.04], method="bonferroni")),
    (lambda: deeprsa.digits("test").stimulus_ids,
     lambda: deeprsa.digits(split="test").stimulus_ids),
    (lambda: deeprsa.list_methods("rdm"), lambda: deeprsa.list_methods(input="rdm")),
], ids=["correct_pvalues", "digits", "list_methods"])
def test_options_that_became_keyword_only_still_work_by_position(call, expected):
    with pytest.warns(DeprecationWarning, match="by keyword"):
        old = call()
    assert_array_equal(np.asarray(old), np.asarray(expected()))


def test_rdm_collection_options_by_position():
    rdms = RDMs([RDM.from_vector([1, 2, 3], ["x", "y", "z"], {"layer": "a"}),
                 RDM.from_vector([3, 1, 2], ["x", "y", "z"], {"layer": "b"})])
    with pytest.warns(DeprecationWarning, match=re.escape("vectors(..., dtype=<class")):
        old = rdms.vectors(np.float32)
    assert old.dtype == np.float32
    result = compare_rdms(rdms)
    with pytest.warns(DeprecationWarning, match=re.escape("to_rdm(..., labels=('layer',))")):
        rdm = result.to_rdm(("layer",))
    assert rdm.stimulus_ids == ("a", "b")


def test_calling_rdm_matrix_still_works():
    rdm = RDM.from_vector([1, 2, 3], ["x", "y", "z"])
    with pytest.warns(DeprecationWarning, match=re.escape("write rdm.matrix, not rdm.matrix()")):
        called = rdm.matrix()
    assert_array_equal(called, rdm.matrix)
    assert not rdm.matrix.flags.writeable
    # Arithmetic gives plain arrays; only the matrix itself is callable.
    assert type(rdm.matrix + 1) is np.ndarray
    assert repr(rdm.matrix).startswith("array(")


@pytest.mark.parametrize("module, name, home", [
    ("deeprsa.config", "load_config", "deeprsa.pipeline.config"),
    ("deeprsa.config", "ConfigError", "deeprsa.pipeline.config"),
    ("deeprsa.datasets", "digits", "deeprsa.stimuli.datasets"),
    ("deeprsa.datasets", "digits_split", "deeprsa.stimuli.datasets"),
    ("deeprsa.cluster", "run_plan", "deeprsa.pipeline.dask"),
    ("deeprsa.cluster", "start_cluster", "deeprsa.pipeline.dask"),
])
def test_moved_modules_keep_their_names(module, name, home):
    old = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=re.escape(f"{module}.{name} moved to")):
        value = getattr(old, name)
    assert value is getattr(importlib.import_module(home), name)
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018


def test_load_networks_models_is_model(tmp_path):
    from deeprsa.align import load_networks

    store = Store(tmp_path / "s.zarr")
    store.add_stimuli(IDS, "h")
    rng = np.random.default_rng(3)
    for model in ("m0", "m1"):
        store.write("activations", {"model": model, "layer": "fc", "reduction": "flatten",
                                    "stimuli": "h"}, rng.random((5, 3)).astype(np.float32))
    new, _ = load_networks(store, ["m0", "m1"], "fc")
    with pytest.warns(DeprecationWarning, match=re.escape("write load_networks(model=...)")):
        old, _ = load_networks(store, models=["m0", "m1"], layer="fc")
    for a, b in zip(old, new, strict=True):
        assert_array_equal(a, b)


def test_run_plan_n_threads_is_n_jobs():
    from deeprsa.pipeline.dask import run_plan

    with pytest.warns(DeprecationWarning, match="n_threads is now n_jobs"), \
            pytest.raises(ValueError, match=re.escape("n_jobs must be None or a positive int")):
        run_plan(None, None, store="unused", n_threads=0)


def test_every_deprecation_names_the_next_release():
    # The pytest configuration turns these into errors outside pytest.warns: one phrase.
    import inspect

    import deeprsa._deprecation as module

    assert NEXT_RELEASE in inspect.getsource(module)
