"""Run configs: TOML and dicts become one checked plan; every error names its key."""

import re
from pathlib import Path

import pytest

from deeprsa.pipeline import FIGURES, ConfigError, ModelPlan, RunConfig, load_config

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))


def _base():
    return {"stimuli": {"source": "digits:test"}, "models": [{"spec": "zoo:convnet_s0"}]}


def test_defaults_fill_every_section():
    config = RunConfig.from_dict(_base())
    assert config.models == (ModelPlan(spec="zoo:convnet_s0", name="convnet_s0",
                                       group="convnet"),)
    assert config.stimuli.sort_by == ("label",)
    assert config.rdm.measures == ("correlation",)
    assert config.compare.methods == ("spearman",)
    assert config.outputs.figures == tuple(FIGURES)
    assert config.outputs.focus == ("convnet_s0",)
    assert config.analyses.srm.layer == "penultimate"


def test_seeds_and_weights_expand_into_one_model_each():
    data = _base()
    data["models"] = [{"spec": "zoo:resnet_s{seed}", "seeds": [0, 1],
                       "weights": ["trained", "random"], "layers": ["conv1", "logits"]},
                      {"spec": "torchvision:alexnet", "weights": "random", "seeds": [3, 4]},
                      {"spec": "zoo:mlp_s0", "name": "MLP {weights}"}]
    config = RunConfig.from_dict(data)
    got = [(m.spec, m.weights, m.seed, m.name, m.group, m.layers) for m in config.models]
    assert got == [
        ("zoo:resnet_s0", "trained", None, "resnet_s0", "resnet", ("conv1", "logits")),
        ("zoo:resnet_s0", "random", None, "resnet_s0 (random)", "resnet", ("conv1", "logits")),
        ("zoo:resnet_s1", "trained", None, "resnet_s1", "resnet", ("conv1", "logits")),
        ("zoo:resnet_s1", "random", None, "resnet_s1 (random)", "resnet", ("conv1", "logits")),
        ("torchvision:alexnet", "random", 3, "alexnet (random, seed 3)", "alexnet", "top_level"),
        ("torchvision:alexnet", "random", 4, "alexnet (random, seed 4)", "alexnet", "top_level"),
        ("zoo:mlp_s0", "trained", None, "MLP trained", "mlp", "top_level"),
    ]
    # The focus defaults to the first model and the first with other weights.
    assert config.outputs.focus == ("resnet_s0", "resnet_s0 (random)")


def test_analyses_switch_off_with_false_and_tune_with_tables():
    data = _base()
    data["analyses"] = {"srm": False, "mds": {"metric": False, "n_components": 3}}
    analyses = RunConfig.from_dict(data).analyses
    assert analyses.srm is None
    assert (analyses.mds.metric, analyses.mds.n_components) == (False, 3)
    assert analyses.performance is not None


def test_to_dict_round_trips():
    data = _base()
    data["models"] = [{"spec": "zoo:convnet_s{seed}", "seeds": [0, 1]}]
    data["analyses"] = {"performance": False}
    config = RunConfig.from_dict(data)
    again = RunConfig.from_dict(config.to_dict())
    assert again == config


def test_load_config_resolves_paths_against_the_file(tmp_path):
    path = tmp_path / "sub" / "my_run.toml"
    path.parent.mkdir()
    path.write_text('title = "t"\n[stimuli]\nsource = "images"\n\n'
                    '[[models]]\nspec = "torchvision:alexnet"\nweights = "random"\n')
    config = load_config(path)
    assert config.outputs.dir == str(path.parent / "my_run_results")
    assert config.resolve("images") == path.parent / "images"
    assert config.resolve("/abs/x") == Path("/abs/x")
    assert config.models[0].name == "alexnet (random)"


def test_load_config_reports_toml_syntax_errors(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[stimuli\nsource = 1\n")
    with pytest.raises(ConfigError, match=re.escape(f"{str(path)!r} is not valid TOML: ")):
        load_config(path)


def test_load_config_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(FileNotFoundError, match=re.escape(f"Config file {str(path)!r} does "
                                                          "not exist.")):
        load_config(path)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid(path):
    config = load_config(path)
    assert config.models and config.title


MEASURES = ("'correlation', 'cosine', 'euclidean', 'normalized_euclidean', 'spearman', "
            "'sqeuclidean'")

ERRORS = {
    "top-level-key": (
        lambda d: d.update(modles=[]), "modles",
        "Unknown config key 'modles'. Did you mean 'models'? Allowed keys at the top level: "
        "'analyses', 'compare', 'extract', 'models', 'outputs', 'rdm', 'stimuli', 'targets', "
        "'title'."),
    "section-key": (
        lambda d: d.update(rdm={"measure": ["correlation"]}), "rdm.measure",
        "Unknown config key 'rdm.measure'. Did you mean 'rdm.measures'? Allowed keys in [rdm]: "
        "'by', 'combine', 'dtype', 'entries', 'measures', 'n_permutations', 'nan_policy', 'seed',"
        " 'units'."),
    "measure-in-list": (
        lambda d: d.update(rdm={"measures": ["correlation", "corelation"]}), "rdm.measures[1]",
        "config key 'rdm.measures[1]': Unknown measure 'corelation'. Did you mean "
        f"'correlation'? Available: {MEASURES}."),
    "measure-string": (
        lambda d: d.update(rdm={"measures": "corelation"}), "rdm.measures",
        "config key 'rdm.measures': Unknown measure 'corelation'. Did you mean 'correlation'? "
        f"Available: {MEASURES}."),
    "method": (
        lambda d: d.update(compare={"methods": ["spearmann"]}), "compare.methods[0]",
        "config key 'compare.methods[0]': Unknown method 'spearmann'. Did you mean 'spearman'?"),
    "weights": (
        lambda d: d["models"][0].update(weights="pretrained"), "models[0].weights",
        "config key 'models[0].weights' must be 'trained', 'random' or the path of a state "
        "dict; got 'pretrained'. Did you mean 'trained'?"),
    "weights-list": (
        lambda d: d["models"][0].update(weights=["trained", "randm"]), "models[0].weights[1]",
        "config key 'models[0].weights[1]' must be 'trained', 'random' or the path of a state "
        "dict; got 'randm'. Did you mean 'random'?"),
    "model-source": (
        lambda d: d["models"][0].update(spec="zo:convnet_s0"), "models[0].spec",
        "config key 'models[0].spec': Unknown model source 'zo'. Did you mean 'zoo'? "
        "Available: 'checkpoint', 'hf', 'module', 'open_clip', 'timm', 'torchvision', 'zoo'."),
    "spec-form": (
        lambda d: d["models"][0].update(spec="convnet_s0"), "models[0].spec",
        "config key 'models[0].spec' must be '<source>:<name>', e.g. 'zoo:convnet_s0'; got "
        "'convnet_s0'."),
    "model-key": (
        lambda d: d["models"][0].update(layer="fc"), "models[0].layer",
        "Unknown config key 'models[0].layer'. Did you mean 'models[0].layers'? Allowed keys in "
        "[models[0]]: 'group', 'layers', 'name', 'reduction', 'seed', 'seeds', 'spec', "
        "'weights'."),
    "reduction": (
        lambda d: d["models"][0].update(reduction="spatial_man"), "models[0].reduction",
        "config key 'models[0].reduction': Unknown reduction 'spatial_man'. Did you mean "
        "'spatial_mean'? Available: 'cls_token', 'flatten', 'sketch', 'spatial_mean', "
        "'subsample_units', "
        "'token_mean'."),
    "reduction-per-layer": (
        lambda d: d["models"][0].update(reduction={"fc": "cls_tokn"}), "models[0].reduction.fc",
        "config key 'models[0].reduction.fc': Unknown reduction 'cls_tokn'. Did you mean "
        "'cls_token'?"),
    "seed-template": (
        lambda d: d["models"][0].update(spec="zoo:convnet_s{seed}"), "models[0].seeds",
        "config key 'models[0].spec' contains {seed}; give the seeds, e.g. seeds = [0, 1, 2]."),
    "seed-and-seeds": (
        lambda d: d["models"][0].update(seed=0, seeds=[1]), "models[0].seeds",
        "config keys 'models[0].seed' and 'models[0].seeds' exclude each other; use seeds = "
        "[...] for several."),
    "seeds-type": (
        lambda d: d["models"][0].update(seeds=[0, "one"]), "models[0].seeds[1]",
        "config key 'models[0].seeds[1]' must be an int >= 0, got 'one'."),
    "name-template": (
        lambda d: d["models"][0].update(name="net_{sed}"), "models[0].name",
        "config key 'models[0].name' may use {seed} and {weights} only; got 'net_{sed}'."),
    "duplicate-name": (
        lambda d: d["models"].append({"spec": "zoo:convnet_s0"}), "models[1].name",
        "config key 'models': two models are named 'convnet_s0' (models[0] and models[1]); "
        "give each a distinct name."),
    "n_per_class-type": (
        lambda d: d["stimuli"].update(n_per_class="ten"), "stimuli.n_per_class",
        "config key 'stimuli.n_per_class' must be a positive int, got 'ten'."),
    "n_per_class-zero": (
        lambda d: d["stimuli"].update(n_per_class=0), "stimuli.n_per_class",
        "config key 'stimuli.n_per_class' must be a positive int, got 0."),
    "no-source": (
        lambda d: d["stimuli"].pop("source"), "stimuli.source",
        "config key 'stimuli.source' is missing: name the stimuli, e.g. source = "
        "\"digits:test\" or a folder of images."),
    "no-stimuli": (
        lambda d: d.pop("stimuli"), "stimuli",
        "config key 'stimuli' is missing: add a [stimuli] table with e.g. source = "
        "\"digits:test\"."),
    "no-models": (
        lambda d: d.pop("models"), "models",
        "config key 'models' is missing: add at least one [[models]] table, e.g. spec = "
        "\"zoo:convnet_s0\"."),
    "empty-models": (
        lambda d: d.update(models=[]), "models",
        "config key 'models' must hold at least one [[models]] table, got []."),
    "section-type": (
        lambda d: d.update(rdm=["correlation"]), "rdm",
        "config key 'rdm' must be a table ([rdm]), got list ['correlation']."),
    "analysis-name": (
        lambda d: d.update(analyses={"srn": True}), "analyses.srn",
        "Unknown config key 'analyses.srn'. Did you mean 'analyses.srm'? Allowed keys in "
        "[analyses]: 'anova', 'cka', 'decoding', 'dimensionality', 'mds', 'meta_rdm', "
        "'performance', 'srm', 'subsets'."),
    "analysis-key": (
        lambda d: d.update(analyses={"mds": {"metrc": True}}), "analyses.mds.metrc",
        "Unknown config key 'analyses.mds.metrc'. Did you mean 'analyses.mds.metric'? Allowed "
        "keys in [analyses.mds]: 'metric', 'n_components', 'thumbnails_per_class'."),
    "mds-dimensions": (
        lambda d: d.update(analyses={"mds": {"n_components": 4}}), "analyses.mds.n_components",
        "config key 'analyses.mds.n_components' must be 2 or 3 (a 2-D or 3-D map), got 4."),
    "threshold": (
        lambda d: d.update(analyses={"dimensionality": {"threshold": 80}}),
        "analyses.dimensionality.threshold",
        "config key 'analyses.dimensionality.threshold' must be a number in (0, 1], got 80."),
    "performance-measure": (
        lambda d: d.update(analyses={"performance": {"measure": "error_consistancy"}}),
        "analyses.performance.measure",
        "config key 'analyses.performance.measure': Unknown performance measure "
        "'error_consistancy'. Did you mean 'error_consistency'? Available: "
        "'accuracy_similarity', 'error_consistency', 'prediction_agreement'."),
    "predictions": (
        lambda d: d.update(analyses={"performance": {"predictions": "zo"}}),
        "analyses.performance.predictions",
        "config key 'analyses.performance.predictions': Unknown predictions 'zo'. Did you mean "
        "'zoo'? Available: 'argmax', 'zoo'."),
    "figure": (
        lambda d: d.update(outputs={"figures": ["mds_layer"]}), "outputs.figures[0]",
        "config key 'outputs.figures[0]': Unknown figure 'mds_layer'. Did you mean "
        "'mds_layers'? Available: 'anova', 'cka', 'dimensionality', 'images', 'layer_profile', "
        "'mds_layers', 'mds_model', 'mds_stimuli', 'meta_rdm', 'model_rdm', 'multi_model_rdm', "
        "'performance', 'rdm', 'rdm_stack', 'rdms', 'srm', 'subsets', 'target_weights', "
        "'third_order'."),
    "format": (
        lambda d: d.update(outputs={"formats": ["png", "tiff"]}), "outputs.formats[1]",
        "config key 'outputs.formats[1]': Unknown format 'tiff'. Available: 'pdf', 'png', "
        "'svg'."),
    "focus": (
        lambda d: d.update(outputs={"focus": "convnet_s1"}), "outputs.focus",
        "config key 'outputs.focus': Unknown model 'convnet_s1'. Did you mean 'convnet_s0'? "
        "Available: 'convnet_s0'."),
    "report": (
        lambda d: d.update(outputs={"report": "yes"}), "outputs.report",
        "config key 'outputs.report' must be true or false, got 'yes'."),
    "dtype": (
        lambda d: d.update(rdm={"dtype": "float16"}), "rdm.dtype",
        "config key 'rdm.dtype': Unknown dtype 'float16'. Did you mean 'float64'? Available: "
        "'float32', 'float64'."),
    "batch-size": (
        lambda d: d.update(extract={"batch_size": 0}), "extract.batch_size",
        "config key 'extract.batch_size' must be a positive int, got 0."),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_errors_name_the_key_and_the_allowed_values(case):
    change, key, message = ERRORS[case]
    data = _base()
    change(data)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        RunConfig.from_dict(data)
    assert info.value.key == key
    assert isinstance(info.value, ValueError)


def test_default_run_dir_sits_next_to_a_config_given_by_a_relative_path(tmp_path, monkeypatch):
    from pathlib import Path

    from deeprsa import load_config

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "plan.toml").write_text(
        '[stimuli]\nsource = "digits:test"\n[[models]]\nspec = "zoo:mlp_s0"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config("sub/plan.toml")
    assert config.resolve(config.outputs.dir) == (tmp_path / "sub" / "plan_results")
    assert Path(config.outputs.dir).is_absolute()


def test_decoding_is_off_unless_asked_for_and_checked():
    import re

    import pytest

    from deeprsa.pipeline.config import ConfigError, DecodingPlan, RunConfig

    base = {"stimuli": {"source": "digits:test"}, "models": [{"spec": "zoo:mlp_s0"}]}
    assert RunConfig.from_dict(base).analyses.decoding is None
    on = RunConfig.from_dict({**base, "analyses": {"decoding": {"cv": 3}}})
    assert on.analyses.decoding == DecodingPlan(column="label", cv=3)
    with pytest.raises(ConfigError, match=re.escape("analyses.decoding")):
        RunConfig.from_dict({**base, "analyses": {"decoding": {"colum": "label"}}})
