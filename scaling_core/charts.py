"""Altair charts that render in the built book with the network switched off.

The book loads one JavaScript bundle (Vega, Vega-Lite and vega-embed, taken from the
``vl-convert-python`` wheel by :func:`write_vega_bundle`) on every page. Charts are
emitted by :func:`book_renderer` as an HTML ``<div>`` plus a ``vegaEmbed`` call, so no
script is fetched from a CDN and no Vega-Lite MIME output reaches nbformat (which
rejects altair 6's ``application/vnd.vegalite.v6+json`` when papermill saves).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import altair as alt
import pandas as pd

RENDERER = "scaling_core"
VEGA_BUNDLE = "vega-bundle.js"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]

_seen_ids: dict[str, int] = {}


def chart_id(spec: dict) -> str:
    """A reproducible element id: a hash of the spec, numbered if the same chart repeats."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    _seen_ids[digest] = _seen_ids.get(digest, 0) + 1
    count = _seen_ids[digest]
    return f"vega-{digest}" if count == 1 else f"vega-{digest}-{count}"


def book_renderer(spec: dict, **metadata) -> dict:
    """Altair renderer: an HTML div and a ``vegaEmbed`` call (plus a plain-text fallback)."""
    element = chart_id(spec)
    html = (
        f'<div id="{element}" class="vega-chart"></div>\n'
        "<script>(function(){\n"
        f"  var spec = {json.dumps(spec, sort_keys=True)};\n"
        f'  var el = document.getElementById("{element}");\n'
        "  function draw() {\n"
        '    if (typeof vegaEmbed === "undefined") {\n'
        '      el.textContent = "This chart needs the vega bundle the book loads on every page.";\n'
        "      return; }\n"
        '    vegaEmbed(el, spec, {"actions": false, "renderer": "svg"})\n'
        '      .catch(function(err){ el.textContent = "Chart error: " + err; }); }\n'
        "  // the bundle is an ES module: it runs after parsing, before DOMContentLoaded\n"
        '  if (typeof vegaEmbed !== "undefined") draw();\n'
        '  else window.addEventListener("DOMContentLoaded", draw);\n'
        "})();</script>"
    )
    title = spec.get("title", "")
    text = f"<altair chart {title!r}>" if title else "<altair chart>"
    return {"text/html": html, "text/plain": text}


def theme() -> dict:
    """The book's chart theme: readable fonts, a fixed palette, no chart border."""
    return {
        "config": {
            "view": {"stroke": None, "continuousWidth": 420, "continuousHeight": 300},
            "range": {"category": PALETTE},
            "axis": {"labelFontSize": 12, "titleFontSize": 13, "gridOpacity": 0.4},
            "legend": {"labelFontSize": 12, "titleFontSize": 12},
            "title": {"fontSize": 14, "anchor": "start"},
        }
    }


def setup(max_rows: int = 20_000) -> None:
    """Use the book's offline renderer and theme for every chart in this kernel.

    Parameters
    ----------
    max_rows : int
        Largest data frame altair may inline into a chart spec.
    """
    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, book_renderer)
    alt.renderers.enable(RENDERER)
    alt.theme.register("scaling_core", enable=True)(theme)
    alt.data_transformers.enable("default", max_rows=max_rows)


def write_vega_bundle(folder: str | Path) -> Path:
    """Write the Vega/Vega-Lite/vega-embed bundle shipped in ``vl-convert-python`` into ``folder``."""
    import vl_convert

    target = Path(folder) / VEGA_BUNDLE
    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # e.g. "6.4"
    # wrapped in a function so its top-level names cannot clash with the page's (Sphinx's `_`)
    bundle = "(function(){\n" + vl_convert.javascript_bundle(vl_version=version) + "\n})();\n"
    if not target.exists() or target.read_text() != bundle:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(bundle)
    return target


def log_axis(title: str) -> dict:
    """Keyword arguments for a log-scaled positional encoding with ``title``."""
    return {"title": title, "scale": alt.Scale(type="log"), "axis": alt.Axis(format="~s")}


def learning_curve(
    points: pd.DataFrame,
    x: str,
    y: str,
    color: str | None = None,
    fits: pd.DataFrame | None = None,
    x_title: str = "training-set size",
    y_title: str = "validation error",
    title: str = "",
    tooltip: list[str] | None = None,
) -> alt.Chart:
    """Measured points on log-log axes, with fitted curves drawn as lines.

    Parameters
    ----------
    points : DataFrame
        One row per measurement, with columns ``x``, ``y`` (and ``color``).
    fits : DataFrame, optional
        Dense fitted curves with the same ``x``, ``y`` (and ``color``) columns.
    tooltip : list of str, optional
        Columns shown on hover (default: ``x``, ``y`` and ``color``).
    """
    enc_color = alt.Color(f"{color}:N", title=color) if color else alt.value(PALETTE[0])
    tip = tooltip or [c for c in (x, y, color) if c]
    base = alt.Chart(points).mark_point(filled=True, size=60).encode(
        x=alt.X(f"{x}:Q", **log_axis(x_title)),
        y=alt.Y(f"{y}:Q", **log_axis(y_title)),
        color=enc_color,
        tooltip=tip,
    )
    layers = [base]
    if fits is not None and len(fits):
        layers.append(
            alt.Chart(fits).mark_line(strokeDash=[6, 3]).encode(
                x=f"{x}:Q", y=f"{y}:Q", color=enc_color
            )
        )
    return alt.layer(*layers).properties(title=title)
