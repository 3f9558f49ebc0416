"""Targets in runs and on the command line: [[targets]] tables, `deeprsa compare --target`."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from deeprsa import RunConfig, Store
from deeprsa.pipeline import ConfigError
from deeprsa.pipeline.plan import draw_stimuli

BASE = {"stimuli": {"source": "digits:test", "n_per_class": 2},
        "models": [{"spec": "zoo:mlp_s0", "layers": ["fc1", "fc2", "logits"]}],
        "analyses": {"srm": False, "performance": False, "dimensionality": False,
                     "mds": False}}


def _target_file(tmp_path, ids, *, n_subjects=3, drop=0, name="behaviour.npz"):
    rng = np.random.default_rng(0)
    n = len(ids)
    X = rng.standard_normal((n, 4))
    rdms = [np.linalg.norm((X + 0.3 * rng.standard_normal(X.shape))[:, None]
                           - X[None], axis=-1) for _ in range(n_subjects)]
    rdms = [(m + m.T) / 2 for m in rdms]
    for m in rdms:
        np.fill_diagonal(m, 0)
    path = tmp_path / name
    keep = slice(drop, None)
    np.savez(path, rdms=np.stack(rdms)[:, keep, keep], stimulus_ids=np.array(ids[keep]))
    return path


@pytest.fixture
def ids():
    return list(draw_stimuli(RunConfig.from_dict(BASE)).stimulus_ids)


def test_targets_tables_are_checked_like_every_config_key():
    config = RunConfig.from_dict({**BASE, "targets": [
        {"path": "it.npz", "name": "IT", "method": "corr_cov", "over": "both",
         "weighted": True, "cv": 4}]})
    target = config.targets[0]
    assert (target.path, target.name, target.method, target.over, target.weighted,
            target.cv) == ("it.npz", "IT", "corr_cov", "both", "cosine", 4)
    again = RunConfig.from_dict(config.to_dict())
    assert again.targets == config.targets


@pytest.mark.parametrize("table, key, msg", [
    ({"path": "t.npz", "metod": "spearman"}, "targets[0].metod",
     "Unknown config key 'targets[0].metod'. Did you mean 'targets[0].method'?"),
    ({"name": "IT"}, "targets[0].path", "config key 'targets[0].path' is missing"),
    ({"path": "t.npz", "method": "spearmann"}, "targets[0].method",
     "config key 'targets[0].method': Unknown method 'spearmann'. Did you mean 'spearman'?"),
    ({"path": "t.npz", "method": "linear_cka"}, "targets[0].method",
     "config key 'targets[0].method': Unknown method 'linear_cka'."),
    ({"path": "t.npz", "over": "subject"}, "targets[0].over",
     "Unknown over 'subject'. Did you mean 'subjects'?"),
    ({"path": "t.npz", "weighted": "spearman"}, "targets[0].weighted",
     "Unknown method for weighted RSA 'spearman'."),
    ({"path": "t.npz", "confidence": 95}, "targets[0].confidence",
     "config key 'targets[0].confidence' must be a number strictly between 0 and 1"),
], ids=["key", "path", "method", "representation method", "over", "weighted", "confidence"])
def test_bad_target_tables(table, key, msg):
    with pytest.raises(ConfigError, match=re.escape(msg)) as caught:
        RunConfig.from_dict({**BASE, "targets": [table]})
    assert caught.value.key == key


def test_a_target_whose_labels_miss_stimuli_fails_before_any_extraction(tmp_path, ids):
    from deeprsa import run_config

    path = _target_file(tmp_path, ids, drop=2)
    config = {**BASE, "targets": [{"path": str(path)}]}
    msg = (f"config key 'targets[0]': The stimulus labels of target {str(path)!r} and the "
           f"run's stimuli differ (labels are matched by name): 0 (none) only in target "
           f"{str(path)!r}; 2 ({ids[0]!r}, {ids[1]!r}) only in the run's stimuli.")
    msg = msg.replace("0 (none)", "none")
    with pytest.raises(ConfigError, match=re.escape(msg)) as caught:
        run_config(config, out_dir=tmp_path / "run", progress=False)
    assert caught.value.key == "targets[0].path"
    store = tmp_path / "run" / "store"
    assert not store.exists() or Store(store, mode="r").select("activations",
                                                               strict=False).empty


def test_a_run_reports_layer_profiles_and_weights(tmp_path, ids):
    from deeprsa import run_config

    path = _target_file(tmp_path, ids)
    config = {**BASE, "targets": [{"path": str(path), "name": "ratings", "n_resamples": 50,
                                   "cv": 4, "weighted": "pearson"}],
              "outputs": {"figures": ["layer_profile", "target_weights"], "formats": ["png"]}}
    report = run_config(config, out_dir=tmp_path / "run", progress=False)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    figures = {f["name"]: f for f in run["figures"]}
    assert set(figures) == {"layer_profile_ratings", "target_weights_ratings"}
    assert all(f["section"] == "Layers against targets" for f in figures.values())
    assert "held-out score" in figures["layer_profile_ratings"]["caption"]
    tables = {t["name"] for t in run["tables"]}
    assert {"layer_profile_ratings", "best_layer_folds_ratings",
            "target_weights_ratings"} <= tables
    assert any("best layer of mlp_s0" in h for h in run["highlights"])
    html = report.read_text()
    assert "Layers against targets" in html and "Layer profiles against ratings" in html


def test_compare_with_a_target_on_the_command_line(tmp_path, ids):
    from deeprsa import extract
    from deeprsa.cli import cli
    from deeprsa.rdm import compute_rdms

    store = Store(tmp_path / "store")
    stimuli = draw_stimuli(RunConfig.from_dict(BASE))
    extract("zoo:mlp_s0", stimuli, ["fc1", "fc2", "logits"], store, progress=False)
    compute_rdms(store, progress=False)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(ids))
    data = np.load(_target_file(tmp_path, ids))
    np.save(tmp_path / "t.npy", data["rdms"])
    result = CliRunner().invoke(cli, ["compare", "--store", str(tmp_path / "store"),
                                       "--target", str(tmp_path / "t.npy"), "--target-labels",
                                       str(labels), "--n-resamples", "30", "--cv", "4"])
    assert result.exit_code == 0, result.output
    assert "best layer of each model (chosen by cross-validation over stimuli)" in result.output
    assert "noise_ceiling_lower" in result.output
    assert (tmp_path / "store" / "tables" / "profile-t-spearman.parquet").is_file()
    missing = CliRunner().invoke(cli, ["compare", "--store", str(tmp_path / "store"),
                                        "--target", str(tmp_path / "t.npy")])
    assert missing.exit_code == 1
    assert "holds no stimulus labels" in missing.output
