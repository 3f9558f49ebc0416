"""SVM decoding of metadata from a layer, and per-unit ANOVA (as in pytorch_feature_analysis)."""

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import f_oneway

import deeprsa
from deeprsa import Store
from deeprsa.analyses import _common, decode, unit_anova, unit_selectivity
from deeprsa.cli import cli
from deeprsa.stats import correct_pvalues
from deeprsa.store import content_key


def _write_layer(store, model, layer, X, ids):
    stimuli = store.add_stimuli(ids, content_key({"ids": list(ids)}))
    fields = {"model": model, "layer": layer, "reduction": {"name": "flatten"},
              "stimuli": stimuli, "dtype": "float32"}
    return store.write("activations", fields, np.asarray(X, dtype=np.float32))


@pytest.fixture(scope="module")
def digits_test():
    """The 450 held-out digits with their pixels (64 units) in float32."""
    stim = deeprsa.digits(split="test")
    pixels = np.stack([stim.load(i).numpy().ravel() for i in range(len(stim))])
    return stim, pixels.astype(np.float32)


@pytest.fixture
def grouped():
    """60 stimuli in 3 unequal groups; unit 0 responds to group 'b', unit 3 is constant."""
    rng = np.random.default_rng(0)
    groups = np.array(["a"] * 15 + ["b"] * 25 + ["c"] * 20)
    X = rng.standard_normal((60, 6)) + 10.0
    X[:, 0] += 1.5 * (groups == "b")
    X[:, 3] = 2.0
    return X, groups


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize("seed", range(5))
def test_decoding_shuffled_labels_is_at_chance(digits_test, seed):
    # 450 stimuli, 10 balanced classes: accuracy at chance has a binomial sd of
    # sqrt(.1 * .9 / 450) = 0.014; 0.05 is 3.5 sd.
    stim, pixels = digits_test
    labels = np.random.default_rng(seed).permutation(stim.labels)

    table = decode(pixels, labels, seed=seed)

    assert_allclose(table.chance, 46 / 450)      # the largest class has 46 stimuli
    assert_allclose(table.accuracy, 0.1, atol=0.05)


def test_decoding_digits_is_far_above_chance(digits_test):
    stim, pixels = digits_test
    table = decode(pixels, "label", stimuli=stim, seed=0, layer="pixels")
    assert table.accuracy.iloc[0] > 0.9
    assert table.n_classes.iloc[0] == 10 and table.target.iloc[0] == "label"


def test_column_is_matched_by_stimulus_id(digits_test):
    stim, pixels = digits_test
    order = np.random.default_rng(0).permutation(len(stim))
    shuffled_meta = stim.metadata.iloc[order]       # metadata rows in another order

    by_id = decode(pixels, "label", stimuli=shuffled_meta,
                   stimulus_ids=stim.stimulus_ids, seed=0)
    by_array = decode(pixels, stim.labels, seed=0)

    assert_allclose(by_id.accuracy, by_array.accuracy, rtol=0)


def test_permutation_pvalue():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    X = rng.standard_normal((60, 5))
    signal = decode(X + 3.0 * y[:, None], y, cv=3, n_permutations=19, seed=0)
    assert signal.pvalue.iloc[0] == pytest.approx(1 / 20)    # (0 + 1) / (19 + 1)
    assert decode(X, y, cv=3, seed=0).pvalue.iloc[0] is None
    # Null p-values are uniform on {1/10, ..., 1}: their mean over 5 data sets is 0.55
    # with sd 0.13; below 0.2 is 2.7 sd away.
    null = [decode(np.random.default_rng(s).standard_normal((60, 5)), y, cv=3,
                   n_permutations=9, seed=s).pvalue.iloc[0] for s in range(5)]
    assert np.mean(null) > 0.2


def test_decoding_is_seeded(digits_test):
    stim, pixels = digits_test
    labels = np.random.default_rng(0).permutation(stim.labels)
    a = decode(pixels[:200], labels[:200], seed=3)
    b = decode(pixels[:200], labels[:200], seed=3)
    c = decode(pixels[:200], labels[:200], seed=np.random.default_rng(3))
    assert_allclose(a.accuracy, b.accuracy, rtol=0)
    assert a.seed.iloc[0] == 3 and c.seed.iloc[0] is None


def test_decoding_from_store_equals_array(tmp_path, digits_test):
    stim, pixels = digits_test
    store = Store(tmp_path / "s.zarr")
    _write_layer(store, "net", "pixels", pixels, stim.stimulus_ids)
    _write_layer(store, "net", "half", pixels[:, :32], stim.stimulus_ids)

    table = decode(store, "label", stimuli=stim, seed=0)
    alone = decode(pixels, "label", stimuli=stim, seed=0, model="net", layer="pixels")

    assert table.layer.tolist() == ["pixels", "half"]
    assert_allclose(table.accuracy.iloc[0], alone.accuracy.iloc[0], rtol=0)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"cv": 1}, ValueError, "cv must be >= 2, got 1."),
    ({"C": 0}, ValueError, "C must be a positive number, got 0."),
    ({"C": "1"}, TypeError, "C must be a number, got str '1'."),
    ({"n_permutations": -1}, ValueError, "n_permutations must be >= 0, got -1."),
    ({"seed": 1.5}, TypeError,
     "seed must be None, an int or a numpy.random.Generator, got float."),
])
def test_decoding_option_errors(kwargs, error, message):
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(error, match=re.escape(message)):
        decode(X, np.repeat([0, 1], 10), **kwargs)


def test_decoding_target_errors(digits_test):
    stim, pixels = digits_test
    cases = [
        (lambda: decode(pixels, "lable", stimuli=stim), KeyError,
         "No metadata column 'lable'. Did you mean 'label'? Columns: ['ink', 'label', 'row', "
         "'split']."),
        (lambda: decode(pixels, "label"), ValueError,
         "target='label' names a metadata column; pass stimuli= (a StimulusSet or a "
         "DataFrame indexed by stimulus id) to read it from."),
        (lambda: decode(pixels[:10], "label", stimuli=stim), ValueError,
         "X has 10 rows but stimuli has 450; pass stimulus_ids= to say which stimulus each "
         "row is."),
        (lambda: decode(pixels[:3], "label", stimuli=stim, stimulus_ids=["x", "y", "z"]),
         KeyError, "3 stimuli of X are not in stimuli, e.g. ['x', 'y', 'z']. Pass the "
         "StimulusSet the activations were extracted from."),
        (lambda: decode(pixels, stim.labels[:-1]), ValueError,
         "target has shape (449,); X has 450 stimuli, so it needs one value per stimulus, "
         "shape (450,)."),
        (lambda: decode(pixels, "label", stimuli=[1, 2]), TypeError,
         "stimuli must be a StimulusSet or a DataFrame indexed by stimulus id, got list."),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            call()


@pytest.mark.parametrize(("ids", "error", "message"), [
    ("abc", TypeError, "stimulus_ids must be a sequence of str, got the single string 'abc'."),
    (["a", "b"], ValueError, "Got 2 stimulus_ids for 12 rows of X."),
    (["a"] * 12, ValueError,
     "stimulus_ids contains duplicates; every stimulus needs its own id."),
])
def test_stimulus_id_errors(ids, error, message):
    X = np.random.default_rng(0).standard_normal((12, 3))
    with pytest.raises(error, match=re.escape(message)):
        decode(X, np.repeat([0, 1], 6), stimulus_ids=ids)


def test_decoding_class_errors():
    X = np.random.default_rng(0).standard_normal((12, 3))
    with pytest.raises(ValueError, match=re.escape(
            "Class 2 of the target has 2 stimuli; cv=5 folds need at least 5 per class. "
            "Lower cv or drop the class.")):
        decode(X, [0] * 5 + [1] * 5 + [2] * 2)
    with pytest.raises(ValueError, match=re.escape(
            "The target has a single class (7); decoding and ANOVA need at least 2.")):
        decode(X, [7] * 12)
    meta = pd.DataFrame({"ink": np.linspace(0, 1, 12)}, index=[str(i) for i in range(12)])
    with pytest.raises(ValueError, match=re.escape(
            "Class 0.0 of the column 'ink' has 1 stimuli; cv=5 folds need at least 5 per "
            "class. Lower cv or drop the class. Decoding classifies: bin a continuous column "
            "first, e.g. with pandas.qcut.")):
        decode(X, "ink", stimuli=meta)
    meta.loc["3", "ink"] = np.nan
    with pytest.raises(ValueError, match=re.escape(
            "Column 'ink' is missing for 1 stimuli, e.g. '3'; drop them (stimuli.subset) or "
            "fill in a value.")):
        decode(X, "ink", stimuli=meta)
    with pytest.raises(ValueError, match=re.escape("target is missing for 1 stimuli, e.g. '0'")):
        decode(X, [None] + [0, 1] * 5 + [1])


# ---------------------------------------------------------------- ANOVA


def test_anova_matches_scipy_f_oneway_per_unit(grouped):
    X, groups = grouped
    table = unit_anova(X, groups, correction="none")
    F, p = f_oneway(*[X[groups == g] for g in ("a", "b", "c")])
    defined = ~np.isnan(F)

    assert_allclose(table.F[defined], F[defined], rtol=1e-9)
    assert_allclose(table.pvalue[defined], p[defined], rtol=1e-9)
    assert_array_equal(table.unit, np.arange(6))


def test_effect_sizes_match_a_hand_computation(grouped):
    X, groups = grouped
    table = unit_anova(X, groups, correction="none")
    k, n = 3, len(X)
    for unit in (0, 1, 5):
        x = X[:, unit]
        ss_total = ((x - x.mean()) ** 2).sum()
        ss_between = sum((groups == g).sum() * (x[groups == g].mean() - x.mean()) ** 2
                         for g in "abc")
        ms_within = (ss_total - ss_between) / (n - k)
        assert_allclose(table.eta_squared[unit], ss_between / ss_total, rtol=1e-9)
        assert_allclose(table.omega_squared[unit],
                        (ss_between - (k - 1) * ms_within) / (ss_total + ms_within), rtol=1e-9)


def test_constant_units(grouped):
    X, groups = grouped
    X[:, 4] = np.select([groups == "a", groups == "b"], [1.0, 2.0], 3.0)  # flat within groups
    table = unit_anova(X, groups)
    F, p = f_oneway(*[X[groups == g][:, 4] for g in "abc"])

    assert np.isnan(table.loc[3, ["F", "pvalue", "pvalue_adjusted", "eta_squared"]].to_numpy(
        float)).all()
    assert not table.selective[3]
    assert table.F[4] == F == np.inf and table.pvalue[4] == p == 0.0
    assert table.eta_squared[4] == 1.0


@pytest.mark.parametrize("correction", ["fdr_bh", "bonferroni", "holm"])
def test_corrections_use_deeprsa_stats(grouped, correction):
    X, groups = grouped
    table = unit_anova(X, groups, correction=correction)
    assert_allclose(table.pvalue_adjusted, correct_pvalues(table.pvalue, method=correction),
                    rtol=0, equal_nan=True)
    assert_array_equal(table.selective, table.pvalue_adjusted.fillna(1) < 0.05)


def test_selectivity_summarises_the_units(grouped):
    X, groups = grouped
    units = unit_anova(X, groups, alpha=0.01)
    summary = unit_selectivity(X, groups, alpha=0.01, layer="toy")

    assert summary.n_selective.iloc[0] == units.selective.sum() == 1
    assert summary.fraction_selective.iloc[0] == pytest.approx(1 / 6)
    assert summary.n_constant.iloc[0] == 1 and summary.n_groups.iloc[0] == 3
    assert_allclose(summary.median_eta_squared, units.eta_squared.median(), rtol=1e-12)


def test_null_layer_has_few_selective_units():
    # 2000 null units: with a family-wise correction the expected count is <= 0.05.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 2000))
    summary = unit_selectivity(X, np.repeat([0, 1, 2, 3], 10), correction="bonferroni")
    assert summary.n_selective.iloc[0] == 0


def test_anova_from_store_does_not_depend_on_tiles(tmp_path, grouped, monkeypatch):
    X, groups = grouped
    ids = [f"s{i}" for i in range(len(X))]
    store = Store(tmp_path / "s.zarr")
    _write_layer(store, "net", "fc", X, ids)
    meta = pd.DataFrame({"group": groups}, index=ids)

    whole = unit_anova(store, "group", stimuli=meta)
    monkeypatch.setattr(_common, "_TILE_BYTES", 8 * 6 * 7)     # 7 rows per tile
    tiled = unit_anova(store, "group", stimuli=meta)
    array = unit_anova(X.astype(np.float32), groups, correction="fdr_bh")

    assert_allclose(tiled.F, whole.F, rtol=1e-9, equal_nan=True)
    assert_allclose(whole.F, array.F, rtol=1e-9, equal_nan=True)
    assert whole.model.iloc[0] == "net" and whole.target.iloc[0] == "group"


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"alpha": 0}, ValueError, "alpha must lie in (0, 1], got 0.0."),
    ({"correction": "fdr"}, ValueError,
     "Unknown correction 'fdr'. Did you mean 'fdr_by'? Available: 'bonferroni', 'fdr_bh', "
     "'fdr_by', 'holm', 'none'."),
])
def test_anova_option_errors(grouped, kwargs, error, message):
    X, groups = grouped
    with pytest.raises(error, match=re.escape(message)):
        unit_anova(X, groups, **kwargs)


def test_anova_needs_more_stimuli_than_groups():
    with pytest.raises(ValueError, match=re.escape(
            "X has 3 stimuli in 3 groups; an ANOVA needs more stimuli than groups.")):
        unit_anova(np.eye(3), ["a", "b", "c"])


# ---------------------------------------------------------------- CLI


def test_cli_decode_and_anova(tmp_path, digits_test):
    stim, pixels = digits_test
    store = Store(tmp_path / "s.zarr")
    _write_layer(store, "net", "pixels", pixels, stim.stimulus_ids)
    runner = CliRunner()

    result = runner.invoke(cli, ["decode", "--store", str(store.path), "--stimuli",
                                 "digits:test", "--seed", "0", "--cv", "3"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(store.path / "tables" / "decode.csv")
    assert table.accuracy.iloc[0] > 0.9

    units = tmp_path / "units.csv"
    result = runner.invoke(cli, ["anova", "--store", str(store.path), "--stimuli",
                                 "digits:test", "--units-table", str(units)])
    assert result.exit_code == 0, result.output
    assert "fraction_selective" in result.output
    assert len(pd.read_csv(units)) == 64

    result = runner.invoke(cli, ["anova", "--store", str(store.path), "--stimuli",
                                 "digits:test", "--column", "lbl"])
    assert result.exit_code == 1
    assert "Error: No metadata column 'lbl'. Did you mean 'label'?" in result.output
