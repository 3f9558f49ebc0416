"""The ``deeprsa`` command line: a thin layer over the Python API.

This module holds the ``deeprsa`` group (``--version``, ``-v``) and the
console-script entry point :func:`main`, and registers the commands, which
live by group: :mod:`.data` (layers, extraction, RDMs, comparisons),
:mod:`.registries` (the lists of sources, reductions, loaders,
corrections and performance measures), :mod:`.stats` (SRM and the statistics of RDMs), :mod:`.analyses`
(dimensionality, decoding, ANOVA, subsets, representational vs performance
similarity), :mod:`.run` (configs, reports, the demo, clusters), :mod:`.store`
(checking and repairing a store) and the zoo's commands from
:mod:`deeprsa.zoo.cli`. A user's mistake is one line on stderr, never a
traceback (:func:`._common.user_error`); warnings show as ``Warning: ...``. Each command imports the API it calls
when it runs.
"""

from __future__ import annotations

import logging
import warnings

import click

from .._version import __version__
from ..zoo.cli import zoo_cli
from . import analyses, data, registries, run, stats, store
from ._common import user_error


class _Group(click.Group):
    """The ``deeprsa`` group: every command's user errors become one line, no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("Interrupted. Everything finished so far is kept: run the same command "
                       "again to resume.", err=True)
            raise SystemExit(130) from None
        except Exception as err:
            translated = user_error(err)
            if translated is None or translated is err:
                raise
            raise translated from err


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings on the command line: ``Warning: <text>``, each different one shown."""
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deeprsa")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose):
    """Representational similarity analysis of deep networks."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    warnings.showwarning = _show_warning


def main():  # pragma: no cover - console-script entry point
    cli()


for _command in (*data.COMMANDS, *registries.COMMANDS, *stats.COMMANDS, *analyses.COMMANDS,
                 *run.COMMANDS, *store.COMMANDS, zoo_cli):
    cli.add_command(_command)
