"""Real processes: killed (SIGKILL) at every stage, and several writing one store at once.

A killed run loses at most the block it was writing; the same command again computes
only what is missing and ends with tables and arrays equal, bit for bit, to an
uninterrupted run. Two processes asked for the same arrays write them once; a soak of
4 processes x 20 runs leaves a consistent store (docs/reliability.md, "Processes").
"""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import deeprsa
from deeprsa import Store, compute_rdm, extract
from deeprsa.store import check_store

TESTS = Path(__file__).parent
SRC = TESTS.parent / "src"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}

pytestmark = pytest.mark.slow  # every test here starts Python processes (seconds each)


def _python(script, *args, timeout=600):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                          env=ENV, capture_output=True, text=True, timeout=timeout)


def _start(script, *args):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _killed(result):
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-3000:])


def _equal_stores(store, reference, kinds=("activations", "rdms", "comparisons")):
    """Every entry of ``reference`` of ``kinds`` is complete in ``store``, bit for bit."""
    keys = [k for k, e in reference.manifest["entries"].items() if e["kind"] in kinds]
    assert keys
    for key in keys:
        assert store.has(key), key
        a, b = store.read(key), reference.read(key)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), key


@pytest.fixture(scope="module")
def stimuli():
    return deeprsa.digits(split="test").sample(4, seed=0)


LAYERS = {"zoo:mlp_s0": ["fc1", "fc2", "logits"], "zoo:convnet_s0": ["conv1", "pool2", "fc"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, stimuli):
    """The uninterrupted run: activations, RDMs (8-row tiles), the stored-ranks comparison."""
    path = tmp_path_factory.mktemp("reference") / "store"
    for model, layers in LAYERS.items():
        extract(model, stimuli, layers, path, batch_size=8, progress=False)
    deeprsa.compute_rdms(path, batch_size=8, progress=False)
    deeprsa.multi_model_rdm(path, working_memory=0.001)  # each RDM ranked into the store
    deeprsa.model_rdm(path, "zoo:mlp_s0", method="kendall_tau_b")
    return Store(path, mode="r")


def _extracted(tmp_path, stimuli):
    path = tmp_path / "store"
    for model, layers in LAYERS.items():
        extract(model, stimuli, layers, path, batch_size=8, progress=False)
    return path


# ============================================================================ SIGKILL


def test_a_kill_during_rdms_resumes_only_the_missing_tiles(tmp_path, stimuli, reference,
                                                           monkeypatch):
    path = _extracted(tmp_path, stimuli)
    _killed(_python("""
        import sys, _kill, deeprsa
        _kill.arm("deeprsa.rdm._engine.tile_block", 24)  # RDM 2, inside its 2nd row of tiles
        deeprsa.compute_rdms(sys.argv[1], batch_size=8, progress=False)
    """, path))
    store = Store(path)
    rdms = store.entries("rdms")
    assert rdms.complete.sum() == 1 and len(rdms) == 2
    done = int(rdms[~rdms.complete].rows_done.iloc[0])
    assert done == 8  # the first row of tiles was finished and recorded
    # 40 stimuli in 8-row tiles: row tile i has 5 - i tile pairs, 15 per RDM.
    missing = 15 - 5 + 15 * 4  # rest of RDM 2, four RDMs not started
    from deeprsa.rdm import _engine

    calls = []
    real = _engine.tile_block
    monkeypatch.setattr(_engine, "tile_block", lambda *a, **k: calls.append(1) or real(*a, **k))
    deeprsa.compute_rdms(store, batch_size=8, progress=False)
    assert len(calls) == missing
    _equal_stores(store, reference, kinds=("activations", "rdms"))


def test_a_kill_during_a_multi_model_comparison_keeps_the_prepared_rdms(tmp_path, stimuli,
                                                                        reference):
    path = _extracted(tmp_path, stimuli)
    deeprsa.compute_rdms(path, batch_size=8, progress=False)
    _killed(_python("""
        import sys, _kill, deeprsa
        _kill.arm("deeprsa.compare._pairs.prepare_into_store", 4)
        deeprsa.multi_model_rdm(sys.argv[1], working_memory=0.001)
    """, path))
    store = Store(path)
    kept = store.select("prepared")
    assert len(kept) == 3 and store.select("comparisons", strict=False).empty
    result = deeprsa.multi_model_rdm(store, working_memory=0.001)
    again = store.select("prepared")
    assert len(again) == 6
    assert set(kept.key) <= set(again.key)  # the three ranked before the kill were reused
    assert list(kept.created) == list(again.set_index("key").loc[kept.key].created)
    expected = reference.read(reference.find("comparisons", name="multi_model_rdm",
                                             method="spearman"))
    assert result.matrix.tobytes() == expected.tobytes()


def test_a_kill_during_a_model_rdm_recomputes_only_the_comparison(tmp_path, stimuli,
                                                                  reference, monkeypatch):
    path = _extracted(tmp_path, stimuli)
    deeprsa.compute_rdms(path, batch_size=8, progress=False)
    _killed(_python("""
        import sys, _kill, deeprsa
        _kill.arm("deeprsa.compare._pairs._pair_values", 1)
        deeprsa.model_rdm(sys.argv[1], "zoo:mlp_s0", method="kendall_tau_b")
    """, path))
    from deeprsa.rdm import _engine

    monkeypatch.setattr(_engine, "tile_block", lambda *a, **k: pytest.fail("RDM recomputed"))
    result = deeprsa.model_rdm(path, "zoo:mlp_s0", method="kendall_tau_b")
    key = reference.find("comparisons", method="kendall_tau_b")
    assert result.matrix.tobytes() == reference.read(key).tobytes()
    _equal_stores(Store(path), reference, kinds=("activations", "rdms"))


RUN = {
    "title": "kill at any stage",
    "stimuli": {"source": "digits:test", "n_per_class": 3},
    "models": [{"spec": "zoo:mlp_s0", "layers": ["fc1", "fc2", "logits"]},
               {"spec": "zoo:convnet_s0", "layers": ["conv1", "fc"]}],
    "extract": {"batch_size": 8},
    "analyses": {"dimensionality": {"n_units": 64}, "srm": False, "performance": False},
    "outputs": {"figures": ["rdms", "model_rdm", "multi_model_rdm", "mds_layers"],
                "formats": ["png"]},
}


def _config(path, out):
    """RUN as a TOML file (what `deeprsa run` reads)."""
    lines = [f'title = "{RUN["title"]}"', "", "[stimuli]", 'source = "digits:test"',
             "n_per_class = 3", ""]
    for m in RUN["models"]:
        lines += ["[[models]]", f'spec = "{m["spec"]}"', f"layers = {m['layers']}", ""]
    lines += ["[extract]", "batch_size = 8", "", "[analyses.dimensionality]", "n_units = 64",
              "", "[analyses]", "srm = false", "performance = false", "", "[outputs]",
              f'dir = "{out}"', f"figures = {RUN['outputs']['figures']}", 'formats = ["png"]']
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from deeprsa.pipeline import run_config

    root = tmp_path_factory.mktemp("run")
    run_config(_config(root / "run.toml", root / "out"), progress=False)
    return root / "out"


def _tables(run_dir):
    return {p.name: p.read_bytes() for p in sorted((Path(run_dir) / "tables").glob("*.csv"))}


@pytest.mark.parametrize("target, n", [
    ("deeprsa.analyses.dimensionality", 1),           # during an analysis
    ("deeprsa.report.html._figure_html", 3),          # while the report is written
    ("deeprsa.report.record.RunRecord.add_table", 2),  # between two tables
], ids=["analysis", "report", "tables"])
def test_a_killed_run_finishes_only_what_is_missing(tmp_path, uninterrupted, target, n,
                                                    monkeypatch):
    from deeprsa.pipeline import run_config

    config = _config(tmp_path / "run.toml", tmp_path / "out")
    if "RunRecord" in target:  # a method: arm it on its class
        script = f"""
            import sys, os, signal
            from deeprsa.report import record
            real, calls = record.RunRecord.add_table, []
            def add_table(self, *a, **k):
                calls.append(1)
                if len(calls) == {n}:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(self, *a, **k)
            record.RunRecord.add_table = add_table
            from deeprsa.cli import cli
            cli(["run", sys.argv[1], "--no-progress"])
        """
    else:
        script = f"""
            import sys, _kill
            _kill.arm({target!r}, {n})
            from deeprsa.cli import cli
            cli(["run", sys.argv[1], "--no-progress"])
        """
    _killed(_python(script, config))
    assert not (tmp_path / "out" / "report.html").exists()
    from deeprsa.rdm import _engine

    monkeypatch.setattr(_engine, "tile_block", lambda *a, **k: pytest.fail("RDM recomputed"))
    run_config(config, progress=False)
    run = __import__("json").loads((tmp_path / "out" / "run.json").read_text())
    assert {m["extraction"] for m in run["models"]} == {"skipped 3", "skipped 2"}
    assert _tables(tmp_path / "out") == _tables(uninterrupted)
    _equal_stores(Store(tmp_path / "out" / "store"), Store(uninterrupted / "store", mode="r"))
    assert not [p for p in (tmp_path / "out").rglob("*.tmp")]


# ============================================================================ concurrent writers

EXTRACT = """
    import sys, deeprsa
    stim = deeprsa.digits(split="test").sample(int(sys.argv[4]) if len(sys.argv) > 4 else 4,
                                               seed=0)
    table = deeprsa.extract(sys.argv[1], stim, sys.argv[3].split(","), sys.argv[2],
                            batch_size=4, weights="random" if "_nets" in sys.argv[1] else "trained",
                            seed=0, progress=False)
    print(",".join(table.status))
"""


def test_two_processes_extracting_different_models_both_finish(tmp_path):
    path = tmp_path / "store"
    procs = [_start(EXTRACT, model, path, ",".join(layers)) for model, layers in LAYERS.items()]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    table = Store(path).entries("activations")
    assert table.complete.all() and sorted(set(table.model)) == sorted(LAYERS)
    assert len(table) == 6


def test_two_processes_extracting_the_same_layers_write_one_array(tmp_path):
    path, gate = tmp_path / "store", tmp_path / "gate"
    env = {**ENV, "DEEPRSA_TEST_GATE": str(gate)}
    args = [sys.executable, "-c", textwrap.dedent(EXTRACT), "module:_nets:gated_net",
            str(path), "conv,fc"]
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 300
    while not (path / "manifest.journal").exists() or Store(path, mode="r").entries(
            "activations").empty:  # the first process has created its arrays, and waits
        assert time.time() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)
    second = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    waiting = ""
    while "waiting for it to finish" not in waiting:  # the second one waits for the first
        assert time.time() < deadline and second.poll() is None, second.communicate()
        waiting += os.read(second.stderr.fileno(), 4096).decode()
    gate.touch()
    (out1, err1), (out2, err2) = first.communicate(timeout=600), second.communicate(timeout=600)
    assert first.returncode == second.returncode == 0, (err1, err2)
    assert out1.strip() == "extracted,extracted" and out2.strip() == "skipped,skipped"
    assert ("Another process is writing activations of module:_nets:gated_net@random(seed=0) "
            "layer 'conv'") in waiting
    store = Store(path)
    table = store.entries("activations")
    assert len(table) == 2 and table.complete.all()
    sys.path.insert(0, str(TESTS))
    try:
        fresh = extract("module:_nets:gated_net", deeprsa.digits(split="test").sample(
            4, seed=0), ["conv", "fc"], tmp_path / "fresh", batch_size=4, weights="random",
            seed=0, progress=False)
    finally:
        sys.path.remove(str(TESTS))
    for key in fresh.key:
        assert store.read(key).tobytes() == Store(tmp_path / "fresh").read(key).tobytes()
    assert not list(path.glob("locks/*.lock"))


SOAK = """
    import random, sys, deeprsa
    store, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    digits = deeprsa.digits(split="test")
    sets = [digits.sample(1, seed=s) for s in (0, 1)]  # every process draws from the same two
    layers = {"zoo:mlp_s0": ["fc1", "fc2", "logits"], "zoo:mlp_s1": ["fc1", "logits"],
              "zoo:convnet_s0": ["conv1", "fc"]}
    for run in range(20):
        stim = rng.choice(sets)
        model = rng.choice(sorted(layers))
        chosen = rng.sample(layers[model], 2)
        table = deeprsa.extract(model, stim, chosen, store, batch_size=4, progress=False)
        for key in table.key:
            deeprsa.compute_rdm(store, key=key, measure=rng.choice(["correlation", "euclidean"]),
                                batch_size=4)
        if rng.random() < 0.3:
            deeprsa.multi_model_rdm(store, stimuli=stim.content_hash(), measure="correlation")
    print("done")
"""


def test_a_soak_of_four_processes_leaves_a_consistent_store(tmp_path):
    path = tmp_path / "store"
    Store(path)
    procs = [_start(SOAK, path, seed) for seed in range(4)]
    outs = [p.communicate(timeout=900) for p in procs]  # bounded: at most 15 minutes
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-2000:] for _, err in outs]
    assert all(out.strip() == "done" for out, _ in outs)

    # The consistency check of the whole store: every chunk verifies, nothing is half
    # written, every array equals a fresh computation from its inputs.
    report = check_store(path)
    assert report.ok and not report.notes, report.lines()
    store = Store(path)
    table = store.entries()
    assert table.complete.all()
    digits = deeprsa.digits(split="test")
    sets = {s.content_hash(): s for s in (digits.sample(1, seed=0), digits.sample(1, seed=1))}
    for entry in store.entries("activations").itertuples():
        fresh = extract(entry.model, sets[entry.stimuli], [entry.layer], tmp_path / "fresh",
                        batch_size=4, progress=False)
        assert store.read(entry.key).tobytes() == Store(tmp_path / "fresh").read(
            fresh.key[0]).tobytes()
    again = Store(tmp_path / "again")  # the same activations, their RDMs computed afresh
    for entry in store.entries("rdms").itertuples():
        source = store.entry(entry.activations)
        again.add_stimuli(store.stimulus_ids(entry.stimuli), entry.stimuli)
        again.write("activations", source["fields"], store.read(entry.activations))
        rdm = compute_rdm(again, key=entry.activations, measure=entry.measure, batch_size=4)
        assert rdm.provenance["key"] == entry.key
        np.testing.assert_array_equal(deeprsa.RDM.load(store, entry.key).matrix, rdm.matrix)
    assert not list(path.glob("locks/*.lock"))
    assert not [p for p in path.rglob("*") if re.search(r"\.(tmp|partial)$", p.name)]
