"""MDS lives with the analyses: exported there, and computed without importing the figures."""

import ast
from pathlib import Path

import pytest

from deeprsa import analyses

ANALYSES = Path(analyses.__file__).parent


def _imports_plots(source):
    """Whether ``source`` imports deeprsa.plots (or anything in it), absolutely or relatively."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            modules = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        if any("plots" in module.split(".") for module in modules):
            return True
    return False


@pytest.mark.parametrize("source, expected", [
    ("from ..plots import plot_mds", True),
    ("from ..plots._base import _STYLE", True),
    ("from .. import plots", True),
    ("import deeprsa.plots", True),
    ("from .._validation import check_random_state", False),
    ("from matplotlib import pyplot", False),
])
def test_the_import_check_sees_every_spelling(source, expected):
    assert _imports_plots(source) is expected


@pytest.mark.parametrize("path", sorted(ANALYSES.glob("*.py")), ids=lambda p: p.name)
def test_analyses_never_import_the_figures(path):
    # Data flows one way: the figures use the analyses, never the reverse.
    assert not _imports_plots(path.read_text(encoding="utf-8"))


def test_compute_mds_and_its_result_are_exported_by_analyses():
    assert {"compute_mds", "MDSResult"} <= set(analyses.__all__)
    assert analyses.compute_mds.__module__ == "deeprsa.analyses.mds"
    assert analyses.MDSResult.__module__ == "deeprsa.analyses.mds"
