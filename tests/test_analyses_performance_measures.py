"""The registry of performance similarity measures used by rep_vs_performance."""

import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import spearmanr

from deeprsa.analyses import (
    describe_performance_measures,
    list_performance_measures,
    performance_similarity,
    register_performance_measure,
    rep_vs_performance,
)
from deeprsa.analyses.performance_measures import _PERFORMANCE

MODELS = ["m0", "m1", "m2", "m3", "m4"]


@pytest.fixture
def predictions():
    """Five models on 120 stimuli of 3 classes, with accuracies from 0.5 to 0.9."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    preds = {}
    for i, name in enumerate(MODELS):
        wrong = rng.random(120) > 0.5 + 0.1 * i
        preds[name] = np.where(wrong, (labels + rng.integers(1, 3, 120)) % 3, labels)
    return preds, labels


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
