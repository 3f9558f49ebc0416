"""Tests of first-order RDMs: the engine, the measures, the RDM classes and the store path."""

import re
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import pdist, squareform
from scipy.stats import percentileofscore, rankdata

from _gpu import needs_cuda, needs_no_cuda
from deeprsa.rdm import (
    RDM,
    ConstantPatternWarning,
    RDMs,
    compute_rdm,
    compute_rdms,
    describe_measures,
    list_measures,
    register_measure,
)
from deeprsa.rdm import _stored as rdm_module
from deeprsa.rdm.measures import _MEASURES
from deeprsa.store import Store

# Tolerances (the contract): float64 agrees with a float64 reference to 1e-6,
# float32 to 1e-4. Equivalent float64 computations (tiling, streaming, stimulus order)
# differ only by the order of floating-point sums: 1e-12.
F64 = {"rtol": 1e-6, "atol": 1e-6}
F32 = {"rtol": 1e-4, "atol": 1e-4}
SAME64 = {"rtol": 0, "atol": 1e-12}


def _ranked(X):
    return rankdata(X, axis=1)


# measure -> reference computed by scipy on float64 data
REFERENCES = {
    "correlation": lambda X: pdist(X, "correlation"),
    "spearman": lambda X: pdist(_ranked(X), "correlation"),
    "cosine": lambda X: pdist(X, "cosine"),
    "euclidean": lambda X: pdist(X, "euclidean"),
    "sqeuclidean": lambda X: pdist(X, "sqeuclidean"),
    "normalized_euclidean": lambda X: pdist(X, "euclidean") / np.sqrt(X.shape[1]),
}


@pytest.fixture
def activations():
    # An offset, as ReLU activations have: stresses the |x|^2 + |y|^2 - 2xy route.
    return np.random.default_rng(0).standard_normal((12, 30)) + 2.0


@pytest.fixture
def ids():
    return [f"s{i}" for i in range(12)]


@pytest.fixture(scope="module")
def network_activations():
    """Real activations: scikit-learn digits through a seeded conv layer and a ReLU."""
    torch = pytest.importorskip("torch")
    from sklearn.datasets import load_digits

    images = torch.tensor(load_digits().images[:60] / 16.0, dtype=torch.float32)[:, None]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten())
    with torch.no_grad():
        return net(images).numpy().astype(np.float64)


class InaccessibleArray:
    """A lazily sliced array that refuses to be read whole (cf. xarray's tests)."""

    def __init__(self, array, max_rows):
        self.array, self.max_rows = array, max_rows
        self.shape, self.dtype, self.reads = array.shape, array.dtype, []

    def __getitem__(self, index):
        rows = range(*index.indices(self.shape[0])) if isinstance(index, slice) else None
        if rows is None or len(rows) > self.max_rows:
            raise AssertionError(f"read {index!r}: more than {self.max_rows} rows at once")
        self.reads.append((rows.start, rows.stop))
        return np.asarray(self.array[index])

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole array was converted")


def make_store(tmp_path, layers, *, ids, model="m", stimuli="h1", chunks=5):
    """A store with complete activations (float32, chunked by rows) for ``layers``."""
    store = Store(tmp_path / "store.zarr")
    store.add_stimuli(ids, stimuli)
    keys = {}
    for layer, X in layers.items():
        fields = {"model": model, "layer": layer, "reduction": "flatten",
                  "stimuli": stimuli, "dtype": "float32"}
        key, array, _ = store.create("activations", fields, shape=X.shape,
                                     chunks=(chunks, X.shape[1]))
        array[...] = X.astype(np.float32)
        store.mark_progress(key, len(X), complete=True)
        keys[layer] = key
    return store, keys


# ---------------------------------------------------------------- agreement with references
def test_every_builtin_measure_has_a_reference():
    assert sorted(REFERENCES) == list_measures()


@pytest.mark.parametrize("measure", list(REFERENCES))
@pytest.mark.parametrize("dtype, tol", [("float64", F64), ("float32", F32)])
def test_agrees_with_scipy_pdist(activations, measure, dtype, tol):
    rdm = compute_rdm(activations, measure=measure, dtype=dtype)
    assert rdm.matrix.dtype == np.dtype(dtype)
    assert_allclose(rdm.vector(), REFERENCES[measure](activations), **tol)


@pytest.mark.parametrize("measure", list(REFERENCES))
@pytest.mark.parametrize("dtype, tol", [("float64", F64), ("float32", F32)])
def test_agrees_with_scipy_on_network_activations(network_activations, measure, dtype, tol):
    X = network_activations
    assert (X == 0).mean() > 0.1  # ReLU: many exact zeros, the realistic case
    rdm = compute_rdm(X, measure=measure, dtype=dtype, batch_size=16)
    assert_allclose(rdm.vector(), REFERENCES[measure](X), **tol)


def test_sqeuclidean_per_feature_divides_by_n_features(activations):
    rdm = compute_rdm(activations, measure="sqeuclidean", dtype="float64", params={"per_feature": True})
    assert_allclose(rdm.vector(), pdist(activations, "sqeuclidean") / 30, **F64)
    assert rdm.provenance["params"] == {"per_feature": True}


@pytest.mark.parametrize("ours, theirs, params", [
    ("correlation", "correlation", {}),
    ("sqeuclidean", "euclidean", {"per_feature": True}),
])
@pytest.mark.parametrize("dtype, tol", [("float64", F64), ("float32", F32)])
def test_agrees_with_rsatoolbox(network_activations, ours, theirs, params, dtype, tol):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    X = network_activations[:, network_activations.std(axis=0) > 0]
    X = X[np.ptp(X, axis=1) > 0]  # rsatoolbox gives NaN for constant rows
    expected = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method=theirs)
    rdm = compute_rdm(X, measure=ours, dtype=dtype, params=params)
    assert_allclose(rdm.vector(), expected.dissimilarities[0], **tol)


# ---------------------------------------------------------------- properties of every measure
@pytest.mark.parametrize("measure", list_measures())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_symmetric_with_exact_zero_diagonal(activations, measure, dtype):
    D = compute_rdm(activations, measure=measure, dtype=dtype, batch_size=5).matrix
    assert_array_equal(D, D.T)
    assert_array_equal(np.diagonal(D), 0)
    assert D.min() >= 0


@pytest.mark.parametrize("measure", list_measures())
def test_rdm_follows_stimulus_order(activations, ids, measure):
    # Shuffling the stimuli must shuffle the RDM the same way, nothing else.
    order = np.random.default_rng(1).permutation(len(ids))
    rdm = compute_rdm(activations, measure=measure, stimulus_ids=ids, dtype="float64")
    shuffled = compute_rdm(activations[order], measure=measure,
                           stimulus_ids=[ids[i] for i in order], dtype="float64")
    assert_allclose(shuffled.subset(ids).matrix, rdm.matrix, **SAME64)


@pytest.mark.parametrize("measure", list_measures())
@pytest.mark.parametrize("batch_size", [1, 5, 11])
def test_tiled_equals_untiled(activations, measure, batch_size):
    untiled = compute_rdm(activations, measure=measure, dtype="float64", batch_size=12)
    tiled = compute_rdm(activations, measure=measure, dtype="float64", batch_size=batch_size)
    assert_allclose(tiled.matrix, untiled.matrix, **SAME64)


@pytest.mark.parametrize("measure", list_measures())
@pytest.mark.parametrize("batch_size", [3, 5, 12])
def test_streamed_rows_equal_in_memory_and_are_never_read_whole(activations, measure,
                                                                batch_size):
    lazy = InaccessibleArray(activations, max_rows=batch_size)
    streamed = compute_rdm(lazy, measure=measure, dtype="float64", batch_size=batch_size)
    in_memory = compute_rdm(activations, measure=measure, dtype="float64")
    assert_allclose(streamed.matrix, in_memory.matrix, **SAME64)
    assert lazy.reads and all(stop - start <= batch_size for start, stop in lazy.reads)


@pytest.mark.parametrize("measure", list_measures())
def test_torch_cpu_path_matches_numpy(activations, measure):
    pytest.importorskip("torch")
    numpy_rdm = compute_rdm(activations, measure=measure)
    torch_rdm = compute_rdm(activations, measure=measure, device="cpu", batch_size=5)
    assert_allclose(torch_rdm.matrix, numpy_rdm.matrix, rtol=1e-5, atol=1e-5)
    assert torch_rdm.provenance["device"] == "cpu"


@needs_cuda
@pytest.mark.parametrize("measure", list_measures())
def test_cuda_path_matches_numpy(network_activations, measure):
    numpy_rdm = compute_rdm(network_activations, measure=measure)
    cuda_rdm = compute_rdm(network_activations, measure=measure, device="cuda")
    assert_allclose(cuda_rdm.matrix, numpy_rdm.matrix, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("measure", ["correlation", "spearman"])
def test_correlation_unchanged_by_positive_affine_change_per_stimulus(activations, measure):
    rng = np.random.default_rng(2)
    scale = rng.uniform(0.1, 10, size=(len(activations), 1))
    shift = rng.uniform(-5, 5, size=(len(activations), 1))
    before = compute_rdm(activations, measure=measure, dtype="float64")
    after = compute_rdm(activations * scale + shift, measure=measure, dtype="float64")
    assert_allclose(after.matrix, before.matrix, **SAME64)


def test_spearman_unchanged_by_a_monotone_map(activations):
    before = compute_rdm(activations, measure="spearman", dtype="float64")
    after = compute_rdm(np.exp(activations), measure="spearman", dtype="float64")
    assert_allclose(after.matrix, before.matrix, **SAME64)


@pytest.mark.parametrize("measure", ["euclidean", "sqeuclidean", "normalized_euclidean"])
def test_euclidean_measures_ignore_a_common_shift(activations, measure):
    before = compute_rdm(activations, measure=measure, dtype="float64")
    after = compute_rdm(activations + 1e3, measure=measure, dtype="float64")
    assert_allclose(after.matrix, before.matrix, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("measure", ["correlation", "spearman", "cosine"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_are_clipped_to_the_measure_range(measure, dtype):
    # Identical and opposite rows: 1 - r lands a rounding error outside [0, 2] unclipped.
    x = np.random.default_rng(3).standard_normal((20, 50))
    X = np.concatenate([x, x, -x])
    v = compute_rdm(X, measure=measure, dtype=dtype).vector()
    assert 0 <= v.min() and v.max() <= 2


# ---------------------------------------------------------------- constant rows
@pytest.mark.parametrize("measure", ["correlation", "spearman"])
def test_constant_rows_warn_with_ids_and_get_the_documented_values(activations, ids, measure):
    X = activations.copy()
    X[3] = 0.0  # a stimulus silenced by a ReLU
    X[7] = 0.1  # a constant that float32 cannot represent exactly
    msg = (f"2 stimuli have constant activations, for which the {measure} measure is "
           "undefined: ['s3', 's7']. They get dissimilarity 1 (no similarity) to every other "
           "stimulus and 0 between two constant rows.")
    with pytest.warns(ConstantPatternWarning, match=re.escape(msg)):
        D = compute_rdm(X, measure=measure, stimulus_ids=ids, batch_size=5).matrix
    assert not np.isnan(D).any()
    others = [i for i in range(12) if i not in (3, 7)]
    assert_array_equal(D[3, others], 1)
    assert_array_equal(D[7, others], 1)
    assert D[3, 7] == D[7, 3] == 0


def test_all_zero_rows_warn_for_cosine_but_constant_rows_do_not(activations, ids):
    X = activations.copy()
    X[0] = 0.0
    X[1] = 0.0
    X[2] = 5.0  # constant but not zero: cosine is defined
    msg = ("2 stimuli have all-zero activations, for which the cosine measure is undefined: "
           "['s0', 's1']. They get dissimilarity 1 (no similarity) to every other stimulus "
           "and 0 between two all-zero rows.")
    with pytest.warns(ConstantPatternWarning, match=re.escape(msg)):
        D = compute_rdm(X, measure="cosine", stimulus_ids=ids).matrix
    assert_array_equal(D[0, 2:], 1)
    assert D[0, 1] == 0
    assert_allclose(D[2, 3:], pdist(X[2:], "cosine")[:9], **F32)


def test_a_single_constant_row_is_named(activations, ids):
    X = activations.copy()
    X[4] = 2.0
    msg = "1 stimulus has constant activations"
    with pytest.warns(ConstantPatternWarning, match=re.escape(msg)):
        compute_rdm(X, stimulus_ids=ids)


def test_many_constant_rows_are_counted_beyond_the_first_five(ids):
    X = np.zeros((12, 4))
    X[:2] = [[1, 2, 3, 4], [4, 3, 2, 1]]
    msg = "10 stimuli have constant activations, for which the correlation measure is " \
          "undefined: ['s2', 's3', 's4', 's5', 's6'] and 5 more. They get"
    with pytest.warns(ConstantPatternWarning, match=re.escape(msg)):
        compute_rdm(X, stimulus_ids=ids)


@pytest.mark.parametrize("measure", ["euclidean", "sqeuclidean", "normalized_euclidean"])
def test_constant_rows_are_fine_for_euclidean_measures(activations, measure, recwarn):
    X = activations.copy()
    X[3] = 0.0
    rdm = compute_rdm(X, measure=measure, dtype="float64")
    assert not [w for w in recwarn if issubclass(w.category, ConstantPatternWarning)]
    assert_allclose(rdm.vector(), REFERENCES[measure](X), **F64)


def test_constant_warning_points_at_the_caller(activations):
    X = activations.copy()
    X[0] = 1.0
    with pytest.warns(ConstantPatternWarning) as record:
        compute_rdm(X)
    assert record[0].filename == __file__


# ---------------------------------------------------------------- input errors
@pytest.mark.parametrize("kwargs, msg", [
    ({"measure": "corelation"},
     "Unknown measure 'corelation'. Did you mean 'correlation'? Available: 'correlation', "),
    ({"measure": 3}, "measure must be a str naming a registered measure, got int; see "
                     "list_measures()."),
    ({"measure": "correlation", "params": {"per_feature": True}},
     "Measure 'correlation' takes no parameters, got 'per_feature'."),
    ({"measure": "sqeuclidean", "params": {"per_featur": True}},
     "Unknown parameter 'per_featur' for measure 'sqeuclidean'. Did you mean 'per_feature'? "
     "Available: 'per_feature'."),
    ({"measure": "sqeuclidean", "params": {"per_feature": "yes"}},
     "per_feature must be True or False, got 'yes'."),
    ({"dtype": "float16"}, "dtype must be 'float32' or 'float64', got 'float16'."),
    ({"dtype": "double precision"},
     "dtype must be 'float32' or 'float64', got 'double precision'."),
    ({"device": "gpu0"}, "device must be a torch device such as 'cpu' or 'cuda', got 'gpu0'."),
    ({"batch_size": 0}, "batch_size must be a positive int (rows per tile), got 0."),
    ({"batch_size": 2.5}, "batch_size must be a positive int (rows per tile), got 2.5."),
    ({"stimulus_ids": ["a", "b"]}, "Got 2 stimulus_ids for 12 rows of activations."),
    ({"key": "abc"}, "key= selects activations in a store; X is an array. Pass the store as "
                     "X, or drop key."),
], ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_options_raise_helpful_errors(activations, kwargs, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdm(activations, **kwargs)


@needs_no_cuda
def test_cuda_without_a_gpu_says_so(activations):
    msg = ("device='cuda' but torch finds no CUDA GPU here; leave device=None to compute on "
           "the CPU.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdm(activations, device="cuda")


@pytest.mark.parametrize("X, msg", [
    (np.zeros((3, 4, 5)), "activations must be 2-D (n_stimuli, n_units), got shape (3, 4, 5). "
                          "Flatten or pool the spatial dimensions first, e.g. "
                          "X.reshape(len(X), -1)."),
    (np.zeros((1, 4)), "An RDM needs at least 2 stimuli, got 1."),
    (np.zeros((3, 0)), "activations have no units (0 columns)."),
    (np.array([["a", "b"], ["c", "d"]]), "activations must be numbers, got dtype <U1."),
], ids=["3-D", "one row", "no units", "strings"])
def test_invalid_activations_raise_helpful_errors(X, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdm(X)


@pytest.mark.parametrize("measure", list_measures())
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinite_rows_are_reported(activations, measure, bad):
    X = activations.copy()
    X[7, 3] = bad
    msg = ("The activations hold NaN or infinity in 1 of 12 stimuli: ['7']. No dissimilarity "
           "is defined there: drop those stimuli")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdm(InaccessibleArray(X, max_rows=5), measure=measure, batch_size=5)


def test_duplicate_ids_are_refused(activations):
    ids = ["a", "b", "a"] + [f"x{i}" for i in range(9)]
    msg = ("stimulus_ids contains 1 duplicate id(s), e.g. ['a']; every stimulus needs its "
           "own id.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdm(activations, stimulus_ids=ids)


def test_a_single_string_is_not_a_list_of_ids():
    msg = "stimulus_ids must be a sequence of str, got the single string 'ab'."
    with pytest.raises(TypeError, match=re.escape(msg)):
        RDM(np.zeros((2, 2)), "ab")


# ---------------------------------------------------------------- user measures
@pytest.fixture
def manhattan():
    def cityblock(A, B, power=1.0):
        """Sum of absolute differences, raised to ``power``."""
        return (np.abs(A[:, None, :] - B[None, :, :]).sum(-1)) ** power

    register_measure("cityblock_test", cityblock)
    yield "cityblock_test"
    _MEASURES.pop("cityblock_test")


def test_user_measures_are_tiled_and_take_parameters(activations, manhattan):
    plain = compute_rdm(activations, measure=manhattan, dtype="float64", batch_size=5)
    assert_allclose(plain.vector(), pdist(activations, "cityblock"), **F64)
    squared = compute_rdm(InaccessibleArray(activations, 4), measure=manhattan, dtype="float64", batch_size=4, params={"power": 2.0})
    assert_allclose(squared.vector(), pdist(activations, "cityblock") ** 2, **F64)
    assert squared.provenance["params"] == {"power": 2.0}
    assert describe_measures().set_index("name").loc[manhattan, "description"] == \
        "Sum of absolute differences, raised to ``power``."


def test_user_measures_run_with_numpy_only(activations, manhattan):
    msg = ("Measure 'cityblock_test' is a user function that runs with numpy; device= "
           "applies to the built-in measures only.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdm(activations, measure=manhattan, device="cpu")


def test_user_measure_of_the_wrong_shape_is_reported(activations):
    register_measure("broken_test", lambda A, B: np.zeros(len(A)))
    try:
        msg = ("Measure 'broken_test' returned shape (5,) for row tiles of 5 and 5 stimuli; "
               "it must return (len(A), len(B)).")
        with pytest.raises(ValueError, match=re.escape(msg)):
            compute_rdm(activations, measure="broken_test", batch_size=5)
    finally:
        _MEASURES.pop("broken_test")


def test_registering_a_name_twice_is_an_error():
    msg = "A measure named 'correlation' is already registered by deeprsa.rdm.measures."
    with pytest.raises(ValueError, match=re.escape(msg)):
        register_measure("correlation", lambda A, B: A @ B.T)


def test_registering_a_non_callable_is_an_error():
    with pytest.raises(TypeError, match=re.escape("register_measure needs a callable, got int.")):
        register_measure("number_test", 3)


def test_describe_measures_lists_every_measure():
    table = describe_measures()
    assert list(table["name"]) == list_measures()
    assert table.set_index("name").loc["sqeuclidean", "params"] == "per_feature=False"
    assert (table["description"].str.len() > 0).all()


# ---------------------------------------------------------------- the RDM class
def test_vector_is_scipy_squareform_order(activations):
    rdm = compute_rdm(activations, dtype="float64")
    assert_array_equal(rdm.vector(), squareform(rdm.matrix, checks=False))
    back = RDM.from_vector(rdm.vector(), rdm.stimulus_ids, rdm.provenance)
    assert_array_equal(back.matrix, rdm.matrix)


def test_matrix_vector_and_provenance_are_read_only(activations):
    given = np.array([[0.0, 1.0], [1.0, 0.0]])
    rdm = RDM(given, ["a", "b"], {"params": {"p": 1}})
    given[0, 1] = 5  # the RDM holds its own copy
    assert rdm.matrix[0, 1] == 1
    with pytest.raises(ValueError, match="read-only"):
        rdm.matrix[0, 1] = 2
    with pytest.raises(ValueError, match="read-only"):
        rdm.vector()[0] = 2
    with pytest.raises(TypeError):
        rdm.provenance["measure"] = "x"


def test_subset_restricts_and_reorders(activations, ids):
    rdm = compute_rdm(activations, stimulus_ids=ids, dtype="float64")
    sub = rdm.subset(["s5", "s1", "s9"])
    assert sub.stimulus_ids == ("s5", "s1", "s9")
    assert_array_equal(sub.matrix, rdm.matrix[np.ix_([5, 1, 9], [5, 1, 9])])


def test_subset_names_missing_ids(activations, ids):
    rdm = compute_rdm(activations, stimulus_ids=ids)
    msg = "1 requested stimulus id(s) are not in this RDM, e.g. ['s99']. Did you mean 's9'?"
    with pytest.raises(KeyError, match=re.escape(msg)):
        rdm.subset(["s1", "s99"])


def test_rank_averages_ties_and_percentile_matches_scipy():
    rdm = RDM.from_vector([0.5, 0.2, 0.5, 0.9, 0.1, 0.2], ["a", "b", "c", "d"],
                          {"measure": "correlation", "key": "abc"})
    ranks = rdm.rank()
    assert_array_equal(ranks.vector(), rankdata(rdm.vector()))
    assert_array_equal(np.diagonal(ranks.matrix), 0)
    v = rdm.vector()
    assert_allclose(rdm.percentile().vector(), percentileofscore(v, v, kind="rank"),
                    rtol=1e-12)
    assert ranks.provenance["transform"] == "rank"
    assert rdm.percentile().provenance["transform"] == "percentile"
    assert "key" not in ranks.provenance  # a derived RDM is not the stored one


def test_to_frame_has_one_row_per_pair_with_provenance():
    rdm = RDM.from_vector([1, 2, 3], ["a", "b", "c"],
                          {"model": "m", "measure": "correlation", "params": {"x": 1}})
    frame = rdm.to_frame()
    assert frame[["stimulus_a", "stimulus_b"]].values.tolist() == \
        [["a", "b"], ["a", "c"], ["b", "c"]]
    assert_array_equal(frame["dissimilarity"], [1, 2, 3])
    assert set(frame["model"]) == {"m"}
    assert set(frame["params"]) == {'{"x": 1}'}


def test_nearly_symmetric_matrices_are_repaired():
    m = np.array([[1e-12, 1.0], [1.0 + 1e-12, 0.0]])
    assert_array_equal(RDM(m, ["a", "b"]).matrix, [[0, 1 + 5e-13], [1 + 5e-13, 0]])


@pytest.mark.parametrize("matrix, ids, msg", [
    (np.zeros((2, 3)), ["a", "b"], "matrix has shape (2, 3) but 2 stimulus ids were given; an "
                                   "RDM needs a square matrix of shape (n_stimuli, n_stimuli) = "
                                   "(2, 2)."),
    (np.zeros((1, 1)), ["a"], "An RDM needs at least 2 stimuli, got 1."),
    ([[0, 1], [2, 0]], ["a", "b"], "matrix is not symmetric (largest |m - m.T| is 1); an RDM "
                                   "holds one dissimilarity per pair. Symmetrise it first, e.g. "
                                   "(m + m.T) / 2."),
    ([[1, 0.5], [0.5, 1]], ["a", "b"], "matrix has a nonzero diagonal (largest |entry| 1); the "
                                       "dissimilarity of a stimulus to itself is 0. Is this a "
                                       "similarity matrix? Use 1 - m."),
    ([[0, np.nan], [np.nan, 0]], ["a", "b"], "matrix holds NaN or infinity at 2 entries, first "
                                             "at (0, 1) = ('a', 'b'). Remove those stimuli with "
                                             "subset()."),
], ids=["not square", "one stimulus", "asymmetric", "similarity", "nan"])
def test_invalid_matrices_raise_helpful_errors(matrix, ids, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        RDM(matrix, ids)


@pytest.mark.parametrize("vector, msg", [
    ([1, 2], "vector has shape (2,); 3 stimuli need a 1-D vector of n * (n - 1) / 2 = 3 "
             "dissimilarities (the upper triangle)."),
    ([1, np.inf, 3], "vector holds NaN or infinity at 1 position(s), first at 1."),
])
def test_from_vector_checks_its_input(vector, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        RDM.from_vector(vector, ["a", "b", "c"])


def test_rsatoolbox_export(activations, ids):
    pytest.importorskip("rsatoolbox")
    rdm = compute_rdm(activations, stimulus_ids=ids, model="m", layer="fc")
    exported = rdm.to_rsatoolbox()
    assert_allclose(exported.dissimilarities[0], rdm.vector(), rtol=1e-7)
    assert exported.pattern_descriptors["stimulus_ids"] == ids
    assert exported.rdm_descriptors["layer"] == ["fc"]
    assert exported.dissimilarity_measure == "correlation"


def test_rsatoolbox_export_names_the_extra_when_missing(activations, monkeypatch):
    monkeypatch.setitem(sys.modules, "rsatoolbox", None)
    msg = 'Exporting to rsatoolbox needs the optional package rsatoolbox: pip install ' \
          '"deeprsa[rsatoolbox]"'
    with pytest.raises(ImportError, match=re.escape(msg)):
        compute_rdm(activations).to_rsatoolbox()


# ---------------------------------------------------------------- the RDMs collection
def test_rdms_collection_metadata_vectors_and_indexing(activations, ids):
    rdms = RDMs([compute_rdm(activations, measure=m, stimulus_ids=ids, layer=f"l{i}")
                 for i, m in enumerate(["correlation", "euclidean", "sqeuclidean"])])
    assert len(rdms) == 3
    assert rdms.stimulus_ids == tuple(ids)
    assert list(rdms.metadata["measure"]) == ["correlation", "euclidean", "sqeuclidean"]
    assert list(rdms.metadata["params"]) == ["{}", "{}", '{"per_feature": false}']
    assert rdms.vectors().shape == (3, 66)
    assert rdms.vectors(dtype=np.float64).dtype == np.float64
    assert_array_equal(rdms.vectors()[1], rdms[1].vector())
    assert isinstance(rdms[0], RDM)
    assert [r.provenance["layer"] for r in rdms[1:]] == ["l1", "l2"]
    assert [r.provenance["layer"] for r in rdms[[2, 0]]] == ["l2", "l0"]
    assert [r.provenance["layer"] for r in rdms[np.array([True, False, True])]] == ["l0", "l2"]
    assert rdms.subset(ids[:4]).stimulus_ids == tuple(ids[:4])


def test_rdms_refuses_differing_stimuli(activations, ids):
    a = compute_rdm(activations, stimulus_ids=ids)
    other = [f"t{i}" for i in range(10)] + ids[:2]
    msg = ("RDM 1 has other stimulus ids than RDM 0 (12 vs 12 stimuli): 10 missing, e.g. "
           "['s2', 's3', 's4']; 10 extra, e.g. ['t0', 't1', 't2']. Restrict both to shared ids "
           "with subset().")
    with pytest.raises(ValueError, match=re.escape(msg)):
        RDMs([a, compute_rdm(activations, stimulus_ids=other)])
    msg = ("RDM 1 has the same stimuli as RDM 0 in another order; align it with "
           "rdm.subset(rdms[0].stimulus_ids).")
    with pytest.raises(ValueError, match=re.escape(msg)):
        RDMs([a, compute_rdm(activations, stimulus_ids=ids[::-1])])


@pytest.mark.parametrize("items, error, msg", [
    ([], ValueError, "RDMs needs at least one RDM, got none."),
    ([np.zeros((2, 2))], TypeError, "RDMs holds RDM objects; item 0 is a ndarray. Wrap "
                                    "matrices with RDM(matrix, stimulus_ids)."),
])
def test_rdms_checks_its_items(items, error, msg):
    with pytest.raises(error, match=re.escape(msg)):
        RDMs(items)


def test_rdms_boolean_index_must_match_length(activations):
    rdms = RDMs([compute_rdm(activations)])
    with pytest.raises(IndexError, match=re.escape("A boolean index needs 1 entries, got (2,).")):
        rdms[np.array([True, False])]


# ---------------------------------------------------------------- the store
def test_compute_from_store_reads_row_tiles_and_saves(tmp_path, activations, ids, monkeypatch):
    store, keys = make_store(tmp_path, {"conv": activations}, ids=ids)
    real_array = Store.array
    wrappers = []

    def inaccessible(self, key):
        wrappers.append(InaccessibleArray(real_array(self, key), max_rows=5))
        return wrappers[-1]

    monkeypatch.setattr(Store, "array", inaccessible)
    rdm = compute_rdm(store, model="m", layer="conv", batch_size=5, dtype="float64")
    monkeypatch.undo()

    assert wrappers[0].reads
    expected = compute_rdm(activations.astype(np.float32), stimulus_ids=ids, dtype="float64")
    assert_allclose(rdm.matrix, expected.matrix, **SAME64)
    assert rdm.stimulus_ids == tuple(ids)
    assert {k: rdm.provenance[k] for k in ("model", "layer", "reduction", "measure", "dtype",
                                           "activations")} == {
        "model": "m", "layer": "conv", "reduction": "flatten", "measure": "correlation",
        "dtype": "float64", "activations": keys["conv"]}
    loaded = RDM.load(store, rdm.provenance["key"])
    assert_array_equal(loaded.matrix, rdm.matrix)
    assert loaded.stimulus_ids == rdm.stimulus_ids


def test_same_inputs_are_skipped_and_other_inputs_are_not(tmp_path, activations, ids,
                                                          monkeypatch):
    store, keys = make_store(tmp_path, {"conv": activations}, ids=ids)
    first = compute_rdm(store, key=keys["conv"])
    monkeypatch.setattr(rdm_module, "_compute_matrix", lambda *a, **k: 1 / 0)
    again = compute_rdm(store, model="m", layer="conv", batch_size=3)  # batch_size: no effect
    assert again.provenance["key"] == first.provenance["key"]
    assert_array_equal(again.matrix, first.matrix)
    with pytest.raises(ZeroDivisionError):  # a new measure or dtype is computed
        compute_rdm(store, key=keys["conv"], dtype="float64")


def test_an_interrupted_rdm_resumes_from_its_last_tile(tmp_path, activations, ids,
                                                       monkeypatch):
    store, keys = make_store(tmp_path, {"conv": activations}, ids=ids)
    real = rdm_module._compute_matrix
    starts = []

    def killed_after_first_tile(*args, on_rows=None, **kwargs):
        def once(i0, i1, D):
            on_rows(i0, i1, D)
            raise KeyboardInterrupt

        starts.append(kwargs["start"])
        return real(*args, on_rows=once, **kwargs)

    monkeypatch.setattr(rdm_module, "_compute_matrix", killed_after_first_tile)
    with pytest.raises(KeyboardInterrupt):
        compute_rdm(store, key=keys["conv"], batch_size=5, dtype="float64")
    monkeypatch.setattr(rdm_module, "_compute_matrix",
                        lambda *a, **k: starts.append(k["start"]) or real(*a, **k))
    resumed = compute_rdm(store, key=keys["conv"], batch_size=5, dtype="float64")
    monkeypatch.undo()
    assert starts == [0, 5]
    expected = compute_rdm(activations.astype(np.float32), dtype="float64")
    assert_allclose(resumed.matrix, expected.matrix, **SAME64)
    assert store.entry(resumed.provenance["key"])["complete"]


def test_a_read_only_store_computes_without_writing(tmp_path, activations, ids):
    store, keys = make_store(tmp_path, {"conv": activations}, ids=ids)
    read_only = Store(store.path, mode="r")
    rdm = compute_rdm(read_only, key=keys["conv"])
    assert "key" not in rdm.provenance
    assert store.entries("rdms").empty


def test_constant_rows_warn_again_when_a_stored_rdm_is_reused(tmp_path, activations, ids):
    X = activations.copy()
    X[2] = 0
    store, keys = make_store(tmp_path, {"conv": X}, ids=ids)
    for _ in range(2):
        with pytest.warns(ConstantPatternWarning, match=re.escape("['s2']")):
            compute_rdm(str(store.path), key=keys["conv"])


def test_save_and_load_round_trip_and_same_key(tmp_path, activations, ids):
    store = Store(tmp_path / "s.zarr")
    rdm = compute_rdm(activations, stimulus_ids=ids, model="m", layer="fc")
    key = rdm.save(store)
    assert rdm.save(store) == key
    loaded = RDM.load(store, key)
    assert_array_equal(loaded.matrix, rdm.matrix)
    assert loaded.stimulus_ids == tuple(ids)
    assert loaded.provenance["key"] == key
    assert {k: v for k, v in loaded.provenance.items() if k != "key"} == dict(rdm.provenance)
    other = compute_rdm(activations, measure="euclidean", stimulus_ids=ids, model="m",
                        layer="fc")
    assert other.save(store) != key
    assert rdm.subset(ids[:5]).save(store) != key
    assert len(store.entries("rdms")) == 3


def test_rdms_from_store_filters(tmp_path, activations, ids):
    store, _ = make_store(tmp_path, {"a": activations, "b": activations[::-1]}, ids=ids)
    computed = compute_rdms(store, measure="euclidean", progress=False)
    assert [r.provenance["layer"] for r in computed] == ["a", "b"]  # in extraction order
    compute_rdms(store, measure="correlation", layer="b", progress=False)
    assert len(RDMs.from_store(store)) == 3
    only = RDMs.from_store(store, measure="correlation")
    assert list(only.metadata["layer"]) == ["b"]
    msg = "No complete RDM with measure='corelation'. Did you mean 'correlation'? Available: " \
          "['correlation', 'euclidean']."
    with pytest.raises(KeyError, match=re.escape(msg)):
        RDMs.from_store(store, measure="corelation")
    msg = "RDM entries have no field 'mesure'. Did you mean 'measure'?"
    with pytest.raises(KeyError, match=re.escape(msg)):
        RDMs.from_store(store, mesure="correlation")


def test_store_errors(tmp_path, activations, ids):
    store, keys = make_store(tmp_path, {"conv": activations}, ids=ids)
    cases = [
        (ValueError, {"stimulus_ids": ids},
         "stimulus_ids comes from the store for stored activations; to use fewer stimuli, "
         "compute the RDM and call rdm.subset(stimulus_ids)."),
        (ValueError, {"layer": "conv"},
         "Say which activations: pass key=, or model= and layer= (see "
         "store.select('activations')). For every layer use compute_rdms(store)."),
        (KeyError, {"model": "m", "layer": "cnv"},
         "No complete activations with layer='cnv'. Did you mean 'conv'?"),
    ]
    for error, kwargs, msg in cases:
        with pytest.raises(error, match=re.escape(msg)):
            compute_rdm(store, **kwargs)
    rdm_key = compute_rdm(store, key=keys["conv"]).provenance["key"]
    msg = f"Store entry {rdm_key!r} holds rdms, not activations."
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdm(store, key=rdm_key)
    msg = f"Store entry {keys['conv']!r} holds activations, not an RDM; list the RDMs with " \
          "store.select('rdms')."
    with pytest.raises(ValueError, match=re.escape(msg)):
        RDM.load(store, keys["conv"])


def test_incomplete_activations_are_refused(tmp_path, activations, ids):
    store, keys = make_store(tmp_path, {"conv": activations}, ids=ids)
    store.mark_progress(keys["conv"], 5, complete=False)
    msg = (f"Activations {keys['conv']} (m, conv) are incomplete: 5 of 12 rows. Re-run the "
           "same extraction to resume them.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdm(store, key=keys["conv"])


def test_compute_rdms_errors(tmp_path, activations, ids):
    empty = Store(tmp_path / "empty.zarr")
    msg = f"Store {str(empty.path)!r} holds no complete activations; run `deeprsa extract` first."
    with pytest.raises(KeyError, match=re.escape(msg)):
        compute_rdms(empty)
    msg = f"Store {str(empty.path)!r} holds no RDMs; compute some with compute_rdm(store, ...) " \
          "or `deeprsa rdm`."
    with pytest.raises(KeyError, match=re.escape(msg)):
        RDMs.from_store(empty)
    store, _ = make_store(tmp_path, {"conv": activations}, ids=ids)
    msg = "No complete activations with model='mm'. Did you mean 'm'? Available: ['m']."
    with pytest.raises(KeyError, match=re.escape(msg)):
        compute_rdms(store, model="mm")
    store.add_stimuli(ids, "h2")
    key, array, _ = store.create("activations", {"model": "m", "layer": "conv2",
                                                 "reduction": "flatten", "stimuli": "h2"},
                                 shape=activations.shape)
    array[...] = activations
    store.mark_progress(key, 12, complete=True)
    msg = ("The selected activations use 2 stimulus sets (h1, h2); choose one with stimuli= "
           "(`--stimuli-key KEY`).")
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_rdms(store)
    assert len(compute_rdms(store, stimuli="h2", progress=False)) == 1


def test_rdm_from_extracted_network_activations(tmp_path):
    torch = pytest.importorskip("torch")
    from deeprsa import digits, extract

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(144, 10))
    test_set = digits(split="test")
    stimuli = test_set.subset(list(test_set.stimulus_ids[:40]))
    extract(net, stimuli, ["1", "3"], tmp_path / "s.zarr", progress=False)
    store = Store(tmp_path / "s.zarr")
    rdms = compute_rdms(store, measure="correlation", dtype="float64", progress=False)
    assert len(rdms) == 2
    for rdm in rdms:
        X = store.read(rdm.provenance["activations"]).astype(np.float64)
        assert_allclose(rdm.vector(), pdist(X, "correlation"), **F64)
        assert rdm.stimulus_ids == stimuli.stimulus_ids


# ---------------------------------------------------------------- the command line
def test_cli_rdm_computes_then_skips(tmp_path, activations, ids):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    store, _ = make_store(tmp_path, {"a": activations, "b": activations + 1}, ids=ids)
    runner = CliRunner()
    first = runner.invoke(cli, ["rdm", "--store", str(store.path), "--measure", "sqeuclidean",
                                "--param", "per_feature=true"])
    assert first.exit_code == 0, first.output
    assert "sqeuclidean" in first.output
    assert len(store.entries("rdms")) == 2
    again = runner.invoke(cli, ["rdm", "--store", str(store.path), "--measure", "sqeuclidean",
                                "--param", "per_feature=true", "--layer", "b"])
    assert again.exit_code == 0, again.output
    assert len(store.entries("rdms")) == 2
    assert RDMs.from_store(store)[0].provenance["params"] == {"per_feature": True}


def test_cli_rdm_reports_errors(tmp_path, activations, ids):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    store, _ = make_store(tmp_path, {"a": activations}, ids=ids)
    result = CliRunner().invoke(cli, ["rdm", "--store", str(store.path), "--measure", "cosin"])
    assert result.exit_code == 1
    assert "Unknown measure 'cosin'. Did you mean 'cosine'?" in result.output
    result = CliRunner().invoke(cli, ["rdm", "--store", str(store.path), "--param", "x"])
    assert result.exit_code == 2
    assert "'x' is not NAME=VALUE, e.g. per_feature=true." in result.output


def test_cli_measures_lists_the_registry():
    from click.testing import CliRunner

    from deeprsa.cli import cli

    result = CliRunner().invoke(cli, ["measures"])
    assert result.exit_code == 0
    for name in list_measures():
        assert name in result.output


def test_nearly_constant_rows_are_not_treated_as_constant(activations, recwarn):
    X = activations.copy()
    X[5] = 1000 + 1e-6 * np.random.default_rng(4).standard_normal(30)
    rdm = compute_rdm(X, dtype="float64")
    assert not [w for w in recwarn if issubclass(w.category, ConstantPatternWarning)]
    assert_allclose(rdm.vector(), pdist(X, "correlation"), **F64)
