"""A small Sphinx extension that makes the book's charts work offline.

It copies the Vega/Vega-Lite/vega-embed bundle shipped in ``vl-convert-python`` into
the HTML output's ``_static`` folder and loads it on every page as an ES module.
"""

from __future__ import annotations

from pathlib import Path

from scaling_core.charts import VEGA_BUNDLE, write_vega_bundle


def _copy_bundle(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        write_vega_bundle(Path(app.outdir) / "_static")


def setup(app) -> dict:
    """Register the bundle on every HTML page (a classic ``<script>``: file:// pages cannot load modules)."""
    app.add_js_file(VEGA_BUNDLE)
    app.connect("build-finished", _copy_bundle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
