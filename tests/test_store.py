import json
import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from deeprsa import Store
from deeprsa.store import content_key


def test_content_key_is_order_free_and_sensitive():
    assert content_key({"a": 1, "b": 2}) == content_key({"b": 2, "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})


def test_write_read_and_manifest(tmp_path):
    store = Store(tmp_path / "s")
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    key = store.write("activations", {"model": "m", "layer": "l"}, data)
    assert_array_equal(store.read(key), data)
    assert_array_equal(store.read(key, rows=slice(1, 3)), data[1:3])
    manifest = Store(tmp_path / "s", mode="r").manifest  # as another process reads it
    entry = manifest["entries"][key]
    assert entry["fields"] == {"model": "m", "layer": "l"}
    assert entry["complete"] and entry["versions"]["deeprsa"]
    assert not list((tmp_path / "s").rglob("*.pickle")) and not list((tmp_path / "s").rglob("*.pkl"))
    # Same fields, same key: the array is found again.
    assert store.find("activations", model="m", layer="l") == key


def test_incomplete_arrays_resume_and_refuse_reads(tmp_path):
    store = Store(tmp_path)
    key, arr, done = store.create("activations", {"layer": "x"}, shape=(10, 2), chunks=(5, 2))
    assert done == 0
    arr[:5] = 1.0
    store.mark_progress(key, 5)
    with pytest.raises(ValueError, match=re.escape("is incomplete: 5 of 10 rows")):
        store.read(key)
    key2, arr2, done2 = Store(tmp_path).create("activations", {"layer": "x"}, shape=(10, 2))
    assert (key2, done2) == (key, 5)
    assert_array_equal(arr2[:5], np.ones((5, 2)))


def test_read_only_mode(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("No deeprsa store at")):
        Store(tmp_path / "none", mode="r")
    Store(tmp_path).write("rdms", {"a": 1}, np.eye(2))
    ro = Store(tmp_path, mode="r")
    with pytest.raises(PermissionError, match=re.escape("opened read-only")):
        ro.write("rdms", {"a": 2}, np.eye(2))


def test_find_errors_name_what_is_there(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(KeyError, match=re.escape("holds no activations")):
        store.find("activations", model="m")
    store.write("activations", {"model": "alexnet", "layer": "fc"}, np.eye(2))
    with pytest.raises(KeyError, match=re.escape("No complete activations with model='alexnt'. "
                                                 "Did you mean 'alexnet'? Available: ['alexnet']")):
        store.find("activations", model="alexnt")


def test_version_mismatch_warns(tmp_path):
    Store(tmp_path)
    path = tmp_path / "manifest.json"
    m = json.loads(path.read_text())
    m["versions"]["deeprsa"] = "0.0.1"
    path.write_text(json.dumps(m))
    with pytest.warns(UserWarning, match=re.escape("was written by deeprsa 0.0.1")):
        Store(tmp_path)


def test_stimulus_sets(tmp_path):
    store = Store(tmp_path)
    store.add_stimuli(["a", "b"], "h1")
    assert store.stimulus_ids("h1") == ("a", "b")
    with pytest.raises(KeyError, match=re.escape("No stimulus set 'h2'")):
        store.stimulus_ids("h2")
