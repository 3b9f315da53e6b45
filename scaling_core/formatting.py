"""One number formatter for every table the book displays and every number it glues into prose.

- :func:`count` writes counts and sizes as integers with thousands separators (``1,024``);
- :func:`number` writes a measured float with a fixed number of significant digits and
  never in e-notation (``0.398``, ``-1.10``, ``128,004``; only values a reader would not
  compare, beyond :data:`HUGE` or below :data:`TINY`, as ``1.2 × 10¹⁵``);
- :func:`interval` writes an interval as ``a to b``; :func:`beyond` and :func:`multiple`
  replace sizes far outside the measured data by :data:`BEYOND` or ``> 1,000x the largest shard``;
- :func:`reason` turns an exception into a short sentence for a table's notes column;
- :func:`display` turns a frame into a :class:`Table`: no index, every column formatted by
  its kind, wide tables in a horizontally scrollable box, an empty table as one sentence.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

DIGITS = 3
"""Significant digits of a float in a table or in the prose."""

MISSING = "–"
"""What a missing value (None, NaN) reads as."""

BEYOND = "beyond the measured range"
"""What a size far outside the measured data (an extrapolated boundary) reads as."""

HUGE = 1e9
"""Floats at or above this magnitude are written as ``m × 10ⁿ`` (compute in FLOP, say)."""

TINY = 1e-4
"""Non-zero floats below this magnitude are written as ``m × 10⁻ⁿ``."""

MAX_ROWS = 40
"""A displayed table shows at most this many rows and says how many it left out."""

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def is_missing(value) -> bool:
    """Whether ``value`` is None, NaN or pandas' NA."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, (float, np.floating)) and math.isnan(value))
    except TypeError:
        return False


def _is_number(value) -> bool:
    return isinstance(value, (numbers.Number, np.number)) and not isinstance(value, (bool, np.bool_))


def join_words(words, last: str = "and") -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"`` (``last`` joins the final pair)."""
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, plural where it is not one: ``counted(1, "layer")`` -> ``"1 layer"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def count(value, missing: str = MISSING) -> str:
    """A count or a size: the nearest integer with thousands separators (``1,024``)."""
    if is_missing(value):
        return missing
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{round(value):,}"


def _powers_of_ten(value: float, digits: int) -> str:
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10 ** exponent
    if round(abs(mantissa), digits - 1) >= 10:  # 9.996 rounds up to 10.0
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.{max(digits - 1, 0)}f} × 10{str(exponent).translate(_SUPERSCRIPT)}"


def number(value, digits: int = DIGITS, missing: str = MISSING) -> str:
    """A float with ``digits`` significant digits and no e-notation.

    Integers (and floats of ``digits`` or more integer digits) are written whole, with
    thousands separators; zero is ``0``; infinities are ``∞``; magnitudes from
    :data:`HUGE` on or below :data:`TINY` are written as ``m × 10ⁿ``.
    """
    if is_missing(value):
        return missing
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (numbers.Integral, np.integer)):
        return f"{int(value):,}"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    size = abs(value)
    if size >= HUGE or size < TINY:
        return _powers_of_ten(value, digits)
    decimals = digits - 1 - math.floor(math.log10(size))
    if decimals <= 0:
        return f"{round(value):,}"
    text = f"{value:,.{decimals}f}"
    if float(text.replace(",", "")) != 0 and abs(float(text.replace(",", ""))) >= 10 ** (digits - decimals):
        text = f"{value:,.{max(decimals - 1, 0)}f}"  # 9.996 rounded to 10.00: one digit too many
    return text


def given(value, missing: str = MISSING) -> str:
    """A value as published (the paper's exponents): its shortest form, ``-0.066``, ``-0.35``."""
    value = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return missing if is_missing(value) else f"{value:g}"


def percent(value, digits: int = DIGITS, missing: str = MISSING) -> str:
    """A share (0.25) as a percentage with ``digits`` significant digits (``25.0 %``)."""
    return missing if is_missing(value) else f"{number(100 * float(value), digits)} %"


def _alike(values, digits: int) -> list[str]:
    """Numbers that are read together, in one style: all as ``m × 10ⁿ`` once one reaches :data:`HUGE`."""
    finite = [abs(float(v)) for v in values if _is_number(v) and math.isfinite(float(v))]
    if finite and max(finite) >= HUGE:
        return [_powers_of_ten(float(v), digits) if _is_number(v) and math.isfinite(float(v)) and v != 0
                else number(v, digits) for v in values]
    return [number(v, digits) for v in values]


def interval(low, high, digits: int = DIGITS, missing: str = MISSING) -> str:
    """An interval as ``a to b`` (``missing`` when either end is missing)."""
    if is_missing(low) or is_missing(high):
        return missing
    low, high = _alike([low, high], digits)
    return f"{low} to {high}"


def estimate(value, low, high, digits: int = DIGITS, missing: str = "not fitted") -> str:
    """A value with its interval: ``-0.625 (-0.701 to -0.542)``; ``missing`` without a value."""
    if is_missing(value):
        return missing
    if is_missing(low) or is_missing(high):
        return number(value, digits)
    value, low, high = _alike([value, low, high], digits)
    return f"{value} ({low} to {high})"


def beyond(value, low, high, factor: float = 10.0, unit: str = "", digits: int = DIGITS,
           missing: str = MISSING) -> str:
    """A size (a region boundary, say): :data:`BEYOND` when it lies more than ``factor``
    times outside the measured ``low`` to ``high``, else the size (with ``unit``)."""
    if is_missing(value):
        return missing
    value = float(value)
    if not math.isfinite(value) or value > factor * float(high) or value < float(low) / factor:
        return BEYOND
    text = count(value) if value >= 10 else number(value, digits)
    return f"{text} {unit}".strip()


def multiple(value, limit: float = 1000.0, digits: int = DIGITS, what: str = "the largest shard",
             missing: str = MISSING) -> str:
    """A multiple of our largest shard: ``3.2x``, ``> 1,000x the largest shard`` past ``limit``,
    and ``already met`` below 1 (the target needs no more data than we have)."""
    if is_missing(value):
        return missing
    value = float(value)
    if value > limit:
        return f"> {count(limit)}x {what}"
    if value < 1:
        return "already met"
    return f"{number(value, digits)}x"


def reason(error, limit: int = 80) -> str:
    """A short, human sentence for a notes column, from an exception or a message.

    An exception becomes what failed, not its text: its class says whether the optimiser
    failed (``LinAlgError``, a ``ValueError`` of the fit) or the data were too few.
    A message is cut at ``limit`` characters, at a word.
    """
    if isinstance(error, BaseException):
        if isinstance(error, np.linalg.LinAlgError):
            return "the fit did not converge (a singular system)"
        if isinstance(error, (ValueError, FloatingPointError, ArithmeticError, RuntimeError)):
            return "the fit did not converge on these points"
        return "the fit could not be made"
    text = " ".join(str(error).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def cell(value, digits: int = DIGITS, missing: str = MISSING) -> str:
    """Any value as table text: numbers by :func:`number`, mappings as ``key = value, ...``,
    sequences joined by commas, exceptions by :func:`reason`, booleans as yes/no."""
    if isinstance(value, BaseException):
        return reason(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{key} = {cell(item, digits, missing)}" for key, item in value.items())
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
        return ", ".join(cell(item, digits, missing) for item in value)
    if is_missing(value):
        return missing
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if _is_number(value):
        return number(value, digits, missing)
    return str(value)


# ----------------------------------------------------------------------------- tables


KINDS = ("count", "number", "percent", "text", "yes/no")
"""Column kinds :func:`display` knows; a callable formats a column's values itself."""


MEASURED = ("alpha", "beta", "gamma", "ratio", "error", "loss", "rmse", "rate", "lr", "share", "exact",
            "asymptote", "mean", "stderr", "guess", "floor", "spearman", "kendall", "difference", "excess")
"""Words in a column name that mark a measured float: never shown as a count, even when whole (0.00)."""


def column_kind(column: pd.Series) -> str:
    """The kind of a column: integers and integral floats are counts (unless the name says the
    value is measured, :data:`MEASURED`), other floats numbers."""
    if pd.api.types.is_bool_dtype(column):
        return "yes/no"
    if pd.api.types.is_integer_dtype(column):
        return "count"
    if pd.api.types.is_float_dtype(column):
        finite = column[np.isfinite(column.to_numpy(dtype=float, na_value=np.nan))]
        measured = any(word in str(column.name).lower() for word in MEASURED)
        if len(finite) and not measured and (finite == finite.round()).all() and (finite.abs() < 1e15).all():
            return "count"
        return "number"
    return "text"


def format_column(column: pd.Series, kind=None, digits: int = DIGITS, missing: str = MISSING) -> pd.Series:
    """The column as text, by ``kind`` (:data:`KINDS` or a callable; inferred when None)."""
    kind = kind or column_kind(column)
    if callable(kind):
        return column.map(kind)
    formatters: dict[str, Callable] = {
        "count": lambda v: count(v, missing) if _is_number(v) or is_missing(v) else cell(v, digits, missing),
        "number": lambda v: cell(v, digits, missing),
        "percent": lambda v: percent(v, digits, missing) if _is_number(v) else cell(v, digits, missing),
        "text": lambda v: cell(v, digits, missing),
        "yes/no": lambda v: cell(v, digits, missing),
    }
    if kind not in formatters:
        raise ValueError(f"parameter 'kind' got {kind!r}; allowed: {', '.join(KINDS)} or a callable")
    return column.map(formatters[kind]).astype(object)


class Table:
    """A formatted table for a notebook: HTML without an index, in a box that scrolls sideways.

    ``frame`` holds text only (see :func:`display`); an empty one renders as ``empty``, one
    sentence.
    """

    def __init__(self, frame: pd.DataFrame, empty: str = "No rows.", note: str = ""):
        self.frame, self.empty, self.note = frame, empty, note

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self):
        return self.frame.columns

    def __getitem__(self, key):
        return self.frame[key]

    def _repr_html_(self) -> str:
        if self.frame.empty:
            return f'<p class="scaling-table-empty">{html.escape(self.empty)}</p>'
        table = self.frame.to_html(index=False, escape=True, border=0, na_rep=MISSING,
                                   classes=["scaling-table", "table", "table-sm"])
        note = f'<p class="scaling-table-note">{html.escape(self.note)}</p>' if self.note else ""
        return ('<div class="scaling-table-wrapper" style="max-width: 100%; overflow-x: auto;">'
                f"{table}</div>{note}")

    def __repr__(self) -> str:
        if self.frame.empty:
            return self.empty
        text = self.frame.to_string(index=False)
        return f"{text}\n{self.note}" if self.note else text


def merge_intervals(frame: pd.DataFrame, digits: int = DIGITS, missing: str = "not fitted",
                    label: str = "{name} (95 % interval)") -> pd.DataFrame:
    """Every column ``x`` with ``x_low`` and ``x_high`` beside it, as one text column
    ``x (95 % interval)`` reading ``value (low to high)`` (:func:`estimate`)."""
    out = frame.copy()
    for name in list(frame.columns):
        low, high = f"{name}_low", f"{name}_high"
        if low in frame.columns and high in frame.columns:
            merged = [estimate(v, lo, hi, digits, missing) for v, lo, hi in zip(frame[name], frame[low], frame[high])]
            out = out.drop(columns=[low, high])
            out[name] = merged
            out = out.rename(columns={name: label.format(name=name)})
    return out


def display(frame: pd.DataFrame, kinds: Mapping | None = None, digits: int = DIGITS,
            empty: str = "No rows.", missing: str | Mapping = MISSING, columns=None,
            max_rows: int | None = MAX_ROWS, note: str = "", intervals: bool = True) -> Table:
    """``frame`` for reading: no index, every column formatted by its kind, nothing cut.

    Parameters
    ----------
    kinds
        ``{column: kind}``, a kind of :data:`KINDS` or a callable from value to text; other
        columns get :func:`column_kind`.
    missing
        What a missing value reads as, for all columns or ``{column: text}`` (e.g.
        ``"not fitted"``, with the reason in a notes column).
    columns
        The columns to show, in order (default: all); ``{old: new}`` also renames them.
    empty
        The sentence an empty table is shown as.
    max_rows
        Show at most this many rows (None: all) and say how many were left out.
    intervals
        Merge every ``x``, ``x_low``, ``x_high`` into one column (:func:`merge_intervals`).
    """
    kinds = dict(kinds or {})
    if isinstance(frame.index, pd.MultiIndex) or frame.index.name is not None:
        frame = frame.reset_index()  # a named index is data: show it as columns
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.set_axis([" ".join(str(p) for p in c if str(p)) for c in frame.columns], axis=1)
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    names = {c: c for c in frame.columns}
    if columns is not None:
        names = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
        bounds = [f"{c}_{end}" for c in names for end in ("low", "high")] if intervals else []
        frame = frame[[c for c in frame.columns if c in names or c in bounds]]
        frame = frame[[c for c in names if c in frame.columns] + [c for c in frame.columns if c not in names]]
    if intervals:
        before = set(frame.columns)
        frame = merge_intervals(frame, digits)
        merged = {c: f"{c} (95 % interval)" for c in before if f"{c} (95 % interval)" in frame.columns}
        names = {merged.get(c, c): (f"{new} (95 % interval)" if c in merged and new == c else new)
                 for c, new in names.items()}
        kinds = {merged.get(k, k): v for k, v in kinds.items() if k not in merged}
    frame = frame.rename(columns=names)
    kinds = {names.get(k, k): v for k, v in kinds.items()}
    if isinstance(missing, Mapping):
        missing = {names.get(k, k): v for k, v in missing.items()}
    shown = frame if max_rows is None or len(frame) <= max_rows else frame.iloc[:max_rows]
    text = pd.DataFrame({name: format_column(shown[name], kinds.get(name), digits,
                                             missing.get(name, MISSING) if isinstance(missing, Mapping) else missing)
                         for name in shown.columns}, columns=list(shown.columns))
    if len(shown) < len(frame):
        left = f"{count(len(frame) - len(shown))} more rows not shown."
        note = f"{note} {left}".strip()
    return Table(text.reset_index(drop=True), empty=empty, note=note)


FIT_COLUMNS = {"domain": "domain", "curve": "curve", "model": "model", "metric": "metric",
               "beta_g": "beta_g (95 % interval)", "paper_beta_g": "paper beta_g",
               "beta_p": "beta_p (95 % interval)", "paper_beta_p": "paper beta_p",
               "gamma": "floor gamma (95 % interval)", "points": "shards fitted",
               "min_units": "smallest ({unit})", "max_units": "largest ({unit})", "decades": "decades",
               "rel_rmse": "relative RMSE", "verdict": "verdict", "agrees": "agrees",
               "size_verdict": "beta_p verdict", "beta_p_verdict": "beta_p verdict"}
"""Display names of the columns of a fitted curve's row (``curves.fit_row`` and the tables
built on it), in display order; internal columns (``unit``, ``capped_share``, ...) are left out."""

FIT_ALIASES = {"our beta_g": "beta_g", "beta_g 95% low": "beta_g_low", "beta_g 95% high": "beta_g_high",
               "95% low": "beta_g_low", "95% high": "beta_g_high", "paper beta_g": "paper_beta_g",
               "our beta_p": "beta_p", "paper beta_p": "paper_beta_p"}
"""Other spellings of :data:`FIT_COLUMNS` in the chapters' Table 1 frames."""


def display_fits(frame: pd.DataFrame, extra: Mapping | None = None, **kwargs) -> Table:
    """A table of fitted curves for reading: :data:`FIT_COLUMNS` (with the frame's unit in
    the span's headers), then the ``extra`` columns (``{column: header}``), through :func:`display`."""
    frame = frame.rename(columns={k: v for k, v in FIT_ALIASES.items() if v not in frame.columns})
    units = frame["unit"].dropna().unique() if "unit" in frame else []
    unit = units[0] if len(units) == 1 else "units"
    names = {column: header.format(unit=unit) if f"{column}_low" in frame or "interval" not in header
             else header.replace(" (95 % interval)", "") for column, header in FIT_COLUMNS.items()}
    names.update(extra or {})
    kwargs.setdefault("empty", "No curve was fitted.")
    kwargs["kinds"] = {"paper_beta_g": given, "paper_beta_p": given, **kwargs.get("kinds", {})}
    return display(frame, columns=names, **kwargs)
