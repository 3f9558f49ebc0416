"""Runs within a disk budget: passes, keep = "rdms", resuming, memory passes, float16, sketches.

Small and fast: the zoo's convnet on 40 digits. benchmarks/bench_scale.py runs ResNet-18 on
10,000 images.
"""

import json
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from deeprsa import RDM, Store
from deeprsa.pipeline import ConfigError, build_plan, run_config
from deeprsa.pipeline.budget import BudgetError, pack_passes, parse_size
from deeprsa.pipeline.passes import plan_passes
from deeprsa.pipeline.run import run_store_stages
from deeprsa.pipeline.serial import SerialExecutor

N = 40  # 4 digits per class
# Float32 bytes of each convnet layer for N stimuli: N x units x 4.
UNITS = {"conv1": 1024, "relu1": 1024, "conv2": 2048, "relu2": 2048, "pool1": 512,
         "conv3": 1024, "relu3": 1024, "pool2": 256, "flatten": 256, "fc": 64,
         "relu_fc": 64, "logits": 10}
RDM_BYTES = N * N * 4  # one tile: the whole matrix, uncompressed (an upper bound)


def config(**extract):
    return {"stimuli": {"source": "digits:test", "n_per_class": 4},
            "models": [{"spec": "zoo:convnet_s0", "layers": "leaf"}],
            "extract": {"batch_size": 20, **extract},  # 40 stimuli: two whole chunks
            "rdm": {"measures": ["correlation"]}, "compare": {"methods": ["spearman"]},
            "analyses": {"srm": False, "performance": False, "dimensionality": False,
                         "mds": False},
            "outputs": {"figures": ["rdm"], "report": False}}


def rdms_of(store):
    return {(r.layer, r.measure): RDM.load(store, r.key).matrix
            for r in store.select("rdms").itertuples()}


# ----------------------------------------------------------------------------- sizes, packing


def test_sizes_are_parsed_in_decimal_and_binary_units():
    assert parse_size("4GB") == 4 * 10**9 and parse_size("2 MiB") == 2 * 2**20
    assert parse_size(1_000) == 1000 and parse_size("1.5kb") == 1500
    with pytest.raises(ValueError, match=re.escape("a size is a number of bytes or a string "
                                                   "such as '4GB'")):
        parse_size("four gigs")


def test_passes_follow_network_order_and_respect_the_budget():
    sizes = {"a": 5, "b": 4, "c": 1, "d": 6, "e": 2}
    passes = pack_passes("m", sizes, available=10, keep="rdms")
    assert [p.layers for p in passes] == [("a", "b", "c"), ("d", "e")]
    assert all(p.n_bytes <= 10 for p in passes)
    everything = pack_passes("m", sizes, available=100, keep="activations")
    assert [p.layers for p in everything] == [tuple(sizes)]


def test_the_plan_groups_the_convnet_as_computed_by_hand(tmp_path):
    # 12 layers of 40 stimuli; 12 RDMs reserved; the budget leaves 3 x 2048 units per pass.
    per_pass = N * 3 * 2048 * 4
    budget = per_pass + 12 * RDM_BYTES
    plan = build_plan(config(keep="rdms", max_disk=budget))
    passes = plan_passes(plan, plan.models[0], Store(tmp_path / "s"))
    expected, current, used = [], [], 0
    for layer, units in UNITS.items():  # the greedy rule, by hand
        size = N * units * 4
        if current and used + size > per_pass:
            expected.append(tuple(current))
            current, used = [], 0
        current.append(layer)
        used += size
    expected.append(tuple(current))
    assert [p.layers for p in passes.passes] == expected
    assert [p.layers for p in passes.passes] == [
        ("conv1", "relu1", "conv2", "relu2"),  # 40 x (1024 + 1024 + 2048 + 2048) x 4 bytes
        ("pool1", "conv3", "relu3", "pool2", "flatten", "fc", "relu_fc", "logits")]
    assert max(p.n_bytes for p in passes.passes) <= per_pass


def test_a_budget_that_cannot_hold_one_layer_says_what_would(tmp_path):
    plan = build_plan(config(keep="rdms", max_disk=12 * RDM_BYTES + 100_000))
    msg = ("Layer 'conv2' of model 'convnet_s0' needs 327.7 KB of activations (40 stimuli x "
           "2,048 features x 4 bytes), more than the budget leaves for one pass (100.0 KB). "
           "Make it fit with a reduction (e.g. 'spatial_mean': one value per channel), a "
           "sketch ([extract] sketch = \"auto\", or the reduction 'sketch:2048'), dtype = "
           "\"float16\" (half the bytes), or a larger max_disk.")
    with pytest.raises(BudgetError, match=re.escape(msg)):
        plan_passes(plan, plan.models[0], Store(tmp_path / "s"))
    with pytest.raises(BudgetError, match=re.escape("keep = \"activations\" keeps every layer")):
        run_store_stages(config(max_disk=100_000), out_dir=tmp_path / "b", progress=False)


def test_keep_rdms_refuses_analyses_that_read_every_layer():
    plan = build_plan({**config(keep="rdms"), "analyses": {"dimensionality": True,
                                                            "srm": False, "mds": False,
                                                            "performance": False}})
    from deeprsa.pipeline.passes import pinned_layers

    with pytest.raises(ConfigError, match=re.escape("config key 'analyses.dimensionality' reads "
                                                    "the activations of every layer")):
        pinned_layers(plan)


# ----------------------------------------------------------------------------- passes


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """RDMs of an uninterrupted run that keeps everything (one pass)."""
    out = tmp_path_factory.mktemp("reference")
    store = Store(run_store_stages(config(), out_dir=out, progress=False), mode="r")
    return rdms_of(store)


BUDGET = N * 3 * 2048 * 4 + 12 * RDM_BYTES  # two passes (see the hand-computed test)


def test_keep_rdms_leaves_no_activations_and_the_same_rdms(tmp_path, reference):
    store = Store(run_store_stages(config(keep="rdms", max_disk=BUDGET), out_dir=tmp_path,
                                   progress=False), mode="r")
    assert store.select("activations", complete=None, strict=False).empty
    got = rdms_of(store)
    assert got.keys() == reference.keys()
    for key, matrix in reference.items():
        assert got[key].tobytes() == matrix.tobytes(), key  # bit for bit


@pytest.mark.parametrize("where", ["between passes", "inside a pass"])
def test_a_killed_budgeted_run_resumes_to_the_same_rdms(tmp_path, reference, monkeypatch,
                                                         where):
    from deeprsa.extract import _engine

    real_free = __import__("deeprsa.pipeline.passes", fromlist=["_free"])._free
    calls = {"free": 0, "batches": 0}
    passes_module = __import__("deeprsa.pipeline.passes", fromlist=["_free"])

    def killed_after_first_pass(store, m, layers):
        real_free(store, m, layers)
        if "relu2" in layers:  # the last layer of pass 1: its activations just went
            raise KeyboardInterrupt

    real_put = _engine._Writer.put

    def killed_mid_pass(self, item):
        real_put(self, item)
        calls["batches"] += 1
        if calls["batches"] == 3:  # pass 1 (2 batches of 20) done, pass 2 after its first
            raise KeyboardInterrupt

    if where == "between passes":
        monkeypatch.setattr(passes_module, "_free", killed_after_first_pass)
    else:
        monkeypatch.setattr(_engine._Writer, "put", killed_mid_pass)
    with pytest.raises(KeyboardInterrupt):
        run_store_stages(config(keep="rdms", max_disk=BUDGET), out_dir=tmp_path,
                         progress=False)
    monkeypatch.undo()
    store = Store(tmp_path / "store")
    finished = set(store.select("rdms")["layer"])
    assert {"conv1", "relu1", "conv2"} <= finished  # (most of) pass 1 was done

    plan = build_plan(config(keep="rdms", max_disk=BUDGET))
    work = SerialExecutor().run(plan, store, progress=False)
    redone = {w["layer"] for w in work if w["stage"] == "rdm" and w["status"] != "skipped"}
    assert not redone & finished  # finished layers are not redone
    assert store.select("activations", complete=None, strict=False).empty
    got = rdms_of(store)
    for key, matrix in reference.items():
        assert got[key].tobytes() == matrix.tobytes(), key


def test_memory_passes_never_write_activations(tmp_path, reference, monkeypatch):
    created = []
    real_create = Store.create

    def no_activations(self, kind, *args, **kwargs):
        created.append(kind)
        return real_create(self, kind, *args, **kwargs)

    monkeypatch.setattr(Store, "create", no_activations)
    run_store_stages(config(keep="rdms", max_memory="50MB"), out_dir=tmp_path, progress=False)
    assert "activations" not in created
    got = rdms_of(Store(tmp_path / "store", mode="r"))
    for key, matrix in reference.items():  # the column engine in torch: float32 rounding
        assert_allclose(got[key], matrix, rtol=0, atol=1e-5)


def test_float16_storage_halves_the_disk_and_barely_moves_the_rdms(tmp_path, reference):
    from scipy.stats import spearmanr

    store = Store(run_store_stages(config(dtype="float16"), out_dir=tmp_path, progress=False),
                  mode="r")
    assert set(store.select("activations")["dtype"]) == {"float16"}
    got = rdms_of(store)
    worst = max(np.abs(got[k] - m).max() for k, m in reference.items())
    rho = min(spearmanr(RDM(got[k], [str(i) for i in range(N)]).vector(),
                        RDM(m, [str(i) for i in range(N)]).vector())[0]
              for k, m in reference.items())
    # Measured here: worst 3.0e-4 (RDM values in [0, 2]), Spearman 0.999999 (docs/scaling.md).
    assert worst < 2e-3 and rho > 0.99999


# ----------------------------------------------------------------------------- sketches


def test_a_fixed_sketch_reduces_wide_layers_and_says_so(tmp_path):
    plan = build_plan(config(sketch=256))
    from deeprsa.pipeline.sketch import sketch_plan

    sketched = sketch_plan(plan, Store(tmp_path / "s"), progress=False)
    m = sketched.models[0]
    assert m.widths["conv2"] == 256 and m.widths["pool2"] == 256 and m.widths["fc"] == 64
    assert m.reductions["conv2"] == {"name": "sketch", "k": 256, "seed": 0, "centre": True,
                                     "calibration": {"units": 2048, "fidelity": None}}
    assert m.keys["conv2"] != plan.models[0].keys["conv2"]
    assert m.keys["fc"] == plan.models[0].keys["fc"]  # narrow layers stay exact


def test_auto_sketches_report_a_fidelity_that_a_recomputation_confirms(tmp_path):
    from scipy.stats import spearmanr

    from deeprsa import compute_rdm, extract, load_model
    from deeprsa.pipeline.sketch import calibration_indices

    cfg = config(sketch="auto", sketch_calibration=30, sketch_fidelity=0.9)
    run_store_stages(cfg, out_dir=tmp_path, progress=False)
    store = Store(tmp_path / "store", mode="r")
    rdm = RDM.load(store, store.select("rdms", layer="conv2")["key"][0])
    reduction = rdm.provenance["reduction"]
    assert reduction["name"] == "sketch" and reduction["calibration"]["fidelity"] >= 0.9
    calib = store.select("calibrations")
    assert len(calib) == 1  # saved: a rerun does not calibrate again

    # Recompute the fidelity: exact and sketched RDMs of the calibration subset.
    plan = build_plan(cfg)
    index = calibration_indices(len(plan.stimuli), 30, 0)
    subset = plan.stimuli.subset([plan.stimuli.stimulus_ids[i] for i in index])
    check = Store(tmp_path / "check")
    loaded = load_model("zoo:convnet_s0")
    extract(loaded, subset, ["conv2"], check, progress=False)
    extract(loaded, subset, ["conv2"], check, reduction={"conv2": reduction}, progress=False)
    exact, sketched = (compute_rdm(check, key=k).vector()
                       for k in check.select("activations")["key"])
    assert_allclose(spearmanr(exact, sketched)[0], reduction["calibration"]["fidelity"],
                    atol=1e-4)  # float32 sums in another order


def test_spearman_rdms_cannot_be_sketched():
    cfg = {**config(sketch="auto"), "rdm": {"measures": ["spearman"]}}
    from deeprsa.pipeline.sketch import sketch_plan

    with pytest.raises(ConfigError, match=re.escape("the 'spearman' measure ranks every unit")):
        sketch_plan(build_plan(cfg), None, progress=False)


def test_the_run_prints_its_passes(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="deeprsa.pipeline"):
        run_config(config(keep="rdms", max_disk=BUDGET), out_dir=tmp_path, progress=False)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "keep 'rdms', max_disk 1.1 MB" in text
    assert re.search(r"convnet_s0: 2 pass\(es\) on disk, about [0-9.]+ (s|min)", text)
    assert "pass 1: 4 layer(s) (conv1 ... relu2), 983.0 KB" in text
    assert "pass 2: 8 layer(s) (pool1 ... logits), 513.6 KB" in text


def test_the_report_lists_the_sketched_layers_and_their_fidelity(tmp_path):
    import json

    import pandas as pd

    cfg = config(sketch="auto", sketch_calibration=30, sketch_fidelity=0.9)
    cfg["analyses"]["performance"] = False
    run_dir = run_config(cfg, out_dir=tmp_path, progress=False)
    table = pd.read_csv(run_dir / "tables" / "sketched_layers.csv")
    assert set(table["layer"]) <= set(UNITS) and (table["fidelity"] >= 0.9).all()
    assert (table["k"] < table["units"]).all()
    run = json.loads((run_dir / "run.json").read_text())
    assert any("are sketched (approximate RDMs)" in n["text"] for n in run["notes"])


# ----------------------------------------------------------------------------- comparisons


@pytest.fixture
def out_of_core(monkeypatch):
    """Working memory of a few bytes: the multi-model RDM ranks each RDM into the store."""
    from deeprsa.compare import _store

    monkeypatch.setattr(_store, "_MIB", 1)


def test_ranks_of_an_out_of_core_comparison_count_and_are_freed(tmp_path, out_of_core):
    from deeprsa.compare import ComparisonResult
    from deeprsa.pipeline.passes import prepared_bytes

    plan = build_plan(config(keep="rdms", max_disk=BUDGET))
    n_entries = N * (N - 1) // 2
    assert prepared_bytes(plan) == 12 * n_entries * 4  # int32 ranks of the 12 RDMs
    store = Store(run_store_stages(config(keep="rdms", max_disk=BUDGET), out_dir=tmp_path / "a",
                                   progress=False), mode="r")
    assert store.select("prepared", complete=None, strict=False).empty
    kept = Store(run_store_stages(config(max_disk=10**9), out_dir=tmp_path / "b",
                                  progress=False), mode="r")
    assert len(kept.select("prepared")) == 12  # keep = "activations": reused by a rerun

    def values(s):
        return ComparisonResult.load(s, s.select("comparisons")["key"][0]).matrix

    assert_allclose(values(store), values(kept), rtol=0, atol=1e-12)


def test_a_budget_without_room_for_the_ranks_says_so_before_any_work(tmp_path, out_of_core):
    kept = 12 * RDM_BYTES
    with pytest.raises(BudgetError, match=re.escape(
            "The multi-model RDM (spearman) prepares (ranks or centres) each of its RDMs once "
            "into the store: 37.4 KB beside the 76.8 KB the run keeps, over max_disk = 106.8 KB")):
        run_store_stages(config(keep="rdms", max_disk=kept + 30_000), out_dir=tmp_path,
                         progress=False)
    assert not (tmp_path / "store").exists() or Store(tmp_path / "store").select(
        "activations", complete=None, strict=False).empty
    with pytest.raises(BudgetError, match=re.escape("The run's 12 RDMs of 40 stimuli")):
        run_store_stages(config(keep="rdms", max_disk=kept - 1), out_dir=tmp_path / "c",
                         progress=False)


def test_a_run_without_comparisons_skips_their_sections_with_a_note(tmp_path):
    cfg = {**config(keep="rdms", max_disk=BUDGET), "compare": {"methods": []},
           "analyses": {"srm": False, "performance": True, "dimensionality": False,
                        "mds": True}}
    out = run_config(cfg, out_dir=tmp_path, progress=False)
    store = Store(out / "store", mode="r")
    assert store.select("comparisons", strict=False).empty
    assert len(store.select("rdms")) == 12
    notes = [n["text"] for n in json.loads((out / "run.json").read_text())["notes"]]
    assert notes == [
        "No layers were compared (compare.methods = []): there is no model or multi-model RDM.",
        "MDS of the layers was skipped: no layers were compared (compare.methods = []).",
        "Representational vs performance similarity was skipped: no layers were compared "
        "(compare.methods = []).",
    ]


def test_a_reused_module_is_calibrated_once_at_its_last_call(caplog):
    """A module called twice per forward (a reused ReLU) is extracted at its last call."""
    import logging

    import torch

    from deeprsa import StimulusSet, load_model
    from deeprsa.pipeline.sketch import calibrate

    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.act = (torch.nn.Linear(64, 2048), torch.nn.Linear(2048, 2048),
                                        torch.nn.ReLU())

        def forward(self, x):
            return self.act(self.b(self.act(self.a(x.flatten(1)))))

    torch.manual_seed(0)
    stimuli = StimulusSet.from_arrays(
        np.random.default_rng(0).random((60, 1, 8, 8), dtype=np.float32))
    loaded = load_model(Twice(), name="twice")
    with caplog.at_level(logging.INFO, logger="deeprsa.pipeline"):
        results = calibrate(loaded, stimuli, {"act": 2048}, ["correlation"], target=0.999,
                            n=40, ladder=(256, 1024))
    lines = [r.getMessage() for r in caplog.records if "Sketch calibration" in r.getMessage()]
    assert len(lines) == 1 and set(results) == {"act"}
    assert set(results["act"]["tried"]) <= {256, 1024}


def test_a_layers_bytes_count_its_chunks_as_stored():
    """Raw chunks are stored at full size, edge chunks too: the budget counts them so."""
    from deeprsa.extract._engine import _chunks, stored_bytes

    assert _chunks(50, 50_176) == (50, 25_088)  # two equal blocks, not 40,000 + 10,176
    assert stored_bytes(1000, 50_176, 4, 50) == 1000 * 50_176 * 4  # nothing padded
    assert stored_bytes(1010, 50_176, 4, 50) == 1050 * 50_176 * 4  # the last rows' chunk
    rows, cols = _chunks(50, 802_816)
    assert cols * -(-802_816 // cols) - 802_816 < -(-802_816 // cols)  # under a column a block
