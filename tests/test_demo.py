"""`deeprsa demo --quick` end to end, checked for content: figures, tables, class structure,
SRM, performance, provenance; and `deeprsa run` / `deeprsa report` on the command line."""

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.testing import assert_allclose

import deeprsa
from deeprsa.cli import cli
from deeprsa.demo import demo_config

SECTIONS = ["Stimuli", "First-order RDMs", "Comparing layers and models", "MDS maps",
            "Dimensionality", "Shared Response Model across seeds",
            "Representational vs performance similarity", "Provenance"]

FIGURES = ["stimuli", "rdms_convnet_s0", "rdm_convnet_s0", "model_rdm_convnet_s0",
           "multi_model_rdm", "mds_layers", "mds_model_convnet_s0", "mds_stimuli_convnet_s0",
           "dimensionality_convnet_s0", "srm_convnet_trained", "rep_vs_performance"]

N_LAYERS = {"convnet_s0": 12, "convnet_s1": 12, "mlp_s0": 6, "convnet_s0 (random)": 12}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return out, result.output


def _table(out, name):
    return pd.read_csv(out / "tables" / f"{name}.csv")


def test_demo_ends_with_the_path_of_the_report(demo):
    out, output = demo
    last = output.strip().splitlines()[-1]
    assert last == f"Report: {out / 'report.html'}"
    assert (out / "report.html").is_file()


def test_demo_draws_every_figure_into_the_report(demo):
    out, _ = demo
    run = json.loads((out / "run.json").read_text())
    assert [f["name"] for f in run["figures"]] == FIGURES
    html = (out / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)
    assert [alt for alt, _ in images] == [f["title"] for f in run["figures"]]
    for figure, (_, payload) in zip(run["figures"], images, strict=True):
        png, svg = (out / f for f in figure["files"])
        assert base64.b64decode(payload) == png.read_bytes()
        assert svg.suffix == ".svg" and "<svg" in svg.read_text()
        assert len(figure["caption"]) > 100  # says what it shows and how to read it
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in html


def test_late_layers_show_class_structure(demo):
    out, _ = demo
    table = _table(out, "class_structure")
    assert len(table) == sum(N_LAYERS.values())
    assert list(table.columns) == ["model", "layer", "measure", "within_class",
                                   "between_class", "ratio"]
    by = table.set_index(["model", "layer"])
    trained, random = by.loc[("convnet_s0", "logits")], by.loc[("convnet_s0 (random)", "logits")]
    # Same-class digits are much closer than different-class ones after training ...
    assert trained["within_class"] < 0.5 * trained["between_class"]
    # ... and more so than in the first layer, and than in the untrained twin's last layer.
    assert trained["ratio"] > by.loc[("convnet_s0", "conv1"), "ratio"]
    assert trained["ratio"] > 2 * random["ratio"]


def test_every_pair_of_layers_is_compared(demo):
    out, _ = demo
    table = _table(out, "layer_comparisons")
    n = sum(N_LAYERS.values())
    assert len(table) == n * (n - 1) // 2
    assert set(table["method"]) == {"spearman"}
    assert table["value"].between(-1, 1).all()
    assert_allclose(table["dissimilarity"], 1 - table["value"], atol=1e-12)
    same = table[(table.model_a == "convnet_s0") & (table.layer_a == "logits")
                 & (table.model_b == "convnet_s1") & (table.layer_b == "logits")]
    other = table[(table.model_a == "convnet_s0") & (table.layer_a == "logits")
                  & (table.model_b == "convnet_s0 (random)") & (table.layer_b == "logits")]
    assert same["value"].item() > other["value"].item()  # seeds agree more than untrained


def test_dimensionality_table(demo):
    out, _ = demo
    table = _table(out, "dimensionality")
    assert len(table) == sum(N_LAYERS.values())
    assert (table["n_components"] >= 1).all()
    assert (table["n_components"] <= table["n_units_used"]).all()
    assert (table["threshold"] == 0.8).all()


def test_srm_aligns_the_convnet_seeds(demo):
    out, _ = demo
    table = _table(out, "srm_alignment")
    assert set(table["group"]) == {"convnet (trained)"}
    assert set(table["layer"]) == {"relu_fc"}
    means = table.groupby("space")["rsm_correlation"].mean()
    assert means["shared"] > 0.9
    assert means["shared"] > means["native"] + 0.5


def test_representational_vs_performance_tables(demo):
    out, _ = demo
    pairs = _table(out, "performance_pairs")
    assert len(pairs) == 3  # convnet_s0, convnet_s1, mlp_s0: the trained zoo models
    assert set(pairs["pair"]) == {"same architecture", "different architectures"}
    assert pairs["representational_similarity"].between(-1, 1).all()
    assert (pairs["n_stimuli"] == 450).all()  # the cards' predictions on the whole test split
    test = _table(out, "rep_vs_performance")
    assert len(test) == 1
    assert test.loc[0, "performance"] == "error_consistency"
    assert test.loc[0, "n_pairs"] == 3


def test_provenance_records_weights_stimuli_store_and_timings(demo):
    out, _ = demo
    run = json.loads((out / "run.json").read_text())
    models = {m["name"]: m for m in run["models"]}
    assert list(models) == list(N_LAYERS)
    assert models["convnet_s0"]["weights_hash"] == deeprsa.load_model(
        "zoo:convnet_s0").weights_hash
    assert models["convnet_s0 (random)"]["weights"] == "random"
    assert {m["layers"] for m in models.values()} == {12, 6}
    assert run["stimuli"]["n_stimuli"] == 80 and run["stimuli"]["classes"] == 10
    store = deeprsa.Store(out / "store", mode="r")
    assert len(run["store_keys"]) == len(store.entries())
    assert {"stimuli", "extraction", "RDMs", "comparisons", "MDS", "dimensionality", "SRM",
            "performance", "total"} <= set(run["timings"])
    assert run["config"] == demo_config(quick=True).to_dict()
    assert run["command"].startswith("deeprsa demo --out")
    assert any("between/within-class" in h for h in run["highlights"])


def test_report_command_rewrites_the_report(demo, tmp_path):
    out, _ = demo
    target = tmp_path / "again.html"
    result = CliRunner().invoke(cli, ["report", str(out), "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Report: {target}"

    def images(path):
        return re.findall(r'src="(data:image/png;base64,[^"]+)"', path.read_text())

    assert images(target) == images(out / "report.html")


def test_report_command_explains_a_wrong_directory(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "No run.json in" in result.output


def test_run_command_executes_a_small_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run directory goes into the working directory
    config = tmp_path / "tiny.toml"
    config.write_text(
        'title = "tiny"\n[stimuli]\nsource = "digits:test"\nn_per_class = 3\n\n'
        '[[models]]\nspec = "zoo:mlp_s{seed}"\nseeds = [0, 1]\n\n'
        '[analyses]\nsrm = false\nperformance = false\ndimensionality = false\n\n'
        '[outputs]\nfigures = ["rdms", "multi_model_rdm"]\nformats = ["png"]\n')
    result = CliRunner().invoke(cli, ["run", str(config), "--no-progress"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "tiny_results"
    assert result.output.strip().splitlines()[-1] == f"Report: {out / 'report.html'}"
    run = json.loads((out / "run.json").read_text())
    assert [f["name"] for f in run["figures"]] == ["rdms_mlp_s0", "multi_model_rdm"]
    assert run["config_text"] == config.read_text()
    # two PNGs, and the data of the multi-model RDM's interactive view in the report
    assert sorted(p.suffix for p in (out / "figures").iterdir()) == [".json", ".png", ".png"]
    table = _table(out, "class_structure")
    assert len(table) == 12 and set(table["model"]) == {"mlp_s0", "mlp_s1"}


def test_run_command_reports_config_errors(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[stimuli]\nsource = "digits:test"\n\n[[models]]\nspec = "zoo:mlp_s0"\n'
                      '\n[rdm]\nmeasures = ["corelation"]\n')
    result = CliRunner().invoke(cli, ["run", str(config)])
    assert result.exit_code == 1
    assert (f"Error: '{config}': config key 'rdm.measures[0]': Unknown measure 'corelation'. "
            "Did you mean 'correlation'?") in result.output


def test_run_names_a_missing_layer_for_srm(tmp_path):
    from deeprsa.demo import run_config
    from deeprsa.pipeline import ConfigError

    config = {"stimuli": {"source": "digits:test", "n_per_class": 2},
              "models": [{"spec": "zoo:mlp_s{seed}", "seeds": [0, 1]}],
              "analyses": {"srm": {"layer": "relu_fc"}, "performance": False,
                           "dimensionality": False, "mds": False},
              "outputs": {"figures": ["rdm"], "report": False}}
    msg = ("config key 'analyses.srm.layer': model 'mlp_s0' has no extracted layer 'relu_fc'. "
           "Did you mean 'relu2'? Use 'last', 'penultimate' or one of: flatten, fc1, relu1, "
           "fc2, relu2, logits.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        run_config(config, out_dir=tmp_path, progress=False)


def test_demo_config_is_the_documented_plan():
    full = demo_config()
    assert [m.name for m in full.models] == [
        "convnet_s0", "convnet_s1", "convnet_s2", "resnet_s0", "resnet_s1", "resnet_s2",
        "mlp_s0", "mlp_s1", "mlp_s2", "convnet_s0 (random)", "convnet_s1 (random)",
        "convnet_s2 (random)", "resnet_s0 (random)", "resnet_s1 (random)",
        "resnet_s2 (random)", "mlp_s0 (random)", "mlp_s1 (random)", "mlp_s2 (random)"]
    assert full.stimuli.n_per_class == 20
    example = deeprsa.load_config(
        __import__("pathlib").Path(__file__).parent.parent / "examples" / "digits_zoo.toml")
    assert [m.name for m in example.models] == [m.name for m in full.models]
    assert example.analyses == full.analyses


@pytest.mark.slow
def test_full_demo_runs(tmp_path):
    from deeprsa.demo import run_demo

    path = run_demo(tmp_path, progress=False)
    table = _table(tmp_path, "class_structure").set_index(["model", "layer"])
    for model in ("convnet_s0", "resnet_s0", "mlp_s0"):
        last = table.loc[model].iloc[-1]
        assert last["within_class"] < last["between_class"]
    assert np.isfinite(table["ratio"]).all()
    assert 100_000 < path.stat().st_size < 3_000_000  # every figure, under 3 MB
    # SRM: the random-weight twins of every architecture, a baseline beside the trained.
    srm = _table(tmp_path, "srm_summary").set_index(["architecture", "weights"])
    for arch in ("convnet", "resnet", "mlp"):
        trained, twins = srm.loc[(arch, "trained")], srm.loc[(arch, "random")]
        assert trained["n_networks"] == twins["n_networks"] == 3
        assert trained["shared"] > twins["shared"] > 0.5


def test_demo_decodes_the_digit_from_every_layer_of_the_focus_model(demo):
    out, _ = demo
    table = _table(out, "decoding")
    assert set(table["model"]) == {"convnet_s0"}
    assert (table["target"] == "label").all() and (table["chance"] == 0.1).all()
    # A trained digits net: its late layers decode the digit far above chance.
    assert table["accuracy"].iloc[-1] > 0.8
