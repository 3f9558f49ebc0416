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
    """Print the run's steps (INFO of deeprsa.report / deeprsa.demo) even without -v."""
    for name in ("deeprsa.report", "deeprsa.demo"):
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
                   "CONFIG_results next to the config].")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
@click.option("--cluster", default=None, metavar="local[:N]",
              help="Run extraction, RDMs and comparisons on a local Dask cluster (see "
                   "`deeprsa cluster-run` for more options) [default: one process, no Dask].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run them on a running Dask cluster (scheduler address or file).")
@click.pass_context
def run_cmd(ctx, config, out_dir, progress, cluster, scheduler):
    """Run the plan in a TOML CONFIG: stimuli, extraction, RDMs, comparisons, analyses, report.

    See examples/*.toml for annotated configs.
    """
    import sys

    if cluster is not None or scheduler is not None:
        ctx.invoke(cluster_run_cmd, config=config, cluster=cluster, scheduler=scheduler,
                   out_dir=out_dir, progress=progress)
        return

    from ..config import ConfigError
    from ..demo import run_config

    _show_steps()
    try:
        path = run_config(config, out_dir=out_dir, progress=progress,
                          command=" ".join(["deeprsa", *sys.argv[1:]]))
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Report: {path}")


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
                   "CONFIG_results next to the config].")
@click.option("--rdm-batch-size", type=click.IntRange(min=1), default=None,
              help="Rows per RDM tile [default: as `deeprsa run`, for identical RDMs].")
@click.option("--shard-size", type=click.IntRange(min=1), default=None,
              help="Stimuli per extraction shard [default: about 4 shards per worker].")
@click.option("--threads", "n_threads", type=click.IntRange(min=1), default=None,
              help="BLAS and torch threads per task [default: as this process, so results "
                   "equal `deeprsa run` here bitwise; 1 is fastest on a local cluster].")
@click.option("--report/--no-report", default=True, show_default=True,
              help="After the cluster stages, run the rest of the plan (analyses, figures, "
                   "report) here, reusing the store.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars.")
@_api_errors
def cluster_run_cmd(config, cluster, scheduler, out_dir, rdm_batch_size, shard_size,
                    n_threads, report, progress):
    """Run CONFIG's extraction, RDMs and comparisons on a Dask cluster, then the rest.

    Extraction shards, RDM tiles and comparison blocks run as Dask tasks that
    share the run's store; a rerun computes only what is missing. The results
    equal `deeprsa run CONFIG`'s. Needs `pip install "deeprsa[dask]"`.
    """
    import sys
    from pathlib import Path

    from ..cluster import _dashboard_note, run_plan, start_cluster
    from ..config import ConfigError, load_config

    if (cluster is None) == (scheduler is None):
        raise click.UsageError("Pass one of --cluster local[:N] (start a local cluster) or "
                               "--scheduler ADDRESS (join a running one).")
    try:
        plan = load_config(config)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    out = Path(out_dir) if out_dir else plan.resolve(plan.outputs.dir or "deeprsa_results")
    with start_cluster(cluster or scheduler) as client:
        click.echo(f"Dask dashboard: {client.dashboard_link}{_dashboard_note()}")
        result = run_plan(plan, client, store=out / "store", rdm_batch_size=rdm_batch_size,
                          shard_size=shard_size, n_threads=n_threads, progress=progress)
    work = result.work.groupby("stage", sort=False)[["blocks", "computed"]].sum()
    click.echo(work.rename(columns={"computed": "computed now"}).to_string())
    if report:
        from ..demo import run_config

        _show_steps()
        path = run_config(plan, out_dir=out, progress=progress,
                          command=" ".join(["deeprsa", *sys.argv[1:]]))
        click.echo(f"Report: {path}")
    else:
        click.echo(f"Store: {out / 'store'}")


COMMANDS = (run_cmd, report_cmd, demo_cmd, cluster_run_cmd)
