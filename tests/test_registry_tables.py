"""The tables of measures and methods in the README and docs/ are the registries, row for row.

``deeprsa measures`` and ``deeprsa methods`` print the registries; the Markdown tables
must say the same (formula, range, parameters, invariances, ...). A cell is the
registry's text with ``||`` written as ``‖`` and ``|`` escaped, ``–`` when empty.
"""

from pathlib import Path

import pytest

from deeprsa.compare import describe_methods
from deeprsa.rdm import describe_measures

ROOT = Path(__file__).resolve().parents[1]


def _cell(text):
    text = str(text).replace("||", "‖").replace("|", "\\|")
    return text or "–"


MEASURE_COLUMNS = {"measure": "name", "formula": "formula", "range": "range",
                   "parameters": "params", "invariances": "invariances", "notes": "notes"}
METHOD_COLUMNS = {"method": "name", "formula": "formula", "range": "range",
                  "similarity or distance": "kind", "parameters": "params",
                  "invariances": "invariances", "reference": "reference"}


def table_rows(table, columns):
    """Markdown rows of ``table`` (a describe_* frame) with the given header -> column map."""
    rows = []
    for record in table.to_dict("records"):
        cells = [f"`{record['name']}`" if key == "name" else _cell(record[key])
                 for key in columns.values()]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _tables(path):
    """Every Markdown table in ``path``: its header cells and its rows that start with a name."""
    tables, current = [], None
    for line in path.read_text().splitlines():
        if line.startswith("| ") and current is None:
            current = ([c.strip() for c in line.strip("|").split(" | ")], [])
            tables.append(current)
        elif line.startswith("| `") and current is not None:
            current[1].append(line)
        elif not line.startswith("|"):
            current = None
    return tables


def _find(path, first_header):
    found = [rows for header, rows in _tables(path) if header[0] == first_header]
    assert found, f"no table with first column {first_header!r} in {path.name}"
    return found


def _methods(input):
    table = describe_methods()
    return table[table["input"] == input]


# (file, first header, the header -> registry column map, the registry table)
CASES = [
    ("docs/measures.md", "measure", MEASURE_COLUMNS, describe_measures),
    ("README.md", "measure", {k: MEASURE_COLUMNS[k] for k in
                              ("measure", "formula", "range", "invariances", "notes")},
     describe_measures),
    ("docs/comparisons.md", "method", METHOD_COLUMNS, lambda: _methods("rdm")),
    ("docs/comparisons.md", "method", METHOD_COLUMNS, lambda: _methods("representation")),
    ("README.md", "method", {k: METHOD_COLUMNS[k] for k in
                             ("method", "formula", "range", "similarity or distance",
                              "invariances")}, lambda: _methods("rdm")),
]


@pytest.mark.parametrize("path, first, columns, table", CASES,
                         ids=["measures.md", "README-measures", "comparisons.md-rdm",
                              "comparisons.md-representation", "README-methods"])
def test_markdown_tables_are_the_registries(path, first, columns, table):
    expected = table_rows(table(), columns)
    assert expected in _find(ROOT / path, first), (
        f"{path}: the table of {first}s differs from the registry; expected rows:\n"
        + "\n".join(expected))


def test_the_cli_lists_the_invariances():
    from click.testing import CliRunner

    from deeprsa.cli import cli

    measures = CliRunner().invoke(cli, ["measures"])
    methods = CliRunner().invoke(cli, ["methods"])
    assert measures.exit_code == 0 and methods.exit_code == 0
    assert "invariances" in measures.output and "invariances" in methods.output
    assert "rotation, unit_permutation, shift" in measures.output  # euclidean
    assert "scaling, shift, monotone" in methods.output  # spearman
