"""RDM tiles on a 2-worker Dask LocalCluster against the serial store path.

One correlation RDM of N x P float32 activations held in a store, computed

1. serially, in this process: ``compute_rdm(store, key=..., batch_size=TILE)``
   (numpy's BLAS with its default threads, 2 on this machine);
2. on ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` with
   one BLAS thread per task (``n_jobs=1``: no oversubscription);
3. on the same cluster with the serial run's BLAS threads per task (the
   default of :func:`deeprsa.pipeline.dask.run_plan`, bitwise-identical results;
   2 workers x 2 threads on 2 cores).

Both read the activations from the store and write the RDM back (raw float32),
in tiles of TILE rows. Each round deletes the RDM first; the reported time is
the median of ``--rounds`` rounds after one warm-up. The cluster's start
(a few seconds) is not counted, nor are its workers' first imports. The
speed-up is serial time / cluster time: above 1 the cluster is faster. On a
2-core machine there is little to gain, since the serial matrix products
already use both cores; the point of the cluster is more machines.

Run: ``.venv/bin/python benchmarks/bench_cluster.py`` (``--quick``: 3,000
stimuli, 2 rounds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_rdm import _activations  # noqa: E402  (the same synthetic ReLU-like rows)


def _store_with_activations(path, X):
    from deeprsa import Store

    store = Store(path)
    ids = [f"s{i}" for i in range(len(X))]
    stimuli = store.add_stimuli(ids, "bench")
    key = store.write("activations", {"model": "bench", "layer": "features",
                                      "stimuli": stimuli, "reduction": {"name": "flatten"}},
                      X, chunks=(256, X.shape[1]))
    return store, key


def _drop_rdms(store):
    for key in store.entries("rdms").get("key", []):
        store.delete(key)


def _time(run, store, rounds):
    times = []
    for _ in range(rounds + 1):  # the first round warms up
        _drop_rdms(store)
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), times[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stimuli", type=int, default=6000)
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=512, help="rows per RDM tile")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.stimuli, args.rounds = 3000, 2

    from distributed import Client, LocalCluster

    from deeprsa import compute_rdm
    from deeprsa.pipeline.dask import _rdm_stage, _threads_here

    n, p, tile = args.stimuli, args.features, args.tile
    n_tiles = -(-n // tile)
    X = _activations(n, p)
    store, key = _store_with_activations(tempfile.mkdtemp() + "/bench.zarr", X)
    sizes = [min(tile, n - s) for s in range(0, n, tile)]
    macs = sum(a * b * p for i, a in enumerate(sizes) for b in sizes[i:])  # tiles i <= j
    print(f"correlation RDM of {n} x {p} float32 activations, tiles of {tile} rows "
          f"({n_tiles} row tiles, {n_tiles * (n_tiles + 1) // 2} tile pairs); serial BLAS "
          f"threads here: {_threads_here()['blas']}")

    serial, serial_all = _time(lambda: compute_rdm(store, key=key, batch_size=tile),
                               store, args.rounds)
    reference = store.read(store.entries("rdms")["key"][0])

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    client = Client(cluster)
    try:
        client.run(__import__, "deeprsa.rdm")
        results = {}
        for label, n_jobs in (("2 workers, 1 BLAS thread per task", 1),
                              ("2 workers, serial's BLAS threads per task", None)):
            results[label] = _time(
                lambda n_jobs=n_jobs: _rdm_stage(client, store, [key], batch_size=tile,
                                                 n_jobs=n_jobs),
                store, args.rounds)
            same = store.read(store.entries("rdms")["key"][0]).tobytes() == reference.tobytes()
            results[label] += (same,)
    finally:
        client.close()
        cluster.close()

    print(f"{'run':<46}{'median s':>10}{'GMAC/s':>10}{'speed-up':>10}  bitwise = serial")
    print(f"{'serial (this process)':<46}{serial:>10.2f}{macs / serial / 1e9:>10.1f}"
          f"{1.0:>10.2f}")
    for label, (median, _, same) in results.items():
        print(f"{label:<46}{median:>10.2f}{macs / median / 1e9:>10.1f}"
              f"{serial / median:>10.2f}  {same}")
    print("GMAC/s: 1e9 multiply-adds per second in the tile products (the upper triangle "
          "of tiles), end to end: store reads, row preparation and RDM writes included.")
    print("rounds (s): serial " + ", ".join(f"{t:.2f}" for t in serial_all) + "; " +
          "; ".join(f"{label.split(',')[1].strip()} " + ", ".join(f"{t:.2f}" for t in times)
                    for label, (_, times, _) in results.items()))


if __name__ == "__main__":
    main()
