"""Extreme-dissimilarity and target-mean stimulus subsets (as in pytorch_feature_analysis)."""

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.testing import assert_allclose, assert_array_equal

from deeprsa import Store
from deeprsa.analyses import extreme_subset, target_subset
from deeprsa.analyses.subsets import _greedy, _refine
from deeprsa.cli import cli
from deeprsa.rdm import RDM, RDMs, compute_rdm
from deeprsa.store import content_key


def _symmetric(n, seed):
    """pytorch_feature_analysis's test matrix: symmetric normal entries, zero diagonal."""
    A = np.random.default_rng(seed).normal(size=(n, n))
    A = (A + A.T) / 2
    np.fill_diagonal(A, 0)
    return A


def _brute_force(D, k, score):
    """Best value of ``score(total over pairs)`` over every subset of size k."""
    return max(score(D[np.ix_(c, c)].sum() / 2) for c in itertools.combinations(range(len(D)), k))


def _total(D, ids, chosen):
    rows = [ids.index(s) for s in chosen]
    return D[np.ix_(rows, rows)].sum() / 2


# ---------------------------------------------------------------- brute force


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("mode", ["max", "min"])
def test_extreme_subset_matches_brute_force(seed, mode):
    # 210 subsets of 4 from 10: with the default 20 restarts the search found the optimum
    # of 60 of 60 matrices tried, in each mode (the greedy start alone missed 10 of 40).
    D = _symmetric(10, seed)
    sign = 1 if mode == "max" else -1
    best = _brute_force(D, 4, lambda t: sign * t)

    table = extreme_subset(D, 4, mode=mode, seed=0)

    ids = [str(i) for i in range(10)]
    assert_allclose(sign * _total(D, ids, table.stimulus_id), best, rtol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_target_subset_matches_brute_force(seed):
    D = _symmetric(10, seed)
    best = _brute_force(D, 4, lambda t: -abs(t / 6 - 0.3))

    table = target_subset(D, 4, 0.3, seed=0)

    assert_allclose(-abs(table.subset_mean.iloc[0] - 0.3), best, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_every_start_ends_in_a_local_optimum(seed):
    # Property of the refinement: no single swap improves the returned subset.
    D = _symmetric(30, seed)
    subset = _refine(D, _greedy(D, 6, mode="max", target=None), sign=1.0, goal=None, tol=0)
    total = D[np.ix_(subset, subset)].sum() / 2
    for i in subset:
        for j in np.setdiff1d(np.arange(30), subset):
            swapped = np.append(subset[subset != i], j)
            assert D[np.ix_(swapped, swapped)].sum() / 2 <= total + 1e-12


def test_pytorch_feature_analysis_demo_scale():
    # pytorch_feature_analysis: 50 of 1000 items of a symmetric normal matrix; its run
    # reached a mean of 0.319 over the 50 x 50 matrix (diagonal included), i.e. 0.325 over
    # pairs.
    D = _symmetric(1000, 0)
    table = extreme_subset(D, 50, seed=0)
    assert table.subset_mean.iloc[0] > 0.325
    assert abs(table.rdm_mean.iloc[0]) < 0.01
    assert len(table) == 50 and table.stimulus_id.is_unique


# ---------------------------------------------------------------- inputs and outputs


def test_rdm_input_keeps_ids_and_subset_mean_is_the_sub_rdm_mean():
    ids = [f"img{i}" for i in range(12)]
    D = np.abs(_symmetric(12, 1))
    rdm = RDM(D, ids, {"model": "net", "layer": "fc", "measure": "euclidean"})

    table = extreme_subset(rdm, 5, seed=0)

    assert set(table.stimulus_id) <= set(ids)
    assert table.model.iloc[0] == "net" and table.layer.iloc[0] == "fc"
    assert table.measure.iloc[0] == "euclidean" and table.target.iloc[0] is None
    sub = rdm.subset(list(table.stimulus_id))
    assert_allclose(table.subset_mean, sub.vector().mean(), rtol=1e-12)
    assert_allclose(table.rdm_mean, rdm.vector().mean(), rtol=1e-12)
    assert_array_equal(table.stimulus_id, sorted(table.stimulus_id, key=ids.index))


def test_rdms_collection_gives_one_subset_each():
    ids = list("abcdefgh")
    rdms = RDMs([RDM(np.abs(_symmetric(8, s)), ids, {"layer": f"l{s}"}) for s in (1, 2)])
    table = extreme_subset(rdms, 3, seed=0)
    assert table.layer.tolist() == ["l1"] * 3 + ["l2"] * 3


def test_k_equal_to_n_is_everything():
    table = extreme_subset(np.abs(_symmetric(5, 0)), 5)
    assert table.stimulus_id.tolist() == ["0", "1", "2", "3", "4"]


def test_result_is_seeded():
    D = _symmetric(60, 3)
    a = target_subset(D, 8, 0.2, seed=4)
    b = target_subset(D, 8, 0.2, seed=4)
    assert_array_equal(a.stimulus_id, b.stimulus_id)
    assert a.seed.iloc[0] == 4 and a["mode"].iloc[0] == "target" and a.target.iloc[0] == 0.2


def test_store_layers_use_the_stored_rdms(tmp_path):
    rng = np.random.default_rng(0)
    store = Store(tmp_path / "s.zarr")
    ids = [f"s{i}" for i in range(15)]
    stimuli = store.add_stimuli(ids, content_key({"ids": ids}))
    for layer in ("conv", "fc"):
        store.write("activations", {"model": "net", "layer": layer, "reduction":
                                    {"name": "flatten"}, "stimuli": stimuli, "dtype": "float32"},
                    rng.standard_normal((15, 8)).astype(np.float32))

    table = extreme_subset(str(store.path), 4, seed=0)

    assert table.layer.tolist() == ["conv"] * 4 + ["fc"] * 4
    assert set(table.measure) == {"correlation"}
    rdm = compute_rdm(store, model="net", layer="fc", measure="correlation")
    fc = table[table.layer == "fc"]
    assert_allclose(fc.subset_mean, rdm.subset(list(fc.stimulus_id)).vector().mean(),
                    rtol=1e-6)   # float32 RDM
    assert len(store.entries("rdms")) == 2       # computed once and saved

    read_only = Store(tmp_path / "r.zarr")
    read_only.add_stimuli(ids, stimuli)
    read_only.write("activations", {"model": "net", "layer": "fc", "reduction":
                                    {"name": "flatten"}, "stimuli": stimuli, "dtype": "float32"},
                    np.ones((15, 8), dtype=np.float32) + np.arange(15)[:, None] % 4)
    extreme_subset(Store(read_only.path, mode="r"), 4, measure="euclidean")
    assert read_only.entries("rdms").empty              # mode="r": computed, not saved
    with pytest.raises(ValueError, match=re.escape(
            "stimulus_ids labels the rows of an array; a store records its own. Drop "
            "stimulus_ids.")):
        extreme_subset(store, 4, stimulus_ids=ids)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda D: extreme_subset(D, 1), ValueError, "k must be >= 2, got 1."),
    (lambda D: extreme_subset(D, 3.0), TypeError, "k must be an int, got float 3.0."),
    (lambda D: extreme_subset(D, 9), ValueError,
     "k=9 but the RDM of the input has only 6 stimuli."),
    (lambda D: extreme_subset(D, 3, mode="maximum"), ValueError,
     "Unknown mode 'maximum'. Did you mean 'max'? Available: 'max', 'min'."),
    (lambda D: extreme_subset(D, 3, n_restarts=-1), ValueError,
     "n_restarts must be >= 0, got -1."),
    (lambda D: target_subset(D, 3, 50.0), ValueError,
     "target=50.0 is outside the range of the dissimilarities in the RDM of the input, "
     "[1, 5]; no subset has that mean."),
    (lambda D: target_subset(D, 3, np.nan), ValueError,
     "target must be a finite number (a mean dissimilarity), got nan."),
    (lambda D: extreme_subset(D[:, :4], 3), ValueError,
     "rdm must be an RDM or a square matrix of shape (n_stimuli, n_stimuli), got shape (6, 4)."),
    (lambda D: extreme_subset(D, 3, measure="euclidean", reduction="flatten"), TypeError,
     "Unexpected keyword argument 'reduction': store fields select layers in a store, and rdm "
     "is not a store."),
])
def test_errors(call, error, message):
    points = np.arange(6.0)
    D = np.abs(points[:, None] - points[None, :])
    with pytest.raises(error, match=re.escape(message)):
        call(D)


def test_layer_is_named_in_errors():
    rdm = RDM(np.abs(_symmetric(4, 0)), list("abcd"), {"model": "net", "layer": "fc"})
    with pytest.raises(ValueError, match=re.escape(
            "k=5 but the RDM of layer 'fc', model 'net' has only 4 stimuli.")):
        extreme_subset(rdm, 5)


# ---------------------------------------------------------------- CLI


def test_cli_subsets(tmp_path):
    rng = np.random.default_rng(0)
    store = Store(tmp_path / "s.zarr")
    ids = [f"s{i}" for i in range(20)]
    stimuli = store.add_stimuli(ids, content_key({"ids": ids}))
    store.write("activations", {"model": "net", "layer": "fc", "reduction": {"name": "flatten"},
                                "stimuli": stimuli, "dtype": "float32"},
                rng.standard_normal((20, 6)).astype(np.float32))
    runner = CliRunner()

    result = runner.invoke(cli, ["subsets", "--store", str(store.path), "--k", "5", "--seed",
                                 "0", "--mode", "min"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(store.path / "tables" / "subsets.csv")
    assert len(table) == 5 and set(table["mode"]) == {"min"}

    result = runner.invoke(cli, ["subsets", "--store", str(store.path), "--k", "5",
                                 "--target", "1.0", "--table", str(tmp_path / "t.parquet")])
    assert result.exit_code == 0, result.output
    assert abs(pd.read_parquet(tmp_path / "t.parquet").subset_mean.iloc[0] - 1.0) < 0.01
