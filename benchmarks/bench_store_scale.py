"""``compute_rdms`` for one model on a store of 10 entries and on one of 5,000.

The store's manifest is a snapshot plus an append-only journal, indexed by kind
and model (src/deeprsa/store/_manifest.py): a query parses nothing when nothing
changed, and a write appends one line. So the time of ``compute_rdms(store,
model="zoo:mlp_s0")`` should not depend on how many other entries the store
holds. Each store holds the six layers of ``zoo:mlp_s0`` over 200 digits; the
large one also 4,994 entries of other models (manifest records copied from real
ones: what a long-lived store of a big study looks like to a query).

Three timings per store, the median of ``--rounds`` rounds after a warm-up:

- **compute**: the six correlation RDMs computed and written (deleted before
  each round);
- **cached**: the six RDMs found in the store and loaded;
- **cold**: the same from a newly opened ``Store`` (the one read and parse of
  the manifest that a new process pays, once).

The ratios large / small of compute and cached should stay within 2 (issue:
"the same within 2x"); cold shows the one-time cost of the manifest's size.

Run: ``.venv/bin/python benchmarks/bench_store_scale.py`` (``--quick``: 2 rounds).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path


def _store(path, stimuli, n_entries):
    import deeprsa
    from deeprsa import Store

    deeprsa.extract("zoo:mlp_s0", stimuli, "all", path, progress=False)
    store = Store(path)
    template = next(iter(store.manifest["entries"].values()))
    fillers = {}
    for i in range(n_entries - len(store.manifest["entries"])):
        entry = copy.deepcopy(template)
        entry["fields"].update(model=f"other_{i // 20}", layer=f"layer{i % 20}")
        fillers[f"filler{i:015d}"] = entry
    if fillers and hasattr(store, "_manifest"):
        store._manifest.commit(lambda entries: (fillers, []))
    elif fillers:  # a deeprsa before the journal (to measure what it did): one manifest file
        import json

        manifest = json.loads((Path(path) / "manifest.json").read_text())
        manifest["entries"].update(fillers)
        (Path(path) / "manifest.json").write_text(json.dumps(manifest, sort_keys=True))
        store = Store(path)
    return store


def _time(func, rounds, before=None):
    times = []
    for _ in range(rounds + 1):
        if before is not None:
            before()
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds

    import deeprsa
    from deeprsa import Store

    stimuli = deeprsa.digits(split="test").sample(20, seed=0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (10, 5000):
            store = _store(Path(tmp) / f"s{n}", stimuli, n)
            entries = len(store.manifest["entries"])
            size = sum(p.stat().st_size for p in store.path.glob("manifest.*"))

            def compute(store=store):
                deeprsa.compute_rdms(store, model="zoo:mlp_s0", progress=False)

            def drop(store=store):
                for key in store.select("rdms", strict=False)["key"]:
                    store.delete(key)

            fresh = _time(compute, rounds, before=drop)
            compute()
            cached = _time(compute, rounds)
            cold = _time(lambda s=store: deeprsa.compute_rdms(Store(s.path), model="zoo:mlp_s0",
                                                              progress=False), rounds)
            results[n] = (fresh, cached, cold)
            print(f"{entries:>5} entries + 6 RDMs ({size / 1e6:.1f} MB of "
                  f"manifest): compute {fresh * 1000:7.1f} ms, cached {cached * 1000:7.1f} ms, "
                  f"cold {cold * 1000:7.1f} ms")
    for i, what in enumerate(("compute", "cached", "cold")):
        print(f"{what}: 5,000 / 10 entries = {results[5000][i] / results[10][i]:.2f}x")


if __name__ == "__main__":
    main()
