"""Bad numbers: NaN and infinity recorded at extraction, refused (or omitted) by RDMs with
the layer and stimulus ids named, constant-row warnings per layer, and a run with a bad
layer that still writes its report (docs/reliability.md, "Bad numbers").
"""

import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import deeprsa
from deeprsa import ConstantPatternWarning, Store, compute_rdm, extract
from deeprsa.extract import NonFiniteActivationsWarning
from deeprsa.rdm import NonFiniteActivationsError

TESTS = Path(__file__).parent


@pytest.fixture(scope="module", autouse=True)
def nets_on_path():
    sys.path.insert(0, str(TESTS))
    yield
    sys.path.remove(str(TESTS))


@pytest.fixture(scope="module")
def stimuli():
    return deeprsa.digits(split="test").sample(2, seed=0)


@pytest.fixture(scope="module")
def nan_store(tmp_path_factory, stimuli):
    """The NaN net's conv, bad and fc layers: 'bad' is NaN for three of the 20 digits."""
    path = tmp_path_factory.mktemp("nan") / "store"
    with pytest.warns(NonFiniteActivationsWarning) as caught:
        table = extract("module:_nets:nan_net", stimuli, ["conv", "bad", "fc"], path,
                        weights="random", seed=0, batch_size=8, progress=False)
    return Store(path), table, [str(w.message) for w in caught]


BAD_IDS = ["digit_0170", "digit_1010", "digit_1299"]  # their mean input is brightest


def test_extraction_records_which_stimuli_and_layers_hold_nan(nan_store, stimuli):
    store, table, messages = nan_store
    assert list(table.n_nonfinite) == [0, 3, 0]
    bad = store.entry(table.key[1])["attrs"]["nonfinite_rows"]
    assert [stimuli.stimulus_ids[i] for i in bad] == BAD_IDS
    assert "nonfinite_rows" not in store.entry(table.key[0])["attrs"]
    assert messages == [
        f"module:_nets:nan_net@random(seed=0) layer 'bad': the activations of 3 of 20 stimuli hold NaN "
        f"or infinity: {BAD_IDS}. They are stored as they are; an RDM of this layer refuses "
        "them (drop those stimuli or fix the layer) unless nan_policy='omit' gives them NaN "
        "dissimilarities, which comparisons leave out."]


def test_an_rdm_of_nan_activations_names_the_layer_and_the_stimuli(nan_store):
    store, table, _ = nan_store
    msg = (f"Activations of module:_nets:nan_net@random(seed=0) layer 'bad' hold NaN or infinity in 3 "
           f"of 20 stimuli (recorded at extraction): {BAD_IDS}. No dissimilarity is defined "
           "there: drop those stimuli (StimulusSet.subset, RDM.subset), fix the layer, or "
           "compute with nan_policy='omit' (`deeprsa rdm --nan-policy omit`")
    for measure in deeprsa.list_measures():
        with pytest.raises(NonFiniteActivationsError, match=re.escape(msg)) as info:
            compute_rdm(store, key=table.key[1], measure=measure)
        assert info.value.stimulus_ids == BAD_IDS and info.value.layer == "bad"
    assert not store.select("rdms", complete=None, strict=False).shape[0]  # nothing half-made


def test_an_in_memory_rdm_names_every_bad_stimulus():
    X = np.random.default_rng(0).standard_normal((10, 4))
    X[[2, 7], 1] = [np.nan, np.inf]
    msg = ("Activations of net layer 'l' hold NaN or infinity in 2 of 10 stimuli: "
           "['s2', 's7'].")
    with pytest.raises(NonFiniteActivationsError, match=re.escape(msg)):
        compute_rdm(X, model="net", layer="l", stimulus_ids=[f"s{i}" for i in range(10)])


def test_float32_overflow_says_to_compute_in_float64():
    X = np.random.default_rng(0).standard_normal((6, 3)) * 1e30  # squares overflow float32
    msg = "The activations hold values too large for float32 products in "
    with pytest.raises(NonFiniteActivationsError, match=re.escape(msg) + ".*" + re.escape(
            "Compute in float64 (dtype='float64', `deeprsa rdm --dtype float64`)")):
        compute_rdm(X, measure="euclidean")
    compute_rdm(X, measure="euclidean", dtype="float64")  # the fix works


@pytest.mark.parametrize("measure", ["correlation", "euclidean", "spearman"])
def test_nan_policy_omit_gives_the_rdm_of_the_other_stimuli(nan_store, stimuli, measure):
    store, table, _ = nan_store
    rdm = compute_rdm(store, key=table.key[1], measure=measure, nan_policy="omit")
    ids = list(stimuli.stimulus_ids)
    bad = [ids.index(s) for s in BAD_IDS]
    good = [i for i in range(20) if i not in bad]
    X = store.read(table.key[1])
    expected = compute_rdm(X[good], measure=measure, stimulus_ids=[ids[i] for i in good])
    assert_array_equal(rdm.subset(expected.stimulus_ids).matrix, expected.matrix)
    assert np.isnan(rdm.matrix[bad][:, good]).all() and (np.diag(rdm.matrix) == 0).all()
    assert rdm.provenance["nan_policy"] == "omit"
    again = compute_rdm(store, key=table.key[1], measure=measure, nan_policy="omit")
    assert again.provenance["key"] == rdm.provenance["key"]  # stored once, then loaded
    assert_array_equal(again.matrix, rdm.matrix)


def test_comparisons_leave_omitted_stimuli_out(nan_store):
    store, table, _ = nan_store
    for key in table.key:
        compute_rdm(store, key=key, nan_policy="omit")
    with pytest.warns(UserWarning, match=re.escape("1 RDM(s) have NaN entries")):
        result = deeprsa.multi_model_rdm(store, layer=["conv", "bad", "fc"],
                                         measure="correlation")
    assert np.isfinite(result.matrix).all()
    assert set(result.table["n_entries"]) == {17 * 16 // 2}


def test_constant_row_warnings_name_model_layer_and_ids_one_per_layer(tmp_path):
    store = Store(tmp_path / "s")
    ids = [f"s{i}" for i in range(6)]
    store.add_stimuli(ids, "h")
    X = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    for layer, constant in (("a", [1]), ("b", [1]), ("c", [1, 4])):
        Y = X.copy()
        Y[constant] = 3.0
        store.write("activations", {"model": "net", "layer": layer, "stimuli": "h"}, Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # as Python shows warnings: once per message
        deeprsa.compute_rdms(store, progress=False)
    messages = [str(w.message) for w in caught if w.category is ConstantPatternWarning]
    assert messages == [
        "net layer 'a': 1 stimulus has constant activations, for which the correlation "
        "measure is undefined: ['s1']. They get dissimilarity 1 (no similarity) to every other "
        "stimulus and 0 between two constant rows.",
        "net layer 'b': 1 stimulus has constant activations, for which the correlation "
        "measure is undefined: ['s1']. They get dissimilarity 1 (no similarity) to every other "
        "stimulus and 0 between two constant rows.",
        "net layer 'c': 2 stimuli have constant activations, for which the correlation "
        "measure is undefined: ['s1', 's4']. They get dissimilarity 1 (no similarity) to every "
        "other stimulus and 0 between two constant rows."]


def test_the_cli_shows_every_layers_warning(tmp_path):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    store = Store(tmp_path / "s")
    ids = [f"s{i}" for i in range(6)]
    store.add_stimuli(ids, "h")
    for layer in ("a", "b", "c"):
        Y = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)
        Y[2] = 0.0
        store.write("activations", {"model": "net", "layer": layer, "stimuli": "h"}, Y)
    result = CliRunner().invoke(cli, ["rdm", "--store", str(tmp_path / "s"), "--measure",
                                      "cosine"])
    assert result.exit_code == 0, result.output
    shown = re.findall(r"Warning: (net layer '\w'): 1 stimulus has all-zero activations",
                       result.output)
    assert shown == ["net layer 'a'", "net layer 'b'", "net layer 'c'"]


def test_dask_shards_record_nan_rows_as_extract_does(tmp_path, stimuli):
    from deeprsa.extract import create_arrays, probe_layers
    from deeprsa.models import load_model
    from deeprsa.pipeline import _dask_tasks

    loaded = load_model("module:_nets:nan_net", weights="random", seed=0)
    plan = probe_layers(loaded, stimuli, ["bad"])
    store = Store(tmp_path / "s")
    arrays = create_arrays(store, stimuli, plan, batch_size=8)
    store.release(arrays["bad"]["key"])
    model = {"spec": "module:_nets:nan_net", "weights": "random", "seed": 0, "name": None}
    layers = [("bad", arrays["bad"]["key"], plan.reductions["bad"])]
    threads = {"blas": 1, "torch": 1}
    for start in (0, 8, 16):
        _dask_tasks.extract_shard(str(store.path), model, stimuli, layers, start,
                                  min(20, start + 8), 8, "cpu", threads)
    _dask_tasks.finish_extraction(str(store.path), [arrays["bad"]["key"]])
    bad = Store(store.path).entry(arrays["bad"]["key"])["attrs"]["nonfinite_rows"]
    assert [stimuli.stimulus_ids[i] for i in bad] == BAD_IDS


@pytest.mark.slow
def test_a_run_with_a_bad_layer_still_writes_its_report(tmp_path):
    from deeprsa.pipeline import run_config

    config = {
        "title": "a broken layer",
        "stimuli": {"source": "digits:test", "n_per_class": 2},
        "models": [{"spec": "module:_nets:nan_net", "weights": "random",
                    "layers": ["conv", "bad", "fc"]},
                   {"spec": "zoo:mlp_s0", "layers": ["fc1", "logits"]}],
        "analyses": {"dimensionality": {"n_units": 100}, "srm": False, "performance": False,
                     "decoding": {"column": "label", "cv": 2}},
        "outputs": {"figures": ["rdms", "multi_model_rdm"], "formats": ["png"]},
    }
    with pytest.warns(NonFiniteActivationsWarning):
        report = run_config(config, out_dir=tmp_path / "run", progress=False)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    [failed] = run["failed_layers"]
    assert failed["layer"] == "bad" and "hold NaN or infinity in 3 of 20 stimuli" in \
        failed["reason"]
    html = Path(report).read_text()
    assert "layer &#x27;bad&#x27; has no RDM and is left out of this report" in html
    assert "could not be analysed" in html
    comparisons = (tmp_path / "run" / "tables" / "layer_comparisons.csv").read_text()
    assert ",bad," not in comparisons and ",conv," in comparisons
    dimensionality = (tmp_path / "run" / "tables" / "dimensionality.csv").read_text()
    assert ",bad," not in dimensionality and ",fc," in dimensionality
