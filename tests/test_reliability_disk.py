"""Full disks, I/O errors and interrupts: one message naming the store, the entry and the
bytes needed; finished entries stay; the failed one is never complete; the rerun resumes;
temporary files never stay behind (docs/reliability.md, "Disk and I/O").
"""

import errno
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import deeprsa
from deeprsa import Store, extract
from deeprsa.store import StoreWriteError

TESTS = Path(__file__).parent
SRC = TESTS.parent / "src"


@pytest.fixture(scope="module")
def stimuli():
    return deeprsa.digits(split="test").sample(4, seed=0)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, stimuli):
    """The uninterrupted reference: both models extracted, RDMs computed."""
    path = tmp_path_factory.mktemp("fresh") / "store"
    for model in ("zoo:mlp_s0", "zoo:convnet_s0"):
        extract(model, stimuli, ["fc1", "fc2"] if "mlp" in model else ["conv1", "fc"], path,
                batch_size=8, progress=False)
    deeprsa.compute_rdms(path, batch_size=16, progress=False)
    return Store(path, mode="r")


def _failing(real, *, after, error, on):
    """``real`` that raises ``OSError(error)`` from its ``after``-th call on a path with ``on``."""
    calls = {"n": 0}

    def wrapper(path, *args, **kwargs):
        if all(part in str(path) for part in on):
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(error, os.strerror(error), str(path))
        return real(path, *args, **kwargs)

    return wrapper


def _same(store, reference):
    """Every complete entry of ``store`` that ``reference`` has reads back bit for bit."""
    for key in reference.manifest["entries"]:
        if store.has(key):
            assert store.read(key).tobytes() == reference.read(key).tobytes(), key


def _no_leftovers(path):
    left = [p for p in Path(path).rglob("*") if p.name.endswith((".tmp", ".partial"))]
    assert not left, left
    assert not list(Path(path).glob("locks/*.lock"))


@pytest.mark.parametrize("error, why", [(errno.ENOSPC, "the disk is full"),
                                        (errno.EIO, "an input/output error")],
                         ids=["ENOSPC", "EIO"])
@pytest.mark.parametrize("codec", ["zstd", "none"], ids=["zarr chunks", "raw chunk files"])
def test_a_failed_write_stops_extraction_with_one_message_and_the_rerun_resumes(
        tmp_path, stimuli, fresh, monkeypatch, error, why, codec):
    import zarr.storage._local as local

    from deeprsa.store import _raw

    path = tmp_path / "store"
    extract("zoo:mlp_s0", stimuli, ["fc1", "fc2"], path, batch_size=8, codec=codec,
            progress=False)
    if codec == "zstd":
        monkeypatch.setattr(local, "_put", _failing(local._put, after=5, error=error,
                                                    on=("convnet", "/c/")))
    else:
        monkeypatch.setattr(_raw, "_write_atomically", _failing(
            _raw._write_atomically, after=5, error=error, on=("convnet", "/c/")))
    with pytest.raises(StoreWriteError) as info:
        extract("zoo:convnet_s0", stimuli, ["conv1", "fc"], path, batch_size=8, codec=codec,
                progress=False)
    message = str(info.value)
    assert re.match(re.escape("Writing activations of zoo:convnet_s0 layer '") + "(conv1|fc)"
                    + re.escape("' (key ") + r"\w+" + re.escape(
                        f") into store {str(path)!r} failed: {why} ("), message), message
    assert re.search(r"It needs about [\d.]+ (KB|MB) more \([\d.]+ (MB|GB|TB) free there\)\.",
                     message), message
    assert message.endswith("Free some space (or fix the disk) and run the same command "
                            "again: it resumes where it stopped.")
    assert info.value.errno == error
    monkeypatch.undo()
    store = Store(path)
    table = store.entries("activations")
    assert table.set_index("model").loc["zoo:mlp_s0", "complete"].all()  # finished: kept
    convnet = table[table.model == "zoo:convnet_s0"]
    assert not convnet.complete.any() and (convnet.rows_done < 40).all()
    _same(store, fresh)  # what is complete reads back intact
    _no_leftovers(path)

    again = extract("zoo:convnet_s0", stimuli, ["conv1", "fc"], path, batch_size=8,
                    codec=codec, progress=False)
    assert set(again.status) == {"resumed"}
    for key in again.key:
        assert store.read(key).tobytes() == fresh.read(key).tobytes()


def test_a_failed_rdm_write_names_the_rdm_and_the_rerun_resumes(tmp_path, fresh, monkeypatch):
    import zarr.storage._local as local

    shutil.copytree(fresh.path, tmp_path / "store")
    store = Store(tmp_path / "store")
    for key in list(store.select("rdms")["key"]):
        store.delete(key)
    monkeypatch.setattr(local, "_put", _failing(local._put, after=3, error=errno.ENOSPC,
                                                on=("/rdm/c/",)))  # 3 tiles: one tile row
    with pytest.raises(StoreWriteError, match=re.escape("Writing RDM of zoo:mlp_s0 layer 'fc1' "
                                                        "(correlation) (key")):
        deeprsa.compute_rdms(store, batch_size=16, progress=False)
    monkeypatch.undo()
    entry = store.entries("rdms").iloc[0]
    assert not entry.complete and entry.rows_done == 16  # the first tile row is kept
    deeprsa.compute_rdms(store, batch_size=16, progress=False)
    _same(store, fresh)
    _no_leftovers(store.path)


def test_a_full_disk_while_writing_the_manifest_leaves_it_intact(tmp_path, stimuli,
                                                                 monkeypatch):
    from deeprsa.store import _manifest, check_store

    path = tmp_path / "store"
    extract("zoo:mlp_s0", stimuli, ["fc1"], path, batch_size=8, progress=False)
    journal = (path / "manifest.journal").read_bytes()
    real = _manifest.Manifest._append

    def torn(self, line):  # half a line reaches the disk, then the disk is full
        with open(self.journal, "ab") as fh:
            fh.write(line[:len(line) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_manifest.Manifest, "_append", torn)
    with pytest.raises(StoreWriteError, match=re.escape("failed: the disk is full")):
        Store(path).write("rdms", {"name": "x"}, np.eye(3))
    monkeypatch.setattr(_manifest.Manifest, "_append", real)
    assert Store(path).manifest["entries"].keys() == Store(path, mode="r").manifest[
        "entries"].keys()
    assert len(Store(path).manifest["entries"]) == 1
    assert check_store(path).ok
    Store(path).write("rdms", {"name": "x"}, np.eye(3))  # space again: the write goes through
    assert (path / "manifest.journal").read_bytes().startswith(journal)


def test_an_interrupt_leaves_no_temporary_files_and_releases_the_locks(tmp_path, stimuli,
                                                                       fresh):
    net = deeprsa.load_model("zoo:mlp_s0")
    calls = {"n": 0}

    def interrupt(_m, _i, _o):
        calls["n"] += 1
        if calls["n"] == 4:  # probe, capture, two batches, then Ctrl-C
            raise KeyboardInterrupt

    handle = net.module.fc2.register_forward_hook(interrupt)
    with pytest.raises(KeyboardInterrupt):
        extract(net, stimuli, ["fc1", "fc2"], tmp_path / "store", batch_size=8,
                progress=False)
    handle.remove()
    _no_leftovers(tmp_path / "store")
    again = extract("zoo:mlp_s0", stimuli, ["fc1", "fc2"], tmp_path / "store", batch_size=8,
                    progress=False)
    assert set(again.status) == {"resumed"}
    _same(Store(tmp_path / "store"), fresh)


def test_comparisons_remove_their_spill_files_on_success_and_error(fresh, monkeypatch):
    from deeprsa.compare import _pairs

    pattern = os.path.join(tempfile.gettempdir(), "deeprsa-compare-*")
    before = set(glob.glob(pattern))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for method in ("kendall_tau_b", "linear_cka"):  # pairs of prepared, spilled items
            deeprsa.multi_model_rdm(fresh, method=method, working_memory=0.001)
        real = _pairs._pair_values
        monkeypatch.setattr(_pairs, "_pair_values", lambda *a, **k: (
            real(*a, **k), (_ for _ in ()).throw(RuntimeError("boom")))[1])
        with pytest.raises(RuntimeError, match="boom"):
            deeprsa.multi_model_rdm(fresh, method="kendall_tau_b", working_memory=0.001)
    assert set(glob.glob(pattern)) == before


# ----------------------------------------------------------------------------- real file systems


def _namespace_available():
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs "
                            f"{tempfile.gettempdir()} && true"], capture_output=True)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not _namespace_available(),
                                  reason="needs unshare -m and tmpfs mounts (Linux, privileged)")


def _cli(*args):
    return f"PYTHONPATH={SRC} {sys.executable} -m deeprsa.cli {' '.join(args)}"


@pytest.mark.slow
@needs_mounts
def test_a_small_tmpfs_fills_up_then_the_rerun_finishes(tmp_path, fresh):
    mount = tmp_path / "disk"
    mount.mkdir()
    extract_cmd = _cli("extract", "--model", "zoo:convnet_s0", "--layers", "conv1,fc",
                       "--stimuli", "digits:test", "--batch-size", "8", "--no-progress",
                       "--store", f"{mount}/store")
    script = textwrap.dedent(f"""
        set -u
        mount -t tmpfs -o size=200k tmpfs {mount}
        {extract_cmd} > {tmp_path}/first.txt 2>&1; echo "first=$?" >> {tmp_path}/first.txt
        mount -o remount,size=20m {mount}
        {extract_cmd} > {tmp_path}/second.txt 2>&1; echo "second=$?" >> {tmp_path}/second.txt
        cp -r {mount}/store {tmp_path}/copy
    """)
    subprocess.run(["unshare", "-m", "sh", "-c", script], check=True, timeout=600)
    first, second = (tmp_path / "first.txt").read_text(), (tmp_path / "second.txt").read_text()
    assert "first=1" in first and "Traceback" not in first, first
    assert "failed: the disk is full" in first and "It needs about" in first
    assert "second=0" in second and "resumed" in second, second
    store = Store(tmp_path / "copy", mode="r")
    reference = deeprsa.extract("zoo:convnet_s0", deeprsa.digits(split="test"),
                                ["conv1", "fc"], tmp_path / "reference", batch_size=8,
                                progress=False)
    for key in reference.key:
        assert store.read(key).tobytes() == Store(tmp_path / "reference").read(key).tobytes()


@pytest.mark.slow
@needs_mounts
def test_a_read_only_file_system_reads_compares_and_analyses(tmp_path, fresh):
    mount = tmp_path / "share"
    mount.mkdir()
    commands = [_cli("rdm", "--store", f"{mount}/store", "--measure", "euclidean"),
                _cli("compare", "--store", f"{mount}/store", "--table", f"{tmp_path}/c.parquet"),
                _cli("dimensionality", "--store", f"{mount}/store"),
                _cli("store", "check", f"{mount}/store")]
    script = "set -u\n" + f"mount -t tmpfs tmpfs {mount}\ncp -r {fresh.path} {mount}/store\n"
    script += f"mount -o remount,ro {mount}\ncd {tmp_path}\n"
    for i, command in enumerate(commands):
        script += f"{command} > {tmp_path}/out{i}.txt 2>&1; echo \"rc=$?\" >> {tmp_path}/out{i}.txt\n"
    subprocess.run(["unshare", "-m", "sh", "-c", script], check=True, timeout=600)
    outputs = [(tmp_path / f"out{i}.txt").read_text() for i in range(len(commands))]
    for output in outputs:
        assert "rc=0" in output and "Traceback" not in output, output
    assert "the comparisons are not saved in it" in outputs[1]
    assert (tmp_path / "c.parquet").exists()
    assert (tmp_path / "deeprsa_tables" / "dimensionality.csv").exists()
