"""A stack of RDMs from one read per layer, against computing each group's RDM on its own.

pytorch_feature_analysis' object x colour layout at a larger scale: ``--groups`` objects
x 10 colours x 4 presentations of ``--features`` units, one layer in a store. Timed, in
this one process, on the same store (only the ratio is meant to be read):

1. ``compute_rdms(store, stimuli=meta, by="obj", entries="color")``: the stack, from
   one pass over the layer (its observed RDMs written back as one store entry);
2. the same RDMs one group at a time, ``compute_rdms(store, stimuli=meta[group],
   entries="color")`` into a read-only store (nothing cached between groups), each
   reading the whole layer again;
3. the stack loaded again from the store (no read of the layer).

The numbers are checked to be equal. Run: ``.venv/bin/python benchmarks/bench_stacks.py``
(``--quick``: 20 groups of 1,024 units).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--features", type=int, default=4096)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.groups, args.features = 20, 1024

    from deeprsa import Store, compute_rdms
    from deeprsa.store import content_key

    rows = [(f"obj{g:03d}", f"c{c}", r) for g in range(args.groups) for c in range(10)
            for r in range(4)]
    ids = ["_".join(map(str, row)) for row in rows]
    meta = pd.DataFrame(rows, columns=["obj", "color", "rep"], index=ids)
    X = np.random.default_rng(0).standard_normal((len(ids), args.features), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"{tmp}/store")
        key = store.add_stimuli(ids, content_key({"ids": ids}))
        store.write("activations", {"model": "net", "layer": "fc", "reduction": "flatten",
                                    "stimuli": key, "dtype": "float32"}, X)
        print(f"{len(ids)} stimuli x {args.features} units ({X.nbytes / 1e6:.0f} MB), "
              f"{args.groups} groups of 10 entries")
        t = time.perf_counter()
        stack = compute_rdms(store, stimuli=meta, by="obj", entries="color", progress=False)
        t_stack = time.perf_counter() - t
        read_only = Store(f"{tmp}/store", mode="r")
        t = time.perf_counter()
        alone = [compute_rdms(read_only, stimuli=meta[meta["obj"] == g], entries="color",
                              progress=False)[0] for g in meta["obj"].unique()]
        t_alone = time.perf_counter() - t
        t = time.perf_counter()
        again = compute_rdms(store, stimuli=meta, by="obj", entries="color", progress=False)
        t_again = time.perf_counter() - t
    same = all(np.array_equal(a.matrix, b.matrix) for a, b in zip(stack, alone, strict=True))
    same &= all(np.array_equal(a.matrix, b.matrix) for a, b in zip(stack, again, strict=True))
    print(f"stack, one read:        {t_stack:7.2f} s")
    print(f"each group alone:       {t_alone:7.2f} s  ({t_alone / t_stack:.1f}x the stack)")
    print(f"stack loaded again:     {t_again:7.2f} s  ({t_again / t_stack:.2f}x the stack)")
    print(f"identical RDMs: {same}")


if __name__ == "__main__":
    main()
