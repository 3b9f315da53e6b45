"""The character language-model chapter (paper Section 4.2.2): a depth-10 RHN, SGD against Adam.

Two sweeps share one results store, one set of nested shards and one model family
(``rhn10``, the recurrent highway network of depth 10); they differ only in the
optimizer of their model search: plain SGD (``char_lm-sgd-...``) and Adam
(``char_lm-adam-...``). Each gives a learning curve and a model-size curve; the
bootstrap of both fits gives the difference of their exponents and the shift between
the curves (:mod:`scaling_core.experiments.compare`).

Each curve is judged by its own data against the character unigram, bigram and trigram
of every shard of its sweep (:mod:`scaling_core.experiments.verdicts`); its exponent is
fitted on its power-law region, and the chapter claims a power law, a sublinear model
size, a shift without a change of slope or an agreement with the paper only where the
verdicts allow it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.data.lm_corpora import CHAR_DATASETS
from scaling_core.experiments import compare, contract, curves, lm_scales, verdicts
from scaling_core.experiments.lm_scales import lm_scale
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.task import TaskSpec

CHAPTER = "char_lm"
TASK_FACTORY = "scaling_core.tasks.language:make_char_lm_task"
DATASETS = CHAR_DATASETS
"""Datasets the chapter accepts: the KJV (embedded, default) and Tiny Shakespeare (``data_dir``)."""
METRIC = "val_loss"
"""Validation cross-entropy per character in nats (``val_bpc`` is the same in bits)."""
UNIT = "characters"
FAMILY = "rhn10"

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam"}
"""The two model searches and their labels; the SGD one is plain SGD (no momentum)."""

FIT_FROM = 16_000
"""Shards of at least this many characters enter the power-law fits."""

CHAR_LM_SCALES = dict(
    # seconds on one CPU core: 3 shards of 16k-64k characters, two tiny depth-10 RHNs
    smoke=lm_scale((16_000, 64_000), {"rhn10": [8, 16]}, lr_range=(1e-2, 1e-2), batch_sizes=(8,), samples=1,
                 trainer=dict(max_epochs=2, max_steps=4, patience=1, min_eval_steps=4, grad_clip=1.0),
                 val_units=1_000),
    # about 15 minutes on 2 CPU cores for two optimizers: 6 shards over 1.5 orders of magnitude
    # (8k-256k characters), widths up to 128, at most 15 epochs and 100 steps of 32 verses per trial
    laptop=lm_scale((8_000, 256_000), {"rhn10": [16, 32]}, lr_range=(1e-2, 1e-2), batch_sizes=(32,),
                  samples=1, trainer=dict(max_epochs=15, max_steps=100, patience=2, min_eval_steps=10,
                                          grad_clip=1.0), val_units=5_000, max_size=128),
    # one GPU, about 10 minutes of an H200 for both optimizers by `scaling-core cost char_lm -p profile paper`:
    # 8 shards over 2.1 orders of magnitude (13k-1.66M of the KJV's 3.46M kept training characters), widths
    # growing as m^0.25-m^0.5 up to 256, V of 50k characters; trials of one width train stacked, from CUDA graphs
    paper=lm_scale((13_000, 1_664_000), {"rhn10": [32, 64, 128]}, lr_range=(1e-3, 1e-2), batch_sizes=(128,),
                 samples=2, trainer=dict(max_epochs=20, max_steps=50_000, patience=4, grad_clip=1.0),
                 val_units=50_000, max_size=256, growth=(0.25, 0.5)),
)
"""Per-profile settings of the character-LM chapter (KJV by default; Tiny Shakespeare holds
1.06M characters): ``shard_sizes`` in kept characters, the depth-10 RHN grid (state width),
the Adam searches (``batch_size`` = sentences per batch), the trainer's stopping rules
(gradients clipped to norm 1, which plain SGD needs on an RHN) and ``val_units``.
Calibration (one shared CPU core, 32 verses per batch): a depth-10 RHN trains at about
12k-20k / 7k characters per second at widths 16-32 / 64."""

_CHAPTER = {  # SGD at 3 measured better than at 1 (2.30 vs 2.72 nats; Adam at 1e-2: 2.09) after 150 steps
    # of 32 verses on 64k characters, width 32, gradients clipped to norm 1
    "smoke": {"fit_from": FIT_FROM, "bootstrap": 200, "workers": 1, "sgd_lr_range": (3.0, 3.0)},
    "laptop": {"fit_from": FIT_FROM, "bootstrap": 1000, "workers": 2, "sgd_lr_range": (3.0, 3.0)},
    "paper": {"fit_from": FIT_FROM, "bootstrap": 2000, "workers": 4, "sgd_lr_range": (1.0, 10.0)},
}
SCALES = {profile: {**CHAR_LM_SCALES[profile], **_CHAPTER[profile]} for profile in CHAR_LM_SCALES}
"""Per-profile settings: the sweep engine's settings from
:data:`CHAR_LM_SCALES` (shards, the Adam searches, trainer,
``val_units``) plus the chapter's: ``fit_from`` (characters), bootstrap resamples, local
workers and ``sgd_lr_range``, the learning rates of the SGD search."""

TABLE1_ROWS = [
    {"domain": "Language modeling (characters)", "model": "RHN", "sweep": "char_lm-adam-{profile}-seed{seed}",
     "family": FAMILY, "metric": METRIC, "unit": UNIT, "fit_from_units": FIT_FROM,
     "paper_beta_g": -0.094, "paper_beta_p": None},
]
"""The paper's Table 1 row this chapter reproduces (from the Adam search)."""


# ----------------------------------------------------------------------------- sweeps
def sweep_name(profile: str, seed: int, optimizer: str) -> str:
    """``char_lm-<optimizer>-<profile>-seed<seed>``."""
    return f"{CHAPTER}-{optimizer}-{profile}-seed{seed}"


def task_kwargs(config: ChapterConfig) -> dict:
    """Factory arguments: the data folder only for datasets that need one (keys stay portable)."""
    kwargs = {"dataset": config.dataset, "seed": config.seed, "val_units": config["val_units"]}
    if config.dataset != "kjv" and config.data_dir is not None:
        kwargs["data_dir"] = str(config.data_dir)
    return kwargs


def optimizer_spec(config: ChapterConfig, optimizer: str) -> SweepSpec:
    """The model search of the RHN with ``optimizer`` ("sgd" or "adam") on the chapter's shards."""
    spec = SweepSpec.from_dict({
        "name": sweep_name(config.profile, config.seed, optimizer), "seed": config.seed,
        "task": {"factory": TASK_FACTORY, "kwargs": task_kwargs(config)},
        "shard_sizes": config["shard_sizes"], "searches": config["searches"], "trainer": config["trainer"],
    })
    lr_range = config["sgd_lr_range"] if optimizer == "sgd" else None
    searches = tuple(replace(s, optimizer=optimizer, lr_range=lr_range or s.lr_range) for s in spec.searches)
    return replace(spec, searches=searches)


def sweep_specs(config: ChapterConfig) -> list[SweepSpec]:
    """One sweep per optimizer, SGD first; same task, shards and trainer."""
    return [optimizer_spec(config, optimizer) for optimizer in OPTIMIZERS]


def store(config: ChapterConfig) -> Path:
    """The chapter's results store, ``results/char_lm/<dataset>-<profile>.sqlite``."""
    return store_path(CHAPTER, config.profile, config.dataset)


def run(config: ChapterConfig, progress: bool = False) -> pd.DataFrame:
    """Run (or resume, or read) both sweeps from ``results/char_lm/<dataset>-<profile>.sqlite``."""
    path = store(config)
    frames = curves.run_all(sweep_specs(config), path, config.device, config["workers"], progress=progress)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- analysis
def optimizer_trials(trials: pd.DataFrame, config: ChapterConfig) -> dict[str, pd.DataFrame]:
    """``{optimizer: the trials of its sweep}``."""
    return {o: trials[trials["sweep"] == sweep_name(config.profile, config.seed, o)] for o in OPTIMIZERS}


def optimizer_baselines(config: ChapterConfig) -> dict[str, pd.DataFrame]:
    """``{optimizer: the shard baselines of its sweep}`` (:func:`~scaling_core.experiments.contract.baselines`)."""
    return {o: contract.baselines(config, sweep=sweep_name(config.profile, config.seed, o)) for o in OPTIMIZERS}


def optimizer_winners(trials: pd.DataFrame, config: ChapterConfig, baselines: dict | None = None,
                      ) -> tuple[dict[str, pd.DataFrame], dict[str, verdicts.Verdict]]:
    """Each optimizer's composite learning curve (winners per shard) and its verdict.

    ``baselines``: ``{optimizer: shard baselines}`` (:func:`optimizer_baselines`). Each
    curve's ``in_fit`` is its power-law region (small-data shards left out).
    """
    return lm_scales.judge_curves(optimizer_trials(trials, config), METRIC, {o: FAMILY for o in OPTIMIZERS},
                                  config["fit_from"], baselines or {})


def size_verdicts(winners: dict, fits: dict, judged: dict, trials: pd.DataFrame,
                  config: ChapterConfig) -> dict[str, verdicts.SizeVerdict]:
    """``{optimizer: SizeVerdict}``: each curve's model-size verdict (pinned against its own sweep's trials)."""
    return lm_scales.size_verdicts(winners, fits, judged, optimizer_trials(trials, config))


def optimizer_fits(winners: dict[str, pd.DataFrame], bootstrap: int, seed: int) -> dict[str, tuple]:
    """``{optimizer: (learning-curve fit, model-size fit)}``, both bootstrapped."""
    return compare.fit_each(winners, METRIC, bootstrap, seed)


def exponent_table(winners: dict, fits: dict, judged: dict | None = None, sizes: dict | None = None,
                   ) -> pd.DataFrame:
    """One row per optimizer: beta_g with its interval, fit error, span, beta_p with its interval (and verdicts)."""
    labels = {optimizer: f"RHN-10, {name}" for optimizer, name in OPTIMIZERS.items()}
    return lm_scales.with_verdicts(compare.exponent_table(winners, fits, labels, UNIT), list(fits), judged, sizes)


def optimizer_comparison(winners: dict, fits: dict, level: float = 0.95) -> dict:
    """Adam against SGD: the difference of exponents and the shift of the curve.

    Returns ``exponent`` (:func:`~scaling_core.experiments.compare.exponent_difference`
    of Adam minus SGD), ``shift`` (:func:`~scaling_core.experiments.compare.curve_ratio`,
    Adam's fitted loss over SGD's at the geometric middle of the fitted span) and
    ``measured`` (the winners' ratio shard by shard).
    """
    adam, sgd = fits["adam"][0], fits["sgd"][0]
    fitted = winners["adam"].loc[winners["adam"]["in_fit"], "shard_units"]
    middle = float(np.sqrt(fitted.min() * fitted.max()))
    return {"exponent": compare.exponent_difference(adam, sgd, level),
            "shift": compare.curve_ratio(adam, sgd, middle, level),
            "measured": compare.measured_ratio(winners["adam"], winners["sgd"], METRIC)}


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


def drift(winners: dict, fits: dict) -> pd.DataFrame:
    """Both curves' winners beside their own fitted laws (``curve`` names the optimizer)."""
    return pd.concat([compare.drift_table(best, fits[o][0], METRIC).assign(curve=OPTIMIZERS[o])
                      for o, best in winners.items()], ignore_index=True)


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
        return f"the best RHN grows sublinearly with the data under both optimizers (beta_p = {values})."
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


def table1(fits: dict, judged: dict | None = None) -> pd.DataFrame:
    """The chapter's Table 1 row: the paper's exponent beside ours (Adam search), with the curve's verdict.

    ``agrees`` holds only for a measured curve whose interval excludes zero and holds the paper's exponent.
    """
    table = compare.table1([{**row, "fit": fits["adam"][0], "size_fit": fits["adam"][1]} for row in TABLE1_ROWS])
    verdict = None if judged is None else judged["adam"]
    table["verdict"] = verdict.text if verdict else "not judged"
    table["agrees"] = [lm_scales.agrees(verdict, *fits["adam"][0].beta_ci_, row["paper_beta_g"]) for row in TABLE1_ROWS]
    return table


def vocabulary_size(config: ChapterConfig) -> int:
    """Symbols of the character vocabulary (``<eos>``, padding and unknown included)."""
    return len(TaskSpec(TASK_FACTORY, task_kwargs(config)).build().vocab)


# ----------------------------------------------------------------------------- charts
def optimizers_chart(winners: dict, fits: dict, baselines: dict | None = None) -> alt.Chart:
    """The SGD and Adam composite learning curves with their fitted power laws (and the baselines, grey).

    Both sweeps read the same shards, so their baselines coincide; each one is drawn once.
    """
    points, lines = compare.labelled_curves(winners, {o: fit for o, (fit, _) in fits.items()}, METRIC, OPTIMIZERS)
    chart = curves.curves_chart(points, METRIC, UNIT, fits=lines,
                                title="Character LMs (RHN, depth 10): best model per shard, SGD and Adam")
    bars = pd.concat([curves.baseline_lines(b, METRIC) for b in (baselines or {}).values()] or [pd.DataFrame()])
    bars = bars.drop_duplicates(["shard_units", "baseline"]) if len(bars) else bars
    return charts.layer(chart, curves.baseline_layer(bars, METRIC)) if len(bars) else chart


def model_sizes_chart(winners: dict, fits: dict) -> alt.Chart:
    """Best-fit parameter counts under each optimizer with their model-size laws."""
    size_fits = {o: size_fit for o, (_, size_fit) in fits.items()}
    points, lines = compare.labelled_curves(winners, size_fits, "num_params", OPTIMIZERS)
    return compare.model_sizes_chart(points, lines, UNIT, "Character LMs: best-fit model size")
