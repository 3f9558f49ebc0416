"""The run directory and its one-file HTML report (parsed here, and loaded in Chromium)."""

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import matplotlib
import numpy as np
import pandas as pd
import pytest

from deeprsa import plots
from deeprsa.report import RunRecord, write_report

matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects images, links, figure captions, headings and table cells of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.headings, self.captions, self.cells = [], [], [], [], []
        self.scripts_with_src = []
        self._stack = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._stack.append(tag)
        if tag == "img":
            self.images.append(attrs)
        elif tag == "a":
            self.links.append(attrs.get("href", ""))
        elif tag in ("script", "link") and (attrs.get("src") or attrs.get("href")):
            self.scripts_with_src.append(attrs)

    def handle_endtag(self, tag):
        while self._stack and self._stack.pop() != tag:
            pass

    def handle_data(self, data):
        if not self._stack or not data.strip():
            return
        if self._stack[-1] in ("h2", "h3"):
            self.headings.append(data.strip())
        elif "figcaption" in self._stack:
            self.captions.append(data.strip())
        elif self._stack[-1] == "td":
            self.cells.append(data.strip())


def _decode_image(src):
    match = re.fullmatch(r"data:image/(png|svg\+xml);base64,([A-Za-z0-9+/=]+)", src)
    assert match, f"not an embedded base64 image: {src[:60]}"
    payload = base64.b64decode(match.group(2), validate=True)
    if match.group(1) == "png":
        assert payload.startswith(PNG_SIGNATURE)
    else:
        assert b"<svg" in payload
    return payload


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small run: two figures, one table, a note and provenance."""
    record = RunRecord(tmp_path_factory.mktemp("run"), title="A <small> run")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 4))
    D = np.linalg.norm(X[:, None] - X[None], axis=-1)
    with record.step("figures"):
        record.add_figure(plots.plot_rdm(D, labels=[0, 0, 1, 1, 2, 2]), "rdm",
                          title="An RDM", caption="Sorted by class; dark is similar.",
                          section="RDMs")
        record.add_figure(plots.plot_mds(D), "mds", title="An MDS map",
                          caption="Distances approximate dissimilarities.", section="Maps")
    record.add_table(pd.DataFrame({"layer": ["conv1", "fc"], "value": [0.5, 0.25]}),
                     "values", title="Some values", section="RDMs", caption="Two rows.")
    record.add_note("Nothing was skipped & all is well.", section="Maps")
    record.highlights.append("fc separates the classes.")
    record.provenance["models"] = [{"name": "net", "weights_hash": "abc123", "seed": None}]
    record.provenance["stimuli"] = {"source": "digits:test", "n_stimuli": 6}
    record.provenance["config"] = {"title": "A <small> run"}
    record.provenance["store_keys"] = [{"kind": "rdms", "model": "net", "key": "k1"}]
    return record.save()


@pytest.fixture(scope="module")
def report(run_dir):
    path = write_report(run_dir)
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return path, page


def test_run_directory_holds_figures_tables_and_run_json(run_dir):
    run = json.loads((run_dir / "run.json").read_text())
    assert [f["name"] for f in run["figures"]] == ["rdm", "mds"]
    for figure in run["figures"]:
        assert [f.rsplit(".", 1)[1] for f in figure["files"]] == ["png", "svg"]
        assert all((run_dir / f).is_file() for f in figure["files"])
    assert run["tables"][0]["n_rows"] == 2
    assert set(run["timings"]) == {"figures", "total"}
    assert run["versions"]["deeprsa"] == __import__("deeprsa").__version__
    assert {"torch", "numpy", "matplotlib", "scikit-learn"} <= set(run["versions"])


def test_report_embeds_every_figure_as_a_valid_image(report, run_dir):
    path, page = report
    assert len(page.images) == 2
    for image, name in zip(page.images, ["rdm", "mds"], strict=True):
        payload = _decode_image(image["src"])
        assert payload == (run_dir / "figures" / f"{name}.png").read_bytes()
        assert image["alt"] in ("An RDM", "An MDS map")


def test_report_is_self_contained(report):
    path, page = report
    html = path.read_text(encoding="utf-8")
    assert not page.scripts_with_src
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert all(link.startswith(("#", "data:")) for link in page.links)


def test_report_has_sections_captions_tables_and_provenance(report):
    path, page = report
    for heading in ("RDMs", "Maps", "Provenance", "Versions", "Stimuli", "Models and weights",
                    "Run plan", "Timings", "Store arrays", "Table 1. Some values"):
        assert heading in page.headings
    captions = " ".join(page.captions)
    assert "Figure 1. An RDM." in captions and "Sorted by class; dark is similar." in captions
    assert "Figure 2. An MDS map." in captions
    assert ["conv1", "0.5", "fc", "0.25"] == page.cells[:4]
    assert "abc123" in page.cells  # the weights hash
    html = path.read_text(encoding="utf-8")
    assert "A &lt;small&gt; run" in html  # escaped, never raw markup
    assert "Nothing was skipped &amp; all is well." in html
    assert "fc separates the classes." in html
    # The table can be downloaded from the page itself.
    (csv_link,) = [link for link in page.links if link.startswith("data:text/csv")]
    assert base64.b64decode(csv_link.split(",", 1)[1]).decode().startswith("layer,value")


def test_write_report_needs_a_run_directory(tmp_path):
    msg = (f"No run.json in {str(tmp_path)!r}: give the directory written by `deeprsa run "
           "CONFIG` or `deeprsa demo` (its --out).")
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        write_report(tmp_path)


def test_write_report_names_a_missing_figure(tmp_path, run_dir):
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    (copy / "figures" / "mds.png").unlink()
    msg = f"Figure 'mds' has no PNG file in {str(copy)!r}; re-run to write it."
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        write_report(copy)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _headless(browser, profile, *args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    path, page = report
    browser = _chromium()
    url = path.resolve().as_uri()
    dom = _headless(browser, tmp_path / "profile", "--virtual-time-budget=10000",
                    "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The page's own check ran after load: every image decoded, none broken.
    assert f'data-images-loaded="{len(page.images)}"' in dom.stdout
    assert 'data-images-broken="0"' in dom.stdout
    assert 'id="broken-banner"' not in dom.stdout

    # The check can fail: corrupt one embedded image and it is reported.
    broken = tmp_path / "broken.html"
    html = path.read_text(encoding="utf-8")
    start = html.index("data:image/png;base64,") + len("data:image/png;base64,")
    broken.write_text(html[:start] + "AAAA" + html[start + 4:], encoding="utf-8")
    dom = _headless(browser, tmp_path / "profile", "--virtual-time-budget=10000",
                    "--dump-dom", broken.resolve().as_uri())
    assert 'data-images-broken="1"' in dom.stdout
    assert 'id="broken-banner"' in dom.stdout

    shot = tmp_path / "shot.png"
    result = _headless(browser, tmp_path / "profile", "--window-size=1100,1600",
                       f"--screenshot={shot}", url)
    assert result.returncode == 0, result.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1100)
    assert pixels.std() > 10  # text and figures, not a blank page
