"""Every chart of the book drawn right: the chart helpers' specs, and the charts of the smoke book in a browser.

The spec tests read ``chart.to_dict()`` of the helpers on small frames: log axes print plain
numbers and fit the data, no zero reaches a log scale, a region label has one colour in every
chart, wide charts wrap, categorical labels are not cut, and a chart with nothing to draw is a
sentence. The browser test loads every page of the smoke book in headless Chromium (network
off), lets Vega draw, and parses the SVG it drew.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import pytest

from scaling_core import charts
from scaling_core.book import toc_chapters
from scaling_core.experiments import counting, curves, implications, methodology, predictability, projections, table1

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAPTOP = (1280, 900)
"""Browser window of the width check: a 1280 px laptop screen (the narrowest content column we design for)."""


# ----------------------------------------------------------------------------- small frames


def best_frame(values, metric: str = "val_error", start: float = 100) -> pd.DataFrame:
    """Winners as :func:`curves.winners` labels them: zero errors are ``zero error on V``."""
    values = np.asarray(values, float)
    units = start * 2.0 ** np.arange(len(values))
    measured = values > 0
    region = np.where(measured, curves.FITTED, curves.UNMEASURED).astype(object)
    region[:2] = np.where(measured[:2], curves.SMALL_DATA, curves.UNMEASURED)
    return pd.DataFrame({"shard": np.arange(len(values)), "shard_units": units, metric: values,
                         "in_fit": measured & (np.arange(len(values)) >= 2), "region": region,
                         "family": "mlp", "size": 8.0, "num_params": 1000.0 * units ** 0.3, "stop_reason": "converged"})


def learning_chart(values, **kwargs):
    best = best_frame(values)
    return curves.learning_curve_chart(best, curves.fit_learning_curve(best, "val_error", bootstrap=0),
                                       "val_error", "samples", **kwargs)


def sketch(curve_names=("Image / ResNet / val_top1_error", "Image / ResNet / val_top5_error",
                        "Speech / DS2 / val_cer"), zero_in=()) -> pd.DataFrame:
    frames = []
    for name in curve_names:
        m = 10.0 * 2.0 ** np.arange(10)
        error = 0.9 * (1 + m / 100) ** -0.7
        if name in zero_in:
            error[-3:] = 0.0
        region = np.where(m < 40, "small-data", np.where(m < 2000, "power-law", "irreducible"))
        frames.append(pd.DataFrame({"curve": name, "layer": "measured", "shard_units": m, "error": error,
                                    "region": region}))
        frames.append(pd.DataFrame({"curve": name, "layer": "three-region fit", "shard_units": m,
                                    "error": 0.9 * (1 + m / 100) ** -0.7, "region": region}))
    return pd.concat(frames, ignore_index=True)


def exponent_table() -> pd.DataFrame:
    rows = [("Image classification", "ResNet", metric) for metric in ("val_top1_error", "val_top5_error", "val_xent")]
    rows += [("Neural machine translation", "LSTM encoder-decoder with attention", "val_error")]
    return pd.DataFrame({"domain": [r[0] for r in rows], "model": [r[1] for r in rows], "metric": [r[2] for r in rows],
                         "beta_g": [-0.5, -0.6, -0.4, -0.3], "beta_g_low": [-0.6, -0.7, -0.5, -0.35],
                         "beta_g_high": [-0.4, -0.5, -0.3, -0.25], "paper_beta_g": [-0.3, np.nan, -0.35, -0.13]})


def scoreboard() -> pd.DataFrame:
    rows = [{"status": "ok", "curve": curve, "horizon": h, "estimator": e, "relative_error": 0.1 * h,
             "decades_ahead": 0.3 * h}
            for curve in exponent_table().pipe(lambda t: t["domain"] + " / " + t["model"] + " / " + t["metric"])
            for h in (1, 2, 3) for e in ("last value", "power law", "ours", "paper (power law)")]
    return pd.DataFrame(rows)


def trials_frame() -> pd.DataFrame:
    return pd.DataFrame({"shard": np.repeat(np.arange(4), 2), "shard_units": np.repeat(50 * 2.0 ** np.arange(4), 2),
                         "status": "done", "size": [8, 16] * 4, "val_error": 0.5, "history": [[]] * 8})


def calculator():
    samples = pd.DataFrame({"curve": "toy", "unit": "samples", "alpha": 2.0, "beta": -0.4, "alpha_p": 10.0,
                            "beta_p": 0.5, "alpha_c": 1e3, "beta_c": 1.5, "alpha_t": 0.1, "beta_t": 1.0,
                            "reference_error": 0.2, "reference_units": 1000.0}, index=range(20))
    samples["alpha"] *= np.linspace(0.95, 1.05, 20)
    winners = pd.DataFrame({"curve": "toy", "shard_units": [100.0, 1000.0], "error": [0.3, 0.2],
                            "reference_error": 0.2})
    return projections.calculator_chart(samples, winners)


def helper_charts() -> dict:
    """One chart from each kind of helper, on data with zeros where the real data can have them."""
    table = pd.DataFrame({"m": [1, 2, 4, 8, 16], "error": [0.5, 0.4, 0.3, 0.25, 0.22],
                          "excess": [0.3, 0.2, 0.1, 0.0, -0.01],
                          "region": ["small data", "small data", "power law", "irreducible error", "irreducible error"]})
    world = type("World", (), {"best_guess_error": 0.5, "irreducible_error": 0.2})()
    return {
        "learning curve": learning_chart([0.5, 0.4, 0.2, 0.1, 0.05, 0.0]),
        "model size": curves.model_size_chart(best_frame([0.5, 0.4, 0.2, 0.1, 0.05]), curves.fit_model_size(
            best_frame([0.5, 0.4, 0.2, 0.1, 0.05]), bootstrap=0), "samples"),
        "Fig. 6": implications.sketch_chart(sketch(zero_in=("Image / ResNet / val_top5_error",))),
        "shards": methodology.shards_chart(trials_frame()),
        "exponents": table1.exponent_chart(exponent_table()),
        "scoreboard": predictability.scoreboard_chart(scoreboard()),
        "calculator": calculator(),
        "toy regions": counting.three_regions_chart(table, world),
    }


# ----------------------------------------------------------------------------- reading specs


def nodes(spec):
    """Every dict inside ``spec``, depth first."""
    if isinstance(spec, dict):
        yield spec
        for value in spec.values():
            yield from nodes(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from nodes(value)


def channels(spec, names=("x", "y")):
    for node in nodes(spec):
        encoding = node.get("encoding")
        if isinstance(encoding, dict):
            for name in names:
                if isinstance(encoding.get(name), dict):
                    yield name, encoding[name]


def log_fields(spec) -> set[str]:
    """Fields drawn on a log scale, the second channels (``x2``) of a log axis included."""
    logs = {name for name, channel in channels(spec) if channel.get("scale", {}).get("type") == "log"}
    return {c["field"] for _, c in channels(spec, [n + s for n in logs for s in ("", "2")]) if "field" in c}


def colours(spec, field: str = "region") -> dict:
    """Label -> colour of every colour scale of ``field`` in ``spec`` (labels can repeat across charts)."""
    found = {}
    for _, channel in channels(spec, ["color"]):
        if channel.get("field") == field:
            scale = channel.get("scale", {})
            assert "domain" in scale and "range" in scale, f"{field} colours left to the order of the data"
            found.update(zip(scale["domain"], scale["range"]))
    return found


# ----------------------------------------------------------------------------- spec tests


@pytest.fixture(scope="module")
def specs():
    charts.setup()
    return {name: chart.to_dict() for name, chart in helper_charts().items()}


def test_every_log_axis_prints_plain_numbers_and_fits_the_data(specs):
    """SI ticks ("20m" for 0.02) and nice domains (1M for data ending at 128k) were the defects."""
    seen = 0
    for name, spec in specs.items():
        for axis, channel in channels(spec):
            if channel.get("scale", {}).get("type") != "log" or channel.get("axis", {}) is None:
                continue
            seen += 1
            fmt = channel.get("axis", {}).get("format")
            assert fmt == charts.LOG_FORMAT and "s" not in fmt, (name, axis, fmt)
            assert channel["scale"].get("nice") is False or "domain" in channel["scale"], (name, axis)
    assert seen >= 8


def test_the_log_format_prints_plain_numbers():
    vl_convert = pytest.importorskip("vl_convert")
    frame = pd.DataFrame({"m": [10.0, 128_000.0], "e": [0.5, 0.02]})
    chart = alt.Chart(frame).mark_point().encode(x=alt.X("m:Q", **charts.log_axis("m")),
                                                 y=alt.Y("e:Q", **charts.log_axis("e")))
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    labels = re.findall(r"<text[^>]*>([^<]+)</text>", svg)
    assert {"0.02", "0.5", "100,000", "10"} <= set(labels), labels
    assert not any(re.fullmatch(r"[\d.]+[mµkM]", label) for label in labels), labels
    assert "1,000,000" not in labels  # the domain stops at the data


def test_log_ticks_keep_the_decades_and_stop_at_the_data():
    assert 10 in charts.log_ticks(2, 30)  # Vega's own ticks dropped "10" between "9" and "20"
    ticks = charts.log_ticks(10, 128_000)
    assert ticks[0] == 10 and ticks[-1] == 100_000 and 1e6 not in ticks
    assert charts.log_ticks(5.1, 5.5) == [5.0, 5.2, 5.4, 5.6]  # too narrow for 1-to-9 steps: even ones
    assert charts.log_ticks(0.96, 1.0) == [0.96, 0.98, 1.0]
    assert len(charts.log_ticks(1.0, 1.0)) >= 3  # one value: a span around it


def test_a_narrow_log_axis_still_labels_several_ticks_inside_its_domain():
    vl_convert = pytest.importorskip("vl_convert")
    frame = pd.DataFrame({"m": [100, 200, 400, 800], "cer": [0.985, 0.97, 0.99, 1.0]})  # a CER near 1
    chart = charts.finish(alt.Chart(frame).mark_point().encode(
        x=alt.X("m:Q", **charts.log_axis("m")), y=alt.Y("cer:Q", **charts.log_axis("CER"))))
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    labels = set(re.findall(r"<text[^>]*>([^<]+)</text>", svg))
    assert {"0.97", "0.98", "0.99", "1"} <= labels, labels


def test_zeros_never_reach_a_log_scale_and_the_chart_says_how_many_were_left_out(specs):
    for name, spec in specs.items():
        fields = log_fields(spec)
        for rows in spec.get("datasets", {}).values():
            for row in rows:
                bad = {f: row[f] for f in fields if isinstance(row.get(f), (int, float)) and row[f] <= 0}
                assert not bad, (name, bad)
    assert "1 point at zero" in str(specs["learning curve"]["title"])
    assert "3 points at zero" in str(specs["Fig. 6"]["title"])
    assert "at zero or below" in str(specs["toy regions"]["title"])  # a negative excess is not drawn either


def test_a_chart_with_nothing_to_draw_is_a_sentence():
    chart = learning_chart([0.5, 0.4, 0.3, 0.2, 0.1])
    assert isinstance(chart, alt.TopLevelMixin)
    nothing = curves.curves_chart(best_frame([0.0, 0.0, 0.0]).assign(curve="top-5"), "val_error", "images")
    assert isinstance(nothing, charts.NoChart)
    assert nothing._repr_html_().startswith('<p class="no-chart">') and "No data to draw" in nothing._repr_html_()
    assert "at zero" in nothing.text
    assert isinstance(methodology.validation_curves_chart(trials_frame(), shard=0), charts.NoChart)
    assert isinstance(implications.sketch_chart(sketch()[0:0]), charts.NoChart)
    assert isinstance(charts.layer(nothing, curves.baseline_layer(pd.DataFrame(
        {"shard_units": [1.0], "val_error": [0.9], "baseline": ["prior"]}), "val_error")), charts.NoChart)


def test_a_region_label_has_one_colour_in_every_chart(specs):
    """The image top-5 chart coloured by order of appearance: its labels swapped colours."""
    found = {name: colours(spec) for name, spec in specs.items()}
    found["zeros first"] = colours(learning_chart([0.0, 0.0, 0.3, 0.2, 0.1, 0.05]).to_dict())
    found["outside"] = colours(curves.learning_curve_chart(
        best_frame([0.5, 0.4, 0.2, 0.1, 0.05]).assign(region=lambda t: t["region"].where(
            t["shard"] < 4, "outside the power-law region")),
        curves.fit_learning_curve(best_frame([0.5, 0.4, 0.2, 0.1, 0.05]), "val_error", bootstrap=0),
        "val_error", "samples").to_dict())
    with_regions = {name: c for name, c in found.items() if c}
    assert {"learning curve", "model size", "Fig. 6", "toy regions", "zeros first", "outside"} <= set(with_regions)
    for name, mapping in with_regions.items():
        assert mapping == {label: charts.REGION_COLORS[label] for label in mapping}, name
    domains = {name: [(k, v) for k, v in c.items() if k in charts.REGION_COLORS] for name, c in with_regions.items()}
    assert len({tuple(d) for d in domains.values()}) == 1  # the same domain and range everywhere
    assert charts.REGION_COLORS["power-law fit"] == charts.REGION_COLORS["power-law"]
    assert charts.REGION_COLORS["small-data region"] == charts.REGION_COLORS["small-data"]


def test_facets_and_concatenations_wrap_within_the_content_column(specs):
    """Fig. 6 had three 230 px columns (about 900 px); the scoreboard three 260 px columns side by side."""
    for name, spec in specs.items():
        for node in nodes(spec):
            assert "hconcat" not in node, name
            facet = node.get("facet")
            if isinstance(facet, dict) and "field" in facet:  # a wrapped facet
                assert "columns" in node, name
                width = node["spec"].get("width", charts.WIDTH)
                assert node["columns"] * (width + 70) <= charts.MAX_WIDTH, (name, node["columns"], width)
            if isinstance(facet, dict) and "column" in facet:
                pytest.fail(f"{name}: a column facet grows with its data")
            if "concat" in node:
                assert node.get("columns") == 1, name
            if isinstance(node.get("width"), (int, float)):
                assert node["width"] <= charts.MAX_WIDTH - 200, (name, node["width"])
    assert implications.sketch_chart(sketch()).to_dict()["columns"] == charts.facet_columns(240)


def test_categorical_labels_are_not_cut_to_the_same_prefix(specs):
    """The exponent chart cut 'Image classification / ResNet / val_...' into three identical rows."""
    vl_convert = pytest.importorskip("vl_convert")
    for name in ("exponents", "scoreboard"):
        spec = dict(specs[name], config=charts.theme()["config"])
        svg = vl_convert.vegalite_to_svg(spec)
        texts = re.findall(r">([^<>]+)</(?:text|tspan)>", svg)
        assert not [t for t in texts if t.endswith("…")], (name, texts)
        assert {"val_top1_error", "val_top5_error"} <= {t.split(" / ")[-1] for t in texts}, (name, texts)
        assert int(re.search(r'<svg[^>]*width="(\d+)', svg).group(1)) <= charts.MAX_WIDTH, name


def test_a_bar_on_a_log_scale_gives_its_start(specs):
    """The nested-shards chart drew bars from zero on a log axis: axes only."""
    shards = specs["shards"]
    encoding = next(node["encoding"] for node in nodes(shards) if isinstance(node.get("encoding"), dict))
    assert "x2" in encoding
    starts = [row[encoding["x"]["field"]] for rows in shards["datasets"].values() for row in rows]
    assert min(starts) > 0
    from_zero = alt.Chart(pd.DataFrame({"k": [0, 1], "m": [10, 20]})).mark_bar().encode(
        x=alt.X("m:Q", **charts.log_axis("m")), y="k:O")
    with pytest.raises(ValueError, match="needs its start"):
        charts.finish(from_zero)


def test_a_long_title_wraps_instead_of_widening_the_chart():
    chart = charts.finish(alt.Chart(pd.DataFrame({"a": [1, 2]})).mark_point().encode(x="a:Q").properties(
        title="Neural machine translation / LSTM encoder-decoder with attention / val_error: one law over data"))
    text = chart.to_dict()["title"]["text"]
    assert isinstance(text, list) and max(map(len, text)) <= charts.TITLE_CHARS


# ----------------------------------------------------------------------------- the drawn book


PROBE = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  var article = document.querySelector("article.bd-article") || document.body;
  var style = getComputedStyle(article), box = article.getBoundingClientRect();
  document.body.setAttribute("data-content-left", box.left + parseFloat(style.paddingLeft));
  document.body.setAttribute("data-content-right", box.right - parseFloat(style.paddingRight));
  function plotArea(el) {  // the background of the nearest view with a size: its plot area
    for (var g = el.parentElement; g && g.tagName.toLowerCase() !== "svg"; g = g.parentElement) {
      if (!g.classList.contains("mark-group")) continue;
      var bg = g.querySelector(":scope > g > path.background");
      if (bg) { var r = bg.getBoundingClientRect(); if (r.width > 1 && r.height > 1) return r; }
    }
    return null;
  }
  document.querySelectorAll(".vega-chart").forEach(function (chart) {
    var svg = chart.querySelector("svg"); if (!svg) return;
    var box = svg.getBoundingClientRect(), inside = 0;
    svg.querySelectorAll("g.role-mark > path").forEach(function (mark) {
      var r = mark.getBoundingClientRect(), area = plotArea(mark);
      var x = r.left + r.width / 2, y = r.top + r.height / 2;
      // a symbol, bar or band needs an area (a bar from zero on a log scale is 0 px wide); a line a length
      var solid = /mark-(symbol|rect|area)/.test(mark.parentNode.getAttribute("class"));
      var visible = solid ? r.width > 0.5 && r.height > 0.5 : r.width > 0.5 || r.height > 0.5;
      if (visible && area && x >= area.left - 2 && x <= area.right + 2 && y >= area.top - 2 && y <= area.bottom + 2)
        inside++;
    });
    chart.setAttribute("data-left", box.left); chart.setAttribute("data-right", box.right);
    chart.setAttribute("data-marks-inside", inside);
  });
  document.body.setAttribute("data-probed", "yes");
}, 2000); });
</script>"""

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
DATA_MARK = re.compile(r"\bmark-(symbol|line|rect|area|trail)\b")


class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None = None):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, attrs, parent, [], ""

    @property
    def classes(self) -> str:
        return self.attrs.get("class") or ""

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


class DomParser(HTMLParser):
    """The dumped DOM as a tree of :class:`Node` (HTML and the inline SVG that Vega drew)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.text += data


def parse(dom: str) -> Node:
    parser = DomParser()
    parser.feed(dom)
    return parser.root


def drawn_page(page: Path, tmp_path: Path) -> str:
    """``page`` loaded in headless Chromium at :data:`LAPTOP` with network off, probed, as its DOM."""
    text = page.read_text()
    text = text.replace("<head>", f'<head><base href="{page.parent.resolve().as_uri()}/">', 1)
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(text.replace("</body>", PROBE + "</body>", 1))
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
        "--virtual-time-budget=10000", "--proxy-server=127.0.0.1:9", "--dump-dom", probe.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180).stdout


def chart_problems(chart: Node, content: tuple[float, float]) -> list[str]:
    """What is wrong with one drawn chart (empty when nothing is)."""
    svg = next((n for n in chart.walk() if n.tag == "svg"), None)
    if svg is None or "vega-embed" not in chart.classes.split():  # the static SVG alone: the bundle did not draw
        return [f"not drawn: {chart.all_text().strip()[:80]!r}"]
    problems = []
    marks = [p for n in svg.walk() if n.tag == "g" and "role-mark" in n.classes and DATA_MARK.search(n.classes)
             for p in n.children if p.tag == "path" and p.attrs.get("d", "").strip()]
    if not marks:
        problems.append("an empty frame: no data mark drawn")
    elif int(chart.attrs.get("data-marks-inside", 0)) == 0:
        problems.append("no data mark inside the plot area")
    for axis in ("X", "Y"):
        groups = [n for n in svg.walk() if "role-axis" in n.classes.split()
                  and (n.attrs.get("aria-label") or "").startswith(f"{axis}-axis")]
        labels = [t.all_text().strip() for g in groups for n in g.walk() if "role-axis-label" in n.classes
                  for t in n.children if t.tag == "text"]
        needed = 2 if any("discrete" not in (g.attrs.get("aria-label") or "") for g in groups) else 1
        if len([label for label in labels if label]) < needed:
            problems.append(f"{axis} axis without labelled ticks ({labels})")
        si = [label for label in labels if re.fullmatch(r"-?[\d.]+[mµ]", label)]
        if si:
            problems.append(f"{axis} axis prints SI ticks {si}")
        cut = [label for label in labels if label.endswith("…")]
        if cut:
            problems.append(f"{axis} axis labels cut short {cut}")
    left, right = float(chart.attrs.get("data-left", 0)), float(chart.attrs.get("data-right", 0))
    if right - left > content[1] - content[0] + 1 or right > content[1] + 1:
        problems.append(f"{right - left:.0f} px wide, wider than the {content[1] - content[0]:.0f} px content column")
    return problems


@pytest.mark.browser
def test_every_chart_of_the_book_draws_data_labelled_axes_within_the_column(smoke_html, tmp_path, chromium):
    problems, drawn = [], 0
    for key in toc_chapters():
        root = parse(drawn_page(smoke_html / "book" / f"{key}.html", tmp_path))
        body = next(n for n in root.walk() if n.tag == "body")
        assert body.attrs.get("data-probed") == "yes", f"{key}: the page did not finish loading"
        content = (float(body.attrs["data-content-left"]), float(body.attrs["data-content-right"]))
        for chart in (n for n in root.walk() if "vega-chart" in n.classes.split()):
            drawn += 1
            problems += [f"{key} #{chart.attrs.get('id')}: {p}" for p in chart_problems(chart, content)]
    assert drawn > 0
    assert problems == []
