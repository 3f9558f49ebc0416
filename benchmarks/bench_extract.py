"""Extraction overhead and memory, measured side by side in one run.

1. Overhead: ResNet-18 at 224 px, 5 layers flattened into a Zarr store, against a bare
   forward pass over the same preprocessed batches. Runs alternate (bare, extract, bare, ...)
   and the median of the paired ratios is printed. Goal <= 1.15x.
2. Memory: peak RSS of a subprocess extracting the same layers for 1,000 and for 4,000
   stimuli. Goal: flat (the store streams; nothing grows with the number of stimuli).

    python benchmarks/bench_extract.py [--stimuli 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np

LAYERS = ["layer1", "layer2", "layer3", "layer4", "fc"]


def _stimuli(n):
    import deeprsa

    base = deeprsa.digits()
    rng = np.random.default_rng(0)
    images = np.stack([base.load(i % len(base)).numpy() for i in range(n)])
    images = np.clip(images + rng.uniform(0, 0.05, images.shape).astype(np.float32), 0, 1)
    return deeprsa.StimulusSet.from_arrays(images, labels=[i % 10 for i in range(n)])


def _bare(model, stimuli, batch_size):
    import torch

    from deeprsa.extract._engine import _batches

    with torch.inference_mode():
        for _, batch in _batches(stimuli, model.preprocessing, 0, batch_size):
            model.module(batch)


def overhead(n, repeats, batch_size):
    import deeprsa

    model = deeprsa.load_model("torchvision:resnet18", weights="random", seed=0)
    stimuli = _stimuli(n)
    _bare(model, stimuli.subset(stimuli.stimulus_ids[:batch_size]), batch_size)  # warm up
    ratios = []
    for r in range(repeats):
        t0 = time.perf_counter()
        _bare(model, stimuli, batch_size)
        t_bare = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            deeprsa.extract(model, stimuli, LAYERS, tmp, batch_size=batch_size, progress=False)
            t_ext = time.perf_counter() - t0
        ratios.append(t_ext / t_bare)
        print(f"  repeat {r}: bare {t_bare:6.2f} s  extract {t_ext:6.2f} s  "
              f"ratio {t_ext / t_bare:.3f}")
    print(f"extraction / bare forward, {len(LAYERS)} layers of ResNet-18 at 224 px, "
          f"{n} stimuli: median ratio {np.median(ratios):.3f} (goal <= 1.15)")


_CHILD = """
import json, os, sys, tempfile, threading, time
sys.path.insert(0, {here!r})
from bench_extract import _stimuli, LAYERS
import deeprsa

def rss_mib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

n = int(sys.argv[1])
stimuli = _stimuli(n)
model = deeprsa.load_model("torchvision:resnet18", weights="random", seed=0,
                           preprocessing=deeprsa.Preprocessing(resize=(64, 64), crop=None))
peak, done = [0.0], threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss_mib())
        time.sleep(0.005)

before = rss_mib()
sampler = threading.Thread(target=sample)
sampler.start()
with tempfile.TemporaryDirectory() as tmp:
    deeprsa.extract(model, stimuli, LAYERS, tmp, batch_size=64, progress=False)
done.set()
sampler.join()
print(json.dumps({{"before_mib": before, "peak_mib": peak[0]}}))
"""


def memory(sizes):
    from pathlib import Path

    here = str(Path(__file__).parent)
    code = _CHILD.format(here=here)
    peaks = {}
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", code, str(n)], capture_output=True,
                             text=True, check=True)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        peaks[n] = rec["peak_mib"] - rec["before_mib"]
        print(f"  {n:5d} stimuli: RSS {rec['before_mib']:7.1f} MiB before extraction, "
              f"peak {rec['peak_mib']:7.1f} MiB during it (+{peaks[n]:.1f} MiB)")
    a, b = sizes
    print(f"extraction's peak RSS increase, {b} / {a} stimuli (ResNet-18 at 64 px, 5 layers, "
          f"sampled every 5 ms): {peaks[b] / peaks[a]:.3f} (goal: flat, ~1.0)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stimuli", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    overhead(args.stimuli, args.repeats, args.batch_size)
    memory((1000, 4000))


if __name__ == "__main__":
    main()
