"""A run directory and its one-file HTML report.

A run (``deeprsa run`` or ``deeprsa demo``) writes everything into one
directory::

    run_dir/
      run.json          provenance, timings, and the list of figures and tables
      figures/NAME.png  (and NAME.svg) every figure
      tables/NAME.csv   every tidy table
      store/            the Zarr store of activations, RDMs and comparisons
      report.html       written by write_report: self-contained, send it as it is

:class:`RunRecord` (in :mod:`.record`) collects figures, tables, timings and
provenance while a run goes; :func:`write_report` (in :mod:`.html`) turns a
run directory into one HTML file with every figure embedded (base64 PNG), a
caption saying what the figure shows and how to read it, the tables, and the
provenance: versions, config, weight hashes, store keys and timings.
"""

from .html import REPORT_FILE, write_report  # noqa: F401  (REPORT_FILE: the report's name)
from .record import RUN_FILE, RunRecord  # noqa: F401  (RUN_FILE: the run's record)

__all__ = ["RunRecord", "write_report"]
