"""The run directory as a run writes it: :class:`RunRecord` and ``run.json``.

:class:`RunRecord` saves each figure (PNG, plus SVG by default) under
``figures/`` and each tidy table as CSV under ``tables/``, times the steps of
the run, and writes ``run.json``: title, versions, platform, timings,
highlights, notes, the list of figures and tables with their captions, and
the run's provenance. :func:`deeprsa.report.write_report` reads that file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from .._version import __version__

# the name of the old module: `deeprsa run`/`demo` show this logger's steps (cli.run._show_steps)
log = logging.getLogger("deeprsa.report")

RUN_FILE = "run.json"

# A figure's PNG is stored with a palette of 256 colours when that changes its pixels by at
# most this root-mean-square difference (of 0-255): 3-4x smaller, the same to the eye.
_MAX_PALETTE_RMS = 3.0


def compress_png(path) -> None:
    """Rewrite a PNG smaller: without an alpha channel that is opaque everywhere, with a
    256-colour palette where the picture survives it (:data:`_MAX_PALETTE_RMS`), and
    with zlib's best compression."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        image.load()
    if image.mode == "RGBA" and image.getextrema()[3][0] == 255:
        image = image.convert("RGB")
    if image.mode == "RGB":
        palette = image.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE,
                                 dither=Image.Dither.NONE)
        difference = (np.asarray(palette.convert("RGB"), dtype=np.float64)
                      - np.asarray(image, dtype=np.float64))
        if np.sqrt(np.mean(difference**2)) <= _MAX_PALETTE_RMS:
            image = palette
    image.save(path, format="png", optimize=True)


def _versions() -> dict[str, str]:
    """Versions of Python and of the libraries behind the numbers and figures."""
    from importlib import metadata

    out = {"deeprsa": __version__, "python": platform.python_version()}
    for package in ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "pandas", "zarr",
                    "matplotlib"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[package] = "not installed"
    return out


class RunRecord:
    """Collects a run's figures, tables, timings and provenance in a run directory.

    Parameters
    ----------
    run_dir : str or Path
        Created when missing. Figures go to ``figures/``, tables to
        ``tables/``, and :meth:`save` writes ``run.json``.
    title : str, default="deeprsa run"
    formats : sequence of str, default=("png", "svg")
        Files written per figure; PNG is always written (the report embeds it).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from deeprsa.report import write_report
    >>> record = RunRecord(tempfile.mkdtemp(), title="toy")
    >>> with record.step("draw"):
    ...     fig = Figure(figsize=(2, 2))
    ...     _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> _ = record.add_figure(fig, "line", title="A line", caption="It falls.", section="Toy")
    >>> _ = record.add_table(pd.DataFrame({"x": [1, 2]}), "xs", title="Xs", section="Toy")
    >>> path = write_report(record.save())
    >>> path.name, "A line" in path.read_text()
    ('report.html', True)
    """

    def __init__(self, run_dir, *, title="deeprsa run", formats=("png", "svg")):
        self.run_dir = Path(run_dir)
        self.title = title
        self.formats = tuple(dict.fromkeys(("png", *formats)))
        self.figures: list[dict] = []
        self.tables: list[dict] = []
        self.notes: list[dict] = []
        self.highlights: list[str] = []
        self.timings: dict[str, float] = {}
        self.cpu_timings: dict[str, float] = {}
        self.provenance: dict = {}
        self.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._started = time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def step(self, name: str):
        """Time a step of the run (seconds add up when a name repeats); log its start and end."""
        log.info("%s ...", name)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.timings[name] = self.timings.get(name, 0.0) + elapsed
            self.cpu_timings[name] = self.cpu_timings.get(name, 0.0) + time.process_time() - cpu
            log.info("%s done in %.1f s", name, elapsed)

    def add_figure(self, fig, name: str, *, title: str, caption: str, section: str,
                   interactive: dict | None = None) -> Path:
        """Save ``fig`` as ``figures/NAME.png`` (+ other formats), close it, record its caption.

        ``caption`` says what the figure shows and how to read it; the report
        prints it under the figure after the bold ``title``. The PNG is
        compressed (:func:`compress_png`). ``interactive``, the data of an
        interactive view (:func:`deeprsa.plots.second_order.model_rdm_view`),
        is saved as ``figures/NAME.json`` and drawn by the report, which
        keeps the static figure beside it. Returns the PNG.
        """
        from ..plots import save_figure

        files = save_figure(fig, self.run_dir / "figures" / name, formats=self.formats)
        self._forget(fig)
        compress_png(files[0])
        entry = {"name": name, "title": title, "caption": caption, "section": section,
                 "files": [str(f.relative_to(self.run_dir)) for f in files]}
        if interactive is not None:
            view = self.run_dir / "figures" / f"{name}.json"
            view.write_text(json.dumps(interactive, separators=(",", ":"),
                                       default=_json_default))
            entry["interactive"] = str(view.relative_to(self.run_dir))
        self.figures = [f for f in self.figures if f["name"] != name] + [entry]
        return files[0]

    @staticmethod
    def _forget(fig):
        """Free a figure's memory whether or not pyplot knows about it."""
        import sys

        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close(fig)
        fig.clear()

    def add_table(self, table, name: str, *, title: str, section: str, caption: str = "") -> Path:
        """Write a tidy pandas table to ``tables/NAME.csv`` and record it for the report."""
        path = self.run_dir / "tables" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
        entry = {"name": name, "title": title, "caption": caption, "section": section,
                 "file": str(path.relative_to(self.run_dir)), "n_rows": int(len(table)),
                 "columns": [str(c) for c in table.columns]}
        self.tables = [t for t in self.tables if t["name"] != name] + [entry]
        return path

    def add_note(self, text: str, *, section: str) -> None:
        """A sentence shown at the top of ``section`` (e.g. why an analysis was skipped)."""
        log.info("%s: %s", section, text)
        self.notes.append({"section": section, "text": text})

    def save(self) -> Path:
        """Write ``run.json``; return the run directory."""
        total = time.perf_counter() - self._started
        data = {"title": self.title, "created": self.created, "versions": _versions(),
                "platform": {"system": platform.platform(), "machine": platform.machine(),
                             "processor": platform.processor() or None,
                             "cpu_count": _cpu_count()},
                "timings": {**self.timings, "total": total},
                "cpu_timings": {**self.cpu_timings, "total": time.process_time()},
                "highlights": self.highlights,
                "notes": self.notes, "figures": self.figures, "tables": self.tables,
                **self.provenance}
        text = json.dumps(data, indent=1, default=_json_default)
        target = self.run_dir / RUN_FILE
        tmp = target.with_name(f".{RUN_FILE}.{_pid()}.tmp")  # a killed run leaves no half file
        try:
            tmp.write_text(text)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return self.run_dir


def _pid():
    import os

    return os.getpid()


def _cpu_count():
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count()


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, set, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    return str(value)
