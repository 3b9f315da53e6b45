"""The image chapter's exponent and Table 1 tables: each curve beside the paper's, with its verdict.

Re-exported by :mod:`scaling_core.experiments.image`, whose names the chapter uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling_core import formatting
from scaling_core.experiments import curves, verdicts
from scaling_core.experiments.image_scales import METRIC_NAMES, NUM_CLASSES, PAPER_BETA_G, TABLE1_ROWS


def agrees(fit, paper_beta: float, verdict: verdicts.Verdict | None) -> bool:
    """Whether a curve agrees with the paper: measured, its interval excluding 0 and holding ``paper_beta``."""
    low, high = fit.beta_ci_
    return bool(verdict is not None and verdict.measured and high < 0 and low <= paper_beta <= high)


def exponent_table(learning: dict) -> pd.DataFrame:
    """One row per metric: best guess, small-data boundary, beta_g with its interval, the paper's, the verdict.

    ``agrees`` (:func:`agrees`) needs a measured verdict and an interval excluding zero.
    """
    rows = []
    for metric, curve in learning.items():
        row = curves.fit_row(metric, curve.power_law, curve.best, "images", curve.verdict)
        rows.append({"metric": metric, "best_guess": curve.regions.best_guess_,
                     "small_data_end_per_class": curve.small_data_end / NUM_CLASSES,
                     "irreducible_start_per_class": (np.nan if curve.irreducible_start is None
                                                     else curve.irreducible_start / NUM_CLASSES),
                     "three_region_beta": curve.regions.beta_, "points": row["points"],
                     "decades": row["decades"], "beta_g": row["beta_g"], "beta_g_low": row["beta_g_low"],
                     "beta_g_high": row["beta_g_high"], "rel_rmse": row["rel_rmse"],
                     "paper_beta_g": PAPER_BETA_G[metric], "verdict": row.get("verdict", "not judged"),
                     "agrees": agrees(curve.power_law, PAPER_BETA_G[metric], curve.verdict)})
    return pd.DataFrame(rows)


def beyond_region(curve) -> str:
    r"""One sentence on a curve's largest shards: where its irreducible region starts, and the
    winners past its power-law region beside the power law's line (plain text).

    The three-region fit :math:`\epsilon(m) = \epsilon_0 u / \sqrt{1 + u^2}`,
    :math:`u = (\alpha m^{\beta} + \gamma) / \epsilon_0`, starts the irreducible region where the
    power law falls to its floor, :math:`\alpha m^{\beta} = \gamma`.
    """
    name = METRIC_NAMES[curve.metric].capitalize()
    start = curve.irreducible_start
    largest = float(curve.best["shard_units"].max())
    if start is None:
        where = f"{name}: the three-region fit finds no floor in sight"
    elif start > largest:
        where = (f"{name}: the three-region fit puts the start of the irreducible region at "
                 f"{formatting.count(start / NUM_CLASSES)} images per class, past this run's largest shard")
    else:
        where = (f"{name}: the three-region fit starts the irreducible region at "
                 f"{formatting.count(start / NUM_CLASSES)} images per class")
    fitted = curve.best[curve.best["in_fit"]]
    if fitted.empty:
        return where + "."
    past = curve.best[curve.best["shard_units"] > fitted["shard_units"].max()]
    if past.empty:
        return where + "; the power-law region reaches the largest shard."
    line = curve.power_law.predict(past["shard_units"].to_numpy(float))
    winners = formatting.join_words([
        f"{formatting.number(value)} at {formatting.count(units / NUM_CLASSES)} per class (the line: "
        f"{formatting.number(predicted)})"
        for units, value, predicted in zip(past["shard_units"], past[curve.metric], line)])
    return f"{where}; past the power-law region the winners score {winners}."


def agreement_sentence(exponents: pd.DataFrame) -> str:
    """One sentence on the paper's exponents: agreement only for the rows of :func:`exponent_table` that ``agrees``."""
    agreeing = exponents.loc[exponents["agrees"].astype(bool), "metric"].tolist()
    if agreeing:
        return (f"the paper's exponent lies inside this run's interval of a measured curve for "
                f"{', '.join(agreeing)} only.")
    return ("this run claims no agreement with them: none of its curves is a measured power law whose "
            "interval excludes zero and holds the paper's exponent.")


def table1(learning: dict, size_fit, size_verdict: verdicts.SizeVerdict | None = None) -> pd.DataFrame:
    """The chapter's Table 1 rows beside the paper's, with each curve's verdict.

    ``agrees`` needs a measured verdict (:func:`agrees`); ``beta_p_verdict`` is the
    model-size verdict (:func:`~scaling_core.experiments.verdicts.judge_model_size`).
    """
    rows = []
    for row in TABLE1_ROWS:
        curve = learning[row["metric"]]
        fit, sized = curve.power_law, row["paper_beta_p"] is not None
        verdict = curve.verdict.text if curve.verdict else "not judged"
        rows.append({"domain": row["domain"], "model": row["model"], "metric": row["metric"],
                     "beta_g": fit.beta_, "beta_g_low": fit.beta_ci_[0], "beta_g_high": fit.beta_ci_[1],
                     "paper_beta_g": row["paper_beta_g"], "verdict": verdict,
                     "agrees": agrees(fit, row["paper_beta_g"], curve.verdict),
                     "beta_p": size_fit.beta_p_ if sized else None, "paper_beta_p": row["paper_beta_p"],
                     "beta_p_verdict": size_verdict.text if sized and size_verdict else None})
    return pd.DataFrame(rows)
