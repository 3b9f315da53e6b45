r"""Operational projections: the data, model size and compute a target error needs.

A fitted learning curve :math:`\epsilon(m) = \alpha m^{\beta_g}` inverts to the
training-set size that reaches a target error :math:`\epsilon^*`,

.. math:: m^* = (\epsilon^* / \alpha)^{1/\beta_g},

and the model-size law gives the parameters of the best model there,
:math:`s(m^*) = \alpha_p (m^*)^{\beta_p}`. Training cost is projected the same way from
power laws through the winners' measured cost: a compute proxy
:math:`C = 6 N E m` (parameters x epochs trained x shard units, the usual
forward-plus-backward estimate for a dense network on token-like units; an approximation
for images and audio) and the winners' wall time on the machine that ran the sweep.

Intervals are carried through by evaluating every formula on each bootstrap resample of
the fits (:func:`projection_samples`) and taking quantiles; the calculator chart does the
same arithmetic in the browser on the same samples.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.fit import PowerLawFit
from scaling_core.fit.forms import power_law
from scaling_core.fit.uncertainty import bootstrap_samples

FLOPS_PER_PARAMETER_UNIT = 6.0
"""Forward (2) plus backward (4) multiply-adds per parameter per unit: ``C = 6 N E m``."""

QUANTITIES = {"data": "training data", "data_multiple": "x our largest shard", "params": "parameters",
              "compute": "compute (6NEm FLOP)", "hours": "wall time (hours, sweep machine)"}
"""Projected quantities and their labels, in display order."""

FAN_REACH = 1e4
"""The calculator's curve reaches at most this many times our largest shard."""


def required_data(target, alpha, beta):
    r"""Training-set size that brings :math:`\alpha m^{\beta}` down to ``target``.

    .. math:: m^* = (\epsilon^* / \alpha)^{1/\beta}

    Broadcasts over its arguments (e.g. one ``(alpha, beta)`` per bootstrap resample).
    """
    target, alpha, beta = (np.asarray(v, dtype=float) for v in (target, alpha, beta))
    if np.any(target <= 0) or np.any(alpha <= 0):
        raise ValueError("target and alpha must be > 0")
    with np.errstate(over="ignore"):  # a flat resample never reaches the target: inf
        return (target / alpha) ** (1.0 / beta)


def training_cost(best: pd.DataFrame) -> pd.DataFrame:
    """The winners' training cost: ``compute`` = 6 N E m (FLOP proxy) and ``wall_time`` (s).

    ``E`` is the number of epochs trained (including the early-stopping patience),
    ``N`` the winner's parameter count and ``m`` the shard size in units.
    """
    cost = best[["shard_units", "in_fit"]].copy()
    cost["compute"] = FLOPS_PER_PARAMETER_UNIT * best["num_params"] * best["epochs"] * best["shard_units"]
    cost["wall_time"] = best["wall_time"]
    return cost


def cost_fits(best: pd.DataFrame, bootstrap: int, seed: int, samples: int | None = None) -> dict:
    """Power laws of the winners' compute proxy and wall time against shard size (fit shards only).

    With ``samples``, each fit gets only the first ``samples`` rows of the ``bootstrap``-resample
    bootstrap's ``bootstrap_samples_`` (all a projection reads; the same rows, see
    :func:`~scaling_core.fit.uncertainty.bootstrap_samples`) and keeps its asymptotic intervals.
    """
    cost = training_cost(best)
    rows = cost[cost["in_fit"] & (cost["compute"] > 0) & (cost["wall_time"] > 0)]
    fits = {}
    for column in ("compute", "wall_time"):
        fit = PowerLawFit().fit(rows["shard_units"].to_numpy(float), rows[column].to_numpy(float))
        if bootstrap and samples is not None:
            fit.bootstrap_samples_ = bootstrap_samples(fit, samples, bootstrap, seed)
        elif bootstrap:
            fit.bootstrap(n=bootstrap, seed=seed)
        fits[column] = fit
    return fits


def projection_samples(curve, bootstrap: int = 200, seed: int = 0, n: int = 200) -> pd.DataFrame:
    """The first ``n`` bootstrap resamples of every law a projection needs, one row each.

    Columns: ``curve``, ``unit``, ``metric``, ``reference_error`` and ``reference_units``
    (the winner of the largest shard the fit used), then ``alpha, beta`` (learning curve), ``alpha_p,
    beta_p`` (model size), ``alpha_c, beta_c`` (compute proxy) and ``alpha_t, beta_t``
    (wall time). The resamples of different laws are independent draws, paired by index.
    """
    if curve.fit is None or curve.size_fit is None:
        raise ValueError(f"{curve.name}: no fitted learning curve to project ({curve.note})")
    costs = cost_fits(curve.best, bootstrap, seed, samples=n)
    laws = {"": curve.fit, "_p": curve.size_fit, "_c": costs["compute"], "_t": costs["wall_time"]}
    columns = {}
    for suffix, fit in laws.items():
        draws = getattr(fit, "bootstrap_samples_", None)
        if draws is None or len(draws) < n:
            raise ValueError(f"{curve.name}: fewer than {n} bootstrap resamples to project with")
        scale, exponent = draws.iloc[:n, 0].to_numpy(), draws.iloc[:n, 1].to_numpy()
        columns[f"alpha{suffix}"], columns[f"beta{suffix}"] = scale, exponent
    fitted = curve.best[curve.best["in_fit"]]  # the largest shard the fit used (its error is > 0)
    largest = fitted.iloc[fitted["shard_units"].to_numpy().argmax()]
    return pd.DataFrame({"curve": curve.name, "unit": curve.unit, "metric": curve.metric,
                         "reference_error": float(largest[curve.metric]),
                         "reference_units": float(largest["shard_units"]), **columns})


def project(samples: pd.DataFrame, relative_target: float) -> pd.DataFrame:
    r"""Every projected quantity of every resample at ``relative_target`` x the reference error.

    Returns
    -------
    DataFrame
        ``samples`` with ``target_error`` and one column per key of :data:`QUANTITIES`:
        :math:`m^*`, :math:`m^*/m_{\max}`, :math:`s(m^*)`, :math:`C(m^*)` and the wall
        time in hours.
    """
    if not 0 < relative_target:
        raise ValueError(f"parameter 'relative_target' got {relative_target!r}; allowed: a number > 0")
    out = samples.copy()
    out["target_error"] = relative_target * out["reference_error"]
    out["data"] = required_data(out["target_error"], out["alpha"], out["beta"])
    out["data_multiple"] = out["data"] / out["reference_units"]
    out["params"] = power_law(out["data"], out["alpha_p"], out["beta_p"])
    out["compute"] = power_law(out["data"], out["alpha_c"], out["beta_c"])
    out["hours"] = power_law(out["data"], out["alpha_t"], out["beta_t"]) / 3600.0
    return out


def projection_table(samples: pd.DataFrame, relative_target: float, level: float = 0.95) -> pd.DataFrame:
    """Median and ``level`` interval of each projected quantity, one row per curve and quantity."""
    tail = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):  # resamples that never reach the target are inf
        long = project(samples, relative_target).melt(id_vars=["curve", "unit", "target_error"],
                                                      value_vars=list(QUANTITIES), var_name="quantity")
        grouped = long.groupby(["curve", "quantity"], sort=False)
        table = grouped.agg(unit=("unit", "first"), target_error=("target_error", "median"),
                            low=("value", lambda v: v.quantile(tail)), median=("value", "median"),
                            high=("value", lambda v: v.quantile(1.0 - tail)))
    return table.reset_index()


MULTIPLE_LIMIT = 1000.0
"""A projection needing more than this many times our largest shard reads as beyond the measured range."""


def projection_display(table: pd.DataFrame, notes: list[str] = (), limit: float = MULTIPLE_LIMIT):
    """:func:`projection_table` for reading: one row per curve, each quantity as ``median (low to high)``.

    A median data multiple above ``limit`` reads "> 1,000x the largest shard" (the data and
    what follows from them, "beyond the measured range"), an interval reaching past ``limit``
    (or below its inverse) gives the median alone; a median below 1 reads "already met";
    the curves that could not be projected (``notes``) are named below the table.
    """
    from scaling_core import formatting

    skipped = [_short_note(n) for n in notes]
    note = ("Not projected: " + "; ".join(skipped) + ".") if skipped else ""
    if table is None or not len(table):
        return formatting.display(pd.DataFrame(), note=note, empty=(
            "No curve could be projected: " + "; ".join(skipped) + "." if skipped else "No curve could be projected."))
    headers = {"data": "data", "data_multiple": "multiple of our largest shard", "params": "parameters",
               "compute": "compute (6NEm FLOP)", "hours": "wall time (hours)"}
    rows = []
    for curve, group in table.groupby("curve", sort=False):
        by = group.set_index("quantity")
        multiple = by.loc["data_multiple", "median"] if "data_multiple" in by.index else np.nan
        far, met = multiple > limit, multiple < 1
        spread = by.loc["data_multiple", ["low", "high"]] if "data_multiple" in by.index else (np.nan, np.nan)
        wide = not (1.0 / limit <= spread.iloc[0] and spread.iloc[1] <= limit)  # the interval leaves the data
        row = {"curve": curve, "target error": formatting.number(by["target_error"].iloc[0])}
        for quantity, header in headers.items():
            if quantity not in by.index:
                continue
            median, low, high = by.loc[quantity, ["median", "low", "high"]]
            if quantity == "data_multiple":
                text = formatting.multiple(median, limit)
            elif far:
                text = formatting.BEYOND
            elif met and quantity == "data":
                text = "already met"
            elif wide:
                text = f"{formatting.number(median)} (interval beyond the measured range)"
            else:
                text = formatting.estimate(median, low, high, missing=formatting.MISSING)
            if quantity == "data" and not far and not met:
                text = text.replace(" (", f" {by['unit'].iloc[0]} (", 1) if " (" in text else f"{text} {by['unit'].iloc[0]}"
            row[header] = text
        rows.append(row)
    return formatting.display(pd.DataFrame(rows), note=note)


def _short_note(note: str) -> str:
    """``"curve: curve: reason"`` (a curve named twice) as ``"curve (reason)"``."""
    name, _, reason = str(note).partition(": ")
    reason = reason.removeprefix(f"{name}: ")
    from scaling_core import formatting

    return f"{name} ({formatting.reason(reason)})" if reason else formatting.reason(name)


def curve_fan(samples: pd.DataFrame, lowest_target: float, points: int = 60, level: float = 0.95) -> pd.DataFrame:
    """The learning curve's median and interval per curve, on a log grid from a hundredth of
    the largest shard to the median size that reaches ``lowest_target`` x the reference
    error (at most :data:`FAN_REACH` times the largest shard)."""
    tail, frames = (1.0 - level) / 2.0, []
    for name, group in samples.groupby("curve", sort=False):
        first = group.iloc[0]
        far = np.median(required_data(lowest_target * first["reference_error"], group["alpha"], group["beta"]))
        reach = float(np.clip(far, first["reference_units"], FAN_REACH * first["reference_units"]))
        grid = np.geomspace(first["reference_units"] / 100.0, 2.0 * reach, points)
        values = power_law(grid[None, :], group["alpha"].to_numpy()[:, None], group["beta"].to_numpy()[:, None])
        frames.append(pd.DataFrame({"curve": name, "shard_units": grid, "median": np.median(values, axis=0),
                                    "low": np.quantile(values, tail, axis=0),
                                    "high": np.quantile(values, 1.0 - tail, axis=0)}))
    return pd.DataFrame(frames[0].iloc[0:0]) if not frames else pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- calculator


def _browser_projection(chart: alt.Chart) -> alt.Chart:
    """The arithmetic of :func:`project`, as Vega expressions on the chart's samples."""
    return (chart.transform_filter("datum.curve == curve")
            .transform_calculate(target_error="target * datum.reference_error")
            .transform_calculate(data="pow(datum.target_error / datum.alpha, 1 / datum.beta)")
            .transform_calculate(data_multiple="datum.data / datum.reference_units",
                                 params="datum.alpha_p * pow(datum.data, datum.beta_p)",
                                 compute="datum.alpha_c * pow(datum.data, datum.beta_c)",
                                 hours="datum.alpha_t * pow(datum.data, datum.beta_t) / 3600"))


def _shown(field: str) -> str:
    """Vega expression printing ``datum[field]``: its style, or "n/a" and powers of ten beyond the SI prefixes."""
    value = f"datum.{field}"
    return (f"(!isFinite({value}) ? 'n/a' : abs({value}) >= 1e15 ? format({value}, '.2~e') "
            f": format({value}, datum.style))")


def _answer_panel(samples: pd.DataFrame, level: float) -> alt.Chart:
    """Text rows: each projected quantity's median and interval for the chosen target."""
    tail = (1.0 - level) / 2.0
    keys = ", ".join(f"'{k}'" for k in QUANTITIES)
    labels = " : ".join(f"datum.quantity == '{k}' ? '{v}'" for k, v in QUANTITIES.items()) + " : datum.quantity"
    return (_browser_projection(alt.Chart(samples))
            .transform_fold(list(QUANTITIES), as_=["quantity", "value"])
            .transform_quantile("value", probs=[tail, 0.5, 1.0 - tail], groupby=["quantity", "unit"],
                                as_=["prob", "q"])
            .transform_calculate(bound="datum.prob < 0.25 ? 'low' : datum.prob > 0.75 ? 'high' : 'median'")
            .transform_pivot("bound", value="q", groupby=["quantity", "unit"])
            .transform_calculate(label=labels, order=f"indexof([{keys}], datum.quantity)")
            .transform_calculate(label="datum.quantity == 'data' ? datum.label + ' (' + datum.unit + ')' : datum.label",
                                 style="indexof(['hours', 'data_multiple'], datum.quantity) >= 0 ? '.3~g' : '.3~s'")
            .transform_calculate(text=f"{_shown('median')} + '   [' + {_shown('low')} + ', ' + {_shown('high')} + ']'")
            .mark_text(align="left", fontSize=13, limit=charts.MAX_WIDTH - 280).encode(
                y=alt.Y("label:N", sort=alt.EncodingSortField("order"), title=None, axis=alt.Axis(labelLimit=260)),
                x=alt.value(6), text="text:N")
            .properties(width=200, title=f"median [{100 * level:.0f} % interval]"))


def _curve_panel(samples: pd.DataFrame, winners: pd.DataFrame, fan: pd.DataFrame) -> alt.Chart:
    """The chosen curve's fan, its measured winners and rules at the target and its data."""
    x = alt.X("shard_units:Q", **charts.log_axis("training-set size (units of the chosen curve)"))
    y = alt.Y("low:Q", **charts.log_axis("error (metric of the chosen curve)"))
    chosen = "datum.curve == curve"
    band = alt.Chart(fan).transform_filter(chosen).mark_area(opacity=0.25).encode(x=x, y=y, y2="high:Q")
    line = alt.Chart(fan).transform_filter(chosen).mark_line(strokeDash=[6, 3]).encode(x=x, y="median:Q")
    drawable = winners[winners["error"] > 0]  # an error of zero has no place on the log axis, whichever curve is chosen
    points = alt.Chart(drawable).transform_filter(chosen).mark_point(filled=True, size=60, color="black").encode(
        x=x, y="error:Q", tooltip=["shard_units", "error"])
    target = (alt.Chart(winners).transform_filter(chosen)
              .transform_aggregate(reference_error="max(reference_error)")
              .transform_calculate(target_error="target * datum.reference_error")
              .mark_rule(color=charts.PALETTE[1]).encode(y="target_error:Q"))
    needed = (_browser_projection(alt.Chart(samples)).transform_aggregate(shard_units="median(data)")
              .mark_rule(color=charts.PALETTE[1], strokeDash=[2, 2]).encode(x="shard_units:Q"))
    return alt.layer(band, line, points, target, needed).properties(width=charts.WIDTH, height=charts.HEIGHT)


def calculator_chart(samples: pd.DataFrame, winners: pd.DataFrame, level: float = 0.95,
                     target_range: tuple[float, float] = (0.5, 0.99)) -> alt.ConcatChart:
    """An interactive projection: pick a curve and a target error, read data, parameters, compute.

    Parameters
    ----------
    samples : DataFrame
        Concatenated :func:`projection_samples` of the curves offered.
    winners : DataFrame
        Measured points to draw: ``curve``, ``shard_units``, ``error``, ``reference_error``.
    level : float
        Interval coverage shown.
    target_range : tuple of float
        Slider range of the target, as a fraction of each curve's reference error.
    """
    names = list(dict.fromkeys(samples["curve"]))
    if not names:
        raise ValueError("samples holds no curve to project")
    low, high = target_range
    target = alt.param(name="target", value=round((low + high) / 2, 2), bind=alt.binding_range(
        min=low, max=high, step=0.01, name="target error / error of our largest shard "))
    curve = alt.param(name="curve", value=names[0], bind=alt.binding_select(options=names, name="curve "))
    fan = curve_fan(samples, low, level=level)
    # one panel under the other: side by side they are wider than the book's content column
    return charts.finish(alt.concat(_curve_panel(samples, winners, fan), _answer_panel(samples, level), columns=1)
                         .add_params(target, curve).properties(title="What would it take? Projected from the fitted laws"))
