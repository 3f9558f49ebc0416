import json

from click.testing import CliRunner

from deeprsa import Store
from deeprsa.cli import cli


def test_layers_lists_and_writes_the_layer_file(tmp_path):
    out = tmp_path / "layers.json"
    result = CliRunner().invoke(cli, ["layers", "zoo:convnet_s0", "--select", "relu*",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "relu_fc" in result.output and "conv1 " not in result.output
    records = json.loads(out.read_text())
    assert [r["layer"] for r in records] == ["relu1", "relu2", "relu3", "relu_fc"]


def test_extract_then_rerun_skips(tmp_path):
    args = ["extract", "--model", "zoo:mlp_s0", "--layers", "fc1,logits", "--stimuli",
            "digits:test", "--store", str(tmp_path / "s"), "--batch-size", "100"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.output.count("extracted") == 2
    again = CliRunner().invoke(cli, args)
    assert again.output.count("skipped") == 2
    X, ids = Store(tmp_path / "s").load_activations("zoo:mlp_s0", "logits")
    assert X.shape == (450, 10) and len(ids) == 450


def test_extract_with_a_layer_file(tmp_path):
    layer_file = tmp_path / "sel.json"
    layer_file.write_text(json.dumps([{"model": "zoo:mlp_s0", "layer": "relu2"}]))
    result = CliRunner().invoke(cli, ["extract", "--model", "zoo:mlp_s0", "--layers-file",
                                      str(layer_file), "--stimuli", "digits:test",
                                      "--store", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert list(Store(tmp_path / "s").entries("activations").layer) == ["relu2"]


def test_bad_input_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["layers", "zoo:convnet_s0", "--select", "relu9"])
    assert result.exit_code == 1
    assert "Error: No layer matches 'relu9'. Did you mean 'relu3'?" in result.output
    result = CliRunner().invoke(cli, ["extract", "--model", "zoo:mlp_s0", "--stimuli",
                                      "nowhere.txt", "--store", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "is not 'digits[:train|test]', a folder, a .csv or a meta .json file" in result.output


def test_run_without_cluster_options_needs_no_dask(tmp_path, monkeypatch):
    # The default run is one process: `deeprsa run --help` documents the Dask options.
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    assert "--cluster local[:N]" in result.output and "--scheduler ADDRESS" in result.output
