"""The ``deeprsa`` command line: a thin layer over the Python API."""

from __future__ import annotations

import logging

import click

from ._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deeprsa")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose):
    """Representational similarity analysis of deep networks."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main():  # pragma: no cover - console-script entry point
    cli()


# [foundation commands]

# [rdm commands]

# [compare commands]

# [zoo commands]
