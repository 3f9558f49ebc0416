"""The bundled model zoo: every entry loads, runs and re-evaluates to its recorded numbers."""

import json
import re
from importlib import resources

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from numpy.testing import assert_allclose, assert_array_equal

import deeprsa
from deeprsa import zoo
from deeprsa.zoo._data import _normalize, _split_arrays
from deeprsa.zoo.catalog import CHECKPOINT_EPOCHS
from deeprsa.zoo.cli import zoo_cli

ENTRY_NAMES = list(zoo.ENTRIES)
FINAL_NAMES = [n for n, e in zoo.ENTRIES.items() if e.epoch == e.run_epochs]
CONV_FINAL_NAMES = [n for n in FINAL_NAMES if zoo.ENTRIES[n].architecture in ("convnet", "resnet")]
# One entry per architecture and width, for the checks that need no sweep over seeds.
ONE_PER_FAMILY = ["convnet_s0", "resnet_s3", "mlp_s1", "convnet_wide_s2"]
# Retrained in the tests: a full (small) run and a convolutional checkpoint, a few s each.
RETRAINED = ["mlp_s0", "convnet_s0_epoch3"]
# Logit margins below this count as ties: float32 rounding differs between CPUs and batch
# sizes by about 1e-6, so the argmax of such a stimulus is not reproducible.
TIE_MARGIN = 1e-4


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _test_logits(module):
    x = _normalize(torch.from_numpy(_split_arrays("test")[0].copy()))
    with torch.no_grad():
        return module.eval()(x)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run this module's forward passes on one thread: faster for nets this small."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    """Retrain the RETRAINED entries once, into a temporary directory."""
    out = tmp_path_factory.mktemp("zoo")
    table = zoo.train_zoo(out, entries=RETRAINED)
    return out, table


# --- the table and the cards -------------------------------------------------------------


def test_zoo_has_3_architectures_5_seeds_a_width_variant_and_checkpoints():
    table = zoo.list_entries()
    final = table[table["final"]]
    seeds = final.groupby(["architecture", "width"])["seed"].apply(sorted).to_dict()

    assert seeds == {("convnet", 1): [0, 1, 2, 3, 4], ("convnet", 2): [0, 1, 2, 3, 4],
                     ("mlp", 1): [0, 1, 2, 3, 4], ("resnet", 1): [0, 1, 2, 3, 4]}
    checkpoints = table[~table["final"]]
    assert (checkpoints["run"] == "convnet_s0").all()
    assert checkpoints["epoch"].tolist() == list(CHECKPOINT_EPOCHS)
    assert table["name"].tolist() == FINAL_NAMES + checkpoints["name"].tolist()


@pytest.mark.parametrize("name", CONV_FINAL_NAMES)
def test_convolutional_entries_reach_95_percent_test_accuracy(name):
    # The acceptance bar of the zoo, on the held-out split; the tests below show that the
    # recorded numbers are what re-evaluation gives.
    assert zoo.card(name)["test_accuracy"] >= 0.95


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_card_numbers_follow_from_its_predictions(name):
    card = zoo.card(name)
    labels = deeprsa.digits(split="test").labels
    pred = np.asarray(card["predictions"])

    assert card["stimulus_ids"] == list(deeprsa.digits(split="test").stimulus_ids)
    assert card["test_accuracy"] == np.mean(pred == labels)
    per_class = {str(c): np.mean(pred[labels == c] == c) for c in range(10)}
    assert card["per_class_accuracy"] == per_class
    assert_array_equal(zoo.predictions(name), pred)
    assert card["n_parameters"] == zoo.count_parameters(
        zoo.build(card["architecture"], seed=card["seed"], width=card["width"]))


def test_shipped_weights_stay_under_10_mb():
    folder = resources.files("deeprsa").joinpath("zoo", "weights")
    sizes = [f.stat().st_size for f in folder.iterdir() if f.name.endswith((".pt", ".json"))]
    assert len(sizes) == 2 * len(ENTRY_NAMES)
    assert sum(sizes) < 10 * 2**20


def test_card_returns_a_copy():
    zoo.card("mlp_s0")["test_accuracy"] = -1.0
    assert zoo.card("mlp_s0")["test_accuracy"] > 0.9


# --- loading through the model-source registry --------------------------------------------


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_every_entry_loads_runs_and_reevaluates_to_its_card(name):
    model = deeprsa.load_model(f"zoo:{name}")
    card = zoo.card(name)
    stim = zoo.default_stimuli(2, seed=0)
    batch = torch.stack([model.preprocessing(stim.load(i)) for i in range(len(stim))])

    with torch.no_grad():
        out = model.module(batch)

    assert out.shape == (20, 10)
    assert model.weights_hash == card["weights_hash"]
    assert model.seed == card["seed"]
    assert model.info["test_accuracy"] == card["test_accuracy"]
    # Re-evaluation through the loaded model's own preprocessing gives the recorded
    # predictions, except where two logits tie to within float32 rounding (untrained nets).
    logits = _test_logits(model.module)
    top2 = logits.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1] > TIE_MARGIN).numpy()
    pred = zoo.predict(model)
    assert_array_equal(pred[clear], np.asarray(card["predictions"])[clear])
    accuracy = np.mean(pred == deeprsa.digits(split="test").labels)
    assert_allclose(accuracy, card["test_accuracy"], rtol=0, atol=(~clear).sum() / len(clear))


def test_loaded_layers_have_readable_names():
    model = deeprsa.load_model("zoo:resnet_s0")
    names = [n for n, _ in model.module.named_modules() if n]
    assert names[:4] == ["conv1", "bn1", "relu1", "block1"]
    assert "block1.conv_a" in names and "block2.shortcut" in names and names[-1] == "logits"


@pytest.mark.parametrize("architecture", zoo.list_architectures())
def test_every_module_is_named_and_fires_once_per_forward(architecture):
    # A later stage hooks named_modules(); each activation point must be its own module
    # with a readable (non-numeric) name, called exactly once per forward pass.
    net = zoo.build(architecture, seed=0)
    named = list(net.named_modules(remove_duplicate=False))[1:]
    assert len({id(m) for _, m in named}) == len(named)
    for name, _ in named:
        assert not any(part.isdigit() for part in name.split(".")), name
    calls = {name: 0 for name, _ in named}
    for name, module in named:
        module.register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
    net(torch.zeros(3, 1, 8, 8))
    assert calls == {name: 1 for name in calls}


def test_weights_path_loads_a_state_dict_into_the_entrys_architecture():
    path = resources.files("deeprsa").joinpath("zoo", "weights", "mlp_s2.pt")

    model = deeprsa.load_model("zoo:mlp_s2", weights=path)

    assert model.weights_hash == zoo.card("mlp_s2")["weights_hash"]
    assert model.seed is None


def test_weights_path_of_another_architecture_is_refused():
    path = resources.files("deeprsa").joinpath("zoo", "weights", "convnet_wide_s0.pt")
    msg = f"The state dict in {str(path)!r} does not fit this architecture"
    with pytest.raises(ValueError, match=re.escape(msg)):
        deeprsa.load_model("zoo:convnet_s0", weights=path)


def test_unknown_entry_suggests_the_closest_name():
    msg = "Unknown zoo model 'convent_s0'. Did you mean 'convnet_s0'? Available: 'convnet_s0',"
    with pytest.raises(ValueError, match=re.escape(msg)):
        deeprsa.load_model("zoo:convent_s0")


def test_family_name_lists_its_seeds():
    msg = ("Unknown zoo model 'resnet': that is a family of entries, one per training seed. "
           "Pick one: 'resnet_s0', 'resnet_s1', 'resnet_s2', 'resnet_s3', 'resnet_s4'.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        zoo.card("resnet")


def test_missing_card_explains_how_to_retrain(tmp_path):
    msg = f"The zoo file {str(tmp_path / 'mlp_s0.json')!r} is missing from this installation."
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        zoo.card("mlp_s0", directory=tmp_path)


# --- untrained twins -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_random_weights_are_the_seeded_initial_weights(name):
    entry = zoo.ENTRIES[name]

    untrained = deeprsa.load_model(f"zoo:{name}", weights="random")
    trained = deeprsa.load_model(f"zoo:{name}")

    fresh = zoo.build(entry.architecture, seed=entry.seed, width=entry.width)
    assert _states_equal(_state(untrained.module), _state(fresh))
    assert untrained.seed == entry.seed
    assert untrained.weights_hash != trained.weights_hash
    assert untrained.name == f"zoo:{name}@random(seed={entry.seed})"


def test_random_twin_is_where_training_started():
    # The epoch-0 checkpoint is saved by the training run itself, before the first step.
    untrained = deeprsa.load_model("zoo:convnet_s0", weights="random")
    epoch0 = deeprsa.load_model("zoo:convnet_s0_epoch0")
    assert _states_equal(_state(untrained.module), _state(epoch0.module))


def test_random_weights_with_another_seed():
    model = deeprsa.load_model("zoo:resnet_s1", weights="random", seed=7)
    assert model.seed == 7
    assert _states_equal(_state(model.module), _state(zoo.build("resnet", seed=7)))
    assert not _states_equal(_state(model.module), _state(zoo.build("resnet", seed=1)))


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_untrained_accuracy_is_near_chance(name):
    # 10 balanced classes: chance is 0.1; an untrained net often favours one class.
    accuracy = zoo.evaluate(deeprsa.load_model(f"zoo:{name}", weights="random"))
    assert accuracy < 0.2


# --- build, predict, evaluate ----------------------------------------------------------------


def test_build_leaves_the_global_random_state_alone():
    before = torch.random.get_rng_state()
    zoo.build("convnet", seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"architecture": "resnett", "seed": 0},
     "Unknown zoo architecture 'resnett'. Did you mean 'resnet'? "
     "Available: 'convnet', 'mlp', 'resnet'."),
    ({"architecture": "mlp", "seed": -1}, "seed must be a non-negative int, got -1."),
    ({"architecture": "mlp", "seed": 0, "width": 0}, "width must be a positive int, got 0."),
], ids=["architecture", "seed", "width"])
def test_build_rejects_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        zoo.build(**kwargs)


def test_predict_does_not_depend_on_batch_size():
    # convnet_s1's smallest logit margin on the test split is ~0.28, far above rounding.
    model = deeprsa.load_model("zoo:convnet_s1")
    assert_array_equal(zoo.predict(model, batch_size=7), zoo.predict(model))


def test_predict_on_a_bare_module_matches_the_loaded_model():
    model = deeprsa.load_model("zoo:resnet_s2")
    assert_array_equal(zoo.predict(model.module), zoo.predict(model))
    assert_allclose(zoo.evaluate(model.module, split="train"), zoo.card("resnet_s2")[
        "train_accuracy"], rtol=0, atol=0)


@pytest.mark.parametrize(("kwargs", "error", "msg"), [
    ({"split": "validation"}, ValueError,
     "Unknown split 'validation'. Available: 'test', 'train'."),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0."),
], ids=["split", "batch_size"])
def test_predict_rejects_bad_arguments(kwargs, error, msg):
    with pytest.raises(error, match=re.escape(msg)):
        zoo.predict(zoo.build("mlp", seed=0), **kwargs)


def test_predict_rejects_what_is_not_a_model():
    msg = "model must be a torch.nn.Module or a deeprsa LoadedModel, got str."
    with pytest.raises(TypeError, match=re.escape(msg)):
        zoo.predict("zoo:mlp_s0")


def test_training_arrays_are_the_digits_stimuli():
    stim = deeprsa.digits(split="test")
    images, labels, ids = _split_arrays("test")
    assert ids == stim.stimulus_ids
    assert_array_equal(labels, stim.labels)
    assert_array_equal(images, np.stack([stim.load(i).numpy() for i in range(len(stim))]))


def test_normalisation_is_the_training_mean_and_std():
    images = _split_arrays("train")[0].astype(np.float64)
    # MEAN and STD are rounded to 4 decimals.
    assert_allclose([zoo.MEAN, zoo.STD], [images.mean(), images.std(ddof=1)], rtol=0, atol=5e-5)


def test_preprocessing_one_stimulus_equals_normalising_the_batch():
    images = torch.from_numpy(_split_arrays("test")[0][:16].copy())
    one_by_one = torch.stack([zoo.PREPROCESSING(image) for image in images])
    assert torch.equal(one_by_one, _normalize(images))


def test_default_stimuli_are_the_test_split():
    assert zoo.default_stimuli().stimulus_ids == deeprsa.digits(split="test").stimulus_ids
    sample = zoo.default_stimuli(5, seed=1)
    assert_array_equal(np.bincount(sample.labels), [5] * 10)
    assert set(sample.stimulus_ids) <= set(deeprsa.digits(split="test").stimulus_ids)


# --- retraining -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RETRAINED)
def test_retraining_reproduces_the_recorded_test_accuracy(retrained, name):
    # The portable claim: on any CPU, retraining from the recorded seed lands within 0.5 %.
    out, _ = retrained
    new = json.loads((out / f"{name}.json").read_text())
    assert_allclose(new["test_accuracy"], zoo.card(name)["test_accuracy"], rtol=0, atol=0.005)


@pytest.mark.parametrize("name", RETRAINED)
def test_retraining_reproduces_the_weights_bit_for_bit(retrained, name):
    # Bitwise reproduction holds with the torch version and CPU kernels the zoo was trained
    # with (one thread, deterministic algorithms); other CPUs round differently.
    card = zoo.card(name)
    here = (torch.__version__.split("+")[0], torch.backends.cpu.get_cpu_capability())
    if here != (card["torch_version"], card["cpu_capability"]):
        pytest.skip(f"zoo trained with torch {card['torch_version']} on "
                    f"{card['cpu_capability']}; this is {here}")
    out, _ = retrained
    new = torch.load(out / f"{name}.pt", weights_only=True)
    shipped = deeprsa.load_model(f"zoo:{name}").module.state_dict()
    assert _states_equal(new, shipped)
    assert json.loads((out / f"{name}.json").read_text())["predictions"] == card["predictions"]


def test_train_zoo_returns_its_table(retrained):
    _, table = retrained
    assert table["name"].tolist() == RETRAINED
    assert list(table.columns) == ["name", "architecture", "width", "seed", "epoch",
                                   "n_parameters", "test_accuracy", "train_accuracy",
                                   "train_seconds"]


def test_train_zoo_restores_torch_settings_and_random_state(tmp_path):
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng = torch.random.get_rng_state()
    zoo.train_zoo(tmp_path, entries=["convnet_s0_epoch0"])
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_train_zoo_rejects_unknown_entries(tmp_path):
    msg = "Unknown zoo model 'mpl_s0'. Did you mean 'mlp_s0'?"
    with pytest.raises(ValueError, match=re.escape(msg)):
        zoo.train_zoo(tmp_path, entries=["mlp_s1", "mpl_s0"])
    assert list(tmp_path.iterdir()) == []


def test_train_zoo_rejects_an_empty_list(tmp_path):
    msg = "entries is empty: name at least one entry, or pass None for the whole zoo."
    with pytest.raises(ValueError, match=re.escape(msg)):
        zoo.train_zoo(tmp_path, entries=[])


def test_list_entries_of_a_missing_directory(tmp_path):
    msg = f"directory {str(tmp_path / 'nowhere')!r} does not exist."
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        zoo.list_entries(directory=tmp_path / "nowhere")


# --- command line -------------------------------------------------------------------------


def test_cli_list_prints_every_entry():
    result = CliRunner().invoke(zoo_cli, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "architecture", "width", "seed", "epoch",
                                "n_parameters", "test_accuracy"]
    assert [line.split()[0] for line in lines[1:]] == zoo.list_entries()["name"].tolist()
    assert lines[1].split() == ["convnet_s0", "convnet", "1", "0", "20", "40394",
                                f"{zoo.card('convnet_s0')['test_accuracy']:.4f}"]


def test_cli_train_writes_entries_that_list_reads(tmp_path):
    result = CliRunner().invoke(zoo_cli, ["train", "--out", str(tmp_path),
                                          "--entry", "convnet_s0_epoch0"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["convnet_s0_epoch0.json",
                                                          "convnet_s0_epoch0.pt"]
    listed = CliRunner().invoke(zoo_cli, ["list", "--dir", str(tmp_path)])
    assert [line.split()[0] for line in listed.output.splitlines()[1:]] == ["convnet_s0_epoch0"]


def test_cli_train_reports_an_unknown_entry(tmp_path):
    result = CliRunner().invoke(zoo_cli, ["train", "--out", str(tmp_path), "--entry", "mlp_9"])
    assert result.exit_code == 2
    assert "Invalid value for '--entry': Unknown zoo model 'mlp_9'." in result.output
