"""The character-LM chapter's sentences: what its verdicts let the prose say.

Each function turns the curves' verdicts (:mod:`scaling_core.experiments.verdicts`) and
fits into one sentence the chapter glues; none fits or reads anything itself. Re-exported
by :mod:`scaling_core.experiments.char_lm`.
"""

from __future__ import annotations

import pandas as pd

from scaling_core.experiments import lm_scales, verdicts
from scaling_core.experiments.char_lm_scales import METRIC, OPTIMIZERS, UNIT


def comparison_claim(comparison: dict, judged: dict) -> str:
    """One sentence on the paper's claim (an optimizer shifts the curve, keeps its exponent), as the verdicts allow.

    Only with both curves measured: a shared exponent (the interval of the difference
    covers zero) and a shift whose interval excludes no change support the claim; an
    interval of the difference that excludes zero contradicts it.
    """
    if not all(v.measured for v in judged.values()):
        return (lm_scales.comparison_note(judged, OPTIMIZERS)
                + " Nor does the shift between them test the paper's claim.")
    exponent, shift = comparison["exponent"], comparison["shift"]
    if not exponent["shared"]:
        return "Both curves measure a power law, and their exponents differ: here the optimizer changes the slope."
    if shift["high"] < 1 or shift["low"] > 1:
        return ("Both curves measure a power law, the interval of the difference of exponents covers zero and "
                "the shift is clearly non-zero: a shift without a change of slope, as the paper reads it.")
    return ("Both curves measure a power law and the interval of the difference of exponents covers zero, "
            "but the shift between them is not clearly non-zero.")


FLATTENING_CAUSES = {
    "starved": ("its verdict is starved: the training budget, which gives the larger shards fewer epochs, "
                "and not only the data may have flattened it"),
    "no learning": "its verdict is no learning: its winners do not clearly beat the best trivial predictor",
    "too short": "its verdict is too short: no straight stretch of a decade measures an exponent",
    "measured": "its winners converged, so the flattening lies outside its power-law region",
}
"""What a flattened curve's verdict says about the flattening (by verdict kind)."""


def flattening_verdict(best: pd.DataFrame, verdict: verdicts.Verdict | None = None, doublings: int = 3) -> str:
    """One sentence on how much the winners' loss falls over the last ``doublings`` shards.

    Less than 2 % over three doublings of the data means the curve has flattened; the
    curve's ``verdict`` (:data:`FLATTENING_CAUSES`) says what that may come from.
    """
    rows = best.sort_values("shard_units").tail(doublings + 1)
    start, end = rows.iloc[0], rows.iloc[-1]
    gain = 100 * (1 - end[METRIC] / start[METRIC])
    span = f"from {start['shard_units']:,.0f} to {end['shard_units']:,.0f} {UNIT}"
    if gain < 2:
        cause = f"; {FLATTENING_CAUSES[verdict.kind]}" if verdict is not None else ""
        return (f"Over the last {doublings} doublings ({span}) the loss falls by only {gain:.1f} %: "
                f"the curve has flattened{cause}.")
    return f"Over the last {doublings} doublings ({span}) the loss still falls by {gain:.1f} %."


VERDICT_PHRASES = {"measured": "the {name} curve follows a power law",
                   "starved": "the {name} search is starved",
                   "too short": "the {name} curve's power-law region is too short",
                   "no learning": "the {name} winners do not learn below the baseline"}
"""How the comparison sentence names each verdict kind (``{name}``: the optimizer)."""


def _detail(text: str) -> str:
    """The part of a verdict text after its kind, without nested parentheses."""
    detail = (text.split(": ", 1) + [""])[1]
    return detail.replace(" (", ", ").replace("(", "").replace(")", "")


def verdict_comparison(judged: dict) -> str:
    """One sentence comparing what the SGD and Adam curves measure (not one template sentence per optimizer)."""
    measured = [o for o, v in judged.items() if v.measured]
    if len(measured) == len(judged):
        spans = " and ".join(f"{judged[o].decades:.1f} decades with {OPTIMIZERS[o]}" for o in judged)
        return f"Both curves follow a power law, over {spans}."
    clauses = [VERDICT_PHRASES.get(v.kind, "the {name} curve is " + v.kind).format(name=OPTIMIZERS[o])
               + (f" ({_detail(v.text)})" if _detail(v.text) else "") for o, v in judged.items() if not v.measured]
    if not measured:
        return "Neither curve measures a power law here: " + ", and ".join(clauses) + "."
    good = judged[measured[0]]
    return (f"Only the {OPTIMIZERS[measured[0]]} curve measures a power law (over {good.decades:.1f} decades, "
            f"{good.points} shards); " + ", and ".join(clauses) + ".")


def size_comparison(sizes: dict) -> str:
    """One sentence comparing the model-size verdicts under the two optimizers."""
    values = " and ".join(f"{v.beta_p:.2f} under {OPTIMIZERS[o]}" for o, v in sizes.items())
    kinds = {v.kind for v in sizes.values()}
    if kinds == {"not measured"}:
        return (f"neither optimizer's model-size curve is a measurement, since neither learning curve measures "
                f"a power law (beta_p = {values}).")
    if kinds == {"sublinear"}:
        return f"the best model grows sublinearly with the data under both optimizers (beta_p = {values})."
    return ("the model-size verdicts differ: " + "; ".join(f"under {OPTIMIZERS[o]}, {v.text}" for o, v in sizes.items())
            + ".")


def flattening_comparison(winners: dict, judged: dict | None = None, doublings: int = 3) -> str:
    """How much each optimizer's loss falls over the last ``doublings`` shards, in one comparison.

    Less than 2 % means a curve has flattened; its verdict (:data:`FLATTENING_CAUSES`) says
    what that may come from.
    """
    gains, spans = {}, set()
    for optimizer, best in winners.items():
        rows = best.sort_values("shard_units").tail(doublings + 1)
        start, end = rows.iloc[0], rows.iloc[-1]
        gains[optimizer] = 100 * (1 - end[METRIC] / start[METRIC])
        spans.add((start["shard_units"], end["shard_units"]))
    span = (f" (from {min(a for a, _ in spans):,.0f} to {max(b for _, b in spans):,.0f} {UNIT})"
            if len(spans) == 1 else "")
    falls = " and ".join(f"{gains[o]:.1f} % with {OPTIMIZERS[o]}" for o in winners)
    sentence = f"Over the last {doublings} doublings{span} the loss falls by {falls}."
    flat = [o for o in winners if gains[o] < 2]
    if not flat:
        return sentence + " Neither curve has flattened."
    which = "Both curves have" if len(flat) == len(winners) else f"The {OPTIMIZERS[flat[0]]} curve has"
    causes = [f"for {OPTIMIZERS[o]}, {FLATTENING_CAUSES[judged[o].kind]}" for o in flat
              if judged is not None and judged[o].kind in FLATTENING_CAUSES]
    return f"{sentence} {which} flattened" + (": " + "; ".join(causes) if causes else "") + "."
