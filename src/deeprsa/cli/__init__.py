"""The ``deeprsa`` command line: a thin layer over the Python API.

This module holds the ``deeprsa`` group (``--version``, ``-v``) and the
console-script entry point :func:`main`, and registers the commands, which
live by group: :mod:`.data` (layers, extraction, RDMs, comparisons),
:mod:`.registries` (the lists of sources, reductions, loaders,
corrections and performance measures), :mod:`.stats` (SRM and the statistics of RDMs), :mod:`.analyses`
(dimensionality, decoding, ANOVA, subsets, representational vs performance
similarity), :mod:`.run` (configs, reports, the demo, clusters) and the zoo's
commands from :mod:`deeprsa.zoo.cli`. Each command imports the API it calls
when it runs.
"""

from __future__ import annotations

import logging

import click

from .._version import __version__
from ..zoo.cli import zoo_cli
from . import analyses, data, registries, run, stats


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deeprsa")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose):
    """Representational similarity analysis of deep networks."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main():  # pragma: no cover - console-script entry point
    cli()


for _command in (*data.COMMANDS, *registries.COMMANDS, *stats.COMMANDS, *analyses.COMMANDS,
                 *run.COMMANDS, zoo_cli):
    cli.add_command(_command)
