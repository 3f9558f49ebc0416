"""First-order RDMs: deeprsa.compute_rdm against a bare matrix product and rsatoolbox.

Everything runs in this one process on the same data, and only the ratios are
meant to be read (absolute times depend on the machine and its load):

1. Correlation RDM of 5,000 x 4,096 float32 activations vs a bare ``Z @ Z.T``
   of the same data (goal: <= 1.3x). The two are timed alternately, and the
   median of the per-round ratios is reported with the best time of each.
2. The same RDM with rsatoolbox 0.3.2's ``calc_rdm(method="correlation")``
   (goal: >= 20x faster); rsatoolbox runs once (about 30 s here).
3. A 10,000-stimulus correlation RDM streamed from a store in row tiles, and
   the same from an in-memory array (read before timing): time and peak RSS
   (sampled every 5 ms), each in a fresh subprocess, also as the increase over
   the process just before the call, next to the sizes of input and output.
   The store run includes writing the RDM back (zstd-compressed).

Run: ``.venv/bin/python benchmarks/bench_rdm.py`` (``--quick`` uses 2,000
stimuli and skips rsatoolbox; ``--features 100000`` for the object-classification study's scale).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def _activations(n, p, seed=0):
    """Non-negative, correlated, partly sparse rows, like ReLU features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 64)).astype(np.float32) @ \
        rng.standard_normal((64, p)).astype(np.float32)
    X += rng.standard_normal((n, p), dtype=np.float32)
    return np.maximum(X, 0, out=X)


def bench_vs_matmul(X, rounds):
    from deeprsa.rdm import compute_rdm

    Z = X - X.mean(axis=1, keepdims=True)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    compute_rdm(X[:200])  # warm up imports and BLAS threads
    bare, ours, ratios = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        G = Z @ Z.T
        bare.append(time.perf_counter() - start)
        del G
        start = time.perf_counter()
        rdm = compute_rdm(X)
        ours.append(time.perf_counter() - start)
        del rdm
        ratios.append(ours[-1] / bare[-1])
    return min(bare), min(ours), statistics.median(ratios)


def bench_vs_rsatoolbox(X, ours_best):
    import rsatoolbox

    from deeprsa.rdm import compute_rdm

    start = time.perf_counter()
    theirs = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method="correlation")
    elapsed = time.perf_counter() - start
    ours = compute_rdm(X).vector()
    diff = float(np.abs(theirs.dissimilarities[0] - ours).max())
    return elapsed, elapsed / ours_best, diff


_CHILD = """
import json, sys, threading, time
import numpy as np
import torch  # noqa: F401  (the store records torch's version; a pipeline has it loaded)
from deeprsa.rdm import compute_rdm
from deeprsa.store import Store


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


class Peak(threading.Thread):  # samples the resident set every 5 ms
    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = rss_mb(), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.005)


mode, path, key = sys.argv[1:4]
store = Store(path)
X = store.read(key) if mode == "memory" else None  # read before timing
before = rss_mb()
peak = Peak()
peak.start()
start = time.perf_counter()
rdm = compute_rdm(store, key=key) if mode == "store" else compute_rdm(X)
elapsed = time.perf_counter() - start
peak.running = False
peak.join()
print(json.dumps({"seconds": elapsed, "before_mb": before,
                  "peak_mb": max(peak.peak, rss_mb())}))
"""


def bench_large(n, p):
    from deeprsa.store import Store

    folder = tempfile.mkdtemp(prefix="bench_rdm_")
    store = Store(f"{folder}/store.zarr")
    ids = [f"img{i:05d}" for i in range(n)]
    store.add_stimuli(ids, "bench")
    key, array, _ = store.create(
        "activations", {"model": "bench", "layer": f"{p}-features", "reduction": "flatten",
                        "stimuli": "bench"}, shape=(n, p), dtype="float32")
    rows = max(1, (64 << 20) // (4 * p))
    for start in range(0, n, rows):  # written in slabs, never held whole
        array[start:start + rows] = _activations(min(rows, n - start), p, seed=start)
    store.mark_progress(key, n, complete=True)
    out = {}
    for mode in ("store", "memory"):
        result = subprocess.run([sys.executable, "-c", _CHILD, mode, str(store.path), key],
                                capture_output=True, text=True, check=True)
        out[mode] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--features", type=int, default=4096,
                        help="Units of the 10,000-stimulus layer (default 4096).")
    parser.add_argument("--large", type=int, default=10_000,
                        help="Stimuli of the large RDM (default 10000).")
    args = parser.parse_args()
    n = 2000 if args.quick else 5000
    X = _activations(n, 4096)

    bare, ours, ratio = bench_vs_matmul(X, args.rounds)
    print(f"[1] correlation RDM {n} x 4096 float32: deeprsa {ours:.3f} s, bare Z @ Z.T "
          f"{bare:.3f} s; median ratio over {args.rounds} paired rounds {ratio:.2f}x "
          f"(goal <= 1.3x)")
    if not args.quick:
        try:
            theirs, speedup, diff = bench_vs_rsatoolbox(X, ours)
            print(f"[2] rsatoolbox calc_rdm(correlation): {theirs:.1f} s; deeprsa is "
                  f"{speedup:.0f}x faster (goal >= 20x); max |difference| {diff:.1e} "
                  "(both float32)")
        except ImportError:
            print("[2] rsatoolbox is not installed: pip install 'deeprsa[rsatoolbox]'")
    large = bench_large(args.large, args.features)
    out_mb = args.large ** 2 * 4 / 2**20
    in_mb = args.large * args.features * 4 / 2**20
    for mode, label in (("store", "streamed from the store"), ("memory", "in-memory array")):
        r = large[mode]
        print(f"[3] {args.large} x {args.features} correlation RDM, {label}: "
              f"{r['seconds']:.1f} s, peak RSS {r['peak_mb']:.0f} MB, "
              f"{r['peak_mb'] - r['before_mb']:.0f} MB above the process before the call "
              f"(activations {in_mb:.0f} MB, RDM {out_mb:.0f} MB)")


if __name__ == "__main__":
    main()
