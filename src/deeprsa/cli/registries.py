"""``deeprsa sources``, ``reductions``, ``loaders``, ``corrections``, ``performance-measures``.

Each lists a registry: the names a config, the API and the CLI accept, with the
first line of each one's description. (``deeprsa measures`` and ``deeprsa
methods`` list the measures and comparison methods with their formulas.)
"""

from __future__ import annotations

import click


def _describe(registry) -> dict[str, str]:
    return registry.describe()


def _echo(rows: dict[str, str], what: str) -> None:
    width = max(len(name) for name in rows)
    click.echo(f"{'name':<{width}}  {what}")
    for name, text in rows.items():
        click.echo(f"{name:<{width}}  {text}")


@click.command("sources")
def sources_cmd():
    """List the model sources (the part before ':' in torchvision:resnet18)."""
    from ..models._registry import SOURCES

    _echo(_describe(SOURCES), "description")


@click.command("reductions")
def reductions_cmd():
    """List the reductions of a layer's output to one row of features per stimulus."""
    from ..extract import REDUCTIONS

    _echo(_describe(REDUCTIONS), "description")


@click.command("loaders")
def loaders_cmd():
    """List the stimulus loaders (--stimuli NAME:ARGUMENT, or a path they recognise)."""
    from ..stimuli import describe_loaders

    _echo(describe_loaders(), "description")


@click.command("corrections")
def corrections_cmd():
    """List the multiple-comparison corrections of p-values (--correction NAME)."""
    from ..stats import describe_corrections

    _echo(describe_corrections(), "description")


@click.command("performance-measures")
def performance_measures_cmd():
    """List the measures of how alike two models perform (rep-vs-perf --performance)."""
    from ..analyses import describe_performance_measures

    table = describe_performance_measures()
    _echo(dict(zip(table["name"], table["description"], strict=True)), "description")


COMMANDS = (sources_cmd, reductions_cmd, loaders_cmd, corrections_cmd, performance_measures_cmd)
