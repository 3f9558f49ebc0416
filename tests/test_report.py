"""The run directory and its one-file HTML report (parsed here, and loaded in Chromium)."""

import base64
import gzip
import json
import os
import re
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser

import matplotlib
import numpy as np
import pandas as pd
import pytest

from deeprsa import compare_rdms, plots
from deeprsa.plots.second_order import model_rdm_view
from deeprsa.rdm import RDM
from deeprsa.report import RunRecord, write_report
from deeprsa.report.record import compress_png

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


def _layer_rdms(rng):
    """RDMs of 2 models x 3 layers over 6 stimuli."""
    rdms = []
    for model in ("alexnet", "vgg"):
        for layer in ("conv1", "conv2", "fc"):
            X = rng.normal(size=(6, 5))
            D = np.linalg.norm(X[:, None] - X[None], axis=-1)
            rdms.append(RDM(D, [f"s{i}" for i in range(6)],
                            {"model": model, "layer": layer, "measure": "euclidean"}))
    return rdms


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
        comparison = compare_rdms(_layer_rdms(rng), method="spearman")
        record.add_figure(plots.plot_model_rdm(comparison), "layers",
                          title="A multi-model RDM", caption="Layers compared.",
                          section="Maps", interactive=model_rdm_view(comparison))
    record.add_table(pd.DataFrame({"layer": ["conv1", "fc"], "value": [0.5, 0.25]}),
                     "values", title="Some values", section="RDMs", caption="Two rows.")
    record.add_table(pd.DataFrame({"pair": np.arange(5000), "value": rng.normal(size=5000)}),
                     "many", title="Many values", section="Maps", caption="Five thousand.")
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
    assert [f["name"] for f in run["figures"]] == ["rdm", "mds", "layers"]
    for figure in run["figures"]:
        assert [f.rsplit(".", 1)[1] for f in figure["files"]] == ["png", "svg"]
        assert all((run_dir / f).is_file() for f in figure["files"])
    assert run["figures"][2]["interactive"] == "figures/layers.json"
    view = json.loads((run_dir / "figures" / "layers.json").read_text())
    assert view["models"] == ["alexnet"] * 3 + ["vgg"] * 3
    assert view["layers"] == ["conv1", "conv2", "fc"] * 2
    assert view["symmetric"] and len(view["values"]) == 21  # the upper triangle of 6 x 6
    assert view["values"][0] == 0.0
    assert run["tables"][0]["n_rows"] == 2
    assert set(run["timings"]) == {"figures", "total"}
    assert run["versions"]["deeprsa"] == __import__("deeprsa").__version__
    assert {"torch", "numpy", "matplotlib", "scikit-learn"} <= set(run["versions"])


def test_report_embeds_every_figure_as_a_valid_image(report, run_dir):
    path, page = report
    assert len(page.images) == 3
    for image, name in zip(page.images, ["rdm", "mds", "layers"], strict=True):
        payload = _decode_image(image["src"])
        assert payload == (run_dir / "figures" / f"{name}.png").read_bytes()
        assert image["alt"] in ("An RDM", "An MDS map", "A multi-model RDM")


def test_report_holds_the_interactive_view_and_its_script(report, run_dir):
    path, _ = report
    html = path.read_text(encoding="utf-8")
    (payload,) = re.findall(r'<script type="application/json" class="matrix-data">(.*?)'
                            r"</script>", html, re.S)
    assert json.loads(payload) == json.loads((run_dir / "figures" / "layers.json").read_text())
    assert "MatrixView.prototype.draw" in html  # the view's script is inlined
    assert '<details class="static">' in html  # the figure as saved, beneath the view


def test_large_tables_are_embedded_gzipped(report, run_dir):
    path, page = report
    html = path.read_text(encoding="utf-8")
    (encoded,) = re.findall(r'download="many.csv" href="#table-many" data-gzip="([^"]+)"', html)
    assert gzip.decompress(base64.b64decode(encoded)) == (run_dir / "tables" / "many.csv"
                                                          ).read_bytes()


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_compress_png_keeps_the_picture(tmp_path, mode):
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = rng.integers(0, 255, (200, 3), dtype=np.uint8)  # a figure: few colours
    pixels = np.repeat(np.repeat(colours[rng.integers(0, 200, (40, 60))], 5, 0), 5, 1)
    image = Image.fromarray(pixels).convert(mode)
    path = tmp_path / "figure.png"
    image.save(path)
    compress_png(path)
    with Image.open(path) as again:
        assert again.mode == "P"  # 256 colours were enough: a palette, no alpha
        difference = np.asarray(again.convert("RGB"), float) - pixels
    assert np.sqrt(np.mean(difference**2)) <= 3.0
    assert path.stat().st_size < 0.5 * pixels.nbytes


def test_compress_png_keeps_full_colour_where_a_palette_would_show(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)  # a photograph's noise
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    compress_png(tmp_path / "photo.png")
    with Image.open(tmp_path / "photo.png") as again:
        assert again.mode == "RGB"
        assert np.array_equal(np.asarray(again), pixels)


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


# ------------------------------------------------------------------ in a headless browser


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run",
          "--disable-quic", "--hide-scrollbars", "--window-size=1200,1000"]


class _Browser:
    """Headless Chromium driven by the Chrome DevTools protocol, over the pipe transport
    (``--remote-debugging-pipe``: JSON messages ended by NUL on file descriptors 3 and 4,
    as Playwright and Puppeteer drive it), with nothing but the standard library."""

    def __init__(self, binary, profile):
        to_browser, self._send_fd = os.pipe()
        self._read_fd, from_browser = os.pipe()
        # bash puts the two pipe ends on fds 3 and 4 of the browser
        line = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
        self.process = subprocess.Popen(
            ["bash", "-c", line, binary, *_FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=self.session)

    def _message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._read_fd], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("Chromium did not answer in time.")
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe.")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def wait_for(self, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            message = self._message(deadline)
            if "id" not in message:
                self.events.append(message)
            if predicate(message):
                return message

    def call(self, method, session=None, **params):
        self._next_id += 1
        number = self._next_id
        message = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        answer = self.wait_for(lambda m: m.get("id") == number)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def open(self, url):
        self.events.clear()
        self.call("Page.navigate", session=self.session, url=url)
        self.wait_for(lambda m: m.get("method") == "Page.loadEventFired")
        for _ in range(100):  # the page's own load handlers have run once this is set
            if self.js("document.body.hasAttribute('data-images-loaded')"):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{url} never finished its load handlers.")

    def js(self, expression, *, wait=False):
        result = self.call("Runtime.evaluate", session=self.session, expression=expression,
                           returnByValue=True, awaitPromise=wait)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def mouse(self, kind, x, y, **extra):
        self.call("Input.dispatchMouseEvent", session=self.session, type=kind, x=x, y=y,
                  **extra)

    def errors(self):
        """Console errors, uncaught exceptions and failed loads seen since the last open."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"{details.get('text')} "
                             f"{details.get('exception', {}).get('description', '')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value")) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text"))
        return found

    def close(self):
        try:
            self.call("Browser.close")
        except (ConnectionError, TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._send_fd)
        os.close(self._read_fd)


@pytest.fixture
def browser(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("needs Chromium (apt-get install chromium; .ci/run installs it)")
    driver = _Browser(binary, tmp_path / "profile")
    yield driver
    driver.close()


def _cell_position(browser, row, col):
    """Viewport coordinates of the centre of a cell of the (whole) interactive matrix."""
    return browser.js(f"""(function () {{
        var canvas = document.querySelector('.matrix-canvas');
        canvas.scrollIntoView({{block: 'center'}});
        var box = canvas.getBoundingClientRect();
        var area = canvas.getAttribute('data-area').split(',').map(Number);
        var pitch = area[2] / canvas.parentNode.matrixView.n;
        return [box.left + area[0] + ({col} + 0.5) * pitch,
                box.top + area[1] + ({row} + 0.5) * pitch];
    }})()""")


def test_report_works_in_headless_chromium(report, browser, tmp_path):
    path, page = report
    browser.open(path.resolve().as_uri())
    # The page's own check ran after load: every image decoded (also the one folded
    # beneath the interactive view), none broken, and every matrix view was built.
    assert browser.js("document.body.dataset.imagesLoaded") == str(len(page.images))
    assert browser.js("document.body.dataset.imagesBroken") == "0"
    assert browser.js("document.getElementById('broken-banner')") is None
    assert browser.js("document.body.dataset.matrixViews") == "1"

    # Hovering a cell names its row and column (model and layer) and gives its value.
    view = json.loads((path.parent / "figures" / "layers.json").read_text())
    x, y = _cell_position(browser, 4, 1)
    browser.mouse("mouseMoved", x, y)
    assert browser.js("document.querySelector('.matrix-view').dataset.hover") == "4,1"
    tip = browser.js("document.querySelector('.matrix-tip').textContent")
    upper = np.zeros((6, 6))
    upper[np.triu_indices(6)] = view["values"]
    assert tip == ("row: vgg \u00b7 conv2\ncolumn: alexnet \u00b7 conv2\n"
                   f"{view['label']}: {upper[1, 4]:.4f}")
    assert browser.js("document.querySelector('.matrix-tip').hidden") is False

    # The wheel zooms in around the cursor; a double click shows the whole matrix again.
    x, y = _cell_position(browser, 3, 3)
    assert browser.js("document.querySelector('.matrix-view').dataset.zoom") == "1.00"
    browser.mouse("mouseWheel", x, y, deltaX=0, deltaY=-120)
    assert float(browser.js("document.querySelector('.matrix-view').dataset.zoom")) > 1
    for count in (1, 2):  # a double click, as a mouse sends it
        browser.mouse("mousePressed", x, y, button="left", clickCount=count)
        browser.mouse("mouseReleased", x, y, button="left", clickCount=count)
    assert browser.js("document.querySelector('.matrix-view').dataset.zoom") == "1.00"

    # A large table's download unpacks in the page to the CSV file.
    text = browser.js("window.deeprsaGunzip(document.querySelector('a[data-gzip]')"
                      ".getAttribute('data-gzip'))", wait=True)
    assert text == (path.parent / "tables" / "many.csv").read_text()

    shot = base64.b64decode(browser.call("Page.captureScreenshot",
                                         session=browser.session)["data"])
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(shot)).convert("L"), dtype=float)
    assert pixels.std() > 10  # the matrix, text and figures: not a blank page
    assert browser.errors() == []


def test_headless_check_sees_a_broken_image_and_a_console_error(report, browser, tmp_path):
    # The checks can fail: corrupt one embedded image, throw an error, and both are seen.
    path, _ = report
    html = path.read_text(encoding="utf-8")
    start = html.index("data:image/png;base64,") + len("data:image/png;base64,")
    html = html[:start] + "AAAA" + html[start + 4:]
    html = html.replace("</main>", "<script>throw new Error('a broken page');</script></main>")
    broken = path.parent / "broken.html"
    broken.write_text(html, encoding="utf-8")
    browser.open(broken.resolve().as_uri())
    assert browser.js("document.body.dataset.imagesBroken") == "1"
    assert browser.js("document.getElementById('broken-banner') !== null") is True
    assert any("a broken page" in (e or "") for e in browser.errors())


# ------------------------------------------------------------------ what `deeprsa run` says

_TINY = ('title = "tiny"\n[stimuli]\nsource = "digits:test"\nn_per_class = 2\n\n'
         '[[models]]\nspec = "zoo:mlp_s0"\nlayers = ["fc1", "logits"]\n\n'
         '[analyses]\nmds = false\nsrm = false\nperformance = false\ndimensionality = false\n\n'
         '[outputs]\nfigures = ["rdms"]\nformats = ["png"]\n')


@pytest.mark.parametrize("report", [True, False], ids=["report", "no-report"])
def test_run_names_the_report_only_when_it_writes_one(tmp_path, monkeypatch, report):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    configs = tmp_path / "configs"
    configs.mkdir()
    config = configs / "tiny.toml"
    config.write_text(_TINY + f"report = {str(report).lower()}\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(cli, ["run", str(config), "--no-progress"])
    assert result.exit_code == 0, result.output
    out = work / "tiny_results"  # the working directory, not the config's folder
    last = result.output.strip().splitlines()[-1]
    if report:
        assert last == f"Report: {out / 'report.html'}"
    else:
        assert last == f"Results: {out}"
        assert not (out / "report.html").exists()
        assert "Report:" not in result.output
    assert (out / "run.json").is_file()
    assert not (configs / "tiny_results").exists()


def test_run_keeps_a_configs_own_output_folder(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from deeprsa.cli import cli

    config = tmp_path / "tiny.toml"
    config.write_text(_TINY.replace("[outputs]\n", '[outputs]\ndir = "elsewhere"\n'))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(cli, ["run", str(config), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Report: {tmp_path / 'elsewhere' / 'report.html'}")  # relative to the config


def test_model_palette_shades_seeds_and_dashes_twins_only_when_weights_mix():
    from types import SimpleNamespace as Model

    import matplotlib as mpl

    from deeprsa.pipeline.sections._common import model_palette

    models = [Model(name=f"{a}_s{s}{t}", group=a, weights=w)
              for a in ("convnet", "mlp") for w, t in (("trained", ""), ("random", " (r)"))
              for s in range(2)]
    palette, styles = model_palette(models)
    assert palette["convnet_s0"] == palette["convnet_s0 (r)"]  # the same seed, one shade
    assert palette["convnet_s0"] != palette["convnet_s1"]
    assert palette["convnet_s0"] == mpl.colormaps["Blues"](0.95)
    assert palette["mlp_s0"] == mpl.colormaps["Oranges"](0.95)
    assert styles == {m.name: "--" if m.weights == "random" else "-" for m in models}
    _, styles = model_palette([m for m in models if m.weights == "random"])
    assert set(styles.values()) == {"-"}  # nothing to tell apart
