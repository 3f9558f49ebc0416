"""A run is validated whole before any work: build_plan, and what run_config does with it."""

import re

import pytest

from deeprsa import Store
from deeprsa.pipeline import ConfigError, build_plan, run_config
from deeprsa.pipeline.serial import SerialExecutor

BASE = {"stimuli": {"source": "digits:test", "n_per_class": 2},
        "models": [{"spec": "zoo:mlp_s0", "layers": ["fc1", "logits"]},
                   {"spec": "zoo:convnet_s0", "layers": ["conv1", "fc"]}],
        "rdm": {"measures": ["correlation", "euclidean"]},
        "compare": {"methods": ["spearman"]},
        "analyses": {"srm": False, "performance": False, "dimensionality": False,
                     "mds": False},
        "outputs": {"figures": ["rdm"], "report": False}}


def _with(**changes):
    config = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
              for k, v in BASE.items()}
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            config[section] = {**config[section], field: value}
        else:
            config[section] = value
    return config


def test_the_plan_names_every_array_before_anything_is_written(tmp_path):
    plan = build_plan(BASE)
    assert plan.names == ["mlp_s0", "convnet_s0"]
    assert plan.layers("convnet_s0") == ["conv1", "fc"]
    stages = [t.stage for t in plan.tasks]
    assert stages == ["extract"] * 4 + ["rdm"] * 8 + ["compare"]
    store = Store(tmp_path / "store")
    assert store.select("activations", strict=False).empty  # planning wrote nothing

    work = SerialExecutor().run(plan, store, progress=False)

    # The executor wrote exactly the arrays the plan named, under the planned keys.
    planned = {t.key for t in plan.tasks if t.key is not None}
    written = set(store.select("activations")["key"]) | set(store.select("rdms")["key"])
    assert written == planned
    assert {w["status"] for w in work} == {"computed"}
    again = SerialExecutor().run(plan, store, progress=False)
    assert {w["status"] for w in again} == {"skipped"}


def test_the_plan_is_printed_with_its_sizes():
    text = build_plan(BASE).describe()
    assert text.splitlines()[0] == "Plan: 20 stimuli, 2 model(s), 4 layer(s)."
    assert "rdm          8 RDMs            12.8 KB" in text  # 8 x 20 x 20 float32
    assert "convnet_s0: 2 layers, 64-1,024 features" in text


@pytest.mark.parametrize("changes, key, message", [
    ({"models": [{"spec": "zoo:mlp_s0"}, {"spec": "zoo:convnet_s0", "layers": ["conv9"]}]},
     "models[1].layers", "config key 'models[1].layers' (model 'convnet_s0'): No layer "
                         "matches 'conv9'. Did you mean 'conv3'?"),
    ({"models": [{"spec": "zoo:mlp_s9"}]},
     "models[0].spec", "config key 'models[0]': model 'zoo:mlp_s9' (trained weights) does "
                       "not load: "),
    ({"models": [{"spec": "zoo:mlp_s0", "reduction": "cls_token"}]},
     "models[0].layers", "cls_token needs (batch, tokens, features)"),
    ({"analyses": {"decoding": {"column": "lable"}, "srm": False, "performance": False,
                   "dimensionality": False, "mds": False}},
     "analyses.decoding.column", "config key 'analyses.decoding.column': no stimulus column "
                                 "'lable'. Did you mean 'label'?"),
    ({"analyses": {"srm": {"layer": "fc3"}, "performance": False, "dimensionality": False,
                   "mds": False}},
     "analyses.srm.layer", "model 'mlp_s0' has no extracted layer 'fc3'."),
    ({"stimuli": {"source": "digits:test", "sort_by": ["ink", "colour"]}},
     "stimuli.sort_by[1]", "config key 'stimuli.sort_by[1]': no stimulus column 'colour'"),
    ({"stimuli": {"source": "no/such/folder"}},
     "stimuli.source", "'no/such/folder' is not 'digits[:train|test]', a folder, a .csv or a "
                       "meta .json file"),
], ids=["layer", "model", "reduction", "decoding column", "srm layer", "sort column",
        "source"])
def test_a_mistake_anywhere_fails_before_any_extraction(tmp_path, changes, key, message):
    config = {**BASE, **changes}
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        run_config(config, out_dir=tmp_path, progress=False)
    assert caught.value.key == key
    # Nothing was extracted for the models before the one at fault.
    store = tmp_path / "store"
    assert not store.exists() or Store(store, mode="r").select("activations",
                                                               strict=False).empty


def test_one_stimulus_identity_from_activations_to_analyses(tmp_path):
    # Activations, RDMs, comparisons and analyses name their stimulus set by one key, and
    # each result carries the stimulus ids.
    from deeprsa import RDM, decode, dimensionality, multi_model_rdm

    plan = build_plan(BASE)
    store = Store(tmp_path / "store")
    SerialExecutor().run(plan, store, progress=False)
    key = plan.stimuli.content_hash()
    ids = plan.stimuli.stimulus_ids

    activations = store.select("activations")
    assert set(activations["stimuli"]) == {key}
    rdms = store.select("rdms")
    assert set(rdms["stimuli"]) == {key}
    rdm = RDM.load(store, rdms["key"][0])
    assert rdm.provenance["stimuli"] == key and rdm.stimulus_ids == ids
    comparison = multi_model_rdm(store, plan.names, measure="correlation", stimuli=key)
    assert comparison.provenance["stimuli"] == key and comparison.stimulus_ids == ids
    for table in (dimensionality(store, model="mlp_s0", n_units=50, seed=0),
                  decode(store, "label", stimuli=plan.stimuli, cv=2, model="mlp_s0")):
        assert table.attrs["stimulus_ids"] == ids
        assert table.attrs["provenance"]["stimuli"] == key
        assert table.attrs["provenance"]["inputs"] == list(
            activations[activations["model"] == "mlp_s0"]["key"])
    # A subset is another stimulus set: it gets its own key.
    sub = rdm.subset(ids[:5])
    assert sub.provenance["stimuli"] not in (key, None)
