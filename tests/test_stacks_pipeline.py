"""Stacks in configs, plans, runs and on the command line: every new key checked, round-tripped
and run; the rotated-digits example and the docs' example run as written."""

import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.testing import assert_array_equal

from deeprsa import Store, compute_rdms
from deeprsa.cli import cli
from deeprsa.pipeline import ConfigError, RunConfig, build_plan, load_config, run_config
from deeprsa.stimuli import load_stimuli

ROOT = Path(__file__).resolve().parents[1]
BASE = {"stimuli": {"source": "digits:test", "n_per_class": 2},
        "models": [{"spec": "zoo:mlp_s0", "layers": ["fc1", "logits"]}]}
EVERY_KEY = {
    "rdm": {"measures": ["correlation", "cosine"], "by": ["label"], "entries": ["rotation"],
            "combine": {"0+180": ["0", "180"]},
            "units": ["all", "units:0-3", {"fc1": {"first": [0, 1, 2]}}, {"odd": [1, 3]}],
            "n_permutations": 5, "seed": 3},
    "analyses": {"meta_rdm": {"entry_variables": ["label"],
                              "grouping_variables": ["model", "layer", "measure", "unit_set",
                                                     "permutation"],
                              "method": "pearson", "third_order": ["layer"]},
                 "anova": {"column": "rotation", "alpha": 0.01, "correction": "holm"},
                 "subsets": {"k": 3, "mode": "min", "n_restarts": 4},
                 "cka": {"method": "rbf_cka", "params": {"threshold": 0.5}}},
}


def _config(**sections):
    return {**BASE, **sections}


def test_every_new_key_round_trips():
    config = RunConfig.from_dict(_config(**EVERY_KEY))
    assert config.rdm.by == ("label",) and config.rdm.units[2] == {"fc1": {"first": [0, 1, 2]}}
    assert config.rdm.combine == {"0+180": ("0", "180")} and config.rdm.stacked
    assert config.analyses.cka.params == {"threshold": 0.5}
    assert config.analyses.subsets.mode == "min" and config.analyses.anova.alpha == 0.01
    again = RunConfig.from_dict(config.to_dict())
    assert again == config
    assert config.rdm.stack_options() == {
        "by": ["label"], "entries": ["rotation"], "combine": {"0+180": ["0", "180"]},
        "units": ["all", "units:0-3", {"fc1": {"first": [0, 1, 2]}}, {"odd": [1, 3]}],
        "n_permutations": 5, "seed": 3}


def test_the_new_keys_read_from_toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        '[stimuli]\nsource = "digits:test"\n\n[[models]]\nspec = "zoo:mlp_s0"\n\n'
        '[rdm]\nby = "label"\nentries = ["rotation"]\nn_permutations = 2\n'
        'units = ["all", {odd = [1, 3]}]\ncombine = { "0+180" = ["0", "180"] }\n\n'
        '[analyses]\nsrm = false\n\n[analyses.meta_rdm]\nthird_order = false\n\n'
        '[analyses.anova]\n\n[analyses.cka]\nmethod = "linear_cka"\n')
    config = load_config(path)
    assert config.rdm.units == ("all", {"odd": [1, 3]})
    meta = config.analyses.meta_rdm
    assert meta.entry_variables == ("label",) and meta.third_order == ()
    assert meta.grouping_variables == ("model", "layer", "measure", "unit_set", "permutation")
    assert config.analyses.anova.column == "label"  # the stimuli's label by default
    assert config.analyses.subsets is None and config.analyses.srm is None
    assert RunConfig.from_dict(config.to_dict(), base_dir=tmp_path) == config


def test_defaults_leave_a_run_as_it_was():
    config = RunConfig.from_dict(BASE)
    assert not config.rdm.stacked
    assert (config.analyses.meta_rdm, config.analyses.anova, config.analyses.subsets,
            config.analyses.cka) == (None, None, None, None)
    from deeprsa.pipeline.sections import sections

    names = [name for name, _ in sections(config)]
    assert names == ["stimuli", "RDMs", "comparisons", "MDS", "dimensionality", "SRM",
                     "performance"]


ERRORS = {
    "permutations": (
        {"rdm": {"permutations": 10}}, "rdm.permutations",
        "Unknown config key 'rdm.permutations'. Did you mean 'rdm.n_permutations'?"),
    "unit-rule": (
        {"rdm": {"units": ["all", "chanels:0-3"]}}, "rdm.units[1]",
        "config key 'rdm.units[1]': Unknown unit rule 'chanels'. Did you mean 'channels'?"),
    "unit-indices": (
        {"rdm": {"units": {"odd": [1, -3]}}}, "rdm.units.odd",
        "config key 'rdm.units.odd' must be a non-empty list of unit indices (ints >= 0), "
        "got [1, -3]."),
    "combine": (
        {"rdm": {"entries": "label", "combine": {"mix": ["0"]}}}, "rdm.combine.mix",
        "config key 'rdm.combine.mix' must list at least two entry labels (strings), got "
        "['0']."),
    "negative-permutations": (
        {"rdm": {"by": "label", "n_permutations": -1}}, "rdm.n_permutations",
        "config key 'rdm.n_permutations' must be an int >= 0, got -1."),
    "analysis": (
        {"analyses": {"meta_rmd": True}}, "analyses.meta_rmd",
        "Unknown config key 'analyses.meta_rmd'. Did you mean 'analyses.meta_rdm'?"),
    "meta-key": (
        {"rdm": {"by": "label"}, "analyses": {"meta_rdm": {"entry_variable": ["label"]}}},
        "analyses.meta_rdm.entry_variable",
        "Unknown config key 'analyses.meta_rdm.entry_variable'. Did you mean "
        "'analyses.meta_rdm.entry_variables'?"),
    "meta-method": (
        {"rdm": {"by": "label"}, "analyses": {"meta_rdm": {"method": "spearmann"}}},
        "analyses.meta_rdm.method",
        "config key 'analyses.meta_rdm.method': Unknown RDM method 'spearmann'. Did you mean "
        "'spearman'?"),
    "meta-without-stack": (
        {"analyses": {"meta_rdm": True}}, "analyses.meta_rdm",
        "config key 'analyses.meta_rdm' compares the RDMs of a stack: set rdm.by (one RDM per "
        "group of stimuli) and rdm.entries (its rows)."),
    "meta-both": (
        {"rdm": {"by": "label"},
         "analyses": {"meta_rdm": {"grouping_variables": ["label", "layer"]}}},
        "analyses.meta_rdm.grouping_variables",
        "config key 'analyses.meta_rdm.grouping_variables': 'label' is also an entry "
        "variable"),
    "cka-method": (
        {"analyses": {"cka": {"method": "linear_ck"}}}, "analyses.cka.method",
        "config key 'analyses.cka.method': Unknown representation method 'linear_ck'. Did you "
        "mean 'linear_cka'?"),
    "cka-is-for-representations": (
        {"analyses": {"cka": {"method": "spearman"}}}, "analyses.cka.method",
        "config key 'analyses.cka.method': Unknown representation method 'spearman'."),
    "subsets-mode": (
        {"analyses": {"subsets": {"mode": "maxi"}}}, "analyses.subsets.mode",
        "config key 'analyses.subsets.mode': Unknown mode 'maxi'. Did you mean 'max'?"),
    "subsets-k": (
        {"analyses": {"subsets": {"k": 1}}}, "analyses.subsets.k",
        "config key 'analyses.subsets.k' must be an int >= 2, got 1."),
    "anova-correction": (
        {"analyses": {"anova": {"correction": "fdr"}}}, "analyses.anova.correction",
        "config key 'analyses.anova.correction': Unknown correction 'fdr'. Did you mean "),
    "anova-alpha": (
        {"analyses": {"anova": {"alpha": 5}}}, "analyses.anova.alpha",
        "config key 'analyses.anova.alpha' must be a number in (0, 1), got 5."),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_new_keys_fail_with_the_key_and_a_suggestion(name):
    sections, key, message = ERRORS[name]
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        RunConfig.from_dict(_config(**sections))
    assert err.value.key == key


PLAN_ERRORS = {
    "by-column": (
        {"rdm": {"by": "lable"}}, "rdm.by[0]",
        "config key 'rdm.by[0]': no stimulus column 'lable'. Did you mean 'label'?"),
    "one-entry": (
        {"rdm": {"by": "row"}}, "rdm.by",
        "config key 'rdm.by': The group row=701 has only one entry (['digit_0701']); an RDM "
        "needs at least two."),
    "units": (
        {"rdm": {"units": "units:0-200"}}, "rdm.units",
        "config key 'rdm.units' (model 'mlp_s0'): Unit subset 'units:0-200' of layer 'fc1' "
        "holds index 128, outside the layer's 128 units (0 to 127)."),
    "anova-column": (
        {"analyses": {"anova": {"column": "colour"}}}, "analyses.anova.column",
        "config key 'analyses.anova.column': no stimulus column 'colour'."),
    "third-order": (
        {"rdm": {"entries": "label", "by": "split"},
         "analyses": {"meta_rdm": {"entry_variables": ["split"], "third_order": ["digit"]}}},
        "analyses.meta_rdm.third_order[0]",
        "config key 'analyses.meta_rdm.third_order[0]': no grouping variable of the meta-RDMs "
        "'digit'."),
}


@pytest.mark.parametrize("name", sorted(PLAN_ERRORS))
def test_the_plan_checks_the_stack_before_any_extraction(name):
    sections, key, message = PLAN_ERRORS[name]
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        build_plan(_config(**sections))
    assert err.value.key == key


# ------------------------------------------------ the rotated digits, on disk


def _example_module():
    spec = importlib.util.spec_from_file_location(
        "make_rotated_digits", ROOT / "examples" / "make_rotated_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    """The example's rotated digits, 2 per class (80 PNGs and their CSV)."""
    module = _example_module()
    module.N_PER_CLASS = 2
    folder = tmp_path_factory.mktemp("ex") / "rotated_digits"
    module.main(folder)
    return folder


def test_the_example_writes_digits_in_four_rotations(rotated):
    table = pd.read_csv(rotated / "stimuli.csv")
    assert len(table) == 80 and sorted(table["rotation"].unique()) == [0, 90, 180, 270]
    stimuli = load_stimuli(str(rotated / "stimuli.csv"))
    upright = stimuli.load(0).numpy()[0]
    turned = stimuli.load(1).numpy()[0]  # the same digit, a quarter turn
    assert_array_equal(np.rot90(upright), turned)


def test_the_example_config_is_valid(rotated):
    shutil.copy(ROOT / "examples" / "rotated_digits.toml", rotated.parent)
    config = load_config(rotated.parent / "rotated_digits.toml")
    assert config.rdm.by == ("label",) and config.rdm.entries == ("rotation",)
    plan = build_plan(config)
    assert len(plan.stimuli) == 80 and plan.names[0] == "convnet_s0"


def test_deeprsa_rdm_makes_a_stack_on_the_command_line(rotated, tmp_path):
    csv, store = str(rotated / "stimuli.csv"), str(tmp_path / "s")
    out = CliRunner().invoke(cli, ["extract", "--model", "zoo:mlp_s0", "--layers", "fc1",
                                   "--stimuli", csv, "--store", store])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(cli, ["rdm", "--store", store, "--stimuli", csv, "--by", "label",
                                   "--entries", "rotation", "--n-permutations", "2",
                                   "--seed", "0"])
    assert out.exit_code == 0, out.output
    assert "10 RDMs and 20 label permutations; table:" in out.output
    table = pd.read_csv(Path(store) / "tables" / "rdm_stack.csv")
    assert len(table) == 30 and list(table["label"][:3]) == [0, 0, 0]
    stack = compute_rdms(store, stimuli=load_stimuli(csv), by="label", entries="rotation",
                         progress=False)
    assert_array_equal(stack[0].matrix, compute_rdms(
        Store(store), stimuli=load_stimuli(csv), by="label", entries="rotation",
        n_permutations=2, seed=0, progress=False)[0].matrix)
    bad = CliRunner().invoke(cli, ["rdm", "--store", store, "--stimuli", csv, "--entries",
                                   "rotation", "--combine", "mix=0"])
    assert bad.exit_code == 2 and "'mix=0' is not NAME=A,B" in bad.output
    typo = CliRunner().invoke(cli, ["rdm", "--store", store, "--stimuli", csv, "--by",
                                    "lable"])
    assert typo.exit_code == 1 and "No metadata column 'lable'. Did you mean 'label'?" in \
        typo.output


@pytest.mark.slow
def test_a_run_with_a_stack_reports_every_new_analysis(rotated, tmp_path):
    config = {
        "stimuli": {"source": str(rotated / "stimuli.csv"), "sort_by": ["label", "rotation"]},
        "models": [{"spec": "zoo:mlp_s0"}],
        "rdm": {"by": ["label"], "entries": ["rotation"], "n_permutations": 9, "seed": 0},
        "analyses": {"srm": False, "performance": False, "dimensionality": False,
                     "mds": False, "meta_rdm": True, "anova": {"column": "rotation"},
                     "subsets": {"k": 3}, "cka": True},
        "outputs": {"formats": ["png"]}}
    report = run_config(config, out_dir=tmp_path / "run", progress=False)
    tables = tmp_path / "run" / "tables"
    stack = pd.read_csv(tables / "rdm_stack.csv")
    assert len(stack) == 10 * 6 and set(stack["n_entries"]) == {4}
    test = pd.read_csv(tables / "meta_rdm_permutations.csv")
    assert len(test) == 6 and test["pvalue"].between(0.1, 1).all()
    assert (test["n_permutations"] == 9).all()
    third = pd.read_csv(tables / "third_order_rdms.csv")
    assert len(third) == 15 and set(third["measure_sub_sub"]) == {"correlation"}
    for name in ("meta_rdms", "anova", "subsets", "stack_subsets", "cka"):
        assert (tables / f"{name}.csv").exists(), name
    figures = {p.stem for p in (tmp_path / "run" / "figures").glob("*.png")}
    assert {"rdm_stack_mlp_s0", "meta_rdm_mlp_s0", "meta_rdm_mds_mlp_s0",
            "third_order_mlp_s0", "anova", "subsets_mlp_s0", "cka_mlp_s0"} <= figures
    html = report.read_text()
    for section in ("Stacks of RDMs over entries", "Meta-RDMs: comparing the RDMs of a stack",
                    "Unit selectivity (ANOVA)", "Most dissimilar subsets"):
        assert section in html, section
    # The plain RDMs and their comparison are the run's as ever; the stack is kept apart.
    store = Store(tmp_path / "run" / "store")
    assert len(store.select("rdms")) == 6 and len(store.select("rdm_stacks")) == 6


def test_the_docs_example_runs_as_written(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "stacks.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/stacks.md", "exec"), namespace)
    stack, third = namespace["stack"], namespace["third"]
    assert len(stack) == 12 * 10 * 21  # layers x classes x (1 + 20 permutations)
    assert third["rdm"][0].stimulus_ids[:2] == ("conv1", "relu1")


def test_a_subset_of_the_stimulus_set_restricts_the_stack(rotated, tmp_path):
    from deeprsa import extract, load_model

    stimuli = load_stimuli(str(rotated / "stimuli.csv"))
    store = Store(tmp_path / "s")
    extract(load_model("zoo:mlp_s0"), stimuli, ["fc1"], store, progress=False)
    full = compute_rdms(store, stimuli=stimuli, by="label", entries="rotation", progress=False)
    low = stimuli.subset([s for s, label in zip(stimuli.stimulus_ids,
                                                stimuli.metadata["label"], strict=True)
                          if label < 3])
    part = compute_rdms(store, stimuli=low, by="label", entries="rotation", progress=False)
    assert list(part.metadata["label"]) == [0, 1, 2]
    for i in range(3):
        assert_array_equal(part[i].matrix, full[i].matrix)
        assert part[i].provenance["stimulus_set"] == stimuli.content_hash()
