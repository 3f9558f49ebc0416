"""Target RDMs from outside: every file format round-trips, pickles are refused, labels match."""

import pickle
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from deeprsa import RDM, RDMs, load_rdms
from deeprsa.rdm import from_rsatoolbox, match_stimuli

IDS = ["cat", "dog", "car", "tree", "face"]


@pytest.fixture
def squares():
    """Three subjects' RDMs over IDS: (3, 5, 5), symmetric, zero diagonal."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 5, 4))
    return np.linalg.norm(X[:, :, None] - X[:, None], axis=-1)


def _upper(m):
    i, j = np.triu_indices(m.shape[-1], 1)
    return m[..., i, j]


def _check(rdms, squares, ids=IDS):
    assert isinstance(rdms, RDMs) and len(rdms) == len(squares)
    assert rdms.stimulus_ids == tuple(ids)
    assert_allclose(np.stack([r.matrix for r in rdms]), squares, rtol=0, atol=1e-15)


@pytest.mark.parametrize("layout", ["square", "stack", "condensed", "condensed_stack"])
def test_npy_round_trip(tmp_path, squares, layout):
    data = {"square": squares[0], "stack": squares, "condensed": _upper(squares[0]),
            "condensed_stack": _upper(squares)}[layout]
    np.save(tmp_path / "rdms.npy", data)
    rdms = load_rdms(tmp_path / "rdms.npy", stimulus_ids=IDS)
    _check(rdms, squares[:1] if data.ndim == 1 or layout == "square" else squares)
    assert rdms[0].provenance["target"] == "rdms"
    assert rdms[0].provenance["format"] == "npy"


def test_npz_keeps_labels_and_subject_names(tmp_path, squares):
    np.savez(tmp_path / "fmri.npz", rdms=squares, stimulus_ids=np.array(IDS),
             subjects=np.array(["s1", "s2", "s3"]))
    rdms = load_rdms(tmp_path / "fmri.npz")
    _check(rdms, squares)
    assert list(rdms.metadata["subject"]) == ["s1", "s2", "s3"]
    assert set(rdms.metadata["target"]) == {"fmri"}


def test_npz_with_several_arrays_needs_a_key(tmp_path, squares):
    np.savez(tmp_path / "two.npz", a=squares, b=squares[:1], labels=np.array(IDS))
    msg = "holds 2 arrays that could be RDMs (['a', 'b']); name the one to read with key=..."
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_rdms(tmp_path / "two.npz")
    _check(load_rdms(tmp_path / "two.npz", key="b"), squares[:1])


def test_csv_labelled_square_matrix(tmp_path, squares):
    import pandas as pd

    order = [2, 0, 4, 1, 3]  # columns in another order than the rows: reordered by label
    frame = pd.DataFrame(squares[0], index=IDS, columns=IDS).iloc[:, order]
    frame.to_csv(tmp_path / "behaviour.csv")
    _check(load_rdms(tmp_path / "behaviour.csv"), squares[:1])


def test_csv_files_one_per_subject(tmp_path, squares):
    import pandas as pd

    paths = []
    for k, m in enumerate(squares):
        paths.append(tmp_path / "ratings" / f"sub-{k + 1}.csv")
        paths[-1].parent.mkdir(exist_ok=True)
        order = np.random.default_rng(k).permutation(5)
        pd.DataFrame(m, index=IDS, columns=IDS).iloc[order, order].to_csv(paths[-1])
    rdms = load_rdms(paths)
    assert rdms.stimulus_ids == tuple(np.array(IDS)[np.random.default_rng(0).permutation(5)])
    _check(rdms.subset(IDS), squares)
    assert list(rdms.metadata["subject"]) == ["sub-1", "sub-2", "sub-3"]
    assert set(rdms.metadata["target"]) == {"ratings"}


def test_csv_whose_labels_differ_lists_them(tmp_path, squares):
    import pandas as pd

    pd.DataFrame(squares[0], index=IDS, columns=IDS[:4] + ["lamp"]).to_csv(tmp_path / "x.csv")
    msg = "only in rows: 1 ('face'); only in columns: 1 ('lamp')."
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_rdms(tmp_path / "x.csv")


@pytest.mark.parametrize("layout", ["square", "matlab_stack", "struct"])
def test_mat_round_trip(tmp_path, squares, layout):
    from scipy.io import savemat

    labels = np.array(IDS, dtype=object)
    if layout == "square":
        savemat(tmp_path / "rdm.mat", {"RDM": squares[0], "labels": labels})
        expected = squares[:1]
    elif layout == "matlab_stack":  # (n, n, n_subjects), as MATLAB stacks them
        savemat(tmp_path / "rdm.mat", {"RDMs": np.moveaxis(squares, 0, -1), "labels": labels})
        expected = squares
    else:  # the RSA toolbox's struct array: RDMs(i).RDM, RDMs(i).name
        structs = np.array([{"RDM": m, "name": f"subject {k}"} for k, m in enumerate(squares)],
                           dtype=object)
        savemat(tmp_path / "rdm.mat", {"RDMs": structs, "labels": labels})
        expected = squares
    rdms = load_rdms(tmp_path / "rdm.mat")
    _check(rdms, expected)
    if layout == "struct":
        assert list(rdms.metadata["subject"]) == ["subject 0", "subject 1", "subject 2"]


def test_rsatoolbox_hdf5_written_by_rsatoolbox(tmp_path, squares):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    pytest.importorskip("h5py")
    theirs = rsatoolbox.rdm.RDMs(
        _upper(squares), dissimilarity_measure="correlation", descriptors={"session": 2},
        rdm_descriptors={"subject": ["s1", "s2", "s3"], "age": [21, 34, 28]},
        pattern_descriptors={"conds": IDS})
    theirs.save(str(tmp_path / "rdms.hdf5"), file_type="hdf5")
    rdms = load_rdms(tmp_path / "rdms.hdf5")
    _check(rdms, squares)
    meta = rdms.metadata
    assert list(meta["subject"]) == ["s1", "s2", "s3"] and list(meta["age"]) == [21, 34, 28]
    assert set(meta["measure"]) == {"correlation"} and set(meta["session"]) == {2}


def test_rsatoolbox_in_memory_round_trip(squares):
    pytest.importorskip("rsatoolbox")
    ours = RDMs([RDM(m, IDS, {"model": "net", "layer": f"l{k}", "params": {"k": k}})
                 for k, m in enumerate(squares)])
    back = RDMs.from_rsatoolbox(ours.to_rsatoolbox())
    _check(back, squares)
    for a, b in zip(ours, back, strict=True):
        assert {k: b.provenance[k] for k in a.provenance} == dict(a.provenance)
    assert load_rdms(ours.to_rsatoolbox(), name="net").stimulus_ids == tuple(IDS)


def test_rsatoolbox_pattern_descriptor_is_chosen_or_named(squares):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    theirs = rsatoolbox.rdm.RDMs(_upper(squares), pattern_descriptors={
        "conds": IDS, "category": ["animal", "animal", "object", "object", "face"]})
    assert from_rsatoolbox(theirs).stimulus_ids == ("0", "1", "2", "3", "4")  # index
    assert from_rsatoolbox(theirs, pattern_descriptor="conds").stimulus_ids == tuple(IDS)
    msg = "Unknown pattern descriptor 'cond'. Did you mean 'conds'?"
    with pytest.raises(ValueError, match=re.escape(msg)):
        from_rsatoolbox(theirs, pattern_descriptor="cond")


@pytest.mark.parametrize("suffix", [".npy", ".pkl", ".npz"])
def test_pickles_are_refused(tmp_path, suffix):
    path = tmp_path / f"evil{suffix}"
    if suffix == ".npy":
        np.save(path, np.array([{"rdm": 1}], dtype=object), allow_pickle=True)
        msg = "holds a pickled (object) array; deeprsa never unpickles files"
    elif suffix == ".npz":
        np.savez(path, rdms=np.array([{"rdm": 1}], dtype=object))
        msg = "holds a pickled (object) array; deeprsa never unpickles files"
    else:
        path.write_bytes(pickle.dumps({"rdm": 1}))
        msg = "is a pickle; deeprsa never unpickles files, because a pickle can run code"
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_rdms(path, stimulus_ids=IDS)


@pytest.mark.parametrize("case, msg", [
    ("no_labels", "holds no stimulus labels, and labels are how its rows are matched"),
    ("two_labels", "labels its stimuli already; drop stimulus_ids="),
    ("count", "holds RDMs of 5 stimuli but 4 labels; give one label per row."),
    ("asymmetric", "RDM 0 (subject '0'): matrix is not symmetric"),
    ("shape", "holds RDM vectors of 4 entries, which is no upper triangle n * (n - 1) / 2"),
    ("ndim", "holds an array of shape (1, 5, 5, 1); an RDM file holds one square RDM"),
    ("suffix", "unknown suffix '.txt'. Readable: .csv, .h5, .hdf5, .mat, .npy, .npz"),
], ids=lambda v: v if v.isidentifier() else "")
def test_bad_files_get_one_clear_error(tmp_path, squares, case, msg):
    path = tmp_path / "t.npy"
    data, kwargs = squares[0], {"stimulus_ids": IDS}
    if case == "no_labels":
        kwargs = {}
    elif case == "two_labels":
        path = tmp_path / "t.npz"
        np.savez(path, rdms=data, labels=np.array(IDS))
    elif case == "count":
        kwargs = {"stimulus_ids": IDS[:4]}
    elif case == "asymmetric":
        data = data.copy()
        data[0, 1] += 1
    elif case == "shape":
        data = data[:, :4]
    elif case == "ndim":
        data = data[None, :, :, None]
    elif case == "suffix":
        path = tmp_path / "t.txt"
        path.write_text("1")
    if path.suffix == ".npy":
        np.save(path, data)
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_rdms(path, **kwargs)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match=re.escape("RDM file 'nope.npy' does not exist.")):
        load_rdms("nope.npy", stimulus_ids=IDS)


def test_match_stimuli_reorders_by_label(squares):
    rdms = RDMs([RDM(m, IDS) for m in squares])
    order = ["face", "cat", "tree", "dog", "car"]
    matched = match_stimuli(rdms, order)
    assert matched.stimulus_ids == tuple(order)
    assert_allclose(matched[1].subset(IDS).matrix, squares[1])


def test_a_label_missing_on_either_side_is_listed(squares):
    rdms = RDMs([RDM(squares[0], IDS)])
    model = ["cat", "dog", "car", "lamp", "chair", "tree"]
    msg = ("The stimulus labels of the target RDMs and the model's stimuli differ (labels are "
           "matched by name): 1 ('face') only in the target RDMs; 2 ('lamp', 'chair') only in "
           "the model's stimuli.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        match_stimuli(rdms, model)


def test_long_label_lists_are_cut(squares):
    ids = [f"img{i:02d}" for i in range(30)]
    rdms = RDMs([RDM.from_vector(np.arange(435.0) + 1, ids)])
    msg = "30 ('img00', 'img01', 'img02', 'img03', 'img04', 'img05', 'img06', 'img07', " \
          "'img08', 'img09' and 20 more) only in the target RDMs"
    with pytest.raises(ValueError, match=re.escape(msg)):
        match_stimuli(rdms, [f"x{i}" for i in range(30)])


def test_loaded_target_is_the_same_rdm_as_built_in_memory(tmp_path, squares):
    np.savez(tmp_path / "t.npz", rdms=squares, stimulus_ids=np.array(IDS))
    loaded = load_rdms(tmp_path / "t.npz")
    assert_array_equal(loaded.vectors(), RDMs([RDM(m, IDS) for m in squares]).vectors())
