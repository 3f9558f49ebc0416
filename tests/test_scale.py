"""The parts that make the real workload fit: sketches, the column engine, the RDM layout.

Everything here is small and fast; benchmarks/bench_scale.py runs the real sizes.
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from deeprsa import RDM, Store, compute_rdm
from deeprsa.extract.reductions import _canonical_reduction, _sketch, _sketch_matrix
from deeprsa.rdm._columns import ColumnGram, column_form
from deeprsa.rdm._stored import compute_by_columns
from deeprsa.rdm.measures import _MEASURES

COLUMN_MEASURES = [m for m in sorted(_MEASURES) if column_form(_MEASURES[m]) is not None]


# ----------------------------------------------------------------------------- sketch


def test_the_sketch_is_seeded_and_reproducible():
    x = torch.relu(torch.randn(6, 4, 20, 20, generator=torch.Generator().manual_seed(0)))
    a = _sketch(x, k=64, seed=3)
    assert torch.equal(a, _sketch(x, k=64, seed=3))
    assert not torch.equal(a, _sketch(x, k=64, seed=4))
    assert a.shape == (6, 64)
    # The matrix depends on the seed and the sizes only (not on the process or device).
    rows, cols, values = _sketch_matrix(1600, 64, 3)
    again = _sketch_matrix.__wrapped__(1600, 64, 3)
    for got, expected in zip((rows, cols, values), again, strict=True):
        assert_array_equal(got, expected)


def test_the_sketch_keeps_narrow_layers_whole():
    x = torch.randn(5, 30)
    assert torch.equal(_sketch(x, k=30), x)
    assert _canonical_reduction("sketch:256", "fc") == {"name": "sketch", "k": 256, "seed": 0,
                                                        "centre": True}


def test_the_matrix_is_very_sparse_with_the_right_scale():
    d, k = 10_000, 200
    rows, cols, values = _sketch_matrix(d, k, 0)
    s = np.sqrt(d)
    # Li, Hastie & Church: each entry is nonzero with probability 1/s, |value| sqrt(s / k).
    assert abs(len(rows) / (d * k) - 1 / s) < 5 * np.sqrt(1 / s / (d * k))
    assert_allclose(np.abs(values), np.sqrt(s / k))
    assert len(set(zip(rows, cols, strict=True))) == len(rows)  # no entry drawn twice


def test_sketched_inner_products_are_unbiased():
    # E[<R^T x, R^T y>] = <x, y>: the mean over many seeds converges to the exact inner
    # products, within a few standard errors of the sample mean.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 2500))
    exact = X @ X.T
    seeds = 400
    draws = np.stack([(lambda Y: Y @ Y.T)(_sketch(torch.tensor(X, dtype=torch.float32),
                                                  k=50, seed=s, centre=False).double().numpy())
                      for s in range(seeds)])
    error = np.abs(draws.mean(0) - exact)
    standard_error = draws.std(0) / np.sqrt(seeds)
    assert (error < 4 * standard_error + 1e-6).all(), (error / standard_error).max()


def test_centring_before_the_sketch_approximates_correlation():
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((30, 4)) @ rng.standard_normal((4, 5000))  # varied geometry
    X = latent + 0.5 * rng.standard_normal((30, 5000)) + 3.0 + rng.random((30, 1)) * 4
    Y = _sketch(torch.tensor(X, dtype=torch.float32), k=2000, seed=0).numpy()
    exact = compute_rdm(X, measure="correlation", dtype="float64").vector()
    sketched = compute_rdm(Y, measure="correlation", dtype="float64").vector()
    from scipy.stats import spearmanr

    assert spearmanr(exact, sketched)[0] > 0.9
    raw = _sketch(torch.tensor(X, dtype=torch.float32), k=2000, seed=0, centre=False).numpy()
    uncentred = compute_rdm(raw, measure="correlation", dtype="float64").vector()
    assert spearmanr(exact, uncentred)[0] < spearmanr(exact, sketched)[0]


# ----------------------------------------------------------------------------- columns


@pytest.fixture
def wide():
    rng = np.random.default_rng(2)
    X = np.maximum(rng.standard_normal((23, 700)), 0) + rng.random((23, 1)) * 2
    X[4] = 1.5  # a constant row
    X[9] = 0.0  # an all-zero row
    return X


@pytest.mark.parametrize("measure", COLUMN_MEASURES)
@pytest.mark.parametrize("width", [1, 64, 700], ids=["1 unit", "64 units", "one block"])
def test_the_column_engine_equals_the_row_engine(wide, measure, width):
    # float64 sums in a different order: 1e-10.
    rows = compute_rdm(wide, measure=measure, dtype="float64")
    gram = ColumnGram(len(wide), _MEASURES[measure], dict(_MEASURES[measure].params),
                      dtype=np.float64)
    for c0 in range(0, wide.shape[1], width):
        gram.add(wide[:, c0:c0 + width])
    D, constant = gram.finish()
    assert_allclose(D, rows.matrix, rtol=0, atol=1e-10)
    assert_array_equal(D, D.T)
    assert_array_equal(np.diag(D), 0)


def test_spearman_has_no_column_form():
    with pytest.raises(ValueError, match="has no column form"):
        ColumnGram(3, _MEASURES["spearman"], {}, dtype=np.float64)


def test_a_wide_stored_layer_is_read_by_columns_once(tmp_path, wide, monkeypatch):
    from deeprsa.rdm import _stored

    store = Store(tmp_path / "s.zarr")
    ids = [f"s{i}" for i in range(len(wide))]
    store.add_stimuli(ids, "h")
    key = store.write("activations", {"model": "m", "layer": "wide", "reduction": "flatten",
                                      "stimuli": "h"}, wide.astype(np.float32),
                      chunks=(8, 64))
    reference = compute_rdm(wide.astype(np.float32), measure="correlation")
    monkeypatch.setattr(_stored, "_CACHE_BYTES", 1000)  # this layer is "wider than memory"
    reads = []
    array = store.array

    def counted(k):
        a = array(k)

        class Counted:
            shape, chunks, dtype = a.shape, a.chunks, a.dtype

            def __getitem__(self, index):
                reads.append(index)
                return a[index]

        return Counted()

    monkeypatch.setattr(store, "array", counted)
    rdm = compute_rdm(store, key=key)
    assert all(index[0] == slice(None) for index in reads)  # whole columns: every row
    covered = sum(len(range(*index[1].indices(wide.shape[1]))) for index in reads)
    assert covered == wide.shape[1]  # each unit read once
    assert_allclose(rdm.matrix, reference.matrix, rtol=0, atol=2e-6)  # float32 sums
    assert_allclose(compute_by_columns(array(key), _MEASURES["correlation"], {},
                                       dtype=np.float32)[0], rdm.matrix, atol=0)


# ----------------------------------------------------------------------------- layout


def test_rdms_are_stored_as_their_upper_tiles(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 12)).astype(np.float32)
    store = Store(tmp_path / "s.zarr")
    ids = [f"s{i}" for i in range(40)]
    store.add_stimuli(ids, "h")
    key = store.write("activations", {"model": "m", "layer": "l", "reduction": "flatten",
                                      "stimuli": "h"}, X)
    rdm = compute_rdm(store, key=key, batch_size=16)
    raw = store.read(rdm.provenance["key"])
    lower = np.tril_indices(40, k=-1)
    # Tiles wholly below the diagonal were never written (zeros, no files) ...
    assert_array_equal(raw[16:, :16][np.tril_indices(24, k=-9)], 0)
    chunk_files = list((store.path / store.entry(rdm.provenance["key"])["path"]).rglob("c/*/*"))
    assert len(chunk_files) == 6  # tiles (0,0) (0,1) (0,2) (1,1) (1,2) (2,2) of 3 x 3
    # ... and loading mirrors them back.
    loaded = RDM.load(store, rdm.provenance["key"])
    assert_array_equal(loaded.matrix, rdm.matrix)
    assert_array_equal(loaded.matrix[lower], loaded.matrix.T[lower])
    assert store.entry(rdm.provenance["key"])["attrs"]["layout"] == "upper"


@pytest.mark.parametrize("offset", [1e0, 1e3, 1e5])
def test_the_column_engine_keeps_float32_precision_under_large_means(offset):
    # Correlation ignores a per-stimulus offset; the column engine must too, in float32.
    rng = np.random.default_rng(4)
    X = rng.standard_normal((15, 3000)) + offset * (1 + rng.random((15, 1)))
    X = X.astype(np.float32).astype(np.float64)  # the data a float32 store holds
    exact = compute_rdm(X, measure="correlation", dtype="float64").matrix
    gram = ColumnGram(15, _MEASURES["correlation"], {}, dtype=np.float32)
    for c0 in range(0, 3000, 256):
        gram.add(X[:, c0:c0 + 256].astype(np.float32))
    assert_allclose(gram.finish()[0], exact, atol=1e-4)  # float32: 1e-4


# ----------------------------------------------------------------------------- raw chunks


def test_raw_arrays_read_and_write_valid_zarr_chunk_files(tmp_path):
    import zarr

    from deeprsa.store._raw import RawArray

    store = Store(tmp_path / "s.zarr")
    X = np.random.default_rng(5).standard_normal((23, 10)).astype(np.float32)
    key, array, _ = store.create("activations", {"layer": "l"}, shape=X.shape, chunks=(4, 3),
                                 codec="none")
    assert isinstance(array, RawArray)
    for start in range(0, 23, 4):  # batches as extraction writes them
        array[start:start + 4] = X[start:start + 4]
    store.mark_progress(key, 23, complete=True)
    assert_array_equal(zarr.open_array(store.path / store.entry(key)["path"])[...], X)  # Zarr reads it
    raw = store.array(key)
    assert isinstance(raw, RawArray)
    for index in [np.s_[...], np.s_[5:17], np.s_[:, 2:8], np.s_[3:21, 1:10], np.s_[7]]:
        assert_array_equal(raw[index], X[index])
    assert_array_equal(store.read(key), X)
    with pytest.raises(IndexError, match="whole rows from a chunk boundary"):
        array[2:6] = X[2:6]


def test_uncompressed_extraction_equals_the_compressed_one(tmp_path, digits_small):
    from deeprsa import extract

    a = extract("zoo:convnet_s0", digits_small, ["conv2", "fc"], Store(tmp_path / "a"),
                batch_size=8, progress=False)
    b = extract("zoo:convnet_s0", digits_small, ["conv2", "fc"], Store(tmp_path / "b"),
                batch_size=8, codec="none", progress=False)
    for key_a, key_b in zip(a["key"], b["key"], strict=True):
        assert key_a == key_b  # how it is compressed is not part of what it is
        assert_array_equal(Store(tmp_path / "a").read(key_a), Store(tmp_path / "b").read(key_b))
