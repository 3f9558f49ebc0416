"""PCA spectra, components for a threshold and participation ratio (ManteLab course notebook)."""

import re
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA

from deeprsa import Store
from deeprsa.analyses import _common, dimensionality, explained_variance, participation_ratio
from deeprsa.cli import cli
from deeprsa.store import content_key


def _write_layer(store, model, layer, X, ids):
    stimuli = store.add_stimuli(ids, content_key({"ids": list(ids)}))
    fields = {"model": model, "layer": layer, "reduction": {"name": "flatten"},
              "stimuli": stimuli, "dtype": "float32"}
    return store.write("activations", fields, np.asarray(X, dtype=np.float32))


@pytest.fixture
def layers():
    """Three float32 layers of 40 stimuli with decaying spectra, as an extraction writes."""
    rng = np.random.default_rng(0)
    out = {}
    for name, width in (("conv", 300), ("fc", 25), ("logits", 10)):
        X = rng.standard_normal((40, width)) * np.linspace(3, 0.1, width)
        out[name] = X.astype(np.float32)
    return out


@pytest.fixture
def store(tmp_path, layers):
    store = Store(tmp_path / "s.zarr")
    ids = [f"s{i:02d}" for i in range(40)]
    for name, X in layers.items():
        _write_layer(store, "net", name, X, ids)
    return store


# ---------------------------------------------------------------- against scikit-learn


@pytest.mark.parametrize("shape", [(100, 20), (30, 200), (50, 50)],
                         ids=["more stimuli", "more units", "square"])
def test_ratios_match_sklearn_pca(shape):
    # Exact eigenvalues from the smaller Gram matrix must equal sklearn's SVD-based PCA
    # (float64 throughout; 1e-12 absolute for the near-zero trailing ratios).
    X = np.random.default_rng(1).standard_normal(shape) @ np.diag(
        np.geomspace(5, 0.05, shape[1]))
    reference = PCA().fit(X)

    table = explained_variance(X, solver="full")

    assert_allclose(table.explained_variance_ratio, reference.explained_variance_ratio_,
                    rtol=1e-6, atol=1e-12)
    assert_allclose(table.explained_variance, reference.explained_variance_, rtol=1e-6,
                    atol=1e-12)
    assert_allclose(table.cumulative_ratio.iloc[-1], 1.0, rtol=1e-12)


def test_truncated_ratios_are_fractions_of_the_total_variance_as_in_sklearn():
    X = np.random.default_rng(2).standard_normal((80, 30)) @ np.diag(np.geomspace(4, .1, 30))
    reference = PCA(n_components=5).fit(X)

    table = explained_variance(X, n_components=5, solver="full")

    assert_allclose(table.explained_variance_ratio, reference.explained_variance_ratio_,
                    rtol=1e-6)
    assert table.cumulative_ratio.iloc[-1] < 1


def test_randomized_solver_matches_the_exact_leading_spectrum():
    # Randomized SVD (7 power iterations, oversampled) on a spectrum that decays by 0.8 per
    # component is accurate far below 1e-6 for the leading components.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 600)) * 0.8 ** np.arange(600)
    reference = PCA().fit(X).explained_variance_ratio_[:10]

    table = explained_variance(X, n_components=10, solver="randomized", seed=0)

    assert_allclose(table.explained_variance_ratio, reference, rtol=1e-6)
    assert set(table.solver) == {"randomized"}


@pytest.mark.parametrize(("shape", "n_components", "expected"), [
    ((200, 600), 10, "randomized"),     # few components of a large matrix
    ((200, 600), None, "full"),         # every component
    ((200, 600), 160, "full"),          # >= 80 % of min(n, p)
    ((100, 300), 10, "full"),           # small: max(n, p) <= 500
])
def test_auto_solver_follows_sklearn_rule(shape, n_components, expected):
    X = np.random.default_rng(0).standard_normal(shape)
    table = dimensionality(X, n_components=n_components, seed=0)
    assert table.solver.iloc[0] == expected


# ---------------------------------------------------------------- participation ratio


@pytest.mark.parametrize(("spectrum", "expected"), [
    ([1.0] * 7, 7.0),
    ([5.0, 0.0, 0.0], 1.0),
    ([4.0, 2.0, 1.0], 49 / 21),
    ([2.0, 2.0, 0.0, 0.0], 2.0),
    ([1e-200, 1e-200], 2.0),
    ([1e200, 1e200, 1e200], 3.0),
], ids=["flat", "one", "4-2-1", "zeros ignored", "tiny", "huge"])
def test_participation_ratio_of_known_spectra(spectrum, expected):
    assert_allclose(participation_ratio(spectrum), expected, rtol=1e-12)


@pytest.mark.parametrize("r", [0.5, 0.9, 0.99])
def test_participation_ratio_of_a_geometric_spectrum(r):
    d = 50
    spectrum = r ** np.arange(d)
    expected = ((1 - r ** d) / (1 - r)) ** 2 / ((1 - r ** (2 * d)) / (1 - r ** 2))
    assert_allclose(participation_ratio(spectrum), expected, rtol=1e-12)


@pytest.mark.parametrize(("spectrum", "message"), [
    ([], "eigenvalues must be a non-empty 1-D array, got shape (0,)."),
    ([[1.0, 2.0]], "eigenvalues must be a non-empty 1-D array, got shape (1, 2)."),
    ([1.0, -0.5], "eigenvalues must be finite and non-negative (variances); got min -0.5."),
    ([0.0, 0.0], "eigenvalues are all zero; the participation ratio is undefined."),
])
def test_participation_ratio_rejects_bad_spectra(spectrum, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        participation_ratio(spectrum)


# ---------------------------------------------------------------- thresholds


def _exact_spectrum(variances, n=60, seed=0):
    """Data whose covariance eigenvalues are exactly ``variances``."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, len(variances))) -
                        rng.standard_normal((1, len(variances))))
    Q -= Q.mean(axis=0)
    Q, _ = np.linalg.qr(Q)          # orthonormal, centred columns
    R, _ = np.linalg.qr(rng.standard_normal((len(variances), len(variances))))
    return (Q * np.sqrt(np.asarray(variances) * (n - 1))) @ R


def test_components_for_threshold_and_participation_ratio_on_a_known_spectrum():
    variances = [50.0, 30.0, 10.0, 5.0, 3.0, 2.0]     # cumulative .5 .8 .9 .95 .98 1
    X = _exact_spectrum(variances)

    table = dimensionality(X, threshold=[0.5, 0.8, 0.85, 0.95, 1.0])

    assert_array_equal(table.n_components.to_numpy(int), [1, 2, 3, 4, 6])
    assert_allclose(table.participation_ratio, participation_ratio(variances), rtol=1e-9)
    assert_allclose(table.total_variance, sum(variances), rtol=1e-9)


def test_count_is_one_more_than_the_course_notebook_index():
    # The ManteLab course notebook: np.argwhere(cumulative > .8).min() is a 0-based index.
    X = np.random.default_rng(5).standard_normal((70, 40)) @ np.diag(np.geomspace(3, .2, 40))
    cumulative = np.cumsum(PCA().fit(X).explained_variance_ratio_)

    table = dimensionality(X)

    assert table.n_components.iloc[0] == np.argwhere(cumulative > .8).min() + 1


def test_threshold_not_reached_by_a_truncated_spectrum_is_missing():
    X = _exact_spectrum([4.0, 3.0, 2.0, 1.0])
    table = dimensionality(X, n_components=2, threshold=[0.5, 0.9], solver="full")
    assert table.n_components.iloc[0] == 2
    assert table.n_components.isna().tolist() == [False, True]
    assert table.n_components_computed.tolist() == [2, 2]


def test_zero_variance_layer_warns_and_gives_missing_values():
    X = np.ones((10, 4))
    msg = "Every analysed unit of layer 'dead' is constant (zero variance)"
    with pytest.warns(UserWarning, match=re.escape(msg)):
        table = dimensionality(X, layer="dead")
    assert table.n_components.isna().all()
    assert np.isnan(table.participation_ratio).all()


# ---------------------------------------------------------------- unit subsample


def test_unit_subsample_is_seeded_and_sized():
    X = np.random.default_rng(0).standard_normal((50, 400)) * np.linspace(3, .1, 400)

    a = dimensionality(X, n_units=100, seed=7)
    b = dimensionality(X, n_units=100, seed=np.random.default_rng(7))
    again = dimensionality(X, n_units=100, seed=7)
    other = dimensionality(X, n_units=100, seed=8)

    assert a.n_units_used.iloc[0] == 100 and a.n_units.iloc[0] == 400
    assert_allclose(again.total_variance, a.total_variance, rtol=0)
    assert not np.isclose(other.total_variance.iloc[0], a.total_variance.iloc[0])
    assert b.seed.iloc[0] is None and a.seed.iloc[0] == 7


def test_subsample_equals_pca_of_a_column_subset():
    # The subsample is a set of whole columns: its spectrum is that of some 30 columns.
    X = np.random.default_rng(0).standard_normal((40, 60))
    X[:, :30] *= 1e-3     # tagging: the total variance tells how many tiny columns came
    table = dimensionality(X, n_units=30, seed=1)
    n_big = round(table.total_variance.iloc[0])   # each big column has variance ~1
    assert 5 < n_big < 25


def test_subsample_larger_than_the_layer_uses_every_unit():
    X = np.random.default_rng(0).standard_normal((20, 8))
    assert_allclose(dimensionality(X, n_units=1000).participation_ratio,
                    dimensionality(X).participation_ratio, rtol=0)


# ---------------------------------------------------------------- store


def test_store_layers_equal_the_arrays(store, layers):
    table = dimensionality(store, threshold=[0.8, 0.9])

    assert table.layer.tolist() == ["conv", "conv", "fc", "fc", "logits", "logits"]
    assert set(table.model) == {"net"} and set(table.reduction) == {"flatten"}
    for name, X in layers.items():
        expected = dimensionality(X.astype(np.float64), threshold=[0.8, 0.9])
        got = table[table.layer == name].reset_index(drop=True)
        assert_array_equal(got.n_components, expected.n_components)
        assert_allclose(got.participation_ratio, expected.participation_ratio, rtol=1e-10)


def test_store_result_does_not_depend_on_the_tile_size(store, monkeypatch):
    whole = explained_variance(store, layer="conv", n_units=50, seed=0)
    monkeypatch.setattr(_common, "_TILE_BYTES", 8 * 50 * 3)     # 3 rows per tile
    tiled = explained_variance(store, layer="conv", n_units=50, seed=0)
    assert_allclose(tiled.explained_variance, whole.explained_variance, rtol=1e-12)


class _RowGuard:
    """A stored array that refuses to read more than ``limit`` rows at once (the idea of
    xarray's InaccessibleArray): proves that a layer is read in tiles."""

    def __init__(self, array, limit):
        self.array, self.limit = array, limit
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, key):
        rows = key[0] if isinstance(key, tuple) else key
        if not isinstance(rows, slice) or len(range(*rows.indices(self.shape[0]))) > self.limit:
            raise AssertionError(f"read {key!r}: more than {self.limit} rows at once")
        return self.array[key]


def test_store_layers_are_read_in_tiles(store, monkeypatch):
    expected = dimensionality(store, layer="conv", n_units=50, seed=0)
    read = Store.array
    monkeypatch.setattr(Store, "array", lambda self, key: _RowGuard(read(self, key), 4))
    monkeypatch.setattr(_common, "_TILE_BYTES", 8 * 300 * 4)     # 4 rows of 300 units

    tiled = dimensionality(store, layer="conv", n_units=50, seed=0)

    assert_allclose(tiled.participation_ratio, expected.participation_ratio, rtol=1e-12)
    with pytest.raises(AssertionError, match="more than 4 rows"):
        Store.array(store, store.entries("activations").key[0])[:10]


def test_a_layer_gets_the_same_subsample_alone_or_with_others(store):
    alone = dimensionality(store, layer="conv", n_units=50, seed=3)
    together = dimensionality(store, n_units=50, seed=3)
    assert_allclose(together[together.layer == "conv"].total_variance,
                    alone.total_variance, rtol=0)


def test_store_path_string_and_filters(store):
    by_path = dimensionality(str(store.path), layer=["fc", "logits"], reduction="flatten")
    assert by_path.layer.tolist() == ["fc", "logits"]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"solver": "randomised"}, ValueError,
     "Unknown solver 'randomised'. Did you mean 'randomized'? Available: 'auto', 'full', "
     "'randomized'."),
    ({"solver": "randomized"}, ValueError,
     "solver='randomized' computes the leading components only; give n_components, e.g. "
     "n_components=100, or use solver='full'."),
    ({"threshold": 80}, ValueError, "threshold must lie in (0, 1], got 80.0."),
    ({"threshold": []}, ValueError, "threshold is empty; give at least one fraction, e.g. 0.8."),
    ({"threshold": "0.8"}, TypeError, "threshold must be a number, got str '0.8'."),
    ({"n_units": 0}, ValueError, "n_units must be >= 1, got 0."),
    ({"n_units": 10.5}, TypeError, "n_units must be an int, got float 10.5."),
    ({"n_components": 0}, ValueError, "n_components must be >= 1, got 0."),
    ({"reduction": "flatten"}, TypeError,
     "Unexpected keyword argument 'reduction': store fields select activations in a store, "
     "and X is an array."),
    ({"layer": ["a", "b"]}, TypeError, "layer labels an array and must be a str, got list."),
], ids=lambda v: v if isinstance(v, str) else None)
def test_option_errors(kwargs, error, message):
    X = np.random.default_rng(0).standard_normal((10, 5))
    with pytest.raises(error, match=re.escape(message)):
        dimensionality(X, **kwargs)


@pytest.mark.parametrize(("X", "message"), [
    (np.zeros((4, 3, 2)), "X must be 2-D (n_stimuli, n_units), got shape (4, 3, 2). Flatten "
     "or pool the spatial dimensions first, e.g. X.reshape(len(X), -1)."),
    (np.zeros((1, 3)), "X has 1 stimuli; this analysis needs at least 2."),
    (np.zeros((3, 0)), "X has no units (0 columns)."),
    (np.array([[1.0, np.nan], [0.0, 1.0], [np.inf, 2.0]]),
     "X has NaN or infinity in 2 rows, first at row 0."),
    (np.array([["a", "b"], ["c", "d"]]), "X must hold numbers, got dtype <U1."),
])
def test_array_errors(X, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        explained_variance(X)


def test_unknown_layer_in_store_suggests(store):
    msg = ("No complete activations with layer='fcc'. Did you mean 'fc'? Available: "
           "['conv', 'fc', 'logits'].")
    with pytest.raises(KeyError, match=re.escape(msg)):
        dimensionality(store, layer="fcc")


def test_unknown_store_field_suggests(store):
    msg = "Activations entries have no field 'reductoin'. Did you mean 'reduction'?"
    with pytest.raises(KeyError, match=re.escape(msg)):
        dimensionality(store, reductoin="flatten")


def test_empty_store_says_what_to_run(tmp_path):
    store = Store(tmp_path / "empty.zarr")
    msg = "holds no complete activations; run `deeprsa extract` first."
    with pytest.raises(KeyError, match=re.escape(msg)):
        dimensionality(store)


def test_non_finite_store_rows_are_named(tmp_path):
    store = Store(tmp_path / "bad.zarr")
    X = np.ones((5, 3))
    X[3, 1] = np.nan
    _write_layer(store, "net", "fc", X, list("abcde"))
    msg = "The activations of layer 'fc' of model 'net' hold NaN or infinity, first at row 3 " \
          "(stimulus 'd')."
    with pytest.raises(ValueError, match=re.escape(msg)):
        dimensionality(store)


def test_store_layer_with_too_few_stimuli_is_named(tmp_path):
    store = Store(tmp_path / "one.zarr")
    _write_layer(store, "net", "fc", np.ones((1, 3)), ["a"])
    msg = "Layer 'fc' of model 'net' has 1 stimuli; this analysis needs at least 2."
    with pytest.raises(ValueError, match=re.escape(msg)):
        dimensionality(store)


def test_store_rows_need_no_ids(store):
    msg = "stimulus_ids labels the rows of an array; a store records its own. Drop stimulus_ids."
    with pytest.raises(ValueError, match=re.escape(msg)):
        _common._layers(store, stimulus_ids=["a"])


# ---------------------------------------------------------------- CLI


def test_cli_writes_summary_and_curves(store, tmp_path):
    curves = tmp_path / "curves.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = CliRunner().invoke(cli, [
            "dimensionality", "--store", str(store.path), "--n-units", "20", "--seed", "0",
            "--threshold", "0.8", "--threshold", "0.9", "--curves", str(curves)])
    assert result.exit_code == 0, result.output
    assert "participation_ratio" in result.output
    import pandas as pd

    table = pd.read_csv(store.path / "tables" / "dimensionality.csv")
    assert len(table) == 6 and set(table.n_units_used) == {20, 10}
    assert len(pd.read_parquet(curves)) == 20 + 20 + 10


def test_cli_reports_errors_in_one_line(store):
    result = CliRunner().invoke(cli, ["dimensionality", "--store", str(store.path),
                                      "--solver", "ful"])
    assert result.exit_code == 1
    assert "Error: Unknown solver 'ful'. Did you mean 'full'?" in result.output
