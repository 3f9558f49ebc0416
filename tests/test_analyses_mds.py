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


def test_mds_of_dissimilarities_that_break_the_triangle_inequality():
    # Three layers compared by Spearman can give d(a, c) > d(a, b) + d(b, c): the classical
    # start has a negative eigenvalue (scikit-learn's own start is NaN there).
    import numpy as np
    from sklearn.manifold import MDS

    from deeprsa.analyses.mds import _stress1, compute_mds

    D = np.array([[0, 0.1, 0.9, 0.8], [0.1, 0, 0.05, 0.9], [0.9, 0.05, 0, 0.1],
                  [0.8, 0.9, 0.1, 0.0]])
    result = compute_mds(D)
    assert np.isfinite(result.coordinates).all() and result.coordinates.shape == (4, 2)
    best = min(_stress1(D, MDS(metric="precomputed", init="random", n_init=8, random_state=s,
                                max_iter=1000).fit_transform(D), metric=True)
               for s in range(3))
    assert result.stress == pytest.approx(best, abs=1e-4)
    three = compute_mds(np.array([[0, 1, 3], [1, 0, 1], [3, 1, 0.0]]))
    assert np.isfinite(three.coordinates).all()
