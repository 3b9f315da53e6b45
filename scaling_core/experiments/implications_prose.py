"""The implications chapter's numbers for the prose: counts, ranges and sentences from its tables.

Each function turns a table of :mod:`scaling_core.experiments.implications` (or of
:mod:`scaling_core.experiments.predictability` and :mod:`scaling_core.experiments.projections`)
into prose-ready strings the chapter glues; a missing value reads "not measured". Re-exported
by :mod:`scaling_core.experiments.implications`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scaling_core.experiments import projections
from scaling_core.experiments.table1 import Curve

if TYPE_CHECKING:
    from scaling_core.experiments.implications import Evidence


def text(value, spec: str = ".3f", missing: str = "not measured") -> str:
    """``value`` formatted with ``spec``, or ``missing`` when it is None or NaN."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return missing
    return format(value, spec)


def reading_numbers(evidence: Evidence) -> dict:
    """How many curves were read and fitted, and what is missing, as prose-ready strings."""
    missing = evidence.missing
    listed = "; ".join(f"{r.chapter}{' (' + r.curve + ')' if r.curve else ''}: {r.reason}" for r in missing.itertuples())
    return {"n_curves": str(len(evidence.curves)), "n_fitted": str(len(evidence.fitted)),
            "n_missing": str(len(missing)), "missing_list": listed or "nothing"}


def table_numbers(table: pd.DataFrame) -> dict:
    """How many curves measure a power law, and how many of our intervals hold the paper's exponent.

    ``n_agree`` counts only the rows that agree in the strict sense of
    :func:`~scaling_core.experiments.table1.table1` (``agrees``: a measured power law, an
    interval excluding zero that holds the paper's exponent).
    """
    compared = table.dropna(subset=["beta_g"])
    compared = compared[pd.to_numeric(compared["paper_beta_g"], errors="coerce").notna()]
    kinds = table["verdict"].value_counts()
    return {"n_compared": str(len(compared)), "n_paper_inside": str(int(compared["paper_inside"].sum())),
            "n_agree": str(int(compared["agrees"].sum())), "n_table_curves": str(len(table)),
            "n_measured": str(int(kinds.get("measured", 0))), "n_starved": str(int(kinds.get("starved", 0))),
            "n_too_short": str(int(kinds.get("too short", 0))), "n_no_learning": str(int(kinds.get("no learning", 0))),
            "n_zero_inside": str(int((~compared["excludes_zero"]).sum()))}


def scoreboard_numbers(board: pd.DataFrame) -> dict:
    """Mean errors at the nearest horizon: the paper's method, the last value, the best estimator.

    ``*_error`` are mean relative errors of the raw metric; ``*_learned`` the mean errors on
    what each curve learned below its baseline (curves that beat a baseline only).
    """
    near = board[(board["horizon"] == 1) & (board["status"] == "ok")]
    means = near.groupby("estimator")["relative_error"].mean() * 100
    learned = near.dropna(subset=["learned_error"]).groupby("estimator")["learned_error"].mean() * 100
    best = means.idxmin() if len(means) else None
    return {"n_scored": str(near["curve"].nunique()),
            "paper_error": text(means.get("paper (power law)"), ".1f"),
            "last_value_error": text(means.get("last value"), ".1f"),
            "best_estimator": best or "none", "best_error": text(means.get(best), ".1f"),
            "n_learned": str(near.dropna(subset=["learned_error"])["curve"].nunique()),
            "paper_learned": text(learned.get("paper (power law)"), ".0f"),
            "last_value_learned": text(learned.get("last value"), ".0f")}


def ranking_numbers(table: pd.DataFrame) -> dict:
    """Median rank correlation with the largest shard, from the nearest and the farthest shards."""
    if table.empty or "spearman" not in table:
        return {"n_rankings": "0", "rho_near": "not measured", "rho_far": "not measured", "families_hold": "0 of 0"}
    rated = table.dropna(subset=["spearman"])
    near = rated.loc[rated.groupby("chapter")["shard_units"].idxmax(), "spearman"] if len(rated) else rated["spearman"]
    far = rated.loc[rated.groupby("chapter")["shard_units"].idxmin(), "spearman"] if len(rated) else rated["spearman"]
    families = table["family_order_holds"].dropna().astype(bool)
    return {"n_rankings": str(len(rated)), "rho_near": text(near.median(), ".2f"), "rho_far": text(far.median(), ".2f"),
            "families_hold": f"{int(families.sum())} of {len(families)}"}


def projection_numbers(table: pd.DataFrame, curves: list[Curve] = ()) -> dict:
    """The range over curves of the data multiple a target needs (median of each curve).

    ``n_projected_measured`` counts the projected curves among ``curves`` whose verdict
    measured a power law: a projection of any other curve extends a law its data do not show.
    """
    rows = table[table["quantity"] == "data_multiple"] if len(table) else pd.DataFrame(columns=["curve", "median"])
    multiples = rows["median"]
    measured = {c.name for c in curves if c.verdict is not None and c.verdict.measured}
    return {"n_projected": str(len(multiples)), "multiple_low": text(multiples.min(), ".3g"),
            "multiple_high": text(multiples.max(), ".3g"), "multiple_sentence": multiple_sentence(multiples),
            "n_projected_measured": str(int(rows["curve"].isin(measured).sum()))}


def _curves(n: int) -> str:
    return f"{n} curve" if n == 1 else f"{n} curves"


def multiple_sentence(multiples, limit: float = projections.MULTIPLE_LIMIT) -> str:
    """What the curves' median data multiples say, as the end of a sentence ("reaching the target <this>").

    Multiples between 1 and ``limit`` give a range; above ``limit`` the projection lies beyond
    the measured range; below 1 the target is already met: the fitted law reaches it before
    our largest shard, whose error lies above the law.
    """
    from scaling_core import formatting

    values = pd.Series(multiples, dtype=float).dropna()
    if values.empty:
        return "cannot be projected for any curve."
    inside = values[(values >= 1) & (values <= limit)]
    far, met = int((values > limit).sum()), int((values < 1).sum())
    parts = []
    if len(inside) > 1:
        parts.append(f"takes between {formatting.number(inside.min())} and {formatting.number(inside.max())} "
                     f"times that shard's data for {_curves(len(inside))} (medians)")
    elif len(inside) == 1:
        parts.append(f"takes {formatting.number(inside.iloc[0])} times that shard's data for one curve (median)")
    if far:
        parts.append(f"would take more than {formatting.count(limit)} times that shard for {_curves(far)}, "
                     "beyond the measured range")
    if met:
        parts.append(f"takes no more data for {_curves(met)}: the target is already met, as the fitted law reaches "
                     "it before that shard, whose measured error lies above the law")
    if len(parts) > 1:
        parts[-1] = "and " + parts[-1]
    return "; ".join(parts) + "."
