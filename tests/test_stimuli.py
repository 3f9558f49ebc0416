import json
import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from PIL import Image

from deeprsa import StimulusSet, digits


def _write_images(folder, names, size=(10, 12)):
    rng = np.random.default_rng(0)
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)


def test_digits_is_real_data_with_metadata():
    stim = digits()
    assert len(stim) == 1797
    meta = stim.metadata
    assert {"label", "ink", "row", "split"} <= set(meta.columns)
    assert_array_equal(np.bincount(meta["label"]), np.bincount(
        __import__("sklearn.datasets").datasets.load_digits().target))
    x = stim.load(5)
    assert x.shape == (1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert meta["ink"].iloc[5] == pytest.approx(float(x.mean()), rel=1e-6)
    train, test = digits(split="train"), digits(split="test")
    assert len(train) + len(test) == 1797
    assert not set(train.stimulus_ids) & set(test.stimulus_ids)


def test_sample_sort_subset(digits_small):
    stim = digits(split="test")
    a = stim.sample(3, seed=1)
    b = stim.sample(3, seed=1)
    assert a.stimulus_ids == b.stimulus_ids
    assert (a.metadata["label"].value_counts() == 3).all()
    s = a.sort_by("label")
    assert list(s.metadata["label"]) == sorted(a.metadata["label"])
    ids = list(reversed(s.stimulus_ids[:4]))
    sub = s.subset(ids)
    assert sub.stimulus_ids == tuple(ids)
    assert_array_equal(sub.load(0).numpy(), s.load(3).numpy())


def test_sample_too_many_per_class_names_the_class():
    stim = StimulusSet.from_arrays(np.zeros((3, 4, 4)), labels=["a", "a", "b"])
    msg = "Class 'b' of column 'label' has 1 stimuli; cannot sample 2 per class."
    with pytest.raises(ValueError, match=re.escape(msg)):
        stim.sample(2, seed=0)


def test_missing_column_lists_what_is_there():
    stim = StimulusSet.from_arrays(np.zeros((3, 4, 4)), labels=[0, 1, 0])
    with pytest.raises(KeyError, match=re.escape("No metadata column 'lable'. Did you mean "
                                                 "'label'? Columns: ['label'].")):
        stim.sort_by("lable")


def test_subset_unknown_id():
    stim = StimulusSet.from_arrays(np.zeros((2, 4, 4)), stimulus_ids=["cat", "dog"])
    with pytest.raises(KeyError, match=re.escape("e.g. ['dgo']. Did you mean 'dog'?")):
        stim.subset(["dgo"])


def test_duplicate_ids_rejected():
    with pytest.raises(ValueError, match=re.escape("1 id(s) repeat, e.g. ['a']")):
        StimulusSet.from_arrays(np.zeros((3, 4, 4)), stimulus_ids=["a", "b", "a"])


def test_float_images_out_of_range_rejected():
    with pytest.raises(ValueError, match=re.escape("Float images must lie in [0, 1]; got "
                                                   "values in [16, 16]")):
        StimulusSet.from_arrays(np.full((2, 4, 4), 16.0))


def test_uint8_and_channels_last_arrays():
    arr = np.full((2, 5, 6, 3), 255, dtype=np.uint8)
    stim = StimulusSet.from_arrays(arr)
    assert stim.load(1).shape == (3, 5, 6)
    assert float(stim.load(1).max()) == 1.0


def test_from_folder_with_class_subfolders(tmp_path):
    _write_images(tmp_path, ["cat/a.png", "cat/b.png", "dog/c.jpg"])
    stim = StimulusSet.from_folder(tmp_path)
    assert stim.stimulus_ids == ("cat/a.png", "cat/b.png", "dog/c.jpg")
    assert list(stim.labels) == ["cat", "cat", "dog"]
    assert stim.load(0).shape == (3, 10, 12)


def test_from_folder_flat_and_mixed(tmp_path):
    _write_images(tmp_path / "flat", ["x.png", "y.png"])
    assert StimulusSet.from_folder(tmp_path / "flat").labels is None
    _write_images(tmp_path / "mixed", ["x.png", "cls/y.png"])
    with pytest.raises(ValueError, match=re.escape("mixes images in class subfolders with "
                                                   "loose images, e.g. 'x.png'")):
        StimulusSet.from_folder(tmp_path / "mixed")


def test_from_meta_json_object_classification_format(tmp_path):
    _write_images(tmp_path, ["img/0.png", "img/1.png"])
    records = [{"filename": "img/0.png", "class": "tench"},
               {"filename": "img/1.png", "class": "goldfish"}]
    (tmp_path / "meta.json").write_text(json.dumps(records))
    stim = StimulusSet.from_meta_json(tmp_path / "meta.json")
    assert list(stim.labels) == ["tench", "goldfish"]
    assert stim.load(1).shape == (3, 10, 12)


def test_from_csv_missing_and_corrupt_images_name_file_and_row(tmp_path):
    _write_images(tmp_path, ["a.png"])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    pd.DataFrame({"path": ["a.png", "gone.png", "bad.png"], "label": [0, 1, 2],
                  "size": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "s.csv", index=False)
    stim = StimulusSet.from_csv(tmp_path / "s.csv")
    assert list(stim.metadata.columns) == ["path", "label", "size"]
    with pytest.raises(FileNotFoundError, match=re.escape("gone.png' (row 1, stimulus "
                                                          "'gone.png') does not exist")):
        stim.load(1)
    with pytest.raises(ValueError, match=re.escape("bad.png' (row 2, stimulus 'bad.png') "
                                                   "cannot be read")):
        stim.load(2)


def test_from_csv_missing_path_column_lists_columns(tmp_path):
    pd.DataFrame({"file": ["a.png"], "label": [0]}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(ValueError, match=re.escape("has no 'path' column naming the image "
                                                   "files. Columns: ['file', 'label'].")):
        StimulusSet.from_csv(tmp_path / "s.csv")


def test_from_csv_duplicate_files(tmp_path):
    pd.DataFrame({"path": ["a.png", "a.png"]}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(ValueError, match=re.escape("lists 1 stimulus id(s) more than once, "
                                                   "e.g. ['a.png']")):
        StimulusSet.from_csv(tmp_path / "s.csv")


def test_content_hash_tracks_content(tmp_path):
    a = StimulusSet.from_arrays(np.zeros((2, 4, 4)))
    b = StimulusSet.from_arrays(np.zeros((2, 4, 4)))
    c = StimulusSet.from_arrays(np.ones((2, 4, 4)) * 0.5)
    assert a.content_hash() == b.content_hash() != c.content_hash()
    _write_images(tmp_path, ["a.png"])
    pd.DataFrame({"path": ["a.png"]}).to_csv(tmp_path / "s.csv", index=False)
    h1 = StimulusSet.from_csv(tmp_path / "s.csv").content_hash()
    _write_images(tmp_path, ["a.png"], size=(11, 12))
    assert StimulusSet.from_csv(tmp_path / "s.csv").content_hash() != h1
