import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import deeprsa
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


# Python code for `python -c`. _BLOCK_DASK makes `import dask` and `import distributed`
# (and their submodules) raise ImportError; _TRY_DASK checks that it does; _DEEPRSA is the
# `deeprsa` command line, arguments from the command line, in a Python without dask.
_BLOCK_DASK = 'import sys\nsys.modules["dask"] = sys.modules["distributed"] = None\n'
_TRY_DASK = _BLOCK_DASK + (
    "for name in ('dask', 'distributed', 'dask.distributed'):\n"
    "    try:\n"
    "        __import__(name)\n"
    "    except ImportError:\n"
    "        print(name, 'blocked')\n")
_DEEPRSA = _BLOCK_DASK + "from deeprsa.cli import main\nmain()\n"


def _env():
    """The environment of a subprocess that imports this checkout's deeprsa."""
    src = str(Path(deeprsa.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        src, os.environ.get("PYTHONPATH")]))}


def _python(code, *args, cwd):
    """Run ``python -c code args...``; return the finished process."""
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)


def test_run_without_cluster_options_needs_no_dask(tmp_path):
    # The default run is one process: `deeprsa run --help` documents the Dask options,
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    assert "--cluster local[:N]" in result.output and "--scheduler ADDRESS" in result.output
    # the Python below cannot import dask (or the test would prove nothing),
    blocked = _python(_TRY_DASK, cwd=tmp_path)
    assert blocked.stdout.splitlines() == ["dask blocked", "distributed blocked",
                                           "dask.distributed blocked"], blocked.stderr
    # and `deeprsa run CONFIG` runs the whole plan there.
    config = tmp_path / "tiny.toml"
    config.write_text(
        'title = "tiny"\n[stimuli]\nsource = "digits:test"\nn_per_class = 2\n\n'
        '[[models]]\nspec = "zoo:mlp_s0"\n\n'
        '[analyses]\nmds = false\nsrm = false\nperformance = false\n'
        'dimensionality = false\n\n'
        '[outputs]\nfigures = ["rdms"]\nformats = ["png"]\n')
    run = _python(_DEEPRSA, "run", str(config), "--no-progress", cwd=tmp_path)
    out = tmp_path / "tiny_results"
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == f"Report: {out / 'report.html'}"
    figures = json.loads((out / "run.json").read_text())["figures"]
    assert [f["name"] for f in figures] == ["rdms_mlp_s0"]


def test_python_m_deeprsa_cli_is_the_command_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "deeprsa.cli", "--version"], cwd=tmp_path,
                            env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"deeprsa, version {deeprsa.__version__}\n"


@pytest.mark.parametrize("command, names", [
    ("sources", ["checkpoint", "hf", "module", "open_clip", "timm", "torchvision", "zoo"]),
    ("reductions", ["cls_token", "flatten", "sketch", "spatial_mean", "subsample_units",
                    "token_mean"]),
    ("loaders", ["csv", "digits", "folder", "meta_json"]),
    ("corrections", ["bonferroni", "fdr_bh", "fdr_by", "holm", "none"]),
    ("performance-measures", ["accuracy_similarity", "error_consistency",
                              "prediction_agreement"]),
])
def test_every_registry_is_listed_by_a_command(command, names):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    result = CliRunner().invoke(cli, [command])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.splitlines()[1:] if line.strip()]
    assert listed == names
