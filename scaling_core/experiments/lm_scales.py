"""What the word and character language-model chapters share.

A profile holds ``SweepSpec`` shard sizes, one ``SearchSpec`` per model family (the grid
lives there only), ``TrainerSettings``, and what the task factories take: ``val_units``
(the units of V scored per evaluation), the word vocabulary size and the rows V's stream is
read in (``eval_rows``). The verdict helpers judge several composite curves at once
(:mod:`scaling_core.experiments.verdicts`) and put their verdicts into the chapters' tables.
"""

from __future__ import annotations

import math

import pandas as pd

from scaling_core.data.shards import shard_sizes
from scaling_core.experiments import curves, verdicts


def lm_scale(shard_units, families, lr_range, batch_sizes, samples, trainer, val_units, vocab_size=None,
           max_size=4096, growth=(0.5, 1.0), eval_rows=10) -> dict:
    """One profile in the sweep engine's vocabulary (``SweepSpec`` / ``SearchSpec`` / ``TrainerSettings``)."""
    low, high = shard_units
    searches = [dict(family=family, grid=list(grid), growth=tuple(growth), samples=samples, lr_range=lr_range,
                     batch_sizes=batch_sizes, min_size=4, max_size=max_size, integer_sizes=True)
                for family, grid in families.items()]
    return dict(shard_sizes=dict(min_units=low, max_units=high, factor=2), families=families,
                searches=searches, trainer=trainer, val_units=val_units, vocab_size=vocab_size, eval_rows=eval_rows)


def span(settings: dict, unit: str) -> str:
    """The shard span of a profile's ``settings``: ``"16,000 to 512,000 characters (1.5 decades, 6 shards)"``."""
    sizes = shard_sizes(**settings["shard_sizes"])
    return (f"{sizes[0]:,.0f} to {sizes[-1]:,.0f} {unit} "
            f"({math.log10(sizes[-1] / sizes[0]):.1f} decades, {len(sizes)} shards)")


def judge_curves(trials: dict[str, pd.DataFrame], metric: str, family: dict[str, str], fit_from: float,
                 baselines: dict[str, pd.DataFrame | None]) -> tuple[dict, dict]:
    """``({name: judged winners}, {name: Verdict})`` of several composite curves.

    ``trials[name]`` holds the trials of curve ``name``, ``family[name]`` its model family
    and ``baselines[name]`` its sweep's shard baselines; each winners' ``in_fit`` is its
    power-law region (:func:`~scaling_core.experiments.curves.judged_winners`).
    """
    judged = {name: curves.judged_winners(rows, metric, baselines.get(name), family[name], fit_from)
              for name, rows in trials.items()}
    return {name: pair[0] for name, pair in judged.items()}, {name: pair[1] for name, pair in judged.items()}


def size_verdicts(winners: dict, fits: dict, judged: dict, trials: dict[str, pd.DataFrame]) -> dict:
    """``{name: SizeVerdict}``: each curve's model-size verdict, pinned against the trials of its search."""
    return {name: verdicts.judge_model_size(best, fits[name][1], judged[name], trials[name])
            for name, best in winners.items()}


def with_verdicts(table: pd.DataFrame, names: list, judged: dict | None = None,
                  sizes: dict | None = None) -> pd.DataFrame:
    """``table`` (one row per curve, in ``names`` order) with the verdict columns.

    ``verdict`` (its text), ``capped_share`` and ``below_baseline`` (winners clearly below
    the best baseline) of each learning curve, and ``size_verdict`` of its model-size curve.
    """
    table = table.copy()
    if judged is not None:
        table["verdict"] = [judged[n].text for n in names]
        table["capped_share"] = [judged[n].capped_share for n in names]
        table["below_baseline"] = [judged[n].below_baseline for n in names]
    if sizes is not None:
        table["size_verdict"] = [sizes[n].text for n in names]
    return table


def agrees(verdict: verdicts.Verdict | None, low: float, high: float, paper: float) -> bool:
    """Whether a curve agrees with the paper's exponent: a measured power law, an interval below zero that holds it."""
    return bool(verdict is not None and verdict.measured and high < 0 and low <= paper <= high)


def comparison_note(judged: dict, labels: dict) -> str:
    """One sentence on what comparing the curves' fitted exponents can say, given their verdicts."""
    unmeasured = [f"{labels.get(n, n)}: {v.kind}" for n, v in judged.items() if not v.measured]
    if not unmeasured:
        return ("Every curve measures a power law, so the intervals of the differences test whether "
                "they share one exponent.")
    which = "No curve" if len(unmeasured) == len(judged) else "Not every curve"
    return (f"{which} measures a power law ({'; '.join(unmeasured)}): for those, the fitted slopes "
            "are not exponents, and their differences test nothing about a shared exponent.")
