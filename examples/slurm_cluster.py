"""Run a deeprsa plan on a SLURM machine with dask-jobqueue's SLURMCluster.

Each SLURM job is one Dask worker; the scheduler and this script (the client)
run on the login node, or better in a small interactive allocation. The store
is the medium the workers share, so it must live on the parallel file system
that every node mounts (Lustre, GPFS, BeeGFS), not on node-local scratch.
See docs/scaling.md for sizing a large run.

Setup, once, in the environment the jobs will use::

    pip install "deeprsa[dask]" dask-jobqueue bokeh   # bokeh serves the dashboard

Run::

    python examples/slurm_cluster.py examples/digits_zoo.toml \\
        --out /lustre/$USER/digits_run --jobs 8

The dashboard link is printed when the cluster starts; from a laptop, forward
its port: ``ssh -L 8787:localhost:8787 login-node``. Interrupt the script,
or lose jobs to the wall-clock limit, and run the same command again: the
shards and tiles already in the store are kept, only the missing ones run.

Edit ``CLUSTER`` below for your site: partition, account, cores and memory
per job, wall time, the network interface of the compute nodes, and the lines
that load your software (``job_script_prologue``). ``cluster.job_script()``
shows the batch script dask-jobqueue submits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# One SLURM job runs `processes` single-threaded Dask workers (like `deeprsa cluster-run
# --cluster local:N` on one machine): each task uses one BLAS/torch thread (n_threads=1 below),
# so a job's tasks never oversubscribe its cores.
CLUSTER = dict(
    queue="compute",                 # -p: your partition
    account="my-project",            # -A: the account charged
    cores=8,                         # CPUs per job = worker threads in total
    processes=8,                     # worker processes per job (one thread each)
    memory="32GiB",                  # per job, shared by its workers; Dask spills past ~60 %
    walltime="04:00:00",
    interface="ib0",                 # the compute nodes' fast network (`ip addr`), or None
    local_directory="$TMPDIR",       # node-local scratch for Dask's spilled data
    log_directory="dask-logs",       # one .out/.err per job
    job_script_prologue=[
        "module load python",        # whatever gives the jobs this environment
        "source ~/venvs/deeprsa/bin/activate",
    ],
)
N_THREADS = 1
# GPU jobs for extraction: processes=1, job_extra_directives=["--gres=gpu:1"], N_THREADS =
# cores, and device = "cuda" in the config's [extract] section. Results on other CPUs or
# GPUs than a serial run's agree to float rounding; bitwise identity needs the same machine
# and threads (see deeprsa.pipeline.dask.run_plan).


def main():
    parser = argparse.ArgumentParser(description="Run a deeprsa config on SLURM via Dask.")
    parser.add_argument("config", help="the TOML run config (deeprsa run CONFIG)")
    parser.add_argument("--out", required=True,
                        help="run directory on the shared file system (holds the store)")
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs (workers) to start")
    parser.add_argument("--adapt", action="store_true",
                        help="let Dask grow and shrink the jobs (1 to --jobs) with the load")
    parser.add_argument("--report", action="store_true",
                        help="afterwards, run the analyses, figures and report here")
    args = parser.parse_args()

    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster

    from deeprsa import load_config
    from deeprsa.pipeline.dask import run_plan

    plan = load_config(args.config)
    out = Path(args.out)
    cluster = SLURMCluster(**CLUSTER)
    if args.adapt:
        cluster.adapt(minimum_jobs=1, maximum_jobs=args.jobs)
    else:
        cluster.scale(jobs=args.jobs)
    with cluster, Client(cluster) as client:
        print(f"Dask dashboard: {client.dashboard_link}")
        client.wait_for_workers(1)
        result = run_plan(plan, client, store=out / "store", n_threads=N_THREADS)
        print(result.work.groupby("stage", sort=False)[["blocks", "computed"]].sum())
    if args.report:
        from deeprsa.demo import run_config

        print(f"Report: {run_config(plan, out_dir=out)}")


if __name__ == "__main__":
    main()
