"""Tests of deeprsa.align: the Shared Response Model and RSA before/after alignment."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal, ortho_group
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from deeprsa.align import SRM, evaluate_alignment, evaluate_n_components, load_networks

ALGORITHMS = ["deterministic", "probabilistic"]
# Orthonormality and exact identities hold to float64 rounding of a few products: 1e-10.
EXACT = {"rtol": 0, "atol": 1e-10}


def _networks(n_networks=3, *, n_stimuli=120, n_units=(20, 25, 30), rank=4, noise=0.1,
              seed=0):
    """Networks sharing a rank-``rank`` response, each through its own orthonormal map."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n_stimuli, rank)) * np.linspace(3, 1, rank)
    X = []
    for i in range(n_networks):
        v = n_units[i % len(n_units)]
        W = ortho_group.rvs(v, random_state=rng)[:, :rank]
        X.append(shared @ W.T + 5.0 + noise * rng.standard_normal((n_stimuli, v)))
    return X


def _lu_copies(kind, *, n_networks=4, n_stimuli=120, n_units=40, noise=0.1, seed=0):
    """Lu et al. (2018): copies of one network with permuted units or rotated activity."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_stimuli, n_units))
    copies = []
    for _ in range(n_networks):
        if kind == "permuted":
            x = base[:, rng.permutation(n_units)]
        else:
            x = base @ ortho_group.rvs(n_units, random_state=rng)
        copies.append(x + noise * rng.standard_normal((n_stimuli, n_units)))
    return copies


# ============================================================================ the estimator


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bases_are_orthonormal(algorithm):
    X = _networks()
    srm = SRM(4, algorithm=algorithm, seed=0).fit(X)
    assert [w.shape for w in srm.bases_] == [(20, 4), (25, 4), (30, 4)]
    for w in srm.bases_:
        assert_allclose(w.T @ w, np.eye(4), **EXACT)
    assert srm.shared_response_.shape == (120, 4)
    assert_allclose(srm.means_[0], X[0].mean(axis=0), **EXACT)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_objective_never_rises_and_stops_on_tol(algorithm):
    X = _networks(noise=0.5)
    srm = SRM(4, algorithm=algorithm, n_iter=500, tol=1e-8, seed=1).fit(X)
    trace = srm.objective_
    assert len(trace) == srm.n_iter_ + 1
    # EM and alternating least squares never increase their objective (up to rounding)
    assert np.all(np.diff(trace) <= 1e-9 * np.abs(trace[:-1]))
    assert trace[-1] < trace[0]
    assert srm.n_iter_ < 500
    assert trace[-2] - trace[-1] <= 1e-8 * abs(trace[-2])
    loose = SRM(4, algorithm=algorithm, n_iter=500, tol=1e-2, seed=1).fit(X)
    assert loose.n_iter_ < srm.n_iter_


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_not_converging_warns(algorithm):
    with pytest.warns(ConvergenceWarning, match=re.escape(
            "SRM did not converge in n_iter=1 iterations; raise n_iter or tol.")):
        SRM(4, algorithm=algorithm, n_iter=1, tol=0, seed=0).fit(_networks(noise=0.5))


def test_deterministic_objective_is_the_reconstruction_error():
    X = _networks(noise=0.3)
    srm = SRM(4, algorithm="deterministic", seed=0).fit(X)
    reconstructed = srm.inverse_transform(srm.shared_response_)
    centred = [x - x.mean(axis=0) for x in X]
    error = sum(np.sum((x - r) ** 2) for x, r in zip(X, reconstructed, strict=True))
    assert_allclose(srm.objective_[-1], error / sum(np.sum(c ** 2) for c in centred),
                    rtol=1e-10)
    # The shared rank-4 signal is recovered: what is left is the noise (variance 0.09)
    per_entry = error / sum(x.size for x in X)
    assert_allclose(per_entry, 0.09, rtol=0.1)


def test_probabilistic_objective_is_the_negative_log_likelihood():
    # Brute force: x_t ~ N(0, W Sigma_s W.T + Psi) for the stacked, centred networks.
    X = _networks(n_stimuli=60, n_units=(6, 8, 7), rank=3, noise=0.5)
    srm = SRM(3, algorithm="probabilistic", n_iter=5, tol=0, seed=0)
    with pytest.warns(ConvergenceWarning):
        srm.fit(X)
    W = np.vstack(srm.bases_)
    psi = np.concatenate([np.full(x.shape[1], r) for x, r in zip(X, srm.rho2_, strict=True)])
    cov = W @ srm.sigma_s_ @ W.T + np.diag(psi)
    data = np.hstack([x - x.mean(axis=0) for x in X])
    nll = -multivariate_normal(np.zeros(len(cov)), cov).logpdf(data).sum()
    assert_allclose(srm.objective_[-1], nll, rtol=1e-10)
    assert_allclose(srm.rho2_, 0.25, rtol=0.25)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_srm_aligns_networks_that_differ_by_a_rotation(algorithm):
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((200, 5))
    bases = [ortho_group.rvs(40, random_state=seed)[:, :5] for seed in (1, 2)]
    X = [shared @ Q.T for Q in bases]
    aligned = SRM(n_components=5, algorithm=algorithm, n_iter=50, seed=0).fit(X).transform(X)
    assert_allclose(aligned[0], aligned[1], atol=1e-6)


def test_deterministic_srm_of_identical_copies_is_pca():
    # With every network equal to X, the best shared space is X's leading principal
    # subspace (Eckart-Young), so each basis spans PCA's components.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 12)) * np.geomspace(10, 0.5, 12)
    srm = SRM(3, algorithm="deterministic", n_iter=500, tol=1e-14, seed=0).fit([X, X, X])
    pca = PCA(3).fit(X)
    projector = pca.components_.T @ pca.components_
    # The objective converges quadratically in the subspace error: a relative tol of
    # 1e-14 leaves the subspace within about 1e-7.
    for w in srm.bases_:
        assert_allclose(w @ w.T, projector, atol=1e-6)


def test_transform_uses_the_training_means():
    X = _networks()
    rng = np.random.default_rng(5)
    held_out = [x[:10] + rng.standard_normal(x[:10].shape) for x in X]
    srm = SRM(4, seed=0).fit(X)
    for i, z in enumerate(srm.transform(held_out)):
        assert_allclose(z, (held_out[i] - X[i].mean(axis=0)) @ srm.bases_[i], **EXACT)
    assert_allclose(np.hstack(srm.fit_transform(X)), np.hstack(srm.fit(X).transform(X)),
                    **EXACT)


def test_transform_selected_networks_and_inverse():
    X = _networks()
    srm = SRM(4, seed=0).fit(X)
    full = srm.transform(X)
    only_two = srm.transform([X[2], X[0]], networks=[2, 0])
    assert_allclose(only_two[0], full[2], **EXACT)
    assert_allclose(only_two[1], full[0], **EXACT)
    back = srm.inverse_transform(np.zeros((3, 4)), networks=[1])
    assert len(back) == 1
    assert_allclose(back[0], np.tile(srm.means_[1], (3, 1)), **EXACT)


def test_estimator_params_and_clone():
    srm = SRM(7, algorithm="deterministic", n_iter=3, tol=0.1, seed=4)
    assert srm.get_params() == {"n_components": 7, "algorithm": "deterministic",
                                "n_iter": 3, "tol": 0.1, "seed": 4}
    assert clone(srm).get_params() == srm.get_params()
    assert not hasattr(srm, "bases_")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_seed_reproduces_the_fit(algorithm):
    X = _networks(noise=0.5)
    one = SRM(4, algorithm=algorithm, seed=3).fit(X)
    two = SRM(4, algorithm=algorithm, seed=np.random.default_rng(3)).fit(X)
    assert_allclose(one.shared_response_, two.shared_response_, rtol=0, atol=0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_add_network_maps_a_new_rotated_copy(algorithm):
    X = _networks(4, noise=0.05)
    srm = SRM(4, algorithm=algorithm, seed=0).fit(X[:3])
    srm.add_network(X[3])
    assert len(srm.bases_) == 4 and len(srm.means_) == 4
    assert_allclose(srm.bases_[3].T @ srm.bases_[3], np.eye(4), **EXACT)
    if algorithm == "probabilistic":
        assert len(srm.rho2_) == 4
    new = srm.transform([X[3]], networks=[3])[0]
    assert np.corrcoef(new.ravel(), srm.shared_response_.ravel())[0, 1] > 0.999


# ============================================================================ errors


def _bad(n_stimuli=10, units=(5, 5)):
    return [np.zeros((n_stimuli, u)) for u in units]


@pytest.mark.parametrize("X, kwargs, msg", [
    (_bad(3), {"n_components": 3},
     "SRM with n_components=3 needs more stimuli than components, got 3. Use "
     "n_components <= 2 or more stimuli."),
    ([np.zeros((10, 5)), np.zeros((9, 5))], {},
     "Network 1 has responses to 9 stimuli but network 0 to 10; every network must see the "
     "same stimuli in the same order."),
    (_bad(units=(5, 2)), {"n_components": 3},
     "Network 1 has 2 units, fewer than n_components=3. Use n_components <= 2 (the smallest "
     "unit count)."),
    (_bad(units=(5,)), {}, "SRM needs responses from at least 2 networks, got 1."),
    (np.zeros((10, 5)), {}, "X must be a list of arrays, one (n_stimuli, n_units_i) array "
                            "per network; got one 2-D array. Wrap it: [X1, X2, ...]."),
    ([np.zeros((10, 5)), np.zeros((10, 2, 3))], {},
     "Network 1 has responses of shape (10, 2, 3); expected 2-D (n_stimuli, n_units). "
     "Flatten or pool the spatial dimensions first, e.g. X.reshape(len(X), -1)."),
    ([np.zeros((10, 5)), np.full((10, 5), np.nan)], {},
     "Network 1 has NaN or infinite responses."),
    (_bad(), {"algorithm": "probabilistc"},
     "Unknown algorithm 'probabilistc'. Did you mean 'probabilistic'? Available: "
     "'deterministic', 'probabilistic'."),
    (_bad(), {"n_components": 0}, "n_components must be an int >= 1, got 0."),
    (_bad(), {"n_iter": 0}, "n_iter must be an int >= 1, got 0."),
    (_bad(), {"tol": -1.0}, "tol must be a number >= 0, got -1.0."),
    (5, {}, "X must be a list of arrays, one per network, got int."),
], ids=["few-stimuli", "stimulus-counts", "few-units", "one-network", "2d-array", "3d",
        "nan", "algorithm", "n_components", "n_iter", "tol", "not-a-list"])
def test_fit_errors(X, kwargs, msg):
    params = {"n_components": 2, **kwargs}
    with pytest.raises(ValueError, match=re.escape(msg)):
        SRM(params.pop("n_components"), **params).fit(X)


@pytest.fixture
def fitted():
    X = _networks()
    return SRM(4, seed=0).fit(X), X


@pytest.mark.parametrize("call, msg", [
    (lambda srm, X: srm.transform(X[:2]),
     "SRM was fitted on 3 networks; got 2. Pass networks= to say which ones these are."),
    (lambda srm, X: srm.transform([X[1]], networks=[0]),
     "Network 0 was fitted with 20 units; got responses with 25."),
    (lambda srm, X: srm.transform([X[0]], networks=[3]),
     "networks holds 3, but SRM has networks 0 to 2."),
    (lambda srm, X: srm.transform([X[0]], networks=[0, 1]),
     "Got 1 arrays but 2 network indices."),
    (lambda srm, X: srm.inverse_transform(np.zeros((3, 2))),
     "shared must have shape (n_samples, 4), got (3, 2)."),
    (lambda srm, X: srm.add_network(X[0][:50]),
     "The new network has responses to 50 stimuli, but SRM was fitted on 120; pass its "
     "responses to the training stimuli, in order."),
    (lambda srm, X: srm.add_network(X[0][:, :3]),
     "The new network has 3 units, fewer than n_components=4."),
], ids=["count", "units", "index", "lengths", "inverse", "add-stimuli", "add-units"])
def test_fitted_errors(fitted, call, msg):
    srm, X = fitted
    with pytest.raises(ValueError, match=re.escape(msg)):
        call(srm, X)


def test_transform_before_fit():
    with pytest.raises(NotFittedError):
        SRM(2).transform(_bad())


# ============================================================================ RSA before/after


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("kind", ["permuted", "rotated"])
def test_lu_simulation_shared_space_recovers_the_geometry(kind, algorithm):
    # Lu et al. (2018): the inter-network RSM matches the within-network RSM after SRM
    # (r near 1) but not in native space (r near 0).
    X = _lu_copies(kind)
    table = evaluate_alignment(X, n_components=10, algorithm=algorithm, seed=0)
    assert len(table) == 2 * 6
    mean = table.groupby("space")[["rsm_correlation", "same_stimulus_correlation"]].mean()
    assert mean.loc["shared", "rsm_correlation"] > 0.98
    assert abs(mean.loc["native", "rsm_correlation"]) < 0.1
    assert mean.loc["shared", "same_stimulus_correlation"] > 0.95
    assert abs(mean.loc["native", "same_stimulus_correlation"]) < 0.1
    assert (table.stimuli == "test").all() and (table.n_stimuli == 60).all()


def test_evaluate_alignment_table_and_native_spaces():
    X = _networks(n_units=(20, 30))
    names = ["a", "b", "c"]
    table = evaluate_alignment(X, n_components=4, test=0, native="pca", names=names, seed=0)
    assert list(table.columns) == ["space", "network_a", "network_b", "rsm_correlation",
                                   "same_stimulus_correlation", "n_components", "algorithm",
                                   "native", "stimuli", "n_stimuli"]
    assert list(zip(table.network_a, table.network_b, strict=True)) == [
        ("a", "b"), ("a", "c"), ("b", "c")] * 2
    assert (table.stimuli == "train").all() and (table.n_stimuli == 120).all()
    held_out = evaluate_alignment(X, n_components=4, test=np.arange(30), seed=0)
    assert (held_out.n_stimuli == 30).all()
    assert (held_out.query("space == 'shared'").rsm_correlation > 0.99).all()


@pytest.mark.parametrize("kwargs, msg", [
    ({"n_components": 1}, "n_components must be an int >= 2 (patterns are correlated across "
                          "components), got 1."),
    ({"test": 1.0}, "test must be a fraction in [0, 1) of the stimuli or their indices, got "
                    "1.0."),
    ({"test": np.arange(118)}, "test leaves 2 training and 118 test stimuli; each side needs "
                               "at least 3."),
    ({"test": np.array([200])}, "test indices must lie in 0 to 119."),
    ({"test": np.ones(5, dtype=bool)}, "A boolean test mask needs 120 entries, got (5,)."),
    ({"names": ["a"]}, "Got 1 names for 3 networks."),
    ({"native": "units"}, "Unknown native 'units'. Available: 'pca', 'truncate'."),
])
def test_evaluate_alignment_errors(kwargs, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        evaluate_alignment(_networks(), **{"n_components": 4, **kwargs})


def test_variance_explained_grows_with_n_components():
    X = _networks(noise=0.3)
    table = evaluate_n_components(X, n_components=[1, 2, 4, 8, 500], seed=0)
    assert sorted(table.n_components.unique()) == [1, 2, 4, 8]  # 500 > the smallest units
    mean = table.groupby("n_components")[["variance_explained", "variance_predicted"]].mean()
    assert np.all(np.diff(mean.variance_explained) > 0)
    # four shared dimensions carry nearly all the signal; more only add noise
    assert mean.loc[4, "variance_predicted"] > 0.85  # signal: ~90% of the variance
    assert mean.loc[8, "variance_predicted"] <= mean.loc[4, "variance_predicted"] + 1e-9
    assert (table.variance_explained <= table.variance_explained_pca + 0.02).all()


def test_variance_explained_of_identical_copies_is_pca():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 12)) * np.geomspace(10, 0.5, 12)
    table = evaluate_n_components([X, X], n_components=[3], algorithm="deterministic",
                                  tol=1e-14, n_iter=500, seed=0)
    assert_allclose(table.variance_explained, table.variance_explained_pca, rtol=1e-8)
    # each copy predicts the other exactly as well as the subspace explains it
    assert_allclose(table.variance_predicted, table.variance_explained, rtol=1e-8)


def test_evaluate_n_components_errors():
    msg = ("No n_components in [50] is at most 20 (the smallest unit count, or the training "
           "stimuli minus one).")
    with pytest.raises(ValueError, match=re.escape(msg)):
        evaluate_n_components(_networks(), n_components=[50])
    msg = ("test leaves 120 training and 0 test stimuli; variance explained needs held-out "
           "stimuli and at least 3 training stimuli.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        evaluate_n_components(_networks(), test=0)


def test_load_networks_needs_two_models(tmp_path):
    with pytest.raises(ValueError, match=re.escape(
            "Aligning networks needs at least 2 models, got 1.")):
        load_networks(tmp_path, "zoo:convnet_s0", "fc")


@pytest.mark.slow
def test_zoo_seeds_share_a_geometry_after_alignment(tmp_path):
    # Real networks: the bundled convnet trained from 5 seeds, fc layer, digits test set.
    import deeprsa

    models = [f"zoo:convnet_s{s}" for s in range(5)]
    stimuli = deeprsa.digits(split="test")
    for name in models:
        deeprsa.extract(deeprsa.load_model(name), stimuli, ["fc"], tmp_path, progress=False)
    X, ids = load_networks(tmp_path, models, "fc")
    assert len(ids) == len(stimuli) and all(x.shape[1] == 64 for x in X)
    table = evaluate_alignment(X, n_components=20, names=models, seed=0)
    mean = table.groupby("space").rsm_correlation.mean()
    assert mean["shared"] > 0.9
    assert mean["shared"] > mean["native"] + 0.3


def test_cli_srm_writes_both_tables(tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from deeprsa.cli import cli
    from deeprsa.store import Store, content_key

    store = Store(tmp_path / "s.zarr")
    ids = [f"s{i:03d}" for i in range(120)]
    stimuli = store.add_stimuli(ids, content_key({"ids": ids}))
    models = []
    for i, X in enumerate(_lu_copies("rotated", n_networks=3)):
        models += ["--model", f"net_s{i}"]
        fields = {"model": f"net_s{i}", "layer": "fc", "reduction": {"name": "flatten"},
                  "stimuli": stimuli, "dtype": "float32"}
        store.write("activations", fields, X.astype(np.float32))
    out = CliRunner().invoke(cli, ["srm", "--store", str(store.path), *models, "--layer", "fc",
                                   "--sweep", "2,10", "--seed", "0"])
    assert out.exit_code == 0, out.output
    alignment = pd.read_csv(store.path / "tables" / "srm-alignment.csv")
    variance = pd.read_csv(store.path / "tables" / "srm-variance.csv")
    assert len(alignment) == 6 and (alignment.layer == "fc").all()
    assert alignment.query("space == 'shared'").rsm_correlation.min() > 0.95
    assert sorted(variance.n_components.unique()) == [2, 10] and len(variance) == 6
    out = CliRunner().invoke(cli, ["srm", "--store", str(store.path), "--model", "net_s0",
                                   "--layer", "fc"])
    assert out.exit_code == 1
    assert "Error: Aligning networks needs at least 2 models, got 1." in out.output
