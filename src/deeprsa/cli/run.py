"""``deeprsa run``, ``report``, ``demo`` and ``cluster-run``.

The commands that run a whole plan: a TOML config in one process or on a
Dask cluster, the demo on the bundled zoo, and the HTML report of a run
directory; they show the run's steps on stderr even without ``-v``.
"""

from __future__ import annotations

import logging

import click

from ._common import _api_errors


def _show_steps():
    """Print the run's plan and steps (INFO of deeprsa.pipeline / deeprsa.report), even
    without -v."""
    for name in ("deeprsa.report", "deeprsa.pipeline"):
        logger = logging.getLogger(name)
        if not any(getattr(h, "_deeprsa_steps", False) for h in logger.handlers):
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("deeprsa: %(message)s"))
            handler._deeprsa_steps = True
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


@click.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: the config's outputs.dir, else "
                   "CONFIG_results in the working directory].")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
@click.option("--cluster", default=None, metavar="local[:N]",
              help="Run extraction, RDMs and comparisons on a local Dask cluster (see "
                   "`deeprsa cluster-run` for more options) [default: one process, no Dask].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run them on a running Dask cluster (scheduler address or file).")
@_api_errors
def run_cmd(config, out_dir, progress, cluster, scheduler):
    """Run the plan in a TOML CONFIG: stimuli, extraction, RDMs, comparisons, analyses, report.

    The whole plan is checked first (stimuli, models, every layer, analysis
    options) and printed; then it runs. See examples/*.toml for annotated
    configs.
    """
    _run(config, out_dir=out_dir, progress=progress, cluster=cluster, scheduler=scheduler)


def _run(config, *, out_dir, progress, cluster=None, scheduler=None, rdm_batch_size=None,
         shard_size=None, n_jobs=None, report=True):
    """Check and run CONFIG, serially or on a Dask cluster; echo where the results are."""
    import sys
    from contextlib import nullcontext

    from ..pipeline import ConfigError, load_config, run_config
    from ..pipeline.run import run_store_stages

    command = " ".join(["deeprsa", *sys.argv[1:]])
    _show_steps()
    try:
        plan = load_config(config)
        out = out_dir if out_dir else _default_out(config, plan)
        with _executor(cluster, scheduler, rdm_batch_size, shard_size, n_jobs) \
                if cluster or scheduler else nullcontext() as executor:
            if report:
                path = run_config(config, out_dir=out, progress=progress, command=command,
                                  executor=executor)
            else:
                path = run_store_stages(config, out_dir=out, progress=progress,
                                        executor=executor)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    if not report:
        click.echo(f"Store: {path}")
    elif path.suffix == ".html":
        click.echo(f"Report: {path}")
    else:  # outputs.report = false: figures and tables, no report
        click.echo(f"Results: {path}")


def _default_out(config, plan):
    """The config's own outputs.dir, else CONFIG_results in the working directory."""
    import sys
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    config = Path(config)
    outputs = tomllib.loads(config.read_text()).get("outputs", {})
    if isinstance(outputs, dict) and outputs.get("dir"):
        return plan.resolve(plan.outputs.dir)
    return Path.cwd() / f"{config.stem}_results"


def _executor(cluster, scheduler, rdm_batch_size, shard_size, n_jobs):
    """A context holding a DaskExecutor on a started (or joined) cluster."""
    from contextlib import contextmanager

    from ..pipeline._dask_client import _dashboard_note
    from ..pipeline.dask import DaskExecutor, start_cluster

    if (cluster is None) == (scheduler is None):
        raise click.UsageError("Pass one of --cluster local[:N] (start a local cluster) or "
                               "--scheduler ADDRESS (join a running one).")
    executor = DaskExecutor(None, rdm_batch_size=rdm_batch_size, shard_size=shard_size,
                            n_jobs=n_jobs)

    @contextmanager
    def running():
        with start_cluster(cluster or scheduler) as client:
            click.echo(f"Dask dashboard: {client.dashboard_link}{_dashboard_note()}")
            executor.client = client
            yield executor

    return running()


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write [default: RUN_DIR/report.html].")
def report_cmd(run_dir, out_path):
    """Write the self-contained HTML report of RUN_DIR (from `deeprsa run` or `deeprsa demo`)."""
    from ..report import write_report

    try:
        path = write_report(run_dir, path=out_path)
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Report: {path}")


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="deeprsa-demo",
              show_default=True, help="Run directory (figures, tables, store, report).")
@click.option("--quick", is_flag=True,
              help="Smaller run for CI: 8 digits per class and 4 networks.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
def demo_cmd(out_dir, quick, progress):
    """Run the whole pipeline on real digits and the bundled zoo, and write a report.

    Held-out digits sampled per class; convnets, resnets and MLPs (three
    seeds each, trained, and their untrained twins); one-pass extraction,
    RDMs, model and multi-model RDMs, MDS, dimensionality, SRM across seeds,
    representational vs performance similarity. Offline, about a minute on a
    laptop CPU.
    """
    from ..demo import run_demo

    _show_steps()
    path = run_demo(out_dir, quick=quick, progress=progress)
    click.echo(f"Report: {path}")


@click.command("cluster-run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--cluster", "cluster", default=None, metavar="local[:N]",
              help="Start a local Dask cluster of N single-threaded worker processes "
                   "[default N: one per core].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Join a running Dask cluster: its scheduler address (tcp://host:8786) or "
                   "scheduler file (.json). Workers must reach the run directory.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: the config's outputs.dir, else "
                   "CONFIG_results in the working directory].")
@click.option("--rdm-batch-size", type=click.IntRange(min=1), default=None,
              help="Rows per RDM tile [default: as `deeprsa run`, for identical RDMs].")
@click.option("--shard-size", type=click.IntRange(min=1), default=None,
              help="Stimuli per extraction shard [default: about 4 shards per worker].")
@click.option("--n-jobs", "n_jobs", type=click.IntRange(min=1), default=None,
              help="BLAS and torch threads per task [default: as this process, so results "
                   "equal `deeprsa run` here bitwise; 1 is fastest on a local cluster].")
@click.option("--threads", "n_threads", type=click.IntRange(min=1), default=None,
              hidden=True, help="Deprecated spelling of --n-jobs.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="After the cluster stages, run the rest of the plan (analyses, figures, "
                   "report) here, reusing the store.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
@_api_errors
def cluster_run_cmd(config, cluster, scheduler, out_dir, rdm_batch_size, shard_size,
                    n_jobs, n_threads, report, progress):
    """Run CONFIG's extraction, RDMs and comparisons on a Dask cluster, then the rest.

    Extraction shards, RDM tiles and comparison blocks run as Dask tasks that
    share the run's store; a rerun computes only what is missing. The results
    and the provenance equal `deeprsa run CONFIG`'s, and the report's sections
    find the cluster's comparisons instead of computing them again. Needs
    `pip install "deeprsa[dask]"`.
    """
    if n_threads is not None:
        click.echo("Warning: --threads is deprecated; use --n-jobs.", err=True)
        n_jobs = n_threads if n_jobs is None else n_jobs
    if (cluster is None) == (scheduler is None):
        raise click.UsageError("Pass one of --cluster local[:N] (start a local cluster) or "
                               "--scheduler ADDRESS (join a running one).")
    _run(config, out_dir=out_dir, progress=progress, cluster=cluster, scheduler=scheduler,
         rdm_batch_size=rdm_batch_size, shard_size=shard_size, n_jobs=n_jobs, report=report)


COMMANDS = (run_cmd, report_cmd, demo_cmd, cluster_run_cmd)
