"""The README's Python quickstart must run as written."""

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def _quickstart():
    text = README.read_text()
    section = text[text.index("## Quickstart: Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_python_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_quickstart(), str(README), "exec"), namespace)
    result, shared = namespace["result"], namespace["shared"]
    assert set(result.table["model_a"]) == {"zoo:convnet_s0", "zoo:convnet_s1", "zoo:mlp_s0"}
    assert shared[0].shape == (200, 10)
    assert (tmp_path / "runs" / "store" / "manifest.json").exists()


def test_readme_names_the_setup_and_test_commands():
    text = README.read_text()
    assert 'pip install -e ".[dev]"' in text and "deeprsa demo" in text
    assert "python -m pytest" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]"' in ci and "python -m pytest" in ci
