"""Second-order comparisons: deeprsa.compare_rdms against rsatoolbox.rdm.compare.

Both sides run in this one process on the same RDMs, and only the ratios are
meant to be read (absolute times depend on the machine and its load):

1. Spearman among 20 RDMs of 2,000 stimuli (goal: >= 3x faster, peak memory
   <= 1.5x the inputs). rsatoolbox ranks both inputs of every call;
   deeprsa ranks each RDM once, keeps the ranks as int32 and forms all pairs
   with one matrix product in column chunks.
2. Kendall's tau-a among 10 RDMs of 1,000 stimuli (goal: >= 10x faster on one
   thread). rsatoolbox re-sorts both RDMs for each of the 100 ordered pairs;
   deeprsa sorts each RDM once and counts discordant pairs in O(n log n) for
   the 45 unordered pairs (plus the diagonal in closed form).
3. Procrustes vs linear CKA, layer x layer, on the zoo's ``convnet_wide``
   (goal: Procrustes within 3x of linear CKA, values unchanged to 1e-10): the
   11 layers (up to 4,096 units) of two seeds on the 450 digits of the test
   split, ``multi_model_rdm`` from a read-only store, for each of the 10 pairs
   of its 5 seeds. Procrustes reduces each layer once to at most 450 columns
   (R^T of a QR of its centred transpose) and takes one 450 x 450 singular
   value decomposition per pair; linear CKA one Gram matrix per layer and a
   dot product per pair. The values are checked against the previous
   implementation (thin SVD of every layer, full SVD and residual per pair)
   on the first seed pair. Extracting the activations takes about 30 s.

deeprsa runs single-threaded unless asked (``n_jobs``); the "n_jobs=2" line
shows the threaded run (the discordant count releases the GIL) on its own.

Peak memory is what ``tracemalloc`` sees NumPy allocate during the call,
beyond the inputs, in a separate run from the timing.

BLAS runs on one thread (``--blas-threads``): on a shared, oversubscribed
machine a two-thread OpenBLAS call can stall for seconds waiting for its
second thread, which swamps a 20 x 20 Gram product (rsatoolbox's
non-BLAS ``einsum`` does not notice). The same setting applies to both sides.

Run: ``.venv/bin/python benchmarks/bench_compare.py`` (needs rsatoolbox and
torch; ``--quick`` uses 600 and 400 stimuli and 2 seed pairs; ``--case`` runs
one case).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import numpy as np


def _rdm_vectors(n_rdms, n_stimuli, seed):
    """Correlation-distance RDMs of related random activations (continuous, no ties)."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n_stimuli, 64))
    out = np.empty((n_rdms, n_stimuli * (n_stimuli - 1) // 2))
    iu = np.triu_indices(n_stimuli, 1)
    for k in range(n_rdms):
        X = shared @ rng.standard_normal((64, 128)) + 2.0 * rng.standard_normal((n_stimuli, 128))
        Z = X - X.mean(axis=1, keepdims=True)
        Z /= np.linalg.norm(Z, axis=1, keepdims=True)
        out[k] = (1.0 - Z @ Z.T)[iu]
    return out


def _time(func, repeat):
    best, value = np.inf, None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - start)
    return best, value


def _peak(func):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    func()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def _case(title, method, rsa_method, n_rdms, n_stimuli, repeat):
    import rsatoolbox

    from deeprsa import compare
    from deeprsa.rdm import RDM

    vectors = _rdm_vectors(n_rdms, n_stimuli, seed=0)
    ids = [f"s{i}" for i in range(n_stimuli)]
    rdms = [RDM.from_vector(v, ids, {"layer": f"l{k}"}) for k, v in enumerate(vectors)]
    theirs = rsatoolbox.rdm.RDMs(vectors)

    def ours():
        return compare.compare_rdms(rdms, method=method).matrix

    def ours_vectors():
        return compare.compare_rdms(vectors, method=method).matrix

    def ours_threads():
        return compare.compare_rdms(rdms, method=method, n_jobs=2).matrix

    def reference():
        return rsatoolbox.rdm.compare(theirs, theirs, method=rsa_method)

    t_ours, m_ours = _time(ours, repeat)
    t_vec, _ = _time(ours_vectors, repeat)
    t_thr, _ = _time(ours_threads, repeat)
    t_ref, m_ref = _time(reference, repeat)
    vector_bytes = vectors.nbytes
    rdm_bytes = sum(r.matrix.nbytes for r in rdms)
    p_ours, p_vec, p_ref = _peak(ours), _peak(ours_vectors), _peak(reference)

    print(f"\n{title}: {n_rdms} RDMs x {n_stimuli} stimuli "
          f"({vectors.shape[1]:,} entries each)")
    print(f"  max |deeprsa - rsatoolbox| = {np.max(np.abs(m_ours - m_ref)):.2e}")
    print(f"  time  deeprsa (RDM objects) {t_ours:8.2f} s")
    print(f"        deeprsa (vector array) {t_vec:7.2f} s")
    print(f"        deeprsa (n_jobs=2)    {t_thr:8.2f} s")
    print(f"        rsatoolbox            {t_ref:8.2f} s")
    print(f"  speed-up vs rsatoolbox: {t_ref / t_ours:.1f}x (RDM objects), "
          f"{t_ref / t_vec:.1f}x (vector array), {t_ref / t_thr:.1f}x (RDM objects, 2 threads; "
          "rsatoolbox uses one)")
    mib = 1 / 2 ** 20
    print(f"  inputs: vectors {vector_bytes * mib:.0f} MiB (what rsatoolbox holds); "
          f"deeprsa RDM objects {rdm_bytes * mib:.0f} MiB (square matrices)")
    print(f"  peak extra: deeprsa {p_ours * mib:.0f} MiB (RDM objects), "
          f"{p_vec * mib:.0f} MiB (vector array); rsatoolbox {p_ref * mib:.0f} MiB")
    print(f"  peak / inputs: deeprsa {(rdm_bytes + p_ours) / rdm_bytes:.2f}x of its RDM objects,"
          f" {(vector_bytes + p_vec) / vector_bytes:.2f}x of a vector array; rsatoolbox "
          f"{(vector_bytes + p_ref) / vector_bytes:.2f}x of its vectors")


LAYERS = ("conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3", "pool2", "fc",
          "relu_fc", "logits")  # every top-level layer of convnet but flatten (= pool2)


def _convnet_wide_store(path):
    import deeprsa

    stimuli = deeprsa.digits(split="test")
    for seed in range(5):
        deeprsa.extract(f"zoo:convnet_wide_s{seed}", stimuli, list(LAYERS), path,
                        progress=False)
    return deeprsa.Store(path, mode="r"), len(stimuli)


def _previous_shape(A):
    """The implementation this benchmark replaced: a thin SVD of each layer, ..."""
    A = A - A.mean(axis=0)
    U, s, _ = np.linalg.svd(A, full_matrices=False)
    keep = s > s[0] * max(A.shape) * np.finfo(float).eps
    A = U[:, keep] * s[keep]
    return A / np.linalg.norm(A)


def _previous_angle(A, B):
    """... and a full SVD of the zero-padded cross-product and a residual per pair."""
    width = max(A.shape[1], B.shape[1])
    A = np.pad(A, ((0, 0), (0, width - A.shape[1])))
    B = np.pad(B, ((0, 0), (0, width - B.shape[1])))
    U, _, Vt = np.linalg.svd(B.T @ A)
    return 2.0 * np.arcsin(min(1.0, np.linalg.norm(A - B @ (U @ Vt)) / 2.0))


def _procrustes_case(n_pairs):
    import itertools
    import tempfile

    from deeprsa import multi_model_rdm

    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        start = time.perf_counter()
        store, n_stimuli = _convnet_wide_store(f"{tmp}/store")
        print(f"\nProcrustes vs linear CKA: convnet_wide, {len(LAYERS)} layers x 2 seeds, "
              f"{n_stimuli} stimuli, {n_pairs} seed pairs (extraction "
              f"{time.perf_counter() - start:.0f} s)")
        models = [f"zoo:convnet_wide_s{s}" for s in range(5)]
        pairs = list(itertools.combinations(models, 2))[:n_pairs]

        def run(pair, method):
            start = time.perf_counter()
            result = multi_model_rdm(store, model=list(pair), layer=list(LAYERS), method=method)
            return time.perf_counter() - start, result

        # Paired: CKA and Procrustes on the same seed pair back to back, so a change of
        # load on the shared machine hits both; the median ratio is the figure to read.
        times, results = [], []
        for pair in pairs:
            t_cka, _ = run(pair, "linear_cka")
            t_pro, result = run(pair, "procrustes")
            times.append((t_cka, t_pro))
            results.append(result)
        times = np.array(times)
        t_cka, t_pro = times.sum(axis=0)
        ratios = times[:, 1] / times[:, 0]
        acts = [store.load_activations(m, layer)[0].astype(np.float64)
                for m in pairs[0] for layer in LAYERS]
        start = time.perf_counter()
        shapes = [_previous_shape(x) for x in acts]
        previous = np.zeros((len(acts), len(acts)))
        for i, j in itertools.combinations(range(len(acts)), 2):
            previous[i, j] = previous[j, i] = _previous_angle(shapes[i], shapes[j])
        t_prev = (time.perf_counter() - start) * len(pairs)
        diff = np.max(np.abs(results[0].matrix - previous))
        print(f"  max |new - previous implementation| (first seed pair) = {diff:.1e}")
        print(f"  time  linear CKA               {t_cka:8.1f} s")
        print(f"        Procrustes               {t_pro:8.1f} s")
        print(f"        previous Procrustes      {t_prev:8.1f} s (1 seed pair x {len(pairs)}, "
              "in memory, without reading the store)")
        print(f"  Procrustes / linear CKA: median {np.median(ratios):.1f}x over {len(pairs)} "
              f"paired seed pairs (range {ratios.min():.1f}-{ratios.max():.1f}x; totals "
              f"{t_pro / t_cka:.1f}x); previous implementation ~{t_prev / t_cka:.0f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many timings")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for both libraries (0: leave as is)")
    parser.add_argument("--case", choices=("spearman", "kendall", "procrustes"),
                        action="append", help="run only this case (repeatable)")
    args = parser.parse_args()
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads, user_api="blas")
    cases = args.case or ["spearman", "kendall", "procrustes"]
    spearman_n, kendall_n, n_pairs = (600, 400, 2) if args.quick else (2000, 1000, 10)
    _case("warm-up (imports, BLAS threads; ignore)", "spearman", "spearman", 3, 50, 1)
    if "spearman" in cases:
        _case("Spearman", "spearman", "spearman", 20, spearman_n, args.repeat)
    if "kendall" in cases:
        _case("Kendall tau-a", "kendall_tau_a", "tau-a", 10, kendall_n, args.repeat)
    if "procrustes" in cases:
        _procrustes_case(n_pairs)


if __name__ == "__main__":
    main()
