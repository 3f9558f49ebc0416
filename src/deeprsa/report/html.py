"""The one-file HTML report of a run directory: :func:`write_report`.

:func:`write_report` reads a run directory's ``run.json`` and writes
``report.html``: a header with the highlights, a table of contents, one
section per section name with its notes, figures (base64 PNG, numbered, with
their captions) and tables (the first rows, with an embedded CSV download),
and the provenance (command, versions, stimuli, weights, configuration,
timings, store arrays). A figure saved with the data of an interactive view
(the model and multi-model RDMs) is drawn on a canvas that names the model
and layer of every cell under the mouse and zooms (``matrix_view.js``), with
the static figure folded beneath it. The CSS and the scripts (the view, and
the check that flags figures that fail to load) are inlined, so the file
loads nothing from the network.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from .._version import __version__
from .record import RUN_FILE

_MATRIX_VIEW_JS = Path(__file__).with_name("matrix_view.js")

REPORT_FILE = "report.html"
_MAX_TABLE_ROWS = 500
_MAX_DOWNLOAD_BYTES = 8 << 20
_GZIP_DOWNLOAD_BYTES = 64 << 10  # larger tables are embedded gzipped, unpacked on click


_CSS = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f;
       margin: 0; background: #fafafa; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
header { border-bottom: 1px solid #ddd; margin-bottom: 16px; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 20px; margin-top: 40px;
  border-bottom: 1px solid #eee; padding-bottom: 4px; } h3 { font-size: 16px; margin-bottom: 4px; }
.meta { color: #666; font-size: 13px; }
nav ol { columns: 2; font-size: 14px; }
figure { margin: 20px 0 28px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto;
  border: 1px solid #eee; }
figcaption { font-size: 13.5px; color: #333; max-width: 880px; margin: 8px auto 0; }
.note { background: #fff7e0; border-left: 4px solid #e0b000; padding: 6px 12px;
  font-size: 14px; }
.highlights li { margin: 2px 0; }
.table-wrap { max-height: 420px; overflow: auto; border: 1px solid #e5e5e5; margin: 6px 0; }
table { border-collapse: collapse; font-size: 12.5px; width: 100%; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right;
  white-space: nowrap; }
th { position: sticky; top: 0; background: #f3f3f3; }
td.text, th.text { text-align: left; }
pre { background: #f6f6f6; padding: 10px; overflow: auto; font-size: 12px; max-height: 420px; }
.broken { outline: 3px solid #d00; }
#broken-banner { background: #d00; color: #fff; padding: 8px 12px; }
.matrix-view { position: relative; margin: 0 auto; max-width: 1000px; }
.matrix-toolbar { font-size: 13px; margin-bottom: 4px; }
.matrix-toolbar button { font-size: 12px; margin-right: 4px; }
.matrix-canvas { display: block; cursor: crosshair; }
.matrix-tip { position: absolute; pointer-events: none; background: rgba(255,255,255,.95);
  border: 1px solid #999; padding: 4px 8px; font-size: 12px; white-space: pre;
  box-shadow: 0 1px 4px rgba(0,0,0,.2); z-index: 2; }
details.static { margin: 6px auto 0; max-width: 1000px; font-size: 13px; }
"""

# Marks every image that failed to decode, so a reader (or a headless browser test) sees it.
_SCRIPT = """
window.addEventListener("load", function () {
  var images = document.images, broken = 0;
  for (var i = 0; i < images.length; i++) {
    if (!(images[i].complete && images[i].naturalWidth > 0)) {
      broken++; images[i].classList.add("broken");
    }
  }
  document.body.setAttribute("data-images-loaded", String(images.length - broken));
  document.body.setAttribute("data-images-broken", String(broken));
  if (broken) {
    var banner = document.createElement("div");
    banner.id = "broken-banner";
    banner.textContent = broken + " figure(s) failed to load.";
    document.body.insertBefore(banner, document.body.firstChild);
  }
});
// Large tables are embedded gzipped (data-gzip, base64): unpacked in the page on click.
window.deeprsaGunzip = function (encoded) {
  var raw = atob(encoded), bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text();
};
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-gzip]");
  if (!link) { return; }
  event.preventDefault();
  window.deeprsaGunzip(link.getAttribute("data-gzip")).then(function (text) {
    var url = URL.createObjectURL(new Blob([text], {type: "text/csv"}));
    var save = document.createElement("a");
    save.href = url;
    save.download = link.getAttribute("download");
    document.body.appendChild(save);
    save.click();
    save.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  });
});
"""


def write_report(run_dir, *, path=None) -> Path:
    """Write the self-contained HTML report of a run directory.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by ``deeprsa run`` or ``deeprsa demo`` (or by
        :class:`RunRecord`), holding ``run.json``.
    path : str or Path, optional
        Where to write; default ``run_dir/report.html``.

    Returns
    -------
    Path
        The HTML file. It embeds every figure (base64 PNG) and table, so it
        can be mailed or archived on its own; it loads nothing from the
        network.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` has no ``run.json``, or a figure or table it lists is
        missing.
    """
    run_dir = Path(run_dir)
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise FileNotFoundError(
            f"No {RUN_FILE} in {str(run_dir)!r}: give the directory written by `deeprsa run "
            "CONFIG` or `deeprsa demo` (its --out).")
    run = json.loads(run_file.read_text())
    sections = _sections(run)
    out = []
    out.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
    out.append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    out.append(f"<title>{_e(run.get('title', 'deeprsa run'))}</title>")
    scripts = _SCRIPT
    if any("interactive" in f for f in run.get("figures", [])):
        scripts += _MATRIX_VIEW_JS.read_text(encoding="utf-8")
    styles = [_CSS]  # and, per data table, which of its columns hold text
    head = len(out)
    out.append("")  # the <style> and <script>, once the tables are known
    out.append(_header(run))
    out.append(_toc(sections))
    figure_number = table_number = 0
    for section, items in sections.items():
        out.append(f"<section id=\"{_anchor(section)}\"><h2>{_e(section)}</h2>")
        for note in items["notes"]:
            out.append(f"<p class=\"note\">{_e(note['text'])}</p>")
        for figure in items["figures"]:
            figure_number += 1
            out.append(_figure_html(run_dir, figure, figure_number))
        for table in items["tables"]:
            table_number += 1
            text, css = _table_html(run_dir, table, table_number)
            out.append(text)
            styles.append(css)
        out.append("</section>")
    out.append(_provenance_html(run))
    out.append(f"<p class=\"meta\">Written by deeprsa {_e(__version__)} on "
               f"{_e(datetime.now(timezone.utc).isoformat(timespec='seconds'))}.</p>")
    out.append("</main></body></html>\n")
    out[head] = (f"<style>{''.join(styles)}</style><script>{scripts}</script></head>"
                 "<body><main>")
    target = Path(path) if path is not None else run_dir / REPORT_FILE
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # a killed run leaves no half
    try:
        tmp.write_text("\n".join(out), encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _anchor(text) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(text).lower()).strip("-")


def _sections(run) -> dict:
    sections: dict[str, dict] = {}

    def get(name):
        return sections.setdefault(name, {"figures": [], "tables": [], "notes": []})

    for kind, items in (("figures", run.get("figures", [])), ("tables", run.get("tables", [])),
                        ("notes", run.get("notes", []))):
        for item in items:
            get(item["section"])[kind].append(item)
    return sections


def _header(run) -> str:
    timings = run.get("timings", {})
    total = timings.get("total")
    meta = [f"run {_e(run.get('created', ''))}", f"deeprsa {_e(__version__)}"]
    if total is not None:
        meta.append(f"{total:.0f} s in total")
    parts = [f"<header><h1>{_e(run.get('title', 'deeprsa run'))}</h1>",
             f"<p class=\"meta\">{' · '.join(meta)}</p></header>"]
    if run.get("summary"):
        parts.append(f"<p>{_e(run['summary'])}</p>")
    if run.get("highlights"):
        items = "".join(f"<li>{_e(h)}</li>" for h in run["highlights"])
        parts.append(f"<h3>Highlights</h3><ul class=\"highlights\">{items}</ul>")
    return "\n".join(parts)


def _toc(sections) -> str:
    items = "".join(f"<li><a href=\"#{_anchor(s)}\">{_e(s)}</a></li>" for s in sections)
    items += "<li><a href=\"#provenance\">Provenance</a></li>"
    return f"<nav><h3>Contents</h3><ol>{items}</ol></nav>"


def _figure_html(run_dir, figure, number) -> str:
    png = next((f for f in figure["files"] if f.endswith(".png")), None)
    if png is None or not (run_dir / png).is_file():
        raise FileNotFoundError(f"Figure {figure['name']!r} has no PNG file in "
                                f"{str(run_dir)!r}; re-run to write it.")
    data = base64.b64encode((run_dir / png).read_bytes()).decode("ascii")
    others = [f for f in figure["files"] if f != png]
    files = ", ".join(_e(f) for f in [png, *others])
    image = f"<img alt=\"{_e(figure['title'])}\" src=\"data:image/png;base64,{data}\">"
    if figure.get("interactive"):
        view = run_dir / figure["interactive"]
        if not view.is_file():
            raise FileNotFoundError(f"Figure {figure['name']!r} has no interactive data "
                                    f"{str(view)!r}; re-run to write it.")
        # JSON in a script element: no "<" may close it early
        payload = view.read_text(encoding="utf-8").replace("<", "\\u003c")
        files += f", {_e(figure['interactive'])}"
        image = (f"<div class=\"matrix-view\"><script type=\"application/json\" "
                 f"class=\"matrix-data\">{payload}</script></div>"
                 f"<details class=\"static\"><summary>The figure as saved ({_e(png)})"
                 f"</summary>{image}</details>")
    return (f"<figure id=\"fig-{_anchor(figure['name'])}\">{image}"
            f"<figcaption><strong>Figure {number}. {_e(figure['title'])}.</strong> "
            f"{_e(figure['caption'])} <span class=\"meta\">Files: {files}.</span>"
            "</figcaption></figure>")


def _table_html(run_dir, table, number) -> tuple[str, str]:
    """The HTML of a data table and the CSS that left-aligns its text columns."""
    import pandas as pd

    path = run_dir / table["file"]
    if not path.is_file():
        raise FileNotFoundError(f"Table {table['name']!r} is missing: {str(path)!r}.")
    frame = pd.read_csv(path)
    shown = frame.head(_MAX_TABLE_ROWS)
    head = "".join(f"<th class=\"{_cell_class(frame[c])}\">{_e(c)}</th>" for c in frame.columns)
    rows = []
    for record in shown.itertuples(index=False):  # cells aligned by the table's own style
        cells = "".join(f"<td>{_e(_format(v))}</td>" for v in record)
        rows.append(f"<tr>{cells}</tr>")
    ident = f"data-{number}"
    text_columns = [k + 1 for k, c in enumerate(frame.columns) if _cell_class(frame[c]) == "text"]
    css = (",".join(f"#{ident} td:nth-child({k})" for k in text_columns)
           + "{text-align:left}") if text_columns else ""
    more = (f" Showing the first {_MAX_TABLE_ROWS} of {len(frame)} rows."
            if len(frame) > _MAX_TABLE_ROWS else "")
    raw = path.read_bytes()
    download = ""
    if len(raw) <= _GZIP_DOWNLOAD_BYTES:
        encoded = base64.b64encode(raw).decode("ascii")
        download = (f" <a download=\"{_e(path.name)}\" href=\"data:text/csv;base64,{encoded}\">"
                    "Download CSV</a>.")
    elif len(raw) <= _MAX_DOWNLOAD_BYTES:
        import gzip

        encoded = base64.b64encode(gzip.compress(raw, mtime=0)).decode("ascii")
        download = (f" <a download=\"{_e(path.name)}\" href=\"#table-{_anchor(table['name'])}\" "
                    f"data-gzip=\"{encoded}\">Download CSV</a> ({len(raw) / 1e6:.1f} MB).")
    caption = _e(table.get("caption", ""))
    return (f"<h3 id=\"table-{_anchor(table['name'])}\">Table {number}. {_e(table['title'])}"
            f"</h3><p class=\"meta\">{caption} {len(frame)} rows; file {_e(table['file'])}."
            f"{more}{download}</p><div class=\"table-wrap\"><table id=\"{ident}\"><thead><tr>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"), css


def _cell_class(column) -> str:
    return "num" if column.dtype.kind in "iufb" else "text"


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.4g}"
    return str(value)


def _kv_table(mapping: Mapping) -> str:
    rows = "".join(f"<tr><td class=\"text\">{_e(k)}</td><td class=\"text\">{_e(v)}</td></tr>"
                   for k, v in mapping.items())
    return f"<div class=\"table-wrap\"><table><tbody>{rows}</tbody></table></div>"


def _records_table(records, columns) -> str:
    head = "".join(f"<th class=\"text\">{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td class=\"text\">{_e(_format(r.get(c, '')))}</td>"
                                    for c in columns) + "</tr>" for r in records)
    return (f"<div class=\"table-wrap\"><table><thead><tr>{head}</tr></thead><tbody>{body}"
            "</tbody></table></div>")


def _provenance_html(run) -> str:
    parts = ["<section id=\"provenance\"><h2>Provenance</h2>",
             "<p>Everything needed to reproduce the numbers above: library versions, the "
             "run's configuration, the exact weights (hashes of every parameter and buffer), "
             "the stimuli, the store arrays behind each result, and where the time went.</p>"]
    if run.get("command"):
        parts.append(f"<h3>Command</h3><pre>{_e(run['command'])}</pre>")
    parts.append("<h3>Versions</h3>" + _kv_table({**run.get("versions", {}),
                                                   **{f"platform {k}": v for k, v in
                                                      run.get("platform", {}).items()}}))
    if run.get("stimuli"):
        parts.append("<h3>Stimuli</h3>" + _kv_table(run["stimuli"]))
    if run.get("models"):
        columns = list(dict.fromkeys(c for m in run["models"] for c in m))
        parts.append("<h3>Models and weights</h3>" + _records_table(run["models"], columns))
    if run.get("config_file"):
        parts.append(f"<h3>Configuration</h3><p class=\"meta\">{_e(run['config_file'])}</p>"
                     f"<pre>{_e(run.get('config_text', ''))}</pre>")
    if run.get("config"):
        parts.append("<h3>Run plan</h3><p class=\"meta\">The configuration as checked and "
                     "expanded (one entry per model).</p><pre>"
                     f"{_e(json.dumps(run['config'], indent=2))}</pre>")
    timings, cpu = run.get("timings", {}), run.get("cpu_timings", {})
    if timings:
        rows = [{"step": k, "wall clock": f"{v:.2f} s",
                 "CPU (this process)": f"{cpu[k]:.2f} s" if k in cpu else ""}
                for k, v in timings.items()]
        parts.append("<h3>Timings</h3><p class=\"meta\">Wall-clock and CPU seconds per step; "
                     "CPU time counts every core this process used, and wall time also "
                     "counts waiting for a busy machine.</p>"
                     + _records_table(rows, ["step", "wall clock", "CPU (this process)"]))
    if run.get("store_keys"):
        columns = list(dict.fromkeys(c for m in run["store_keys"] for c in m))
        parts.append(f"<h3>Store arrays</h3><p class=\"meta\">Store: {_e(run.get('store', ''))}"
                     f"; {len(run['store_keys'])} arrays.</p>"
                     + _records_table(run["store_keys"], columns))
    parts.append("</section>")
    return "\n".join(parts)
