"""Altair charts that render in the built book with the network switched off.

The book loads one JavaScript bundle (Vega, Vega-Lite and vega-embed, taken from the
``vl-convert-python`` wheel by :func:`write_vega_bundle`) on every page. Charts are
emitted by :func:`book_renderer` as an HTML ``<div>`` plus a ``vegaEmbed`` call, so no
script is fetched from a CDN and no Vega-Lite MIME output reaches nbformat (which
rejects altair 6's ``application/vnd.vegalite.v6+json`` when papermill saves).

Every chart helper of the book returns through :func:`finish` (:mod:`scaling_core.chart_finish`,
re-exported here): no zero reaches a log scale,
log axes print plain numbers over the data's own range, and a chart with nothing to draw
is a sentence (:class:`NoChart`). Region labels have one colour everywhere
(:data:`REGION_COLORS`) and charts stay within :data:`MAX_WIDTH`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import altair as alt
import pandas as pd

from scaling_core.chart_finish import (  # noqa: F401 (re-exported: charts.finish, charts.NoChart, ...)
    DATA_MARKS, LOG_FORMAT, POINT_MARKS, TITLE_CHARS, NoChart, _split, finish, log_ticks, narrow_ticks,
)

RENDERER = "scaling_core"
VEGA_BUNDLE = "vega-bundle.js"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]

MAX_WIDTH = 660
"""Widest chart, in pixels, axes and legend included: the book theme's content column is
about 676 px on a 1280 px wide screen (745 px at 1366, at most 790)."""
LEGEND_LABEL_LIMIT = 190
"""Widest legend label, in pixels (Vega cuts longer ones with an ellipsis)."""
WIDTH, HEIGHT = MAX_WIDTH - 70 - 40 - LEGEND_LABEL_LIMIT, 280
"""Plot area of a single chart (360 x 280): what :data:`MAX_WIDTH` leaves beside a y axis of up to
70 px (title and ticks such as 0.9975) and a right-hand legend (offset and symbol about 40 px,
labels up to :data:`LEGEND_LABEL_LIMIT`)."""
REGION_COLORS = {
    "small-data region": PALETTE[1], "small-data": PALETTE[1], "small data": PALETTE[1],
    "power-law fit": PALETTE[0], "power-law": PALETTE[0], "power law": PALETTE[0],
    "irreducible": PALETTE[2], "irreducible error": PALETTE[2],
    "outside the power-law region": PALETTE[4], "not below the baseline": "#7f7f7f",
    "zero error on V": PALETTE[3], "below V's resolution": PALETTE[5],
}
"""One colour per region label, the same in every chart of the book (the curves'
``region`` labels, the three-region fit's and the counting toy's)."""

_seen_ids: dict[str, int] = {}


def chart_id(spec: dict) -> str:
    """A reproducible element id: a hash of the spec, numbered if the same chart repeats."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    _seen_ids[digest] = _seen_ids.get(digest, 0) + 1
    count = _seen_ids[digest]
    return f"vega-{digest}" if count == 1 else f"vega-{digest}-{count}"


def static_svg(spec: dict) -> str:
    """The chart drawn as SVG by the pinned ``vl-convert`` (no browser, no network)."""
    import vl_convert

    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # e.g. "6.4"
    return vl_convert.vegalite_to_svg(spec, vl_version=version)


def book_renderer(spec: dict, **metadata) -> dict:
    """Altair renderer: an HTML div and a ``vegaEmbed`` call, a static SVG, and plain text.

    The book's pages draw the chart with the Vega bundle they load (interactive: tooltips,
    sliders). The same chart drawn as SVG by ``vl-convert`` sits in the div until then and
    is the output's ``image/svg+xml``, so a downloaded notebook shows its figures in Jupyter,
    Colab or on GitHub, where the bundle is absent.
    """
    element = chart_id(spec)
    svg = static_svg(spec)
    html = (
        f'<div id="{element}" class="vega-chart">{svg}</div>\n'
        "<script>(function(){\n"
        f"  var spec = {json.dumps(spec, sort_keys=True)};\n"
        f'  var el = document.getElementById("{element}");\n'
        "  function draw() {\n"
        '    if (typeof vegaEmbed === "undefined") return;  // the static drawing stays\n'
        '    el.innerHTML = "";\n'
        '    vegaEmbed(el, spec, {"actions": false, "renderer": "svg"})\n'
        '      .catch(function(err){ el.textContent = "Chart error: " + err; }); }\n'
        "  // the bundle is an ES module: it runs after parsing, before DOMContentLoaded\n"
        '  if (typeof vegaEmbed !== "undefined") draw();\n'
        '  else window.addEventListener("DOMContentLoaded", draw);\n'
        "})();</script>"
    )
    title = spec.get("title", "")
    text = f"<altair chart {title!r}>" if title else "<altair chart>"
    return {"text/html": html, "image/svg+xml": svg, "text/plain": text}


def theme() -> dict:
    """The book's chart theme: readable fonts, a fixed palette, no chart border."""
    return {
        "config": {
            "view": {"stroke": None, "continuousWidth": WIDTH, "continuousHeight": HEIGHT},
            "range": {"category": PALETTE},
            "axis": {"labelFontSize": 12, "titleFontSize": 13, "gridOpacity": 0.4},
            "legend": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": LEGEND_LABEL_LIMIT},
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


def log_axis(title: str, **axis) -> dict:
    """Keyword arguments for a log-scaled positional encoding with ``title``.

    Plain-number ticks (:data:`LOG_FORMAT`) and a domain that fits the data drawn
    (``nice=False``: a curve ending at 128k does not stretch the axis to 1M), padded a
    few pixels so the extreme points are not cut by the frame.
    """
    axis = {"format": LOG_FORMAT, "labelSeparation": 6, **axis}
    return {"title": title, "scale": alt.Scale(type="log", nice=False, padding=8), "axis": alt.Axis(**axis)}


def region_scale(labels=()) -> alt.Scale:
    """The colour scale of region labels: :data:`REGION_COLORS` for every known label.

    The domain holds every known region label in a fixed order (the same scale in every
    chart); ``labels`` not in :data:`REGION_COLORS` are appended with spare colours.
    """
    domain = list(REGION_COLORS)
    spare = [c for c in PALETTE + ["#bcbd22", "#e377c2"] if c not in REGION_COLORS.values()]
    extra = [str(v) for v in dict.fromkeys(labels) if pd.notna(v) and str(v) not in REGION_COLORS]
    return alt.Scale(domain=domain + extra,
                     range=list(REGION_COLORS.values()) + [spare[i % len(spare)] for i in range(len(extra))])


def region_color(frame: pd.DataFrame | None = None, field: str = "region", title: str | None = "region",
                 **legend) -> alt.Color:
    """A colour encoding of ``field`` with :func:`region_scale`; the legend lists only the labels present.

    ``legend`` holds further :class:`altair.Legend` properties (e.g. ``orient="top"``).
    """
    present = [] if frame is None or field not in frame else list(dict.fromkeys(frame[field].dropna().astype(str)))
    order = [label for label in REGION_COLORS if label in present] + [v for v in present if v not in REGION_COLORS]
    if present:
        legend["values"] = order
    return alt.Color(f"{field}:N", title=title, scale=region_scale(present),
                     legend=alt.Legend(**legend) if legend else alt.Undefined)


def facet_columns(panel_width: float, extra: float = 70) -> int:
    """How many facet panels of ``panel_width`` (plus ``extra`` for axes) fit in :data:`MAX_WIDTH`."""
    return max(1, int((MAX_WIDTH - 40) // (panel_width + extra)))


CHAR_WIDTH = 0.62
"""Width of an average label character, in font sizes (generous: Vega cuts what does not fit)."""


def label_limit(labels, font_size: float = 12, most: float = 320) -> int:
    """Pixels a categorical axis needs for its longest label (at most ``most``)."""
    longest = max((len(str(v)) for v in labels), default=0)
    return int(min(most, CHAR_WIDTH * font_size * longest + 8))


def _chars(pixels: float, font_size: float) -> int:
    """Characters of a label line that fit in ``pixels``."""
    return max(8, int((pixels - 8) / (CHAR_WIDTH * font_size)))


def category_axis(labels, most: float = 300, font_size: float = 12, **axis) -> alt.Axis:
    """An axis for categorical ``labels``: wide enough for them, long ones wrapped onto lines.

    A label wider than ``most`` pixels is broken into lines (after " / " where possible) rather
    than cut to a prefix that several labels share.
    """
    labels = [str(v) for v in dict.fromkeys(labels)]
    chars = _chars(most, font_size)
    long = {label: _split(label, chars) for label in labels if len(label) > chars}
    expr = "datum.label"
    for label, lines in long.items():
        expr = f"datum.label === {json.dumps(label)} ? {json.dumps(lines)} : {expr}"
    shown = [line for label in labels for line in long.get(label, [label])]
    props = {"labelLimit": label_limit(shown, font_size, most)}
    if long:
        props["labelExpr"] = expr
    return alt.Axis(**{**props, **axis})


def category_step(labels, most: float = 300, font_size: float = 12) -> alt.Step:
    """Height of each row of a categorical axis whose labels :func:`category_axis` may wrap."""
    chars = _chars(most, font_size)
    lines = max((len(_split(str(v), chars)) if len(str(v)) > chars else 1 for v in labels), default=1)
    return alt.Step(max(20, int(lines * (font_size + 2) + 6)))


def layer(main, *extra, **properties):
    """``alt.layer`` of ``main`` and the ``extra`` layers drawn over it, finished (:func:`finish`).

    A :class:`NoChart` ``main`` is returned as is (decorations alone are not a chart); a
    :class:`NoChart` among ``extra`` is left out.
    """
    if isinstance(main, NoChart):
        return main
    chart = alt.layer(main, *[c for c in extra if not isinstance(c, NoChart)])
    return finish(chart.properties(**properties) if properties else chart)


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
    color : str, optional
        Column of the colour; a ``region`` column gets the book's fixed region colours.
    fits : DataFrame, optional
        Dense fitted curves with the same ``x``, ``y`` (and ``color``) columns.
    tooltip : list of str, optional
        Columns shown on hover (default: ``x``, ``y`` and ``color``).
    """
    if color == "region":  # the legend lists the labels of the rows a log-log chart can draw
        both = pd.concat([points, fits]) if fits is not None and color in fits else points
        enc_color = region_color(both[(both[x] > 0) & (both[y] > 0)], color)
    else:
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
    return finish(alt.layer(*layers).properties(title=title))
