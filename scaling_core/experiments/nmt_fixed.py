r"""Figure 1 (left) of the translation chapter: models of a fixed width on every shard.

A fixed model runs out of capacity, so its learning curve bends towards a floor and is
fitted with :math:`\epsilon(m) = \alpha m^{\beta_g} + \gamma`. Re-exported by
:mod:`scaling_core.experiments.nmt`, whose names the chapter uses.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts, formatting
from scaling_core.experiments import curves, verdicts
from scaling_core.experiments.nmt_scales import FAMILY, FIT_FROM_UNITS, METRIC, UNIT, fixed_name
from scaling_core.profiles import ChapterConfig


def fixed_curves(trials: pd.DataFrame, config: ChapterConfig, metric: str = METRIC) -> pd.DataFrame:
    """The learning curve of every fixed width, with its ``width`` and a ``curve`` label per width."""
    frames = []
    for width in config["fixed_widths"]:
        rows = trials[trials["sweep"] == fixed_name(config.profile, config.seed, width)]
        curve = curves.fixed_size_curve(rows, metric, FAMILY, width)
        curve["in_fit"] = curve["shard_units"] >= FIT_FROM_UNITS
        curve["region"] = np.where(curve["in_fit"], curves.FITTED, curves.SMALL_DATA)
        frames.append(curve.assign(curve=f"width {width}", width=int(width)))
    return pd.concat(frames, ignore_index=True)


def fit_fixed_curves(fixed: pd.DataFrame, metric: str = METRIC, bootstrap: int = 1000,
                     seed: int = 0) -> dict:
    r"""Fit :math:`\epsilon(m) = \alpha m^{\beta_g} + \gamma` to each fixed-width curve.

    Only the shards with ``in_fit`` count. Returns ``{curve label: PowerLawConstantFit}``
    (bootstrap intervals when ``bootstrap``).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # floor intervals may reach 0 or inf
        return {label: curves.fit_learning_curve(curve, metric, bootstrap, seed, constant=True)
                for label, curve in fixed.groupby("curve", sort=False)}


def fixed_verdicts(fixed: pd.DataFrame, baselines: pd.DataFrame | None = None,
                   metric: str = METRIC) -> dict[str, verdicts.Verdict]:
    """``{curve label: Verdict}`` of every fixed-width curve: converged, below the baseline, straight.

    The verdict judges the curve (its winners' stop reasons, the baseline, its longest
    power-law stretch); the power law plus constant is still fitted on every shard past
    the small-data region, since a floor bends the curve off any one straight line.
    """
    return {label: curves.judge_metric(curve, metric, baselines)[1]
            for label, curve in fixed.groupby("curve", sort=False)}


def fixed_fit_table(fixed: pd.DataFrame, fits: dict, judged: dict | None = None) -> pd.DataFrame:
    """One row per fixed width: ``width``, exponent, floor :math:`\\gamma` (with intervals), fit error, verdict."""
    rows = []
    for label, fit in fits.items():
        verdict = None if judged is None else judged[label]
        curve = fixed[fixed["curve"] == label]
        row = curves.fit_row(label, fit, curve, UNIT, verdict)
        low, high = fit.gamma_ci_
        rows.append({**row, "width": int(curve["width"].iloc[0]), "gamma": fit.gamma_, "gamma_low": low,
                     "gamma_high": high})
    return pd.DataFrame(rows)


MIN_FLOOR = 1e-4
"""Floors below this error (a few target tokens of V) cannot be told from zero."""


def floor_claim(table: pd.DataFrame) -> str:
    r"""One sentence on the fixed widths' floors: which are measured, and whether they fall with width.

    A floor :math:`\gamma` is measured where its curve learned (its verdict is not *no
    learning*) and its bootstrap interval is finite and above :data:`MIN_FLOOR`; the measured
    floors are *ordered by model size* when a wider model's floor is lower (``width`` per row).
    """
    learned = ~table["verdict"].str.startswith("no learning") if "verdict" in table else True
    finite = table[learned & np.isfinite(table["gamma_high"]) & (table["gamma_low"] >= MIN_FLOOR)]
    if finite.empty:
        return (f"No floor is measured: each of the {len(table)} curves either did not learn or has a "
                "floor interval that reaches zero or infinity.")
    listed = "; ".join(f"{row.curve}: {formatting.estimate(row.gamma, row.gamma_low, row.gamma_high)}"
                       for row in finite.itertuples())
    text = f"The floor is measured for {len(finite)} of {len(table)} widths ({listed})."
    if len(finite) < 2:
        return text
    gammas = finite.sort_values("width")["gamma"].to_numpy()
    ordered = bool(np.all(np.diff(gammas) < 0))
    return text + (" The wider the model, the lower its floor, as in the paper." if ordered else
                   " The floors are not ordered by width, unlike the paper's.")


def fixed_curves_chart(fixed: pd.DataFrame, fits: dict, metric: str = METRIC,
                       baselines: pd.DataFrame | None = None) -> alt.Chart:
    """Figure 1, left: every fixed width's learning curve with its power law plus constant (and baselines, grey)."""
    fitted = fixed.loc[fixed["in_fit"], "shard_units"]
    dense = [curves.fit_curve(fit, fitted, metric, label=label) for label, fit in fits.items()]
    dense = pd.concat(dense, ignore_index=True).rename(columns={"region": "curve"})
    chart = curves.curves_chart(fixed, metric, UNIT, color="curve", fits=dense,
                                title="Fixed model sizes: power law plus a floor")
    lines = curves.baseline_lines(baselines, metric)
    return charts.layer(chart, curves.baseline_layer(lines, metric)) if len(lines) else chart
