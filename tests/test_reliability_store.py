"""The store under damage: integrity on read, damaged manifests, check and repair, formats,
read-only and foreign stores, xarray labels, and a manifest that scales.

docs/reliability.md lists each fault with the test here that proves what happens.
"""

import json
import re
import shutil

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import deeprsa
from deeprsa import RDM, Store, compute_rdm, extract
from deeprsa.store import (
    IntegrityError,
    ManifestError,
    StoreFormatError,
    check_store,
    repair_store,
)


@pytest.fixture(scope="module")
def stimuli():
    return deeprsa.digits(split="test").sample(4, seed=0)  # 40 digits


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, stimuli):
    """Activations of three layers (batch 8: five chunks of rows), their RDMs, a comparison."""
    path = tmp_path_factory.mktemp("pristine") / "store"
    extract("zoo:mlp_s0", stimuli, ["fc1", "fc2", "logits"], path, batch_size=8,
            progress=False)
    deeprsa.compute_rdms(path, batch_size=16, progress=False)
    deeprsa.multi_model_rdm(path)
    return path


@pytest.fixture
def store(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "store")
    return Store(tmp_path / "store")


def _activations(store, layer="fc2"):
    return store.find("activations", layer=layer)


def _chunk(store, key, index=(2, 0)):
    return store.path / store.entry(key)["path"] / "c" / "/".join(map(str, index))


def _flip(path, at=20):
    data = bytearray(path.read_bytes())
    data[min(at, len(data) - 5)] ^= 0x40
    path.write_bytes(bytes(data))


def _raw_store(tmp_path, stimuli):
    """Activations stored uncompressed (the RawArray path of keep = "rdms" passes)."""
    path = tmp_path / "raw"
    extract("zoo:mlp_s0", stimuli, ["fc2"], path, batch_size=8, codec="none", progress=False)
    return Store(path)


DAMAGE = {
    "flipped byte": (_flip, "fails its checksum"),
    "missing chunk": (lambda p: p.unlink(), "is missing"),
    "truncated chunk": (lambda p: p.write_bytes(p.read_bytes()[:-7]), ""),
}


# ============================================================================ integrity on read


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
@pytest.mark.parametrize("codec", ["zstd", "none"], ids=["compressed", "raw chunk files"])
def test_a_damaged_chunk_is_an_error_naming_the_entry_chunk_and_rows(store, tmp_path, stimuli,
                                                                     damage, codec):
    if codec == "none":
        store = _raw_store(tmp_path, stimuli)
    key = _activations(store)
    good = store.read(key)
    do, what = DAMAGE[damage]
    do(_chunk(store, key))
    expected = (f"activations of zoo:mlp_s0 layer 'fc2' (key {key}) is damaged: chunk "
                f"{store.entry(key)['path']}/c/2/0 (rows 16-23) {what}")
    with pytest.raises(IntegrityError, match=re.escape(expected)):
        store.read(key)
    with pytest.raises(IntegrityError, match=re.escape(expected)):
        compute_rdm(store, key=key, measure="euclidean")  # never an RDM of wrong numbers
    assert_array_equal(store.read(key, rows=slice(0, 16)), good[:16])  # the rest still reads
    assert store.verify(key) and store.first_damaged_row(key) == 16


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_rdm_tile_is_an_error_not_a_wrong_rdm(store, damage):
    key = store.find("rdms", layer="fc1")
    DAMAGE[damage][0](_chunk(store, key, (0, 1)))
    with pytest.raises(IntegrityError, match=re.escape("chunk ") + ".*" + re.escape(
            "c/0/1 (rows 0-15)")):
        RDM.load(store, key)


def test_extract_verify_re_extracts_a_damaged_layer_and_skips_intact_ones(store, pristine,
                                                                         stimuli):
    key = _activations(store)
    _flip(_chunk(store, key, (3, 0)))
    skipped = extract("zoo:mlp_s0", stimuli, ["fc1", "fc2", "logits"], store, batch_size=8,
                      progress=False)
    assert set(skipped.status) == {"skipped"}  # without --verify, a complete layer is trusted
    table = extract("zoo:mlp_s0", stimuli, ["fc1", "fc2", "logits"], store, batch_size=8,
                    verify=True, progress=False)
    assert list(table.status) == ["skipped", "repaired", "skipped"]
    assert store.verify(key) == []
    assert_array_equal(store.read(key), Store(pristine, mode="r").read(key))


# ============================================================================ the manifest


def test_a_truncated_manifest_names_the_file_and_the_repair(store):
    text = (store.path / "manifest.json").read_bytes()
    (store.path / "manifest.json").write_bytes(text[:len(text) // 2])
    msg = (f"Store {str(store.path)!r}: manifest.json is damaged ({len(text) // 2} bytes; "
           "Unterminated string")
    with pytest.raises(ManifestError, match=re.escape(msg)):
        Store(store.path)
    with pytest.raises(ManifestError, match=re.escape(f"`deeprsa store repair {store.path}` "
                                                      "rebuilds the manifest from the arrays")):
        Store(store.path, mode="r")


def test_no_command_overwrites_a_damaged_manifest(store, stimuli):
    path = store.path / "manifest.json"
    path.write_bytes(path.read_bytes()[:100])
    damaged = path.read_bytes()
    with pytest.raises(ManifestError):
        extract("zoo:mlp_s0", stimuli, ["fc1"], store.path, progress=False)
    with pytest.raises(ManifestError):
        deeprsa.compute_rdms(store.path, progress=False)
    assert path.read_bytes() == damaged


def test_a_store_with_arrays_but_no_manifest_is_not_recreated_empty(store):
    (store.path / "manifest.json").unlink()
    with pytest.raises(ManifestError, match=re.escape("holds arrays (activations, rdms, "
                                                      "comparisons, manifest.journal) but no "
                                                      "manifest.json")):
        Store(store.path)
    assert not (store.path / "manifest.json").exists()


def test_a_torn_journal_line_is_ignored_then_cut(store):
    journal = store.path / "manifest.journal"
    entries = len(store.manifest["entries"])
    with open(journal, "ab") as fh:
        fh.write(b'{"drop": [], "put": {"abc": {"kind"')  # a writer killed mid-line
    assert len(Store(store.path).manifest["entries"]) == entries
    store.write("rdms", {"name": "after"}, np.eye(3))
    assert b'{"kind"' not in journal.read_bytes().split(b"\n")[-2]
    assert len(Store(store.path).manifest["entries"]) == entries + 1


def test_a_hand_edited_journal_line_names_the_file(store):
    with open(store.path / "manifest.journal", "ab") as fh:
        fh.write(b"not json at all\n")
    with pytest.raises(ManifestError, match=re.escape("manifest.journal is damaged near byte")):
        Store(store.path)


def test_a_newer_format_is_refused_with_the_version_numbers(store):
    manifest = json.loads((store.path / "manifest.json").read_text())
    manifest["format"], manifest["versions"]["deeprsa"] = 7, "9.0"
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    msg = (f"Store {str(store.path)!r} was written in store format 7 (by deeprsa 9.0); this "
           f"deeprsa {deeprsa.__version__} reads formats 1 to 2. Upgrade deeprsa")
    with pytest.raises(StoreFormatError, match=re.escape(msg)):
        Store(store.path, mode="r")


def test_a_foreign_zarr_store_is_not_taken_for_a_deeprsa_store(tmp_path):
    import zarr

    zarr.open_group(tmp_path / "foreign.zarr", mode="w").create_array("x", shape=(2,),
                                                                       dtype="f4")
    with pytest.raises(StoreFormatError, match=re.escape("is a Zarr store without a deeprsa "
                                                         "manifest.json: not a deeprsa store")):
        Store(tmp_path / "foreign.zarr")
    assert not (tmp_path / "foreign.zarr" / "manifest.json").exists()


def test_a_format_1_store_is_read_and_upgraded_when_written(tmp_path):
    # A store as deeprsa wrote it before checksums and the journal: bare arrays, one manifest.
    import zarr
    from zarr.codecs import ZstdCodec

    path = tmp_path / "old"
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    array = zarr.open_group(path, mode="w").create_array(
        "activations/k1", shape=(4, 3), chunks=(2, 3), dtype="float32",
        compressors=[ZstdCodec(level=1)])
    array[...] = data
    entry = {"kind": "activations", "path": "activations/k1", "fields": {"layer": "l"},
             "attrs": {}, "shape": [4, 3], "dtype": "float32", "chunks": [2, 3],
             "rows_done": 4, "complete": True, "created": 1.0, "codec": "zstd"}
    (path / "manifest.json").write_text(json.dumps({"format": 1, "versions": {},
                                                    "entries": {"k1": entry}}))
    assert_array_equal(Store(path, mode="r").read("k1"), data)
    (path / "activations" / "k1" / "c" / "1" / "0").unlink()
    with pytest.raises(IntegrityError, match=re.escape("chunk activations/k1/c/1/0 (rows 2-3) "
                                                       "is missing")):
        Store(path, mode="r").read("k1")  # no checksum, but a missing chunk is still found
    store = Store(path)
    store.write("rdms", {"name": "new"}, np.eye(3))
    assert json.loads((path / "manifest.json").read_text())["format"] == 2
    assert set(Store(path).manifest["entries"]) == {"k1", store.find("rdms", name="new")}


def test_other_processes_see_every_change_and_the_journal_is_folded(tmp_path):
    from deeprsa.store import _manifest

    a, b = Store(tmp_path / "s"), Store(tmp_path / "s", mode="r")
    keys = [a.write("rdms", {"name": f"n{i}"}, np.full((3, 3), i, np.float32))
            for i in range(30)]
    assert list(b.entries("rdms")["key"]) == keys
    snapshot = json.loads((tmp_path / "s" / "manifest.json").read_text())
    journal = (tmp_path / "s" / "manifest.journal").read_bytes()
    assert len(journal) <= max(_manifest._FOLD_AT, len(json.dumps(snapshot))) + 4096
    a.delete(keys[3])
    assert not b.has(keys[3]) and len(b.entries("rdms")) == 29


def test_a_query_parses_the_manifest_once_however_large_the_store(tmp_path, monkeypatch):
    from deeprsa.store import _manifest

    store = Store(tmp_path / "s")
    for i in range(300):
        store.write("rdms", {"model": f"m{i % 30}", "layer": f"l{i}"}, np.eye(3))
    reader = Store(tmp_path / "s", mode="r")
    parsed = []
    real = _manifest.json.loads
    monkeypatch.setattr(_manifest.json, "loads", lambda text: parsed.append(len(text))
                        or real(text))
    for i in range(50):
        assert len(reader.select("rdms", model=f"m{i % 30}")) == 10
        reader.entry(reader.find("rdms", layer=f"l{i}"))
    assert parsed == []  # nothing changed on disk: nothing parsed again
    store.write("rdms", {"model": "m0", "layer": "new"}, np.eye(3))
    assert len(reader.select("rdms", model="m0")) == 11
    assert max(parsed) < 2000  # only the new journal lines, not the snapshot


# ============================================================================ check and repair


def test_store_check_reports_each_problem_naming_the_entry(store):
    fc2 = _activations(store)
    _flip(_chunk(store, fc2, (1, 0)))
    rdm = store.find("rdms", layer="logits")
    _chunk(store, rdm, (0, 0)).unlink()
    # A hand-edited manifest: one entry's shape no longer agrees with its array.
    logits = _activations(store, "logits")
    entry = store.entry(logits)
    store._commit(lambda entries: ({logits: {**entry, "shape": [40, 11]}}, []))
    report = check_store(store.path)
    lines = "\n".join(report.lines())
    assert not report.ok and len(report.problems) == 3
    assert (f"activations of zoo:mlp_s0 layer 'fc2' (key {fc2}): chunk "
            f"{store.entry(fc2)['path']}/c/1/0 (rows 8-15) fails its checksum") in lines
    assert f"RDM of zoo:mlp_s0 layer 'logits' (correlation) (key {rdm}): chunk" in lines
    assert "(rows 0-15) is missing" in lines
    assert ("the array has shape (40, 10) but the manifest says (40, 11)") in lines


def test_store_check_of_a_sound_store_finds_nothing(store):
    report = check_store(store.path)
    assert report.ok and report.n_entries == len(store.manifest["entries"])


def test_store_repair_rebuilds_a_lost_manifest_from_the_arrays(store, pristine):
    (store.path / "manifest.json").write_bytes(b'{"entries": {"tr')
    (store.path / "manifest.journal").unlink()
    report = repair_store(store.path)
    assert not report.dropped and not report.resumed
    repaired, original = Store(store.path), Store(pristine, mode="r")
    assert set(repaired.manifest["entries"]) == set(original.manifest["entries"])
    for key in original.manifest["entries"]:
        assert repaired.entry(key)["fields"] == original.entry(key)["fields"]
        assert repaired.read(key).tobytes() == original.read(key).tobytes()
    assert check_store(store.path).ok


def test_store_repair_keeps_intact_entries_resumes_damaged_ones_drops_broken(store, pristine,
                                                                            stimuli):
    fc2 = _activations(store)
    _flip(_chunk(store, fc2, (3, 0)))
    comparison = store.find("comparisons")
    _flip(_chunk(store, comparison, (0, 0)))
    (store.path / "stimuli").rename(store.path / "lost-stimuli")  # ids come back too
    report = repair_store(store.path)
    assert [r[:2] for r in report.resumed] == [(f"activations of zoo:mlp_s0 layer 'fc2' (key "
                                                f"{fc2})", 24)]
    assert [d[0] for d in report.dropped] == [f"comparison by spearman (key {comparison})"]
    repaired = Store(store.path)
    assert repaired.entry(fc2)["rows_done"] == 24 and not repaired.entry(fc2)["complete"]
    table = extract("zoo:mlp_s0", stimuli, ["fc1", "fc2", "logits"], store.path, batch_size=8,
                    progress=False)
    assert list(table.status) == ["skipped", "resumed", "skipped"]
    original = Store(pristine, mode="r")
    assert repaired.read(fc2).tobytes() == original.read(fc2).tobytes()
    again = deeprsa.multi_model_rdm(store.path)
    assert again.matrix.tobytes() == deeprsa.multi_model_rdm(pristine).matrix.tobytes()


def test_store_check_and_repair_on_the_command_line(store):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    _flip(_chunk(store, _activations(store), (1, 0)))
    result = CliRunner().invoke(cli, ["store", "check", str(store.path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "DAMAGED activations of zoo:mlp_s0 layer 'fc2'" in result.output
    result = CliRunner().invoke(cli, ["store", "repair", str(store.path)])
    assert result.exit_code == 0, result.output
    assert "resumes  activations of zoo:mlp_s0 layer 'fc2'" in result.output
    assert "from row 8" in result.output
    result = CliRunner().invoke(cli, ["store", "check", str(store.path)])
    assert result.exit_code == 0 and "no damage found" in result.output
    assert "unfinished (8 of 40 rows)" in result.output


def test_repair_removes_what_killed_writers_left(store):
    key = _activations(store)
    leftover = [store.path / "manifest.json.x1.tmp",
                store.path / store.entry(key)["path"] / "c" / "0" / "0.abc.partial",
                store.path / "locks" / "deadbeef.lock"]
    for path in leftover:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert "temporary file(s) left by interrupted writers" in "\n".join(
        check_store(store.path).lines())
    repair_store(store.path)
    assert not any(p.exists() for p in leftover)


# ============================================================================ read-only, pickles


def test_writing_into_a_read_only_store_is_one_clear_error(store):
    ro = Store(store.path, mode="r")
    msg = (f"Store {str(store.path)!r} is read-only (it was opened read-only (mode='r')); "
           "nothing can be written into it.")
    for write in (lambda: ro.write("rdms", {"a": 1}, np.eye(2)),
                  lambda: ro.create("rdms", {"a": 1}, shape=(2, 2)),
                  lambda: ro.delete(_activations(ro)),
                  lambda: ro.mark_blocks_done(_activations(ro), ["0-1"])):
        with pytest.raises(PermissionError, match=re.escape(msg)):
            write()


def test_reading_comparing_and_analysing_a_read_only_store_write_nothing(store):
    before = {p: p.stat().st_mtime_ns for p in store.path.rglob("*")}
    ro = Store(store.path, mode="r")
    deeprsa.compute_rdms(ro, measure="euclidean", progress=False)  # computed, not saved
    deeprsa.multi_model_rdm(ro, method="pearson")
    deeprsa.analyses.dimensionality(ro)
    deeprsa.model_rdm(ro, "zoo:mlp_s0", method="linear_cka")
    assert {p: p.stat().st_mtime_ns for p in store.path.rglob("*")} == before


def test_nothing_in_deeprsa_unpickles():
    from pathlib import Path

    src = Path(deeprsa.__file__).parent
    for path in src.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "allow_pickle=True" not in text, path
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=False" in call, (path, call)
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)


# ============================================================================ xarray and zarr


def test_xarray_opens_an_extracted_store_labelled_by_stimulus_ids(pristine, stimuli):
    xr = pytest.importorskip("xarray")
    store = Store(pristine, mode="r")
    key = _activations(store)
    entry = store.entry(key)
    assert entry["group"] == f"activations/zoo_mlp_s0/fc2/{key}"  # a readable path
    ds = xr.open_zarr(pristine, group=entry["group"], consolidated=False)
    values = ds["activations"]
    assert values.dims == ("stimulus", "unit")
    assert list(values["stimulus"].values) == list(stimuli.stimulus_ids)
    assert values.attrs["model"] == "zoo:mlp_s0" and values.attrs["layer"] == "fc2"
    assert values.attrs["reduction"] == {"name": "flatten"}
    assert_array_equal(values.values, store.read(key))
    da = store.to_xarray(model="zoo:mlp_s0", layer="fc2")
    assert da.dims == ("stimulus", "unit") and list(da["stimulus"].values) == list(
        stimuli.stimulus_ids)


def test_an_rdm_in_xarray_is_labelled_on_both_axes(pristine, stimuli):
    xr = pytest.importorskip("xarray")
    store = Store(pristine, mode="r")
    key = store.find("rdms", layer="fc1")
    da = store.to_xarray(key=key)
    assert da.dims == ("stimulus_a", "stimulus_b")
    assert da.attrs["measure"] == "correlation" and da.attrs["params"] == {}
    assert_array_equal(da.values, RDM.load(store, key).matrix)  # mirrored from the upper tiles
    ds = xr.open_zarr(pristine, group=store.entry(key)["group"], consolidated=False)
    assert list(ds["stimulus_b"].values) == list(stimuli.stimulus_ids)
    assert ds["rdm"].attrs["layout"] if "layout" in ds["rdm"].attrs else \
        ds["rdm"].attrs["deeprsa"]["attrs"]["layout"] == "upper"
