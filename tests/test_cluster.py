"""Running a plan on a Dask cluster: block markers, identity with the serial run, worker death."""

import logging
import os
import re
import sys
import time

import numpy as np
import pandas as pd
import pytest

import deeprsa
from deeprsa import Store, compute_rdms, extract, load_model, multi_model_rdm
from deeprsa.pipeline import RunConfig

# ============================================================================ block markers
# (store additions; no Dask needed)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


def test_block_markers_record_blocks_in_any_order_with_their_info(store):
    key, array, _ = store.create("rdms", {"name": "x"}, shape=(4, 4), chunks=(2, 2))
    array[2:, 2:] = 1.0
    store.mark_blocks_done(key, ["1-1"], info={"1-1": [3]})
    store.mark_blocks_done(key, ["0-1", "0-0"])

    assert store.blocks_done(key) == {"0-0": None, "0-1": None, "1-1": [3]}
    assert not store.has(key)  # markers alone never complete an array
    assert store.blocks_done("no-such-key") == {}


def test_mark_complete_finishes_the_array_and_drops_its_markers(store):
    key, array, _ = store.create("rdms", {"name": "x"}, shape=(4, 4), chunks=(2, 2))
    array[...] = 2.0
    store.mark_blocks_done(key, ["0-0", "0-1", "1-1"])

    store.mark_complete(key, attrs={"constant_rows": []})

    assert store.has(key)
    assert store.entry(key)["rows_done"] == 4
    assert store.entry(key)["attrs"]["constant_rows"] == []
    assert store.blocks_done(key) == {}
    np.testing.assert_array_equal(store.read(key), np.full((4, 4), 2.0, dtype=np.float32))


def test_a_recreated_array_does_not_inherit_stale_markers(store):
    # Markers describe one array; when it is made again (deleted, or its files lost),
    # they must go, or a rerun would skip blocks that are no longer on disk.
    fields = {"name": "x"}
    key, _, _ = store.create("rdms", fields, shape=(4, 4), chunks=(2, 2))
    store.mark_blocks_done(key, ["0-0"])
    store.delete(key)
    assert store.blocks_done(key) == {}

    key, _, _ = store.create("rdms", fields, shape=(4, 4), chunks=(2, 2))
    store.mark_blocks_done(key, ["0-0"])
    import shutil

    shutil.rmtree(store.path / "rdms" / key)
    store.create("rdms", fields, shape=(4, 4), chunks=(2, 2))
    assert store.blocks_done(key) == {}


@pytest.mark.parametrize("name", ["", "a/b", "../x", "0 1"])
def test_block_names_must_be_safe_file_names(store, name):
    key, _, _ = store.create("rdms", {"name": "x"}, shape=(2, 2))
    msg = ("Block names may hold letters, digits, '-' and '_' only (they name marker "
           f"files); got {name!r}.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        store.mark_blocks_done(key, [name])


def test_markers_need_a_writable_store(store):
    key, _, _ = store.create("rdms", {"name": "x"}, shape=(2, 2))
    reader = Store(store.path, mode="r")
    with pytest.raises(PermissionError, match=re.escape("was opened read-only (mode='r')")):
        reader.mark_blocks_done(key, ["0-0"])


# ============================================================================ without a cluster


def test_missing_shards_skip_the_serial_prefix_and_marked_shards(store):
    from deeprsa.pipeline.dask import _missing_shards

    key, _, _ = store.create("activations", {"layer": "a"}, shape=(100, 3), chunks=(16, 3))
    store.mark_blocks_done(key, ["64-96"])
    layer = {"key": key, "done": 16}  # a serial run wrote the first batch

    shards = _missing_shards(store, [layer], 100, 16, 32)

    # units of 16 rows; shards of 2 units: [0, 32) lacks 16-32, [64, 96) is there
    assert shards == [(16, 32), (32, 64), (96, 100)]
    assert _missing_shards(store, [], 100, 16, 32) == []


def test_comparing_an_rdm_with_nan_entries_says_what_to_use(store):
    from deeprsa.compare import _METHODS
    from deeprsa.pipeline._dask_tasks import prepare_input

    matrix = np.ones((4, 4)) - np.eye(4)
    matrix[0, 1] = matrix[1, 0] = np.nan
    key = store.write("rdms", {"model": "m", "layer": "l"}, matrix)
    msg = (f"RDM {key} holds NaN entries; compare such RDMs with deeprsa.multi_model_rdm, "
           "which leaves those pairs out of every comparison.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        prepare_input(str(store.path), key, "rdms", 4, 4, _METHODS["spearman"], {},
                      {"blas": 1, "torch": 1})


def test_an_rdm_is_not_finished_while_tiles_are_missing(store):
    from deeprsa.pipeline._dask_tasks import finish_rdm
    from deeprsa.rdm.measures import _MEASURES

    key, _, _ = store.create("rdms", {"name": "x"}, shape=(4, 4), chunks=(2, 2))
    store.mark_blocks_done(key, ["0-0", "1-1"])
    msg = (f"RDM {key} has 2 of 3 tiles on disk after all its tasks finished; run the plan "
           "again to complete it.")
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        finish_rdm(store, key, _MEASURES["correlation"], 3, ("a", "b", "c", "d"))
    assert not store.has(key)


def test_start_cluster_names_the_extra_to_install(monkeypatch):
    from deeprsa.pipeline.dask import start_cluster

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    msg = ('Running on a Dask cluster needs the optional package dask.distributed: '
           'pip install "deeprsa[dask]"')
    with pytest.raises(ImportError, match=re.escape(msg)):
        start_cluster("local:2")


@pytest.mark.parametrize("cluster", ["local:0", "local:two", "local:"])
def test_start_cluster_checks_the_number_of_local_workers(cluster):
    pytest.importorskip("distributed")
    from deeprsa.pipeline.dask import start_cluster

    msg = ("cluster must be 'local', 'local:N' with N a positive number of workers, or a "
           f"scheduler address; got {cluster!r}.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        start_cluster(cluster)


def test_start_cluster_wants_a_string():
    from deeprsa.pipeline.dask import start_cluster

    msg = "cluster must be a str ('local', 'local:N' or a scheduler address), got int."
    with pytest.raises(TypeError, match=re.escape(msg)):
        start_cluster(2)


@pytest.mark.parametrize("option, value", [("rdm_batch_size", 0), ("shard_size", -64),
                                           ("n_jobs", 1.5), ("rdm_batch_size", True)])
def test_run_plan_checks_its_sizes(option, value):
    from deeprsa.pipeline.dask import run_plan

    msg = f"{option} must be None or a positive int, got {value!r}."
    with pytest.raises(ValueError, match=re.escape(msg)):
        run_plan(None, None, store="unused", **{option: value})


def test_run_plan_wants_a_client():
    pytest.importorskip("distributed")
    from deeprsa.pipeline.dask import run_plan

    msg = ("client must be a distributed.Client, got str; start one with "
           "deeprsa.pipeline.dask.start_cluster('local:2').")
    with pytest.raises(TypeError, match=re.escape(msg)):
        run_plan(None, "tcp://localhost:8786", store="unused")


def test_cluster_run_needs_exactly_one_way_to_reach_a_cluster(tmp_path):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    config = tmp_path / "run.toml"
    config.write_text('[stimuli]\nsource = "digits:test"\n\n[[models]]\nspec = "zoo:mlp_s0"\n')
    msg = ("Pass one of --cluster local[:N] (start a local cluster) or --scheduler ADDRESS "
           "(join a running one).")
    for args in ([], ["--cluster", "local:2", "--scheduler", "tcp://localhost:8786"]):
        result = CliRunner().invoke(cli, ["cluster-run", str(config), *args])
        assert result.exit_code == 2
        assert msg in result.output


# ============================================================================ on a cluster
# One LocalCluster of 2 single-threaded worker processes for the module. A task that
# kills its worker fails at once (allowed-failures 0), so the kill test can stop a run.

B = 32  # rows per RDM tile: 100 stimuli give 4 row tiles, 10 tile pairs per RDM
PLAN = {
    "stimuli": {"source": "digits:test", "n_per_class": 10},
    "models": [{"spec": "zoo:convnet_s0", "layers": ["conv1", "pool2", "fc"]},
               {"spec": "zoo:mlp_s0", "layers": ["fc1", "logits"]}],
    "extract": {"batch_size": 16},
    "rdm": {"measures": ["correlation", "euclidean"]},
    "compare": {"methods": ["spearman", "pearson", "kendall_tau_b"]},
}


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("distributed")
    import dask

    from deeprsa.pipeline.dask import start_cluster

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("deeprsa.pipeline.dask")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            client = start_cluster("local:2", dashboard_address=":0")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    client.wait_for_workers(2)
    client.run(__import__, "deeprsa.extract")  # warm the workers: torch, the zoo
    yield client, [r.getMessage() for r in records]
    client.close()


@pytest.fixture(scope="module")
def plan():
    return RunConfig.from_dict(PLAN)


@pytest.fixture(scope="module")
def stimuli(plan):
    from deeprsa.pipeline.plan import draw_stimuli

    return draw_stimuli(plan)


@pytest.fixture(scope="module")
def serial(plan, stimuli, tmp_path_factory):
    """The same plan run serially in this process, stage by stage as ``deeprsa run`` does."""
    store = Store(tmp_path_factory.mktemp("serial") / "store")
    for model in plan.models:
        loaded = load_model(model.spec, weights=model.weights, seed=model.seed, name=model.name)
        extract(loaded, stimuli, list(model.layers), store, reduction=model.reduction,
                batch_size=plan.extract.batch_size, progress=False)
    names = [m.name for m in plan.models]
    for measure in plan.rdm.measures:
        compute_rdms(store, measure=measure, model=names, stimuli=stimuli.content_hash(),
                     batch_size=B, progress=False)
    comparisons = {method: multi_model_rdm(store, names, method=method,
                                           measure=plan.rdm.measures[0],
                                           stimuli=stimuli.content_hash())
                   for method in plan.compare.methods}
    return store, comparisons


def assert_same_arrays(serial_store, store):
    """Every activations, RDM and comparison array of the serial store, bitwise, same key."""
    keys = serial_store.entries()
    assert set(keys["kind"]) == {"activations", "rdms", "comparisons"}
    for key in keys["key"]:
        assert store.has(key), key
        a, b = serial_store.read(key), store.read(key)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), (key, float(np.abs(a - b).max()))


@pytest.mark.slow
def test_the_dashboard_link_is_logged_when_a_cluster_starts(cluster):
    client, messages = cluster
    assert any(client.dashboard_link in m and "local cluster of 2 worker(s)" in m
               for m in messages)


@pytest.mark.slow
def test_plan_on_two_workers_equals_the_serial_run(cluster, plan, stimuli, serial, tmp_path):
    from deeprsa.pipeline.dask import run_plan

    client, _ = cluster
    serial_store, serial_comparisons = serial

    result = run_plan(plan, client, store=tmp_path / "store", stimuli=stimuli,
                      rdm_batch_size=B, progress=False)

    store = Store(tmp_path / "store")
    assert_same_arrays(serial_store, store)
    assert set(result.comparisons) == set(plan.compare.methods)
    for method, expected in serial_comparisons.items():
        got = result.comparisons[method]
        assert got.matrix.tobytes() == expected.matrix.tobytes(), method
        pd.testing.assert_frame_equal(got.table, expected.table, check_exact=True)
    work = result.work
    assert set(work["status"]) == {"computed"}
    rdms = work[work["stage"] == "rdm"]
    assert len(rdms) == 5 * 2 and set(rdms["blocks"]) == {10}  # 5 layers x 2 measures

    again = run_plan(plan, client, store=store, stimuli=stimuli, rdm_batch_size=B,
                     progress=False)

    stages = again.work.set_index("stage")
    assert stages.loc[["extract", "rdm"], "computed"].sum() == 0
    assert set(stages.loc[["extract", "rdm"], "status"]) == {"skipped"}
    assert_same_arrays(serial_store, store)


KILL_PLUGIN = "deeprsa-test-kill-once"


def kill_once(marker, prefix="rdm-tile", nth=3):
    """Worker plugin: the first worker to start its ``nth`` task named ``prefix...`` dies.

    It dies with ``os._exit``, at once. The marker file is claimed by renaming it, so
    only one worker dies, once.
    """
    from distributed import WorkerPlugin

    class KillOnce(WorkerPlugin):
        name = KILL_PLUGIN

        def setup(self, worker):
            self.tiles = 0

        def transition(self, key, start, finish, **kwargs):
            if finish != "executing" or not str(key).startswith(prefix):
                return
            self.tiles += 1
            if self.tiles < nth:
                return
            try:
                os.rename(marker, f"{marker}.claimed")
            except FileNotFoundError:
                return
            os._exit(1)

    return KillOnce()


def _wait_until_idle(client, timeout=60):
    """Until every worker is back and runs nothing (cancelled tasks finish running)."""
    client.wait_for_workers(2, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = client.run(lambda dask_worker: len(dask_worker.state.executing))
        if len(busy) == 2 and not any(busy.values()):
            return
        time.sleep(0.2)
    raise TimeoutError("workers kept running tasks")


def _missing_tiles(store):
    """Tile pairs of every unfinished RDM without a marker; and how many are done."""
    missing = done = 0
    for entry in store.entries("rdms").itertuples():
        if entry.complete:
            done += 10
            continue
        marked = len(store.blocks_done(entry.key))
        done += marked
        missing += 10 - marked
    return missing, done


@pytest.mark.slow
def test_a_worker_killed_during_rdm_tiles_loses_nothing_finished(cluster, plan, stimuli,
                                                                 serial, tmp_path):
    from distributed import KilledWorker

    from deeprsa.pipeline.dask import run_plan

    client, _ = cluster
    marker = tmp_path / "kill-once"
    marker.touch()
    client.register_plugin(kill_once(str(marker)))
    try:
        with pytest.raises(KilledWorker):
            run_plan(plan, client, store=tmp_path / "store", stimuli=stimuli,
                     rdm_batch_size=B, progress=False)
    finally:
        client.unregister_worker_plugin(KILL_PLUGIN)
        _wait_until_idle(client)
    assert not marker.exists()  # a worker did die
    store = Store(tmp_path / "store")
    n_rdms = len(plan.rdm.measures) * 5
    missing, done = _missing_tiles(store)
    assert done >= 2  # the dying worker had finished two tiles
    assert 0 < missing <= n_rdms * 10 - done

    result = run_plan(plan, client, store=store, stimuli=stimuli, rdm_batch_size=B,
                      progress=False)

    rdms = result.work[result.work["stage"] == "rdm"]
    assert rdms["computed"].sum() == missing  # only the tiles without a marker
    assert len(rdms) == n_rdms
    assert_same_arrays(serial[0], store)
    for method, expected in serial[1].items():
        assert result.comparisons[method].matrix.tobytes() == expected.matrix.tobytes()


@pytest.mark.slow
def test_a_worker_killed_during_extraction_loses_nothing_finished(cluster, plan, stimuli,
                                                                  serial, tmp_path):
    from distributed import KilledWorker

    from deeprsa.pipeline.dask import run_plan

    client, _ = cluster
    marker = tmp_path / "kill-once"
    marker.touch()
    client.register_plugin(kill_once(str(marker), prefix="extract-shard", nth=2))
    try:
        with pytest.raises(KilledWorker):
            run_plan(plan, client, store=tmp_path / "store", stimuli=stimuli,
                     rdm_batch_size=B, shard_size=16, progress=False)
    finally:
        client.unregister_worker_plugin(KILL_PLUGIN)
        _wait_until_idle(client)
    assert not marker.exists()  # a worker did die, in the middle of extracting
    store = Store(tmp_path / "store")
    activations = store.entries("activations")
    marked = {key: len(store.blocks_done(key)) for key in activations.key}
    assert not activations.complete.all() and any(marked.values())  # finished shards kept
    shards = -(-len(stimuli) // 16)
    missing = {m: max(shards - min(marked[k] for k in activations[activations.model == m].key), 0)
               for m in set(activations.model) if not activations[activations.model == m]
               .complete.all()}

    result = run_plan(plan, client, store=store, stimuli=stimuli, rdm_batch_size=B,
                      shard_size=16, progress=False)

    extraction = result.work[result.work["stage"] == "extract"]
    for model, n in missing.items():  # only the shards without a marker ran again
        assert set(extraction[extraction.model == model].computed) == {n}
    assert_same_arrays(serial[0], store)


def test_cluster_run_reports_bad_options_before_starting_a_cluster(tmp_path):
    pytest.importorskip("distributed")
    from click.testing import CliRunner

    from deeprsa.cli import cli

    config = tmp_path / "run.toml"
    config.write_text('[stimuli]\nsource = "digits:test"\n\n[[models]]\nspec = "zoo:mlp_s0"\n')
    msg = ("cluster must be 'local', 'local:N' with N a positive number of workers, or a "
           "scheduler address; got 'local:0'.")
    result = CliRunner().invoke(cli, ["cluster-run", str(config), "--cluster", "local:0"])
    assert result.exit_code == 1
    assert f"Error: {msg}" in result.output

    result = CliRunner().invoke(cli, ["cluster-run", str(config), "--cluster", "local:1",
                                      "--rdm-batch-size", "0"])
    assert result.exit_code == 2  # click's range check, before any cluster starts
    assert "--rdm-batch-size" in result.output


@pytest.mark.slow
def test_cluster_run_prints_the_dashboard_link_and_fills_the_store(tmp_path):
    pytest.importorskip("distributed")
    from click.testing import CliRunner

    from deeprsa.cli import cli

    config = tmp_path / "run.toml"
    config.write_text('[stimuli]\nsource = "digits:test"\nn_per_class = 3\n\n'
                      '[[models]]\nspec = "zoo:mlp_s0"\nlayers = ["fc1", "logits"]\n')
    result = CliRunner().invoke(cli, ["cluster-run", str(config), "--cluster", "local:1",
                                      "--out", str(tmp_path / "out"), "--no-report",
                                      "--no-progress"])

    assert result.exit_code == 0, result.output
    assert re.search(r"^Dask dashboard: http://\S+:\d+/status", result.output, re.M)
    assert f"Store: {tmp_path / 'out' / 'store'}" in result.output
    store = Store(tmp_path / "out" / "store", mode="r")
    table = store.entries()
    assert table["complete"].all()
    assert sorted(table["kind"].value_counts().items()) == [
        ("activations", 2), ("comparisons", 1), ("rdms", 2)]


def test_deeprsa_keeps_dask_out_of_plain_imports():
    # `import deeprsa` must not import dask: it is an optional extra.
    import subprocess

    code = ("import sys, deeprsa, deeprsa.pipeline.dask, deeprsa.cluster; "
            "print('distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    assert deeprsa.__version__


@pytest.mark.slow
def test_a_run_on_the_cluster_equals_the_serial_run_and_compares_once(cluster, tmp_path,
                                                                      monkeypatch):
    # `deeprsa run --cluster`: the same tables and provenance as `deeprsa run`, and the
    # report's sections find the cluster's comparisons instead of computing them again.
    import json

    from deeprsa.compare import _store as compare_store
    from deeprsa.pipeline import run_config
    from deeprsa.pipeline.dask import DaskExecutor

    client, _ = cluster
    config = {**PLAN, "outputs": {"figures": ["model_rdm"], "report": False},
              "analyses": {"srm": False, "performance": False, "dimensionality": False,
                           "mds": False}}
    serial = run_config(config, out_dir=tmp_path / "serial", progress=False)

    def no_second_comparison(*args, **kwargs):
        raise AssertionError("a comparison the cluster saved was computed again")

    monkeypatch.setattr(compare_store, "_pairwise", no_second_comparison)
    on_cluster = run_config(config, out_dir=tmp_path / "dask", progress=False,
                            executor=DaskExecutor(client))

    for table in sorted((serial / "tables").glob("*.csv")):
        assert table.read_bytes() == (on_cluster / "tables" / table.name).read_bytes(), table
    runs = [json.loads((d / "run.json").read_text()) for d in (serial, on_cluster)]
    volatile = ("created", "timings", "cpu_timings", "store")  # when and where it ran
    assert ({k: v for k, v in runs[0].items() if k not in volatile}
            == {k: v for k, v in runs[1].items() if k not in volatile})
    store = Store(on_cluster / "store", mode="r")
    assert len(store.select("comparisons")) == len(PLAN["compare"]["methods"])
