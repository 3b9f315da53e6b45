"""The character language-model chapter (paper Section 4.2.2): one recurrent model, SGD against Adam.

Two sweeps share one results store, one set of nested shards and one model family (the
profile's ``family``: the paper's recurrent highway network of depth 10, ``rhn10``, at the
smoke and paper profiles; a one-layer LSTM, ``lstm1``, at laptop scale, where a depth-10
RHN is too slow to train to early stopping); they differ only in the optimizer of their
model search: plain SGD (``char_lm-sgd-...``) and Adam (``char_lm-adam-...``). Each gives a learning curve and a model-size curve; the
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
from scaling_core.experiments import compare, contract, curves, lm_scales, verdicts
from scaling_core.experiments.char_lm_prose import (  # noqa: F401  (re-exported: the chapter's sentences)
    FLATTENING_CAUSES, VERDICT_PHRASES, comparison_claim, flattening_comparison, flattening_verdict, size_comparison,
    verdict_comparison,
)
from scaling_core.experiments.char_lm_scales import (  # noqa: F401  (re-exported: names and settings)
    CHAPTER, CHAR_LM_SCALES, DATASETS, EVALUATIONS_TO_BEST, FIT_FROM, METRIC, MODEL_NAMES, OPTIMIZERS, PAPER_FAMILY, SCALES, TABLE1_ROWS,
    TASK_FACTORY, UNIT, family_label, profile_span,
)
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.task import TaskSpec


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
    """The model search of the profile's family with ``optimizer`` ("sgd" or "adam") on the chapter's shards."""
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
    return lm_scales.judge_curves(optimizer_trials(trials, config), METRIC, {o: config["family"] for o in OPTIMIZERS},
                                  config["fit_from"], baselines or {})


def size_verdicts(winners: dict, fits: dict, judged: dict, trials: pd.DataFrame,
                  config: ChapterConfig) -> dict[str, verdicts.SizeVerdict]:
    """``{optimizer: SizeVerdict}``: each curve's model-size verdict (pinned against its own sweep's trials)."""
    return lm_scales.size_verdicts(winners, fits, judged, optimizer_trials(trials, config))


def optimizer_fits(winners: dict[str, pd.DataFrame], bootstrap: int, seed: int) -> dict[str, tuple]:
    """``{optimizer: (learning-curve fit, model-size fit)}``, both bootstrapped."""
    return compare.fit_each(winners, METRIC, bootstrap, seed)


def winners_family(winners: dict[str, pd.DataFrame]) -> str:
    """The one model family of the winners of both searches (the paper's where there are none)."""
    families = {f for best in winners.values() if "family" in best for f in best["family"].unique()}
    if len(families) > 1:
        raise ValueError(f"winners: both searches must train one family, got {sorted(families)}")
    return families.pop() if families else PAPER_FAMILY


def exponent_table(winners: dict, fits: dict, judged: dict | None = None, sizes: dict | None = None,
                   ) -> pd.DataFrame:
    """One row per optimizer: beta_g with its interval, fit error, span, beta_p with its interval (and verdicts)."""
    model = family_label(winners_family(winners))
    labels = {optimizer: f"{model}, {name}" for optimizer, name in OPTIMIZERS.items()}
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


def drift(winners: dict, fits: dict) -> pd.DataFrame:
    """Both curves' winners beside their own fitted laws (``curve`` names the optimizer)."""
    return pd.concat([compare.drift_table(best, fits[o][0], METRIC).assign(curve=OPTIMIZERS[o])
                      for o, best in winners.items()], ignore_index=True)


def table1(fits: dict, judged: dict | None = None, profile: str = "paper") -> pd.DataFrame:
    """The chapter's Table 1 row: the paper's exponent beside ours (Adam search), with the curve's verdict.

    ``profile`` names the model of our row (the profile's family).

    ``agrees`` holds only for a measured curve whose interval excludes zero and holds the paper's exponent.
    """
    rows = [contract.profile_row(row, profile) for row in TABLE1_ROWS]
    table = compare.table1([{**row, "fit": fits["adam"][0], "size_fit": fits["adam"][1]} for row in rows])
    verdict = None if judged is None else judged["adam"]
    table["verdict"] = verdict.text if verdict else "not judged"
    table["agrees"] = [lm_scales.agrees(verdict, *fits["adam"][0].beta_ci_, row["paper_beta_g"]) for row in rows]
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
                                title=f"Character LMs ({family_label(winners_family(winners))}): best model per "
                                      "shard, SGD and Adam")
    bars = pd.concat([curves.baseline_lines(b, METRIC) for b in (baselines or {}).values()] or [pd.DataFrame()])
    bars = bars.drop_duplicates(["shard_units", "baseline"]) if len(bars) else bars
    return charts.layer(chart, curves.baseline_layer(bars, METRIC)) if len(bars) else chart


def model_sizes_chart(winners: dict, fits: dict) -> alt.Chart:
    """Best-fit parameter counts under each optimizer with their model-size laws."""
    size_fits = {o: size_fit for o, (_, size_fit) in fits.items()}
    points, lines = compare.labelled_curves(winners, size_fits, "num_params", OPTIMIZERS)
    return compare.model_sizes_chart(points, lines, UNIT, "Character LMs: best-fit model size")
