"""Finishing a chart: log axes that draw, no empty frames, titles that wrap.

Every chart helper of the book returns through :func:`finish` (re-exported by
:mod:`scaling_core.charts`): no zero reaches a log scale, log axes print plain numbers over
the data's own range (:func:`log_ticks`, :func:`narrow_ticks`), a long title wraps instead
of widening the chart, and a chart with nothing to draw is a sentence (:class:`NoChart`).
"""

from __future__ import annotations

import html

import altair as alt
import numpy as np
import pandas as pd
from altair.utils import parse_shorthand

TITLE_CHARS = 70
"""Longest title line, in characters; longer titles wrap (a title is not clipped to the chart)."""
LOG_FORMAT = ",.12~g"
"""Tick labels of every log axis: plain numbers (0.02, 500, 128,000), never SI prefixes
(d3's ``~s`` prints 0.02 as "20m")."""


DATA_MARKS = {"point", "circle", "square", "tick", "bar", "rect", "line", "area", "trail"}
"""Marks that draw data; a chart whose data marks have no row left shows a sentence instead."""
POINT_MARKS = DATA_MARKS - {"line", "area", "trail"}
"""Marks that draw one measurement per row: the rows dropped from a log scale are counted."""


def _split(label: str, width: int) -> list[str]:
    """``label`` in lines of at most ``width`` characters, broken after " / " where it can be, else at spaces."""
    parts = [p + " /" for p in label.split(" / ")[:-1]] + [label.split(" / ")[-1]]
    words = [w for part in parts for w in ([part] if len(part) <= width else part.split(" "))]
    lines, line = [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line]


class NoChart:
    """What a chart helper returns when nothing can be drawn: a sentence, not an empty frame."""

    def __init__(self, reason: str, title: str = ""):
        self.title, self.reason = title, reason

    @property
    def text(self) -> str:
        what = f" ({self.title})" if self.title else ""
        return f"No data to draw{what}: {self.reason}"

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f'<p class="no-chart"><em>{html.escape(self.text)}</em></p>'

    def _repr_markdown_(self) -> str:
        return f"*{self.text}*"


def _mark_type(chart) -> str | None:
    mark = _get(chart, "mark")
    kind = mark if isinstance(mark, str) else _get(mark, "type")
    return kind if isinstance(kind, str) else None


def _get(obj, name: str):
    """A schema property, read past altair's method-based setters (``alt.X(...).scale`` is a method)."""
    kwds = getattr(obj, "_kwds", None)
    if isinstance(kwds, dict):
        return kwds.get(name, alt.Undefined)
    return obj.get(name, alt.Undefined) if isinstance(obj, dict) else alt.Undefined


def _field(channel) -> str | None:
    """The data field of an encoding channel (``alt.X(...)``, shorthand or ``alt.value``)."""
    if channel is alt.Undefined or channel is None or isinstance(channel, (dict, str)) and not channel:
        return None
    if isinstance(channel, str):
        return parse_shorthand(channel).get("field")
    field = _get(channel, "field")
    if isinstance(field, str):
        return field
    shorthand = _get(channel, "shorthand")
    if isinstance(shorthand, str) and shorthand:
        return parse_shorthand(shorthand).get("field")
    return None


def _is_log(channel) -> bool:
    return _get(_get(channel, "scale"), "type") == "log"


def _discrete(channel) -> bool:
    kind = _get(channel, "type")
    if not isinstance(kind, str):
        shorthand = _get(channel, "shorthand") if not isinstance(channel, str) else channel
        kind = parse_shorthand(shorthand).get("type", "") if isinstance(shorthand, str) else ""
    return kind in ("nominal", "ordinal")


def _length_axis(encoding) -> str | None:
    """The axis along which a bar or area grows from zero (None when it gives both ends)."""
    if any(_field(_get(encoding, c)) for c in ("x2", "y2")):
        return None
    return "x" if _discrete(_get(encoding, "y")) else "y"


def _children(chart) -> list:
    for name in ("layer", "hconcat", "vconcat", "concat"):
        value = _get(chart, name)
        if isinstance(value, list):
            return value
    spec = _get(chart, "spec")
    return [] if spec is alt.Undefined else [spec]


def _leaves(chart, holder):
    """(leaf unit chart, the node whose DataFrame it draws) for every unit chart under ``chart``."""
    data = _get(chart, "data")
    if isinstance(data, pd.DataFrame):
        holder = chart
    children = _children(chart)
    if not children:
        yield chart, holder
    for child in children:
        yield from _leaves(child, holder)


def _fix_log_channel(channel) -> None:
    """Plain-number ticks and a domain fitting the data on a log-scaled channel."""
    axis = _get(channel, "axis")
    if axis is None:
        return
    if axis is alt.Undefined:
        channel._kwds["axis"] = axis = alt.Axis()
    if "s" in str(_get(axis, "format") or "s"):  # unset, or d3's SI format
        axis["format"] = LOG_FORMAT
    if _get(axis, "labelSeparation") is alt.Undefined:  # log ticks crowd: "200" and "300" must not touch
        axis["labelSeparation"] = 6
    scale = _get(channel, "scale")
    if _get(scale, "nice") is alt.Undefined and _get(scale, "domain") is alt.Undefined:
        scale["nice"] = False


def _wrap(text: str, width: int = TITLE_CHARS) -> str | list[str]:
    """``text`` broken into lines of at most ``width`` characters (a long title would widen the chart)."""
    lines = _split(text, width)
    return text if len(lines) == 1 else lines


def _retitle(chart, note: str = "") -> None:
    """Wrap a long title into lines and add ``note`` to its subtitle."""
    title = _get(chart, "title")
    if title is alt.Undefined and not note:
        return
    if not isinstance(title, alt.TitleParams):
        title = alt.TitleParams(text=title if isinstance(title, (str, list)) else "")
    text = _get(title, "text")
    if isinstance(text, str):
        title["text"] = _wrap(text) if text.strip() else " "
    if note:
        old = _get(title, "subtitle")
        title["subtitle"] = ([] if old is alt.Undefined else [old] if isinstance(old, str) else list(old)) + [note]
        title["subtitleColor"] = "#555"
    chart["title"] = title


def _title_text(chart) -> str:
    title = _get(chart, "title")
    if isinstance(title, alt.TitleParams):
        title = _get(title, "text")
    if isinstance(title, list):
        title = " ".join(title)
    return title.strip() if isinstance(title, str) else ""


def finish(chart, what: str = ""):
    """Make ``chart`` safe to draw on a log scale, or say in a sentence why nothing can be drawn.

    Every chart helper of the book returns through here. On a log-scaled ``x`` or ``y``
    (a layer shares it with its siblings), rows whose value is zero or negative are
    dropped, since a log axis cannot place them, and the chart's subtitle says how many
    measurements were left out; every log axis gets plain-number ticks (:func:`log_ticks` over
    the data of the whole chart, unless its panels have scales of their own) and a domain
    that fits the data. A bar on a log scale must give its own start (``x2``/``y2``): a bar
    from zero cannot be drawn. When no data mark has a row left the result is a
    :class:`NoChart` (a sentence) instead of an empty frame. Concatenated panels are
    finished one by one.

    Parameters
    ----------
    chart : altair chart
    what : str
        Names the chart in the sentence shown when nothing can be drawn (default: its title).
    """
    chart = chart.copy(deep=True)
    panels = next((_get(chart, n) for n in ("hconcat", "vconcat", "concat") if isinstance(_get(chart, n), list)), None)
    if panels is not None:
        done = [finish(panel) for panel in panels]
        if all(isinstance(p, NoChart) for p in done):
            return NoChart(done[0].reason if done else "no panel", what or _title_text(chart))
        for i, panel in enumerate(done):
            if isinstance(panel, NoChart):
                done[i] = alt.Chart(pd.DataFrame({"text": [panel.text]})).mark_text(
                    align="left", fontStyle="italic").encode(text="text:N")
        panels[:] = done
        _retitle(chart)
        return chart
    leaves = list(_leaves(chart, None))
    log = {axis for leaf, _ in leaves for axis in ("x", "y")
           if _is_log(_get(_get(leaf, "encoding"), axis))}
    fields: dict[int, tuple] = {}  # id(holder) -> (holder, log fields, draws points?, draws data?)
    on_axis = {axis: set() for axis in log}  # the fields each log axis shows
    log_channels = {axis: [] for axis in log}
    for leaf, holder in leaves:
        encoding = _get(leaf, "encoding")
        mark = _mark_type(leaf)
        for axis in log:
            channel = _get(encoding, axis)
            on_axis[axis] |= {_field(_get(encoding, c)) for c in (axis, axis + "2")} - {None}
            if _is_log(channel):
                _fix_log_channel(channel)
                log_channels[axis].append(channel)
            if mark in ("bar", "area") and _length_axis(encoding) == axis:
                raise ValueError(f"a {mark} on the log {axis} scale needs its start ({axis}2): "
                                 "one from zero cannot be drawn")
        if holder is None or encoding is alt.Undefined:
            continue
        names = {_field(_get(encoding, c)) for a in log for c in (a, a + "2")} - {None}
        _, seen, points, drawn = fields.get(id(holder), (holder, set(), False, False))
        overlay = _get(_get(leaf, "mark"), "point")  # a line drawn with its points
        dots = mark in POINT_MARKS or overlay not in (alt.Undefined, None, False, "transparent")
        fields[id(holder)] = (holder, seen | names, points or dots, drawn or mark in DATA_MARKS)
    dropped, drawable, rows = 0, 0, 0
    extent = {axis: [] for axis in log}
    for holder, names, points, drawn in fields.values():
        frame = _get(holder, "data")
        bad = pd.Series(False, index=frame.index)
        for name in names & set(frame.columns):
            values = pd.to_numeric(frame[name], errors="coerce")
            bad |= values.notna() & (values <= 0)
        if bad.any():
            holder["data"] = frame = frame[~bad].reset_index(drop=True)
            dropped += int(bad.sum()) if points else 0
        drawable += len(frame) if drawn else 0
        rows += len(frame)
        for axis, names_on_axis in on_axis.items():
            for name in names_on_axis & set(frame.columns):
                values = pd.to_numeric(frame[name], errors="coerce")
                extent[axis] += [values.min(), values.max()] if values.notna().any() else []
    # a chart of data marks whose rows are all gone is empty; one of text or rules only, when it has no row
    if fields and not (drawable if any(v[3] for v in fields.values()) else rows):
        reason = (f"all {dropped} point{'s are' if dropped != 1 else ' is'} at zero or below, "
                  "which a log scale cannot show") if dropped else "no measurement yet"
        return NoChart(reason, what or _title_text(chart))
    faceted = _get(chart, "spec") is not alt.Undefined  # panels of their own scales: Vega picks each one's ticks
    for axis, channels in log_channels.items():
        low, high = (min(extent[axis]), max(extent[axis])) if extent[axis] and not faceted else (np.nan, np.nan)
        ticks = log_ticks(low, high)
        for channel in channels:
            axis_def, scale = _get(channel, "axis"), _get(channel, "scale")
            if ticks and axis_def not in (None, alt.Undefined):  # a layer finished before saw only its own data
                axis_def["values"] = ticks
            if ticks and _get(scale, "nice") is False:  # a scale of ours (a domain given by the caller stays)
                # narrow ticks bracket the data: the domain reaches them; else Vega fits the (filtered) data
                outside = ticks[0] < low or ticks[-1] > high
                scale["domain"] = [ticks[0], ticks[-1]] if outside else alt.Undefined
    _retitle(chart, f"{dropped} point{'s' if dropped != 1 else ''} at zero or below not drawn (log scale)"
             if dropped else "")
    return chart


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values of a log axis from ``low`` to ``high``: every digit, 1-2-3-5, 1-2-5, 1-3 or powers of ten by span.

    Vega's own log ticks label every multiple of a decade and then drop labels that overlap,
    which can leave out the 10 between 9 and 20. Only ticks within the data are given (one
    outside the domain would not be drawn); a span with fewer than two of them gets
    :func:`narrow_ticks`, which bracket the data.
    """
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 or high <= 0:
        return []
    decades = np.log10(high / low)
    steps = (range(1, 10) if decades <= 0.7 else (1, 2, 3, 5) if decades <= 1.3 else (1, 2, 5) if decades <= 3
             else (1, 3) if decades <= 6 else (1,))
    first, last = int(np.floor(np.log10(low))), int(np.ceil(np.log10(high)))
    values = [float(f"{m}e{e}") for e in range(first, last + 1) for m in steps]
    inside = [v for v in values if low / (1 + 1e-9) <= v <= high * (1 + 1e-9)]  # a tick outside is not drawn
    return inside if len(inside) >= 2 else narrow_ticks(low, high)


def narrow_ticks(low: float, high: float) -> list[float]:
    """Evenly spaced ticks that bracket a span too narrow for a log axis's 1-to-9 steps.

    The step is the largest of 1, 2, 2.5 or 5 times a power of ten that is at most half the
    span, and the ticks run from the last multiple at or below ``low`` to the first at or above
    ``high``; a span of one value is widened by 2 % each way. The chart's domain then runs from
    the first tick to the last, so that every tick is drawn (0.96 to 1 gives 0.96, 0.98, 1).
    """
    if high / low < 1.001:
        low, high = low / 1.02, high * 1.02
    span = high - low
    top = int(np.floor(np.log10(span)))
    for step in (m * 10.0 ** e for e in range(top, top - 3, -1) for m in (5, 2.5, 2, 1)):
        if step <= span / 2:
            first, last = int(np.floor(low / step + 1e-9)), int(np.ceil(high / step - 1e-9))
            return [float(f"{k * step:.12g}") for k in range(max(first, 1), last + 1)]
    return []
