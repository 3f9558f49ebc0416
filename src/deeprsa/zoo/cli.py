"""``deeprsa zoo``: list the bundled networks, or retrain them from their seeds."""

from __future__ import annotations

import time
from pathlib import Path

import click

_TABLE_COLUMNS = ["name", "architecture", "width", "seed", "epoch", "n_parameters",
                  "test_accuracy"]


def _format(table) -> str:
    return table[_TABLE_COLUMNS].to_string(
        index=False, formatters={"test_accuracy": "{:.4f}".format})


@click.group("zoo")
def zoo_cli():
    """The bundled model zoo: small networks trained on scikit-learn's digits."""


@zoo_cli.command("list")
@click.option("--dir", "directory", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="List a zoo written by `deeprsa zoo train` instead of the shipped one.")
def list_command(directory):
    """Print the entries: name, architecture, seed, parameters and test accuracy."""
    from .catalog import list_entries

    click.echo(_format(list_entries(directory=directory)))


@zoo_cli.command("train")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the .pt state dicts and .json cards.")
@click.option("--entry", "entries", multiple=True,
              help="Train only this entry (repeatable); default: the whole zoo.")
def train_command(out_dir, entries):
    """Retrain the zoo deterministically on CPU from its seeds."""
    from .train import train_zoo

    start = time.perf_counter()
    try:
        table = train_zoo(out_dir, entries=list(entries) or None)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="'--entry'") from None
    click.echo(_format(table))
    click.echo(f"Wrote {len(table)} entries to {out_dir} in "
               f"{time.perf_counter() - start:.0f} s.")
