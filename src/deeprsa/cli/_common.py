"""Helpers shared by the ``deeprsa`` commands.

The wrapper that turns the errors a user can fix (KeyError, ValueError,
TypeError, OSError, ImportError, a store's and a model source's errors) into
one-line CLI errors; the parsers of ``--stimuli``,
``--layers``/``--select`` and ``--param``; the click options shared by the
statistics and analyses commands; and the writers that echo a table and save
it as CSV or parquet.
"""

from __future__ import annotations

import click

# A user's mistake (a bad option, a missing file, a damaged store, no network for trained
# weights) is one line on stderr and exit status 1, never a traceback.
_USER_ERRORS = (KeyError, ValueError, TypeError, FileNotFoundError, ImportError, OSError)


def user_error(err: BaseException) -> click.ClickException | None:
    """The one-line CLI error for an exception a user can fix, or None (a bug: traceback)."""
    from ..models import WeightsUnavailableError
    from ..store import StoreError

    if isinstance(err, click.ClickException):
        return err
    if isinstance(err, (StoreError, WeightsUnavailableError, *_USER_ERRORS)):
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        return click.ClickException(text or type(err).__name__)
    return None


def _api_errors(func):
    """Report the API's errors a user can fix as one-line CLI errors (exit code 1)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as err:
            translated = user_error(err)
            if translated is None or translated is err:
                raise
            raise translated from err

    return wrapper


def _load_stimuli(spec: str):
    """A stimulus source: ``digits[:train|test]``, a folder, a ``.csv``, a ``meta.json``.

    Any registered loader works as ``name:argument`` (``deeprsa loaders``). The
    ``meta.json`` is that of the object-classification RSA study: one record
    per image with its ``filename`` and ``class``.
    """
    from ..stimuli import load_stimuli

    try:
        return load_stimuli(spec)
    except (ValueError, FileNotFoundError) as err:
        raise click.BadParameter(str(err), param_hint="--stimuli") from None


def _parse_selectors(text: str):
    parts = [p.strip() for p in text.split(",") if p.strip()]
    out = [int(p) if p.lstrip("-").isdigit() else p for p in parts]
    return out[0] if len(out) == 1 and isinstance(out[0], str) else out


def _parse_params(pairs):
    """``("per_feature=true", ...)`` -> ``{"per_feature": True}`` (values as JSON, else str)."""
    import json

    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE, e.g. per_feature=true.",
                                     param_hint="--param")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def _stats_table(table, path, store, name, columns):
    """Echo ``columns`` of ``table``, write all of it (see ``_write_analysis_table``)."""
    if columns:
        _echo_table(table, columns)
    path = _write_analysis_table(table, path, store, name)
    click.echo(f"table ({len(table)} rows): {path}")


def _stats_rdms(store, models, layers, measure):
    from ..rdm import compute_rdms

    return compute_rdms(store, measure=measure, model=list(models) or None,
                        layer=list(layers) or None, progress=False)


def _stats_options(func):
    for option in reversed([
        click.option("--store", required=True, type=click.Path(exists=True, file_okay=False),
                     help="Store directory holding the activations (RDMs are cached there)."),
        click.option("--measure", default="correlation", show_default=True,
                     help="First-order measure of the RDMs (`deeprsa measures`)."),
        click.option("--method", default="spearman", show_default=True,
                     help="RDM comparison method (`deeprsa methods`)."),
        click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None,
                     help="Output table, .csv or .parquet [default: STORE/tables/"
                          "<command>.csv]."),
    ]):
        func = option(func)
    return func


def _write_analysis_table(table, path, store, name):
    """Write ``table`` to ``path`` (.csv or .parquet; default STORE/tables/NAME.csv).

    A store that cannot be written (a read-only share) is never written into:
    the default is then ``deeprsa_tables/NAME.csv`` in the working directory.
    """
    import os
    from pathlib import Path

    file = name if Path(name).suffix else f"{name}.csv"
    if path is None and not os.access(store, os.W_OK):
        path = Path.cwd() / "deeprsa_tables" / file
        click.echo(f"Store {store} is read-only: the table goes to {path} (choose with "
                   "--table).", err=True)
    path = Path(path or Path(store) / "tables" / file)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        table = table.copy()
        for col in [c for c in table.columns if table[c].dtype.kind == "O"]:
            table[col] = table[col].map(lambda v: None if v is None else str(v))
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def _echo_table(table, columns):
    with __import__("pandas").option_context("display.max_rows", None, "display.width", 200):
        click.echo(table[[c for c in columns if c in table.columns]].to_string(index=False))


_store_option = click.option("--store", required=True,
                             type=click.Path(exists=True, file_okay=False),
                             help="Store directory holding the activations.")
_model_option = click.option("--model", "models", multiple=True,
                             help="Only this model (repeatable; default all).")
_layer_option = click.option("--layer", "layers", multiple=True,
                             help="Only this layer (repeatable; default all).")
_stimuli_option = click.option("--stimuli", required=True,
                               help="The stimuli of the activations: digits[:train|test], a "
                                    "folder, a CSV or a meta.json.")
_table_option = click.option("--table", "table_path", type=click.Path(dir_okay=False),
                             default=None, help="Output table, .csv or .parquet "
                             "[default: STORE/tables/<command>.csv].")
