"""Layer profiles against a target and weighted RSA, checked against rsatoolbox.

Tolerances: deeprsa and rsatoolbox compute the same float64 formulas in another order, so
scores, bootstrap values, variances, noise ceilings and fitted weights agree to 1e-10
(rtol) unless stated otherwise.
"""

import re

import numpy as np
import pytest
import scipy.stats as sps
from numpy.testing import assert_allclose, assert_array_equal

from deeprsa import RDM, RDMs, Store
from deeprsa.analyses import layer_profile, weighted_rsa
from deeprsa.analyses._common import _seed_entropy
from deeprsa.analyses.targets import stimulus_folds
from deeprsa.stats import correct_pvalues
from test_stats import RSATOOLBOX_METHODS, _rsatoolbox_result

N = 14
IDS = [f"img{i:02d}" for i in range(N)]
UPPER = np.triu_indices(N, 1)
PROFILE_METHODS = ["spearman", "pearson", "corr_cov", "cosine_cov"]
# deeprsa's name -> rsatoolbox's for the four methods a least-squares fit maximises
FIT_METHODS = {"cosine": "cosine", "pearson": "corr", "cosine_cov": "cosine_cov",
               "corr_cov": "corr_cov"}


def _distances(X):
    return np.linalg.norm(X[:, None] - X[None], axis=-1)[UPPER]


@pytest.fixture
def brain():
    """A shared geometry, 5 subjects' noisy RDMs of it, and two models' layers (N stimuli)."""
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((N, 6))
    subjects = [RDM.from_vector(_distances(shared + 0.6 * rng.standard_normal(shared.shape)),
                                IDS, {"target": "IT", "subject": f"s{k}"}) for k in range(5)]
    layers = []
    for model, n_layers in (("alpha", 3), ("beta", 4)):
        for depth in range(n_layers):
            mix = depth / (n_layers - 1)
            X = mix * shared + (1 - mix) * rng.standard_normal(shared.shape)
            layers.append(RDM.from_vector(_distances(X + 0.3 * rng.standard_normal(X.shape)),
                                          IDS, {"model": model, "layer": f"block{depth}"}))
    return layers, subjects


def _data(subjects):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    return rsatoolbox.rdm.RDMs(np.array([s.vector() for s in subjects]))


@pytest.mark.parametrize("method", PROFILE_METHODS)
def test_scores_and_noise_ceiling_equal_rsatoolbox(brain, method):
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import boot_noise_ceiling, eval_fixed
    from rsatoolbox.model import ModelFixed

    layers, subjects = brain
    result = layer_profile(layers, subjects, method=method, n_resamples=10, cv=2, seed=0)
    models = [ModelFixed(f"m{i}", r.vector()) for i, r in enumerate(layers)]
    theirs = eval_fixed(models, _data(subjects), method=RSATOOLBOX_METHODS[method])
    assert_allclose(result.table["estimate"], theirs.evaluations[0].mean(axis=-1), rtol=1e-10)
    lower, upper = boot_noise_ceiling(_data(subjects), method=RSATOOLBOX_METHODS[method])
    assert_allclose(result.table["noise_ceiling_lower"], lower, rtol=1e-10)
    assert_allclose(result.table["noise_ceiling_upper"], upper, rtol=1e-10)
    assert list(result.table["depth"]) == [0, 1, 2, 0, 1, 2, 3]
    assert set(result.table["target"]) == {"IT"}


@pytest.mark.filterwarnings("ignore::UserWarning")  # rsatoolbox: noise ceiling of resamples
@pytest.mark.parametrize("method", ["spearman", "corr_cov"])
@pytest.mark.parametrize("over", ["stimuli", "subjects", "both"])
def test_bootstrap_equals_rsatoolbox_on_the_same_resamples(brain, over, method):
    # rsatoolbox's eval_bootstrap_pattern / _rdm / eval_dual_bootstrap, fed deeprsa's draws:
    # the same bootstrap values (a stimulus paired with its own copy left out), the same
    # variances (dual-bootstrap correction for "both"), the same t interval once moved from
    # rsatoolbox's centre (the mean of the bootstrap values) to the full-data estimate.
    layers, subjects = brain
    n = 30
    result = layer_profile(layers, subjects, method=method, over=over, n_resamples=n, cv=2,
                           seed=3)
    kind = {"stimuli": "stimuli", "subjects": "seeds", "both": "both"}[over]
    table = result.table
    for model in ("alpha", "beta"):
        boot = result.bootstrap[model]
        rows = table[table.model == model]
        candidates = [r for r in layers if r.provenance["model"] == model]
        res = _rsatoolbox_result(boot, candidates, subjects, kind, method, n)
        evaluations = res.evaluations
        while evaluations.ndim > 2:
            evaluations = evaluations[..., 0]
        assert_allclose(boot.distributions[kind], evaluations, rtol=0, atol=1e-10)
        assert_allclose(rows.standard_error ** 2, res.model_var, rtol=1e-10)
        if over != "both":  # rsatoolbox's dual bootstrap has no get_means of one kind
            low, high = res.get_ci(0.95, test_type="t-test")
            shift = rows.estimate - res.get_means()
            assert_allclose(rows.ci_low, low + shift, rtol=1e-10)
            assert_allclose(rows.ci_high, high + shift, rtol=1e-10)
    # every model is resampled alike
    alpha, beta = result.bootstrap["alpha"], result.bootstrap["beta"]
    for name in ("stimulus_indices", "seed_indices"):
        a, b = getattr(alpha, name), getattr(beta, name)
        assert (a is None and b is None) or np.array_equal(a, b)


def test_percentile_interval_is_the_quantiles_of_the_bootstrap_values(brain):
    # rsatoolbox's get_ci(test_type="bootstrap") adds -inf and +inf to the bootstrap values
    # before taking np.quantile, which moves the bounds slightly outward; deeprsa takes the
    # quantiles of the values themselves (as scipy.stats.bootstrap). The values match
    # rsatoolbox (test above), so here the quantiles are checked exactly.
    layers, subjects = brain
    result = layer_profile(layers, subjects, over="stimuli", interval="percentile",
                           n_resamples=200, confidence=0.9, cv=2, seed=1)
    values = result.bootstrap["beta"].distributions["stimuli"]
    rows = result.table[result.table.model == "beta"]
    finite = [v[np.isfinite(v)] for v in values.T]
    assert_allclose(rows.ci_low, [np.quantile(v, 0.05) for v in finite], rtol=1e-14)
    assert_allclose(rows.ci_high, [np.quantile(v, 0.95) for v in finite], rtol=1e-14)


@pytest.mark.parametrize("correction", ["fdr_bh", "holm", "none"])
def test_p_values_are_corrected_across_every_layer(brain, correction):
    layers, subjects = brain
    table = layer_profile(layers, subjects, n_resamples=40, correction=correction, cv=2,
                          seed=0).table
    t = table.estimate / table.standard_error
    assert_allclose(table.p_value, sps.t.sf(t, N - 1), rtol=1e-12)
    assert_allclose(table.p_corrected, correct_pvalues(table.p_value.to_numpy(),
                                                       method=correction), rtol=1e-12)


def test_best_layer_equals_rsatoolbox_crossval_of_a_selection_model(brain):
    # rsatoolbox's ModelSelect + fit_select in crossval: each fold picks the best layer on
    # its training stimuli and scores it on its held-out stimuli.
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import crossval
    from rsatoolbox.model import ModelSelect
    from rsatoolbox.model.fitter import fit_select

    layers, subjects = brain
    result = layer_profile(layers, subjects, method="pearson", n_resamples=10, cv=4, seed=7)
    data = _data(subjects)
    sets = _rsatoolbox_folds(data, stimulus_folds(IDS, 4, np.random.default_rng(
        _seed_entropy(7))))
    for model in ("alpha", "beta"):
        candidates = [r for r in layers if r.provenance["model"] == model]
        select = ModelSelect(model, _data(candidates))
        theirs = crossval([select], data, *sets, method="corr", fitter=[fit_select],
                          calc_noise_ceil=False)
        folds = result.folds[result.folds.model == model]
        assert_allclose(folds.held_out, theirs.evaluations.ravel(), rtol=1e-10)
        best = result.best.set_index("model").loc[model]
        assert_allclose(best.held_out, np.mean(theirs.evaluations), rtol=1e-10)


def _rsatoolbox_folds(data, folds):
    train_set, test_set = [], []
    for train, test in folds:
        train, test = [IDS.index(s) for s in train], [IDS.index(s) for s in test]
        train_set.append((data.subsample_pattern("index", train), train))
        test_set.append((data.subsample_pattern("index", test), test))
    return train_set, test_set


def test_best_layer_is_chosen_without_the_held_out_stimuli():
    # The target agrees with layer "A" on the first half of the stimuli and with "B" on the
    # second half. Holding out the first half, the training stimuli favour B; B is then
    # scored where it does not fit. Choosing with the held-out stimuli would pick A there.
    rng = np.random.default_rng(0)
    n, half = 16, 8
    ids = [f"s{i}" for i in range(n)]
    target = rng.random((n, n))
    target = np.triu(target, 1) + np.triu(target, 1).T
    layers = {}
    for name, block in (("A", slice(0, half)), ("B", slice(half, n))):
        m = rng.random((n, n))
        m = np.triu(m, 1) + np.triu(m, 1).T
        m[block, block] = target[block, block]
        layers[name] = RDM(m, ids, {"model": "net", "layer": name})
    subjects = [RDM(target, ids, {"target": "behaviour"})]
    first, second = ids[:half], ids[half:]
    result = layer_profile(list(layers.values()), subjects, cv=[first, second],
                           n_resamples=10, seed=0)
    folds = result.folds
    assert list(folds.layer) == ["B", "A"]  # fold 0 holds out the first half
    assert (folds.train_score > 0.9).all()  # each layer fits its own half exactly
    assert (folds.held_out.abs() < 0.3).all()
    assert result.table.estimate.max() > 0.3  # the biased maximum over layers looks good
    assert result.best.held_out.iloc[0] < result.table.estimate.max() - 0.2


def test_store_and_target_file_give_the_same_profile(brain, tmp_path):
    layers, subjects = brain
    store = Store(tmp_path / "store")
    for r in layers:
        r.save(store)
    np.savez(tmp_path / "it.npz", rdms=np.stack([s.vector() for s in subjects]),
             stimulus_ids=np.array(IDS))
    from_store = layer_profile(store, tmp_path / "it.npz", model=["beta", "alpha"],
                               n_resamples=20, cv=3, seed=4)
    in_memory = layer_profile(layers[3:] + layers[:3], subjects, n_resamples=20, cv=3, seed=4)
    columns = ["model", "layer", "estimate", "ci_low", "ci_high", "p_corrected"]
    assert_array_equal(from_store.table[columns].to_numpy(), in_memory.table[columns].to_numpy())
    assert set(from_store.table.target) == {"it"}
    assert_array_equal(from_store.best.to_numpy(), in_memory.best.to_numpy())


def test_target_labels_are_matched_by_name(brain):
    layers, subjects = brain
    order = IDS[::-1]
    shuffled = [s.subset(order) for s in subjects]
    a = layer_profile(layers, subjects, n_resamples=10, cv=2, seed=0).table
    b = layer_profile(layers, shuffled, n_resamples=10, cv=2, seed=0).table
    assert_allclose(a.estimate, b.estimate, rtol=1e-12)


@pytest.mark.parametrize("case, msg", [
    ("labels", "The stimulus labels of the target and the model's stimuli differ (labels "
               "are matched by name): 1 ('face') only in the target; 1 ('img13') only in "
               "the model's stimuli."),
    ("subjects", "Resampling subjects (over='subjects') needs at least 2 target RDMs (one per "
                 "subject or session); the target has 1. Use over='stimuli'."),
    ("folds", "Fold 0 has 11 training and 3 held-out stimuli"),
    ("small", "Fold 0 has 12 training and 2 held-out stimuli; each needs at least 3"),
    ("over", "Unknown over 'items'. Available: 'both', 'stimuli', 'subjects'."),
], ids=lambda v: v if v.isidentifier() else "")
def test_profile_errors(brain, case, msg):
    layers, subjects = brain
    kwargs = {"n_resamples": 10, "cv": 2, "seed": 0}
    if case == "labels":
        ids = IDS[:-1] + ["face"]
        subjects = [RDM(s.matrix, ids) for s in subjects]
    elif case == "subjects":
        subjects, kwargs["over"] = subjects[:1], "subjects"
    elif case == "folds":  # a valid fold: checked by what follows
        msg = None
        kwargs["cv"] = [IDS[:3], IDS[3:]]
    elif case == "small":
        kwargs["cv"] = 7
    elif case == "over":
        kwargs["over"] = "items"
    if msg is None:
        assert layer_profile(layers, subjects, **kwargs).folds.n_test.tolist()[0] == 3
        return
    with pytest.raises(ValueError, match=re.escape(msg)):
        layer_profile(layers, subjects, **kwargs)


# ============================================================================ weighted RSA


@pytest.fixture
def mixture():
    """Layer RDMs of two models and a target mixing two of them with known weights."""
    rng = np.random.default_rng(5)
    parts = [np.abs(rng.standard_normal(len(UPPER[0]))) + 0.1 for _ in range(4)]
    layers = [RDM.from_vector(p, IDS, {"model": "ab"[k // 2], "layer": f"l{k % 2}"})
              for k, p in enumerate(parts)]
    return layers, parts


@pytest.mark.parametrize("method", sorted(FIT_METHODS))
def test_weighted_rsa_recovers_the_weights_of_a_mixture(mixture, method):
    layers, parts = mixture
    truth = np.array([0.0, 3.0, 0.0, 1.0])  # layer l1 of model a, layer l1 of model b
    target = RDM.from_vector(np.array(parts).T @ truth, IDS, {"target": "mix"})
    result = weighted_rsa(layers, target, method=method, cv=3, seed=0)
    # Pearson and corr_cov centre the RDMs, which frees nothing here: the fit is exact.
    assert_allclose(result.weights.weight, truth / np.linalg.norm(truth), atol=1e-9)
    assert_allclose(result.folds.held_out, 1.0, rtol=1e-9)
    assert list(result.weights.model) == ["a", "a", "b", "b"]
    assert result.target == "mix"


@pytest.mark.parametrize("method", sorted(FIT_METHODS))
def test_weighted_rsa_equals_rsatoolbox_fit_regress_nn(brain, method):
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import crossval
    from rsatoolbox.model import ModelWeighted
    from rsatoolbox.model.fitter import fit_regress_nn

    layers, subjects = brain
    result = weighted_rsa(layers, subjects, method=method, cv=3, seed=2)
    data = _data(subjects)
    weighted = ModelWeighted("mix", _data(layers))
    assert_allclose(result.weights.weight, fit_regress_nn(weighted, data,
                                                          method=FIT_METHODS[method]),
                    rtol=1e-8, atol=1e-12)  # rsatoolbox solves V x = b by conjugate gradients
    sets = _rsatoolbox_folds(data, stimulus_folds(IDS, 3, np.random.default_rng(
        _seed_entropy(2))))
    theirs = crossval([weighted], data, *sets, method=FIT_METHODS[method],
                      fitter=[fit_regress_nn], calc_noise_ceil=False)
    assert_allclose(result.folds.held_out, theirs.evaluations.ravel(), rtol=1e-8)
    assert (result.weights.weight >= 0).all()


def test_weighted_rsa_refuses_a_method_least_squares_cannot_fit(mixture):
    layers, _ = mixture
    msg = ("Weighted RSA fits its weights by least squares, which maximises 'corr_cov', "
           "'cosine', 'cosine_cov', 'pearson' (rsatoolbox's fit_regress_nn), not 'spearman'.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        weighted_rsa(layers, layers[0], method="spearman")


def test_weighted_rsa_from_a_store_selects_models(mixture, tmp_path):
    layers, parts = mixture
    store = Store(tmp_path / "store")
    for r in layers:
        r.save(store)
    target = RDMs([RDM.from_vector(parts[0] + 2 * parts[1], IDS)])
    result = weighted_rsa(store, target, model="a", cv=2, seed=0)
    assert list(result.weights.layer) == ["l0", "l1"]
    assert_allclose(result.weights.weight, np.array([1, 2]) / np.sqrt(5), atol=1e-9)
