"""The house rules: data flows one way, modules stay readable, no internal jargon reaches users.

docs/architecture.md explains the layout these tests hold in place.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "deeprsa"
BASE = {"_validation", "_version", "_deprecation", "__version__"}

# Each stage and the earlier stages it may import (besides itself and BASE). The store is
# infrastructure: every stage that reads or writes arrays may use it. The shims at the
# bottom are the deprecated homes of moved names (one release).
ALLOWED = {
    "store": set(),
    "stimuli": set(),
    "models": set(),
    "zoo": {"models", "stimuli"},
    "layers": {"models"},
    "extract": {"layers", "models", "stimuli", "store"},
    "rdm": {"store"},
    "compare": {"rdm", "store"},
    "align": {"store"},
    "stats": {"compare", "rdm"},
    "analyses": {"stats", "compare", "align", "rdm", "store", "stimuli", "zoo"},
    "plots": {"analyses"},
    "report": {"plots"},
    "pipeline": {"report", "plots", "analyses", "stats", "align", "compare", "rdm", "store",
                 "extract", "layers", "models", "stimuli", "zoo"},
    "demo": {"pipeline"},
    "cli": {"demo", "pipeline", "report", "plots", "analyses", "stats", "align", "compare",
            "rdm", "store", "extract", "layers", "models", "stimuli", "zoo"},
    "__init__": {"extract", "zoo"},  # everything else is imported lazily, on first use
    "config": {"pipeline"},
    "cluster": {"pipeline"},
    "datasets": {"stimuli"},
}
MAX_LINES = 600


def _unit(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _imports(path: Path):
    """(line, imported stage) for every deeprsa import in ``path``, at any depth."""
    package = list(path.relative_to(SRC).parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level - 1 > len(package):
                continue
            base = package[:len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            names = [target[0]] if target else [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("deeprsa."):
            names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names
                     if a.name.startswith("deeprsa.")]
        else:
            continue
        for name in names:
            yield node.lineno, name


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_stage_is_in_the_table():
    assert {_unit(p) for p in SOURCES} - BASE == set(ALLOWED)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_stage_imports_a_later_one(path):
    unit = _unit(path)
    if unit in BASE:
        allowed = BASE
    else:
        allowed = ALLOWED[unit] | BASE | {unit}
    bad = [(line, name) for line, name in _imports(path) if name not in allowed]
    assert not bad, (f"{path.relative_to(SRC)} imports {bad}; {unit} may import "
                     f"{sorted(ALLOWED.get(unit, ()))} (see docs/architecture.md)")


def test_the_stage_table_has_no_cycle():
    seen, done = set(), set()

    def visit(unit, trail):
        assert unit not in seen or unit in done, f"import cycle: {' -> '.join(trail)}"
        if unit in done:
            return
        seen.add(unit)
        for other in ALLOWED.get(unit, ()):
            visit(other, trail + [other])
        done.add(unit)

    for unit in ALLOWED:
        visit(unit, [unit])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_are_read_in_one_sitting(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(SRC)} has {n} lines; split it by responsibility"


def test_the_checker_sees_every_import_form(tmp_path, monkeypatch):
    # The table is only as good as the parser: each spelling of an import is found.
    fake = tmp_path / "deeprsa" / "rdm"
    fake.mkdir(parents=True)
    code = ("from ..plots import x\nfrom .. import pipeline\nimport deeprsa.report\n"
            "from deeprsa.cli import y\n\ndef f():\n    from ..analyses import z\n")
    (fake / "m.py").write_text(code)
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path / "deeprsa")
    found = {name for _, name in _imports(fake / "m.py")}
    assert found == {"plots", "pipeline", "report", "cli", "analyses"}


_JARGON = re.compile(r"\bseed[ _-]?00\d", re.IGNORECASE)
_PRODUCT = [p for pattern in ("src/deeprsa/**/*.py", "docs/**/*.md", "examples/*", "*.md",
                              "src/deeprsa/**/*.toml")
            for p in ROOT.glob(pattern) if p.is_file()]


@pytest.mark.parametrize("path", _PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_internal_document_names_in_the_product(path):
    # Users have no "seed 000": name the method and its source instead.
    hits = [i + 1 for i, line in enumerate(path.read_text().splitlines())
            if _JARGON.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} lines {hits} name an internal document"
