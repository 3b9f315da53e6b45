r"""The implications chapter (paper Section 5): what the measured curves are good for.

It trains nothing. :func:`run` reads the results stores of the domain chapters
(:mod:`scaling_core.experiments.table1`) and fits them; the functions here then ask the
paper's practical questions of the fits:

- Fig. 6: where each curve's small-data, power-law and irreducible regions lie
  (:func:`region_table`, three-region fits);
- predictability and model exploration with small data, in
  :mod:`scaling_core.experiments.predictability`;
- beyond the paper: one law over data and model size,
  :math:`\epsilon(m, n) = \alpha m^{\beta} + \alpha_n n^{\beta_n} + \gamma`
  (:func:`joint_table`, in :mod:`scaling_core.experiments.implications_joint`), and the
  model size it implies for a data budget.

Projections of data, parameters and compute live in
:mod:`scaling_core.experiments.projections`.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.experiments import projections
from scaling_core.experiments.implications_joint import (  # noqa: F401  (re-exported: the joint law)
    ScreenedJointFit, best_size_for_budget, failure_reason, joint_chart, joint_display, joint_fit, joint_points,
    joint_table)
from scaling_core.experiments.implications_prose import (  # noqa: F401  (re-exported: numbers for the prose)
    multiple_sentence, projection_numbers, ranking_numbers, reading_numbers, scoreboard_numbers, table_numbers, text)
from scaling_core.experiments.table1 import Curve, collect, fit_curves
from scaling_core.fit import ThreeRegionFit
from scaling_core.profiles import ChapterConfig

SCALES = {
    "smoke": {"bootstrap": 100, "horizons": (1,), "projection_samples": 100, "min_models": 3,
              "joint_min_points": 8, "relative_targets": (0.9, 0.75),
              "estimators": ("M1", "M4", "BNSL", "last value"), "joint_starts": 4},
    "laptop": {"bootstrap": 1000, "horizons": (1, 2, 3), "projection_samples": 200, "min_models": 3,
               "joint_min_points": 10, "relative_targets": (0.9, 0.75), "estimators": None, "joint_starts": 9},
    "paper": {"bootstrap": 2000, "horizons": (1, 2, 3, 4), "projection_samples": 300, "min_models": 4,
              "joint_min_points": 12, "relative_targets": (0.9, 0.75, 0.5), "estimators": None,
              "joint_starts": 27},
}
"""Per-profile settings: bootstrap resamples of every fit, held-out horizons of the
scoreboard (numbers of largest shards), resamples carried into projections, fewest
models for a rank correlation, fewest points for a joint fit, the targets (as fractions
of the error on our largest shard) of the projection table, and the scoreboard's
estimators (``None``: all of :data:`scaling_core.fit.ESTIMATORS`; the smoke profile
leaves out the validated extrapolator, which backtests four forms per prediction, and
M2 and M3, whose optimisers took ten seconds and more on short, non-monotone smoke
curves), and how many of the
joint fit's 81 starts are optimised (:class:`ScreenedJointFit`)."""

DATASETS = ("default",)
"""No dataset of its own: the chapter reads the other chapters' stores at its profile."""

TABLE1_ROWS: list[dict] = []
"""No rows of its own: it reads every chapter's ``TABLE1_ROWS`` (see :mod:`scaling_core.experiments.table1`)."""


def sweep_specs(config: ChapterConfig) -> list:
    """No sweeps: the chapter trains nothing."""
    return []


def store(config: ChapterConfig) -> None:
    """No results store of its own."""
    return None


THREE_REGION_POINTS = 5
"""Fewest shards for a three-region fit (four parameters, one degree of freedom left)."""


@dataclass
class Evidence:
    """Everything the chapter reads: the curves found, fitted where possible, and what is missing."""

    curves: list[Curve]
    missing: pd.DataFrame
    profile: str

    @property
    def fitted(self) -> list[Curve]:
        """The curves with a fitted learning curve."""
        return [c for c in self.curves if c.fit is not None]


def run(config: ChapterConfig) -> Evidence:
    """Read every domain chapter's ``config.profile`` store and fit its Table 1 curves."""
    curves, missing = collect(config.profile, config.seed)
    return Evidence(fit_curves(curves, config["bootstrap"], config.seed), missing, config.profile)


def projection_inputs(curves: list[Curve], config: ChapterConfig) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Resamples and measured winners of every projectable curve for the calculator, and notes on the rest."""
    frames, points, notes = [], [], []
    for curve in curves:
        try:
            with np.errstate(all="ignore"):
                samples = projections.projection_samples(curve, config["bootstrap"], config.seed,
                                                         config["projection_samples"])
        except (ValueError, KeyError, np.linalg.LinAlgError) as error:
            from scaling_core import formatting  # our own messages name the curve; anything else is no sentence

            ours = isinstance(error, ValueError) and str(error).startswith(curve.name)
            notes.append(f"{curve.name}: {error if ours else formatting.reason(error)}")
            continue
        frames.append(samples)
        points.append(pd.DataFrame({"curve": curve.name, "shard_units": curve.best["shard_units"],
                                    "error": curve.best[curve.metric],
                                    "reference_error": samples["reference_error"].iloc[0]}))
    if not frames:
        return pd.DataFrame(), pd.DataFrame(), notes
    return pd.concat(frames, ignore_index=True), pd.concat(points, ignore_index=True), notes


# ----------------------------------------------------------------------------- Fig. 6


def three_region_fit(curve: Curve) -> tuple[ThreeRegionFit | None, str]:
    """Fit the paper's three regions through every winner of ``curve`` (``None`` and a reason if too few)."""
    best = curve.best
    if len(best) < THREE_REGION_POINTS:
        return None, f"not enough points: {len(best)} shard(s), a three-region fit needs {THREE_REGION_POINTS}"
    try:
        fit = ThreeRegionFit(best_guess=curve.row.get("best_guess"))
        with np.errstate(all="ignore"):  # no floor in sight: irreducible_start_ is infinite
            return fit.fit(best["shard_units"].to_numpy(float), best[curve.metric].to_numpy(float)), ""
    except (ValueError, np.linalg.LinAlgError) as error:
        return None, failure_reason("three-region fit", curve, best[curve.metric], error)


def region_table(curves: list[Curve]) -> tuple[pd.DataFrame, dict]:
    """Region boundaries of every curve, and the fits (by curve name) that produced them.

    Columns: ``curve``, ``best_guess`` (plateau), ``beta``, ``gamma`` (floor),
    ``small_data_end`` and ``irreducible_start`` (in the curve's units), the shards
    measured in each region, and ``note`` for curves that could not be fitted.
    """
    rows, fits = [], {}
    for curve in curves:
        fit, note = three_region_fit(curve)
        units = curve.best["shard_units"] if len(curve.best) else pd.Series([np.nan])
        row = {"curve": curve.name, "unit": curve.unit, "note": note,
               "min_units": float(units.min()), "max_units": float(units.max())}
        if fit is not None:
            fits[curve.name] = fit
            regions = pd.Series(fit.region_of(curve.best["shard_units"])).value_counts()
            row.update(best_guess=fit.best_guess_, beta=fit.beta_, gamma=fit.gamma_,
                       small_data_end=fit.small_data_end_, irreducible_start=fit.irreducible_start_,
                       **{f"shards_{r}": int(regions.get(r, 0)) for r in ("small-data", "power-law", "irreducible")})
        rows.append(row)
    return pd.DataFrame(rows), fits


def region_display(regions: pd.DataFrame, beyond: float = 10.0):
    """:func:`region_table` for reading: boundaries more than ``beyond`` times outside the
    measured shards read "beyond the measured range", the shards per region in one column,
    a note only where a curve was not fitted."""
    from scaling_core import formatting

    if regions.empty:
        return formatting.display(regions, empty="No curve was read, so no three-region fit was made.")
    fitted = ["best_guess", "beta", "gamma", "small_data_end", "irreducible_start",
              "shards_small-data", "shards_power-law", "shards_irreducible"]
    regions = regions.reindex(columns=list(dict.fromkeys([*regions.columns, *fitted])))
    frame = pd.DataFrame({"curve": regions["curve"], "best guess": regions["best_guess"], "beta": regions["beta"],
                          "floor gamma": regions["gamma"]})
    for column, header in (("small_data_end", "small-data region ends"), ("irreducible_start", "irreducible region starts")):
        frame[header] = [formatting.beyond(v, lo, hi, beyond, unit) if not formatting.is_missing(v) else
                         formatting.MISSING for v, lo, hi, unit in
                         zip(regions[column], regions["min_units"], regions["max_units"], regions["unit"])]
    counts = regions[["shards_small-data", "shards_power-law", "shards_irreducible"]]
    frame["shards per region (small-data / power-law / irreducible)"] = [
        formatting.MISSING if row.isna().any() else " / ".join(formatting.count(v) for v in row)
        for _, row in counts.iterrows()]
    frame["note"] = regions["note"].fillna("")
    return formatting.display(frame, missing={"best guess": "", "beta": "", "floor gamma": ""})


def sketch_frame(curves: list[Curve], fits: dict, points: int = 80) -> pd.DataFrame:
    """Long frame for :func:`sketch_chart`: measured winners by region, and each fitted curve."""
    frames = []
    for curve in curves:
        fit = fits.get(curve.name)
        if fit is None:
            continue
        m = curve.best["shard_units"].to_numpy(float)
        frames.append(pd.DataFrame({"curve": curve.name, "layer": "measured", "shard_units": m,
                                    "error": curve.best[curve.metric].to_numpy(float), "region": fit.region_of(m)}))
        grid = np.geomspace(m.min() / 4.0, m.max() * 4.0, points)
        frames.append(pd.DataFrame({"curve": curve.name, "layer": "three-region fit", "shard_units": grid,
                                    "error": fit.predict(grid), "region": fit.region_of(grid)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["curve", "layer", "shard_units", "error", "region"])


def sketch_chart(frame: pd.DataFrame, columns: int | None = None) -> alt.FacetChart:
    """Fig. 6 from our data: each curve's fit coloured by region, measured winners on top.

    The panels wrap in ``columns`` (default: as many as the book's content column holds).
    """
    width = 240
    x = alt.X("shard_units:Q", **charts.log_axis("training-set size"))
    y = alt.Y("error:Q", **charts.log_axis("error"))
    color = charts.region_color(frame, orient="top")
    line = alt.Chart().transform_filter("datum.layer == 'three-region fit'").mark_point(
        size=8, filled=True).encode(x=x, y=y, color=color)
    dots = alt.Chart().transform_filter("datum.layer == 'measured'").mark_point(
        size=70, color="black").encode(x=x, y=y, tooltip=["curve", "shard_units", "error", "region"])
    header = alt.Header(labelExpr="split(datum.label, ' / ')", labelFontSize=11, labelLimit=width)
    return charts.finish(alt.layer(line, dots, data=frame).properties(width=width, height=160).facet(
        facet=alt.Facet("curve:N", title=None, header=header), columns=columns or charts.facet_columns(width),
    ).resolve_scale(x="independent", y="independent"), what="Fig. 6")
