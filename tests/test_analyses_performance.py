"""Performance similarity and its relation to representational similarity.

The question of the object-classification RSA study, on deeprsa's own zoo.
"""

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from deeprsa import Store, zoo
from deeprsa.analyses import (
    describe_performance_measures,
    list_performance_measures,
    performance_similarity,
    read_zoo_predictions,
    register_performance_measure,
    rep_vs_performance,
)
from deeprsa.analyses.performance_measures import _PERFORMANCE
from deeprsa.cli import cli
from deeprsa.compare import compare_rdms, multi_model_rdm
from deeprsa.rdm import RDM, compute_rdms
from deeprsa.store import content_key

MODELS = ["m0", "m1", "m2", "m3", "m4"]


@pytest.fixture
def predictions():
    """Five models on 200 stimuli of 4 classes, with accuracies from 0.5 to 0.9."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2, 3], 50)
    preds = {}
    for i, name in enumerate(MODELS):
        wrong = rng.random(200) > 0.5 + 0.1 * i
        preds[name] = np.where(wrong, (labels + rng.integers(1, 4, 200)) % 4, labels)
    return preds, labels


@pytest.fixture
def store(tmp_path):
    """Layers 'conv' and 'fc' of the five models, plus an 'extra' layer only m0 has."""
    rng = np.random.default_rng(1)
    store = Store(tmp_path / "s.zarr")
    ids = [f"s{i}" for i in range(30)]
    stimuli = store.add_stimuli(ids, content_key({"ids": ids}))
    base = rng.standard_normal((30, 12))
    for i, name in enumerate(MODELS):
        for layer in ("conv", "fc"):
            X = base + (0.3 + 0.4 * i) * rng.standard_normal((30, 12))
            store.write("activations", {"model": name, "layer": layer, "reduction":
                                        {"name": "flatten"}, "stimuli": stimuli,
                                        "dtype": "float32"}, X.astype(np.float32))
    store.write("activations", {"model": "m0", "layer": "extra", "reduction":
                                {"name": "flatten"}, "stimuli": stimuli, "dtype": "float32"},
                base.astype(np.float32))
    return store


def _pairs(perf, column):
    """``{(model_a, model_b): value}`` of one column of a performance_similarity table."""
    return {(row.model_a, row.model_b): getattr(row, column) for row in perf.itertuples()}


def _similarity_frame(values):
    """A models x models DataFrame from ``{(a, b): value}`` with 1 on the diagonal."""
    frame = pd.DataFrame(np.eye(len(MODELS)), index=MODELS, columns=MODELS)
    for (a, b), v in values.items():
        frame.loc[a, b] = frame.loc[b, a] = v
    return frame


# ---------------------------------------------------------------- performance similarity


def test_error_consistency_is_cohens_kappa_of_correctness(predictions):
    preds, labels = predictions
    table = performance_similarity(preds, labels)

    for row in table.itertuples():
        a, b = preds[row.model_a] == labels, preds[row.model_b] == labels
        assert_allclose(row.error_consistency, cohen_kappa_score(a, b), rtol=1e-12)


def test_error_consistency_by_hand():
    # a is right on stimuli 0-5 (p_a = .6), b on 0-4 (p_b = .5): both right on 0-4, both
    # wrong on 6-9, so c_obs = .9; c_exp = .6 * .5 + .4 * .5 = .5 (Geirhos et al., 2020);
    # kappa = (.9 - .5) / (1 - .5) = .8.
    labels = np.zeros(10, dtype=int)
    a = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    b = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    table = performance_similarity({"a": a, "b": b}, labels)
    row = table.iloc[0]
    assert_allclose([row.observed_consistency, row.expected_consistency, row.error_consistency],
                    [0.9, 0.5, 0.8], rtol=1e-12)
    assert_allclose([row.accuracy_a, row.accuracy_b, row.accuracy_difference],
                    [0.6, 0.5, 0.1], rtol=1e-12)


def test_prediction_agreement_and_accuracy_similarity(predictions):
    preds, labels = predictions
    table = performance_similarity(preds, labels)
    row = table[(table.model_a == "m1") & (table.model_b == "m3")].iloc[0]

    assert_allclose(row.prediction_agreement, np.mean(preds["m1"] == preds["m3"]), rtol=0)
    accuracy = {m: np.mean(p == labels) for m, p in preds.items()}
    assert_allclose(row.accuracy_similarity, 1 - abs(accuracy["m1"] - accuracy["m3"]),
                    rtol=1e-12)
    assert len(table) == 10 and set(table.n_stimuli) == {200}


def test_kappa_is_undefined_for_two_perfect_models():
    labels = np.array([0, 1, 2, 0])
    table = performance_similarity({"a": labels, "b": labels, "c": [0, 1, 2, 1]}, labels)
    assert np.isnan(table.error_consistency[0])
    assert table.error_consistency[1] == 0.0        # perfect vs imperfect: kappa 0


def test_string_labels():
    labels = np.array(["cat", "dog", "cat", "dog"])
    table = performance_similarity({"a": labels, "b": ["cat", "cat", "cat", "dog"]}, labels)
    assert table.accuracy_b[0] == 0.75


def test_describe_performance_measures_lists_the_registry():
    table = describe_performance_measures()
    assert table.name.tolist() == ["accuracy_similarity", "error_consistency",
                                   "prediction_agreement"]
    assert table.description.str.len().min() > 20


@pytest.mark.parametrize(("preds", "labels", "error", "message"), [
    ({"a": [0, 1]}, [0, 1], ValueError,
     "Comparing performance needs predictions of at least 2 models, got 1."),
    ([[0, 1], [1, 0]], [0, 1], TypeError,
     "predictions must be a mapping {model name: predicted labels}, got list."),
    ({"a": [0, 1], "b": [0, 1, 1]}, [0, 1], ValueError,
     "Predictions of model 'b' have shape (3,); labels have shape (2,). Give one predicted "
     "class per test stimulus, in the order of labels."),
    ({"a": [0, 1], "b": ["0", "1"]}, [0, 1], ValueError,
     "Predictions of model 'b' share no value with labels (e.g. np.str_('0') vs np.int64(0)); "
     "give both as the same type."),
    ({"a": [0, 1], "b": [0, 1]}, [[0, 1]], ValueError,
     "labels must be 1-D (one true class per stimulus), got shape (1, 2)."),
    ({"a": [0, 1], "b": [0, 1]}, [0, None], ValueError,
     "labels are missing for 1 stimuli; every test stimulus needs its true class."),
])
def test_performance_errors(preds, labels, error, message):
    with pytest.raises(error, match=re.escape(message)):
        performance_similarity(preds, labels)


# ---------------------------------------------------------------- rep vs performance


def test_statistic_is_the_correlation_over_model_pairs(predictions):
    preds, labels = predictions
    perf = performance_similarity(preds, labels)
    rng = np.random.default_rng(2)
    rep = {(a, b): rng.random() for a, b in itertools.combinations(MODELS, 2)}

    table = rep_vs_performance({"fc": _similarity_frame(rep)}, preds, labels, seed=0,
                               n_permutations=200, n_resamples=50)

    for measure in ("error_consistency", "prediction_agreement", "accuracy_similarity"):
        row = table[table.performance == measure].iloc[0]
        values = _pairs(perf, measure)
        expected = spearmanr([rep[pair] for pair in values], list(values.values())).statistic
        assert_allclose(row.statistic, expected, rtol=1e-12)
    assert set(table.n_pairs) == {10} and set(table.models) == {",".join(MODELS)}


def test_mantel_pvalue_matches_exact_enumeration_of_model_labels(predictions):
    # 5 models: all 120 relabellings give the exact p; 10,000 random ones estimate it
    # with sd <= 0.005, so 0.02 is 4 sd.
    preds, labels = predictions
    perf = performance_similarity(preds, labels)
    rng = np.random.default_rng(3)
    kappa = _pairs(perf, "error_consistency")
    rep = {pair: v + rng.normal(0, 0.1) for pair, v in kappa.items()}
    R = _similarity_frame(rep).to_numpy()
    P = _similarity_frame(kappa).to_numpy()
    i, j = np.triu_indices(5, k=1)
    observed = spearmanr(R[i, j], P[i, j]).statistic
    null = [spearmanr(R[i, j], P[np.ix_(p, p)][i, j]).statistic
            for p in map(list, itertools.permutations(range(5)))]
    exact = np.mean(np.asarray(null) >= observed - 1e-12)

    table = rep_vs_performance({"fc": _similarity_frame(rep)}, preds, labels,
                               performance="error_consistency", seed=0, n_resamples=0)

    assert_allclose(table.pvalue.iloc[0], exact, atol=0.02)
    assert np.isnan(table.ci_low.iloc[0])


def test_perfect_relation_has_a_degenerate_interval(predictions):
    preds, labels = predictions
    perf = performance_similarity(preds, labels)
    rep = {pair: 2 * v - 1 for pair, v in _pairs(perf, "prediction_agreement").items()}

    table = rep_vs_performance({"fc": _similarity_frame(rep)}, preds, labels,
                               performance="prediction_agreement", seed=0,
                               n_permutations=500, n_resamples=200)

    row = table.iloc[0]
    assert_allclose([row.statistic, row.ci_low, row.ci_high], [1.0, 1.0, 1.0], rtol=1e-12)
    assert row.pvalue == pytest.approx(1 / 120, abs=0.01)   # only the identity scores 1


def test_store_comparison_and_mapping_inputs_agree(predictions, store):
    preds, labels = predictions
    options = dict(performance="error_consistency", seed=0, n_permutations=300,
                   n_resamples=100)

    from_store = rep_vs_performance(store, preds, labels, method="linear_cka", **options)
    result = multi_model_rdm(store, MODELS, method="linear_cka", layer=["conv", "fc"])
    from_result = rep_vs_performance(result, preds, labels, **options)
    fc = result.select(layer="fc")
    from_mapping = rep_vs_performance(
        {"fc": pd.DataFrame(fc.matrix, index=MODELS, columns=MODELS)}, preds, labels,
        **options)

    assert from_store.layer.tolist() == ["conv", "fc"]      # 'extra' is not shared
    assert set(from_store.method) == {"linear_cka"}
    for other in (from_result, from_mapping.assign()):
        got = other[other.layer == "fc"].iloc[0]
        want = from_store[from_store.layer == "fc"].iloc[0]
        assert_allclose([got.statistic, got.pvalue, got.ci_low, got.ci_high],
                        [want.statistic, want.pvalue, want.ci_low, want.ci_high], rtol=1e-12)


def test_store_rdms_with_a_measure_filter(predictions, store):
    preds, labels = predictions
    compute_rdms(store, measure="correlation", progress=False)
    table = rep_vs_performance(store, preds, labels, layer="fc", measure="correlation",
                               seed=0, n_permutations=100, n_resamples=20)
    assert table.layer.tolist() == ["fc"] * 3 and set(table.method) == {"spearman"}


def test_distances_are_turned_into_similarities(predictions, store):
    # Procrustes gives distances: a pair with a smaller distance counts as more similar.
    preds, labels = predictions
    table = rep_vs_performance(store, preds, labels, method="procrustes", layer="fc",
                               performance="accuracy_similarity", seed=0,
                               n_permutations=100, n_resamples=0)
    distance = multi_model_rdm(store, MODELS, method="procrustes", layer=["fc"]).matrix
    perf = performance_similarity(preds, labels)
    i, j = np.triu_indices(5, k=1)
    expected = spearmanr(-distance[i, j], perf.accuracy_similarity).statistic
    assert_allclose(table.statistic.iloc[0], expected, rtol=1e-12)


def test_pvalues_are_corrected_over_the_table(predictions, store):
    from deeprsa.stats import correct_pvalues

    preds, labels = predictions
    table = rep_vs_performance(store, preds, labels, method="linear_cka", seed=0,
                               n_permutations=100, n_resamples=0, correction="holm")
    assert_allclose(table.pvalue_adjusted, correct_pvalues(table.pvalue, method="holm"))
    none = rep_vs_performance(store, preds, labels, method="linear_cka", seed=0,
                              n_permutations=100, n_resamples=0, correction="none")
    assert_array_equal(none.pvalue_adjusted, none.pvalue)


def test_a_row_gets_the_same_draws_alone_or_with_others(predictions, store):
    preds, labels = predictions
    options = dict(method="linear_cka", seed=5, n_permutations=200, n_resamples=50)
    alone = rep_vs_performance(store, preds, labels, layer="fc",
                               performance="prediction_agreement", **options)
    together = rep_vs_performance(store, preds, labels, **options)
    row = together[(together.layer == "fc") &
                   (together.performance == "prediction_agreement")].iloc[0]
    assert_allclose([row.pvalue, row.ci_low], [alone.pvalue[0], alone.ci_low[0]], rtol=0)


def test_rep_vs_performance_errors(predictions, store):
    preds, labels = predictions
    sim = {"fc": _similarity_frame({})}
    three = {m: preds[m] for m in MODELS[:2]}
    cases = [
        (lambda: rep_vs_performance(sim, three, labels), ValueError,
         "Correlating across model pairs needs at least 3 models (3 pairs), got 2."),
        (lambda: rep_vs_performance(sim, preds, labels, performance="error_consistancy"),
         ValueError, "Unknown performance measure 'error_consistancy'. Did you mean "
         "'error_consistency'?"),
        (lambda: rep_vs_performance(sim, preds, labels, performance=[]), ValueError,
         "performance is empty; name at least one measure, e.g. 'error_consistency'."),
        (lambda: rep_vs_performance(sim, preds, labels, correlation="kendall"), ValueError,
         "Unknown correlation 'kendall'. Available: 'pearson', 'spearman'."),
        (lambda: rep_vs_performance(sim, preds, labels, n_permutations=0), ValueError,
         "n_permutations must be >= 1, got 0."),
        (lambda: rep_vs_performance(store, {f"zoo:{m}": p for m, p in preds.items()}, labels,
                                    method="linear_cka"),
         KeyError, "Model 'zoo:m0' is not in the comparison of store"),
        (lambda: rep_vs_performance(store, preds, labels, method="linear_cka", layer="fcc"),
         KeyError, "No layer 'fcc' for these models. Did you mean 'fc'? Layers: ['conv', "
         "'fc']."),
        (lambda: rep_vs_performance(store, preds, labels), KeyError,
         "holds no complete rdms; method 'spearman' compares rdms. Run `deeprsa rdm` first."),
        (lambda: rep_vs_performance(store, preds, labels, method="cka"), ValueError,
         "Unknown method 'cka'."),
        (lambda: rep_vs_performance([[1]], preds, labels), TypeError,
         "representational must be a Store, a path, a ComparisonResult or a mapping {layer: "
         "similarity matrix}, got list."),
        (lambda: rep_vs_performance({"fc": np.eye(3)}, preds, labels), ValueError,
         "The similarity matrix of layer 'fc' has shape (3, 3); 5 models need (5, 5), in the "
         "order of predictions."),
        (lambda: rep_vs_performance({"fc": np.triu(np.ones((5, 5)))}, preds, labels),
         ValueError, "The similarity matrix of layer 'fc' is not symmetric."),
        (lambda: rep_vs_performance({"fc": np.full((5, 5), np.nan)}, preds, labels),
         ValueError, "The similarity matrix of layer 'fc' holds NaN or infinity; every pair "
         "of models needs a value."),
        (lambda: rep_vs_performance({"fc": _similarity_frame({}).drop(index="m4")}, preds,
                                    labels), KeyError,
         "Model 'm4' is not in the comparison of layer 'fc'."),
        (lambda: rep_vs_performance(sim, preds, labels, reduction="flatten"), TypeError,
         "Unexpected keyword argument 'reduction': store fields select entries in a store, "
         "and representational is not a store."),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            call()


def _rdm(model, layer, measure="correlation", seed=0):
    v = np.random.default_rng(seed).random(6)
    provenance = {"layer": layer, "measure": measure}
    if model is not None:
        provenance["model"] = model
    return RDM.from_vector(v, list("abcd"), provenance)


def test_comparison_result_errors(predictions):
    preds, labels = predictions
    cases = [
        (compare_rdms([_rdm(None, "fc", seed=s) for s in range(5)]), ValueError,
         "The comparison's metadata has no 'model' column; label its RDMs with the model names "
         "used in predictions."),
        (compare_rdms([_rdm(m, "fc", meas, seed=s) for s, (m, meas) in enumerate(
            itertools.product(MODELS, ["correlation", "euclidean"]))]), ValueError,
         "Layer 'fc' appears more than once for a model; select one measure (or reduction) "
         "before comparing."),
        ({"fc": compare_rdms([_rdm(m, layer, seed=s) for s, (m, layer) in enumerate(
            itertools.product(MODELS, ["conv", "fc"]))])}, ValueError,
         "A comparison given for one layer holds 2 layers, ['conv', 'fc']; give the whole "
         "comparison instead of a mapping."),
        ({}, KeyError, "The models ['m0', 'm1', 'm2', 'm3', 'm4'] share no layer to compare."),
    ]
    for source, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            rep_vs_performance(source, preds, labels)


def test_comparison_result_skips_layers_some_models_lack(predictions):
    preds, labels = predictions
    rdms = [_rdm(m, "fc", seed=s) for s, m in enumerate(MODELS)] + [_rdm("m0", "extra")]
    table = rep_vs_performance(compare_rdms(rdms), preds, labels, seed=0,
                               n_permutations=50, n_resamples=0)
    assert set(table.layer) == {"fc"}
    with pytest.raises(KeyError, match=re.escape(
            "Model 'm1' is not in the comparison of layer 'extra'. Models: ['m0'].")):
        rep_vs_performance(compare_rdms(rdms), preds, labels, layer="extra")


def test_correction_must_be_known(predictions):
    preds, labels = predictions
    with pytest.raises(ValueError, match=re.escape(
            "Unknown correction 'bonferoni'. Did you mean 'bonferroni'?")):
        rep_vs_performance({"fc": _similarity_frame({})}, preds, labels,
                           correction="bonferoni")


def test_undefined_performance_similarity_is_an_error(predictions):
    preds, labels = predictions
    preds = {**preds, "m0": labels, "m1": labels}
    with pytest.raises(ValueError, match=re.escape(
            "error_consistency of models 'm0' and 'm1' is undefined (both are right on every "
            "stimulus, or both wrong on every one); leave one of them out or use another "
            "performance measure.")):
        rep_vs_performance({"fc": _similarity_frame({})}, preds, labels)


def test_comparison_result_must_be_symmetric(predictions, store):
    preds, labels = predictions
    rdms = compute_rdms(store, layer="fc", progress=False)
    with pytest.raises(ValueError, match=re.escape(
            "rep_vs_performance needs a collection compared with itself (compare_rdms(a) or "
            "multi_model_rdm), not a versus b.")):
        rep_vs_performance(compare_rdms(rdms, rdms), preds, labels)


# ---------------------------------------------------------------- zoo


def test_zoo_predictions_match_the_cards():
    predictions, labels = read_zoo_predictions(["zoo:mlp_s0", "resnet_s1"])
    assert list(predictions) == ["zoo:mlp_s0", "resnet_s1"]
    assert_array_equal(predictions["resnet_s1"], zoo.predictions("resnet_s1"))
    accuracy = (predictions["zoo:mlp_s0"] == labels).mean()
    assert_allclose(accuracy, zoo.card("mlp_s0")["test_accuracy"], rtol=1e-12)


def test_zoo_default_is_every_final_entry():
    predictions, _ = read_zoo_predictions()
    entries = zoo.list_entries()
    assert list(predictions) == entries.loc[entries["final"], "name"].tolist()


def test_unknown_zoo_model_suggests():
    with pytest.raises(ValueError, match=re.escape(
            "Unknown zoo model 'convnet_s9'. Did you mean")):
        read_zoo_predictions(["convnet_s9"])
    with pytest.raises(TypeError, match=re.escape("Zoo model names are str, got int.")):
        read_zoo_predictions([3])


# ---------------------------------------------------------------- CLI


def test_cli_rep_vs_perf_with_a_predictions_file(predictions, store, tmp_path):
    preds, labels = predictions
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"label": labels, **preds}).to_csv(path, index=False)

    result = CliRunner().invoke(cli, [
        "rep-vs-perf", "--store", str(store.path), "--predictions", str(path), "--method",
        "linear_cka", "--n-permutations", "200", "--n-resamples", "20", "--seed", "0",
        "--performance", "error_consistency"])

    assert result.exit_code == 0, result.output
    table = pd.read_csv(store.path / "tables" / "rep_vs_perf.csv")
    assert table.layer.tolist() == ["conv", "fc"]


def test_cli_rep_vs_perf_input_errors(predictions, store, tmp_path):
    preds, labels = predictions
    runner = CliRunner()
    result = runner.invoke(cli, ["rep-vs-perf", "--store", str(store.path)])
    assert result.exit_code == 1
    assert "Error: The store holds no zoo models; pass --predictions." in result.output

    path = tmp_path / "p.csv"
    pd.DataFrame(preds).to_csv(path, index=False)
    result = runner.invoke(cli, ["rep-vs-perf", "--store", str(store.path), "--predictions",
                                 str(path)])
    assert f"Error: {path} has no 'label' column." in result.output

    pd.DataFrame({"label": labels, **preds}).to_csv(path, index=False)
    result = runner.invoke(cli, ["rep-vs-perf", "--store", str(store.path), "--predictions",
                                 str(path), "--model", "m0", "--model", "m9"])
    assert f"Error: {path} has no column 'm9'." in result.output


# ---------------------------------------------------------------- end to end on the zoo


@pytest.mark.slow
def test_zoo_end_to_end(tmp_path):
    # The object-classification RSA study's question on real networks: 3 trained convnets
    # and the untrained start of one of them, 10 test digits per class. The trained ones
    # agree in their errors and in their representations, the untrained one in neither.
    import deeprsa
    from deeprsa.analyses import decode, dimensionality

    stimuli = deeprsa.digits(split="test").sample(10, seed=0)
    models = ["zoo:convnet_s0", "zoo:convnet_s1", "zoo:convnet_s2", "zoo:convnet_s0_epoch0"]
    for model in models:
        deeprsa.extract(model, stimuli, ["relu_fc", "logits"], tmp_path / "s.zarr",
                        progress=False)
    store = Store(tmp_path / "s.zarr")
    compute_rdms(store, progress=False)
    preds, labels = read_zoo_predictions(models)

    table = rep_vs_performance(store, preds, labels, performance="error_consistency",
                               seed=0, n_permutations=1000, n_resamples=200)
    decoded = decode(store, "label", stimuli=stimuli, layer="relu_fc", seed=0)
    dims = dimensionality(store, layer="relu_fc")

    assert table.layer.tolist() == ["relu_fc", "logits"]
    assert (table.statistic > 0.5).all()
    trained = decoded[decoded.model == "zoo:convnet_s0"].accuracy.iloc[0]
    assert trained > 0.8 and trained > 3 * decoded.chance.iloc[0]
    by_model = dims.set_index("model").n_components
    assert by_model["zoo:convnet_s0"] < by_model["zoo:convnet_s0_epoch0"]


# ---------------------------------------------------------- performance-measure registry


@pytest.fixture
def similarity():
    """A symmetric models x models similarity with distinct off-diagonal values."""
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 1, (5, 5))
    values = (values + values.T) / 2
    np.fill_diagonal(values, 1.0)
    return pd.DataFrame(values, index=MODELS, columns=MODELS)


def _both_wrong(correct, predictions):
    """Fraction of stimuli both models get wrong."""
    wrong = (~correct).astype(float)
    return wrong @ wrong.T / correct.shape[1]


@pytest.fixture
def both_wrong():
    """``_both_wrong`` registered as 'both_wrong_test' for the length of one test."""
    register_performance_measure("both_wrong_test")(_both_wrong)
    yield _both_wrong
    _PERFORMANCE.pop("both_wrong_test")


def test_builtin_measures_are_listed_and_described():
    names = ["accuracy_similarity", "error_consistency", "prediction_agreement"]
    assert list_performance_measures() == names
    table = describe_performance_measures()
    assert table.name.tolist() == names
    assert table.description.iloc[0] == "1 - |accuracy difference|: 1 for models equally accurate."


@pytest.mark.parametrize("name", list_performance_measures())
def test_builtin_measures_match_performance_similarity(predictions, name):
    # Each registered measure gives the column of the same name of performance_similarity.
    preds, labels = predictions
    truth = np.asarray(labels)
    stacked = np.stack([preds[m] for m in MODELS])
    matrix = _PERFORMANCE[name](stacked == truth[None], stacked)
    i, j = np.triu_indices(len(MODELS), k=1)
    assert_allclose(matrix[i, j], performance_similarity(preds, labels)[name], rtol=1e-12)


def test_a_registered_measure_is_used_by_rep_vs_performance(predictions, similarity,
                                                            both_wrong):
    preds, labels = predictions
    assert "both_wrong_test" in list_performance_measures()
    described = describe_performance_measures().set_index("name").description
    assert described["both_wrong_test"] == "Fraction of stimuli both models get wrong."
    table = rep_vs_performance({"fc": similarity}, preds, labels,
                               performance=["both_wrong_test", "error_consistency"], seed=0,
                               n_permutations=50, n_resamples=0)
    assert table.performance.tolist() == ["both_wrong_test", "error_consistency"]
    stacked = np.stack([preds[m] for m in MODELS])
    expected_perf = both_wrong(stacked == np.asarray(labels)[None], stacked)
    i, j = np.triu_indices(len(MODELS), k=1)
    expected = spearmanr(similarity.to_numpy()[i, j], expected_perf[i, j]).statistic
    assert_allclose(table.statistic.iloc[0], expected, rtol=1e-12)


def test_a_measure_may_return_a_read_only_array(predictions, similarity):
    # rep_vs_performance works on its own float copy of what a measure returns.
    def frozen(correct, predictions):
        """Constant similarity, returned read-only."""
        out = np.full((len(correct), len(correct)), 0.5)
        out[0, 1] = out[1, 0] = 0.9
        out.flags.writeable = False
        return out

    register_performance_measure("frozen_test", frozen)
    try:
        preds, labels = predictions
        table = rep_vs_performance({"fc": similarity}, preds, labels,
                                   performance="frozen_test", seed=0, n_permutations=20,
                                   n_resamples=0)
    finally:
        _PERFORMANCE.pop("frozen_test")
    assert len(table) == 1 and np.isfinite(table.statistic.iloc[0])


def test_a_measure_of_the_wrong_shape_is_an_error(predictions, similarity):
    register_performance_measure("flat_test", lambda correct, predictions: correct.mean(1))
    try:
        preds, labels = predictions
        msg = ("Performance measure 'flat_test' returned an array of shape (5,); it must give "
               "every pair of the 5 models a similarity, shape (5, 5).")
        with pytest.raises(ValueError, match=re.escape(msg)):
            rep_vs_performance({"fc": similarity}, preds, labels, performance="flat_test")
    finally:
        _PERFORMANCE.pop("flat_test")


def test_a_measure_name_can_be_registered_once():
    msg = ("A performance measure named 'error_consistency' is already registered by "
           "deeprsa.analyses.performance_measures.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        register_performance_measure("error_consistency", _both_wrong)
    assert list_performance_measures() == ["accuracy_similarity", "error_consistency",
                                           "prediction_agreement"]


def test_a_measure_must_be_callable():
    with pytest.raises(TypeError, match=re.escape(
            "register_performance_measure needs a callable, got int.")):
        register_performance_measure("number_test", 3)
    assert "number_test" not in list_performance_measures()


def test_names_stay_importable_from_the_performance_module():
    from deeprsa.analyses import performance

    assert performance.performance_similarity is performance_similarity
    assert performance.describe_performance_measures is describe_performance_measures
    assert set(performance.__all__) == {"describe_performance_measures",
                                        "performance_similarity", "read_zoo_predictions",
                                        "rep_vs_performance"}
