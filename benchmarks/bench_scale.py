"""The real workload: every leaf layer of ResNet-18 over thousands of natural images, one machine.

Images: distinct natural images made from the pictures scikit-learn and scikit-image ship
(benchmarks/natural_images.py: random crops, flips, colour jitter; 224 x 224). Model:
torchvision:resnet18 with random weights, all 52 leaf layers, unit level. Cases:

- ``exact``: 1,000 stimuli, ``max_disk = 4GB``, ``keep = "rdms"``: wall time, passes, peak
  RSS, peak disk, and the ratio of wall time to the bare work (the same number of bare
  forward passes over the images + bare Gram products of the same sizes). Goals: disk within
  the budget, RSS < 4 GB, ratio <= 1.3.
- ``sketched``: 10,000 stimuli, ``sketch = "auto"`` (fidelity 0.99), ``keep = "rdms"``:
  completes; peak RSS < 6 GB; peak disk < 10 GB; every layer's measured fidelity >= 0.99;
  for five layers spread over depth, the sketched RDM restricted to a held-out subset of
  1,000 stimuli (none of the calibration ones) against the exact RDM of those stimuli.
- ``multi``: three random-weight seeds x 52 layers at 10,000 stimuli (156 RDMs), the
  multi-model RDM (Spearman) ranked once per RDM into the store: peak RSS < 8 GB; equals a
  brute-force in-memory computation on a 1,000-stimulus subset to 1e-6.
- ``multi-compare``: the comparison stage of ``multi`` at full size without two more
  extractions: the 52 RDMs of the ``sketched`` case's store and 104 perturbed copies of them
  (each RDM plus seeded symmetric noise, saved as models "copy 1" and "copy 2"), 156 RDMs of
  10,000 stimuli, the multi-model RDM (Spearman) out of core: its wall time, peak RSS and peak
  disk, and the brute-force check on a held-out 1,000-stimulus subset. (Ranking and
  correlating cost the same whatever the values; the extraction of seeds 1 and 2 would repeat
  the ``sketched`` case's.)
- ``gpu``: exact, 10,000 stimuli, all 52 layers on ``device="cuda"`` (when there is one):
  wall time and its ratio to bare forward + bare Gram on the same device.

Prints figures and ratios (the machine is shared: read the ratios). Not a test.

    python benchmarks/bench_scale.py --case exact [--work DIR] [--n 1000]
    python benchmarks/bench_scale.py --case sketched --n 10000
    python benchmarks/bench_scale.py --case multi --n 10000
    python benchmarks/bench_scale.py --case multi-compare --n 10000   # after sketched
    python benchmarks/bench_scale.py --case gpu --n 10000
    python benchmarks/bench_scale.py --case exact --quick   # 200 images, a minute
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from natural_images import make_images  # noqa: E402

HELD_OUT = 1000


class Peaks(threading.Thread):
    """Samples this process's RSS (every 0.2 s) and a folder's size (every 2 s); keeps peaks."""

    def __init__(self, folder):
        super().__init__(daemon=True)
        import psutil

        self.process, self.folder = psutil.Process(), Path(folder)
        self.rss = self.disk = 0
        self.running = True

    def run(self):
        last = 0.0
        while self.running:
            self.rss = max(self.rss, self.process.memory_info().rss)
            if time.monotonic() - last > 2:
                self.disk = max(self.disk, _du(self.folder))
                last = time.monotonic()
            time.sleep(0.2)

    def stop(self):
        self.running = False
        self.join()
        self.disk = max(self.disk, _du(self.folder))
        return self


def _measured(folder, call):
    """``(call(), seconds, peaks)``: the call timed, RSS and ``folder``'s size sampled."""
    peaks = Peaks(folder)
    peaks.start()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    peaks.stop()
    return result, seconds, peaks


def _drop_comparisons(store):
    """Delete saved comparisons and prepared ranks, so the next comparison is computed."""
    for kind in ("comparisons", "prepared"):
        for key in store.select(kind, strict=False)["key"]:
            store.delete(key)


def _du(folder) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def gb(n):
    return f"{n / 1e9:.2f} GB"


def _config(n_models=1, *, device="cpu", methods=("spearman",), **extract):
    return {"stimuli": {"source": "unused", "sort_by": []},
            "models": [{"spec": "torchvision:resnet18", "weights": "random",
                        "seeds": list(range(n_models)), "layers": "leaf",
                        "name": "resnet18 (random, seed {seed})"}],
            "extract": {"batch_size": 50, "device": device, **extract},
            "rdm": {"measures": ["correlation"]}, "compare": {"methods": list(methods)},
            "analyses": {"mds": False, "dimensionality": False, "srm": False,
                         "performance": False},
            "outputs": {"figures": ["rdm"], "report": False}}


def _stimuli(images, n):
    from deeprsa import StimulusSet

    stimuli = StimulusSet.from_folder(images)
    ids = list(stimuli.stimulus_ids)
    if n >= len(ids):
        return stimuli
    # A seeded subset over every source picture (the folder lists them one after another).
    keep = np.sort(np.random.default_rng(1).choice(len(ids), size=n, replace=False))
    return stimuli.subset([ids[i] for i in keep])


def _held_out(stimuli, n_calibration, n_held_out):
    """``n_held_out`` stimulus ids, seeded, drawn from those outside the calibration subset."""
    from deeprsa.pipeline.sketch import calibration_indices

    calibration = set(calibration_indices(len(stimuli), n_calibration, 0).tolist())
    rest = [i for i in range(len(stimuli)) if i not in calibration]
    drawn = np.sort(np.random.default_rng(2).choice(rest, size=n_held_out, replace=False))
    return [stimuli.stimulus_ids[i] for i in drawn]


def _plan(config, stimuli, store):
    from deeprsa.pipeline import build_plan
    from deeprsa.pipeline.run import _passes_text
    from deeprsa.pipeline.sketch import sketch_plan

    plan = sketch_plan(build_plan(config, stimuli=stimuli), store)
    text = plan.describe()
    spec = plan.config.extract
    if spec.max_disk or spec.max_memory or spec.keep == "rdms":
        text += "\n" + "\n".join(_passes_text(plan, store))
    return plan, text


def _bare_forward(stimuli, device, batch_size=50):
    """Seconds of one bare forward pass (no hooks) of resnet18 over ``stimuli``."""
    import torch

    from deeprsa import load_model
    from deeprsa.extract._engine import _batches

    loaded = load_model("torchvision:resnet18", weights="random", seed=0)
    module = loaded.module.to(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for _, batch in _batches(stimuli, loaded.preprocessing, 0, batch_size):
            module(batch.to(device))
        if device != "cpu":
            torch.cuda.synchronize()
    return time.perf_counter() - start


def _bare_gram_seconds(n, widths, device):
    """Seconds of bare Gram products X X^T of (n, width) float32 for every layer width."""
    import torch

    block = 65536 if device == "cpu" else 1 << 20
    X = torch.randn(n, block, device=device)
    X @ X.T
    if device != "cpu":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(2):
        X @ X.T
    if device != "cpu":
        torch.cuda.synchronize()
    per_unit = (time.perf_counter() - start) / 2 / block
    return per_unit * sum(widths)


def case_exact(args, device="cpu", max_disk="4GB", keep="rdms"):
    from deeprsa import Store
    from deeprsa.pipeline.serial import SerialExecutor

    stimuli = _stimuli(args.images, args.n)
    store_dir = Path(args.work) / f"exact-{args.n}-{device}"
    store = Store(store_dir)
    config = _config(device=device, max_disk=max_disk, keep=keep) if max_disk else \
        _config(device=device, keep=keep, max_memory=args.max_memory)
    plan, text = _plan(config, stimuli, store)
    print(text)
    _, wall, peaks = _measured(store_dir, lambda: SerialExecutor().run(plan, store,
                                                                        progress=False))
    from deeprsa.pipeline.passes import pinned_layers, plan_passes

    passes = plan_passes(plan, plan.models[0], Store(args.work + "/empty-store"),
                         pinned=pinned_layers(plan))
    n_passes = len(passes.passes)
    forward = _bare_forward(stimuli, device) * n_passes
    gram = _bare_gram_seconds(len(stimuli), [plan.models[0].widths[la]
                                             for la in plan.models[0].layers], device)
    figures = {"case": f"exact {args.n} stimuli ({device})", "wall_s": round(wall, 1),
               "passes": n_passes, "peak_rss": gb(peaks.rss), "peak_disk": gb(peaks.disk),
               "budget": max_disk or "memory", "bare_forward_s": round(forward, 1),
               "bare_gram_s": round(gram, 1), "ratio": round(wall / (forward + gram), 3)}
    return figures


def case_sketched(args, seeds=(0,)):
    from scipy.stats import spearmanr

    from deeprsa import RDM, Store, compute_rdm, extract, load_model
    from deeprsa.pipeline.serial import SerialExecutor

    stimuli = _stimuli(args.images, args.n)
    store_dir = Path(args.work) / f"sketched-{args.n}"
    store = Store(store_dir)
    # The comparisons are the multi case's: this one measures the sketches.
    config = _config(len(seeds), sketch="auto", sketch_fidelity=0.99, keep="rdms",
                     max_disk=args.max_disk, sketch_calibration=args.calibration, methods=())
    plan, text = _plan(config, stimuli, store)
    print(text)
    _, wall, peaks = _measured(store_dir, lambda: SerialExecutor().run(
        plan, store, progress=args.progress))
    m = plan.models[0]
    fidelities = {layer: (m.reductions[layer].get("k"),
                          (m.reductions[layer].get("calibration") or {}).get("fidelity", 1.0))
                  for layer in m.layers}
    figures = {"case": f"sketched {args.n} stimuli", "wall_s": round(wall, 1),
               "peak_rss": gb(peaks.rss), "peak_disk": gb(peaks.disk),
               "min_fidelity": min(f for _, f in fidelities.values()),
               "sketched_layers": sum(1 for k, _ in fidelities.values() if k)}
    print(json.dumps(figures), flush=True)  # kept should the check below fail
    # Held-out check: five layers over depth, 1,000 stimuli none of which calibrated.
    ids = _held_out(stimuli, args.calibration, args.held_out)
    layers = [m.layers[i] for i in np.linspace(0, len(m.layers) - 1, 5).astype(int)]
    check_dir = Path(args.work) / f"held-out-exact-{args.n}"
    shutil.rmtree(check_dir, ignore_errors=True)  # only this run's subset in it
    check = Store(check_dir)
    loaded = load_model("torchvision:resnet18", weights="random", seed=0)
    extract(loaded, stimuli.subset(ids), layers, check, batch_size=50, progress=False)
    held_out = {}
    for layer in layers:
        exact = compute_rdm(check, model=loaded.name, layer=layer)
        sketched = RDM.load(store, store.select("rdms", model=m.model.name,
                                                layer=layer)["key"][0]).subset(ids)
        held_out[layer] = round(float(spearmanr(exact.vector(), sketched.vector())[0]), 4)
    return {**figures, "k": {la: k for la, (k, _) in fidelities.items()},
            "fidelity": {la: f for la, (_, f) in fidelities.items()},
            "held_out_spearman_vs_exact": held_out}


def case_multi(args):
    from deeprsa import Store, multi_model_rdm
    from deeprsa.pipeline.serial import SerialExecutor

    stimuli = _stimuli(args.images, args.n)
    store_dir = Path(args.work) / f"sketched-{args.n}"  # seed 0 is the sketched case's
    store = Store(store_dir)
    config = _config(3, sketch="auto", sketch_fidelity=0.99, keep="rdms",
                     max_disk=args.max_disk, sketch_calibration=args.calibration, methods=())
    plan, text = _plan(config, stimuli, store)
    print(text)
    _, extraction, peaks = _measured(store_dir, lambda: SerialExecutor().run(
        plan, store, progress=args.progress))  # extraction and RDMs
    extraction_rss, extraction_disk = peaks.rss, peaks.disk
    _drop_comparisons(store)
    result, wall, peaks = _measured(store_dir, lambda: multi_model_rdm(
        store, plan.names, measure="correlation", stimuli=stimuli.content_hash()))
    check = _brute_force_check(store, result, _held_out(stimuli, 0, args.held_out), args)
    return {"case": f"multi-model {len(result.matrix)} RDMs x {args.n} stimuli",
            "comparison_s": round(wall, 1), "extraction_and_rdms_s": round(extraction, 1),
            "peak_rss_extraction": gb(extraction_rss), "peak_disk": gb(peaks.disk),
            "peak_disk_extraction": gb(extraction_disk),
            "peak_rss_comparison": gb(peaks.rss), **check}


def case_multi_compare(args, copies=2, noise=0.05):
    from deeprsa import RDM, Store, multi_model_rdm

    stimuli = _stimuli(args.images, args.n)
    store_dir = Path(args.work) / f"sketched-{args.n}"
    store = Store(store_dir)
    table = store.select("rdms", stimuli=stimuli.content_hash(), measure="correlation")
    originals = table[~table["model"].str.contains("copy")]
    start = time.perf_counter()
    for copy in range(1, copies + 1):
        for i, row in enumerate(originals.itertuples()):
            rdm = RDM.load(store, row.key)
            D = rdm.matrix.astype(np.float32)
            rng = np.random.default_rng([copy, i])
            E = rng.standard_normal(D.shape, dtype=np.float32)
            E += E.T
            np.fill_diagonal(E, 0)
            D += noise * E
            provenance = {k: v for k, v in rdm.provenance.items()
                          if k not in ("activations", "key")}
            provenance["model"] = f"{row.model} copy {copy}"
            RDM._new(D, rdm.stimulus_ids, provenance).save(store)
            del D, E, rdm
    made = time.perf_counter() - start
    _drop_comparisons(store)
    result, wall, peaks = _measured(store_dir, lambda: multi_model_rdm(
        store, measure="correlation", stimuli=stimuli.content_hash()))
    check = _brute_force_check(store, result, _held_out(stimuli, 0, args.held_out), args)
    return {"case": f"multi-model RDM of {len(result.matrix)} RDMs x {args.n} stimuli "
                    f"({len(originals)} sketched-case RDMs + {copies} perturbed copies)",
            "copies_written_s": round(made, 1), "comparison_s": round(wall, 1),
            "peak_rss_comparison": gb(peaks.rss), "peak_disk": gb(peaks.disk), **check}


def _brute_force_check(store, result, ids, args) -> dict:
    """The out-of-core multi-model RDM of a subset vs every RDM in memory, ranked, correlated."""
    from scipy.stats import rankdata

    from deeprsa import RDM, Store, multi_model_rdm

    sub_store = Store(Path(args.work) / f"multi-subset-{args.n}")
    vectors = []
    for key in result.metadata_a["key"]:
        rdm = RDM.load(store, key).subset(ids)
        rdm.save(sub_store)
        vectors.append(rdm.vector().astype(np.float64))
    brute = np.corrcoef(np.array([rankdata(v) for v in vectors]))
    ours = multi_model_rdm(sub_store, method="spearman", working_memory=64)  # out of core
    return {"max_diff_vs_brute_force_1000": float(np.abs((1 - ours.matrix) - brute).max()
                                                  if ours.kind == "distance" else
                                                  np.abs(ours.matrix - brute).max()),
            "n_prepared": len(sub_store.select("prepared", strict=False))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["exact", "sketched", "multi", "multi-compare", "gpu"],
                        required=True)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--work", default="/tmp/deeprsa-bench-scale")
    parser.add_argument("--max-disk", default="10GB", help="sketched and multi cases")
    parser.add_argument("--max-memory", default="100GB", help="gpu case")
    parser.add_argument("--quick", action="store_true", help="200 images")
    parser.add_argument("--progress", action="store_true", help="progress bars on stderr")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("deeprsa.pipeline").setLevel(logging.INFO)
    args.n = args.n or (200 if args.quick else 1000 if args.case == "exact" else 10_000)
    args.calibration = min(500, args.n // 2)
    args.held_out = min(HELD_OUT, args.n - args.calibration)
    args.images = str(Path(args.work) / "images")
    start = time.perf_counter()
    make_images(args.images, args.n)
    print(f"images ready in {time.perf_counter() - start:.0f} s")
    if args.case == "exact":
        figures = case_exact(args)
    elif args.case == "sketched":
        figures = case_sketched(args)
    elif args.case == "multi":
        figures = case_multi(args)
    elif args.case == "multi-compare":
        figures = case_multi_compare(args)
    else:
        figures = case_exact(args, device="cuda", max_disk=None)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
