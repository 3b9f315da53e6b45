r"""Fig. 5 (right) of the speech chapter: fixed DS2 widths on every shard, and their floors.

Each width's curve is fitted with :math:`\epsilon(m) = \alpha m^{\beta} + \gamma`; the plateau
onset is where the two terms are equal. Re-exported by :mod:`scaling_core.experiments.speech`,
whose names the chapter uses.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.experiments import curves, verdicts
from scaling_core.experiments.speech_scales import METRIC, fixed_sweep_name
from scaling_core.profiles import ChapterConfig

def fixed_size_curves(trials: pd.DataFrame, config: ChapterConfig) -> pd.DataFrame:
    """The fixed-width DS2 learning curves, long format with a ``curve`` label per width."""
    frames = []
    for size in config["fixed_sizes"]:
        rows = trials[trials["sweep"] == fixed_sweep_name(size, config.profile, config.seed)]
        curve = curves.fixed_size_curve(rows, METRIC, "ds2", size)
        curve["in_fit"] = curve["shard_units"] >= config["fit_from"]
        curve["curve"] = [f"width {size} ({p / 1e3:.0f}k params)" for p in curve["num_params"]]
        frames.append(curve)
    return pd.concat(frames, ignore_index=True)


def fixed_verdicts(fixed: pd.DataFrame, baselines: pd.DataFrame | None = None) -> dict[str, verdicts.Verdict]:
    """Per width, the verdict of its fixed-size curve (from ``fit_from`` on, against ``baselines``).

    The plateau fits keep every shard from ``fit_from`` on: a floor bends the curve, so its
    power-law region alone would leave out the shards that show the floor.
    """
    return {size: curves.judge_metric(rows.reset_index(drop=True), METRIC, baselines)[1]
            for size, rows in fixed.groupby("size")}


def plateau_onset(alpha: float, beta: float, gamma: float) -> float:
    r"""Data size where the power-law term falls to the floor: :math:`\alpha m^{\beta} = \gamma`.

    :math:`m^* = (\gamma / \alpha)^{1/\beta}`; beyond it the error is mostly the
    model's own floor :math:`\gamma` and more data helps less than half as much.
    """
    if not (alpha > 0 and gamma > 0 and beta < 0):
        raise ValueError(f"plateau_onset needs alpha > 0, gamma > 0, beta < 0; got {alpha}, {gamma}, {beta}")
    with np.errstate(over="ignore"):
        return float(np.exp((np.log(gamma) - np.log(alpha)) / beta))


def _onset_or_nan(fit) -> float:
    """The fit's plateau onset, or NaN for a curve that does not fall (``beta_ = 0``)."""
    falling = fit.beta_ < 0 and fit.alpha_ > 0 and fit.gamma_ > 0
    return plateau_onset(fit.alpha_, fit.beta_, fit.gamma_) if falling else float("nan")


def plateau_fits(fixed: pd.DataFrame, bootstrap: int = 0, seed: int = 0) -> dict:
    r"""Per width, :math:`\epsilon(m) = \alpha m^{\beta} + \gamma` on its fitted shards."""
    with np.errstate(over="ignore"):
        return {size: curves.fit_learning_curve(rows, METRIC, bootstrap, seed, constant=True)
                for size, rows in fixed.groupby("size")}


MIN_FLOOR = 1e-3
"""Floors below this CER (a few characters of V) cannot be told from zero."""


def plateau_table(fixed: pd.DataFrame, fits: dict, judged: dict | None = None) -> pd.DataFrame:
    """Per width: parameters, fitted floor (95 % interval) and onset, their ratios to the next smaller width.

    ``onset_ratio`` against ``params_ratio`` is the paper's question: does a model k
    times larger keep improving until about k times more data (ratio 1:1)?
    ``floor_measured``: the floor's interval is finite and above :data:`MIN_FLOOR`; a floor
    whose interval reaches zero or infinity is one the curve has not yet bent toward.
    """
    rows = []
    for size, fit in sorted(fits.items()):
        curve = fixed[fixed["size"] == size]
        low, high = fit.gamma_ci_
        rows.append({"width": int(size), "params": int(curve["num_params"].iloc[0]),
                     "beta": fit.beta_, "floor_cer": fit.gamma_, "floor_low": low, "floor_high": high,
                     "floor_measured": bool(np.isfinite(high) and low >= MIN_FLOOR),
                     "onset_seconds": _onset_or_nan(fit),
                     "largest_shard": curve["shard_units"].max()})
        if judged is not None:
            rows[-1].update(verdict_kind=judged[size].kind, verdict=judged[size].text)
    table = pd.DataFrame(rows)
    table["params_ratio"] = table["params"] / table["params"].shift()
    table["onset_ratio"] = table["onset_seconds"] / table["onset_seconds"].shift()
    table["onset_in_data"] = table["onset_seconds"] <= table["largest_shard"]
    return table


def plateau_display(table: pd.DataFrame, beyond: float = 10.0):
    """:func:`plateau_table` for reading: an onset more than ``beyond`` times past the largest
    shard reads "beyond the measured range", internal columns are left out."""
    from scaling_core import formatting

    largest = float(table["largest_shard"].max()) if len(table) else np.nan
    if len(table):  # a ratio to an onset beyond the measured range is no measurement either
        far = ~(table["onset_seconds"] <= beyond * largest)
        table = table.assign(onset_ratio=table["onset_ratio"].where(~(far | far.shift(fill_value=False))))
    columns = {"width": "width", "params": "parameters", "beta": "beta", "floor_cer": "floor (CER)",
               "floor_low": "floor 95 % low", "floor_high": "floor 95 % high",
               "onset_seconds": "plateau onset (s)", "onset_in_data": "onset inside the data",
               "params_ratio": "parameter ratio", "onset_ratio": "onset ratio", "verdict": "verdict"}
    return formatting.display(table, columns=columns, missing={"params_ratio": "", "onset_ratio": ""},
                              kinds={"onset_seconds": lambda v: formatting.beyond(v, 0.0, largest, beyond)},
                              empty="No fixed-width curve was fitted.")


def plateau_verdict(table: pd.DataFrame) -> str:
    """A sentence for the prose: which widths' floors are measured, and which reach them inside the data.

    No onset is read when a width's curve is starved (its floor may be the training budget's)
    or shows no learning (``verdict_kind`` of :func:`plateau_table`), nor from a floor that is
    not measured (``floor_measured``: its interval reaches zero or infinity).
    """
    kinds = table["verdict_kind"] if "verdict_kind" in table else pd.Series("", index=table.index)
    unread = table[kinds.isin(("starved", "no learning"))]
    if len(unread):
        named = ", ".join(f"{w} ({k})" for w, k in zip(unread["width"], unread["verdict_kind"]))
        return (f"No plateau onset is read from this run: widths {named} did not converge or learn, so their "
                f"floors may be set by the training budget rather than by the model.")
    if table["onset_seconds"].isna().any():
        return "Some widths do not improve with data at all here, so they have no plateau onset."
    measured = table["floor_measured"] if "floor_measured" in table else pd.Series(True, index=table.index)
    loose = "; ".join(f"width {row.width}: {row.floor_cer:.3f} ({row.floor_low:.3g} to {row.floor_high:.3g})"
                      for row in table[~measured].itertuples())
    if not measured.any():
        return (f"No width's floor is measured: every floor's 95 % interval reaches zero or infinity ({loose}), "
                f"so no curve has bent toward a floor clearly enough to read a plateau onset.")
    read = table[measured]
    inside = read.loc[read["onset_in_data"], "width"].tolist()
    text = "" if not loose else (f"The floors of some widths are not measured, their 95 % intervals reaching zero "
                                 f"or infinity ({loose}); no onset is read from them. ")
    if not inside:
        return text + "No width with a measured floor reaches it inside the measured span: every curve is still falling."
    ordered = bool(read["onset_seconds"].is_monotonic_increasing)
    order = "later for wider models" if ordered else "not in order of width"
    text += (f"Widths {', '.join(map(str, inside))} reach their measured floor inside the measured span; "
             f"the onsets come {order}.")
    overlap = (read["floor_low"].to_numpy()[1:] <= read["floor_high"].to_numpy()[:-1]) & (
        read["floor_low"].to_numpy()[:-1] <= read["floor_high"].to_numpy()[1:])
    if overlap.any():
        text += " The measured floors' intervals overlap, so this run cannot tell those widths' floors apart."
    return text


def fixed_sizes_chart(fixed: pd.DataFrame, fits: dict, baselines: pd.DataFrame | None = None) -> alt.Chart:
    """Fig. 5 right: CER of three fixed DS2 widths, each with its power law plus floor, and the baselines."""
    lines = []
    for size, fit in fits.items():
        rows = fixed[(fixed["size"] == size) & fixed["in_fit"]]
        lines.append(curves.fit_curve(fit, rows["shard_units"], METRIC).assign(curve=rows["curve"].iloc[0]))
    chart = curves.curves_chart(fixed, METRIC, "seconds of audio", fits=pd.concat(lines),
                                title="Fixed DS2 widths, each fitted with a power law plus floor")
    return with_baselines(chart, baselines)


def with_baselines(chart: alt.Chart, baselines: pd.DataFrame | None) -> alt.Chart:
    """``chart`` with the shard baselines of CER layered as grey lines (unchanged without any)."""
    lines = curves.baseline_lines(baselines, METRIC)
    return charts.layer(chart, curves.baseline_layer(lines, METRIC)) if len(lines) else chart
