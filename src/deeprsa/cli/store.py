"""``deeprsa store check`` and ``deeprsa store repair``: a store's health, and mending it.

``check`` reads the manifest and every chunk of every entry (their checksums),
and lists each problem naming the entry; it exits with status 1 when it found
damage. ``repair`` rebuilds the manifest from what the arrays record, keeps
every intact entry, keeps damaged activations and RDMs up to their first
damaged row (the same command as before then resumes them) and drops only
what is really broken, listing it.
"""

from __future__ import annotations

import click


@click.group("store")
def store_group():
    """Check a store for damage, or repair it (see docs/reliability.md)."""


@store_group.command("check")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--quick", is_flag=True,
              help="Only check that every chunk file is there and shapes agree (no "
                   "checksums: much faster for a large store).")
def check_cmd(path, quick):
    """List every problem of the store at PATH, naming the entry (exit status 1 if any)."""
    from ..store import check_store

    report = check_store(path, chunks=not quick)
    for what, message in report.problems:
        click.echo(f"DAMAGED {what}: {message}")
    for what, message in report.notes:
        click.echo(f"note    {what}: {message}")
    if report.ok:
        click.echo(f"Store {path}: {report.n_entries} entries, no damage found"
                   + (" (chunk files present; checksums not read: --quick)." if quick else "."))
        return
    click.echo(f"Store {path}: {len(report.problems)} problem(s) in {report.n_entries} entries. "
               f"`deeprsa store repair {path}` keeps what is intact and drops the rest.")
    raise SystemExit(1)


@store_group.command("repair")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
def repair_cmd(path):
    """Rebuild the manifest of the store at PATH from its arrays; drop only what is broken."""
    from ..store import repair_store

    report = repair_store(path)
    for what, message in report.notes:
        click.echo(f"note     {what}: {message}")
    for label, row, problems in report.resumed:
        why = f": {problems[0].removeprefix(label + ': ')}" if problems else ""
        click.echo(f"resumes  {label} from row {row}{why}")
    for label, reason in report.dropped:
        click.echo(f"dropped  {label}: {reason}")
    click.echo(f"Store {path}: {len(report.kept)} entries kept whole, {len(report.resumed)} kept "
               f"up to a row (run the same commands again to finish them), "
               f"{len(report.dropped)} dropped.")


COMMANDS = (store_group,)
