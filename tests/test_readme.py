"""The README runs as written: each block in a temporary folder, as a newcomer would.

The set-up block runs in a folder holding the clone (``pip`` is recorded, not run: `.ci/run`
installs for real, from scratch, with the same line); the command-line quickstart runs in
an empty folder with the ``$DEEPRSA`` the set-up block exports (slow: it runs the demo);
the Python quickstart runs in an empty folder. The test commands are what `.ci/run` runs.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def _blocks(language):
    """(section heading, code) of every fenced block in ``language``, in order."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(rf"```{language}\n(.*?)```", text, re.S):
        headings = re.findall(r"^## (.+)$", text[:match.start()], re.M)
        blocks.append((headings[-1] if headings else "", match.group(1)))
    return blocks


def _block(language, section, first_line):
    found = [code for heading, code in _blocks(language)
             if heading == section and code.lstrip().startswith(first_line)]
    assert len(found) == 1, f"the README's {section!r} has no {language} block starting " \
                            f"with {first_line!r}"
    return found[0]


SET_UP = ("bash", "Set up", "cd deeprsa")
TESTS = ("bash", "Set up", 'cd "$DEEPRSA"')
CLI = ("bash", "Quickstart: command line", "deeprsa demo")
PYTHON = ("python", "Quickstart: Python", "import deeprsa")
XARRAY = ("python", "Extraction and the store", "import xarray")


def test_every_readme_block_is_run_by_a_test():
    known = {(lang, section, first)
             for lang, section, first in (SET_UP, TESTS, CLI, PYTHON, XARRAY)}
    for language in ("bash", "python", "sh", "console", "shell"):
        for section, code in _blocks(language):
            first = next((k for k in known if k[0] == language and k[1] == section
                          and code.lstrip().startswith(k[2])), None)
            assert first is not None, f"a {language} block in {section!r} that no test runs"


def _shims(folder):
    """`deeprsa` and `python` that run this checkout, and a `pip` that records its call."""
    folder.mkdir()
    for name, line in (("deeprsa", f'exec "{sys.executable}" -m deeprsa.cli "$@"'),
                       ("python", f'exec "{sys.executable}" "$@"'),
                       ("pip", 'echo "$PWD pip $*" >> "$README_TEST_LOG"')):
        path = folder / name
        path.write_text(f"#!/bin/sh\n{line}\n")
        path.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{folder}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["MPLBACKEND"] = "Agg"
    return env


def _bash(code, cwd, env, timeout):
    return subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _set_up(tmp_path):
    """Run the set-up block where the clone is; return the environment it leaves."""
    env = _shims(tmp_path / "bin")
    home = tmp_path / "home"
    home.mkdir()
    (home / "deeprsa").symlink_to(ROOT, target_is_directory=True)  # the clone
    env["README_TEST_LOG"] = str(tmp_path / "pip.log")
    out = tmp_path / "deeprsa_env"
    done = _bash(_block(*SET_UP) + f'\nprintf %s "$DEEPRSA" > "{out}"\n', home, env, 120)
    assert done.returncode == 0, done.stderr
    env["DEEPRSA"] = out.read_text()
    return env


def test_set_up_block_installs_in_the_clone_and_exports_its_path(tmp_path):
    env = _set_up(tmp_path)
    clone = tmp_path / "home" / "deeprsa"
    assert Path(env["DEEPRSA"]) == clone
    assert (tmp_path / "pip.log").read_text().splitlines() == [f"{clone} pip install -e .[dev]"]
    assert (Path(env["DEEPRSA"]) / "examples" / "digits_zoo.toml").is_file()


@pytest.mark.slow
def test_command_line_quickstart_runs_as_written_in_any_folder(tmp_path):
    env = _set_up(tmp_path)
    work = tmp_path / "anywhere"
    work.mkdir()
    examples = sorted(p.name for p in (ROOT / "examples").iterdir())
    done = _bash(_block(*CLI), work, env, 1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Every run writes where it was started, and nothing goes into examples/.
    for report in ("deeprsa-demo/report.html", "digits_zoo_results/report.html"):
        assert (work / report).is_file()
    assert (work / "runs" / "cli_store" / "tables" / "srm-alignment.csv").is_file()
    assert (work / "images" / "digits").is_dir()
    assert sorted(p.name for p in (ROOT / "examples").iterdir()) == examples


def test_python_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_block(*PYTHON), str(README), "exec"), namespace)
    result, shared = namespace["result"], namespace["shared"]
    assert set(result.table["model_a"]) == {"zoo:convnet_s0", "zoo:convnet_s1", "zoo:mlp_s0"}
    assert shared[0].shape == (200, 10)
    assert (tmp_path / "runs" / "python_store" / "manifest.json").exists()


def test_xarray_block_reads_the_python_quickstarts_store(tmp_path, monkeypatch):
    pytest.importorskip("xarray")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_block(*PYTHON), str(README), "exec"), namespace)
    lines = _block(*XARRAY).rstrip().splitlines()
    code = "\n".join([*lines[:-2], f"opened = {lines[-2]}", f"loaded = {lines[-1]}"])
    exec(compile(code, str(README), "exec"), namespace)
    opened, loaded = namespace["opened"], namespace["loaded"]
    assert opened.dims == loaded.dims == ("stimulus", "unit")
    assert list(opened["stimulus"].values) == list(loaded["stimulus"].values) \
        == list(namespace["stimuli"].stimulus_ids)
    np.testing.assert_array_equal(opened.values, loaded.values)


def test_quickstarts_use_separate_stores():
    python = set(re.findall(r'"(runs/[\w/]+)"', _block(*PYTHON)))
    cli = set(re.findall(r"--store (\S+)", _block(*CLI)))
    assert python == {"runs/python_store"} and cli == {"runs/cli_store"}


def test_readme_names_the_setup_and_test_commands():
    text = README.read_text()
    assert 'pip install -e ".[dev]"' in _block(*SET_UP) and "deeprsa demo" in _block(*CLI)
    assert "python -m pytest" in _block(*TESTS) and "minutes" in _block(*TESTS)
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]"' in ci and "python -m pytest" in ci
    assert "relative to the CSV file's folder" in text


def _cells(row):
    return [c for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def test_readme_tables_have_one_delimiter_cell_per_header_cell():
    lines = README.read_text().splitlines()
    tables = 0
    for k, line in enumerate(lines[:-1]):
        if not re.fullmatch(r"\|?\s*:?-{3,}.*", lines[k + 1]) or not line.startswith("|"):
            continue
        tables += 1
        header = len(_cells(line))
        assert len(_cells(lines[k + 1])) == header, f"README line {k + 2}: {lines[k + 1]}"
        for j in range(k + 2, len(lines)):
            if not lines[j].startswith("|"):
                break
            assert len(_cells(lines[j])) == header, f"README line {j + 1}: {lines[j]}"
    assert tables >= 7  # every table of the README was checked


def test_the_scaling_config_block_is_a_valid_config(tmp_path):
    from deeprsa import load_config

    (block,) = [code for heading, code in _blocks("toml") if heading.startswith("One machine")]
    path = tmp_path / "run.toml"
    path.write_text('[stimuli]\nsource = "digits:test"\n\n[[models]]\nspec = "zoo:mlp_s0"\n\n'
                    + block)
    config = load_config(path)
    assert (config.extract.keep, config.extract.sketch, config.compare.methods) == \
        ("rdms", "auto", ())
    assert config.extract.max_disk == 16 * 10**9
