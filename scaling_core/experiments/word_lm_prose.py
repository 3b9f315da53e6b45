"""The word-LM chapter's sentences: what its verdicts and fits let the prose say.

Each function turns the families' verdicts (:mod:`scaling_core.experiments.verdicts`), fits
or tables into one sentence the chapter glues, for whichever families the profile trains
(every family at the paper profile, the 2-layer LSTM alone on a laptop); none fits or reads
anything itself. Re-exported by :mod:`scaling_core.experiments.word_lm`.
"""

from __future__ import annotations

import math

import pandas as pd

from scaling_core.experiments import lm_scales, verdicts
from scaling_core.formatting import join_words

FAMILIES = {"lstm2": "LSTM, 2 layers", "lstm4": "LSTM, 4 layers", "rhn5": "RHN, depth 5"}
"""The chapter's model families and their labels in tables and charts."""

FAMILY_NAMES = {"lstm2": "2-layer LSTM", "lstm4": "4-layer LSTM", "rhn5": "depth-5 RHN"}
"""The families as the prose names them."""

METRIC = "val_loss"
"""Validation cross-entropy per word in nats: what the search minimises and the curves show."""


def untrained_note(families) -> str:
    """One sentence naming the chapter's families that ``families`` (a profile's) leaves out, or ``""``."""
    missing = [FAMILY_NAMES[f] for f in FAMILIES if f not in families]
    if not missing:
        return ""
    trained = join_words([FAMILY_NAMES[f] for f in families])
    verb = "is" if len(missing) == 1 else "are"
    return (f"The {join_words(missing)} {verb} not trained at this profile, whose budget allows the {trained} "
            "alone; the paper profile trains all three families on the same shards.")


def baseline_note(winners: dict, training_words: float | None = None) -> str:
    r"""Where each trained family's winners first lie clearly below the better of the shard's unigram and bigram.

    ``winners``: judged winners (``below_baseline`` per shard, from the verdicts). Below that
    shard the models predict V no better than counting word pairs (the small-data region),
    so the power-law region can span at most the decades from there to the largest shard,
    and at most :math:`\log_{10}(|T| / m_0)` from that shard :math:`m_0` to the whole
    training set :math:`T` of ``training_words`` words (when given).
    """
    sentences = []
    for family, best in winners.items():
        if "below_baseline" not in best:
            continue
        best = best.sort_values("shard_units")
        below = best.loc[best["below_baseline"].astype(bool), "shard_units"]
        name, largest = FAMILY_NAMES[family], best["shard_units"].max()
        if below.empty:
            sentences.append(f"The {name} is nowhere clearly (5 %) below the better of the shard's unigram and bigram.")
            continue
        decades = math.log10(largest / below.min())
        sentences.append(f"The {name} lies clearly (5 %) below the better of the shard's unigram and bigram from "
                         f"{below.min():,.0f} words on ({len(below)} of {len(best)} shards); below that a bigram "
                         f"counted on the same shard predicts V about as well, so this run's power-law region can "
                         f"span at most {decades:.1f} decades.")
        if training_words is not None and training_words > largest:
            sentences.append(f"Shards up to the whole training set ({training_words:,.0f} words) would add at most "
                             f"{math.log10(training_words / largest):.1f}, for "
                             f"{math.log10(training_words / below.min()):.1f} decades in all.")
    return " ".join(sentences)


def claims(judged: dict) -> str:
    """The learning-curve claim of every trained family (:func:`~scaling_core.experiments.verdicts.claim`)."""
    return " ".join(verdicts.claim(v, f"The {FAMILY_NAMES[f]} curve") for f, v in judged.items())


def size_claims(sizes: dict) -> str:
    """The model-size claim of every trained family (:func:`~scaling_core.experiments.verdicts.size_claim`)."""
    return " ".join(verdicts.size_claim(v, f"The best {FAMILY_NAMES[f]}'s size") for f, v in sizes.items())


def verdict_list(verdicts_by_family: dict) -> str:
    """``"2-layer LSTM: measured ...; 4-layer LSTM: ..."``: each family's verdict text."""
    return "; ".join(f"{FAMILY_NAMES[f]}: {v.text}" for f, v in verdicts_by_family.items())


def slopes(exponents: pd.DataFrame, families) -> str:
    """The fitted slopes of the families (rows of the exponent table, in ``families`` order) with their intervals.

    ``families``: the trained families, in the table's row order.
    """
    parts = [f"{row.beta_g:.3f} for the {FAMILY_NAMES[f]} ({'95 % bootstrap interval ' if i == 0 else ''}"
             f"{row.beta_g_low:.3f} to {row.beta_g_high:.3f})"
             for i, (f, row) in enumerate(zip(families, exponents.itertuples()))]
    subject = "The fitted slopes are" if len(parts) > 1 else "The fitted slope is"
    return f"{subject} {join_words(parts)}; a slope measures an exponent only where the verdict is measured."


def size_exponents(exponents: pd.DataFrame, families) -> str:
    """``"0.52 (2-layer LSTM; 95 % interval 0.31 to 0.70)"``, one per family, joined."""
    return join_words([f"{row.beta_p:.2f} ({FAMILY_NAMES[f]}; 95 % interval {row.beta_p_low:.2f} to {row.beta_p_high:.2f})"
                  for f, row in zip(families, exponents.itertuples())])


def shared_exponent_note(judged: dict) -> str:
    """What the pairwise exponent differences can say, given the families' verdicts."""
    if len(judged) < 2:
        return ("With one family trained there is no pair of curves to compare, so this run cannot test "
                "whether architectures share one exponent.")
    return lm_scales.comparison_note(judged, FAMILIES)


def shared_summary(shared: pd.DataFrame, judged: dict) -> str:
    """The pairs whose interval of the difference covers zero, what that can say, and the widest interval."""
    note = shared_exponent_note(judged)
    if shared.empty:
        return note
    widest = shared.loc[(shared["high"] - shared["low"]).idxmax()]
    return (f"For {int(shared['shared'].sum())} of the {len(shared)} pairs the interval of the difference of fitted "
            f"slopes covers zero. {note} The widest interval runs from {widest['low']:.3f} to {widest['high']:.3f}: a "
            "handful of shards over a short span cannot separate exponents that differ by a few hundredths, which is "
            "also the size of the paper's LSTM-RHN gap (0.004). Covering zero means the data do not contradict a "
            "shared exponent, not that they prove it.")


def retune_verdict(retuned: pd.DataFrame, fit, verdict: verdicts.Verdict | None = None) -> str:
    """One sentence on what more tuning did, judged against the scatter of the curve about its fit.

    ``retuned`` is :func:`~scaling_core.experiments.word_lm.retune_table`'s output; a gain
    larger than three times the fit's relative RMSE means the search's winners were limited
    by their training budget. Only a curve whose ``verdict`` measured a power law has an
    exponent the budget can flatten.
    """
    search, tuned = retuned[METRIC].iloc[0], retuned[METRIC].iloc[1:].min()
    gain, scatter = 100 * (1 - tuned / search), 100 * fit.rel_rmse_
    if gain <= 0:
        return (f"More tuning found no better model: its best scores {tuned:.3f} against the search winner's "
                f"{search:.3f}, so this shard's winner was tuned well enough.")
    if gain > 3 * scatter:
        exponent = ("the fitted exponent is flatter than the data alone would give"
                    if verdict is None or verdict.measured else
                    f"the curve's verdict ({verdict.kind}) already says that its fitted slope measures no power law")
        return (f"More tuning lowers the loss by {gain:.1f} %, far more than the scatter of the winners "
                f"about their fitted law ({scatter:.1f} %): the search's winners are limited by their "
                f"training budget, not only by the data, and {exponent}.")
    return (f"More tuning changes the loss by {gain:.1f} %, within about three times the scatter of the "
            f"winners about their fitted law ({scatter:.1f} %): this shard's winner was tuned well enough.")
