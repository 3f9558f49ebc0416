"""docs/reliability.md: every row of its fault table names tests that exist."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "reliability.md"


def _rows():
    """``(fault, [(test file, test name), ...])`` for every row of the fault tables."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("fault", "---") or set(cells[0]) <= {"-"}:
            continue
        tests, current = [], None
        for ref in re.findall(r"`([^`]*::[^`]*)`", cells[3]):
            file, _, name = ref.partition("::")
            current = file or current
            tests.append((current, re.sub(r"\[.*\]$", "", name)))
        rows.append((cells[0], tests))
    return rows


def _tests(file):
    tree = ast.parse((ROOT / "tests" / file).read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


ROWS = _rows()


def test_the_table_has_rows():
    assert len(ROWS) >= 40


@pytest.mark.parametrize("fault, tests", ROWS, ids=[fault[:50] for fault, _ in ROWS])
def test_every_fault_names_tests_that_exist(fault, tests):
    assert tests, f"no test named for {fault!r}"
    for file, name in tests:
        assert name in _tests(file), f"{file}::{name} (for {fault!r}) does not exist"
